"""``kubeharden guide``: every requirement ID, what implements it or why not, docs/guide.md, report links."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from kubeharden.cli import main
from kubeharden.model.guide import GAP_KINDS, REQUIREMENTS, requirement_url
from kubeharden.report.guide import write_markdown
from kubeharden.report.guide_map import IMPLEMENTED, guide_map
from tests.test_reports import render

ROOT = Path(__file__).resolve().parents[1]
SPEC_ID = re.compile(r"^(NSA-(POD|NET|AUTH|RBAC|LOG|UPG)|DET)-\d+$")


def test_docs_guide_md_is_current():
    out = io.StringIO()
    write_markdown(guide_map(), out)
    current = (ROOT / "docs" / "guide.md").read_text(encoding="utf-8")
    assert current == out.getvalue(), "docs/guide.md is stale: kubeharden guide --format markdown -o docs/guide.md"


def test_every_requirement_is_implemented_or_says_why_not():
    entries = guide_map()
    assert [e.requirement.id for e in entries] == list(REQUIREMENTS)
    for e in entries:
        r = e.requirement
        assert SPEC_ID.match(r.id) and r.section and r.title and len(r.text) > len(r.title)
        if e.status not in IMPLEMENTED:
            assert e.status in GAP_KINDS and e.reason, f"{r.id} is neither implemented nor explained"
        if r.gap:
            assert r.gap in GAP_KINDS and r.reason


def test_guide_page_has_one_anchor_per_requirement():
    page = (ROOT / "docs" / "guide.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (\S+)$", page, flags=re.M)
    assert headings == list(REQUIREMENTS)
    assert requirement_url("NSA-POD-9").endswith("docs/guide.md#nsa-pod-9")


def test_guide_command_json_names_controls_and_audit_rules(capsys):
    assert main(["guide", "-f", "json", "nsa-pod-9", "NSA-NET-14"]) == 0
    data = {e["id"]: e for e in json.loads(capsys.readouterr().out)}
    assert set(data) == {"NSA-POD-9", "NSA-NET-14"}
    pod9 = data["NSA-POD-9"]
    assert pod9["status"] == "checked in manifests" and pod9["reason"] is None
    assert "KH-POD-004" in [c["id"] for c in pod9["controls"]]
    assert "KH-AUDIT-001" in [r["id"] for r in pod9["audit_rules"]]
    net14 = data["NSA-NET-14"]
    assert net14["status"] in GAP_KINDS and "kubelet" in net14["reason"]
    assert net14["controls"] == [] and net14["audit_rules"] == []


def test_partly_covered_requirement_says_what_is_left(capsys):
    assert main(["guide", "-f", "json", "NSA-LOG-7"]) == 0
    log7 = json.loads(capsys.readouterr().out)[0]
    assert log7["status"] == "detected in audit logs" and log7["controls"] == []
    assert log7["audit_rules"] and "log forwarder" in log7["reason"]
    assert main(["guide", "NSA-LOG-7"]) == 0
    table = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "not checked:" in table and "forwarder" in table


def test_requirement_judged_on_nodes_says_so_and_what_is_left(capsys):
    assert main(["guide", "-f", "json", "NSA-AUTH-4", "NSA-NET-12"]) == 0
    data = {e["id"]: e for e in json.loads(capsys.readouterr().out)}
    auth4, net12 = data["NSA-AUTH-4"], data["NSA-NET-12"]
    assert auth4["status"] == "checked on nodes" and [c["id"] for c in auth4["controls"]] == ["KH-CP-001"]
    assert "KH-AUDIT-061" in [r["id"] for r in auth4["audit_rules"]] and "managed control planes" in auth4["reason"]
    assert net12["status"] == "checked on nodes" and net12["reason"] is None
    assert [c["id"] for c in net12["controls"]] == ["KH-KUBELET-012"]
    # a requirement with a manifest control stays "checked in manifests" even when node controls join it
    assert main(["guide", "-f", "json", "NSA-POD-18"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "checked in manifests"


def test_guide_command_refuses_unknown_ids(capsys):
    assert main(["guide", "NSA-POD-99"]) == 2
    assert "NSA-POD-99" in capsys.readouterr().err


def test_guide_table_lists_every_requirement(capsys):
    assert main(["guide"]) == 0
    out = capsys.readouterr().out
    assert all(i in out for i in REQUIREMENTS)


# -- links from every scan report format ----------------------------------------------------------------------------

POD9 = requirement_url("NSA-POD-9")


def test_json_findings_link_their_requirements():
    data = json.loads(render("json"))
    f = next(f for f in data["findings"] if f["control_id"] == "KH-POD-004")
    assert f["nsa_urls"] == [requirement_url(i) for i in f["nsa"]] and POD9 in f["nsa_urls"]


def test_sarif_rules_link_their_requirements():
    run = json.loads(render("sarif"))["runs"][0]
    rule = next(r for r in run["tool"]["driver"]["rules"] if r["id"] == "KH-POD-004")
    # helpUri is the control's own section of docs/controls.md (issue 10); the guide link stays beside it
    assert rule["helpUri"] == "https://github.com/kubeharden/kubeharden/blob/main/docs/controls.md#kh-pod-004"
    assert rule["properties"]["guideUri"] == POD9
    assert f"[NSA-POD-9]({POD9})" in rule["help"]["markdown"] and POD9 in rule["help"]["text"]


def test_junit_failures_link_their_requirements():
    root = ET.fromstring(render("junit"))
    failure = next(c.find("failure") for c in root.iter("testcase")
                   if c.get("classname") == "KH-POD-004" and c.find("failure") is not None)
    assert POD9 in failure.text


def test_table_points_to_the_guide_page():
    out = render("table")
    assert "guide IDs explained: kubeharden guide ID" in out and "NSA-POD-9" in out


def test_audit_alerts_link_their_requirements(tmp_path, capsys):
    import orjson

    from kubeharden.detect.simulate import make_event

    log = tmp_path / "audit.log"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
           "spec": {"containers": [{"name": "c", "image": "x", "securityContext": {"privileged": True}}]}}
    log.write_bytes(orjson.dumps(make_event("create", "pods", namespace="shop", name="p", body=pod)) + b"\n")
    main(["audit", "scan", str(log), "--rule", "KH-AUDIT-001", "-f", "jsonl", "--fail-on", "none"])
    alert = json.loads(capsys.readouterr().out)
    assert alert["rule"]["reference"] == POD9 and POD9 in alert["kubeharden"]["nsa_urls"]
    main(["audit", "scan", str(log), "--rule", "KH-AUDIT-001", "--fail-on", "none"])
    assert "guide IDs explained: kubeharden guide ID" in capsys.readouterr().out


def test_unwritable_output_is_a_usage_error_not_a_crash(tmp_path, capsys):
    target = str(tmp_path / "missing-dir" / "out.md")
    for argv in (["guide", "-o", target], ["controls", "-o", target], ["audit", "rules", "-o", target],
                 ["audit", "rules", "--check", "-o", target]):
        assert main(argv) == 2, argv
        assert f"cannot write {target}" in capsys.readouterr().err
