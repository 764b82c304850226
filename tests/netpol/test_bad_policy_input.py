"""Mangled NetworkPolicies never crash the engine, the controls or the matrix."""

from __future__ import annotations

import copy
import json
import random

import pytest
from netpol_clusters import deploy

from kubeharden.analysis.reachability import Network
from kubeharden.config import parse_config
from kubeharden.engine.evaluator import Evaluator, build_inventory
from kubeharden.sources.files import parse_text

BASE = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "a"},
        "spec": {"podSelector": {"matchLabels": {"app": "x"},
                                 "matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]},
                 "policyTypes": ["Ingress", "Egress"],
                 "ingress": [{"from": [{"podSelector": {}, "namespaceSelector": {"matchLabels": {"a": "b"}}},
                                       {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                              "ports": [{"port": 80, "endPort": 90, "protocol": "TCP"}, {"port": "http"}]}],
                 "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "UDP"}]}]}}
NET_CONTROLS = [f"KH-NET-{i:03d}" for i in range(1, 18)]
WEIRD = [None, 1, -5, 0, 70000, "x", "", "HTTP", [], {}, [None], [1], {"a": None}, True, 1.5, "10.0.0.0/33",
         "::/0", [{}], "Ingress"]


def _paths(node, prefix=()):
    yield prefix
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield from _paths(value, (*prefix, key))


ANP = {"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy", "metadata": {"name": "p"},
       "spec": {"priority": 3, "subject": {"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "x"}}}},
                "ingress": [{"action": "Pass", "from": [{"namespaces": {}}], "ports": [{"namedPort": "http"}]}],
                "egress": [{"action": "Deny", "to": [{"networks": ["10.0.0.0/8"]}, {"nodes": {}}],
                            "ports": [{"portRange": {"protocol": "TCP", "start": 1, "end": 9}}]}]}}
CILIUM = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": {"name": "p", "namespace": "a"},
          "spec": {"endpointSelector": {"matchLabels": {"k8s:app": "x"}},
                   "ingress": [{"fromEndpoints": [{}], "toPorts": [{"ports": [{"port": "80", "endPort": 90}],
                                                                   "rules": {"http": [{}]}}]}],
                   "egressDeny": [{"toCIDRSet": [{"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}]}],
                   "egress": [{"toEntities": ["world", "host"], "toPorts": [{"ports": [{"port": "http"}]}]}]}}
CALICO = {"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "a"},
          "spec": {"order": 5, "selector": "app in {'x'}", "types": ["Ingress", "Egress"],
                   "ingress": [{"action": "Deny", "protocol": "TCP", "source": {"nets": ["10.0.0.0/8"]},
                                "destination": {"ports": ["80:90", "http"]}}],
                   "egress": [{"action": "Allow", "destination": {"notSelector": "a == 'b'",
                                                                  "namespaceSelector": "all()"}}]}}


@pytest.mark.parametrize(("base", "rounds"), [(BASE, 300), (ANP, 150), (CILIUM, 150), (CALICO, 150)],
                         ids=["NetworkPolicy", "ANP", "Cilium", "Calico"])
def test_mutated_policies_are_reported_or_evaluated_never_crash(base, rounds):
    rng = random.Random(4)
    paths = [p for p in _paths(base["spec"]) if p]
    workload = deploy("d", "a", {"app": "x", "k": "v"}, [{"name": "http", "containerPort": 8080}])
    outcomes = set()
    for _ in range(rounds):
        doc = copy.deepcopy(base)
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(paths)
            node = doc["spec"]
            try:
                for key in path[:-1]:
                    node = node[key]
                node[path[-1]] = copy.deepcopy(rng.choice(WEIRD))
            except (KeyError, IndexError, TypeError):
                pass  # an earlier mutation removed the path
        text = workload + "\n---\n" + json.dumps(doc)
        inventory, problems = build_inventory(parse_text(text, "f.yaml"))
        network = Network(inventory)
        list(network.connections())
        # a value of the wrong type makes the API server refuse the object: reported as invalid and left
        # out of the analysis; other malformations are the policy parser's problems
        refused = any(p.kind == "invalid-object" for p in problems)
        outcomes.add("invalid" if network.problems or refused else "valid")
        evaluator = Evaluator(parse_config({"profile": "strict"}), only=NET_CONTROLS)
        findings = list(evaluator.run(parse_text(text, "f.yaml")))
        assert not [p for p in evaluator.result.problems if "could not evaluate" in p.message]
        assert refused == any(p.kind == "invalid-object" for p in evaluator.result.problems)
        if not refused:
            assert any(f.control.id == "KH-NET-015" for f in findings) == bool(network.problems)
    assert outcomes == {"invalid", "valid"}
