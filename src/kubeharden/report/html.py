"""The HTML report: one self-contained file to share (no network needed to view it).

Rendered with Jinja2 (autoescaping on) from ``templates/report.html.j2``; the styles and the small
script for search, filters and drill-down are inline, and the charts are plain HTML bars sized from
the numbers (no charting library, no CDN). Findings are embedded once, as JSON in a
``<script type="application/json">`` element (``tojson`` escapes ``<``, ``>`` and ``&``, so no
message can close the element), and the page builds its table from them.

The scan's analyses are drawn without a layout engine (Graphviz is not installed everywhere, and a
vendored graph library would be the largest part of the file): each RBAC escalation path is a row of
boxes joined by arrows that carry the technique, in the order of the path (a chain needs no layout);
the reachability matrix is a table of coloured cells; trends are stacked HTML bars and inline SVG
polylines whose points are computed here from the numbers. Each is capped (checks/drawings.py) and says
what it left out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import IO, Any

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from kubeharden import __version__
from kubeharden.model.controls import not_assessable_groups
from kubeharden.model.findings import Finding, Severity
from kubeharden.model.guide import GUIDE, requirement_url
from kubeharden.model.history import ScanInfo
from kubeharden.model.results import ScanResult
from kubeharden.report.summary import summary

_ENV = Environment(loader=PackageLoader("kubeharden.report", "templates"), autoescape=select_autoescape(["j2"]),
                   trim_blocks=True, lstrip_blocks=True)
SEVERITIES = [s.label for s in sorted(Severity, reverse=True)]


def _row(f: Finding) -> dict[str, Any]:
    r = f.resource
    return {"severity": f.severity.label, "rank": int(f.severity), "status": f.status, "control": f.control.id,
            "slug": f.control.slug, "title": f.control.title, "kind": r.kind, "namespace": r.namespace or "",
            "name": r.name, "container": f.container_id or "", "file": f.file or "", "line": f.line,
            "message": f.message, "fix": f.remediation, "section": f.control.section, "guide": list(f.control.nsa),
            "reason": (f.suppression or {}).get("reason", ""), "fingerprint": f.fingerprint}


def write(findings: Iterable[Finding], result: ScanResult, out: IO[str]) -> None:
    rows = [_row(f) for f in findings]
    rows.sort(key=lambda r: (-r["rank"], r["control"], r["kind"], r["namespace"], r["name"], r["container"]))
    s = summary(result)
    failing = [r for r in rows if r["status"] == "fail"]
    by_namespace: dict[str, Counter[str]] = defaultdict(Counter)
    for r in failing:
        by_namespace[r["namespace"] or "(cluster-scoped)"][r["severity"]] += 1
    namespaces = sorted(by_namespace.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    resources: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in failing:  # the same key as the page's script builds (r.resource)
        resources[f"{r['kind']}/{r['namespace'] + '/' if r['namespace'] else ''}{r['name']}"].append(r)
    drill = sorted(resources.items(), key=lambda kv: (-max(x["rank"] for x in kv[1]), kv[0]))
    escalation = [r for r in failing if r["control"] == "KH-RBAC-021"]
    # orjson is ten times faster than the template's tojson on 10,000 findings; the same escaping keeps
    # any text from closing the <script> element it sits in
    data = orjson.dumps(rows).decode("utf-8").replace("<", "\\u003c").replace(">", "\\u003e") \
        .replace("&", "\\u0026")
    guide_urls = {i: requirement_url(i) for r in rows for i in r["guide"]}
    trend = None if result.history is None else trends(result.history, s)
    out.write(_ENV.get_template("report.html.j2").render(
        guide=GUIDE, version=__version__, summary=s, severities=SEVERITIES, data=Markup(data),
        guide_urls=guide_urls,
        namespaces=namespaces, drill=drill, escalation=escalation, problems=[p.to_dict() for p in result.problems
                                                                            if p.level != "note"],
        not_assessable=not_assessable_groups(result.not_assessable, result.input_kind).items(),
        input_kind=result.input_kind, not_applicable=result.not_applicable(),
        baseline=result.baseline, in_baseline=result.in_baseline,
        analyses=result.analyses, trend=trend,
        max_namespace=max((sum(c.values()) for _, c in namespaces), default=1)))


#: Size of a sparkline (SVG user units).
SPARK_WIDTH, SPARK_HEIGHT = 160, 28


def sparkline(values: list[float | None], top: float | None = None) -> str:
    """SVG polyline points for ``values`` (None: no point) scaled into SPARK_WIDTH x SPARK_HEIGHT, zero at
    the bottom and ``top`` (default the largest value) at the top; "" with fewer than two numbers.
    ``[0, 5, 10]`` -> ``"0.0,26.0 80.0,14.0 160.0,2.0"``."""
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(known) < 2:
        return ""
    top = top or max(v for _, v in known) or 1.0
    step = SPARK_WIDTH / (len(values) - 1)
    usable = SPARK_HEIGHT - 4  # 2 units of margin: a line at zero or at the top stays visible
    return " ".join(f"{i * step:.1f},{SPARK_HEIGHT - 2 - usable * v / top:.1f}" for i, v in known)


def trends(history: list[ScanInfo], current: dict[str, Any]) -> dict[str, Any]:
    """The stored scans of the same inputs (oldest first) and this scan as the last point.

    ``{"points": [{"label", "title", "by_severity", "total"}], "severity": [{"label", "values", "points"}],
    "sections": [{"section", "values", "failed", "points"}], "max_total"}``; values are counts by severity
    as each scan reported them and the compliance percentage per guide section (None where a scan had no
    check of that section).
    """
    scans = [(f"#{h.id}", f"scan {h.id}, {h.created_at:%Y-%m-%d %H:%M} UTC, profile {h.profile}", h.summary)
             for h in history]
    scans.append(("now", f"this scan, profile {current['profile']}", current))
    points: list[dict[str, Any]] = []
    for label, title, summary_ in scans:
        stored = summary_.get("by_severity")
        counts = {sev: _count(stored.get(sev) if isinstance(stored, dict) else None) for sev in SEVERITIES}
        points.append({"label": label, "title": title, "by_severity": counts, "total": sum(counts.values())})
    severity = []
    for sev in SEVERITIES:
        values: list[float | None] = [p["by_severity"][sev] for p in points]
        severity.append({"label": sev, "values": values, "points": sparkline(values)})
    names = sorted({c["section"] for _, _, sm in scans for c in _sections(sm)})
    sections = []
    for name in names:
        rows = [{c["section"]: c for c in _sections(sm)}.get(name) for _, _, sm in scans]
        percent: list[float | None] = [None if r is None else _number(r.get("compliance_percent")) for r in rows]
        failed = [None if r is None or not isinstance(r.get("failed"), int) else _count(r.get("failed")) for r in rows]
        sections.append({"section": name, "values": percent, "failed": failed, "points": sparkline(percent, 100.0)})
    return {"points": points, "severity": severity, "sections": sections,
            "max_total": max((p["total"] for p in points), default=0) or 1}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _sections(summary_: dict[str, Any]) -> list[dict[str, Any]]:
    """A stored summary's compliance rows that name a section (a store written by hand may hold anything)."""
    rows = summary_.get("compliance")
    return [r for r in rows if isinstance(r, dict) and isinstance(r.get("section"), str)] \
        if isinstance(rows, list) else []
