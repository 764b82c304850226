"""The terminal report: findings grouped by resource, coloured by severity, then a
summary per guide section with a compliance percentage, then input problems."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import IO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from kubeharden.report.trace import change_hint, trace_text
from kubeharden.model.findings import NOTHING_CHECKED, OWN_OUTPUT, Finding, Severity
from kubeharden.model.guide import GUIDE_POINTER, requirement_url
from kubeharden.model.pods import TEMPLATE_EVALUATED
from kubeharden.model.results import ScanResult
from kubeharden.report.summary import summary

STYLE = {Severity.CRITICAL: "bold white on red", Severity.HIGH: "bold red", Severity.MEDIUM: "yellow",
         Severity.LOW: "cyan", Severity.INFO: "dim"}


#: Notes listed one by one (the others, documents skipped, are only counted).
SHOWN_NOTES = (OWN_OUTPUT, NOTHING_CHECKED)


def _console(out: IO[str]) -> Console:
    return Console(file=out, highlight=False, soft_wrap=False, width=None if out.isatty() else 140)


def write(findings: Iterable[Finding], result: ScanResult, out: IO[str]) -> None:
    console = _console(out)
    groups: dict[tuple[str, str | None], list[Finding]] = defaultdict(list)
    for f in findings:
        groups[(str(f.resource), f.file)].append(f)
    for (resource, file), items in groups.items():
        failing = [f for f in items if f.status == "fail"]
        first_line = min((f.line for f in items if f.line), default=None)
        where = f"{file}:{first_line}" if file and first_line else (file or "live object")
        console.print(Text.assemble((resource, "bold"), "  ", (where, "dim"),
                                    ("" if failing else "  (all suppressed)", "dim")))
        table = Table(show_header=False, box=None, padding=(0, 1), expand=False)
        table.add_column("sev", no_wrap=True)
        table.add_column("id", no_wrap=True)
        table.add_column("detail")
        for f in sorted(items, key=lambda f: (-f.severity, f.control.id, f.container or "")):
            sev = Text(f.severity.label.upper(), style=STYLE[f.severity] if f.status == "fail" else "dim strike")
            detail = Text()
            if f.container:
                label = f.container if f.container_list in (None, "containers") else f.container_id
                detail.append(f"[{label}] ", style="magenta")
            detail.append(f.message)
            if f.line:
                detail.append(f"  (line {f.line})", style="dim")
            traced = trace_text(f.trace)
            if traced:
                detail.append(f"\nfrom: {traced}", style="cyan")
            hint = change_hint(f.trace)
            detail.append(f"\nfix: {f.remediation}" + (f" In the source: {hint}." if hint else ""), style="green")
            detail.append(f"\nwhy: {f.control.title}. Guide ", style="dim")
            for n, nsa_id in enumerate(f.control.nsa):
                detail.append(", " if n else "", style="dim")
                detail.append(nsa_id, style=f"dim link {requirement_url(nsa_id)}")
            detail.append(f" ({f.control.section})", style="dim")
            if f.status == "suppressed":
                detail.append(f"\nsuppressed: {(f.suppression or {}).get('reason', '')}", style="dim italic")
            table.add_row(sev, Text(f.control.id, style="bold"), detail)
        console.print(table)
        console.print()
    _summary(console, result)


def _summary(console: Console, result: ScanResult) -> None:
    s = summary(result)
    table = Table(title="Compliance with the NSA/CISA guide, by section", title_justify="left")
    table.add_column("section")
    table.add_column("controls", justify="right")
    table.add_column("checked", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("compliance", justify="right")
    for row in s["compliance"]:
        pct = row["compliance_percent"]
        style = "green" if pct is not None and pct >= 90 else ("yellow" if pct is not None and pct >= 60 else "red")
        table.add_row(row["section"], str(row["controls"]), str(row["evaluated"]), str(row["failed"]),
                      Text("n/a" if pct is None else f"{pct:.1f}%", style=style if pct is not None else "dim"))
    console.print(table)
    sev = Text("findings: ")
    for label, count in s["by_severity"].items():
        sev.append(f"{label} {count}  ", style=STYLE[Severity.parse(label)] if count else "dim")
    sev.append(f"suppressed {s['suppressed']}", style="dim")
    console.print(sev)
    levels = s["pss_levels"]
    invalid = f", invalid {levels['invalid']} (refused by the API server; see the errors)" if levels["invalid"] else ""
    console.print(f"Pod Security Standards (workloads): restricted {levels['restricted']}, baseline "
                  f"{levels['baseline']}, privileged {levels['privileged']}{invalid}")
    console.print(f"profile {s['profile']}, {s['objects']} objects, {s['controls']} controls")
    console.print(Text(f"configuration: {s['config'] or 'none (built-in defaults)'}"))
    console.print(Text(GUIDE_POINTER, style="dim"))
    if result.not_assessable:
        console.print(Text(f"not assessable from {result.input_kind} input, so neither passed nor failed: "
                           + ", ".join(f"{c.id} (needs {' or '.join(c.inputs)})" for c in result.not_assessable),
                           style="yellow"))
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
