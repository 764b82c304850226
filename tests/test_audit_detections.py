"""Audit detections of issue 9 (items 14-21): what the rules must see, and what they must leave alone.

Events are written from the Kubernetes "Auditing" documentation and the audit.k8s.io/v1 Event
reference with kubeharden.detect.simulate.make_event; pods from the Pod API reference.
"""

from __future__ import annotations

import json

import pytest
from conftest import ids, scan

from kubeharden.config import DEFAULT_SYSTEM_NAMESPACES
from kubeharden.detect.conditions import CompileContext, compile_condition
from kubeharden.detect.engine import Detector
from kubeharden.detect.fields import MISSING, compile_path, exec_command
from kubeharden.detect.podview import JUDGED_CONTROLS, pod_containers, pod_specs, pod_violations
from kubeharden.detect.rules import compile_rule, fact_lists, load_rules
from kubeharden.detect.simulate import baseline, make_event, traffic
from kubeharden.generators.netpol import Options as NetpolOptions
from kubeharden.model.facts import SYSTEM_NAMESPACES, dangerous_capabilities, sensitive_reason
from kubeharden.model.pods import POD_TEMPLATE_RESOURCES

RULES = {r.id: r for r in load_rules()}
CONTROLLER = "system:serviceaccount:kube-system:daemon-set-controller"
KUBELET = "system:node:node-1"


def fired(rule_id: str, *events: dict, rules: dict | None = None) -> int:
    rule = (rules or RULES)[rule_id]
    return sum(1 for a in Detector([rule], baseline_seconds=0).run(list(events)) if a.rule.id == rule_id)


def pod_body(spec: dict | None = None, container: dict | None = None, kind: str = "Pod") -> dict:
    c = {"name": "app", "image": "registry.example.com/app:1.0", **(container or {})}
    s = {"containers": [c], **(spec or {})}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app", "namespace": "shop"}, "spec": s}
    group = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
    template = {"metadata": {"labels": {"app": "app"}}, "spec": s}
    spec_ = {"jobTemplate": {"spec": {"template": template}}} if kind == "CronJob" else {"template": template}
    return {"apiVersion": group, "kind": kind, "metadata": {"name": "app", "namespace": "shop"}, "spec": spec_}


# --- item 20: one source for each fact; request bodies judged as manifests ---------------------------

# (pod spec changes, scan control, audit rule, whether both must find it): the two verdicts must agree.
AGREEMENT = [
    ({"container": {"securityContext": {"privileged": True}}}, "KH-POD-004", "KH-AUDIT-001", True),
    ({"container": {"securityContext": {"privileged": False}}}, "KH-POD-004", "KH-AUDIT-001", False),
    ({"spec": {"hostPID": True}}, "KH-POD-005", "KH-AUDIT-002", True),
    ({"spec": {"hostNetwork": True}}, "KH-POD-006", "KH-AUDIT-003", True),
    ({"container": {"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}}, "KH-POD-013", "KH-AUDIT-004", True),
    ({"container": {"securityContext": {"capabilities": {"add": ["cap_sys_ptrace"]}}}}, "KH-POD-013", "KH-AUDIT-004",
     True),
    # DAC_OVERRIDE is in the Pod Security baseline set: neither calls it dangerous (the audit pack used to)
    ({"container": {"securityContext": {"capabilities": {"add": ["DAC_OVERRIDE"]}}}}, "KH-POD-013", "KH-AUDIT-004",
     False),
    ({"spec": {"volumes": [{"name": "s", "hostPath": {"path": "/run/containerd/containerd.sock"}}]}},
     "KH-POD-009", "KH-AUDIT-007", True),
    ({"spec": {"volumes": [{"name": "s", "hostPath": {"path": "//etc/./"}}]}}, "KH-POD-009", "KH-AUDIT-007", True),
    ({"spec": {"volumes": [{"name": "s", "hostPath": {"path": "/usr"}}]}}, "KH-POD-009", "KH-AUDIT-007", True),
    ({"spec": {"volumes": [{"name": "s", "hostPath": {"path": "/srv/cache"}}]}}, "KH-POD-009", "KH-AUDIT-007", False),
    ({"spec": {"volumes": [{"name": "s", "hostPath": {"path": "/srv/cache"}}]}}, "KH-POD-007", "KH-AUDIT-008", True),
]


@pytest.mark.parametrize(("change", "control", "rule_id", "found"), AGREEMENT)
@pytest.mark.parametrize("kind", ["Pod", "Deployment", "CronJob"])
def test_scan_and_audit_agree_on_the_same_pod(change, control, rule_id, found, kind):
    body = pod_body(change.get("spec"), change.get("container"), kind)
    findings, _ = scan(json.dumps(body), only=list(JUDGED_CONTROLS))
    resource = {"Pod": "pods", "Deployment": "deployments", "CronJob": "cronjobs"}[kind]
    alerts = fired(rule_id, make_event("create", resource, namespace="shop", body=body))
    assert (control in ids(findings), alerts) == (found, int(found))


def test_facts_are_defined_once_and_shared():
    assert DEFAULT_SYSTEM_NAMESPACES is SYSTEM_NAMESPACES
    assert NetpolOptions().system_namespaces == SYSTEM_NAMESPACES
    assert "kube-node-lease" in SYSTEM_NAMESPACES
    lists = fact_lists()
    assert lists["system_namespaces"] == list(SYSTEM_NAMESPACES)
    assert set(lists["workload_resources"]) == set(POD_TEMPLATE_RESOURCES)
    assert dangerous_capabilities(["CAP_NET_RAW", "chown", "ALL"]) == ["NET_RAW", "ALL"]
    assert sensitive_reason("/var/lib/../lib/kubelet/pods") and sensitive_reason("//proc/1") and \
        sensitive_reason("/srv/data") is None


def test_patch_bodies_without_kind_use_the_resource_and_only_present_values_count():
    patch = make_event("patch", "deployments", "web", body={"spec": {"template": {"spec": {"hostNetwork": True}}}})
    assert [v["control"] for v in pod_violations(patch)] == ["KH-POD-006"]
    # a patch that does not mention securityContext says nothing about it: no "runAsNonRoot unset" verdicts
    replicas = make_event("patch", "deployments", "web", body={"spec": {"replicas": 3}})
    assert pod_violations(replicas) == []
    json_patch = make_event("patch", "deployments", "web", body=[{"op": "add", "path": "/spec/template/spec/hostPID",
                                                                   "value": True}])
    assert pod_specs(json_patch) == [] and pod_violations(json_patch) == []


def test_effective_settings_follow_kubelet_inheritance():
    body = pod_body({"securityContext": {"runAsUser": 0}}, {"securityContext": {"runAsUser": 1000}})
    body["spec"]["initContainers"] = [{"name": "init", "image": "x"}]
    got = {c["name"]: c["runAsUser"] for c in pod_containers(make_event("create", "pods", body=body))}
    assert got == {"app": 1000, "init": 0}


@pytest.mark.parametrize("body", [
    {"kind": "Pod", "spec": {"containers": "nginx"}},
    {"kind": "Pod", "spec": {"containers": [{"name": "a", "securityContext": "privileged"}]}},
    {"kind": "Pod", "spec": {"containers": [{"name": "a", "securityContext": {"capabilities": {"add": "SYS_ADMIN"}}}],
                             "volumes": [{"name": "h", "hostPath": "/"}]}},
    {"kind": "Deployment", "spec": {"template": ["not", "a", "template"]}},
    {"kind": "Pod", "spec": {"containers": [{"name": {"x": 1}}], "securityContext": {"runAsUser": "root"}},
     "metadata": {1: "non-string key"}},
])
def test_malformed_bodies_never_stop_detection(body):
    events = [make_event("create", "pods", body=body), make_event("create", "pods", body=pod_body(
        container={"securityContext": {"privileged": True}}))]
    found = [a.rule.id for a in Detector(load_rules(), baseline_seconds=0).run(events)]
    assert "KH-AUDIT-001" in found  # the good event after the bad one is still judged


# --- item 15: one policy for who the pod-spec rules judge ----------------------------------------------

POD_SPEC_CASES = {
    "KH-AUDIT-001": pod_body(container={"securityContext": {"privileged": True}}),
    "KH-AUDIT-002": pod_body({"hostIPC": True}),
    "KH-AUDIT-003": pod_body({"hostNetwork": True}),
    "KH-AUDIT-004": pod_body(container={"securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}),
    "KH-AUDIT-005": pod_body(container={"securityContext": {"allowPrivilegeEscalation": True}}),
    "KH-AUDIT-007": pod_body({"volumes": [{"name": "h", "hostPath": {"path": "/var/lib/etcd"}}]}),
    "KH-AUDIT-008": pod_body({"volumes": [{"name": "h", "hostPath": {"path": "/opt/data"}}]}),
    "KH-AUDIT-013": pod_body(container={"image": "docker.io/miner/xmrig:6"}),
}


@pytest.mark.parametrize("rule_id", sorted(POD_SPEC_CASES))
@pytest.mark.parametrize("user", ["alice@example.com", CONTROLLER, KUBELET])
def test_every_pod_spec_rule_judges_every_author_alike(rule_id, user):
    event = make_event("create", "pods", namespace="shop", user=user, body=POD_SPEC_CASES[rule_id])
    assert fired(rule_id, event) == 1


@pytest.mark.parametrize("rule_id", sorted(POD_SPEC_CASES))
def test_trusted_pod_authors_are_exempt_from_every_pod_spec_rule(rule_id):
    rules = {r.id: r for r in load_rules(overrides={"trusted_pod_authors": [CONTROLLER]})}
    trusted = make_event("create", "pods", user=CONTROLLER, body=POD_SPEC_CASES[rule_id])
    other = make_event("create", "pods", user="system:serviceaccount:kube-system:job-controller",
                       body=POD_SPEC_CASES[rule_id])
    assert fired(rule_id, trusted, rules=rules) == 0
    assert fired(rule_id, other, rules=rules) == 1


@pytest.mark.parametrize("namespace", SYSTEM_NAMESPACES)
@pytest.mark.parametrize("resource", sorted(POD_TEMPLATE_RESOURCES))
def test_any_workload_written_into_a_system_namespace_alerts(namespace, resource):
    assert fired("KH-AUDIT-009", make_event("create", resource, "x", namespace)) == 1
    assert fired("KH-AUDIT-009", make_event("create", resource, "x", namespace, user=CONTROLLER)) == 0
    assert fired("KH-AUDIT-009", make_event("create", resource, "x", "shop")) == 0


# --- item 14: the exec command, wherever it is recorded -------------------------------------------------

def test_exec_command_comes_from_the_uri_or_from_the_podexecoptions_body():
    uri = make_event("create", "pods", "w", subresource="exec",
                     uri="/api/v1/namespaces/default/pods/w/exec?command=id&command=-u&container=main")
    body = make_event("create", "pods", "w", subresource="exec", uri="/api/v1/namespaces/default/pods/w/exec",
                      body={"kind": "PodExecOptions", "apiVersion": "v1", "command": ["cat", "/etc/hostname"]})
    both = make_event("create", "pods", "w", subresource="exec", uri="/api/v1/namespaces/d/pods/w/exec?command=ls",
                      body={"kind": "PodExecOptions", "command": ["rm", "-rf", "/"]})
    odd = make_event("create", "pods", "w", subresource="exec", body={"command": [1, None, {"a": "b"}]})
    assert exec_command(uri) == "id -u"
    assert exec_command(body) == "cat /etc/hostname"
    assert exec_command(both) == "ls"  # the URI is what the API server executed
    assert exec_command(odd) is MISSING and compile_path("execCommand").fn(odd) is MISSING
    assert fired("KH-AUDIT-031", odd) == 0


@pytest.mark.parametrize(("command", "fires"), [
    (["cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"], True),
    (["cat", "/run/secrets/tokens/vault-token"], True),                                   # projected token volume
    (["cat", "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"], True),           # EKS IRSA
    (["cat", "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"], True),
    (["curl", "http://169.254.170.23/v1/credentials"], True),                              # EKS Pod Identity agent
    (["cat", "/var/run/secrets/azure/tokens/azure-identity-token"], True),                 # AKS workload identity
    (["curl", "-H", "Metadata-Flavor: Google",
      "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"], True),  # GKE
    (["sh", "-c", "echo $AWS_WEB_IDENTITY_TOKEN_FILE"], True),
    (["cat", "/var/run/app/config.yaml"], False),
    (["ls", "/tmp/tokens"], False),
])
def test_exec_reading_tokens_alerts_from_the_body_form(command, fires):
    event = make_event("create", "pods", "w", subresource="exec", uri="/api/v1/namespaces/default/pods/w/exec",
                       body={"kind": "PodExecOptions", "command": command})
    assert fired("KH-AUDIT-031", event) == int(fires)


# --- item 16: secrets harvested namespace by namespace ----------------------------------------------

def test_listing_secrets_in_many_namespaces_is_harvesting_whatever_the_address():
    events = [make_event("list", "secrets", None, ns, sourceIP=ip, at=i * 60)
              for i, (ns, ip) in enumerate([("a", "198.51.100.1"), ("b", "198.51.100.2"), ("c", "198.51.100.3")])]
    assert fired("KH-AUDIT-043", *events) == 1
    gets = [make_event("get", "secrets", "s", ns, at=i) for i, ns in enumerate("abc")]
    assert fired("KH-AUDIT-043", *gets) == 0  # reading one named Secret per namespace is KH-AUDIT-037's business


# --- item 17: privileged bindings ----------------------------------------------------------------------

def binding(role: str, kind: str = "ClusterRole", resource: str = "clusterrolebindings", at: float = 0) -> dict:
    body = {"kind": "ClusterRoleBinding" if resource == "clusterrolebindings" else "RoleBinding",
            "metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
            "subjects": [{"kind": "User", "name": "mallory"}]}
    return make_event("create", resource, None, "shop", body=body, at=at)


def all_rights_role(name: str, at: float = 0, rules: list | None = None, verb: str = "create") -> dict:
    return make_event(verb, "clusterroles", name if verb != "create" else None, None, at=at, body={
        "kind": "ClusterRole", "metadata": {"name": name},
        "rules": rules if rules is not None else [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]})


def test_every_binding_to_a_role_given_every_right_alerts_until_it_is_narrowed():
    events = [all_rights_role("ops", 0), binding("ops", at=10), binding("ops", at=20),
              make_event("patch", "clusterroles", "ops", None, at=30, body={"metadata": {"labels": {"a": "b"}}}),
              binding("ops", at=40),
              all_rights_role("ops", 50, rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
                              verb="update"),
              binding("ops", at=60)]
    # two bindings, then a label patch (no rules: the role is unchanged), a third binding, then narrowed
    assert fired("KH-AUDIT-049", *events) == 3


def test_binding_logged_without_a_body_is_not_judged_as_safe_by_the_remember_rule():
    bare = make_event("create", "clusterrolebindings", None, None)
    assert fired("KH-AUDIT-049", all_rights_role("ops"), bare) == 0  # nothing to join on: no crash, no guess
    assert fired("KH-AUDIT-051", bare) == 1  # the binding itself is still reported


@pytest.mark.parametrize(("role", "resource", "fires"), [
    ("cluster-admin", "rolebindings", True),
    ("admin", "clusterrolebindings", True), ("edit", "clusterrolebindings", True),
    ("admin", "rolebindings", False), ("edit", "rolebindings", False),
    ("system:kube-scheduler", "clusterrolebindings", True), ("system:node", "clusterrolebindings", True),
    ("system:controller:replicaset-controller", "rolebindings", True),
    ("view", "clusterrolebindings", False),
])
def test_privileged_bindings(role, resource, fires):
    assert fired("KH-AUDIT-050", binding(role, resource=resource)) == int(fires)


# --- item 18: grants and certificates ------------------------------------------------------------------

@pytest.mark.parametrize("resource", sorted(POD_TEMPLATE_RESOURCES))
@pytest.mark.parametrize(("verbs", "fires"), [(["create"], True), (["*"], True), (["patch"], True),
                                              (["get", "list", "watch"], False), (["delete"], False)])
def test_workload_writing_grants_need_write_verbs_on_any_pod_template_kind(resource, verbs, fires):
    role = make_event("create", "roles", None, "shop", body={"kind": "Role", "metadata": {"name": "r"}, "rules": [
        {"apiGroups": ["", "apps", "batch"], "resources": [resource], "verbs": verbs}]})
    assert fired("KH-AUDIT-053", role) == int(fires)


def test_csr_rule_judges_only_what_can_become_a_client_credential():
    def csr(signer, usages, user="alice@example.com", groups=None, sub=None, verb="create"):
        return make_event(verb, "certificatesigningrequests", "c", None, subresource=sub, user=user, groups=groups,
                          body={"kind": "CertificateSigningRequest", "spec": {"signerName": signer, "usages": usages}})
    assert fired("KH-AUDIT-057", csr("kubernetes.io/kube-apiserver-client", ["client auth"])) == 1
    assert fired("KH-AUDIT-057", csr("kubernetes.io/kubelet-serving", ["server auth"], verb="update",
                                     sub="approval")) == 0
    assert fired("KH-AUDIT-057", csr("kubernetes.io/kube-apiserver-client-kubelet", ["client auth"],
                                     user="system:bootstrap:07401b", groups=["system:bootstrappers"])) == 0
    # the bootstrapper's CSR still needs an approval; approving it by hand alerts
    assert fired("KH-AUDIT-057", csr("kubernetes.io/kube-apiserver-client-kubelet", ["client auth"],
                                     verb="update", sub="approval")) == 1


# --- item 19: new rules --------------------------------------------------------------------------------

def test_not_cidr_means_some_address_outside_and_ignores_non_addresses():
    cond = compile_condition({"sourceIPs[*]": {"not_cidr": ["10.0.0.0/8", "fc00::/7"]}}, CompileContext())
    assert cond(make_event(sourceIPs=["10.1.2.3", "203.0.113.9"]))
    assert cond(make_event(sourceIPs=["2001:db8::1"]))
    assert not cond(make_event(sourceIPs=["10.1.2.3", "fd00::1"]))
    assert not cond(make_event(sourceIPs=["not-an-address"]))


def test_system_credentials_from_public_addresses():
    forged = make_event("get", "secrets", "s", user="system:serviceaccount:kube-system:coredns",
                        sourceIPs=["10.0.0.9", "192.0.2.200"])  # X-Forwarded-For private, peer public
    assert fired("KH-AUDIT-071", forged) == 1
    own = {r.id: r for r in load_rules(overrides={"cluster_networks": ["192.0.2.0/24", "10.0.0.0/8"]})}
    assert fired("KH-AUDIT-071", forged, rules=own) == 0


def test_kubectl_cp_out_is_told_apart_from_cp_in():
    out = make_event("create", "pods", "db", subresource="exec",
                     body={"kind": "PodExecOptions", "command": ["tar", "cf", "-", "/var/lib/postgresql"]})
    into = make_event("create", "pods", "db", subresource="exec",
                      body={"kind": "PodExecOptions", "command": ["tar", "--no-same-permissions", "--no-same-owner",
                                                                  "-xmf", "-", "-C", "/tmp"]})
    assert (fired("KH-AUDIT-044", out), fired("KH-AUDIT-044", into)) == (1, 0)


# --- item 21: realistic traffic ---------------------------------------------------------------------------

def test_traffic_with_bodies_carries_bodies_and_raises_the_same_alerts():
    plain = [*baseline(600, 0.5), *traffic(2000, attacks=1)]
    full = [*baseline(600, 0.5, bodies=True), *traffic(2000, attacks=1, bodies=True)]
    writes = [e for e in full if e["verb"] in ("create", "update", "patch") and e.get("objectRef", {}).get(
        "resource") in ("pods", "leases", "nodes", "deployments") and e["objectRef"].get("subresource") != "exec"]
    assert writes and all("requestObject" in e and "responseObject" in e for e in writes)
    assert all("responseObject" not in e for e in full if e["verb"] in ("list", "watch"))

    def alerts(events):
        return sorted((a.rule.id, a.event["auditID"]) for a in Detector(load_rules()).run(events))
    assert alerts(plain) == alerts(full)


def test_remember_rule_needs_its_parts():
    base = {"id": "T-1", "title": "t", "severity": "low", "nsa": ["NSA-LOG-18"], "match": {"verb": "create"}}
    with pytest.raises(ValueError, match="remember needs"):
        compile_rule({**base, "remember": {"by": ["name"], "when": {"verb": "update"}}}, "test", {}, {})


def test_verdicts_kept_by_template_still_see_annotations_and_every_change():
    def created(name, annotations=None, privileged=False):
        body = pod_body(container={"securityContext": {"privileged": privileged}})
        body["metadata"] = {"name": name, "namespace": "shop", "annotations": annotations or {}}
        return make_event("create", "pods", namespace="shop", body=body)
    unconfined = {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}
    verdicts = [sorted(v["control"] for v in pod_violations(e)) for e in (
        created("a"), created("b"), created("c", unconfined), created("d", privileged=True), created("e"))]
    assert verdicts == [[], [], ["KH-POD-017"], ["KH-POD-004"], []]
