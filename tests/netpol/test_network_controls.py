"""The KH-NET controls: catalogue examples and the cases the messages must distinguish."""

from __future__ import annotations

import json

import pytest
from netpol_clusters import DENY_ALL, deploy, namespace, policy

from kubeharden.catalogue.loader import load_catalogue
from kubeharden.config import parse_config
from kubeharden.engine.evaluator import Evaluator
from kubeharden.sources.files import parse_text

NET_CONTROLS = [c for c in load_catalogue() if c.id.startswith("KH-NET-")]
STRICT = {"profile": "strict", "registries": ["registry.example.com"], "require_digest": True}


def run(control_id: str, *docs: str, config: dict | None = None):
    ev = Evaluator(parse_config({**STRICT, **(config or {})}), only=[control_id])
    findings = [f for f in ev.run(parse_text("\n---\n".join(docs), "in.yaml")) if f.control.id == control_id]
    return findings, ev.result


def test_every_area_control_is_in_the_catalogue():
    assert [c.id for c in NET_CONTROLS] == [f"KH-NET-{i:03d}" for i in range(1, 18)]


@pytest.mark.parametrize("control", NET_CONTROLS, ids=lambda c: c.id)
def test_catalogue_examples(control):
    failing, result = run(control.id, control.example_fail)
    assert failing and not result.problems
    passing, result = run(control.id, control.example_pass)
    assert passing == [] and not result.problems


WEB = deploy("web", "shop", {"app": "web"})


def test_default_deny_messages_and_fix():
    findings, _ = run("KH-NET-001", WEB)
    assert "no NetworkPolicy in namespace 'shop'" in findings[0].message
    assert "no Namespace object" in findings[0].message and findings[0].file == "in.yaml"
    assert "podSelector: {}" in findings[0].remediation and "namespace: shop" in findings[0].remediation
    some = policy("p", "shop", {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"]})
    findings, _ = run("KH-NET-001", WEB, some)
    assert "select only some pods" in findings[0].message
    findings, _ = run("KH-NET-002", WEB, policy("d", "shop", {"podSelector": {}, "policyTypes": ["Ingress"]}))
    assert findings and "Egress" in findings[0].message
    # Omitted policyTypes with egress rules isolates both directions.
    both = policy("d", "shop", {"podSelector": {}, "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]})
    assert run("KH-NET-001", WEB, both)[0] == [] and run("KH-NET-002", WEB, both)[0] == []


def test_system_namespaces_are_left_to_the_reachability_control():
    dns = deploy("coredns", "kube-system", {"k8s-app": "kube-dns"})
    for cid in ("KH-NET-001", "KH-NET-002", "KH-NET-003", "KH-NET-006", "KH-NET-007", "KH-NET-012"):
        assert run(cid, dns)[0] == [], cid
    findings, _ = run("KH-NET-001", dns, config={"system_namespaces": []})
    assert findings


def test_workload_isolation_per_direction_and_host_network():
    findings, _ = run("KH-NET-003", WEB)
    assert "Ingress or Egress" in findings[0].message and findings[0].resource.name == "web"
    host = deploy("agent", "shop", {"app": "agent"}, host_network=True)
    findings, _ = run("KH-NET-003", host, policy("d", "shop", DENY_ALL))
    assert len(findings) == 1 and "host network" in findings[0].message


def test_reachable_from_every_namespace_needs_a_future_proof_selector():
    not_kube = policy("p", "shop", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {
        "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                              "values": ["kube-system"]}]}}]}]})
    findings, _ = run("KH-NET-004", WEB, not_kube, deploy("x", "kube-system", {"a": "b"}))
    assert findings == []  # kube-system excluded: not every namespace
    every = policy("p", "shop", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {
        "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "Exists"}]}}],
        "ports": [{"port": 80}]}]})
    findings, _ = run("KH-NET-004", WEB, every)
    assert "TCP 80" in findings[0].message and "shop/p ingress[0]" in findings[0].message
    # Only an ipBlock: addresses outside the cluster, not namespaces.
    block = policy("p", "shop", {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]})
    assert run("KH-NET-004", WEB, block)[0] == []


def test_kube_system_reachability_excludes_dns_and_names_the_clients():
    dns = deploy("coredns", "kube-system", {"k8s-app": "kube-dns"},
                 [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                  {"name": "metrics", "containerPort": 9153}])
    dns_only = policy("dns", "kube-system", {"podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                                             "ingress": [{"ports": [{"port": 53, "protocol": "UDP"},
                                                                    {"port": 53}]}]})
    assert run("KH-NET-005", WEB, dns, dns_only)[0] == []
    metrics = policy("dns", "kube-system", {"podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                                            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                                                "kubernetes.io/metadata.name": "shop"}}}],
                                                "ports": [{"port": "metrics"}, {"port": 53}]}]})
    findings, _ = run("KH-NET-005", WEB, dns, metrics)
    assert len(findings) == 1 and "shop/Deployment/web" in findings[0].message
    assert findings[0].message.endswith("on TCP 9153")  # TCP 53 is DNS: expected, not reported


def test_internet_egress_wide_vs_narrow():
    narrow = policy("e", "shop", {"podSelector": {}, "policyTypes": ["Egress"],
                                  "egress": [{"to": [{"ipBlock": {"cidr": "52.94.0.0/16"}}]}]})
    assert run("KH-NET-006", WEB, narrow)[0] == []
    private = policy("e", "shop", {"podSelector": {}, "policyTypes": ["Egress"],
                                   "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]})
    assert run("KH-NET-006", WEB, private)[0] == []
    v6 = policy("e", "shop", {"podSelector": {}, "policyTypes": ["Egress"],
                              "egress": [{"to": [{"ipBlock": {"cidr": "::/0"}}], "ports": [{"port": 443}]}]})
    findings, _ = run("KH-NET-006", WEB, v6)
    assert "::/0 on TCP 443" in findings[0].message
    assert "no NetworkPolicy restricts its egress" in run("KH-NET-006", WEB)[0][0].message


def test_metadata_explicit_allow_and_except():
    explicit = policy("e", "shop", {"podSelector": {}, "policyTypes": ["Egress"],
                                    "egress": [{"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}]}]})
    findings, _ = run("KH-NET-007", WEB, explicit)
    assert "explicitly allowed by NetworkPolicy shop/e egress[0]" in findings[0].message
    v6 = policy("e", "shop", {"podSelector": {}, "policyTypes": ["Egress"],
                              "egress": [{"to": [{"ipBlock": {"cidr": "fd00::/8"}}]}]})
    findings, _ = run("KH-NET-007", WEB, v6)
    assert "fd00:ec2::254" in findings[0].message and "does not except" in findings[0].message
    excepted = policy("e", "shop", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {
        "cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}}]}]})
    assert run("KH-NET-007", WEB, excepted)[0] == []
    anywhere = policy("e", "shop", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": 80}]}]})
    findings, _ = run("KH-NET-007", WEB, anywhere)
    assert "on TCP 80" in findings[0].message and "every destination" in findings[0].message


def test_cilium_and_calico_no_longer_silence_the_namespace():
    """One Cilium/Calico policy used to silence KH-NET-001..007 for its whole namespace."""
    cnp = policy("c", "shop", {"endpointSelector": {"matchLabels": {"app": "other"}}, "ingress": [{}]},
                 api_version="cilium.io/v2", kind="CiliumNetworkPolicy")
    for cid in ("KH-NET-001", "KH-NET-002", "KH-NET-003", "KH-NET-006", "KH-NET-007"):
        assert run(cid, WEB, cnp)[0], cid  # web is selected by nothing: still reported
    calico = policy("k", "shop", {"selector": "all()", "types": ["Ingress", "Egress"]},
                    api_version="projectcalico.org/v3")
    assert run("KH-NET-003", WEB, calico)[0] == [] and run("KH-NET-001", WEB, calico)[0] == []
    assert run("KH-NET-015", calico)[0] == []  # a valid Calico policy
    bad = policy("k", "shop", {"selector": "app = 'x'"}, api_version="projectcalico.org/v3")
    findings, _ = run("KH-NET-015", bad)
    assert findings and "spec.selector" in findings[0].message


def test_services_exposure():
    def svc(spec: dict, annotations: dict | None = None) -> str:
        meta = {"name": "s", "namespace": "shop", **({"annotations": annotations} if annotations else {})}
        return json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec})

    assert run("KH-NET-009", svc({"type": "LoadBalancer"}, {
        "service.beta.kubernetes.io/load-balancer-source-ranges": "10.0.0.0/8"}))[0] == []
    findings, _ = run("KH-NET-009", svc({"type": "LoadBalancer", "loadBalancerSourceRanges": ["0.0.0.0/0"]}))
    assert "every address" in findings[0].message
    assert "LoadBalancer" in run("KH-NET-008", svc({"type": "LoadBalancer"}))[0][0].message
    assert run("KH-NET-010", svc({"externalIPs": []}))[0] == []


def test_ingress_tls_covers_hosts():
    def ing(tls: list, hosts: list[str]) -> str:
        return json.dumps({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                           "metadata": {"name": "i", "namespace": "shop"},
                           "spec": {"tls": tls, "rules": [{"host": h} for h in hosts]}})

    assert run("KH-NET-011", ing([{"hosts": ["*.example.com"]}], ["a.example.com"]))[0] == []
    findings, _ = run("KH-NET-011", ing([{"hosts": ["*.example.com"]}], ["a.b.example.com", "example.com"]))
    assert "a.b.example.com, example.com" in findings[0].message
    assert run("KH-NET-011", ing([{"secretName": "default-cert"}], ["x.example.com"]))[0] == []


def test_limit_range_must_be_complete():
    partial = json.dumps({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l", "namespace": "shop"},
                          "spec": {"limits": [{"type": "Container", "default": {"cpu": "1", "memory": "1Gi"}}]}})
    findings, _ = run("KH-NET-012", WEB, partial)
    assert "defaultRequest.cpu" in findings[0].message and "max.memory" in findings[0].message
    assert findings[0].resource.kind == "LimitRange"


def test_resource_quota_scoped_and_aliases():
    def quota(hard: dict, **spec) -> str:
        return json.dumps({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "shop"},
                           "spec": {"hard": hard, **spec}})

    full = {"cpu": "4", "memory": "8Gi", "limits.cpu": "8", "limits.memory": "16Gi"}
    assert run("KH-NET-013", namespace("shop"), quota(full))[0] == []
    findings, _ = run("KH-NET-013", namespace("shop"), quota(full, scopes=["BestEffort"]))
    assert "only scoped" in findings[0].message
    findings, _ = run("KH-NET-013", namespace("shop"))
    assert "has no ResourceQuota" in findings[0].message


def test_bad_input_does_not_crash_the_controls():
    docs = [WEB,
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x, namespace: shop}\nspec: 7",
            policy("y", "shop", {"podSelector": {"matchExpressions": "nope"}}),
            "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: shop}\nspec: [1, 2]",
            "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q, namespace: shop}\nspec: {hard: [1]}",
            "apiVersion: v1\nkind: LimitRange\nmetadata: {name: l, namespace: shop}\nspec: {limits: {a: 1}}"]
    ev = Evaluator(parse_config(STRICT))
    findings = list(ev.run(parse_text("\n---\n".join(docs), "bad.yaml")))
    invalid = [f for f in findings if f.control.id == "KH-NET-015"]
    assert {f.resource.name for f in invalid} == {"x", "y"}
    assert any(f.control.id == "KH-NET-003" for f in findings)  # the broken policies protect nothing


def test_invalid_policy_points_at_the_field():
    text = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: a}
spec:
  podSelector: {}
  ingress:
    - from:
        - podSelector: {}
      ports:
        - port: 80
        - port: 90
          endPort: 10
"""
    findings, _ = run("KH-NET-015", text)
    assert findings[0].line == 12 and "spec.ingress[0].ports[1].endPort" in findings[0].message
    findings, _ = run("KH-NET-015", text.replace("        - podSelector: {}\n", "        - {}\n"))
    assert findings[0].line == 8 and "spec.ingress[0].from[0]" in findings[0].message


def test_kubelet_egress_and_configured_node_networks():
    partner = policy("p", "shop", {"podSelector": {}, "policyTypes": ["Egress"],
                                   "egress": [{"to": [{"ipBlock": {"cidr": "10.1.2.3/32"}}]}]})
    findings, _ = run("KH-NET-016", WEB, partner)  # nodes unknown: any private address may be a node
    assert findings and "10.1.2.3/32 on TCP 10250, TCP 10255" in findings[0].message
    assert run("KH-NET-016", WEB, partner, config={"node_networks": ["192.168.10.0/24"]})[0] == []
    wide = policy("w", "shop", {"podSelector": {}, "policyTypes": ["Egress"],
                                "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0",
                                                                "except": ["192.168.10.0/24"]}}]}]})
    assert run("KH-NET-016", WEB, wide, config={"node_networks": ["192.168.10.0/24"]})[0] == []
    assert run("KH-NET-016", WEB, wide, config={"node_networks": ["192.168.0.0/16"]})[0]
    only_dns = policy("d", "shop", {"podSelector": {}, "policyTypes": ["Egress"],
                                    "egress": [{"ports": [{"protocol": "UDP", "port": 53}]}]})
    assert run("KH-NET-016", WEB, only_dns)[0] == []
    assert "is reachable" in run("KH-NET-016", WEB)[0][0].message  # egress not isolated
    with pytest.raises(Exception, match="node_networks"):
        parse_config({"node_networks": ["10.0.0.0/33"]})


def test_default_deny_names_the_kinds_of_the_namespace_policies():
    """A namespace whose only policy is a CiliumNetworkPolicy must not be said to have NetworkPolicies."""
    cnp = policy("c", "shop", {"endpointSelector": {"matchLabels": {"app": "other"}}, "ingress": [{}],
                               "egress": [{}]}, api_version="cilium.io/v2", kind="CiliumNetworkPolicy")
    for cid in ("KH-NET-001", "KH-NET-002"):
        findings, _ = run(cid, WEB, cnp)
        assert "its policies (1 CiliumNetworkPolicy) select only some pods" in findings[0].message, cid
    some = policy("n1", "shop", {"podSelector": {"matchLabels": {"app": "x"}}, "ingress": [{}]})
    more = policy("n2", "shop", {"podSelector": {"matchLabels": {"app": "y"}}, "ingress": [{}]})
    findings, _ = run("KH-NET-001", WEB, cnp, some, more)
    assert "(1 CiliumNetworkPolicy, 2 NetworkPolicies)" in findings[0].message
