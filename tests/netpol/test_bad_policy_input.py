"""Mangled NetworkPolicies never crash the engine, the controls or the matrix."""

from __future__ import annotations

import copy
import json
import random

from netpol_clusters import deploy

from kubeharden.analysis.reachability import Network
from kubeharden.config import parse_config
from kubeharden.engine import Evaluator, build_inventory
from kubeharden.sources.files import parse_text

BASE = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "a"},
        "spec": {"podSelector": {"matchLabels": {"app": "x"},
                                 "matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]},
                 "policyTypes": ["Ingress", "Egress"],
                 "ingress": [{"from": [{"podSelector": {}, "namespaceSelector": {"matchLabels": {"a": "b"}}},
                                       {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                              "ports": [{"port": 80, "endPort": 90, "protocol": "TCP"}, {"port": "http"}]}],
                 "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "UDP"}]}]}}
WEIRD = [None, 1, -5, 0, 70000, "x", "", "HTTP", [], {}, [None], [1], {"a": None}, True, 1.5, "10.0.0.0/33",
         "::/0", [{}], "Ingress"]


def _paths(node, prefix=()):
    yield prefix
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield from _paths(value, (*prefix, key))


def test_mutated_policies_are_reported_or_evaluated_never_crash():
    rng = random.Random(4)
    paths = [p for p in _paths(BASE["spec"]) if p]
    workload = deploy("d", "a", {"app": "x", "k": "v"}, [{"name": "http", "containerPort": 8080}])
    outcomes = set()
    for _ in range(300):
        doc = copy.deepcopy(BASE)
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(paths)
            node = doc["spec"]
            try:
                for key in path[:-1]:
                    node = node[key]
                node[path[-1]] = rng.choice(WEIRD)
            except (KeyError, IndexError, TypeError):
                pass  # an earlier mutation removed the path
        text = workload + "\n---\n" + json.dumps(doc)
        inventory, _ = build_inventory(parse_text(text, "f.yaml"))
        network = Network(inventory)
        list(network.connections())
        outcomes.add("invalid" if network.problems else "valid")
        findings = list(Evaluator(parse_config({"profile": "strict"})).run(parse_text(text, "f.yaml")))
        assert any(f.control.id == "KH-NET-015" for f in findings) == bool(network.problems)
    assert outcomes == {"invalid", "valid"}
