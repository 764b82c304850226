"""The label index that narrows which pod classes a selector is matched against selects exactly what
matching every class would (reachability.Network._candidates)."""

from __future__ import annotations

import random

from netpol_clusters import build, deploy, namespace, policy

from kubeharden.analysis.selectors import compile_selector
from kubeharden.model.network import IngressController

LABELS = [{}, {"app": "web"}, {"app": "web", "tier": "front"}, {"app": "db"}, {"tier": "front"},
          {"app": "web", "tier": "back", "v": "1"}]
SELECTORS = [{}, {"matchLabels": {"app": "web"}}, {"matchLabels": {"app": "web", "tier": "front"}},
             {"matchLabels": {"tier": "front"}, "matchExpressions": [{"key": "app", "operator": "Exists"}]},
             {"matchExpressions": [{"key": "app", "operator": "In", "values": ["db", "web"]}]},
             {"matchLabels": {"app": "none"}}, {"matchLabels": {"v": "1"}}]


def _brute(network, ns, selector) -> int:
    return sum(1 << k.index for k in network.classes
               if k.namespace == ns and not k.host_network and selector.matches(k.labels))


def test_indexed_selection_equals_matching_every_class():
    rng = random.Random(7)
    docs = [namespace("a"), namespace("b")]
    for i in range(24):
        docs.append(deploy(f"w{i}", rng.choice(["a", "b"]), rng.choice(LABELS), host_network=i % 7 == 0))
    for i, spec in enumerate(SELECTORS):
        docs.append(policy(f"p{i}", rng.choice(["a", "b"]), {"podSelector": spec, "policyTypes": ["Ingress"]}))
    network = build(*docs)
    for spec in SELECTORS:
        selector = compile_selector(spec, "spec.podSelector")
        for ns in ("a", "b", "elsewhere"):
            assert network._classes_in(ns, selector) == _brute(network, ns, selector), (spec, ns)
    for p in network.policies:
        assert network.selected_mask(p) == _brute(network, p.namespace, p.pod_selector)


def test_the_index_follows_classes_added_after_it_was_built():
    network = build(namespace("a"), deploy("w", "a", {"app": "web"}))
    selector = compile_selector({"matchLabels": {"app": "web"}}, "spec.podSelector")
    before = network._classes_in("a", selector)
    index = network._stand_in(IngressController("a", (("app", "web"),)))
    assert network._classes_in("a", selector) == before | (1 << index)
