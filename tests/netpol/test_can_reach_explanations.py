"""can-reach explains exactly the decision for the ports and addresses asked about.

Layers as in network-policy-api v1alpha1: AdminNetworkPolicy rules first (Allow and Deny are
final), then NetworkPolicy isolation, then the baseline; a port no rule decides is allowed only
when nothing isolates the pod for that direction.
"""

from __future__ import annotations

import json

from netpol_clusters import deploy, policy
from test_node_peers import can_reach

ANP = "policy.networking.k8s.io/v1alpha1"
WEB = deploy("web", "shop", {"app": "web"}, ports=[{"containerPort": 8080}])
DB = deploy("db", "shop", {"app": "db"}, ports=[{"name": "pg", "containerPort": 5432}])
DB_PODS = {"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "db"}}}}
WEB_PODS = {"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "web"}}}}


def anp(name: str, priority: int, spec: dict) -> str:
    return json.dumps({"apiVersion": ANP, "kind": "AdminNetworkPolicy", "metadata": {"name": name},
                       "spec": {"priority": priority, **spec}})


def tcp(port: int) -> list[dict]:
    return [{"portNumber": {"protocol": "TCP", "port": port}}]


DB_FROM_WEB = policy("db-from-web", "shop", {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"],
                                             "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                                                          "ports": [{"port": 5432}]}]})
REPLICATION = anp("db-replication", 10, {"subject": DB_PODS, "ingress": [
    {"name": "replicas", "action": "Allow", "from": [DB_PODS], "ports": tcp(5434)}]})
WEB_EGRESS = anp("web-egress", 20, {"subject": WEB_PODS, "egress": [
    {"name": "no-admin-port", "action": "Deny", "to": [DB_PODS], "ports": tcp(5434)},
    {"name": "internal-https", "action": "Allow", "to": [{"networks": ["10.0.0.0/8"]}], "ports": tcp(443)}]})
DOCS = [WEB, DB, DB_FROM_WEB, REPLICATION, WEB_EGRESS]


def test_default_notes_name_only_the_ports_asked_about(tmp_path, capsys):
    code, out = can_reach(tmp_path, capsys, DOCS, "web", "db:5432")
    assert code == 0 and "result: ALLOWED on TCP 5432" in out
    egress = out.split("egress of shop/Deployment/web")[1].split("ingress of")[0]
    assert "TCP 5432 not decided by any rule and so allowed (nothing isolates it for egress)" in egress
    assert "5434" not in out and "UDP" not in out  # ports not asked about are not mentioned


def test_isolation_note_only_when_it_denies_a_port_asked_about(tmp_path, capsys):
    code, out = can_reach(tmp_path, capsys, DOCS, "db", "db:5434")
    assert code == 0 and "AdminNetworkPolicy db-replication ingress[0] (replicas)" in out
    assert "denied by the isolation" not in out
    code, out = can_reach(tmp_path, capsys, DOCS, "db", "db:5433")
    assert code == 1 and "TCP 5433 not allowed by any rule and so denied by the isolation of NetworkPolicy" in out


def test_deny_shows_the_rule_and_no_default(tmp_path, capsys):
    code, out = can_reach(tmp_path, capsys, DOCS, "web", "db:5434")
    assert code == 1 and "AdminNetworkPolicy web-egress egress[0] (no-admin-port)" in out and "Deny TCP 5434" in out
    assert "not decided" not in out


def test_address_credited_only_to_rules_that_cover_it(tmp_path, capsys):
    code, out = can_reach(tmp_path, capsys, DOCS, "web", "8.8.8.8:443")
    assert code == 0 and "internal-https" not in out
    assert "TCP 443 not decided by any rule and so allowed (nothing isolates it for egress)" in out
    code, out = can_reach(tmp_path, capsys, DOCS, "web", "10.1.2.3:443")
    assert code == 0 and "AdminNetworkPolicy web-egress egress[1] (internal-https)" in out
    assert "not decided" not in out


def test_system_reachability_credits_only_what_allowed_the_reported_ports():
    """KH-NET-005 (layered): the rules named are those that allowed the reported ports, and
    ports allowed because nothing isolates the pod are said to be."""
    from test_network_controls import run

    dns = deploy("coredns", "kube-system", {"k8s-app": "kube-dns"},
                 ports=[{"name": "dns", "containerPort": 53, "protocol": "UDP"}, {"name": "metrics",
                                                                                   "containerPort": 9153}])
    client = deploy("app", "shop", {"app": "app"})
    rules = [{"name": "dns", "action": "Allow", "from": [{"namespaces": {}}],
              "ports": [{"portNumber": {"protocol": "UDP", "port": 53}}]},
             {"name": "metrics", "action": "Allow", "from": [{"namespaces": {}}], "ports": tcp(9153)}]
    system = {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}
    findings, _ = run("KH-NET-005", dns, client, anp("system", 5, {"subject": system, "ingress": rules}))
    message = findings[0].message
    assert "ingress[0] (dns)" not in message  # it allowed only UDP 53, which DNS pods are expected to serve
    assert "AdminNetworkPolicy system ingress[1] (metrics)" in message
    assert "not decided by any rule and so allowed (nothing isolates it for ingress)" in message


def test_internet_blocks_say_why_they_are_allowed(tmp_path, capsys):
    code, out = can_reach(tmp_path, capsys, DOCS, "web", "internet:443")
    assert code == 0 and "0.0.0.0/0 except 10.0.0.0/8: TCP 443 (no policy isolates the pod for egress; " \
        "AdminNetworkPolicy web-egress does not decide it)" in out
    assert "internal-https" not in out  # the 10.0.0.0/8 rule is not public address space
