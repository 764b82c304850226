"""The supply-chain sample in examples/supply works as its README says."""

from __future__ import annotations

import json

from kubeharden.cli import main

from test_catalogue import ROOT

SUPPLY = ROOT / "examples" / "supply"


def test_the_sample_dockerfile_shows_each_build_problem(capsys):
    assert main(["scan", "--no-config", "-f", "json", str(SUPPLY)]) == 1
    ids = {f["control_id"] for f in json.loads(capsys.readouterr().out)["findings"]}
    assert {"KH-IMG-005", "KH-IMG-006", "KH-IMG-008", "KH-IMG-009"} <= ids


def test_the_sample_report_is_joined_to_the_insecure_worker(capsys):
    assert main(["scan", "--no-config", "-f", "json", "--control", "KH-IMG-011", str(ROOT / "examples" / "insecure"),
                 "--vuln-report", str(SUPPLY / "trivy-worker.json")]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    worker = [f for f in findings if f["resource"]["name"] == "worker"]
    assert len(worker) == 1 and worker[0]["severity"] == "critical" and "EXAMPLE-0001" in worker[0]["message"]
