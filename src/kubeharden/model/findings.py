"""The records that leave the evaluation: findings and input problems.

One finding type serves every source and every check, so reporters, exceptions and
exit codes work the same for manifests, clusters and admission requests.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from enum import IntEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from kubeharden.model.fieldpath import relative_to
from kubeharden.model.fix_notes import what_to_test
from kubeharden.model.guide import requirement_url
from kubeharden.model.objects import Provenance, ResourceRef

if TYPE_CHECKING:
    from kubeharden.model.controls import Control


class Severity(IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[str(text).strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r} (one of {names})") from None

    @property
    def label(self) -> str:
        return _SEVERITY_LABELS[self]


#: Each severity's label (its name in lower case), by value: read for every finding.
_SEVERITY_LABELS = tuple(s.name.lower() for s in Severity)


#: What became of a control for one unit (resource or container), or for the whole scan:
#: ``fail`` (it found something), ``pass`` (checked, nothing found), ``suppressed`` (found, but an
#: annotation or exception with a reason accepts it), ``not-applicable`` (nothing in the input it
#: applies to), ``not-assessable`` (the input cannot show what it needs, e.g. a cross-object control
#: on one admission request), ``error`` (it could not evaluate the input; see the problems).
STATUSES = ("fail", "pass", "suppressed", "not-applicable", "not-assessable", "error")
#: Operations of a structured fix (see :class:`Fix`).
FIX_OPERATIONS = ("set", "add", "remove")


@dataclass(frozen=True, slots=True)
class Fix:
    """A mechanical change that resolves a finding, for ``kubeharden fix`` and admission mutation.

    ``path`` is a field path from the object's root (:mod:`kubeharden.model.fieldpath`).
    ``op``: ``set`` writes ``value`` at ``path`` (creating the mappings above it); ``add``
    merges ``value`` into the list (items not yet present, in order) or the mapping (keys not
    yet present) at ``path``, creating it; ``remove`` deletes the field at ``path`` or, with a
    list ``value``, only those items of the list at ``path``. ``safe`` is True only when the
    change cannot stop a workload that runs today from being admitted or working (so it may be
    applied without review); every other fix needs a person's judgement. ``because`` says why:
    the evidence in the input that makes the fix safe, or what could break and which evidence is
    missing (docs/fix.md); "" where the catalogue states nothing, and then :attr:`reason` says what the
    change does at run time (worked out only when a report or ``kubeharden fix`` asks: a review never does).
    """

    op: str
    path: str
    value: Any = None
    safe: bool = False
    #: an explanation, not part of the change: two fixes making the same change are equal whatever it says
    because: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.op not in FIX_OPERATIONS:
            raise ValueError(f"fix operation {self.op!r} is not one of {', '.join(FIX_OPERATIONS)}")

    @property
    def reason(self) -> str:
        """``because``, else, for an unsafe fix, why it needs ``--unsafe``: what it changes at run time."""
        if self.because or self.safe:
            return self.because
        return f"not safe (needs --unsafe): {what_to_test(self.path)}"

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "path": self.path, "value": self.value, "safe": self.safe, "because": self.reason}


def container_id(container_list: str | None, container: str | None) -> str | None:
    """A container as reports name it: ``list/name`` (``initContainers/setup``), the name alone when the
    list is not known, None for no container."""
    if container is None:
        return None
    return f"{container_list}/{container}" if container_list else container


def fingerprint(control_id: str, resource: ResourceRef, container_list: str | None, container: str | None,
                path: str) -> str:
    """A stable identity of a finding across runs: 32 hex digits of a SHA-256.

    It covers the control, the resource (API group without version, kind, namespace, name),
    the container (list and name) and the field path, with the container's own index removed
    (``containers[2].image`` counts as ``image`` of the named container, so reordering
    containers keeps it). It never covers message text, line numbers or files, which change
    without the finding changing.
    """
    group = resource.api_version.rpartition("/")[0]
    if container is not None and container_list:
        head, _, tail = path.partition(f"{container_list}[")
        if tail and "]" in tail:
            index, _, rest = tail.partition("]")
            if index.isdigit() and relative_to(path, f"{head}{container_list}[{index}]") is not None:
                path = rest.removeprefix(".")
    parts = (control_id, group, resource.kind, resource.namespace or "", resource.name,
             container_list or "", container or "", path)
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


@dataclass(slots=True)
class Finding:
    """A control that failed for one resource (and container, where it applies)."""

    control: Control
    severity: Severity
    resource: ResourceRef
    container: str | None
    file: str | None
    line: int | None
    message: str
    remediation: str
    status: str = "fail"  # fail | suppressed (one of STATUSES)
    suppression: dict[str, Any] | None = None
    source: str = "file"
    #: the PodSpec list of ``container``: containers, initContainers or ephemeralContainers
    container_list: str | None = None
    #: field path of the offending (or missing) field from the object's root; "" is the whole object
    path: str = ""
    #: the mechanical change that resolves it, when there is one
    fix: Fix | None = None
    #: where a rendered input (Helm chart, Kustomize folder) got the field from: template, values
    #: path, values file and line, patch file and line (None for plain manifests)
    trace: Provenance | None = None
    #: :attr:`fingerprint` once computed (workers compute it, so it crosses to the parent with the finding)
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def container_id(self) -> str | None:
        """The container as ``list/name`` (``initContainers/setup``), or None."""
        return container_id(self.container_list, self.container)

    @property
    def control_id(self) -> str:
        return self.control.id

    @property
    def fingerprint(self) -> str:
        """The finding's stable identity (see :func:`fingerprint`), computed once."""
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self.control.id, self.resource, self.container_list, self.container,
                                            self.path)
        return self._fingerprint

    def to_dict(self, shared: ControlFields | None = None) -> dict[str, Any]:
        """The finding as the JSON report writes it (``mappings`` holds tuples, shared by the control's findings).

        ``shared``: :func:`control_fields` of the finding's control, or a form of them a writer prepared once
        for all the control's findings (the JSON report's already serialised lists); by default worked out here.
        """
        c = shared if shared is not None else control_fields(self.control)
        out: dict[str, Any] = {
            "control_id": c.id,
            "title": c.title,
            "severity": self.severity.label,
            "status": self.status,
            "resource": self.resource.to_dict(),
            "container": self.container,
            "container_list": self.container_list,
            "file": self.file,
            "line": self.line,
            "source": self.source,
            "message": self.message,
            "remediation": self.remediation,
            "nsa": c.nsa,
            "nsa_urls": c.nsa_urls,
            "section": c.section,
            "mappings": c.mappings,
            "path": self.path,
            "fix": self.fix.to_dict() if self.fix else None,
            "fingerprint": self.fingerprint,
        }
        if self.trace is not None:
            out["trace"] = self.trace.to_dict()
        if self.suppression is not None:
            out["suppression"] = self.suppression
        return out


class ControlFields(NamedTuple):
    """The fields of a finding's JSON form that come from its control, in :meth:`Finding.to_dict`'s terms:
    ``nsa`` and ``nsa_urls`` are lists of str, ``mappings`` maps each mapping key to a tuple of peer IDs. A
    writer may hold any value that serialises to the same JSON (``Any``)."""

    id: str
    title: str
    nsa: Any
    nsa_urls: Any
    section: str
    mappings: Any


def control_fields(control: Control) -> ControlFields:
    """The finding fields ``control`` gives, fresh (lists and the mapping dict are the caller's)."""
    return ControlFields(control.id, control.title, list(control.nsa), list(_requirement_urls(control.nsa)),
                         control.section, control.mapping_tuples())


@lru_cache(maxsize=512)
def _requirement_urls(nsa: tuple[str, ...]) -> tuple[str, ...]:
    """The addresses of requirement IDs in docs/guide.md (a control's findings share them)."""
    return tuple(requirement_url(i) for i in nsa)


#: Problem kind: a file not read because this run writes its report there (a note).
OWN_OUTPUT = "own-output"
#: Problem kind: objects of one kind could not be listed from a cluster (403, 404); ``resource`` names the
#: kind (``name`` is empty), and the controls that need that kind are not assessable.
UNLISTED = "unlisted"
#: Problem kind: the input held no Kubernetes object to check (an error, a note with --allow-empty).
NOTHING_CHECKED = "nothing-checked"
#: Notes said one by one wherever input problems are said; other notes (documents skipped) are only counted.
SHOWN_NOTES = (OWN_OUTPUT, NOTHING_CHECKED)


@dataclass(slots=True)
class Problem:
    """Something about the input that the reader must know: an error, a warning or a note.

    Errors are inputs (or parts of them) that could not be scanned; notes are documents
    deliberately skipped, such as Helm templates or YAML that is not a Kubernetes object.
    """

    level: str  # error | warning | note
    kind: str  # e.g. parse, read, too-large, invalid-object, duplicate-key, skipped, config
    message: str
    file: str | None = None
    line: int | None = None
    resource: ResourceRef | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "kind": self.kind,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "resource": self.resource.to_dict() if self.resource else None,
        }

    def where(self) -> str:
        if self.file is None:
            return str(self.resource) if self.resource else "<input>"
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(slots=True)
class Tally:
    """How many units each control evaluated and how many failed (for compliance %)."""

    evaluated: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)

    def add(self, control_id: str, failed: bool) -> None:
        self.evaluated[control_id] = self.evaluated.get(control_id, 0) + 1
        if failed:
            self.failed[control_id] = self.failed.get(control_id, 0) + 1
