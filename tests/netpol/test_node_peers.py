"""Egress to node addresses (the kubelet API) when AdminNetworkPolicies, baselines or Cilium decide.

Expected answers worked out by hand from the network-policy-api reference (v1alpha1: an
AdminNetworkPolicy Deny is final and evaluated before NetworkPolicies; a ``nodes`` peer selects
the nodes' addresses; the baseline decides what no NetworkPolicy isolates) and from Cilium's
"Layer 3 Examples" (CIDR rules do not select node addresses unless policy-cidr-match-mode
includes nodes).
"""

from __future__ import annotations

import json

import pytest
from netpol_clusters import deploy, policy
from test_network_controls import run

from kubeharden.cli import main

ANP = "policy.networking.k8s.io/v1alpha1"
WEB = deploy("web", "shop", {"app": "web"}, ports=[{"containerPort": 8080}])
DB = deploy("db", "shop", {"app": "db"}, ports=[{"name": "pg", "containerPort": 5432}])
KUBELET = [{"portNumber": {"protocol": "TCP", "port": 10250}}, {"portNumber": {"protocol": "TCP", "port": 10255}}]
ALL_NODES = [{"nodes": {"matchLabels": {}}}]
WEB_PODS = {"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "web"}}}}


def anp(name: str, spec: dict, kind: str = "AdminNetworkPolicy") -> str:
    meta = {"name": name if kind == "AdminNetworkPolicy" else "default"}
    return json.dumps({"apiVersion": ANP, "kind": kind, "metadata": meta, "spec": spec})


def deny_nodes(subject: dict, ports: list | None = KUBELET, kind: str = "AdminNetworkPolicy") -> str:
    rule = {"name": "no-kubelet", "action": "Deny", "to": ALL_NODES, **({"ports": ports} if ports else {})}
    return anp("deny-kubelet", {**({"priority": 5} if kind == "AdminNetworkPolicy" else {}), "subject": subject,
                                "egress": [rule]}, kind)


def can_reach(tmp_path, capsys, docs: list[str], src: str, dst: str, config: str | None = None) -> tuple[int, str]:
    path = tmp_path / "in.yaml"
    path.write_text("\n---\n".join(docs))
    extra = []
    if config is not None:
        cfg = tmp_path / "kh.yaml"
        cfg.write_text(config)
        extra = ["--config", str(cfg)]
    code = main(["netpol", "can-reach", src, dst, str(path), *extra])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("subject", [{"namespaces": {}}, WEB_PODS], ids=["namespaces", "pods"])
@pytest.mark.parametrize("ports", [KUBELET, None], ids=["kubelet-ports", "no-ports"])
def test_admin_deny_to_nodes_blocks_the_kubelet(tmp_path, capsys, subject, ports):
    docs = [WEB, DB, deny_nodes(subject, ports)]
    code, out = can_reach(tmp_path, capsys, docs, "web", "nodes:10250")
    assert code == 1 and out.rstrip().endswith("result: BLOCKED"), out
    assert "AdminNetworkPolicy deny-kubelet egress[0] (no-kubelet)" in out and "Deny TCP 10250" in out
    assert "not isolated" not in out  # the NetworkPolicy layer's default never overrides the Deny
    findings, _ = run("KH-NET-016", WEB, DB, deny_nodes(subject, ports))
    flagged = {f.resource.name for f in findings}
    assert "web" not in flagged
    assert ("db" in flagged) == (subject == WEB_PODS)  # db is not a subject of the pods policy


def test_admin_deny_on_some_ports_leaves_the_others(tmp_path, capsys):
    docs = [WEB, deny_nodes({"namespaces": {}}, KUBELET[:1])]
    findings, _ = run("KH-NET-016", *docs)
    assert len(findings) == 1 and "(TCP 10255)" in findings[0].message and "TCP 10250" not in findings[0].message
    code, out = can_reach(tmp_path, capsys, docs, "web", "nodes:10255")
    assert code == 0 and "allows TCP 10255" in out and "TCP 10250" not in out


def test_admin_deny_for_labelled_nodes_only_leaves_other_nodes_reachable(tmp_path, capsys):
    """Node labels are not in manifests: a Deny to some nodes cannot be taken to cover all of them."""
    rule = {"action": "Deny", "to": [{"nodes": {"matchLabels": {"node-role.kubernetes.io/control-plane": ""}}}]}
    docs = [WEB, anp("cp", {"priority": 5, "subject": {"namespaces": {}}, "egress": [rule]})]
    code, _ = can_reach(tmp_path, capsys, docs, "web", "nodes:10250")
    assert code == 0
    assert run("KH-NET-016", *docs)[0]


def test_admin_allow_to_nodes_wins_over_a_networkpolicy_deny():
    deny_egress = policy("deny", "shop", {"podSelector": {}, "policyTypes": ["Egress"]})
    allow = anp("allow-kubelet", {"priority": 1, "subject": {"namespaces": {}},
                                  "egress": [{"action": "Allow", "to": ALL_NODES, "ports": KUBELET[:1]}]})
    findings, _ = run("KH-NET-016", WEB, deny_egress, allow)
    assert len(findings) == 1 and "AdminNetworkPolicy allow-kubelet egress[0]" in findings[0].message
    assert run("KH-NET-016", WEB, deny_egress)[0] == []


def test_admin_deny_to_networks_covering_the_node_networks(tmp_path, capsys):
    rule = {"action": "Deny", "to": [{"networks": ["10.0.0.0/16"]}], "ports": KUBELET}
    docs = [WEB, anp("deny-node-net", {"priority": 5, "subject": {"namespaces": {}}, "egress": [rule]})]
    config = "node_networks: [10.0.0.0/16]\n"
    assert run("KH-NET-016", *docs, config={"node_networks": ["10.0.0.0/16"]})[0] == []
    code, out = can_reach(tmp_path, capsys, docs, "web", "nodes:10250", config)
    assert code == 1 and "Deny TCP 10250" in out
    # nodes may be anywhere in the private ranges: the rest of them stays reachable
    findings, _ = run("KH-NET-016", *docs)
    assert findings and "10.0.0.0/16" not in findings[0].message.split("node addresses in ")[1].split(" on ")[0]


def test_baseline_deny_to_nodes_applies_when_no_networkpolicy_isolates(tmp_path, capsys):
    baseline = deny_nodes({"namespaces": {}}, None, kind="BaselineAdminNetworkPolicy")
    code, out = can_reach(tmp_path, capsys, [WEB, baseline], "web", "nodes:10250")
    assert code == 1 and "BaselineAdminNetworkPolicy default egress[0] (no-kubelet)" in out
    assert run("KH-NET-016", WEB, baseline)[0] == []
    # a NetworkPolicy isolating egress takes over: the baseline is not reached
    open_egress = policy("all-out", "shop", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]})
    findings, _ = run("KH-NET-016", WEB, baseline, open_egress)
    assert findings and "NetworkPolicy shop/all-out egress[0]" in findings[0].message


def test_cilium_cidr_rules_do_not_select_node_addresses():
    """Cilium's default policy-cidr-match-mode: node IPs carry the host/remote-node identities."""
    cnp = policy("c", "shop", {"endpointSelector": {}, "egress": [{"toCIDR": ["10.0.0.0/8"]}]},
                 api_version="cilium.io/v2", kind="CiliumNetworkPolicy")
    assert run("KH-NET-016", WEB, cnp)[0] == []
    world = policy("w", "shop", {"endpointSelector": {}, "egress": [{"toEntities": ["world"]}]},
                   api_version="cilium.io/v2", kind="CiliumNetworkPolicy")
    assert run("KH-NET-016", WEB, world)[0] == []
    host = policy("h", "shop", {"endpointSelector": {}, "egress": [{"toEntities": ["remote-node"]}]},
                  api_version="cilium.io/v2", kind="CiliumNetworkPolicy")
    findings, _ = run("KH-NET-016", WEB, host)
    assert findings and "CiliumNetworkPolicy" in findings[0].message
