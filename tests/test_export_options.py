"""`kubeharden export`: excluded namespaces, controls asked for by name, unwritable outputs, and the
KH-NS-001 policy being bound in the system namespaces it judges."""

from __future__ import annotations

import copy

import pytest
import yaml
from test_export_cel import CONFIG, admitted
from test_export_cel_cases import c, pod, policy

from kubeharden.catalogue.loader import load_catalogue
from kubeharden.cli import main
from kubeharden.enforce.export import export

BY_ID = {c.id: c for c in load_catalogue()}


def _export(tmp_path, *extra: str) -> list[dict]:
    out = tmp_path / "p.yaml"
    assert main(["export", "vap", "--no-config", "-o", str(out), *extra]) == 0
    return [d for d in yaml.safe_load_all(out.read_text()) if d]


def _left_out(binding: dict) -> list[str]:
    selector = binding["spec"]["matchResources"]["namespaceSelector"]
    return [v for e in selector.get("matchExpressions", []) for v in e["values"]]


def _binding(docs: list[dict], control_id: str) -> dict:
    return next(d for d in docs if d["kind"] == "ValidatingAdmissionPolicyBinding"
                and d["metadata"]["name"] == f"kubeharden-{control_id.lower()}")


def test_exclude_namespace_adds_to_kube_system(tmp_path):
    docs = _export(tmp_path, "--control", "KH-POD-003", "--exclude-namespace", "monitoring")
    assert _left_out(_binding(docs, "KH-POD-003")) == ["kube-system", "monitoring"]


def test_include_kube_system_leaves_only_the_given_namespaces_out(tmp_path):
    docs = _export(tmp_path, "--control", "KH-POD-003", "--include-kube-system", "--exclude-namespace", "monitoring")
    assert _left_out(_binding(docs, "KH-POD-003")) == ["monitoring"]
    docs = _export(tmp_path, "--control", "KH-POD-003", "--include-kube-system")
    assert _binding(docs, "KH-POD-003")["spec"]["matchResources"]["namespaceSelector"] == {}


@pytest.mark.parametrize("name", ["a b", "Monitoring", "-x", "x" * 64, "a.b"])
def test_a_namespace_that_is_no_dns_label_is_refused(tmp_path, capsys, name):
    assert main(["export", "vap", "--no-config", f"--exclude-namespace={name}", "-o", str(tmp_path / "p")]) == 2
    assert "DNS-1123" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_system_namespace_policy_is_bound_in_kube_system(tmp_path):
    docs = _export(tmp_path, "--control", "KH-NS-001", "--exclude-namespace", "monitoring")
    assert _left_out(_binding(docs, "KH-NS-001")) == ["monitoring"]
    kyverno = export([BY_ID["KH-NS-001"]], "kyverno", config=CONFIG).documents[0]
    assert "exclude" not in kyverno["spec"]["rules"][0]  # kube-system alone was excluded: nothing is
    # and the policy refuses a user workload there, but not a static control-plane Pod (as the scanner)
    user = pod({"containers": [c()]}, namespace="kube-system")
    assert not admitted(policy("KH-NS-001"), user)
    apiserver = copy.deepcopy(pod({"containers": [c(name="kube-apiserver", command=["kube-apiserver"])]},
                                  namespace="kube-system", name="kube-apiserver-node1"))
    apiserver["metadata"]["labels"] = {"component": "kube-apiserver", "tier": "control-plane"}
    apiserver["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "abc"}
    assert admitted(policy("KH-NS-001"), apiserver)


def test_a_control_that_cannot_be_exported_exits_2_with_the_reason(tmp_path, capsys):
    out = tmp_path / "p.yaml"
    assert main(["export", "vap", "--no-config", "--control", "KH-RBAC-001", "-o", str(out)]) == 2
    assert "cannot export KH-RBAC-001: it judges RBAC as a graph" in capsys.readouterr().err
    assert not out.exists()
    assert main(["export", "kyverno", "--no-config", "--control", "KH-POD-003", "--control", "KH-RBAC-001",
                 "-o", str(out)]) == 2


@pytest.mark.parametrize("command", [["export", "vap", "--no-config"],
                                     ["webhook", "manifests", "--image", "registry.example.com/kh:1"],
                                     ["rbac", "who-can", "get", "secrets", "examples/insecure"]])
def test_an_output_in_a_missing_folder_is_a_clear_error(tmp_path, capsys, command):
    assert main([*command, "-o", str(tmp_path / "missing" / "x.yaml")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def _secret(kind: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "type": kind,
            "metadata": {"name": "t", "namespace": "shop",
                         "annotations": {"kubernetes.io/service-account.name": "build"}}}


@pytest.mark.parametrize(("kind", "bad"), [("kubernetes.io/service-account-token", True), ("Opaque", False),
                                           ("kubernetes.io/dockerconfigjson", False)])
def test_long_lived_token_secret_is_exported_for_secrets_and_agrees(kind, bad):
    from test_export_cel import scanner_fails

    vap = policy("KH-RBAC-018")
    assert vap["spec"]["matchConstraints"]["resourceRules"] == [
        {"apiGroups": [""], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": ["secrets"]}]
    assert scanner_fails("KH-RBAC-018", _secret(kind)) is bad
    assert (not admitted(vap, _secret(kind))) is bad
