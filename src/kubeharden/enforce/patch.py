"""Structured fixes (:class:`~kubeharden.model.findings.Fix`) as a JSON Patch (RFC 6902) for an admission answer.

A mutating admission webhook answers with ``patchType: JSONPatch`` and a base64 JSON Patch
(https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#response).
Every operation is computed against the object as changed by the operations before it, so two
fixes under one missing ``securityContext`` create it once. A fix that cannot be expressed on this
object (a list index that does not exist, a field under a scalar) is left out and reported.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeharden.model.fieldpath import split
from kubeharden.model.findings import Fix

_MISSING = object()


def pointer(steps: list[str | int]) -> str:
    """JSON Pointer (RFC 6901) of field-path steps: ``~`` becomes ``~0`` and ``/`` becomes ``~1``."""
    return "".join("/" + str(s).replace("~", "~0").replace("/", "~1") for s in steps)


def _get(doc: Any, steps: list[str | int]) -> Any:
    node = doc
    for step in steps:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return _MISSING
            node = node[step]
        else:
            if not isinstance(node, dict) or step not in node:
                return _MISSING
            node = node[step]
    return node


def _ops_for(doc: Any, fix: Fix) -> list[tuple[dict[str, Any], list[str | int]]]:
    """The operations (with their steps) that apply ``fix`` to ``doc``; ValueError when it cannot be applied here."""
    steps = split(fix.path)
    if not steps:
        raise ValueError("a fix of the whole object is not a patch")
    current = _get(doc, steps)
    if fix.op == "remove":
        if current is _MISSING:
            return []
        if isinstance(fix.value, list) and isinstance(current, list):
            kept = [item for item in current if item not in fix.value]
            return [] if kept == current else [({"op": "replace", "path": pointer(steps), "value": kept}, steps)]
        return [({"op": "remove", "path": pointer(steps)}, steps)]
    value = fix.value
    if fix.op == "add" and current is not _MISSING:
        if isinstance(current, list) and isinstance(value, list):
            value = current + [v for v in value if v not in current]
        elif isinstance(current, dict) and isinstance(value, dict):
            value = {**current, **{k: v for k, v in value.items() if k not in current}}
        else:
            raise ValueError(f"{fix.path} holds a {type(current).__name__}; cannot add to it")
    if current is not _MISSING:
        return [] if current == value else [({"op": "replace", "path": pointer(steps), "value": value}, steps)]
    # Create the missing mappings above the field, from the deepest one that exists.
    for depth in range(len(steps) - 1, -1, -1):
        parent = _get(doc, steps[:depth])
        if parent is _MISSING:
            continue
        if not isinstance(parent, dict) or isinstance(steps[depth], int):
            raise ValueError(f"{fix.path}: no mapping to create the field in")
        nested: Any = value
        for step in reversed(steps[depth + 1:]):
            if isinstance(step, int):
                raise ValueError(f"{fix.path}: list item {step} does not exist")
            nested = {step: nested}
        return [({"op": "add", "path": pointer(steps[:depth + 1]), "value": nested}, steps[:depth + 1])]
    raise ValueError(f"{fix.path}: not found")  # pragma: no cover - depth 0 (the object) always exists


def _apply(doc: Any, op: dict[str, Any], steps: list[str | int]) -> None:
    """Apply one operation of :func:`_ops_for` (add, replace, remove on existing parents) in place."""
    parent = _get(doc, steps[:-1])
    last: Any = steps[-1]
    if op["op"] == "remove":
        del parent[last]
    else:
        parent[last] = copy.deepcopy(op["value"])


def json_patch(obj: dict[str, Any], fixes: list[Fix]) -> tuple[list[dict[str, Any]], list[tuple[Fix, str]]]:
    """The JSON Patch applying ``fixes`` in order to ``obj`` (not modified), and the fixes left out with why."""
    doc = copy.deepcopy(obj)
    ops: list[dict[str, Any]] = []
    skipped: list[tuple[Fix, str]] = []
    for fix in fixes:
        try:
            new = _ops_for(doc, fix)
        except ValueError as exc:
            skipped.append((fix, str(exc)))
            continue
        for op, steps in new:
            _apply(doc, op, steps)
            ops.append(op)
    return ops, skipped
