"""``--format prometheus``: a scan's totals in the Prometheus text exposition format
(https://prometheus.io/docs/instrumenting/exposition_formats/), for the fleet CronJob's textfile."""

from __future__ import annotations

import io
import re
from pathlib import Path

from kubeharden.engine.evaluator import Evaluator
from kubeharden.report.prometheus import write
from kubeharden.sources.files import parse_text
from tests.test_snapshot import run, scan_json

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = re.compile(r'^kubeharden_[a-z_]+(\{[a-z_]+="(?:[^"\\\n]|\\.)*"(,[a-z_]+="(?:[^"\\\n]|\\.)*")*\})? -?\d+(\.\d+)?$')


def samples(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if not line.startswith("#")}


def test_every_line_is_exposition_format_and_every_metric_is_declared(capsys):
    code, out, _ = run(capsys, "scan", "--no-config", "--fail-on", "none", "-f", "prometheus",
                       str(ROOT / "examples" / "insecure"))
    assert code == 0
    declared: set[str] = set()
    for line in out.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            assert kind == "gauge"
            declared.add(name)
        elif not line.startswith("# HELP "):
            assert SAMPLE.match(line), line
            assert line.split("{")[0].split(" ")[0] in declared, line


def test_the_counts_agree_with_the_json_report(capsys):
    path = str(ROOT / "examples" / "insecure")
    _, report = scan_json(capsys, path)
    _, out, _ = run(capsys, "scan", "--no-config", "--fail-on", "none", "-f", "prometheus", path)
    values = samples(out)
    for severity, count in report["summary"]["by_severity"].items():
        assert sum(v for k, v in values.items() if k.startswith("kubeharden_findings{")
                   and f'severity="{severity}"' in k) == count
    assert sum(v for k, v in values.items() if k.startswith("kubeharden_findings{")) == report["summary"]["findings"]
    assert sum(v for k, v in values.items() if k.startswith("kubeharden_objects{")) == report["summary"]["objects"]
    assert values['kubeharden_controls{status="fail"}'] == sum(
        1 for s in report["summary"]["control_status"].values() if s == "fail")


def test_label_values_are_escaped():
    text = 'apiVersion: example.com/v1\nkind: "Odd\\"Kind\\\\"\nmetadata: {name: x}\n'
    ev = Evaluator()
    out = io.StringIO()
    write(ev.run(o for o in parse_text(text, "t.yaml")), ev.result, out)
    assert 'kubeharden_objects{kind="Odd\\"Kind\\\\"} 1.0' in out.getvalue()
    # no timestamp: node_exporter's textfile collector reports the file's time (node_textfile_mtime_seconds)
    assert "timestamp" not in out.getvalue()
