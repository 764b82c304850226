"""Wrong types anywhere in an object never break a check (a seeded mutation test).

Every field of the bundled examples is, in turn, replaced by values of the wrong type;
each control must either judge the result or report it, never raise.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path

from kubeharden.config import parse_config
from kubeharden.engine.evaluator import Evaluator
from kubeharden.model.objects import K8sObject
from kubeharden.sources.files import read_objects

ROOT = Path(__file__).resolve().parents[1]
WEIRD = [None, 0, -1, 3.5, True, "x", "", [], {}, [None], [1, "a"], {"a": None}, "*", [{}], {"matchLabels": 5},
         {"k": [{"x": {}}]}]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def _mutate(raw, rng):
    raw = copy.deepcopy(raw)
    candidates = [p for p in _paths(raw) if p and p[0] not in ("apiVersion", "kind")]
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(candidates)
        node = raw
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = copy.deepcopy(rng.choice(WEIRD))  # shared values could make a cycle no YAML has
        except (KeyError, IndexError, TypeError):
            pass
    return raw


def test_mutated_objects_never_raise():
    objects = [o for o in read_objects([str(ROOT / "examples")]) if isinstance(o, K8sObject)]
    rng = random.Random(20261122)
    internal = []
    for _ in range(150):
        batch = [K8sObject(raw=_mutate(o.raw, rng), ref=o.ref, origin=o.origin) for o in objects]
        evaluator = Evaluator(parse_config({"profile": "strict", "registries": ["registry.example.com"]}))
        list(evaluator.run(batch))
        internal += [p.message for p in evaluator.result.problems if p.kind == "internal"]
    assert internal == []
