"""can-reach shows only what decides the port asked about; undecided traffic is explained, never
credited to an empty rule list; the matrix never claims all ports for a block holding node
addresses that are denied some ports.

NetworkPolicy semantics (https://kubernetes.io/docs/concepts/services-networking/network-policies/):
each rule allows the union of its ports (``port``..``endPort``, per protocol) to its peers.
AdminNetworkPolicy (network-policy-api v1alpha1) selects pods without isolating them: what it does
not decide falls through to NetworkPolicy, and is allowed when none isolates the pod.
"""

from __future__ import annotations

import json

from netpol_clusters import deploy, policy
from test_network_controls import run
from test_node_peers import can_reach

from kubeharden.cli import main

WEB = deploy("web", "shop", {"app": "web"})
DB = deploy("db", "shop", {"app": "db"}, ports=[{"containerPort": 5432}])
TO_DB = [{"podSelector": {"matchLabels": {"app": "db"}}}]
WEB_TO_DB = policy("web-egress", "shop", {
    "podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"],
    "egress": [{"to": TO_DB, "ports": [{"protocol": "TCP", "port": 5434}, {"protocol": "TCP", "port": 5432}]},
               {"to": TO_DB, "ports": [{"protocol": "TCP", "port": 5430, "endPort": 5440}]},
               {"to": TO_DB, "ports": [{"protocol": "UDP", "port": 5432}]}]})
DB_FROM_WEB = policy("db-ingress", "shop", {
    "podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"],
    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                 "ports": [{"protocol": "TCP", "port": p} for p in (5432, 5434, 6000)]}]})


def test_pod_to_pod_shows_only_the_asked_port(tmp_path, capsys):
    code, out = can_reach(tmp_path, capsys, [WEB, DB, WEB_TO_DB, DB_FROM_WEB], "shop/web", "shop/db:5432")
    out = out.replace(str(tmp_path), "")
    assert code == 0 and "result: ALLOWED on TCP 5432" in out
    assert "egress[0] (/in.yaml" in out and "egress[1] (/in.yaml" in out and "ingress[0] (/in.yaml" in out
    assert "egress[2]" not in out  # UDP 5432 does not decide TCP 5432
    for other in ("5434", "5430-5440", "6000", "UDP"):
        assert other not in out


ADDRESSES = policy("web-egress", "shop", {
    "podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"],
    "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"protocol": "TCP", "port": 443}]},
               {"to": [{"ipBlock": {"cidr": "8.8.8.8/32"}}],
                "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "UDP", "port": 53}]},
               {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"protocol": "TCP", "port": 80}]}]})


def test_address_credits_only_rules_allowing_the_port(tmp_path, capsys):
    code, out = can_reach(tmp_path, capsys, [WEB, ADDRESSES], "shop/web", "10.1.1.1:443")
    assert code == 0 and "egress[0]" in out and "egress[2]" not in out and "TCP 80" not in out


def test_address_blocked_on_the_port_says_which_ports_it_has(tmp_path, capsys):
    code, out = can_reach(tmp_path, capsys, [WEB, ADDRESSES], "shop/web", "8.8.8.8:80")
    assert code == 1
    assert "no rule admits 8.8.8.8 on TCP 80; rules admit it only on TCP 443, UDP 53" in out
    code, out = can_reach(tmp_path, capsys, [WEB, ADDRESSES], "shop/web", "9.9.9.9:80")
    assert code == 1 and "no rule admits 9.9.9.9 on TCP 80)" in out


KUBELET_DENY = json.dumps({
    "apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
    "metadata": {"name": "kubelet-deny"},
    "spec": {"priority": 10, "subject": {"namespaces": {}},
             "egress": [{"name": "no-kubelet", "action": "Deny", "to": [{"nodes": {}}],
                         "ports": [{"portNumber": {"protocol": "TCP", "port": 10250}}]}]}})
REASON = "no policy isolates the pod for egress; AdminNetworkPolicy kubelet-deny does not decide it"


def test_internet_and_metadata_name_why_undecided_traffic_is_allowed():
    findings, _ = run("KH-NET-006", WEB, KUBELET_DENY)
    assert len(findings) == 1
    message = findings[0].message
    assert f"0.0.0.0/0 on all ports ({REASON})" in message and "by ;" not in message and "by " not in message
    findings, _ = run("KH-NET-007", WEB, KUBELET_DENY)
    assert len(findings) == 1 and findings[0].message.endswith(f"on all ports: {REASON}")


def test_can_reach_internet_names_the_reason(tmp_path, capsys):
    code, out = can_reach(tmp_path, capsys, [WEB, KUBELET_DENY], "shop/web", "internet:443")
    assert code == 0 and f"0.0.0.0/0: TCP 443 ({REASON})" in out


def test_matrix_does_not_claim_the_kubelet_port_of_node_addresses(tmp_path, capsys):
    path = tmp_path / "in.yaml"
    path.write_text("\n---\n".join([WEB, KUBELET_DENY]))
    assert main(["netpol", "matrix", "-n", "shop", str(path)]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if "web  0.0.0.0/0" in line)
    assert "all ports (except TCP 10250 to node addresses in 10.0.0.0/8, 100.64.0.0/10, 172.16.0.0/12, " \
           "192.168.0.0/16)" in row
    assert main(["netpol", "matrix", "-n", "shop", "-f", "json", str(path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    v4 = next(r for r in rows if r["dst"] == {"cidr": "0.0.0.0/0"})
    assert v4["ports"] == "all" and [b["cidr"] for b in v4["node_addresses"][0]["blocks"]] == \
        ["10.0.0.0/8", "100.64.0.0/10", "172.16.0.0/12", "192.168.0.0/16"]
    assert "TCP 10250" not in v4["node_addresses"][0]["ports"]
    # configured node networks decide where node addresses are
    cfg = tmp_path / "kh.yaml"
    cfg.write_text("node_networks: [192.168.10.0/24]\n")
    assert main(["netpol", "matrix", "-n", "shop", "--config", str(cfg), str(path)]) == 0
    assert "except TCP 10250 to node addresses in 192.168.10.0/24)" in capsys.readouterr().out


def test_matrix_rows_without_node_rules_are_unannotated(tmp_path, capsys):
    path = tmp_path / "in.yaml"
    path.write_text("\n---\n".join([WEB, ADDRESSES]))
    assert main(["netpol", "matrix", "-n", "shop", "-f", "json", str(path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and not any("node_addresses" in r for r in rows)


def test_matrix_lists_blocks_open_only_to_node_addresses(tmp_path, capsys):
    deny_egress = policy("deny", "shop", {"podSelector": {}, "policyTypes": ["Egress"]})
    allow_kubelet = KUBELET_DENY.replace('"Deny"', '"Allow"').replace("kubelet-deny", "kubelet-allow")
    path = tmp_path / "in.yaml"
    path.write_text("\n---\n".join([WEB, deny_egress, allow_kubelet]))
    assert main(["netpol", "matrix", "-n", "shop", "-f", "json", str(path)]) == 0
    rows = [r for r in json.loads(capsys.readouterr().out) if r["src"].get("name") == "web"]
    assert {r["dst"]["cidr"] for r in rows} == {"10.0.0.0/8", "100.64.0.0/10", "172.16.0.0/12", "192.168.0.0/16",
                                                "fc00::/7"}
    assert all(r["ports"] == [] and r["node_addresses"][0]["ports"] == ["TCP 10250"] for r in rows)
