"""Issue #11: the API server version of a live scan, not-assessable kinds kept by snapshots, failures kept on
incomplete input, ClusterInfo cluster-scoped, the snapshot header not counted (HTTPS test double)."""

from __future__ import annotations

import gzip
import json

from kubeharden.model.findings import UNLISTED
from kubeharden.model.kinds import is_namespaced
from tests.clusterdouble import VERSION
from tests.test_cluster import run, start


def _scan(capsys, *argv: str) -> dict:
    code, out, err = run(capsys, "scan", "--no-config", "-f", "json", "--fail-on", "none", *argv)
    assert out, err
    return json.loads(out)


def _snapshot(capsys, kubeconfig: str, path, *extra: str) -> dict:
    code, out, err = run(capsys, "snapshot", "--no-config", "--cluster", "--kubeconfig", kubeconfig, "-o",
                         str(path), *extra) if False else run(capsys, "snapshot", "--cluster", "--kubeconfig",
                                                             kubeconfig, "-o", str(path), *extra)
    assert code == 0, err
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    head = json.loads(lines[0] + "]}")
    head.update(json.loads('{"items":[' + lines[-1]))
    return head


def _upg(report: dict) -> list[tuple[str, str]]:
    return sorted((f["control_id"], f["resource"]["kind"]) for f in report["findings"]
                  if f["control_id"] in ("KH-UPG-001", "KH-UPG-003") and f["status"] == "fail")


def test_a_live_scan_judges_the_api_server_version(tmp_path, capsys):
    double = start(tmp_path, version={**VERSION, "minor": "27", "gitVersion": "v1.27.2"})
    try:
        live = _scan(capsys, "--cluster", "--kubeconfig", double.kubeconfig)
        assert ("KH-UPG-001", "ClusterInfo") in _upg(live) and ("KH-UPG-003", "ClusterInfo") in _upg(live)
        head = _snapshot(capsys, double.kubeconfig, tmp_path / "snap.json.gz")
    finally:
        double.stop()
    # the header has the context, the version and the name from the ClusterInfo
    assert head["cluster"]["version"]["gitVersion"] == "v1.27.2"
    assert head["cluster"]["context"] and head["metadata"]["name"] == head["cluster"]["context"]
    # offline, the API server is judged once (the ClusterInfo's version; the header's is not judged again)
    offline = _scan(capsys, str(tmp_path / "snap.json.gz"))
    assert _upg(offline) == _upg(live)


def test_a_snapshot_keeps_what_the_cluster_refused(tmp_path, capsys):
    double = start(tmp_path, forbidden={"pods", "secrets"})
    try:
        live = _scan(capsys, "--cluster", "--kubeconfig", double.kubeconfig)
        head = _snapshot(capsys, double.kubeconfig, tmp_path / "snap.json.gz")
    finally:
        double.stop()
    assert {e["kind"] for e in head["cluster"]["unlisted"]} == {"Pod", "Secret"}
    offline = _scan(capsys, str(tmp_path / "snap.json.gz"))

    def unable(report):  # the controls not assessable for want of a kind (not for want of a Dockerfile)
        return {c["control_id"] for c in report["summary"]["not_assessable"]
                if {"cluster", "manifest"} <= set(c["inputs"])}

    assert unable(live) and unable(offline) == unable(live)
    assert any(c.startswith("KH-SEC") for c in unable(offline)) or "KH-POD-004" in unable(offline)
    status = offline["summary"]["control_status"]
    assert all(status[c] == "not-assessable" for c in unable(live))
    warnings = [p for p in offline["errors"] + offline["notes"] if p["kind"] == UNLISTED]
    assert {p["resource"]["kind"] for p in warnings} == {"Pod", "Secret"}
    # saved again, the snapshot still records the refusals
    code, _, err = run(capsys, "snapshot", str(tmp_path / "snap.json.gz"), "-o", str(tmp_path / "again.json.gz"))
    again = _scan(capsys, str(tmp_path / "again.json.gz"))
    assert unable(again) == unable(live)


def test_a_refused_workload_kind_keeps_the_failures_found(tmp_path, capsys):
    double = start(tmp_path, forbidden={"cronjobs"})
    try:
        report = _scan(capsys, "--cluster", "--kubeconfig", double.kubeconfig)
    finally:
        double.stop()
    status = report["summary"]["control_status"]
    failed = {f["control_id"] for f in report["findings"] if f["status"] == "fail"}
    assert "KH-POD-001" in failed and status["KH-POD-001"] == "fail"
    unable = {c["control_id"] for c in report["summary"]["not_assessable"]}
    assert not unable & failed  # a control with a failure is never reported as not assessable
    assert unable and all(status[c] == "not-assessable" for c in unable)
    notes = [p for p in report["errors"] + report["notes"] if p["kind"] == "incomplete"]
    assert any(p["message"].startswith("KH-POD-001:") and "CronJob" in p["message"] for p in notes)


def test_clusterinfo_is_cluster_scoped_and_the_header_is_not_counted(tmp_path, capsys):
    assert not is_namespaced("ClusterInfo")
    double = start(tmp_path)
    try:
        _snapshot(capsys, double.kubeconfig, tmp_path / "snap.json.gz")
    finally:
        double.stop()
    lines = gzip.decompress((tmp_path / "snap.json.gz").read_bytes()).decode().splitlines()
    info = next(json.loads(line.rstrip(",")) for line in lines[1:-1] if '"kind":"ClusterInfo"' in line)
    assert "namespace" not in info["metadata"]
    report = _scan(capsys, str(tmp_path / "snap.json.gz"))
    assert "Snapshot" not in report["summary"]["kinds"]
    # a snapshot scanned against itself shows no change
    code, out, err = run(capsys, "diff", str(tmp_path / "snap.json.gz"), str(tmp_path / "snap.json.gz"))
    assert "ClusterInfo" not in out


# -- KH-CLU-001 without Nodes; KH-CLU-002 and failurePolicy, subresources ---------------------------------

_INFO = {"apiVersion": "kubeharden.io/v1", "kind": "ClusterInfo", "metadata": {"name": "c"},
         "cluster": {"version": {"gitVersion": "v1.31.0"}}}


def test_version_skew_without_nodes_is_not_applicable():
    from tests.conftest import scan

    findings, result = scan(json.dumps(_INFO), only=["KH-CLU-001"])
    assert not findings
    assert result.control_status()["KH-CLU-001"] == "not-applicable"


def _hook(rules, **extra) -> dict:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "policy"}, "webhooks": [{"name": "p.example.com", "rules": rules,
                                                          "admissionReviewVersions": ["v1"], "sideEffects": "None",
                                                          "clientConfig": {"url": "https://policy.example.com"},
                                                          **extra}]}


POD_CREATE = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}]


def test_a_webhook_that_fails_open_does_not_enforce():
    from tests.conftest import scan

    for extra, enforced in (({"failurePolicy": "Ignore"}, False), ({"failurePolicy": "Fail"}, True), ({}, True)):
        findings, _ = scan(json.dumps(_INFO) + "\n---\n" + json.dumps(_hook(POD_CREATE, **extra)),
                           only=["KH-CLU-002"])
        assert bool(findings) is not enforced, extra


def test_a_rule_on_a_subresource_does_not_cover_pod_creation():
    from kubeharden.checks.admission import _rules_cover_pods
    from kubeharden.checks.cluster import _covers_pods

    for resources, covers in ((["pods/binding"], False), (["*/scale"], False), (["pods/*"], False),
                              (["deployments/scale"], False), (["pods"], True), (["*"], True), (["*/*"], True),
                              (["deployments"], True)):
        rule = {"apiGroups": ["*"], "operations": ["CREATE"], "resources": resources}
        assert _rules_cover_pods([rule]) is covers, resources
        if resources != ["deployments"]:
            assert _covers_pods(rule) is covers, resources
