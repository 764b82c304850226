"""Where the catalogue's mappings come from: ``peer_sources.yaml``, read once.

The table names, for every peer ID the catalogue maps, the public file its definition was
read from, what it checks, its relation to each control, and where it contradicts the
Kubernetes documentation (``wrong``). The catalogue states the relations; the test suite
checks both against each other (docs/mappings.md).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any, NamedTuple

import yaml

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class PeerNote(NamedTuple):
    """A peer check that kubeharden does not follow, and why (the Kubernetes document that decides)."""

    key: str  # mapping key, e.g. "trivy"
    peer_id: str
    note: str


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    text = (resources.files("kubeharden.catalogue") / "peer_sources.yaml").read_text(encoding="utf-8")
    return yaml.load(text, Loader=_SAFE_LOADER) or {}


def load_peer_sources() -> dict[str, Any]:
    """``{mapping key: {"repository": str | None, "ids": {peer ID: entry}}}`` from peer_sources.yaml.

    Each entry has ``checks`` and ``controls`` (control ID -> relation), ``path`` (and an
    optional ``repository`` override) or, for MITRE ATT&CK, ``url``; ``wrong`` is optional.
    """
    return {str(k): v for k, v in (_table().get("peers") or {}).items()}


def not_mapped() -> tuple[dict[str, Any], ...]:
    """Peer checks deliberately left unmapped: ``peer``, ``id``, ``repository``, ``path``, ``control``,
    ``checks`` and ``wrong`` (why the Kubernetes documentation disagrees)."""
    return tuple(_table().get("not_mapped") or ())


def peer_notes(control_id: str) -> list[PeerNote]:
    """The peer checks, mapped to ``control_id`` or deliberately not, that contradict the Kubernetes docs."""
    out = []
    for key, peer in load_peer_sources().items():
        for peer_id, entry in (peer.get("ids") or {}).items():
            if control_id in (entry.get("controls") or {}) and entry.get("wrong"):
                out.append(PeerNote(key, str(peer_id), " ".join(str(entry["wrong"]).split())))
    for entry in not_mapped():
        if entry.get("control") == control_id:
            out.append(PeerNote(str(entry["peer"]), str(entry["id"]),
                                "not mapped: " + " ".join(str(entry["wrong"]).split())))
    return out
