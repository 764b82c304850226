"""Reporters: the JSON contract, SARIF against the official schema, JUnit, the table, atomic output."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from kubeharden.report import get_reporter
from kubeharden.report.output import atomic_text

SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "sarif-schema-2.1.0.json").read_text())

MIXED = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  annotations:
    kubeharden.io/suppress.KH-POD-006: "load balancer health checks need it"
spec:
  template:
    spec:
      hostNetwork: true
      containers:
        - name: web
          image: nginx:latest
          securityContext: {privileged: true}
---
broken: [yaml
"""


def render(fmt: str, text: str = MIXED) -> str:
    import textwrap

    from kubeharden.config import Config
    from kubeharden.engine.evaluator import Evaluator
    from kubeharden.sources.files import parse_text

    evaluator = Evaluator(Config())
    out = io.StringIO()
    get_reporter(fmt)(evaluator.run(parse_text(textwrap.dedent(text), "deploy/web.yaml")), evaluator.result, out)
    return out.getvalue()


def test_json_contract():
    data = json.loads(render("json"))
    assert data["schema_version"] == "1.5"
    assert data["summary"]["config"] is None  # Config(): the built-in defaults
    assert data["tool"]["name"] == "kubeharden" and data["tool"]["version"]
    for key in ("summary", "findings", "errors", "notes", "pss", "exceptions"):
        assert key in data
    f = next(f for f in data["findings"] if f["control_id"] == "KH-POD-004")
    for key in ("control_id", "title", "severity", "status", "resource", "container", "file", "line", "message",
                "remediation", "nsa", "mappings"):
        assert key in f
    assert f["resource"] == {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"}
    assert (f["container"], f["file"], f["line"], f["severity"], f["nsa"]) == (
        "web", "deploy/web.yaml", 16, "critical", ["NSA-POD-9"])
    suppressed = next(f for f in data["findings"] if f["control_id"] == "KH-POD-006")
    assert suppressed["status"] == "suppressed" and suppressed["suppression"]["reason"].startswith("load balancer")
    assert data["errors"][0]["file"] == "deploy/web.yaml" and data["errors"][0]["line"] == 18
    assert data["summary"]["suppressed"] == 1 and data["summary"]["errors"] == 1
    assert data["summary"]["by_severity"]["critical"] == 1
    assert data["pss"][0]["level"] == "privileged"
    sections = {row["section"]: row for row in data["summary"]["compliance"]}
    assert sections["Pod security"]["failed"] >= 1 and 0 <= sections["Pod security"]["compliance_percent"] < 100


def test_sarif_is_valid_and_complete():
    log = json.loads(render("sarif"))
    jsonschema.validate(log, SCHEMA)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} >= {"KH-POD-004", "KH-POD-006"}
    result = next(r for r in run["results"] if r["ruleId"] == "KH-POD-004")
    assert rules[result["ruleIndex"]]["id"] == "KH-POD-004"
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "deploy/web.yaml" and loc["region"]["startLine"] == 16
    assert result["level"] == "error"
    suppressed = next(r for r in run["results"] if r["ruleId"] == "KH-POD-006")
    assert suppressed["suppressions"][0]["kind"] == "inSource"
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert notes and notes[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 18


def test_junit_counts():
    root = ET.fromstring(render("junit"))
    suites = {s.get("name").split()[0]: s for s in root.iter("testsuite")}
    assert suites["KH-POD-004"].get("failures") == "1"
    assert suites["KH-POD-006"].get("skipped") == "1"
    assert suites["inputs"].get("errors") == "1"
    assert int(root.get("failures")) == sum(int(s.get("failures")) for s in root.iter("testsuite"))


def test_table_groups_by_resource_and_shows_compliance():
    text = render("table")
    assert "Deployment/shop/web" in text and "KH-POD-004" in text
    assert "Compliance with the NSA/CISA guide" in text and "Pod security" in text
    assert "deploy/web.yaml:18" in text  # the input error, with its place


def test_atomic_output_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_text(target) as fh:
            fh.write("partial")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
    with atomic_text(target) as fh:
        fh.write("new")
    assert target.read_text() == "new"
