"""Findings carry the field path, a structured fix and a stable fingerprint (JSON report 1.2)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from conftest import scan

from kubeharden.catalogue.loader import CatalogueError, _parse_control, load_catalogue
from kubeharden.cli import main
from kubeharden.model.fieldpath import join, relative_to
from kubeharden.model.findings import Finding, Fix, fingerprint
from kubeharden.model.objects import ResourceRef

# Fields as the Kubernetes API reference names them (Pod v1, PodSpec, SecurityContext).
DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      securityContext: {runAsUser: 0}
      initContainers:
        - name: setup
          image: registry.example.com/setup:1.0
          securityContext: {privileged: true}
      containers:
        - name: app
          image: registry.example.com/app:1.0
          imagePullPolicy: IfNotPresent
          securityContext:
            capabilities: {add: [CAP_SYS_ADMIN, NET_RAW, NET_BIND_SERVICE]}
          resources:
            requests: {cpu: "2", memory: 1Gi}
          ports:
            - {containerPort: 8080, hostPort: 8080}
"""

#: A Pod that sets nothing beyond its one container.
MINIMAL_POD = """
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: c, image: registry.example.com/c:1.0}]
"""


def only(text: str, control: str) -> list[Finding]:
    findings, result = scan(text, {"profile": "strict"}, only=[control])
    assert not [p for p in result.problems if p.level == "error"], result.problems
    return [f for f in findings if f.control.id == control]


# -- field paths -------------------------------------------------------------------------------


def test_join_writes_fields_indexes_and_map_keys_as_the_api_server_does():
    assert join("spec", "containers", 0, "image") == "spec.containers[0].image"
    assert join("", "metadata", "labels", "app.kubernetes.io/name") == "metadata.labels[app.kubernetes.io/name]"
    assert join("", "data", "db-password") == "data.db-password"
    assert relative_to("spec.containers[0].image", "spec.containers[0]") == "image"
    assert relative_to("spec.containers[10]", "spec.containers[1]") is None
    assert relative_to("spec", "spec") == ""


@pytest.mark.parametrize(("control", "container", "path"), [
    ("KH-POD-004", "setup", "spec.template.spec.initContainers[0].securityContext.privileged"),
    # inherited from the pod: the path is where it is set
    ("KH-POD-001", "app", "spec.template.spec.securityContext.runAsUser"),
    ("KH-POD-010", "app", "spec.template.spec.containers[0].ports[0].hostPort"),
    ("KH-IMG-004", "app", "spec.template.spec.containers[0].imagePullPolicy"),
    ("KH-RES-003", "app", "spec.template.spec.containers[0].resources.limits.memory"),
    ("KH-POD-012", "app", "spec.template.spec.containers[0].securityContext.capabilities.drop"),
])
def test_findings_name_the_field_at_fault(control, container, path):
    found = {f.container: f.path for f in only(DEPLOYMENT, control)}
    assert found[container] == path


def test_pod_fields_and_missing_fields_have_paths():
    (host,) = only("""
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          hostNetwork: true
          containers: [{name: c, image: registry.example.com/c:1.0}]
        """, "KH-POD-006")
    assert host.path == "spec.hostNetwork" and host.container is None
    (seccomp,) = only(MINIMAL_POD, "KH-POD-016")
    assert seccomp.path == "spec.containers[0].securityContext.seccompProfile"


def test_object_and_namespace_paths():
    (label,) = only("""
        apiVersion: v1
        kind: Namespace
        metadata: {name: shop}
        """, "KH-NS-003")
    assert label.path == "metadata.labels[pod-security.kubernetes.io/enforce]"
    assert label.fix == Fix("set", label.path, "restricted", safe=False)
    (svc,) = only("""
        apiVersion: v1
        kind: Service
        metadata: {name: s, namespace: shop}
        spec: {type: NodePort, ports: [{port: 80}]}
        """, "KH-NET-008")
    assert svc.path == "spec.type" and svc.fix is None


# -- structured fixes --------------------------------------------------------------------------


def test_catalogue_fix_applies_at_the_container():
    (f,) = only(DEPLOYMENT, "KH-POD-004")
    assert f.fix == Fix("set", "spec.template.spec.initContainers[0].securityContext.privileged", False, safe=False)


def test_pull_policy_fix_is_never_safe_set_or_defaulted():
    findings = {f.container: f.fix for f in only(DEPLOYMENT, "KH-IMG-004")}
    # app writes IfNotPresent, setup writes nothing (the API server's default): either may run a pre-loaded image
    assert findings["app"] == Fix("set", "spec.template.spec.containers[0].imagePullPolicy", "Always", safe=False)
    assert findings["setup"] == Fix("set", "spec.template.spec.initContainers[0].imagePullPolicy", "Always", safe=False)


def test_privilege_escalation_fix_only_where_the_api_server_accepts_it():
    # setup is privileged, app adds CAP_SYS_ADMIN: false would be refused beside either, and resolve nothing
    assert {f.container: f.fix for f in only(DEPLOYMENT, "KH-POD-011")} == {"setup": None, "app": None}
    (plain,) = only(MINIMAL_POD, "KH-POD-011")
    # no_new_privs breaks setuid binaries: a person decides
    assert plain.fix == Fix("set", "spec.containers[0].securityContext.allowPrivilegeEscalation", False, safe=False)
    (contradiction,) = only("""
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers:
            - name: c
              image: registry.example.com/c:1.0
              securityContext: {privileged: true, allowPrivilegeEscalation: false}
        """, "KH-POD-011")
    assert contradiction.fix is None


def test_capability_fix_removes_the_entries_as_written():
    (dangerous,) = only(DEPLOYMENT, "KH-POD-013")
    path = "spec.template.spec.containers[0].securityContext.capabilities.add"
    assert dangerous.fix == Fix("remove", path, ["CAP_SYS_ADMIN", "NET_RAW"], safe=False)
    (drop,) = [f for f in only(DEPLOYMENT, "KH-POD-012") if f.container == "app"]
    assert drop.fix == Fix("add", "spec.template.spec.containers[0].securityContext.capabilities.drop", ["ALL"])


def test_root_uid_has_no_mechanical_fix():
    # runAsNonRoot: true beside runAsUser: 0 makes the kubelet refuse to start the container
    assert [f.fix for f in only(DEPLOYMENT, "KH-POD-001")] == [None, None]
    (unset,) = only(MINIMAL_POD, "KH-POD-001")
    assert unset.fix == Fix("set", "spec.containers[0].securityContext.runAsNonRoot", True)


def test_resource_fixes_never_set_a_limit_below_the_request():
    cpu = {f.container: f.fix for f in only(DEPLOYMENT, "KH-RES-002")}
    assert cpu["app"] == Fix("set", "spec.template.spec.containers[0].resources.limits.cpu", "2")
    assert cpu["setup"].value == "500m"
    (requests,) = [f for f in only(DEPLOYMENT, "KH-RES-001") if f.container == "setup"]
    assert requests.fix == Fix("add", "spec.template.spec.initContainers[0].resources.requests",
                               {"cpu": "100m", "memory": "128Mi"})


def test_host_port_and_token_fixes():
    (port,) = only(DEPLOYMENT, "KH-POD-010")
    assert port.fix == Fix("remove", "spec.template.spec.containers[0].ports[0].hostPort")
    (token,) = only(DEPLOYMENT, "KH-POD-024")
    assert token.path == "spec.template.spec.automountServiceAccountToken"
    assert token.fix == Fix("set", token.path, False)


def test_controls_without_a_mechanical_fix_carry_none():
    for control in ("KH-IMG-002", "KH-POD-025", "KH-POD-002"):
        assert {f.fix for f in only(DEPLOYMENT, control)} == {None}, control


def test_fix_operations_are_checked():
    with pytest.raises(ValueError):
        Fix("replace", "spec")
    assert Fix("add", "a.b", [1], safe=True).to_dict() == {"op": "add", "path": "a.b", "value": [1], "safe": True,
                                                           "because": ""}


# -- fingerprints ------------------------------------------------------------------------------


def _ref(api_version: str = "apps/v1") -> ResourceRef:
    return ResourceRef(api_version, "Deployment", "shop", "web")


def test_fingerprint_ignores_version_file_line_message_and_container_order():
    base = fingerprint("KH-POD-004", _ref(), "containers", "app", "spec.template.spec.containers[0].securityContext")
    assert len(base) == 32 and int(base, 16) >= 0
    assert fingerprint("KH-POD-004", _ref("apps/v1beta2"), "containers", "app",
                       "spec.template.spec.containers[3].securityContext") == base
    control = load_catalogue()[0]
    one = Finding(control, control.severity, _ref(), "app", "a.yaml", 3, "one", "fix", container_list="containers",
                  path="spec.template.spec.containers[0].securityContext")
    two = dataclasses.replace(one, file="b.yaml", line=30, message="reworded")
    assert one.fingerprint == two.fingerprint


@pytest.mark.parametrize("change", [
    {"control_id": "KH-POD-003"}, {"resource": ResourceRef("apps/v1", "StatefulSet", "shop", "web")},
    {"resource": ResourceRef("apps/v1", "Deployment", "prod", "web")}, {"container": "sidecar"},
    {"container_list": "initContainers"}, {"path": "spec.template.spec.containers[0].image"},
])
def test_fingerprint_changes_with_each_part(change):
    args = {"control_id": "KH-POD-004", "resource": _ref(), "container_list": "containers", "container": "app",
            "path": "spec.template.spec.containers[0].securityContext"}
    assert fingerprint(**args) != fingerprint(**{**args, **change})


def test_cached_fingerprint_follows_a_copy_with_another_path_and_crosses_pickling():
    import pickle

    control = load_catalogue()[0]
    one = Finding(control, control.severity, _ref(), None, "a.yaml", 3, "one", "fix", path="spec.replicas")
    first = one.fingerprint
    moved = dataclasses.replace(one, path="spec.template.spec.hostPID")
    assert moved.fingerprint != first
    assert moved.fingerprint == fingerprint(control.id, _ref(), None, None, "spec.template.spec.hostPID")
    assert pickle.loads(pickle.dumps(one))._fingerprint == first


def test_finding_dicts_do_not_share_their_mappings():
    control = load_catalogue()[0]
    one = Finding(control, control.severity, _ref(), None, "a.yaml", 3, "one", "fix").to_dict()
    one["mappings"]["cis"] = ("changed",)
    two = Finding(control, control.severity, _ref(), None, "a.yaml", 4, "two", "fix").to_dict()
    assert list(two["mappings"]["cis"]) == control.mappings_dict()["cis"]
    assert set(two["mappings"]) == set(control.mappings_dict())


def test_fingerprints_differ_within_one_scan():
    findings, _ = scan(DEPLOYMENT, {"profile": "strict"})
    prints = [f.fingerprint for f in findings]
    assert len(prints) == len(set(prints)) > 20


# -- catalogue entries -------------------------------------------------------------------------

ENTRY = {"id": "KH-TEST-1", "title": "t", "severity": "low", "nsa": ["NSA-POD-9"], "description": "d",
         "remediation": "r", "scope": "container", "slug": "test-entry", "since": "0.1.0"}


def test_catalogue_fix_and_inputs_are_validated():
    control = _parse_control({**ENTRY, "fix": {"op": "set", "field": "securityContext.privileged",
                                               "value": False}}, "test.yaml")
    assert control.fix is not None and control.fix.resolve("x", "spec.containers[1]") == Fix(
        "set", "spec.containers[1].securityContext.privileged", False)
    assert control.inputs == ("manifest", "cluster", "admission")
    assert _parse_control({**ENTRY, "scope": "inventory"}, "t").inputs == ("manifest", "cluster")
    for bad in ({"fix": {"op": "patch"}}, {"fix": {"op": "set", "valu": 1}}, {"inputs": ["helm"]}, {"inputs": []}):
        with pytest.raises(CatalogueError):
            _parse_control({**ENTRY, **bad}, "test.yaml")


def test_several_fail_examples():
    control = _parse_control({**ENTRY, "examples": {"fail": ["a: 1", "b: 2"], "pass": "c: 3"}}, "t")
    assert control.fail_examples == ("a: 1", "b: 2") and control.example_fail == "a: 1"


def test_controls_json_shows_inputs_and_fix(capsys):
    assert main(["controls", "--format", "json"]) == 0
    data = {c["id"]: c for c in json.loads(capsys.readouterr().out)}
    assert data["KH-IMG-004"]["fix"] == {"op": "set", "field": "imagePullPolicy", "value": "Always", "safe": False,
                                         "evidence": None}
    assert data["KH-POD-012"]["fix"]["evidence"] == "non-root" and data["KH-POD-012"]["fix"]["safe"] is False
    assert data["KH-POD-005"]["fix"] == {"op": "set", "field": None, "value": False, "safe": False,
                                         "evidence": None}
    assert data["KH-IMG-002"]["fix"] is None
    assert data["KH-NET-001"]["inputs"] == ["manifest", "cluster"]
    assert data["KH-POD-004"]["inputs"] == ["manifest", "cluster", "admission"]
