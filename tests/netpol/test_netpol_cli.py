"""``kubeharden netpol``: matrix formats, the JSON shape, can-reach verdicts and bad input."""

from __future__ import annotations

import json

import pytest
from netpol_clusters import DENY_ALL, deploy, policy

from kubeharden.analysis.ports import ALL_PORTS, PortSet
from kubeharden.cli import main
from kubeharden.commands.netpol import split_port

CLUSTER = [
    deploy("web", "shop", {"app": "web"}, [{"name": "http", "containerPort": 8080}]),
    deploy("db", "shop", {"app": "db"}, [{"name": "sql", "containerPort": 5432}]),
    policy("deny", "shop", DENY_ALL),
    policy("db", "shop", {"podSelector": {"matchLabels": {"app": "db"}},
                          "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                                       "ports": [{"port": "sql"}]}]}),
    policy("web", "shop", {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"],
                           "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]},
                                      {"to": [{"ipBlock": {"cidr": "0.0.0.0/0",
                                                           "except": ["169.254.169.254/32"]}}],
                                       "ports": [{"port": 443}, {"port": 8000, "endPort": 8080},
                                                 {"port": 53, "protocol": "UDP"}]}]}),
]


@pytest.fixture
def manifest(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text("\n---\n".join(CLUSTER))
    return str(path)


def test_matrix_json_shape(manifest, capsys):
    assert main(["netpol", "matrix", manifest, "-f", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == [
        {"src": {"namespace": "shop", "kind": "Deployment", "name": "web"},
         "dst": {"namespace": "shop", "kind": "Deployment", "name": "db"}, "ports": ["TCP 5432"]},
        {"src": {"namespace": "shop", "kind": "Deployment", "name": "web"},
         "dst": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]},
         "ports": ["TCP 443", "TCP 8000-8080", "UDP 53"]},
    ]


def test_matrix_all_ports_is_the_string_all(tmp_path, capsys):
    path = tmp_path / "open.yaml"
    path.write_text(deploy("a", "x", {"app": "a"}))
    assert main(["netpol", "matrix", str(path), "-f", "json", "--no-external"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"src": {"namespace": "x", "kind": "Deployment", "name": "a"},
         "dst": {"namespace": "x", "kind": "Deployment", "name": "a"}, "ports": "all"}]


def test_matrix_table_dot_mermaid_and_output_file(manifest, capsys, tmp_path):
    assert main(["netpol", "matrix", manifest]) == 0
    table = capsys.readouterr().out
    assert "shop/Deployment/web  shop/Deployment/db" in table and "2 allowed connection(s)" in table
    assert main(["netpol", "matrix", manifest, "-f", "dot"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith("digraph netpol {") and '[label="TCP 5432"]' in dot and "shape=ellipse" in dot
    assert main(["netpol", "matrix", manifest, "-f", "mermaid"]) == 0
    mermaid = capsys.readouterr().out
    assert mermaid.startswith("flowchart LR") and '-->|"TCP 5432"|' in mermaid
    out = tmp_path / "m.json"
    assert main(["netpol", "matrix", manifest, "-f", "json", "-o", str(out), "-n", "other"]) == 0
    assert json.loads(out.read_text()) == []


def test_can_reach_allowed_and_blocked(manifest, capsys):
    assert main(["netpol", "can-reach", "shop/web", "db:5432", manifest]) == 0
    out = capsys.readouterr().out
    assert "NetworkPolicy shop/db ingress[0]" in out and "result: ALLOWED on TCP 5432" in out
    assert main(["netpol", "can-reach", "web", "db:80/TCP", manifest]) == 1
    out = capsys.readouterr().out
    assert "ingress of shop/Deployment/db: BLOCKED" in out and "rules admit only TCP 5432" in out
    assert main(["netpol", "can-reach", "db", "web", manifest]) == 1
    assert "egress of shop/Deployment/db: BLOCKED" in capsys.readouterr().out


def test_can_reach_external_endpoints(manifest, capsys):
    assert main(["netpol", "can-reach", "web", "metadata", manifest]) == 1
    assert main(["netpol", "can-reach", "web", "internet:443", manifest]) == 0
    assert main(["netpol", "can-reach", "web", "8.8.8.8:53/UDP", manifest]) == 0
    assert main(["netpol", "can-reach", "internet", "web", manifest]) == 1
    capsys.readouterr()
    assert main(["netpol", "can-reach", "web", "apiserver:6443", "--api-server", "203.0.113.1", manifest]) == 1
    assert main(["netpol", "can-reach", "web", "apiserver", manifest]) == 2  # unknown without --api-server


def test_can_reach_usage_errors(manifest, capsys):
    assert main(["netpol", "can-reach", "nothing", "db", manifest]) == 2
    assert "no workload or endpoint 'nothing'" in capsys.readouterr().err
    assert main(["netpol", "can-reach", "internet", "metadata", manifest]) == 2
    assert main(["netpol", "can-reach", "web", "db:99999", manifest]) == 2


def test_ambiguous_workload_names(tmp_path, capsys):
    path = tmp_path / "two.yaml"
    path.write_text(deploy("a", "x", {"app": "a"}) + "\n---\n" + deploy("a", "y", {"app": "a"}))
    assert main(["netpol", "can-reach", "a", "x/a", str(path)]) == 2
    assert "ambiguous" in capsys.readouterr().err


def test_split_port():
    assert split_port("db:5432") == ("db", PortSet.of("TCP", 5432))
    assert split_port("ns/db:53/udp") == ("ns/db", PortSet.of("UDP", 53))
    assert split_port("fd00:ec2::254") == ("fd00:ec2::254", ALL_PORTS)
    assert split_port("db") == ("db", ALL_PORTS)


def test_malformed_policy_and_yaml_are_reported_not_fatal(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("\n---\n".join([*CLUSTER, policy("broken", "shop", {"podSelector": {}, "policyTypes": "x"}),
                                    "kind: [unclosed"]))
    code = main(["netpol", "matrix", str(path), "-f", "json"])
    captured = capsys.readouterr()
    assert code == 3
    assert "broken" in captured.err or "policyTypes" in captured.err
    assert len(json.loads(captured.out)) == 2


def test_rules_not_evaluated_are_announced(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(deploy("a", "x", {"app": "a"}) + "\n---\n" +
                    policy("c", "x", {"endpointSelector": {}, "egress": [{"toFQDNs": [{"matchName": "x.example"}]}]},
                           api_version="cilium.io/v2", kind="CiliumNetworkPolicy"))
    assert main(["netpol", "matrix", str(path)]) == 0
    err = capsys.readouterr().err
    assert "CiliumNetworkPolicy x/c" in err and "toFQDNs" in err and "not evaluated" in err
