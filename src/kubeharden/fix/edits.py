"""One structured fix (:class:`kubeharden.model.findings.Fix`) applied to one loaded object.

The object is the round-trip tree of ruamel.yaml (``CommentedMap``/``CommentedSeq``, both ``dict``
and ``list`` subclasses) or plain JSON data; new mappings are made with the type of the object's
root so they dump in the file's own style. Operations, as :class:`Fix` defines them:

- ``set``: write ``value`` at ``path``, creating the mappings above it;
- ``add``: merge ``value`` into the list (items not yet present, in order) or mapping (keys not yet
  present) at ``path``, creating it;
- ``remove``: delete the field at ``path``, or with a list ``value`` only those items of the list
  (the field goes when the list ends up empty).

:func:`apply` returns whether the object changed, so a second run that finds nothing to do writes
nothing. It raises :class:`EditError` when the path runs through something that is not a mapping or
a list, or names a list item that is not there: such a fix is reported, never forced.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeharden.model.fieldpath import split
from kubeharden.model.findings import Fix


class EditError(Exception):
    """The fix cannot be applied to this object as written (its message says why)."""


def apply(root: dict[str, Any], fix: Fix) -> bool:
    """Apply ``fix`` to ``root`` (an object from its root); True when something changed."""
    try:
        steps = split(fix.path)
    except ValueError as exc:
        raise EditError(str(exc)) from None
    if not steps:
        raise EditError("a fix of the whole object cannot be applied")
    if fix.op == "set":
        parent = _walk(root, steps[:-1], create=True)
        return _set(parent, steps[-1], fix.value, root)
    if fix.op == "add":
        parent = _walk(root, steps[:-1], create=True)
        return _add(parent, steps[-1], fix.value, root)
    parent = _walk(root, steps[:-1], create=False)
    return False if parent is None else _remove(parent, steps[-1], fix.value)


def _new_map(root: Any) -> dict[str, Any]:
    return type(root)() if isinstance(root, dict) else {}


def _walk(node: Any, steps: list[str | int], create: bool) -> Any:
    """The container at ``steps`` below ``node``; mappings are made on the way when ``create``."""
    for i, step in enumerate(steps):
        where = "/".join(str(s) for s in steps[: i + 1])
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                raise EditError(f"{where}: no such list item")
            node = node[step]
            continue
        if not isinstance(node, dict):
            raise EditError(f"{where}: the field above is not a mapping")
        child = node.get(step)
        if child is None:
            if not create:
                return None
            child = _new_map(node)
            node[step] = child
        node = child
    return node


def same(a: Any, b: Any) -> bool:
    """Equal as Kubernetes reads them: ``True`` is not ``1``; ruamel's scalar types count as their base."""
    if isinstance(b, bool) or isinstance(a, bool):
        return isinstance(a, (bool, int)) and isinstance(b, (bool, int)) and _is_bool(a) and _is_bool(b) and \
            bool(a) == bool(b)
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in b)
    if isinstance(b, list):
        return isinstance(a, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is not bool and a == b


def _is_bool(value: Any) -> bool:
    # ruamel.yaml keeps an anchored boolean as ScalarBoolean, an int subclass
    return isinstance(value, bool) or type(value).__name__ == "ScalarBoolean"


def _set(parent: Any, key: str | int, value: Any, root: Any) -> bool:
    if isinstance(key, int):
        if not isinstance(parent, list) or key >= len(parent):
            raise EditError(f"[{key}]: no such list item")
    elif not isinstance(parent, dict):
        raise EditError(f"{key}: the field above is not a mapping")
    elif key in parent and same(parent[key], value):
        return False
    current = parent[key] if isinstance(parent, dict) and key in parent else None
    if isinstance(current, dict) and isinstance(value, dict):
        # a mapping set over a mapping changes it in place, key by key: the keys it keeps keep their text
        # (quoting, comments, flow or block style), and only the lines of the changed keys differ
        for k in [k for k in current if k not in value]:
            del current[k]
        for k, v in value.items():
            _set(current, k, v, root)
        return True
    parent[key] = _fresh(value, root)
    return True


def _add(parent: Any, key: str | int, value: Any, root: Any) -> bool:
    if not isinstance(parent, dict) or isinstance(key, int):
        raise EditError(f"{key}: add needs a mapping field")
    current = parent.get(key)
    if current is None:
        parent[key] = _fresh(value, root)
        return True
    if isinstance(value, list) and isinstance(current, list):
        missing = [item for item in value if not any(same(have, item) for have in current)]
        current.extend(_fresh(item, root) for item in missing)
        return bool(missing)
    if isinstance(value, dict) and isinstance(current, dict):
        missing_keys = [k for k in value if k not in current]
        for k in missing_keys:
            current[k] = _fresh(value[k], root)
        return bool(missing_keys)
    raise EditError(f"{key}: is a {type(current).__name__}, the fix adds to a {type(value).__name__}")


def _remove(parent: Any, key: str | int, value: Any) -> bool:
    if isinstance(key, int):
        if isinstance(parent, list) and key < len(parent):
            del parent[key]
            return True
        return False
    if not isinstance(parent, dict) or key not in parent:
        return False
    if isinstance(value, list):
        current = parent[key]
        if not isinstance(current, list):
            raise EditError(f"{key}: is not a list")
        keep = [item for item in current if not any(same(item, gone) for gone in value)]
        if len(keep) == len(current):
            return False
        if keep:
            for i in reversed(range(len(current))):
                if any(same(current[i], gone) for gone in value):
                    del current[i]
        else:
            del parent[key]
        return True
    del parent[key]
    return True


def _fresh(value: Any, root: Any) -> Any:
    """A copy of ``value`` whose mappings are of the root's type (block style in the file's indentation)."""
    if isinstance(value, dict):
        out = _new_map(root)
        for k, v in value.items():
            out[k] = _fresh(v, root)
        return out
    if isinstance(value, list):
        return [_fresh(v, root) for v in value]
    return copy.copy(value)
