"""The Prometheus text format: a scan's totals as gauges, for node_exporter's textfile collector.

Written in the text exposition format (https://prometheus.io/docs/instrumenting/exposition_formats/),
one sample per line, so that ``--collector.textfile.directory`` (or any scraper of ``.prom`` files)
exposes the last scan of each cluster. Counts only: findings themselves stay in the JSON and SARIF
reports. Label values are escaped as the format requires (backslash, double quote, line feed).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from typing import IO

from kubeharden.engine import ScanResult
from kubeharden.findings import Finding, Severity

PREFIX = "kubeharden_"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _metric(out: IO[str], name: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]) -> None:
    out.write(f"# HELP {PREFIX}{name} {help_text}\n# TYPE {PREFIX}{name} gauge\n")
    for labels, value in samples:
        text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        number = str(int(value)) if float(value).is_integer() else repr(float(value))
        out.write(f"{PREFIX}{name}{{{text}}} {number}\n" if text else f"{PREFIX}{name} {number}\n")


def write(findings: Iterable[Finding], result: ScanResult, out: IO[str], now: float | None = None) -> None:
    """Write the gauges of one scan; ``now`` (seconds since the epoch) defaults to the current time."""
    by_control: Counter[tuple[str, str]] = Counter()
    for f in findings:
        if f.status == "fail":
            by_control[(f.control.id, f.severity.label)] += 1
    _metric(out, "findings", "Findings of the last scan that are not suppressed, by severity.",
            (({"severity": s.label}, result.findings_by_severity.get(s.label, 0))
             for s in sorted(Severity, reverse=True)))
    _metric(out, "control_findings", "Findings of the last scan that are not suppressed, by control.",
            (({"control": c, "severity": s}, n) for (c, s), n in sorted(by_control.items())))
    _metric(out, "suppressed_findings", "Findings suppressed by an annotation or an exception.",
            [({}, result.suppressed)])
    statuses = Counter(result.control_status().values())
    _metric(out, "controls", "Selected controls by outcome (pass, fail, not-applicable, not-assessable …).",
            (({"status": s}, n) for s, n in sorted(statuses.items())))
    _metric(out, "objects", "Kubernetes objects checked, by kind.",
            (({"kind": k}, n) for k, n in sorted(result.kinds.items())))
    levels = Counter(p.level for p in result.problems)
    _metric(out, "input_problems", "Input problems (errors mean some input was not checked), by level.",
            (({"level": lv}, levels.get(lv, 0)) for lv in ("error", "warning", "note")))
    _metric(out, "last_scan_timestamp_seconds", "When the scan finished (Unix time).",
            [({}, round(time.time() if now is None else now))])
