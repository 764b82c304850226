"""Field types of the built-in kinds, as the API server decodes them.

The API server decodes an object into typed Go structs: a quoted ``"true"`` where a
boolean belongs, ``"0"`` for an integer, or a string where a list belongs make it refuse
the whole object. Such an object never runs, and what its author meant is unknowable,
so kubeharden reports it as invalid (error level) instead of judging it.

The table (``api_types.json``) is generated from the Kubernetes OpenAPI definitions by
``scripts/build_api_types.py``; its ``source`` field names the version.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from pathlib import Path
from collections.abc import Callable
from typing import Any, NamedTuple

from kubeharden.model.lines import line_of

#: Kinds served by an older group that the current table knows under another (same structs).
_OLD_GROUPS = {"extensions": ("apps", "networking.k8s.io")}


class TypeProblem(NamedTuple):
    """A value the API server would refuse: ``level`` is "error" (wrong type) or "warning" (unknown field)."""

    level: str
    path: str
    message: str
    line: int | None


@cache
def _table() -> dict[str, Any]:
    return json.loads((Path(__file__).with_name("api_types.json")).read_text())


@cache
def _structs() -> dict[str, dict[str, tuple[str, type | None, Callable[[Any], bool] | None]]]:
    """The table's structs, each field as (its type, the class whose instances it accepts as they are (string,
    boolean), or else the test of a scalar type (:data:`_SCALARS`; None for a struct, list or map, which is
    looked inside)): the walk meets some 30 fields per object, so each costs one look-up."""
    classes = {"string": str, "boolean": bool}
    return {name: {k: (t, classes.get(t), None if t in classes else _SCALARS.get(t)) for k, t in fields.items()}
            for name, fields in _table()["types"].items()}


@lru_cache(maxsize=4096)
def definition_for(api_version: str, kind: str) -> str | None:
    """The table's definition name for ``kind`` in ``api_version``'s group, or None when unknown."""
    table = _table()["kinds"]
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    for candidate in (group, *_OLD_GROUPS.get(group, ())):
        name = table.get(f"{candidate}/{kind}" if candidate else kind)
        if name is not None:
            return name
    return None


def type_problems(raw: dict[str, Any], api_version: str, kind: str, limit: int = 20) -> list[TypeProblem]:
    """Every value of ``raw`` whose JSON type the API server would refuse (at most ``limit``).

    Kinds the table does not know (custom resources) give no problems. Null is accepted
    everywhere (the field is unset); an integer field accepts a float with no fraction,
    as ``sigs.k8s.io/yaml`` writes it as an integer.
    """
    root = definition_for(api_version, kind)
    if root is None:
        return []
    structs = _structs()
    try:
        if _valid(raw, root, structs, top=True):
            return []  # nearly every object: no field paths to keep
    except RecursionError:
        pass  # (no type of today's table nests in itself, so a quick check's depth is the schema's)
    return _walk(raw, root, structs, limit)


def _walk(raw: dict[str, Any], root: str, structs: dict[str, dict[str, tuple[str, type | None, Any]]],
          limit: int) -> list[TypeProblem]:
    """:func:`type_problems` of ``raw``, whose type is ``root``: every problem with its field path and line."""
    problems: list[TypeProblem] = []
    # Depth first from the last field; a scalar that has its type is never pushed (it could not add a
    # problem), so the problems and their order are those of visiting every value. A value's field path is
    # written only for a problem: the stack holds where it is (_Step: the mapping or list that holds it, and
    # its key or index, below the holder's own step).
    stack: list[tuple[Any, str, _Step | None]] = [(raw, root, None)]
    while stack and len(problems) < limit:
        value, expected, step = stack.pop()
        if value is None:
            continue
        fields = structs.get(expected)
        if fields is not None:  # a struct, the most common value: looked up first
            if not isinstance(value, dict):
                problems.append(_wrong(value, "a mapping", step))
                continue
            for k, v in value.items():
                field = fields.get(k)
                if field is None:
                    # "$patch" and friends are strategic-merge-patch directives of a partial object
                    if not (step is None and k in ("apiVersion", "kind")) and not str(k).startswith("$"):
                        sub = _path((step, value, k, False))
                        problems.append(TypeProblem(
                            "warning", sub, f"{sub}: unknown field; kubectl's default strict validation refuses "
                            "it, and with validation off the API server drops it silently", line_of(value, k)))
                    continue
                if v is None:
                    continue
                field_type, cls, test = field
                if cls is not None:
                    if isinstance(v, cls):
                        continue
                elif test is not None and test(v):
                    continue
                stack.append((v, field_type, (step, value, k, False)))
        elif expected == "any":
            continue
        elif expected[0] == "[":
            if not isinstance(value, list):
                problems.append(_wrong(value, "a list", step))
                continue
            inner = expected[1:-1]
            check = _SCALARS.get(inner)
            stack.extend((item, inner, (step, value, i, True)) for i, item in enumerate(value)
                         if item is not None and (check is None or not check(item)))
        elif expected[0] == "{":
            if not isinstance(value, dict):
                problems.append(_wrong(value, "a mapping", step))
                continue
            inner = expected[1:-1]
            if inner == "string":  # labels, annotations, data: the common, hot case
                for k, v in value.items():
                    if v is not None and not isinstance(v, str):
                        problems.append(_wrong(v, "a string", (step, value, k, False)))
                continue
            check = _SCALARS.get(inner)
            stack.extend((v, inner, (step, value, k, False)) for k, v in value.items()
                         if check is None or v is None or not check(v))
        elif expected in _SCALARS:
            if not _SCALARS[expected](value):
                problems.append(_wrong(value, _EXPECTED[expected], step))
    return problems


def _valid(value: Any, expected: str, structs: dict[str, dict[str, tuple[str, type | None, Any]]],
           top: bool = False) -> bool:
    """Whether :func:`type_problems` finds nothing in ``value`` of type ``expected`` (``top``: the object
    itself, which may name its apiVersion and kind): the same tests, in a walk that keeps no field paths.
    ``value`` is never None (null is accepted everywhere: callers pass only what is set)."""
    fields = structs.get(expected)
    if fields is not None:
        if not isinstance(value, dict):
            return False
        for k, v in value.items():
            field = fields.get(k)
            if field is None:
                if not (top and k in ("apiVersion", "kind")) and not str(k).startswith("$"):
                    return False
                continue
            if v is None:
                continue
            field_type, cls, test = field
            if cls is not None:
                if not isinstance(v, cls):
                    return False
            elif test is not None:
                if not test(v):
                    return False
            elif not _valid(v, field_type, structs):
                return False
        return True
    if expected == "any":
        return True
    if expected[0] == "[":
        if not isinstance(value, list):
            return False
        inner = expected[1:-1]
        check = _SCALARS.get(inner)
        for item in value:  # (loops, not all(): this runs for every list of every object)
            if item is not None and not (check(item) if check is not None else _valid(item, inner, structs)):
                return False
        return True
    if expected[0] == "{":
        if not isinstance(value, dict):
            return False
        inner = expected[1:-1]
        for v in value.values():
            if v is not None and not (isinstance(v, str) if inner == "string" else _valid(v, inner, structs)):
                return False
        return True
    if expected in _SCALARS:
        return bool(_SCALARS[expected](value))
    return True


#: Where a value is: (the step of the mapping or list that holds it or None at the root, that holder, the
#: value's key or index, whether it is a list index).
_Step = tuple[Any, Any, Any, bool]


def _path(step: _Step | None) -> str:
    """The field path of the value at ``step`` (``spec.containers[0].name``; "" for the root)."""
    parts: list[str] = []
    while step is not None:
        step, _, key, index = step
        parts.append(f"[{key}]" if index else f".{key}" if step is not None else str(key))
    return "".join(reversed(parts))


def _is_int(v: Any, low: int = -(2**63), high: int = 2**63 - 1) -> bool:
    """An integer in range (int64 by default), as Go's JSON decoder accepts it for the field."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _is_int32(v: Any) -> bool:
    if type(v) is int:  # the common case (never a bool, whose type is bool)
        return -(2**31) <= v <= 2**31 - 1
    return _is_int(v, -(2**31), 2**31 - 1)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_SCALARS = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": _is_int,
    "int32": _is_int32,
    "number": _is_number,
    "int-or-string": lambda v: isinstance(v, str) or _is_int32(v),
    "quantity": lambda v: isinstance(v, str) or _is_number(v),
}
_EXPECTED = {"string": "a string", "boolean": "a boolean (true or false, unquoted)",
             "integer": "an integer (64-bit)", "int32": "an integer (32-bit)",
             "number": "a number", "int-or-string": "an integer or a string", "quantity": "a quantity"}


def type_name(value: Any) -> str:
    """``value``'s JSON type as messages say it (``a mapping``, ``a list``, ``a string``, ``a number``,
    ``a boolean``, ``null``): never the Python class that holds it (``LineList``, ``CommentedMap``)."""
    if value is None:
        return "null"
    return ("a mapping" if isinstance(value, dict) else "a list" if isinstance(value, list)
            else "a boolean" if isinstance(value, bool) else "a number" if isinstance(value, (int, float))
            else "a string" if isinstance(value, str) else "a value of another type")


def describe(value: Any) -> str:
    """``value``'s JSON type and a short rendering of it, for messages."""
    if value is None:
        return "null"
    kind = type_name(value)
    if isinstance(value, (dict, list)):
        return kind
    if isinstance(value, bool):
        return f"{kind} ({'true' if value else 'false'})"  # as YAML and JSON spell it
    return f"{kind} ({str(value)[:40]!r})"


def _wrong(value: Any, expected: str, step: _Step | None) -> TypeProblem:
    path = _path(step)
    line = None if step is None else line_of(step[1], None if step[3] else step[2])
    return TypeProblem("error", path, f"{path} is {describe(value)}, expected {expected}: the API server refuses "
                       "this object, so it is not judged as written", line)
