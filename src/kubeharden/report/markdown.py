"""The Markdown report, for pull-request comments: the summary, then the findings worst first.

GitHub refuses comments over 65,536 characters, so the report stops adding findings before
:data:`LIMIT` and says how many it left out. Cells are escaped (:func:`cell`: ``|``, markup, newlines as
``<br>``) so a message can never break the table, and a multi-line fix keeps its lines. Suppressed
findings are counted, not listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO

from kubeharden.model.findings import Finding, Severity
from kubeharden.model.results import ScanResult
from kubeharden.report.summary import summary

#: The report's size limit in characters (GitHub's comment limit is 65,536).
LIMIT = 65_000
_ICON = {"critical": "🟥", "high": "🟧", "medium": "🟨", "low": "🟦", "info": "⬜"}


def cell(text: object) -> str:
    """``text`` safe and readable inside a Markdown table cell, which must stay on one line.

    Lines are joined with ``<br>`` and their indentation kept as ``&nbsp;`` (a fix that carries a
    manifest stays YAML to read); ``&``, ``<`` and ``>`` become entities, ``|`` and ``\\`` are escaped,
    and a line's balanced backticks become ``<code>`` (an unbalanced one becomes ``'``), so no message can
    break the table or inject markup.
    """
    lines = str(text).replace("\r\n", "\n").replace("\r", "\n").strip("\n").split("\n")
    return "<br>".join(_line(line.rstrip()) for line in lines).strip()


def _line(line: str) -> str:
    body = line.lstrip(" ")
    parts = body.split("`")
    if len(parts) % 2 == 0:  # an odd number of backticks: no code span can be trusted
        parts = ["'".join(parts)]
    out = "".join(f"<code>{_escaped(p)}</code>" if n % 2 else _escaped(p) for n, p in enumerate(parts))
    return "&nbsp;" * (len(line) - len(body)) + out


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\\", "\\\\") \
        .replace("|", "\\|")


def write(findings: Iterable[Finding], result: ScanResult, out: IO[str]) -> None:
    failing = [f for f in findings if f.status == "fail"]
    failing.sort(key=lambda f: (-f.severity, f.control.id, f.resource.kind, f.resource.namespace or "",
                                f.resource.name, f.container_id or ""))
    s = summary(result)
    counts = ", ".join(f"{n} {label}" for label, n in s["by_severity"].items() if n) or "none"
    head = [f"## kubeharden: {len(failing)} finding{'s' if len(failing) != 1 else ''} ({counts}) in "
            f"{s['objects']} objects", ""]
    levels = s["pss_levels"]
    head.append(f"Profile **{s['profile']}**, {s['controls']} controls; suppressed {s['suppressed']}. "
                f"Pod Security Standards: restricted {levels['restricted']}, baseline {levels['baseline']}, "
                f"privileged {levels['privileged']}.")
    if result.baseline is not None:
        head.append(f"Baseline {cell(result.baseline)}: {result.in_baseline} known finding(s) not shown.")
    if result.not_assessable:
        head.append("Not assessable from this input (neither passed nor failed): "
                    + ", ".join(c.id for c in result.not_assessable) + ".")
    inapplicable = result.not_applicable()
    if inapplicable:
        head.append("Not applicable, nothing they judge was in the input: " + ", ".join(inapplicable) + ".")
    errors = [p for p in result.problems if p.level != "note"]
    if errors:
        head.append(f"**{len(errors)} input problem(s)**: " + "; ".join(
            cell(f"{p.where()}: {p.message}") for p in errors[:5]) + (" …" if len(errors) > 5 else ""))
    head += ["", "| section | checked | failed | compliance |", "|---|---:|---:|---:|"]
    for row in s["compliance"]:
        pct = "n/a" if row["compliance_percent"] is None else f"{row['compliance_percent']:.1f}%"
        head.append(f"| {cell(row['section'])} | {row['evaluated']} | {row['failed']} | {pct} |")
    lines = head + ["", "| | control | resource | container | where | what | fix |", "|---|---|---|---|---|---|---|"]
    size = sum(len(x) + 1 for x in lines)
    shown = 0
    for f in failing:
        r = f.resource
        where = f"{f.file}:{f.line}" if f.file and f.line else (f.file or "")
        if f.trace is not None and f.trace.input:  # several overlays or charts can render one object
            where += f" (rendered from {f.trace.input})"
        row = (f"| {_ICON.get(f.severity.label, '')} {f.severity.label} | {f.control.id} {cell(f.control.slug)} | "
               f"{cell(r.kind)} {cell((r.namespace + '/') if r.namespace else '')}{cell(r.name)} | "
               f"{cell(f.container_id or '')} | {cell(where)} | {cell(f.message)} | {cell(f.remediation)} |")
        if size + len(row) + 200 > LIMIT:
            break
        lines.append(row)
        size += len(row) + 1
        shown += 1
    if not failing:
        lines = head + ["", "No findings."]
    elif shown < len(failing):
        worst_left = Severity(max(f.severity for f in failing[shown:])).label
        lines += ["", f"*{len(failing) - shown} more finding(s) not shown (the worst of them {worst_left}): the "
                      "comment limit was reached; see the full report (--format json or sarif).*"]
    out.write("\n".join(lines) + "\n")
