"""Which controls a user names: IDs in any case, or shell-style globs, resolved against the catalogue.

The same resolution serves ``--control`` and every place of ``.kubeharden.yaml`` that names
controls (``controls.enable``, ``controls.disable``, ``controls.severity``, ``exceptions[].control``),
so a typo is an error everywhere instead of a control that silently never runs or never matches.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable


_SHORT_NUMBER = re.compile(r"^([A-Z]+-[A-Z]+-)(\d{1,2})$")


class UnknownControl(ValueError):
    """A name that matches no control of the catalogue; the message names the closest known ID."""


def normalise(pattern: str) -> str:
    """Control IDs are upper case (``KH-POD-001``); ``kh-pod-001`` and ``kh-pod-*`` name the same."""
    return str(pattern).strip().upper()


def is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def closest(pattern: str, known: Iterable[str]) -> str | None:
    """The known ID most like ``pattern`` (difflib), or None when nothing is close."""
    text = normalise(pattern).rstrip("*?")
    short = _SHORT_NUMBER.match(text)
    if short:  # KH-POD-4 and KH-POD-04 mean KH-POD-004
        text = f"{short.group(1)}{int(short.group(2)):03d}"
    found = difflib.get_close_matches(text, sorted(known), n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_message(pattern: str, known: Iterable[str], where: str) -> str:
    """``where: unknown control 'KH-POD-01' (did you mean KH-POD-001?); see kubeharden controls``."""
    hint = closest(pattern, known)
    what = "no control matches" if is_glob(normalise(pattern)) else "unknown control"
    suggestion = f" (did you mean {hint}?)" if hint else ""
    return f"{where}: {what} {pattern!r}{suggestion}; see kubeharden controls"


def matching(pattern: str, known: Iterable[str]) -> list[str]:
    """The known IDs ``pattern`` names, sorted: itself in any case, or every match of a glob."""
    wanted = normalise(pattern)
    return sorted(cid for cid in known if fnmatch.fnmatchcase(cid, wanted))


def resolve(patterns: Iterable[str], known: Iterable[str], where: str) -> list[str]:
    """Every ID named by ``patterns`` (sorted, no duplicates).

    Raises :class:`UnknownControl` for the first pattern that names no known control, with
    ``where`` (``--control``, ``cfg.yaml: controls.disable`` …) and the closest known ID.
    """
    known = tuple(known)
    ids: set[str] = set()
    for pattern in patterns:
        found = matching(pattern, known)
        if not found:
            raise UnknownControl(unknown_message(pattern, known, where))
        ids.update(found)
    return sorted(ids)
