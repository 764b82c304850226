"""Records of the history: a stored finding, a stored scan's row, and the diff of two scans.

A scan is compared with another by the fingerprints of its failing findings
(:func:`kubeharden.model.findings.fingerprint`): *new* are in the later scan only, *fixed* in the
earlier only, *still open* in both. Messages, files and lines may change between the two without a
finding counting as new.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubeharden.model.findings import Severity, container_id

if TYPE_CHECKING:
    from kubeharden.model.findings import Finding


@dataclass(frozen=True, slots=True)
class StoredFinding:
    """A finding as the store keeps it (what a diff or a baseline needs to show it)."""

    fingerprint: str
    control_id: str
    severity: str
    status: str
    section: str
    api_version: str
    kind: str
    namespace: str | None
    name: str
    container_list: str | None
    container: str | None
    path: str
    file: str | None
    line: int | None
    message: str

    @property
    def level(self) -> Severity | None:
        """The severity as a :class:`Severity`, None when a report file gave a label kubeharden does not use."""
        try:
            return Severity.parse(self.severity)
        except ValueError:
            return None

    @property
    def container_id(self) -> str | None:
        """``list/name`` as in reports (``initContainers/setup``), or None."""
        return container_id(self.container_list, self.container)

    @property
    def resource(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "control_id": self.control_id, "severity": self.severity,
                "status": self.status, "section": self.section,
                "resource": {"apiVersion": self.api_version, "kind": self.kind, "namespace": self.namespace,
                             "name": self.name},
                "container": self.container_id, "path": self.path, "file": self.file, "line": self.line,
                "message": self.message}


@dataclass(frozen=True, slots=True)
class ScanInfo:
    """One row of ``kubeharden history``."""

    id: int
    created_at: dt.datetime
    inputs: str
    input_kind: str
    profile: str
    tool_version: str
    objects: int
    summary: dict[str, Any]

    def __post_init__(self) -> None:
        # SQLite keeps no offset (the store writes UTC) and PostgreSQL answers in the session's zone: both
        # become UTC here, so every reader shows one zone and says it
        at = self.created_at
        object.__setattr__(self, "created_at", at.replace(tzinfo=dt.UTC) if at.tzinfo is None
                           else at.astimezone(dt.UTC))

    @property
    def baseline_known(self) -> int:
        """Findings of this scan a ``--baseline`` held when it ran (counted in it, not reported then)."""
        return int((self.summary.get("baseline") or {}).get("not_shown", 0))

    def to_dict(self) -> dict[str, Any]:
        """The JSON row; ``created_at`` in ISO 8601 with its offset (``2026-01-02T03:04:05+00:00``)."""
        return {"id": self.id, "created_at": self.created_at.isoformat(), "inputs": self.inputs,
                "input": self.input_kind, "profile": self.profile, "tool_version": self.tool_version,
                "objects": self.objects, "findings": self.summary.get("findings", 0),
                "baseline_known": self.baseline_known,
                "by_severity": self.summary.get("by_severity", {}),
                "compliance": {c["section"]: c["compliance_percent"] for c in self.summary.get("compliance", [])}}


@dataclass(frozen=True, slots=True)
class Diff:
    """Findings of a later scan against an earlier one, each list in severity then control order."""

    new: list[StoredFinding]
    fixed: list[StoredFinding]
    still_open: list[StoredFinding]
    #: failing before, suppressed after (an exception or annotation now accepts it): not fixed
    accepted: list[StoredFinding] = field(default_factory=list)
    #: suppressed before, failing after (its exception expired or was removed): not new
    reopened: list[StoredFinding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        lists = {"new": self.new, "fixed": self.fixed, "still_open": self.still_open, "accepted": self.accepted,
                 "reopened": self.reopened}
        return {**{k: [f.to_dict() for f in v] for k, v in lists.items()},
                "counts": {k: len(v) for k, v in lists.items()}}


def stored(finding: Finding) -> StoredFinding:
    """The store's record of ``finding``."""
    r = finding.resource
    return StoredFinding(finding.fingerprint, finding.control.id, finding.severity.label, finding.status,
                         finding.control.section, r.api_version, r.kind, r.namespace, r.name,
                         finding.container_list, finding.container, finding.path, finding.file, finding.line,
                         finding.message)


def _ordered(found: Iterable[StoredFinding]) -> list[StoredFinding]:
    def worst_first(f: StoredFinding) -> tuple[int, str, str, str, str, str, str]:
        level = -1 if f.level is None else int(f.level)
        return (-level, f.control_id, f.kind, f.namespace or "", f.name, f.container or "", f.path)

    return sorted(found, key=worst_first)


def diff(before: dict[str, StoredFinding], after: dict[str, StoredFinding]) -> Diff:
    """What changed from ``before`` to ``after`` (failing and suppressed findings by fingerprint).

    A finding that is only suppressed on one side was neither fixed nor new: it was accepted (failing,
    then suppressed) or reopened (suppressed, then failing)."""
    def failing(side: dict[str, StoredFinding]) -> set[str]:
        return {k for k, f in side.items() if f.status == "fail"}

    def accepted(side: dict[str, StoredFinding]) -> set[str]:
        return {k for k, f in side.items() if f.status == "suppressed"}

    was, now = failing(before), failing(after)
    return Diff(new=_ordered(after[k] for k in now - before.keys()),
                fixed=_ordered(before[k] for k in was - after.keys()),
                still_open=_ordered(after[k] for k in now & was),
                accepted=_ordered(after[k] for k in was & accepted(after)),
                reopened=_ordered(after[k] for k in now & accepted(before)))
