"""The Markdown report, for pull-request comments: the summary, then the findings worst first.

GitHub refuses comments over 65,536 characters, so the report stops adding findings before
:data:`LIMIT` and says how many it left out. Cells are escaped (``|``, newlines, backticks) so a
message can never break the table. Suppressed findings are counted, not listed.
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
    """``text`` safe inside a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ") \
        .replace("`", "'").strip()


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
