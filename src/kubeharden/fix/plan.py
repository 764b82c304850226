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

from kubeharden.fix.files import EditableFiles
from kubeharden.model.fix_notes import what_to_test
from kubeharden.fix.targets import edit_target
from kubeharden.model.fieldpath import split
from kubeharden.model.findings import Finding, Fix

#: Reasons a finding is not fixed (the keys of :attr:`Plan.left`).
NO_FIX = "no mechanical fix: a person must choose the change (see the finding's remediation)"
UNSAFE = "can break the application: apply with --unsafe or accept it with --interactive"
NOT_A_FILE = "not from a file that can be edited"
#: Findings of a rendered input (a Helm chart, a Kustomize overlay): the change belongs in the source.
RENDERED = "rendered from a chart or overlay: change its source as proposed"


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
    #: changes proposed for rendered inputs, not applied: (finding, what to change where)
    proposals: list[tuple[Finding, str]] = field(default_factory=list)

    def leave(self, reason: str, finding: Finding) -> None:
        self.left.setdefault(reason, []).append(finding)


def make_plan(findings: Iterable[Finding], only: set[str] | None = None, unsafe: bool = False,
              interactive: bool = False, files: EditableFiles | None = None) -> Plan:
    """Sort failing findings into changes and the ones left (with why); ``only``: control IDs; ``files``:
    the files of the run (:mod:`kubeharden.fix.files`), whose refusals leave a file's findings unfixed."""
    plan = Plan()
    for f in findings:
        if f.status != "fail" or (only is not None and f.control_id not in only):
            continue
        if f.fix is None:
            plan.leave(NO_FIX, f)
            continue
        if f.trace is not None:
            plan.leave(RENDERED, f)
            plan.proposals.append((f, proposal(f, f.fix)))
            continue
        target = edit_target(f)
        if target is None:
            plan.leave(NOT_A_FILE, f)
            continue
        refused = files.refusal(target) if files is not None else None
        if refused:
            plan.leave(refused, f)
            continue
        if not f.fix.safe and not (unsafe or interactive):
            plan.leave(UNSAFE, f)
            continue
        plan.changes.append(Change(f, f.fix, target))
    return plan


def proposal(finding: Finding, fix: Fix) -> str:
    """What to change in the source of a rendered finding (docs/fix.md): the values file when a
    ``.Values`` path drives the field the fix writes (:func:`values_field`), else the patch that set
    it, else the template line (Helm) or the base resource line (Kustomize) that wrote the object."""
    trace = finding.trace
    value = "" if fix.op == "remove" and fix.value is None else f" {json.dumps(fix.value)}"
    what = f"{fix.op} {fix.path}{value}"
    if trace is None:
        return what
    field = values_field(trace.values_path, fix.path, finding.path) if trace.values_path else None
    if field is not None:
        values = f"{trace.values_file}:{trace.values_line}" if trace.values_file and trace.values_line else \
            (trace.values_file or "your values file")
        change = {"set": f"set .Values.{field} to{value}", "add": f"add{value} to .Values.{field}"}.get(
            fix.op, f"remove{value} from .Values.{field}" if value else f"remove .Values.{field}")
        return f"{change} in {values} (it drives {fix.path})"
    if trace.patch_file:
        patch = f"{trace.patch_file}:{trace.patch_line}" if trace.patch_line else trace.patch_file
        return f"{what}: in the patch at {patch}"
    source = finding.file or trace.template or trace.input or "the template"
    return f"{what}: in {source}:{finding.line}" if finding.line and source == finding.file else f"{what}: in {source}"


def values_field(values_path: str, fix_path: str, finding_path: str | None) -> str | None:
    """The ``.Values`` path that holds the field ``fix_path`` writes, given the values path that drove the
    finding's field (at ``finding_path``); None when the value does not hold it.

    The value is the field itself when both end in the same name (``worker.privileged`` for
    ``….securityContext.privileged``). A mapping written whole (``toYaml .Values.securityContext``)
    holds the fields below its name: ``securityContext`` for ``….securityContext.runAsNonRoot`` gives
    ``securityContext.runAsNonRoot``, when the finding's field is that mapping or below it (not the
    pod's ``securityContext`` for a container's). Several values on one line, a value of a ``range`` (``[]``) and a
    field below a list item of the value are not said in values terms (the template line is proposed).
    """
    if " and .Values." in values_path or "[" in values_path:
        return None
    try:
        steps, at = split(fix_path), split(finding_path or "")
    except ValueError:
        return None
    last = values_path.rsplit(".", 1)[-1]
    if steps and steps[-1] == last:
        return values_path if steps == at else None
    below = [i for i, step in enumerate(steps[:-1]) if step == last and steps[: i + 1] == at[: i + 1]]
    if not below:
        return None
    tail = steps[below[-1] + 1:]
    if not all(isinstance(step, str) and "." not in step for step in tail):
        return None
    return ".".join([values_path, *(str(step) for step in tail)])
