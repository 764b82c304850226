"""Cilium and Calico policies: which pods they select and what their L3/L4 rules allow or deny.

Expected answers follow Cilium's policy docs (default deny per direction with a non-empty
section, deny rules first, endpoint selectors scoped to the namespace, toPorts alone applies to
every peer, an empty rule allows nothing) and Calico's reference (selector expressions, types
default, order then first matching rule, Pass, tiers).
"""

from __future__ import annotations

import json

import pytest
from netpol_clusters import build, deploy, namespace, pairs, policy

from kubeharden.analysis.calico_selectors import compile_calico
from kubeharden.analysis.selectors import SelectorError

WEB = deploy("web", "shop", {"app": "web"}, ports=[{"name": "http", "containerPort": 8080}])
DB = deploy("db", "shop", {"app": "db"})
CLIENT = deploy("client", "other", {"app": "client"})
NAMESPACES = [namespace("shop", {"team": "shop"}), namespace("other", {"team": "other"})]


def cnp(name: str, ns: str, spec: dict, clusterwide: bool = False) -> str:
    kind = "CiliumClusterwideNetworkPolicy" if clusterwide else "CiliumNetworkPolicy"
    meta = {"name": name} if clusterwide else {"name": name, "namespace": ns}
    return json.dumps({"apiVersion": "cilium.io/v2", "kind": kind, "metadata": meta, "spec": spec})


def calico(name: str, ns: str | None, spec: dict) -> str:
    kind = "GlobalNetworkPolicy" if ns is None else "NetworkPolicy"
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return json.dumps({"apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": meta, "spec": spec})


# -- Cilium ----------------------------------------------------------------------------------------

def test_cilium_selects_endpoints_and_isolates_only_its_directions():
    only_web = cnp("web", "shop", {"endpointSelector": {"matchLabels": {"app": "web"}},
                                   "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "db"}}]}]})
    got = pairs(build(*NAMESPACES, WEB, DB, CLIENT, only_web))
    assert got[("shop/db", "shop/web")] == "all"
    assert ("other/client", "shop/web") not in got  # fromEndpoints stays in the policy's namespace
    assert got[("shop/web", "other/client")] == "all"  # no egress section: egress untouched
    assert got[("other/client", "shop/db")] == "all"  # db is not selected


def test_cilium_namespace_label_and_k8s_prefix():
    across = cnp("web", "shop", {"endpointSelector": {"matchLabels": {"k8s:app": "web"}}, "ingress": [
        {"fromEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "other"}}],
         "toPorts": [{"ports": [{"port": "http", "protocol": "TCP"}]}]}]})
    got = pairs(build(*NAMESPACES, WEB, DB, CLIENT, across))
    assert got[("other/client", "shop/web")] == ["TCP 8080"]
    assert ("shop/db", "shop/web") not in got


def test_cilium_to_ports_alone_means_every_peer_and_empty_rule_nothing():
    ports_only = cnp("p", "shop", {"endpointSelector": {"matchLabels": {"app": "web"}},
                                   "ingress": [{"toPorts": [{"ports": [{"port": "443"}]}]}]})
    got = pairs(build(*NAMESPACES, WEB, CLIENT, ports_only))
    assert got[("other/client", "shop/web")] == ["TCP 443", "UDP 443", "SCTP 443"]  # protocol ANY
    empty = cnp("e", "shop", {"endpointSelector": {}, "ingress": [{}]})
    assert ("other/client", "shop/web") not in pairs(build(*NAMESPACES, WEB, CLIENT, empty))


def test_cilium_deny_beats_every_allow_including_networkpolicy():
    allow = policy("allow", "shop", {"podSelector": {}, "ingress": [{}]})
    deny = cnp("deny", "shop", {"endpointSelector": {}, "ingressDeny": [
        {"fromEndpoints": [{"matchLabels": {"io.kubernetes.pod.namespace": "other"}}],
         "toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"}]}]}]})
    got = pairs(build(*NAMESPACES, WEB, CLIENT, allow, deny))
    assert "TCP 8080" not in got[("other/client", "shop/web")] and "TCP 8081-65535" in got[("other/client",
                                                                                                "shop/web")]


def test_cilium_enable_default_deny_false_does_not_isolate():
    spec = {"endpointSelector": {}, "enableDefaultDeny": {"ingress": False},
            "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "db"}}]}]}
    got = pairs(build(*NAMESPACES, WEB, DB, CLIENT, cnp("x", "shop", spec)))
    assert got[("other/client", "shop/web")] == "all"


def test_cilium_clusterwide_entities_and_cidrs():
    ccnp = cnp("egress", "", {"endpointSelector": {"matchLabels": {"io.kubernetes.pod.namespace": "shop"}},
                              "egress": [{"toEntities": ["cluster"]},
                                         {"toCIDRSet": [{"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}],
                                          "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]}]},
               clusterwide=True)
    got = pairs(build(*NAMESPACES, WEB, CLIENT, ccnp), external=True)
    assert got[("shop/web", "other/client")] == "all"  # cluster entity
    assert got[("shop/web", "0.0.0.0/0 except 169.254.169.254/32")] == ["TCP 443"]
    assert got[("other/client", "0.0.0.0/0")] == "all"  # other is not selected


def test_cilium_l7_and_fqdn_are_named_as_not_evaluated():
    from test_network_controls import run
    spec = {"endpointSelector": {"matchLabels": {"app": "web"}}, "egress": [
        {"toFQDNs": [{"matchPattern": "*.example.com"}]},
        {"toEndpoints": [{}], "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}],
                                            "rules": {"http": [{"method": "GET"}]}}]},
        {"toEntities": ["kube-apiserver"]}]}
    findings, _ = run("KH-NET-014", WEB, cnp("l7", "shop", spec))
    message = findings[0].message
    assert "toFQDNs" in message and "L7 rules (http)" in message and "'kube-apiserver'" in message
    got = pairs(build(*NAMESPACES, WEB, DB, cnp("l7", "shop", spec)))
    assert got[("shop/web", "shop/db")] == ["TCP 80"]  # the L7 rule counts as the whole port


def test_cilium_host_entity_opens_the_kubelet():
    from test_network_controls import run
    spec = {"endpointSelector": {}, "egress": [{"toEntities": ["host", "remote-node"]}]}
    findings, _ = run("KH-NET-016", WEB, cnp("h", "shop", spec))
    assert findings and "CiliumNetworkPolicy shop/h egress[0]" in findings[0].message


# -- Calico ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "labels", "expected"), [
    ("", {}, True),
    ("all()", {"a": "1"}, True),
    ("app == 'web'", {"app": "web"}, True),
    ("app != 'web'", {}, True),  # absent label: != is true
    ("app in {'a', 'b'} && has(tier)", {"app": "b", "tier": "x"}, True),
    ("app not in {'a'}", {"app": "a"}, False),
    ("!has(tier) || tier starts with 'fr'", {"tier": "front"}, True),
    ("(app == 'x' || app == 'y') && !(env ends with 'prod')", {"app": "y", "env": "preprod"}, False),
    ("name contains 'db'", {"name": "mydb1"}, True),
])
def test_calico_selector_expressions(text, labels, expected):
    assert compile_calico(text, "spec.selector").matches(labels) is expected


@pytest.mark.parametrize("text", ["app = 'x'", "app == ", "has(app", "app in {'a' 'b'}", "&& x"])
def test_calico_selector_errors(text):
    with pytest.raises(SelectorError, match="spec.selector"):
        compile_calico(text, "spec.selector")


def test_calico_order_first_match_and_default_deny():
    deny_client = calico("deny", "shop", {"order": 10, "selector": "app == 'web'", "ingress": [
        {"action": "Deny", "source": {"namespaceSelector": "team == 'other'"}}]})
    allow_all = calico("allow", "shop", {"order": 20, "selector": "all()", "ingress": [{"action": "Allow"}]})
    got = pairs(build(*NAMESPACES, WEB, DB, CLIENT, deny_client, allow_all))
    assert ("other/client", "shop/web") not in got
    assert got[("other/client", "shop/db")] == "all"
    # Reversed order: the allow comes first and decides.
    allow_first = calico("allow", "shop", {"order": 5, "selector": "all()", "ingress": [{"action": "Allow"}]})
    assert pairs(build(*NAMESPACES, WEB, CLIENT, deny_client, allow_first))[("other/client", "shop/web")] == "all"


def test_calico_and_kubernetes_policies_share_the_default_tier():
    """A Kubernetes NetworkPolicy has order 1000: a Calico deny of order 100 comes first."""
    np_allow = policy("allow", "shop", {"podSelector": {}, "ingress": [{}]})
    deny = calico("deny", "shop", {"order": 100, "selector": "all()", "ingress": [
        {"action": "Deny", "protocol": "TCP", "destination": {"ports": [8080, "9000:9100"]}}]})
    got = pairs(build(*NAMESPACES, WEB, CLIENT, np_allow, deny))
    assert got[("other/client", "shop/web")] == ["TCP 1-8079", "TCP 8081-8999", "TCP 9101-65535", "UDP 1-65535",
                                                  "SCTP 1-65535"]


def test_calico_types_default_and_egress_nets():
    egress = calico("eg", "shop", {"selector": "all()", "egress": [
        {"action": "Allow", "protocol": "UDP", "destination": {"ports": [53]}},
        {"action": "Allow", "destination": {"nets": ["203.0.113.0/24"]}}]})
    got = pairs(build(*NAMESPACES, WEB, CLIENT, egress), external=True)
    assert got[("shop/web", "other/client")] == ["UDP 53"]
    assert got[("shop/web", "203.0.113.0/24")] == "all"
    assert got[("other/client", "shop/web")] == "all"  # only egress rules: types is [Egress]


def test_calico_pass_and_tiers():
    tier = json.dumps({"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "security"},
                       "spec": {"order": 100}})
    passing = calico("security.pass", None, {"tier": "security", "selector": "all()", "ingress": [
        {"action": "Pass", "source": {"namespaceSelector": "team == 'shop'"}},
        {"action": "Deny"}]})
    np_allow = policy("allow", "shop", {"podSelector": {}, "ingress": [{}]})
    got = pairs(build(*NAMESPACES, tier, WEB, DB, CLIENT, passing, np_allow))
    assert got[("shop/db", "shop/web")] == "all"  # passed to the default tier, where the NP allows
    assert ("other/client", "shop/web") not in got  # denied in the security tier
    # The tier selects client too and passes shop's traffic; no later tier applies to client, so
    # the namespace profile (allow) decides.
    assert got[("shop/web", "other/client")] == "all"
    assert ("other/client", "other/client") not in got


def test_calico_global_policy_with_namespace_selector_and_service_accounts_noted():
    from test_network_controls import run
    gnp = calico("g", None, {"namespaceSelector": "team == 'shop'", "selector": "all()", "types": ["Ingress"],
                             "ingress": [{"action": "Allow", "source": {"serviceAccounts": {"names": ["x"]}}}]})
    got = pairs(build(*NAMESPACES, WEB, CLIENT, gnp))
    # serviceAccounts is not evaluated: the allow is kept without it (at least what the cluster allows)
    assert got[("other/client", "shop/web")] == "all"
    findings, _ = run("KH-NET-014", *NAMESPACES, WEB, CLIENT, gnp)
    assert "serviceAccounts is not evaluated" in findings[0].message
    deny = calico("d", None, {"selector": "all()", "ingress": [
        {"action": "Deny", "source": {"serviceAccounts": {"names": ["x"]}}}]})
    assert pairs(build(*NAMESPACES, WEB, CLIENT, deny)).get(("other/client", "shop/web")) is None  # no allow


def test_clusterwide_default_deny_by_namespace_selector_counts_for_the_namespace():
    """Cilium's own default-deny example selects pods by io.kubernetes.pod.namespace only."""
    from test_network_controls import run
    deny = cnp("default-deny", "", {"endpointSelector": {"matchExpressions": [
        {"key": "io.kubernetes.pod.namespace", "operator": "NotIn", "values": ["kube-system"]}]},
        "ingress": [{}], "egress": [{}]}, clusterwide=True)
    assert run("KH-NET-001", *NAMESPACES, WEB, deny)[0] == [] and run("KH-NET-002", *NAMESPACES, WEB, deny)[0] == []
    by_app = cnp("web-only", "", {"endpointSelector": {"matchLabels": {"io.kubernetes.pod.namespace": "shop",
                                                                         "app": "web"}}, "ingress": [{}]},
                 clusterwide=True)
    assert run("KH-NET-001", *NAMESPACES, WEB, by_app)[0]  # reads a pod label: not every pod
    gnp = calico("deny", None, {"selector": "projectcalico.org/namespace == 'shop'", "types": ["Ingress"]})
    findings, _ = run("KH-NET-001", *NAMESPACES, WEB, gnp)
    assert [f.resource.name for f in findings] == ["other"]  # shop is covered, other is not
