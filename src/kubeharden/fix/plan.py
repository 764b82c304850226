"""Which findings get fixed: the ones with a structured fix, of the selected controls, safe or consented.

A fix marked ``safe`` in the catalogue (or by its check) is applied unless ``--only`` leaves its
control out; every other fix can stop a working application and is applied only with ``unsafe``
(``--unsafe``) or when a person accepts it (``--interactive``). Nothing is dropped silently: each
finding ends up in :attr:`Plan.changes` or in :attr:`Plan.left` with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from kubeharden.fix.notes import what_to_test
from kubeharden.fix.targets import edit_target
from kubeharden.model.findings import Finding, Fix

#: Reasons a finding is not fixed (the keys of :attr:`Plan.left`).
NO_FIX = "no mechanical fix: a person must choose the change (see the finding's remediation)"
UNSAFE = "can break the application: apply with --unsafe or accept it with --interactive"
NOT_A_FILE = "not from a file that can be edited"


@dataclass(frozen=True, slots=True)
class Change:
    """One fix to apply: the finding it resolves, the edit, and what to test afterwards."""

    finding: Finding
    fix: Fix
    file: str

    @property
    def safe(self) -> bool:
        return self.fix.safe

    @property
    def note(self) -> str:
        return "" if self.fix.safe else what_to_test(self.fix.path)

    def describe(self) -> str:
        f = self.finding
        where = f"{f.file}:{f.line}" if f.line else f.file or "?"
        container = f" container {f.container_id}" if f.container else ""
        value = "" if self.fix.op == "remove" and self.fix.value is None else f" {json.dumps(self.fix.value)}"
        return f"{where} {f.control_id} {f.resource}{container}: {self.fix.op} {self.fix.path}{value}"


@dataclass(slots=True)
class Plan:
    changes: list[Change] = field(default_factory=list)
    #: reason -> the findings left as they are for it
    left: dict[str, list[Finding]] = field(default_factory=dict)

    def leave(self, reason: str, finding: Finding) -> None:
        self.left.setdefault(reason, []).append(finding)


def make_plan(findings: Iterable[Finding], only: set[str] | None = None, unsafe: bool = False,
              interactive: bool = False) -> Plan:
    """Sort failing findings into changes and the ones left (with why); ``only``: control IDs."""
    plan = Plan()
    for f in findings:
        if f.status != "fail" or (only is not None and f.control_id not in only):
            continue
        if f.fix is None:
            plan.leave(NO_FIX, f)
            continue
        target = edit_target(f)
        if target is None:
            plan.leave(NOT_A_FILE, f)
            continue
        if not f.fix.safe and not (unsafe or interactive):
            plan.leave(UNSAFE, f)
            continue
        plan.changes.append(Change(f, f.fix, target))
    return plan
