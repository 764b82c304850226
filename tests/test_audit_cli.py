"""`kubeharden audit scan|rules` and `generate audit-webhook-config` from the command line."""

from __future__ import annotations

import json

import orjson
import pytest
import yaml

from kubeharden.cli import main
from kubeharden.detect.simulate import make_event, pod
from kubeharden.exitcodes import FINDINGS, INPUT_ERRORS, OK, USAGE


@pytest.fixture()
def log(tmp_path):
    evs = [make_event("get", "pods", at=0),
           make_event("create", "pods", None, "kube-system", at=5,
                      body=pod(namespace="kube-system", container={"securityContext": {"privileged": True}})),
           make_event("create", "pods", "web", subresource="exec", at=9)]
    p = tmp_path / "audit.log"
    p.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in evs))
    return p


def test_scan_jsonl_is_siem_ready(log, capsys):
    assert main(["audit", "scan", str(log), "-f", "jsonl"]) == FINDINGS
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    ids = {r["rule"]["id"] for r in rows}
    assert {"KH-AUDIT-001", "KH-AUDIT-009", "KH-AUDIT-030"} <= ids
    priv = next(r for r in rows if r["rule"]["id"] == "KH-AUDIT-001")
    assert priv["user"]["name"] == "alice@example.com" and priv["source"]["ip"] == "203.0.113.10"
    assert priv["kubernetes"]["namespace"] == "kube-system"
    assert priv["kubernetes"]["audit"]["objectRef"]["resource"] == "pods"
    assert priv["threat"]["technique"]["id"] == ["T1611", "T1610"]
    assert priv["kubeharden"]["nsa"] and priv["event"]["kind"] == "alert" and priv["@timestamp"].endswith("Z")


def test_scan_json_summary_and_fail_on(log, tmp_path):
    out = tmp_path / "report.json"
    assert main(["audit", "scan", str(log), "-f", "json", "-o", str(out), "--fail-on", "critical"]) == OK
    doc = json.loads(out.read_text())
    assert doc["summary"]["events"] == 3 and doc["summary"]["alerts"] == len(doc["alerts"])
    assert doc["summary"]["by_severity"]["high"] >= 1
    alert = next(a for a in doc["alerts"] if a["rule_id"] == "KH-AUDIT-001")
    for field in ("time", "user", "groups", "source_ips", "user_agent", "verb", "object", "response_code",
                  "audit_ids", "nsa", "mitre", "section"):
        assert field in alert
    assert main(["audit", "scan", str(log), "-f", "json", "-o", str(out), "--fail-on", "high"]) == FINDINGS


def test_scan_table_with_policy_and_input_errors(log, tmp_path, capsys):
    bad = tmp_path / "bad.log"
    bad.write_text("{oops\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Metadata}]\n")
    rc = main(["audit", "scan", str(log), str(bad), "--policy", str(policy), "--fail-on", "none"])
    out = capsys.readouterr()
    assert rc == INPUT_ERRORS
    assert "KH-AUDIT-001" in out.out and "blind" in out.out and f"{bad}:1" in out.err


def test_policy_rules_are_numbered_as_people_count_them(log, tmp_path, capsys):
    policy = tmp_path / "policy.yaml"
    policy.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"
                      "  - {level: None, resources: [{group: '', resources: [secrets]}]}\n"
                      "  - {level: Metadata}\n")
    main(["audit", "scan", str(log), "--policy", str(policy), "--fail-on", "none", "-f", "json"])
    details = [c["detail"] for c in json.loads(capsys.readouterr().out)["coverage"]]
    assert any("(policy rule 2 (rules[1]))" in d for d in details)
    assert not any("rule 1)" in d or "(rule " in d for d in details)
    policy.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - {level: Metadata}\n"
                      "  - {level: Loud}\n")
    assert main(["audit", "scan", str(log), "--policy", str(policy)]) == USAGE
    assert "policy rule 2 (rules[1]): level 'Loud'" in capsys.readouterr().err


def test_scan_usage_errors(log, tmp_path, capsys):
    assert main(["audit", "scan", str(log), "--rule", "KH-NOPE-1"]) == USAGE
    policy = tmp_path / "p.yaml"
    policy.write_text("kind: Policy\napiVersion: audit.k8s.io/v1\nrules: []\n")
    assert main(["audit", "scan", str(log), "--policy", str(policy)]) == USAGE
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - {id: X-1, title: t, severity: extreme, match: {verb: get}}\n")
    assert main(["audit", "scan", str(log), "--rules", str(rules)]) == USAGE
    assert "unknown severity" in capsys.readouterr().err


def test_custom_rules_only(log, tmp_path, capsys):
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: ACME-EXEC-1\n    title: Any exec\n    severity: info\n"
                     "    match: {resource: pods, subresource: exec}\n")
    assert main(["audit", "scan", str(log), "--no-builtin", "--rules", str(rules), "-f", "jsonl",
                 "--fail-on", "low"]) == OK
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["rule"]["id"] for r in rows] == ["ACME-EXEC-1"]


def test_pod_cidr_option(tmp_path, capsys):
    p = tmp_path / "a.log"
    p.write_bytes(orjson.dumps(make_event("create", "pods", user="system:serviceaccount:a:b",
                                          sourceIP="172.20.1.5")) + b"\n")
    main(["audit", "scan", str(p), "-f", "jsonl", "--rule", "KH-AUDIT-012"])
    assert capsys.readouterr().out == ""
    main(["audit", "scan", str(p), "-f", "jsonl", "--rule", "KH-AUDIT-012", "--pod-cidr", "172.20.0.0/16"])
    assert "KH-AUDIT-012" in capsys.readouterr().out


def test_rules_listing_formats(tmp_path, capsys):
    assert main(["audit", "rules", "-f", "json"]) == OK
    rules = json.loads(capsys.readouterr().out)
    assert len(rules) >= 60
    r = next(x for x in rules if x["id"] == "KH-AUDIT-050")
    assert set(r) >= {"id", "title", "severity", "nsa", "mitre", "requires", "mappings"}
    assert set(r["mappings"]) == {"falco", "sigma", "elastic"}
    assert r["requires"]["level"] == "Request"
    md = tmp_path / "audit-rules.md"
    assert main(["audit", "rules", "-f", "markdown", "-o", str(md)]) == OK
    assert "## KH-AUDIT-050" in md.read_text()


def test_rules_check_prints_the_verdict_not_the_table(capsys):
    assert main(["audit", "rules", "--check"]) == OK
    out = capsys.readouterr().out
    assert out.startswith("OK: the examples of all ") and len(out.splitlines()) == 1
    assert "KH-AUDIT-001" not in out


def test_rules_check_reports_broken_examples(tmp_path, capsys):
    f = tmp_path / "r.yaml"
    f.write_text("rules:\n  - id: ACME-2\n    title: t\n    severity: low\n    match: {verb: delete}\n"
                 "    examples:\n      fire: [{verb: get}]\n      quiet: [{verb: delete}]\n")
    f.write_text(f.read_text() + "  - id: ACME-3\n    title: fine\n    severity: low\n    match: {verb: get}\n"
                 "    examples:\n      fire: [{verb: get}]\n      quiet: [{verb: delete}]\n")
    assert main(["audit", "rules", "--no-builtin", "--rules", str(f), "--check"]) == FINDINGS
    out = capsys.readouterr().out
    assert "fire example 1 raised no alert" in out and "quiet example 1 raised 1" in out
    assert out.splitlines()[-1] == "FAILED: 1 of 2 rules have examples that do not behave (ACME-2)"
    assert "ACME-3" not in out


def test_generate_audit_webhook_config(tmp_path, capsys):
    out = tmp_path / "webhook.yaml"
    assert main(["generate", "audit-webhook-config", "--server", "https://audit.internal:8443/audit",
                 "-o", str(out)]) == OK
    cfg = yaml.safe_load(out.read_text())
    assert cfg["kind"] == "Config" and cfg["current-context"] == "kubeharden-audit"
    cluster = cfg["clusters"][0]["cluster"]
    assert cluster["server"] == "https://audit.internal:8443/audit" and cluster["certificate-authority"]
    user = cfg["users"][0]["user"]
    assert user["client-certificate"] and user["client-key"]
    assert main(["generate", "audit-webhook-config", "--server", "http://127.0.0.1:8080"]) == USAGE


def test_generated_rule_docs_are_current(tmp_path):
    from pathlib import Path
    docs = Path(__file__).resolve().parents[1] / "docs" / "audit-rules.md"
    fresh = tmp_path / "audit-rules.md"
    assert main(["audit", "rules", "-f", "markdown", "-o", str(fresh)]) == OK
    assert docs.read_text() == fresh.read_text(), "regenerate: kubeharden audit rules -f markdown -o docs/audit-rules.md"


def test_serve_pipeline_filters_by_severity_and_writes_files(tmp_path):
    from kubeharden.commands.audit import AlertPipeline
    from kubeharden.detect.engine import Detector
    from kubeharden.detect.rules import load_rules
    from kubeharden.model.findings import Severity
    out = tmp_path / "alerts.jsonl"
    pipeline = AlertPipeline(Detector(load_rules()), Severity.HIGH, False, str(out), None)
    evil = make_event("create", "pods", None, "kube-system",
                      body=pod(namespace="kube-system", container={"securityContext": {"privileged": True}}))
    sent = pipeline([make_event("get", "pods"), evil, "not an event"])
    pipeline.close()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sent == len(rows) >= 1
    assert {r["rule"]["id"] for r in rows} == {"KH-AUDIT-001"}  # KH-AUDIT-009 is medium: filtered out
