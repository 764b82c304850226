"""The records that leave the evaluation: findings and input problems.

One finding type serves every source and every check, so reporters, exceptions and
exit codes work the same for manifests, clusters and admission requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from kubeharden.guide import requirement_url
from kubeharden.model.objects import ResourceRef

if TYPE_CHECKING:
    from kubeharden.checks.catalogue import Control


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
        return self.name.lower()


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
    status: str = "fail"  # fail | suppressed
    suppression: dict[str, Any] | None = None
    source: str = "file"
    #: the PodSpec list of ``container``: containers, initContainers or ephemeralContainers
    container_list: str | None = None

    @property
    def container_id(self) -> str | None:
        """The container as ``list/name`` (``initContainers/setup``), or None."""
        if self.container is None:
            return None
        return f"{self.container_list}/{self.container}" if self.container_list else self.container

    @property
    def control_id(self) -> str:
        return self.control.id

    def to_dict(self) -> dict[str, Any]:
        c = self.control
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
            "nsa": list(c.nsa),
            "nsa_urls": [requirement_url(i) for i in c.nsa],
            "section": c.section,
            "mappings": c.mappings_dict(),
        }
        if self.suppression is not None:
            out["suppression"] = self.suppression
        return out


#: Problem kind: a file not read because this run writes its report there (a note).
OWN_OUTPUT = "own-output"
#: Problem kind: the input held no Kubernetes object to check (an error, a note with --allow-empty).
NOTHING_CHECKED = "nothing-checked"


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
