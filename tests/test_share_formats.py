"""The formats for sharing: markdown (pull-request comments), csv (sheets), prometheus (metrics)."""

from __future__ import annotations

import csv
import io
import json

from prometheus_client.parser import text_string_to_metric_families

from kubeharden.cli import main
from kubeharden.report import markdown

from test_catalogue import ROOT

INSECURE = str(ROOT / "examples" / "insecure")


def _run(fmt, capsys, *paths):
    assert main(["scan", "--no-config", "--fail-on", "none", "-f", fmt, *(paths or (INSECURE,))]) == 0
    return capsys.readouterr().out


def _json(capsys, *paths):
    return json.loads(_run("json", capsys, *paths))


def test_csv_has_one_row_per_finding_with_fixed_columns(capsys):
    report = _json(capsys)
    rows = list(csv.DictReader(io.StringIO(_run("csv", capsys), newline="")))
    unchecked = [r for r in rows if r["status"] in ("not-assessable", "not-applicable", "error")]
    rows = rows[:len(rows) - len(unchecked)]  # what was not checked follows the findings
    assert unchecked and all(r["status"] in ("not-assessable", "not-applicable", "error") for r in unchecked)
    assert len(rows) == len(report["findings"])
    assert [r["fingerprint"] for r in rows] == [f["fingerprint"] for f in report["findings"]]
    first, expected = rows[0], report["findings"][0]
    assert first["control_id"] == expected["control_id"] and first["line"] == str(expected["line"])
    assert first["message"] == expected["message"]  # commas and quotes survive the round trip


def test_markdown_lists_findings_worst_first_and_escapes_cells(capsys, tmp_path):
    out = _run("markdown", capsys)
    rows = [line for line in out.splitlines() if line.startswith("| ") and " KH-" in line]
    order = ["critical", "high", "medium", "low", "info"]
    ranks = [next(order.index(s) for s in order if f" {s} |" in row) for row in rows]
    assert ranks == sorted(ranks) and ranks[0] == 0
    assert len(rows) == _json(capsys)["summary"]["findings"]
    assert markdown.cell("a | b\nc `d`") == "a \\| b<br>c <code>d</code>"


def test_markdown_stays_under_the_comment_limit_and_says_what_it_cut(capsys, monkeypatch):
    monkeypatch.setattr(markdown, "LIMIT", 4000)
    out = _run("markdown", capsys)
    assert len(out) <= 4000
    assert "more finding(s) not shown (the worst of them" in out


def test_prometheus_counts_agree_with_the_json_report(capsys):
    report = _json(capsys)
    families = {f.name: f for f in text_string_to_metric_families(_run("prometheus", capsys))}
    findings = families["kubeharden_findings"]
    assert sum(s.value for s in findings.samples) == report["summary"]["findings"]
    by_control = {}
    for f in report["findings"]:
        if f["status"] == "fail":
            by_control[f["control_id"]] = by_control.get(f["control_id"], 0) + 1
    for sample in findings.samples:
        assert sample.labels["severity"] in ("critical", "high", "medium", "low", "info")
    assert {s.labels["control_id"] for s in findings.samples} == set(by_control)
    assert families["kubeharden_objects_scanned"].samples[0].value == report["summary"]["objects"]
    ratios = {s.labels["section"]: s.value for s in families["kubeharden_compliance_ratio"].samples}
    for row in report["summary"]["compliance"]:
        if row["compliance_percent"] is not None:
            assert abs(ratios[row["section"]] * 100 - row["compliance_percent"]) < 0.1


def test_csv_cells_that_spreadsheets_would_run_as_formulas_stay_text(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / '=HYPERLINK("http-evil").yaml').write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\n"
        "spec: {containers: [{name: c, image: nginx:1.27, securityContext: {privileged: true}}]}\n")
    monkeypatch.chdir(folder)
    main(["scan", "--no-config", "--fail-on", "none", "-f", "csv", '=HYPERLINK("http-evil").yaml'])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out, newline="")))
    assert rows and all(not r["file"].startswith("=") for r in rows)
    assert rows[0]["file"].startswith("'=")
