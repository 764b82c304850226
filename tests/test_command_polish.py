"""Small things every command does as a kubectl user expects: resource names, unknown subjects, the plugin name."""

from __future__ import annotations

import json

import pytest

from kubeharden.cli import main
from kubeharden.model.apiresources import resolve_resource

RBAC = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: shop}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get]}
- {apiGroups: [apps], resources: [deployments], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: api, namespace: shop}]
"""


@pytest.fixture
def rbac(tmp_path):
    path = tmp_path / "rbac.yaml"
    path.write_text(RBAC)
    return str(path)


def _who_can(capsys, rbac, verb, resource):
    code = main(["rbac", "who-can", verb, resource, "-n", "shop", "-f", "json", rbac])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out else None), captured.err


@pytest.mark.parametrize("typed, plural", [("secret", "secrets"), ("Secret", "secrets"), ("deploy", "deployments"),
                                           ("deployment", "deployments"), ("deployments.apps", "deployments")])
def test_who_can_reads_singular_kind_and_short_names_as_kubectl_does(capsys, rbac, typed, plural):
    code, answer, _ = _who_can(capsys, rbac, "get", typed)
    _, expected, _ = _who_can(capsys, rbac, "get", plural)
    assert code == 0 and answer["subjects"] == expected["subjects"]
    assert "serviceaccount:shop:api" in {s["subject"] for s in answer["subjects"]}


def test_who_can_refuses_a_name_no_resource_has_with_a_suggestion(capsys, rbac):
    code, answer, err = _who_can(capsys, rbac, "get", "secrts")
    assert code == 2 and answer is None and "did you mean secrets" in err
    code, _, err = _who_can(capsys, rbac, "get", "secrets.apps")
    assert code == 2 and "secrets is in the core API group" in err
    code, answer, _ = _who_can(capsys, rbac, "get", "widgets.example.com")  # a custom resource: as written
    assert code == 0 and answer["question"].startswith("get widgets (example.com)")


def test_resolve_resource_prefers_the_core_group_and_knows_short_names():
    assert resolve_resource("events") == ("", "events")
    assert resolve_resource("events", "events.k8s.io") == ("events.k8s.io", "events")
    assert resolve_resource("po") == ("", "pods") and resolve_resource("netpol") == ("networking.k8s.io",
                                                                                      "networkpolicies")
    assert resolve_resource("nonsense") is None


def test_paths_from_a_subject_or_workload_the_input_does_not_know_says_so(capsys, rbac):
    assert main(["rbac", "paths", "--from", "serviceaccount:shop:apj", rbac]) == 0
    err = capsys.readouterr().err
    assert "serviceaccount:shop:apj is no ServiceAccount of the input" in err and "did you mean serviceaccount:shop:api" in err
    assert main(["rbac", "paths", "--from", "workload:Deployment/shop/nothere", rbac]) == 0
    assert "workload:Deployment/shop/nothere is not a workload of the input" in capsys.readouterr().err
    assert main(["rbac", "paths", "--from", "serviceaccount:shop:api", rbac]) == 0
    assert "note:" not in capsys.readouterr().err


def test_the_kubectl_plugin_calls_itself_kubectl_harden(capsys):
    with pytest.raises(SystemExit):
        main(["scan", "--help"], kubectl_plugin=True)
    assert capsys.readouterr().out.startswith("usage: kubectl harden scan")
    with pytest.raises(SystemExit):
        main(["scan", "--help"])
    assert capsys.readouterr().out.startswith("usage: kubeharden scan")


NETWORK = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.27}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: shop}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: postgres:16}]}
""" + "".join(f"""---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: db-{n}, namespace: shop}}
spec:
  podSelector: {{matchLabels: {{app: db}}}}
  ingress: [{{from: [{{podSelector: {{matchLabels: {{app: web}}}}}}], ports: [{{port: {5430 + n}}}]}}]
""" for n in range(5))


def test_can_reach_answers_in_json_and_names_every_isolating_policy(tmp_path, capsys):
    path = tmp_path / "net.yaml"
    path.write_text(NETWORK)
    assert main(["netpol", "can-reach", "shop/web", "shop/db:5432", "-f", "json", str(path)]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["allowed"] is True and answer["allowed_ports"] == "TCP 5432"
    ingress = next(d for d in answer["directions"] if d["direction"] == "ingress")
    assert ingress["isolated"] is True
    assert ingress["isolating_policies"] == [f"NetworkPolicy shop/db-{n}" for n in range(5)]
    egress = next(d for d in answer["directions"] if d["direction"] == "egress")
    assert egress == {"workload": "shop/Deployment/web", "direction": "egress", "isolated": False,
                      "isolating_policies": []}
    assert main(["netpol", "can-reach", "shop/web", "shop/db:80", "-f", "json", str(path)]) == 1
    assert json.loads(capsys.readouterr().out)["allowed"] is False
    assert main(["netpol", "can-reach", "shop/web", "shop/db:5432", str(path)]) == 0
    text = capsys.readouterr().out
    assert all(f"NetworkPolicy shop/db-{n}" in text for n in range(5)) and "more" not in text


def test_dash_f_reads_a_file_as_kubectl_does_and_still_takes_formats(tmp_path, capsys):
    pod = tmp_path / "pod.yaml"
    pod.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\n"
                   "spec: {containers: [{name: c, image: nginx:1.27, securityContext: {privileged: true}}]}\n")
    assert main(["scan", "--no-config", "-f", str(pod), "--compact"]) == 1
    assert "KH-POD-004" in capsys.readouterr().out
    assert main(["scan", "--no-config", "-f", "json", str(pod)]) == 1
    assert json.loads(capsys.readouterr().out)["summary"]["objects"] == 1
    with pytest.raises(SystemExit):
        main(["scan", "--no-config", "-f", "nonsense", str(pod)])
    assert "'nonsense' is not a format" in capsys.readouterr().err


def test_rbac_tables_wrap_and_never_cut_names(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    long_sa = "a-service-account-with-a-very-long-name-indeed"
    path = tmp_path / "rbac.yaml"
    path.write_text(RBAC.replace("name: api", f"name: {long_sa}"))
    assert main(["rbac", "who-can", "get", "secrets", "-n", "shop", str(path)]) == 0
    out = capsys.readouterr().out
    # too wide for a table at 60 columns: one record per row, a name wider than its line continued on the
    # next one, never cut with an ellipsis
    assert "…" not in out and f"serviceaccount:shop:{long_sa}" in "".join(out.split())
    assert max(len(line) for line in out.splitlines()) <= 60
