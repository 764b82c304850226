"""AdminNetworkPolicy and BaselineAdminNetworkPolicy, evaluated with NetworkPolicy in their layers.

Each expected answer is worked out by hand from the network-policy-api reference and KEP-2091:
priority order, first matching rule decides, Pass falls through to NetworkPolicy then to the
baseline, named ports resolve in the destination pod, networks and nodes peers in egress.
"""

from __future__ import annotations

import json

import pytest
from netpol_clusters import build, deploy, namespace, pairs, policy

from kubeharden.analysis.admin_policies import parse_admin_policy
from kubeharden.analysis.policies import PolicyError
from kubeharden.engine.evaluator import build_inventory
from kubeharden.sources.files import parse_text

GROUP = "policy.networking.k8s.io/v1alpha1"

WEB = deploy("web", "shop", {"app": "web"}, ports=[{"name": "http", "containerPort": 8080}])
DB = deploy("db", "shop", {"app": "db"}, ports=[{"name": "pg", "containerPort": 5432}])
CLIENT = deploy("client", "other", {"app": "client"})
NAMESPACES = [namespace("shop", {"team": "shop"}), namespace("other", {"team": "other"})]


def anp(name: str, priority: int, spec: dict) -> str:
    return json.dumps({"apiVersion": GROUP, "kind": "AdminNetworkPolicy", "metadata": {"name": name},
                       "spec": {"priority": priority, **spec}})


def banp(spec: dict) -> str:
    return json.dumps({"apiVersion": GROUP, "kind": "BaselineAdminNetworkPolicy", "metadata": {"name": "default"},
                       "spec": spec})


SHOP = {"namespaces": {"matchLabels": {"team": "shop"}}}
FROM_ALL = [{"namespaces": {}}]


def test_deny_wins_over_a_networkpolicy_allow():
    allow_all = policy("allow", "shop", {"podSelector": {}, "ingress": [{}]})
    deny = anp("deny-other", 10, {"subject": SHOP, "ingress": [
        {"action": "Deny", "from": [{"namespaces": {"matchLabels": {"team": "other"}}}]}]})
    got = pairs(build(*NAMESPACES, WEB, CLIENT, allow_all, deny))
    assert ("other/client", "shop/web") not in got
    assert got[("shop/web", "shop/web")] == "all"  # same namespace: not matched, the NetworkPolicy allows


def test_allow_wins_over_a_networkpolicy_deny():
    deny_all = policy("deny", "shop", {"podSelector": {}, "policyTypes": ["Ingress"]})
    allow = anp("allow-monitoring", 5, {"subject": SHOP, "ingress": [
        {"action": "Allow", "from": [{"namespaces": {"matchLabels": {"team": "other"}}}],
         "ports": [{"portNumber": {"protocol": "TCP", "port": 8080}}]}]})
    got = pairs(build(*NAMESPACES, WEB, CLIENT, deny_all, allow))
    assert got[("other/client", "shop/web")] == ["TCP 8080"]
    assert ("shop/web", "shop/web") not in got  # not matched by the ANP: the NetworkPolicy denies


def test_priority_order_and_first_rule_decides():
    """Lower priority value first; inside a policy the first matching rule decides per port."""
    deny_low = anp("deny", 20, {"subject": SHOP, "ingress": [{"action": "Deny", "from": FROM_ALL}]})
    allow_high = anp("allow", 10, {"subject": SHOP, "ingress": [
        {"action": "Allow", "from": FROM_ALL, "ports": [{"portRange": {"protocol": "TCP", "start": 8000,
                                                                       "end": 8100}}]}]})
    got = pairs(build(*NAMESPACES, WEB, CLIENT, deny_low, allow_high))
    assert got[("other/client", "shop/web")] == ["TCP 8000-8100"]
    # Swap the priorities: the deny is evaluated first and takes every port.
    deny_first = anp("deny", 5, {"subject": SHOP, "ingress": [{"action": "Deny", "from": FROM_ALL}]})
    assert ("other/client", "shop/web") not in pairs(build(*NAMESPACES, WEB, CLIENT, deny_first, allow_high))


def test_pass_goes_to_networkpolicy_then_baseline():
    passing = anp("pass", 1, {"subject": SHOP, "ingress": [{"action": "Pass", "from": FROM_ALL}]})
    deny_after = anp("deny", 2, {"subject": SHOP, "ingress": [{"action": "Deny", "from": FROM_ALL}]})
    baseline_deny = banp({"subject": SHOP, "ingress": [{"action": "Deny", "from": FROM_ALL}]})
    # Pass skips the later ANP deny; no NetworkPolicy selects web, so the baseline decides: deny.
    got = pairs(build(*NAMESPACES, WEB, CLIENT, passing, deny_after, baseline_deny))
    assert ("other/client", "shop/web") not in got
    # A NetworkPolicy selecting web decides before the baseline: it allows TCP 8080 only.
    np = policy("web", "shop", {"podSelector": {"matchLabels": {"app": "web"}},
                                "ingress": [{"ports": [{"port": "http"}]}]})
    got = pairs(build(*NAMESPACES, WEB, CLIENT, passing, deny_after, baseline_deny, np))
    assert got[("other/client", "shop/web")] == ["TCP 8080"]
    # Without the Pass, the ANP deny is final whatever the NetworkPolicy says.
    assert ("other/client", "shop/web") not in pairs(build(*NAMESPACES, WEB, CLIENT, deny_after, np))


def test_baseline_only_applies_to_pods_no_networkpolicy_isolates():
    baseline_deny = banp({"subject": SHOP, "ingress": [{"action": "Deny", "from": FROM_ALL}]})
    egress_only = policy("eg", "shop", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]})
    got = pairs(build(*NAMESPACES, WEB, CLIENT, baseline_deny, egress_only))
    assert ("other/client", "shop/web") not in got  # ingress not isolated by NP: the baseline denies
    allow_np = policy("in", "shop", {"podSelector": {}, "ingress": [{}]})
    assert pairs(build(*NAMESPACES, WEB, CLIENT, baseline_deny, allow_np))[("other/client", "shop/web")] == "all"


def test_named_ports_resolve_in_each_destination():
    deny_http = anp("deny-http", 1, {"subject": SHOP, "ingress": [
        {"action": "Deny", "from": FROM_ALL, "ports": [{"namedPort": "http"}]}]})
    got = pairs(build(*NAMESPACES, WEB, DB, CLIENT, deny_http))
    assert got[("other/client", "shop/web")] != "all" and "TCP 8080" not in got[("other/client", "shop/web")]
    assert got[("other/client", "shop/db")] == "all"  # db has no port named http


def test_pods_subject_and_peer():
    subject = {"pods": {"namespaceSelector": {"matchLabels": {"team": "shop"}},
                        "podSelector": {"matchLabels": {"app": "db"}}}}
    deny = anp("db", 1, {"subject": subject, "ingress": [
        {"action": "Deny", "from": [{"pods": {"namespaceSelector": {},
                                              "podSelector": {"matchLabels": {"app": "client"}}}}]}]})
    got = pairs(build(*NAMESPACES, WEB, DB, CLIENT, deny))
    assert ("other/client", "shop/db") not in got
    assert got[("shop/web", "shop/db")] == "all" and got[("other/client", "shop/web")] == "all"


def test_networks_peer_covers_pods_and_outside_addresses():
    deny_world = anp("deny-egress", 1, {"subject": SHOP, "egress": [
        {"action": "Allow", "to": [{"namespaces": {}}]},
        {"action": "Deny", "to": [{"networks": ["0.0.0.0/0", "::/0"]}]}]})
    got = pairs(build(*NAMESPACES, WEB, CLIENT, deny_world), external=True)
    assert got[("shop/web", "other/client")] == "all"  # allowed by the first rule
    assert ("shop/web", "0.0.0.0/0") not in got and ("shop/web", "::/0") not in got
    assert got[("other/client", "0.0.0.0/0")] == "all"  # not a subject
    # Without the first rule, networks 0.0.0.0/0 also denies pod-to-pod traffic.
    only_deny = anp("deny-egress", 1, {"subject": SHOP, "egress": [
        {"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]}]})
    assert ("shop/web", "other/client") not in pairs(build(*NAMESPACES, WEB, CLIENT, only_deny))


def test_networks_deny_is_cut_out_of_the_outside_addresses():
    deny_meta = anp("meta", 1, {"subject": {"namespaces": {}}, "egress": [
        {"action": "Deny", "to": [{"networks": ["169.254.169.254/32"]}]}]})
    got = pairs(build(*NAMESPACES, WEB, deny_meta), external=True)
    assert got[("shop/web", "0.0.0.0/0 except 169.254.169.254/32")] == "all"


def test_nodes_peer_reaches_host_network_pods_and_the_kubelet_control():
    node_agent = deploy("agent", "monitoring", {"app": "agent"}, host_network=True, kind="DaemonSet")
    deny_nodes = anp("nodes", 1, {"subject": SHOP, "egress": [
        {"action": "Deny", "to": [{"nodes": {}}], "ports": [{"portNumber": {"protocol": "TCP", "port": 10250}}]}]})
    got = pairs(build(*NAMESPACES, WEB, node_agent, deny_nodes))
    assert got[("shop/web", "monitoring/agent")] == ["TCP 1-10249", "TCP 10251-65535", "UDP 1-65535",
                                                     "SCTP 1-65535"]
    assert got[("shop/web", "shop/web")] == "all"  # pods are not nodes
    from test_network_controls import run
    deny_later = anp("deny-all", 2, {"subject": SHOP, "egress": [
        {"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]}]})
    deny_ns = policy("eg", "shop", {"podSelector": {}, "policyTypes": ["Egress"]})
    assert run("KH-NET-016", *NAMESPACES, WEB, deny_ns)[0] == []
    allow_kubelet = anp("kubelet", 1, {"subject": SHOP, "egress": [
        {"action": "Allow", "to": [{"nodes": {}}], "ports": [{"portNumber": {"protocol": "TCP", "port": 10250}}]}]})
    findings, _ = run("KH-NET-016", *NAMESPACES, WEB, deny_ns, allow_kubelet)
    assert findings and "AdminNetworkPolicy kubelet egress[0]" in findings[0].message
    assert "TCP 10250" in findings[0].message
    assert run("KH-NET-016", *NAMESPACES, WEB, deny_ns, allow_kubelet, deny_later)[0]  # the Allow comes first


def test_default_deny_controls_accept_an_admin_deny_all():
    from test_network_controls import run
    baseline = banp({"subject": {"namespaces": {}}, "ingress": [{"action": "Deny", "from": FROM_ALL}],
                     "egress": [{"action": "Deny", "to": FROM_ALL}]})
    assert run("KH-NET-001", *NAMESPACES, WEB, baseline)[0] == []
    # An ANP that only allows one port does not deny anything else.
    partial = anp("p", 1, {"subject": SHOP, "ingress": [{"action": "Allow", "from": FROM_ALL}]})
    findings, _ = run("KH-NET-001", namespace("shop", {"team": "shop"}), WEB, partial)
    assert findings and "AdminNetworkPolicy p" in findings[0].message


def test_can_reach_explains_the_layers(tmp_path, capsys):
    from kubeharden.cli import main
    passing = anp("pass", 1, {"subject": SHOP, "ingress": [{"action": "Pass", "from": FROM_ALL}]})
    np = policy("web", "shop", {"podSelector": {}, "policyTypes": ["Ingress"]})
    path = tmp_path / "in.yaml"
    path.write_text("\n---\n".join([*NAMESPACES, WEB, CLIENT, passing, np]))
    assert main(["netpol", "can-reach", "other/client", "shop/web:8080", str(path)]) == 1
    out = capsys.readouterr().out
    assert "AdminNetworkPolicy pass ingress[0]" in out and "Pass TCP 8080" in out
    assert "isolation of NetworkPolicy" in out and "BLOCKED" in out


@pytest.mark.parametrize(("spec", "field"), [
    ({"priority": 1001, "subject": SHOP}, "spec.priority"),
    ({"priority": 1, "subject": {}}, "spec.subject"),
    ({"priority": 1, "subject": SHOP, "ingress": [{"action": "Drop", "from": FROM_ALL}]}, "spec.ingress[0].action"),
    ({"priority": 1, "subject": SHOP, "ingress": [{"action": "Deny", "from": []}]}, "spec.ingress[0].from"),
    ({"priority": 1, "subject": SHOP, "ingress": [{"action": "Deny", "from": [{"networks": ["10.0.0.0/8"]}]}]},
     "spec.ingress[0].from[0]"),
    ({"priority": 1, "subject": SHOP, "egress": [{"action": "Deny", "to": FROM_ALL, "ports": [
        {"portRange": {"start": 90, "end": 80}}]}]}, "spec.egress[0].ports[0].portRange"),
])
def test_invalid_admin_policies_are_rejected(spec, field):
    text = json.dumps({"apiVersion": GROUP, "kind": "AdminNetworkPolicy", "metadata": {"name": "x"}, "spec": spec})
    inventory, _ = build_inventory(parse_text(text, "x.yaml"))
    obj = inventory.of_kind("AdminNetworkPolicy")[0]
    with pytest.raises(PolicyError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_admin_policy(obj)


def test_baseline_has_no_pass_and_is_named_default():
    text = banp({"subject": SHOP, "ingress": [{"action": "Pass", "from": FROM_ALL}]})
    inventory, _ = build_inventory(parse_text(text, "x.yaml"))
    with pytest.raises(PolicyError, match="not one of Allow, Deny"):
        parse_admin_policy(inventory.of_kind("BaselineAdminNetworkPolicy")[0])
    renamed = banp({"subject": SHOP}).replace('"name": "default"', '"name": "mine"')
    inventory, _ = build_inventory(parse_text(renamed, "x.yaml"))
    with pytest.raises(PolicyError, match="must be named 'default'"):
        parse_admin_policy(inventory.of_kind("BaselineAdminNetworkPolicy")[0])


def test_private_networks_may_hold_pods_and_are_read_towards_allowing():
    """Pod addresses are unknown: a private CIDR is taken to match pods for an Allow rule (so the
    analysis never hides traffic) and no pod for a Deny rule, and each choice is noted."""
    deny_ns = policy("deny", "shop", {"podSelector": {}, "policyTypes": ["Egress"]})
    allow_private = anp("a", 1, {"subject": SHOP, "egress": [{"action": "Allow", "to": [{"networks": ["10.0.0.0/8"]}]}]})
    net = build(*NAMESPACES, WEB, CLIENT, allow_private, deny_ns)
    assert pairs(net)[("shop/web", "other/client")] == "all"
    assert any("may hold pod addresses" in n and "every pod" in n for _, notes in net.not_evaluated() for n in notes)
    deny_private = anp("d", 1, {"subject": SHOP, "egress": [{"action": "Deny", "to": [{"networks": ["10.0.0.0/8"]}]}]})
    net = build(*NAMESPACES, WEB, CLIENT, deny_private)
    assert pairs(net)[("shop/web", "other/client")] == "all"
    assert pairs(net, external=True).get(("shop/web", "0.0.0.0/0 except 10.0.0.0/8")) == "all"
    public = anp("p", 1, {"subject": SHOP, "egress": [{"action": "Allow", "to": [{"networks": ["203.0.113.0/24"]}]}]})
    assert build(*NAMESPACES, WEB, public, deny_ns).not_evaluated() == []  # public space holds no pods


def test_admin_deny_of_the_metadata_address_satisfies_the_metadata_control():
    from test_network_controls import run
    deny_meta = anp("meta", 1, {"subject": {"namespaces": {}}, "egress": [
        {"action": "Deny", "to": [{"networks": ["169.254.169.254/32", "fd00:ec2::254/128"]}]}]})
    assert run("KH-NET-007", *NAMESPACES, WEB, deny_meta)[0] == []
    findings, _ = run("KH-NET-006", *NAMESPACES, WEB, deny_meta)
    assert findings and "0.0.0.0/0 except 169.254.169.254/32" in findings[0].message  # the rest stays open
    pass_meta = anp("meta", 1, {"subject": {"namespaces": {}}, "egress": [
        {"action": "Pass", "to": [{"networks": ["169.254.169.254/32"]}]}]})
    assert run("KH-NET-007", *NAMESPACES, WEB, pass_meta)[0]  # Pass leaves it to NetworkPolicy: none, open


def test_can_reach_nodes(tmp_path, capsys):
    from kubeharden.cli import main
    deny_ns = policy("deny", "shop", {"podSelector": {}, "policyTypes": ["Egress"]})
    allow_kubelet = anp("kubelet", 1, {"subject": SHOP, "egress": [
        {"action": "Allow", "to": [{"nodes": {}}], "ports": [{"portNumber": {"protocol": "TCP", "port": 10250}}]}]})
    path = tmp_path / "in.yaml"
    path.write_text("\n---\n".join([*NAMESPACES, WEB, deny_ns, allow_kubelet]))
    assert main(["netpol", "can-reach", "shop/web", "nodes:10250", str(path)]) == 0
    assert "AdminNetworkPolicy kubelet egress[0]" in capsys.readouterr().out
    assert main(["netpol", "can-reach", "shop/web", "nodes:22", str(path)]) == 1
    path.write_text("\n---\n".join([*NAMESPACES, WEB, deny_ns]))
    assert main(["netpol", "can-reach", "shop/web", "nodes:10250", str(path)]) == 1


def test_same_priority_is_named_as_undefined():
    one = anp("b-second", 7, {"subject": SHOP, "ingress": [{"action": "Deny", "from": FROM_ALL}]})
    two = anp("a-first", 7, {"subject": SHOP, "ingress": [{"action": "Allow", "from": FROM_ALL}]})
    net = build(*NAMESPACES, WEB, CLIENT, one, two)
    notes = [n for _, ns in net.not_evaluated() for n in ns]
    assert len(notes) == 2 and "shared by a-first, b-second" in notes[0]
    assert pairs(net)[("other/client", "shop/web")] == "all"  # by name: a-first (Allow) decides
