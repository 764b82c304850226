"""What a scan leaves once its findings have been consumed: the input to every reporter.

:class:`ScanResult` holds the selected controls, problems, counts, Pod Security Standards
verdicts (:class:`PssEntry`) and exception bookkeeping; the engine fills it while findings
stream past (:mod:`kubeharden.engine.evaluator`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from kubeharden.model.analyses import ScopeAnalyses
from kubeharden.model.controls import Control
from kubeharden.model.exceptions import ExceptionRule
from kubeharden.model.findings import Problem, Tally
from kubeharden.model.history import ScanInfo
from kubeharden.model.objects import ResourceRef


class PssEntry(NamedTuple):
    """The Pod Security Standards verdict of one workload (a tuple: one per workload is kept)."""

    ref: ResourceRef
    file: str | None
    line: int | None
    level: str
    baseline: tuple[str, ...]
    restricted: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"resource": self.ref.to_dict(), "file": self.file, "line": self.line, "level": self.level,
                "baseline_violations": list(self.baseline), "restricted_violations": list(self.restricted)}


@dataclass(slots=True)
class ScanResult:
    """Everything a reporter needs once the findings have been consumed."""

    controls: list[Control]
    problems: list[Problem] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    pss: list[PssEntry] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    expired_exceptions: list[ExceptionRule] = field(default_factory=list)
    unused_exceptions: list[ExceptionRule] = field(default_factory=list)
    profile: str = "default"
    #: The configuration file in effect (as found or given with --config), None for the built-in defaults.
    config_file: str | None = None
    findings_by_severity: Counter[str] = field(default_factory=Counter)
    suppressed: int = 0
    #: The input this scan read (catalogue INPUTS: manifest, cluster, node, admission).
    input_kind: str = "manifest"
    #: Selected controls that this input cannot show (their ``inputs:`` lack it): never run, never a pass.
    not_assessable: list[Control] = field(default_factory=list)
    #: Suppressed findings per control ID.
    suppressed_by_control: Counter[str] = field(default_factory=Counter)
    #: Controls that raised on some input (reported as problems of kind ``internal``).
    errored: set[str] = field(default_factory=set)
    #: The baseline findings were compared with (``scan --baseline``: a report file or ``scan N``), or None.
    baseline: str | None = None
    #: Failing findings left out of the report because the baseline holds them.
    in_baseline: int = 0
    #: The ID the scan was stored under (``scan --store``), once stored.
    stored_as: int | None = None
    #: Drawings of each scope's RBAC paths and reachability, when a report asked for them
    #: (``Evaluator.keep_analyses``, the HTML report); empty otherwise.
    analyses: list[ScopeAnalyses] = field(default_factory=list)
    #: Earlier stored scans of the same inputs, oldest first, for trends (the scan command fills it with
    #: ``--store`` or a stored ``--baseline``); None when no history store was used.
    history: list[ScanInfo] | None = None

    @property
    def objects(self) -> int:
        return sum(self.kinds.values())

    def not_applicable(self) -> list[str]:
        """IDs of the selected controls that found nothing to judge in the input (``not-applicable``)."""
        return [i for i, status in self.control_status().items() if status == "not-applicable"]

    def control_status(self) -> dict[str, str]:
        """Each selected control's outcome over the whole scan, by ID (one of findings.STATUSES).

        ``error`` when it raised on some input, ``fail`` when an unsuppressed finding remains,
        ``suppressed`` when every finding is suppressed, ``pass`` when it checked something and
        found nothing, ``not-applicable`` when nothing in the input was for it, ``not-assessable``
        when the input cannot show what it needs.
        """
        out: dict[str, str] = {}
        for control in self.controls:
            cid = control.id
            if cid in self.errored:
                out[cid] = "error"
            elif self.tally.failed.get(cid, 0):
                out[cid] = "fail"
            elif self.suppressed_by_control.get(cid, 0):
                out[cid] = "suppressed"
            elif self.tally.evaluated.get(cid, 0):
                out[cid] = "pass"
            else:
                out[cid] = "not-applicable"
        for control in self.not_assessable:
            out[control.id] = "not-assessable"
        return out
