"""The terminal report: worst first, one fix text per group, the summary on top.

Layout (docs/terminal-report.md):

1. the summary: counts by severity, Pod Security Standards levels, compliance per guide section and the
   top risks (the worst findings, at most :data:`TOP_RISKS`);
2. the findings, grouped (``--group-by resource``, the default, or ``control`` or ``namespace``), groups
   sorted by their worst finding. Within a resource, findings of one control with the same fix are one
   entry: the message once when it is the same for every container, the containers listed; a finding
   that another finding of the same resource implies (:data:`IMPLIED_BY`) is folded under it;
3. suppressed findings, together at the end (never mixed in under their old severity);
4. what was not checked: controls the input cannot show, exception notes, custom resources, input problems.

``--compact`` prints one line per finding, ``--quiet`` the summary alone. In a file (or a pipe) lines
carry no trailing padding; the width is the terminal's, else ``COLUMNS``, else :data:`FILE_WIDTH`.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from kubeharden.report.trace import change_hint, trace_text, with_hint
from kubeharden.model.controls import not_assessable_groups
from kubeharden.model.findings import SHOWN_NOTES, Finding, Severity
from kubeharden.model.guide import GUIDE_POINTER, requirement_url
from kubeharden.model.pods import TEMPLATE_EVALUATED
from kubeharden.model.results import ScanResult
from kubeharden.report.plain import columns_from_env, print_table
from kubeharden.report.display import Display
from kubeharden.report.summary import summary

STYLE = {Severity.CRITICAL: "bold white on red", Severity.HIGH: "bold red", Severity.MEDIUM: "yellow",
         Severity.LOW: "cyan", Severity.INFO: "dim"}
#: Width of the report in a file or pipe when COLUMNS does not say.
FILE_WIDTH = 120
#: How many of the worst findings the summary names.
TOP_RISKS = 5
#: A finding of the first control is a consequence of a failing finding of the second for the same
#: resource (and container), so it is shown under that one, not as a finding of its own:
#: - KH-POD-011 under KH-POD-004: "AllowPrivilegeEscalation is always true when the container is run as
#:   privileged" (Kubernetes, "Configure a Security Context for a Pod or Container");
#: - KH-POD-007 under KH-POD-009: a sensitive host path is a hostPath volume outside the allowed paths
#:   by definition (the same volume).
IMPLIED_BY = {"KH-POD-011": "KH-POD-004", "KH-POD-007": "KH-POD-009"}


@dataclass(slots=True)
class Entry:
    """One line of the report: a control's findings in one resource that share a fix."""

    lead: Finding
    findings: list[Finding]
    folded: list[Finding] = field(default_factory=list)

    @property
    def severity(self) -> Severity:
        return self.lead.severity


def console_for(out: IO[str], width: int | None = None) -> Console:
    """A rich console on ``out``: the terminal's width on a terminal, else COLUMNS, else FILE_WIDTH."""
    if width is None and not out.isatty():
        width = columns_from_env() or FILE_WIDTH
    return Console(file=out, highlight=False, soft_wrap=False, width=width)


def write(findings: Iterable[Finding], result: ScanResult, out: IO[str], display: Display | None = None) -> None:
    display = display or Display()
    failing: list[Finding] = []
    suppressed: list[Finding] = []
    for f in findings:
        (failing if f.status == "fail" else suppressed).append(f)
    shown = [f for f in failing if display.shows(f)]
    if out.isatty():
        _render(console_for(out), shown, suppressed, failing, result, display)
        return
    buffer = io.StringIO()
    _render(console_for(buffer, width=columns_from_env() or FILE_WIDTH), shown, suppressed, failing, result, display)
    for line in buffer.getvalue().splitlines():
        out.write(line.rstrip() + "\n")  # rich pads table cells to the column width; files get none of it


def _render(console: Console, shown: list[Finding], suppressed: list[Finding], failing: list[Finding],
            result: ScanResult, display: Display) -> None:
    _summary(console, result, failing, display)
    if not display.quiet:
        if display.compact:
            for f in sorted(shown, key=_order):
                console.print(_compact(f), soft_wrap=True)  # one line each, whatever the width
        else:
            _groups(console, shown, display.group_by)
        if suppressed:
            console.print(Text(f"\nSuppressed ({len(suppressed)}): accepted by an annotation or exception with a "
                               "reason", style="bold"))
            for f in sorted(suppressed, key=_order):
                reason = (f.suppression or {}).get("reason", "")
                console.print(Text.assemble(("  ", ""), (f.control.id, "dim"), "  ", (_where(f), "dim"), "  ",
                                            (reason, "dim italic")), soft_wrap=True)
    _unchecked(console, result)


def _order(f: Finding) -> tuple[object, ...]:
    r = f.resource
    return (-f.severity, f.control.id, r.kind, r.namespace or "", r.name, f.container_id or "", f.line or 0)


def _where(f: Finding) -> str:
    r = f.resource
    name = f"{r.kind}/{r.namespace}/{r.name}" if r.namespace else f"{r.kind}/{r.name}"
    if f.container:
        name += f" [{f.container_id if f.container_list not in (None, 'containers') else f.container}]"
    place = f"{f.file}:{f.line}" if f.file and f.line else (f.file or "live object")
    return f"{name}  {place}"


def _compact(f: Finding) -> Text:
    return Text.assemble((f"{f.severity.label.upper():8}", STYLE[f.severity]), " ", (f.control.id, "bold"), " ",
                         (_where(f), "dim"), "  ", f.message)


def _summary(console: Console, result: ScanResult, failing: list[Finding], display: Display) -> None:
    s = summary(result)
    head = Text(f"{s['findings']} finding{'s' if s['findings'] != 1 else ''} in {s['objects']} objects: ",
                style="bold")
    for label, count in s["by_severity"].items():
        head.append(f"{label} {count}  ", style=STYLE[Severity.parse(label)] if count else "dim")
    head.append(f"suppressed {s['suppressed']}", style="dim")
    console.print(head)
    levels = s["pss_levels"]
    invalid = f", invalid {levels['invalid']} (refused by the API server; see the errors)" if levels["invalid"] else ""
    if any(levels.values()) or result.input_kind not in ("node", "etcd"):  # no workloads on a node or in etcd
        console.print(f"Pod Security Standards (workloads): restricted {levels['restricted']}, baseline "
                      f"{levels['baseline']}, privileged {levels['privileged']}{invalid}")
    console.print(Text(f"profile {s['profile']}, {s['controls']} controls", style="dim"))
    console.print(Text(f"configuration: {s['config'] or 'none (built-in defaults)'}", style="dim"), soft_wrap=True)
    if result.baseline is not None:
        console.print(Text(f"baseline {result.baseline}: {result.in_baseline} finding(s) it holds are not shown "
                           "and do not set the exit code", style="dim"))
    if display.severities is not None:
        hidden = sum(1 for f in failing if not display.shows(f))
        console.print(Text(f"showing {', '.join(s.label for s in sorted(display.severities, reverse=True))} "
                           f"only: {hidden} other finding(s) hidden (they still count in the exit code)", style="dim"))
    table = Table(title="Compliance with the NSA/CISA guide, by section", title_justify="left", box=None,
                  padding=(0, 2, 0, 0), show_edge=False)
    table.add_column("section")
    table.add_column("checked", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("compliance", justify="right")
    for row in s["compliance"]:
        pct = row["compliance_percent"]
        style = "green" if pct is not None and pct >= 90 else ("yellow" if pct is not None and pct >= 60 else "red")
        table.add_row(row["section"], str(row["evaluated"]), str(row["failed"]),
                      Text("n/a" if pct is None else f"{pct:.1f}%", style=style if pct is not None else "dim"))
    print_table(console, table)
    risky = [f for f in sorted(failing, key=_order) if f.severity >= Severity.HIGH]
    top = [f for f in risky if display.shows(f)][:TOP_RISKS]  # the display filter applies here too
    hidden_risks = sum(1 for f in risky if not display.shows(f))
    if top:
        risks = Table(title="Top risks", title_justify="left", show_header=False, box=None, padding=(0, 1, 0, 0),
                      title_style="bold")
        risks.add_column("sev", no_wrap=True)
        risks.add_column("id", no_wrap=True)
        risks.add_column("what", overflow="fold")  # the file and line must stay whole
        for f in top:
            risks.add_row(Text(f.severity.label.upper(), style=STYLE[f.severity]), Text(f.control.id, style="bold"),
                          Text.assemble(f.control.title, "  ", (_where(f), "dim")))
        print_table(console, risks)
    if hidden_risks:
        console.print(Text(f"Top risks: {hidden_risks} critical or high finding(s) hidden by the display filter "
                           "(--severity, --min-severity)", style="dim"))
    console.print()


_UNIT = re.compile(r"^.*?\b(?:containers|initContainers|ephemeralContainers|volumes)\[\d+\]")


def _unit(path: str) -> str:
    """The container or volume a field path lies in (``spec.volumes[1].hostPath.path`` -> ``spec.volumes[1]``)."""
    m = _UNIT.match(path)
    return m.group(0) if m else path


def _entries(items: list[Finding]) -> list[Entry]:
    """The findings of one resource as report entries: one per control and fix; a finding implied by a
    failing finding of its cause control in the same container or volume (:data:`IMPLIED_BY`) is folded
    under that entry instead."""
    causes = {(f.control.id, _unit(f.path)) for f in items}
    by_key: dict[tuple[str, str], Entry] = {}
    folded: list[tuple[tuple[str, str], Finding]] = []
    for f in sorted(items, key=_order):
        cause = IMPLIED_BY.get(f.control.id)
        if cause is not None and (cause, _unit(f.path)) in causes:
            folded.append(((cause, _unit(f.path)), f))
            continue
        key = (f.control.id, f.remediation)
        if key in by_key:
            by_key[key].findings.append(f)
        else:
            by_key[key] = Entry(f, [f])
    for (cause, unit), f in folded:
        host = next(e for e in by_key.values() if e.lead.control.id == cause
                    and any(_unit(x.path) == unit for x in e.findings))
        host.folded.append(f)
    return list(by_key.values())


def _groups(console: Console, shown: list[Finding], group_by: str) -> None:
    groups: dict[str, list[Finding]] = defaultdict(list)
    for f in shown:
        r = f.resource
        key = {"resource": f"{r}\x00{f.file or ''}", "control": f.control.id,
               "namespace": r.namespace or "(cluster-scoped)"}[group_by]
        groups[key].append(f)
    ordered = sorted(groups.items(), key=lambda kv: (min(_order(f) for f in kv[1]), kv[0]))
    for key, items in ordered:
        worst = max(f.severity for f in items)
        if group_by == "resource":
            first = min((f.line for f in items if f.line), default=None)
            file = items[0].file
            where = f"{file}:{first}" if file and first else (file or "live object")
            title = Text.assemble((str(items[0].resource), "bold"), "  ", (where, "dim"))
        elif group_by == "control":
            c = items[0].control
            title = Text.assemble((f"{c.id} {c.slug}", "bold"), f"  {c.title}  ", (f"{len(items)} finding(s)", "dim"))
        else:
            title = Text.assemble((f"namespace {key}", "bold"), "  ", (f"{len(items)} finding(s)", "dim"))
        title.append(f"  worst: {worst.label.upper()}", style=STYLE[worst])
        if group_by == "control":
            title.append("\nfix: " + items[0].remediation, style="green")
        console.print(title)
        table = Table(show_header=False, box=None, padding=(0, 1), expand=False)
        table.add_column("sev", no_wrap=True)
        table.add_column("id", max_width=20)
        table.add_column("detail")
        if group_by == "resource":
            entries = _entries(items)
        else:
            entries = [e for r in _by_resource(items) for e in _entries(r)]
        for e in sorted(entries, key=lambda e: _order(e.lead)):
            table.add_row(Text(e.severity.label.upper(), style=STYLE[e.severity]), _why(e.lead), _detail(e, group_by))
        print_table(console, table)
        console.print()


def _by_resource(items: list[Finding]) -> list[list[Finding]]:
    out: dict[str, list[Finding]] = defaultdict(list)
    for f in items:
        out[f"{f.resource}\x00{f.file or ''}"].append(f)
    return list(out.values())


def _container(f: Finding) -> str:
    return f.container_id or "" if f.container_list not in (None, "containers") else f.container or ""


def _detail(e: Entry, group_by: str) -> Text:
    """The message (once when the containers share it), the containers, folded findings, the fix."""
    f = e.lead
    detail = Text()
    if group_by != "resource":
        detail.append(f"{f.resource}  ", style="bold")
        if f.file:
            detail.append(f"{f.file}{':' + str(f.line) if f.line else ''}  ", style="dim")
    messages = {x.message for x in e.findings}
    origins = {_origin(x) for x in e.findings}
    if len(messages) == 1 and len(e.findings) == 1:
        if f.container:
            detail.append(f"[{_container(f)}] ", style="magenta")
        detail.append(f.message)
        if f.line:
            detail.append(f"  (line {f.line})", style="dim")
    elif len(messages) == 1:
        detail.append(f.message)
        detail.append("\nin ", style="dim")
        detail.append(", ".join(_spot(x, len(origins) > 1) for x in e.findings), style="magenta")
    else:
        for n, x in enumerate(e.findings):
            detail.append("\n" if n else "")
            if x.container:
                detail.append(f"[{_container(x)}] ", style="magenta")
            detail.append(x.message)
            if x.line:
                detail.append(f"  (line {x.line})", style="dim")
    traced = trace_text(f.trace)  # where a rendered field came from: template, values, patch
    if traced and len(origins) == 1:
        detail.append(f"\nfrom: {traced}", style="cyan")
    for x in e.folded:
        detail.append(f"\nimplies {x.control.id}: {x.message}", style="dim")
    hint = change_hint(f.trace)
    if group_by != "control" or hint or any(x.remediation != f.remediation for x in e.findings):
        detail.append(f"\nfix: {with_hint(f.remediation, f.trace)}", style="green")
    return detail


def _origin(f: Finding) -> str | None:
    """The rendered input (and values set) a finding came from; None for a plain manifest."""
    t = f.trace
    if t is None or t.input is None:
        return None
    return t.input + (f", values set {t.values_set}" if t.values_set else "")


def _spot(f: Finding, with_origin: bool) -> str:
    """Where one of an entry's findings is: its container, else its resource (kind/name, never a
    placeholder), its line, and with ``with_origin`` the rendered input it came from (several Kustomize
    overlays or values sets can render the same object)."""
    r = f.resource
    text = _container(f) if f.container else f"{r.kind}/{r.name}"
    if f.line:
        text += f" (line {f.line})"
    origin = _origin(f) if with_origin else None
    return text + (f" rendered from {origin}" if origin else "")


def _why(f: Finding) -> Text:
    """The control ID, and under it the guide requirements it enforces (linked), which say why."""
    text = Text(f.control.id, style="bold")
    for n, nsa_id in enumerate(f.control.nsa):
        text.append("\n" if n == 0 else " ", style="dim")
        text.append(nsa_id, style=f"dim link {requirement_url(nsa_id)}")
    return text


#: Above this many controls that need the same inputs, the footer names their ID families instead of each ID
#: (the node controls: dozens of them are not assessable from every manifest scan); JSON, SARIF and JUnit list all.
_LISTED_NOT_ASSESSABLE = 3


def _families(ids: list[str]) -> str:
    """The ID families of ``ids`` in order of appearance (``KH-CP-*, KH-FILE-*``)."""
    return ", ".join(dict.fromkeys(i.rsplit("-", 1)[0] + "-*" for i in ids))


def _not_assessable(controls: list[Any], input_kind: str) -> str:
    """The not-assessable controls, grouped by why (model.controls.not_assessable_groups): each ID, or a count
    and the ID families."""
    parts = []
    for why, ids in not_assessable_groups(controls, input_kind).items():
        if len(ids) > _LISTED_NOT_ASSESSABLE:
            parts.append(f"{len(ids)} controls: {why} ({_families(ids)}; kubeharden controls lists them)")
        else:
            parts.extend(f"{i} ({why})" for i in ids)
    return ", ".join(parts)


def _unchecked(console: Console, result: ScanResult) -> None:
    s = summary(result)
    console.print(Text(GUIDE_POINTER, style="dim"))
    if result.not_assessable:
        console.print(Text(f"not assessable from {result.input_kind} input, so neither passed nor failed: "
                           + _not_assessable(result.not_assessable, result.input_kind), style="yellow"))
    inapplicable = result.not_applicable()
    if inapplicable:
        listed = (", ".join(inapplicable) if len(inapplicable) <= _LISTED_NOT_ASSESSABLE else
                  f"{len(inapplicable)} controls ({_families(inapplicable)})")
        console.print(Text(f"not applicable, nothing they judge was in the input: {listed}", style="dim"))
    for e in result.expired_exceptions:
        console.print(Text(f"exception #{e.index} ({e.control}) expired on {e.expires}: it no longer suppresses",
                           style="yellow"))
    for e in result.unused_exceptions:
        console.print(Text(f"exception #{e.index} ({e.control} {e.kind}/{e.namespace}/{e.name}) matched nothing",
                           style="yellow"))
    custom = s["custom_resources"]
    for kind, count in custom["evaluated"].items():
        console.print(Text(f"{kind}: not a kind kubeharden knows; {count} object(s) evaluated through their pod "
                           "template", style="yellow"))
    for kind, count in custom["not_evaluated"].items():
        console.print(Text(f"{kind}: {count} object(s) carry containers that were NOT evaluated "
                           "(see the input problems)", style="bold yellow"))
    problems = [p for p in result.problems if p.level != "note" or p.kind in SHOWN_NOTES]
    notes = [p for p in result.problems if p.level == "note" and p.kind not in SHOWN_NOTES
             and p.kind != TEMPLATE_EVALUATED]
    if problems:
        console.print(Text(f"\n{len(problems)} input problem(s):", style="bold"))
        for p in problems:
            console.print(Text(f"  {p.level}: {p.where()}: {p.message}", style="red" if p.level == "error"
                               else "yellow"))
    if notes:
        console.print(Text(f"{len(notes)} document(s) skipped (not Kubernetes objects or templates); "
                           "see --format json for the list", style="dim"))
