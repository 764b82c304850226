"""Formats of the history store's answers: the list of scans, trends per guide section, a diff."""

from __future__ import annotations

from typing import IO

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text


from kubeharden.model.history import Diff, ScanInfo
from kubeharden.report import plain
from kubeharden.report.table import FILE_WIDTH, STYLE


def write_scans_json(scans: list[ScanInfo], out: IO[str]) -> None:
    """``[{id, created_at, inputs, input, profile, tool_version, objects, findings, baseline_known, by_severity,
    compliance}]``; ``created_at`` is ISO 8601 with its offset (UTC)."""
    out.write(orjson.dumps([s.to_dict() for s in scans], option=orjson.OPT_INDENT_2).decode() + "\n")


def write_scans_table(scans: list[ScanInfo], out: IO[str], trend: bool = False) -> None:
    """Newest first: one row per scan with its counts; ``trend`` adds compliance per guide section."""
    with plain.console(out, FILE_WIDTH) as console:
        _scans_table(scans, console, trend)


def _scans_table(scans: list[ScanInfo], console: Console, trend: bool) -> None:
    if not scans:
        console.print("no scans stored yet (kubeharden scan PATH --store stores one)")
        return
    table = Table(title="Stored scans, newest first", title_justify="left")
    for name, justify in (("id", "right"), ("stored (UTC)", "left"), ("inputs", "left"), ("profile", "left"),
                          ("objects", "right"), ("critical", "right"), ("high", "right"), ("medium", "right"),
                          ("low", "right"), ("info", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    known = any(s.baseline_known for s in scans)
    if known:
        table.add_column("known to a baseline", justify="right")
    for s in scans:
        sev = s.summary.get("by_severity", {})
        table.add_row(str(s.id), s.created_at.strftime("%Y-%m-%d %H:%M:%SZ"), s.inputs, s.profile, str(s.objects),
                      *(str(sev.get(label, 0)) for label in ("critical", "high", "medium", "low", "info")),
                      *((str(s.baseline_known),) if known else ()))
    plain.print_table(console, table)
    if known:
        console.print("counts are those of the full scan; \"known to a baseline\": findings a --baseline held "
                      "when it ran, not reported then")
    if not trend:
        return
    sections = sorted({c["section"] for s in scans for c in s.summary.get("compliance", [])})
    trends = Table(title="Compliance per guide section (share of checks passed), oldest to newest",
                   title_justify="left")
    trends.add_column("section")
    for s in reversed(scans):
        trends.add_column(f"#{s.id}", justify="right")
    for section in sections:
        row = []
        for s in reversed(scans):
            pct = {c["section"]: c["compliance_percent"] for c in s.summary.get("compliance", [])}.get(section)
            row.append("n/a" if pct is None else f"{pct:.1f}%")
        trends.add_row(section, *row)
    plain.print_table(console, trends)


def write_diff_json(diff: Diff, before: str, after: str, out: IO[str]) -> None:
    """``{"before", "after", "counts": {new, fixed, still_open}, "new", "fixed", "still_open"}`` (lists of findings)."""
    body = {"before": before, "after": after, **diff.to_dict()}
    out.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")


def write_diff_table(diff: Diff, before: str, after: str, out: IO[str], still_open: bool = False) -> None:
    """New findings first, then fixed ones; still-open ones only counted unless ``still_open``."""
    with plain.console(out, FILE_WIDTH) as console:
        _diff_table(diff, before, after, console, still_open)


def _diff_table(diff: Diff, before: str, after: str, console: Console, still_open: bool) -> None:
    d = diff.to_dict()["counts"]
    console.print(Text(f"{after} against {before}: {d['new']} new, {d['fixed']} fixed, {d['still_open']} still open"
                       + (f", {d['accepted']} accepted (now suppressed)" if d["accepted"] else "")
                       + (f", {d['reopened']} reopened (no longer suppressed)" if d["reopened"] else ""),
                       style="bold"))
    groups = [("new", diff.new), ("fixed", diff.fixed), ("reopened", diff.reopened), ("accepted", diff.accepted)]
    if still_open:
        groups.append(("still open", diff.still_open))
    for title, found in groups:
        if not found:
            continue
        table = Table(title=title, title_justify="left")
        for name in ("severity", "control", "resource", "container", "where", "message"):
            table.add_column(name, overflow="fold")
        for f in found:
            style = STYLE[f.level] if f.level is not None else ""
            where = f"{f.file}:{f.line}" if f.file and f.line else (f.file or "")
            table.add_row(Text(f.severity, style=style), f.control_id, f.resource, f.container_id or "", where,
                          f.message)
        plain.print_table(console, table)

