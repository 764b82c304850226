"""The Prometheus report: the scan's counts in the text exposition format, for a textfile collector.

Written with the official ``prometheus_client`` library (a custom collector, rendered by
``generate_latest``). Meant for the in-cluster scan CronJob: write it with ``-o`` into the folder
that node_exporter's textfile collector reads (its ``node_textfile_mtime_seconds`` tells when the
scan last ran, so no timestamp is written here and the output of one scan is always the same).

Metrics (gauges): ``kubeharden_findings{control_id,severity,namespace}`` (failing findings),
``kubeharden_findings_suppressed{control_id}``, ``kubeharden_objects_scanned``, ``kubeharden_objects{kind}``,
``kubeharden_controls{status}`` (fail, pass, suppressed, not-applicable, not-assessable, error),
``kubeharden_compliance_ratio{section}`` (share of checks passed, 0–1; sections where nothing was
checked are left out), ``kubeharden_workloads{pss_level}``, ``kubeharden_input_problems{level}``
and ``kubeharden_controls_not_assessable``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import IO

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kubeharden.model.findings import STATUSES, Finding
from kubeharden.model.results import ScanResult
from kubeharden.report.summary import compliance


class _ScanCollector(Collector):
    def __init__(self, failing: Counter[tuple[str, str, str]], suppressed: Counter[str], result: ScanResult) -> None:
        self.failing, self.suppressed, self.result = failing, suppressed, result

    def collect(self) -> Iterator[GaugeMetricFamily]:
        findings = GaugeMetricFamily("kubeharden_findings", "Failing findings of the last scan",
                                     labels=["control_id", "severity", "namespace"])
        for (control, severity, namespace), count in sorted(self.failing.items()):
            findings.add_metric([control, severity, namespace], count)
        yield findings
        suppressed = GaugeMetricFamily("kubeharden_findings_suppressed",
                                       "Findings accepted by an annotation or exception", labels=["control_id"])
        for control, count in sorted(self.suppressed.items()):
            suppressed.add_metric([control], count)
        yield suppressed
        yield GaugeMetricFamily("kubeharden_objects_scanned", "Kubernetes objects read", value=self.result.objects)
        objects = GaugeMetricFamily("kubeharden_objects", "Objects read per kind", labels=["kind"])
        for kind, count in sorted(self.result.kinds.items()):
            objects.add_metric([kind], count)
        yield objects
        controls = GaugeMetricFamily("kubeharden_controls", "Selected controls by their outcome in this scan",
                                     labels=["status"])
        outcome = Counter(self.result.control_status().values())
        for status in STATUSES:
            controls.add_metric([status], outcome.get(status, 0))
        yield controls
        ratio = GaugeMetricFamily("kubeharden_compliance_ratio",
                                  "Share of checks passed per section of the NSA/CISA guide", labels=["section"])
        for row in compliance(self.result):
            if row["compliance_percent"] is not None:
                ratio.add_metric([row["section"]], round((row["evaluated"] - row["failed"]) / row["evaluated"], 4))
        yield ratio
        levels = Counter(p.level for p in self.result.pss)
        workloads = GaugeMetricFamily("kubeharden_workloads", "Workloads per Pod Security Standards level",
                                      labels=["pss_level"])
        for level in ("restricted", "baseline", "privileged", "invalid"):
            workloads.add_metric([level], levels.get(level, 0))
        yield workloads
        problems = GaugeMetricFamily("kubeharden_input_problems", "Input problems by level", labels=["level"])
        by_level = Counter(p.level for p in self.result.problems)
        for level in ("error", "warning", "note"):
            problems.add_metric([level], by_level.get(level, 0))
        yield problems
        yield GaugeMetricFamily("kubeharden_controls_not_assessable",
                                "Selected controls the input could not show (neither passed nor failed)",
                                value=len(self.result.not_assessable))


def write(findings: Iterable[Finding], result: ScanResult, out: IO[str]) -> None:
    failing: Counter[tuple[str, str, str]] = Counter()
    suppressed: Counter[str] = Counter()
    for f in findings:
        if f.status == "fail":
            failing[(f.control.id, f.severity.label, f.resource.namespace or "")] += 1
        elif f.status == "suppressed":
            suppressed[f.control.id] += 1
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ScanCollector(failing, suppressed, result))
    out.write(generate_latest(registry).decode("utf-8"))
