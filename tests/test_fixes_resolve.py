"""A structured fix resolves its finding: applied to the manifest, the rescan no longer reports it.

The fixes are applied here by a small interpreter of the documented operations
(docs/json-report.md, ``fix``), over every failing catalogue example and the insecure example
application, so a fix that points at the wrong field or carries the wrong value fails.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import scan
from test_catalogue import EXAMPLE_CONFIG, ROOT

from kubeharden.catalogue.loader import load_catalogue
from kubeharden.model.fieldpath import split
from kubeharden.model.findings import Finding, Fix


def apply(doc: dict[str, Any], fix: Fix) -> None:
    """Apply ``fix`` to ``doc`` in place, as documented for each operation."""
    *parents, last = split(fix.path)
    node: Any = doc
    for step, following in zip(parents, [*parents[1:], last], strict=True):
        if isinstance(step, int):
            node = node[step]
        else:
            node = node.setdefault(step, [] if isinstance(following, int) else {})
            if node is None:
                node = {}
    if fix.op == "set":
        node[last] = copy.deepcopy(fix.value)
    elif fix.op == "add":
        current = node.get(last)
        if isinstance(fix.value, list):
            current = current if isinstance(current, list) else []
            current.extend(v for v in fix.value if v not in current)
        else:
            current = current if isinstance(current, dict) else {}
            current.update({k: v for k, v in fix.value.items() if k not in current})
        node[last] = current
    elif fix.value is None:  # remove the field
        del node[last]
    else:  # remove items of a list
        node[last] = [v for v in node[last] if v not in fix.value]


def check_fixes(text: str, only: list[str] | None) -> int:
    """Apply each fix of the findings of ``text`` alone and assert its finding is gone; return how many."""
    findings, _ = scan(text, EXAMPLE_CONFIG, only=only)
    docs = [d for d in yaml.safe_load_all(text)]
    checked = 0
    for f in findings:
        if f.fix is None:
            continue
        fixed = copy.deepcopy(docs)
        target = next(d for d in _objects(fixed) if d.get("kind") == f.resource.kind
                      and (d.get("metadata") or {}).get("name") == f.resource.name)
        apply(target, f.fix)
        after, result = scan(yaml.safe_dump_all(fixed, sort_keys=False), EXAMPLE_CONFIG, only=only)
        assert not [p for p in result.problems if p.level == "error"], (f.fix, result.problems)
        remaining = [g for g in after if _same(g, f)]
        assert not remaining, f"{f.control.id} {f.fix} left: {[g.message for g in remaining]}"
        checked += 1
    return checked


def _objects(docs: list[Any]) -> list[dict[str, Any]]:
    """The objects of the documents, the items of a ``kind: List`` included."""
    out = []
    for d in docs:
        if isinstance(d, dict):
            out.extend(_objects(d["items"]) if str(d.get("kind", "")).endswith("List") else [d])
    return out


def _same(a: Finding, b: Finding) -> bool:
    return a.fingerprint == b.fingerprint or (a.control.id == b.control.id and a.resource == b.resource
                                              and a.container_id == b.container_id and a.path == b.path)


CONTROLS_WITH_FIXES = [c for c in load_catalogue()
                       if c.fix is not None or c.id in ("KH-POD-011", "KH-POD-013", "KH-POD-014", "KH-RES-001",
                                                       "KH-RES-002", "KH-RES-003", "KH-NS-003")]


@pytest.mark.parametrize("control", CONTROLS_WITH_FIXES, ids=lambda c: c.id)
def test_every_fix_of_a_failing_example_resolves_its_finding(control):
    checked = sum(check_fixes(example, [control.id]) for example in control.fail_examples)
    assert checked >= 1, f"{control.id}: no example finding carries a fix"


def test_fixes_of_the_insecure_example_application():
    checked = 0
    for path in sorted((ROOT / "examples" / "insecure").glob("*.yaml")):
        checked += check_fixes(Path(path).read_text(encoding="utf-8"), None)
    assert checked >= 20


def test_apply_follows_the_documented_operations():
    doc: dict[str, Any] = {"spec": {"containers": [{"name": "c", "securityContext": {"capabilities": {
        "add": ["SYS_ADMIN", "NET_BIND_SERVICE"]}}}]}}
    apply(doc, Fix("add", "spec.containers[0].securityContext.capabilities.drop", ["ALL"]))
    apply(doc, Fix("remove", "spec.containers[0].securityContext.capabilities.add", ["SYS_ADMIN"]))
    apply(doc, Fix("add", "spec.containers[0].resources.requests", {"cpu": "100m"}))
    apply(doc, Fix("set", "metadata.labels[pod-security.kubernetes.io/enforce]", "restricted"))
    assert doc == {"spec": {"containers": [{"name": "c", "securityContext": {"capabilities": {
        "add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}}, "resources": {"requests": {"cpu": "100m"}}}]},
        "metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
