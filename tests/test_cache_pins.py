"""Pins on the memo caches of the performance work: each cache's key must hold everything its answer depends
on, so two objects that differ only in that part get their own answers. Each test scans a small input where
the cached answer of the first object would be wrong for the second (namespace, scope, direction), and checks
what a user reads: the finding's message, its fix's reason, the report's rows.

The manifests are written here from the Kubernetes documentation (ServiceAccounts, RBAC, LimitRange,
NetworkPolicy) and the published token formats; the credential samples are made up.
"""

from __future__ import annotations

import ipaddress
import json
import textwrap
from pathlib import Path

import pytest
from supply_builders import trivy_report

from kubeharden.analysis.ports import PortSet
from kubeharden.analysis.reachability import Network
from kubeharden.checks.secrets import _PATTERN_MARKERS, VALUE_PATTERNS, value_kind
from kubeharden.cli import main
from kubeharden.engine.evaluator import build_inventory
from kubeharden.sources.files import parse_text


def scan_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, *extra: str) -> list[dict]:
    """The findings of ``kubeharden scan`` (JSON, one process, no config) of ``text``."""
    path = tmp_path / "in.yaml"
    path.write_text(textwrap.dedent(text))
    capsys.readouterr()
    assert main(["scan", str(path), "--format", "json", "--no-config", "--fail-on", "none", "--jobs", "1",
                 *extra]) == 0
    return json.loads(capsys.readouterr().out)["findings"]


def by_namespace(findings: list[dict], control: str) -> dict[str | None, list[dict]]:
    out: dict[str | None, list[dict]] = {}
    for f in findings:
        if f["control_id"] == control:
            out.setdefault(f["resource"]["namespace"], []).append(f)
    return out


def deployment(namespace: str, name: str = "build", account: str = "builder", container: str = "main",
               extra: str = "") -> str:
    return f"""
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      serviceAccountName: {account}
      containers: [{{name: {container}, image: "registry.example.com/{name}:1.0"{extra}}}]
"""


# -- 1. credentials: every pattern's literal markers ------------------------------------------------------

#: Made-up values of each credential kind, by the kind's VALUE_PATTERNS name: one per marker of the kind at
#: least (GitHub: ghp_ personal, gho_ OAuth, ghu_ user-to-server, ghs_ server-to-server, ghr_ refresh, and the
#: fine-grained github_pat_ tokens).
SAMPLES: dict[str, list[str]] = {
    "a private key": ["-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA",
                      "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIG"],
    "an AWS access key ID": ["AKIA" + "Q7ZRT3MXWN5PLK2B", "ASIA" + "Q7ZRT3MXWN5PLK2B", "ABIA" + "Q7ZRT3MXWN5PLK2B",
                             "ACCA" + "Q7ZRT3MXWN5PLK2B"],
    "a GitHub token": [prefix + "Zq8wR2tY6uI0oP4aS8dF2gH6jK0lZ3xC7vB1" for prefix in ("ghp_", "gho_", "ghu_", "ghs_",
                                                                                    "ghr_")]
                      + ["github_pat_" + "11AB2CD3E0" + "_" + "q" * 40],
    "a GitLab token": ["glpat-" + "x7Kq2Zr9Lm4Np8Ws1Vt6"],
    "a Slack token": ["xoxb-" + "2048-9931-Zq8wR2tY6u", "xoxp-" + "2048-9931-Zq8wR2tY6u"],
    "a Google API key": ["AIza" + "Sy" + "Zq8wR2tY6uI0oP4aS8dF2gH6jK0lZ3xC7"],
    "a Stripe secret key": ["sk_live_" + "Zq8wR2tY6uI0oP4aS8dF2g", "rk_live_" + "Zq8wR2tY6uI0oP4aS8dF2g"],
    "an OpenAI-style API key": ["sk-" + "Zq8wR2tY6uI0oP4aS8dF2gH6jK0lZ3xC7vB1"],
    "a JSON Web Token": ["eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJidWlsZGVyIn0.Zq8wR2tY6uI0oP4aS8dF2g"],
    "credentials in a URL": ["postgres://report:Zq8wR2tY@db.internal.example:5432/sales"],
}


def test_every_value_pattern_has_markers_and_samples():
    """A pattern added without markers (or with its markers out of line) would be skipped by value_kind."""
    assert len(_PATTERN_MARKERS) == len(VALUE_PATTERNS)
    assert [kind for kind, _ in VALUE_PATTERNS] == list(SAMPLES)
    for (kind, _), markers in zip(VALUE_PATTERNS, _PATTERN_MARKERS, strict=True):
        assert markers and all(markers), kind


@pytest.mark.parametrize("index", range(len(VALUE_PATTERNS)))
def test_each_pattern_detects_its_samples_through_its_markers(index):
    kind, pattern = VALUE_PATTERNS[index]
    markers = _PATTERN_MARKERS[index]
    covered = set()
    for sample in SAMPLES[kind]:
        match = pattern.search(sample)
        assert match is not None, (kind, sample)
        held = [m for m in markers if m in match.group()]
        assert held, f"{kind}: no marker of {markers} in the match {match.group()!r}"
        covered.update(held)
        assert value_kind(sample) == kind, sample
        assert value_kind(f"value: {sample} ") == kind, sample
    assert covered == set(markers), f"{kind}: no sample holds {set(markers) - covered}"


def test_github_oauth_token_in_an_env_value_is_found(tmp_path, capsys):
    """gho_ (an OAuth app's token) under a name that says nothing of a secret: only its value tells."""
    findings = scan_json(tmp_path, capsys, """
        apiVersion: v1
        kind: Pod
        metadata: {name: sync, namespace: tools}
        spec:
          containers:
          - name: sync
            image: registry.example.com/sync:2.1
            env:
            - {name: UPSTREAM, value: "gho_Zq8wR2tY6uI0oP4aS8dF2gH6jK0lZ3xC7vB1"}
            - {name: MIRROR, value: "ghs_Zq8wR2tY6uI0oP4aS8dF2gH6jK0lZ3xC7vB1"}
        """, "--control", "KH-SEC-001")
    assert sorted(f["message"] for f in findings if f["control_id"] == "KH-SEC-001") == [
        "env MIRROR: value looks like a GitHub token", "env UPSTREAM: value looks like a GitHub token"]


# -- 2. KH-RES-001..005: the message of one container name in two namespaces -------------------------------

def test_resource_messages_name_each_containers_own_namespace(tmp_path, capsys):
    """Containers named alike in two namespaces, neither with a LimitRange: each message names its own."""
    text = deployment("payments", name="api", account="default") + deployment("catalog", name="api",
                                                                               account="default")
    findings = scan_json(tmp_path, capsys, text)
    for control in ("KH-RES-001", "KH-RES-002", "KH-RES-003"):
        found = by_namespace(findings, control)
        assert set(found) == {"payments", "catalog"}, control
        for namespace, fs in found.items():
            for f in fs:
                assert f"namespace {namespace!r} has no LimitRange" in f["message"], (control, f["message"])
                assert f"in namespace {namespace!r}" in f["remediation"], (control, f["remediation"])


# -- 3. KH-POD-024: the token fix's reason names the pod's own account and binding --------------------------

RBAC_TWO_NAMESPACES = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: builder, namespace: ci}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: builder, namespace: web}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: read-config, namespace: ci}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: builder-config, namespace: ci}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-config}
subjects: [{kind: ServiceAccount, name: builder, namespace: ci}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: read-secrets, namespace: web}
rules: [{apiGroups: [""], resources: [secrets], verbs: [list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: builder-secrets, namespace: web}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-secrets}
subjects: [{kind: ServiceAccount, name: builder, namespace: web}]
"""


def test_token_fix_reason_names_the_pods_own_namespace_binding(tmp_path, capsys):
    findings = scan_json(tmp_path, capsys, RBAC_TWO_NAMESPACES + deployment("ci") + deployment("web"),
                         "--control", "KH-POD-024")
    found = {ns: [f["fix"]["because"] for f in fs] for ns, fs in by_namespace(findings, "KH-POD-024").items()}
    assert found == {
        "ci": ["not safe: RoleBinding/ci/builder-config -> Role/ci/read-config grants ServiceAccount ci/builder "
               "get configmaps [core]"],
        "web": ["not safe: RoleBinding/web/builder-secrets -> Role/web/read-secrets grants ServiceAccount "
                "web/builder list secrets [core]"],
    }


# -- 4 and 5. KH-RBAC-019: one ClusterRole granted cluster-wide to one account, in a namespace to another ----

def cluster_role_granted_twice(rules: str) -> str:
    return f"""
apiVersion: v1
kind: ServiceAccount
metadata: {{name: builder, namespace: ci}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: builder, namespace: web}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: debugger}}
rules: {rules}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: ci-debugger}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: debugger}}
subjects: [{{kind: ServiceAccount, name: builder, namespace: ci}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: web-debugger, namespace: web}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: debugger}}
subjects: [{{kind: ServiceAccount, name: builder, namespace: web}}]
""" + deployment("ci") + deployment("web")


def account_risks(findings: list[dict]) -> dict[str | None, str]:
    found = by_namespace(findings, "KH-RBAC-019")
    assert all(len(fs) == 1 for fs in found.values()), found
    return {ns: fs[0]["message"] for ns, fs in found.items()}


def test_a_wildcard_rule_bound_in_a_namespace_carries_no_cluster_scoped_risk(tmp_path, capsys):
    """resources '*' of the core group is effective whole in a namespace, but the cluster-scoped requests it
    matches (nodes/proxy) are not granted there: the risks of one rule differ by the scope of the grant."""
    findings = scan_json(tmp_path, capsys, cluster_role_granted_twice(
        '[{apiGroups: [""], resources: ["*"], verbs: [get, create]}]'), "--control", "KH-RBAC-019")
    risks = account_risks(findings)
    assert "reach the kubelet API through nodes/proxy (cluster-wide)" in risks["ci"]
    assert "run commands in or connect to running containers (web)" in risks["web"]
    assert "nodes/proxy" not in risks["web"], risks["web"]


def test_a_rule_asked_in_a_namespace_first_is_still_described_whole_cluster_wide(tmp_path, capsys):
    """KH-RBAC-019 runs before KH-RBAC-024 and asks first for the web account (RoleBinding: ingressclasses are
    cluster-scoped, so in namespace web only the networkpolicies part of the rule authorises anything). The
    ClusterRole is also bound cluster-wide, so KH-RBAC-024 judges the whole rule and quotes it whole."""
    rules = '[{apiGroups: [networking.k8s.io], resources: [networkpolicies, ingressclasses], verbs: [create, delete]}]'
    text = cluster_role_granted_twice(rules)
    web_first = text.replace(deployment("ci") + deployment("web"), deployment("web") + deployment("ci"))
    assert web_first != text
    findings = scan_json(tmp_path, capsys, web_first, "--control", "KH-RBAC-019", "--control", "KH-RBAC-024")
    assert [f["control_id"] for f in findings][:2] == ["KH-RBAC-019", "KH-RBAC-019"]
    [role] = [f["message"] for f in findings if f["control_id"] == "KH-RBAC-024"]
    assert role.startswith("ClusterRole debugger can create, change or delete NetworkPolicies: create,delete "
                           "networkpolicies (networking.k8s.io) (rule: create,delete ingressclasses,networkpolicies "
                           "[networking.k8s.io]); bound to "), role
    risks = account_risks(findings)
    assert risks["web"].endswith("gives: create, change or delete NetworkPolicies (web) via "
                                 "RoleBinding/web/web-debugger -> ClusterRole/debugger")
    assert risks["ci"].endswith("gives: create, change or delete NetworkPolicies (cluster-wide) via "
                                "ClusterRoleBinding/ci-debugger -> ClusterRole/debugger")


# -- 6. address blocks: ingress and egress of one class -----------------------------------------------------

NETWORK = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: store}
spec:
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers: [{name: shop, image: "registry.example.com/shop:1.0", ports: [{containerPort: 8443}]}]
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: store}
spec:
  type: LoadBalancer
  selector: {app: shop}
  ports: [{port: 443, targetPort: 8443}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: shop, namespace: store}
spec:
  podSelector: {matchLabels: {app: shop}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{ipBlock: {cidr: 0.0.0.0/0}}]
    ports: [{protocol: TCP, port: 8443}]
  egress:
  - to: [{ipBlock: {cidr: 10.20.0.0/16}}]
    ports: [{protocol: TCP, port: 5432}]
"""


def test_internet_exposure_is_judged_on_ingress_rules_after_egress_was_asked(tmp_path, capsys):
    """KH-NET-006 asks whether the pod may connect out (egress blocks: only 10.20.0.0/16) before KH-IMG-011 asks
    whether the internet may connect in through its LoadBalancer (ingress blocks: 0.0.0.0/0) for the same
    class: each answer is its own direction's."""
    report = tmp_path / "trivy.json"
    report.write_text(trivy_report("registry.example.com/shop:1.0",
                                   [("CVE-2024-0001", "CRITICAL", "openssl", "3.0.11", "3.0.13")]))
    findings = scan_json(tmp_path, capsys, NETWORK, "--vuln-report", str(report))
    [vuln] = [f for f in findings if f["control_id"] == "KH-IMG-011"]
    assert "reachable from the internet" in vuln["message"], vuln["message"]
    assert [f["message"] for f in findings if f["control_id"] == "KH-NET-006"] == []


def test_matrix_lists_ingress_blocks_apart_from_egress_blocks(tmp_path, capsys):
    """The matrix asks for the egress, then the ingress blocks of the class: each row is its own direction's."""
    path = tmp_path / "in.yaml"
    path.write_text(NETWORK)
    capsys.readouterr()
    assert main(["netpol", "matrix", str(path), "--format", "json", "--no-config"]) == 0
    shop = {"namespace": "store", "kind": "Deployment", "name": "shop"}
    assert json.loads(capsys.readouterr().out) == [
        {"src": shop, "dst": {"cidr": "10.20.0.0/16"}, "ports": ["TCP 5432"]},
        {"src": {"cidr": "0.0.0.0/0"}, "dst": shop, "ports": ["TCP 8443"]},
    ]


def test_blocks_of_one_class_keep_their_direction_whatever_is_asked_first():
    """Outside addresses: the internet may connect in on 8443 (ingress ipBlock 0.0.0.0/0), the pod may connect
    out only to 10.20.0.0/16 on 5432. Asked in either order on one engine, each direction answers alike."""
    inventory, problems = build_inventory(parse_text(NETWORK, "in.yaml"))
    assert not problems
    outside, inside = ipaddress.ip_address("203.0.113.7"), ipaddress.ip_address("10.20.4.4")
    [klass] = [k.index for k in Network(inventory).classes if k.ingress_isolated and k.egress_isolated]
    for first in ("ingress", "egress"):
        network = Network(inventory)
        answers = {}
        for direction in (first, "ingress" if first == "egress" else "egress"):
            if direction == "ingress":
                answers[direction] = [str(p) for p in (network.ingress_from_address(klass, outside)[0],
                                                       network.ingress_from_address(klass, inside)[0])]
            else:
                answers[direction] = [str(p) for p in (network.egress_to_address(klass, outside)[0],
                                                       network.egress_to_address(klass, inside)[0])]
        assert answers == {"ingress": ["TCP 8443", "TCP 8443"], "egress": [str(PortSet()), "TCP 5432"]}, first
