"""Never read its own output: the report being written (-o, or standard output redirected to a file
inside a scanned folder) is skipped with a note, in every command that reads manifests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kubeharden.cli import main
from kubeharden.commands.own_output import report_files
from kubeharden.exitcodes import FINDINGS, OK
from kubeharden.sources.files import ReadOptions, read_objects

ROOT = Path(__file__).resolve().parents[1]
# https://kubernetes.io/docs/concepts/configuration/configmap/
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: shop}\ndata: {mode: fast}\n"
# https://kubernetes.io/docs/reference/access-authn-authz/rbac/#clusterrolebinding-example
BINDING = """apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ops-admin}
subjects: [{kind: ServiceAccount, name: ops, namespace: tools}]
roleRef: {kind: ClusterRole, name: cluster-admin, apiGroup: rbac.authorization.k8s.io}
"""
#: What a report looks like while it is being written: valid as far as it goes, cut mid-way.
HALF_WRITTEN = '{"schema_version":"1.1","tool":{"name":"kubeharden"},"findings":[\n{"control_id":"KH-POD'


def own_output_notes(report: dict) -> list[dict]:
    return [n for n in report["notes"] if n["kind"] == "own-output"]


def test_the_output_file_inside_the_scanned_folder_is_not_read(tmp_path):
    (tmp_path / "settings.yaml").write_text(CONFIGMAP)
    report = tmp_path / "report.json"
    report.write_text(HALF_WRITTEN)  # the previous run was interrupted
    assert main(["scan", "--no-config", "-f", "json", "-o", str(report), str(tmp_path)]) == OK
    data = json.loads(report.read_text())
    assert data["errors"] == [] and data["summary"]["objects"] == 1
    [note] = own_output_notes(data)
    assert note["file"] == str(report) and "(-o)" in note["message"]
    # the next run over the same folder reads the finished report as before: skipped again
    assert main(["scan", "--no-config", "-f", "json", "-o", str(report), str(tmp_path)]) == OK
    assert len(own_output_notes(json.loads(report.read_text()))) == 1


def test_redirected_standard_output_inside_the_scanned_folder_is_not_read(tmp_path):
    (tmp_path / "settings.yaml").write_text(CONFIGMAP)
    report = tmp_path / "report.json"
    with open(report, "w") as out:  # kubeharden scan DIR -f json > DIR/report.json
        proc = subprocess.run([sys.executable, "-m", "kubeharden", "scan", "--no-config", "-f", "json",
                               str(tmp_path)], stdout=out, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.returncode == OK, proc.stderr
    data = json.loads(report.read_text())
    assert data["errors"] == []
    [note] = own_output_notes(data)
    assert note["file"] == str(report) and "standard output" in note["message"]


def test_the_file_is_recognised_by_identity_not_by_spelling(tmp_path):
    (tmp_path / "sub").mkdir()
    report = tmp_path / "report.yaml"
    report.write_text(CONFIGMAP)  # a report that happens to look like a manifest
    (tmp_path / "sub" / "link.yaml").symlink_to(report)
    spelled = os.path.join(str(tmp_path), "sub", "..", "report.yaml")
    options = ReadOptions(skip_files=report_files(spelled, stdout_fd=-1))
    items = list(read_objects([str(tmp_path)], options))
    assert [(p.kind, p.file) for p in items] == [("own-output", str(report)),
                                                 ("own-output", str(tmp_path / "sub" / "link.yaml"))]


def test_standard_output_counts_only_when_it_is_a_regular_file(tmp_path):
    report = tmp_path / "r.json"
    with open(report, "w") as fh:
        found = report_files(None, stdout_fd=fh.fileno())
    assert found == {(report.stat().st_dev, report.stat().st_ino): "standard output of this run is redirected to it"}
    read_end, write_end = os.pipe()
    try:
        assert report_files(None, stdout_fd=write_end) == {}  # a pipe: nothing on disk to skip
    finally:
        os.close(read_end)
        os.close(write_end)
    assert report_files(str(tmp_path / "not-yet.json"), stdout_fd=-1) == {}  # closed fd, absent -o


def test_rbac_netpol_and_generators_skip_their_output_too(tmp_path, capsys):
    (tmp_path / "binding.yaml").write_text(BINDING)
    (tmp_path / "settings.yaml").write_text(CONFIGMAP)
    for argv in (["rbac", "paths", "-f", "json"], ["rbac", "who-can", "get", "secrets", "-f", "json"],
                 ["netpol", "matrix", "--allow-empty", "-f", "json"], ["generate", "quotas", "-n", "shop"]):
        out = tmp_path / "out.yaml"
        out.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: half")  # a half-written earlier run
        code = main([*argv, "-o", str(out), str(tmp_path)])
        err = capsys.readouterr().err
        assert code in (OK, FINDINGS), (argv, err)
        assert f"note: {out}: this run writes its report to it (-o); not read as input" in err, (argv, err)


def test_audit_scan_does_not_read_the_alerts_it_writes(tmp_path):
    import orjson

    from kubeharden.detect.simulate import make_event

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "audit.log").write_bytes(orjson.dumps(make_event("create", "pods", "web", subresource="exec")) + b"\n")
    alerts = logs / "alerts.jsonl"
    with open(alerts, "w") as out:  # kubeharden audit scan logs/ -f jsonl > logs/alerts.jsonl
        proc = subprocess.run([sys.executable, "-m", "kubeharden", "audit", "scan", "-f", "jsonl", str(logs)],
                              stdout=out, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.returncode == FINDINGS, proc.stderr
    assert f"note: {alerts}: standard output of this run is redirected to it; not read as input" in proc.stderr
    assert "error" not in proc.stderr
    assert [json.loads(line)["rule"]["id"] for line in alerts.read_text().splitlines()] == ["KH-AUDIT-030"]  # exec into a pod


def test_a_kustomize_folder_read_as_plain_files_skips_the_report_written_into_it(tmp_path):
    """--no-render reads a Kustomize folder's files as they are: the report this run writes there is not one."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                                "resources: [binding.yaml]\n")
    (overlay / "binding.yaml").write_text(BINDING)
    report = overlay / "report.yaml"
    report.write_text(BINDING.replace("ops-admin", "stale-copy"))  # what a YAML report would hold: objects
    argv = ["scan", "--no-config", "--no-render", "-f", "json", "--fail-on", "none", "-o", str(report), str(overlay)]
    assert main(argv) == OK
    data = json.loads(report.read_text())
    assert {f["resource"]["name"] for f in data["findings"]} == {"ops-admin"}
    [note] = own_output_notes(data)
    assert note["file"] == str(report) and "(-o)" in note["message"]
