"""``kubeharden rbac``: who-can, can and paths, in every format, from files and stdin."""

from __future__ import annotations

import io
import json

import pytest

from kubeharden.cli import main

from rbac_helpers import binding, deployment, role, rule, sa, scanned_json, service_account, to_yaml, user

OBJECTS = [service_account("operator", "ops"), binding("op", "cluster-admin", [sa("operator", "ops")]),
           role("dev", [rule([""], ["pods"], ["create"]), rule([""], ["secrets"], ["get"], names=["tls"])], ns="ops"),
           binding("dev", "dev", [user("jane")], ns="ops", role_kind="Role")]


@pytest.fixture
def manifests(tmp_path):
    path = tmp_path / "rbac.yaml"
    path.write_text(to_yaml(*OBJECTS))
    return str(path)


def run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_who_can_json_and_table(capsys, manifests):
    code, out = run(capsys, "rbac", "who-can", "create", "pods", "-n", "ops", "-f", "json", manifests)
    assert code == 0
    subjects = {s["subject"]: s for s in scanned_json(json.loads(out)["subjects"])}
    assert set(subjects) == {"user:jane", "serviceaccount:ops:operator"}
    assert subjects["user:jane"]["binding"] == "RoleBinding/ops/dev" and subjects["user:jane"]["role_line"]
    code, out = run(capsys, "rbac", "who-can", "get", "secrets", "-n", "ops", "--name", "tls", manifests)
    assert "user:jane" in out and "[core]" in out  # rule text is not eaten as markup
    code, out = run(capsys, "rbac", "who-can", "get", "secrets", "-n", "ops", "-f", "json", manifests)
    assert [s["subject"] for s in scanned_json(json.loads(out)["subjects"])] == ["serviceaccount:ops:operator"]


def test_who_can_subresource_and_url(capsys, manifests):
    _, out = run(capsys, "rbac", "who-can", "create", "pods/exec", "-n", "ops", "-f", "json", manifests)
    assert [s["subject"] for s in scanned_json(json.loads(out)["subjects"])] == ["serviceaccount:ops:operator"]
    _, out = run(capsys, "rbac", "who-can", "get", "/metrics", "--url", "-f", "json", manifests)
    assert [s["subject"] for s in scanned_json(json.loads(out)["subjects"])] == ["serviceaccount:ops:operator"]


def test_resource_with_api_group(capsys, tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(to_yaml(role("scaler", [rule(["apps"], ["deployments/scale"], ["update"])], ns="web"),
                            binding("s", "scaler", [user("bob")], ns="web", role_kind="Role")))
    _, out = run(capsys, "rbac", "who-can", "update", "deployments.apps/scale", "-n", "web", "-f", "json", str(path))
    assert [s["subject"] for s in scanned_json(json.loads(out)["subjects"])] == ["user:bob"]
    _, out = run(capsys, "rbac", "who-can", "update", "deployments", "--subresource", "scale", "-n", "web", "-f",
                 "json", str(path))
    # kubectl resolves "deployments" to apps/deployments, and so does who-can
    assert [s["subject"] for s in scanned_json(json.loads(out)["subjects"])] == ["user:bob"]


def test_paths_from_a_workload(capsys, tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text(to_yaml(*OBJECTS, deployment("op", "ops", "operator")))
    _, out = run(capsys, "rbac", "paths", "--from", "workload:Deployment/ops/op", "--to", "cluster-admin", "-f",
                 "json", str(path))
    [found] = json.loads(out)["paths"]
    assert [s["to"] for s in found["steps"]] == ["serviceaccount:ops:operator", "goal:cluster-admin"]


def test_can_lists_rules(capsys, manifests):
    code, out = run(capsys, "rbac", "can", "user:jane", "-f", "json", manifests)
    data = json.loads(out)
    assert data["groups"] == ["system:authenticated"]
    assert {r["rule"] for r in scanned_json(data["rules"])} == {"create pods [core]", "get secrets [core] names=tls"}
    code, out = run(capsys, "rbac", "can", "user:jane", manifests)
    assert "names" in out and "tls" in out
    assert main(["rbac", "can", "nobody", manifests]) == 2


def test_paths_in_every_format(capsys, manifests):
    _, out = run(capsys, "rbac", "paths", "--to", "cluster-admin", "-f", "json", manifests)
    paths = json.loads(out)["paths"]
    assert [(p["from"], p["length"]) for p in paths] == [("serviceaccount:ops:operator", 1), ("user:jane", 2)]
    assert paths[1]["steps"][0]["grants"][0]["binding"] == "RoleBinding/ops/dev"
    _, out = run(capsys, "rbac", "paths", "--from", "user:jane", manifests)
    assert "can create pods" in out and "cluster-admin" in out
    _, out = run(capsys, "rbac", "paths", "-f", "dot", manifests)
    assert out.startswith("digraph") and '"user:jane" -> "any-sa@ops"' in out
    _, out = run(capsys, "rbac", "paths", "-f", "mermaid", manifests)
    assert out.startswith("flowchart LR") and "-->|" in out


def test_stdin_and_bad_input(capsys, monkeypatch):
    data = (to_yaml(*OBJECTS) + "---\nkind: [broken\n").encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out = run(capsys, "rbac", "who-can", "create", "pods", "-n", "ops", "-f", "json", "-")
    assert code == 3  # the rest is answered, the broken document is reported
    assert len(scanned_json(json.loads(out)["subjects"])) == 2


def test_findings_appear_in_a_normal_scan(capsys, manifests):
    code, out = run(capsys, "scan", "--no-config", "-f", "json", manifests)
    ids = {f["control_id"] for f in json.loads(out)["findings"]}
    assert {"KH-RBAC-001", "KH-RBAC-005", "KH-RBAC-021"} <= ids
