#!/usr/bin/env python3
"""Benchmark scanning a Helm chart (rendered and traced by kubeharden) against scanning its pre-rendered output.

Prints numbers; it is never part of the test run. The chart (default: the corpus's
microservices-demo chart) is first rendered once by kubeharden's own Helm source into one YAML
file, the "pre-rendered output" (what ``helm template`` would pipe in). Then both are scanned in a
fresh subprocess (``python -m kubeharden scan PATH -f json -o FILE --fail-on none --no-config
--jobs 1``), ``--repeat`` times; the best wall time counts (the machine is shared). The ratio
chart/pre-rendered is the cost of rendering and tracing; the target (issue #13) is at most 2×.
Objects and findings are read from each report, so rows that checked different things show it.

Usage: ``python benchmarks/helm_bench.py [--chart DIR] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

# run as a script, this folder is on sys.path
from scan_bench import kubeharden_env

DEFAULT_CHART = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "microservices-demo" / "helm-chart"


def prerender(chart: Path, out: Path) -> int:
    """Write the chart's objects, rendered by kubeharden's Helm source, to ``out``; their count."""
    from kubeharden.model.objects import K8sObject
    from kubeharden.sources.files import ReadOptions
    from kubeharden.sources.helm import read

    docs = [obj.raw for obj in read(str(chart), ReadOptions()) if isinstance(obj, K8sObject)]
    out.write_text(yaml.safe_dump_all([json.loads(json.dumps(d)) for d in docs], sort_keys=False))
    return len(docs)


def run(path: Path, report: Path, repeat: int) -> tuple[float, int, int]:
    """Best wall time of ``repeat`` scans, and the objects and findings of the report."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kubeharden", "scan", str(path), "-f", "json", "-o", str(report),
                        "--fail-on", "none", "--no-config", "--jobs", "1"], check=True, env=kubeharden_env())
        best = min(best, time.perf_counter() - start)
    data = json.loads(report.read_text())
    return best, data["summary"]["objects"], len(data["findings"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chart", type=Path, default=DEFAULT_CHART)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rendered = Path(tmp) / "rendered.yaml"
        count = prerender(args.chart, rendered)
        report = Path(tmp) / "report.json"
        pre = run(rendered, report, args.repeat)
        chart = run(args.chart, report, args.repeat)
    print(f"chart {args.chart} ({count} objects), best of {args.repeat}, one process")
    print(f"{'input':<14}{'seconds':>9}{'objects':>9}{'findings':>10}")
    for name, (seconds, objects, findings) in (("pre-rendered", pre), ("chart", chart)):
        print(f"{name:<14}{seconds:>9.3f}{objects:>9}{findings:>10}")
    print(f"ratio chart/pre-rendered: {chart[0] / pre[0]:.2f}x (target <= 2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
