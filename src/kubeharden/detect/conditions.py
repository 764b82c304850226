"""The match language, compiled once into Python predicates.

A condition is a mapping. Each key is a field path (see :mod:`kubeharden.detect.fields`) or one
of ``all``, ``any``, ``not``, ``some``, ``macro``; every entry must hold. A field's value is:

* a scalar: the field equals it (``verb: create``, ``container.securityContext.privileged: true``);
* a list: the field is one of them (``verb: [create, update, patch]``);
* a mapping of operators, all of which must hold: ``eq ne in not_in startswith not_startswith
  endswith contains regex exists gt gte lt lte cidr not_cidr mentions`` (``{startswith: [system:, kube-]}``).

A field that yields several values (``[*]``, ``container``) or a list value (``user.groups``)
matches when any one value does; ``exists: false`` and ``not`` then mean "none does".
Operator arguments may name a shared list with ``$name`` (``{in: $system_namespaces}``).
A combinator may carry a label (``any#time``) to appear twice in one mapping.
``some: {field: PATH, match: CONDITION}`` needs one element of PATH for which CONDITION holds
with paths relative to that element, so two tests land on the same list item.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from kubeharden.model.apitypes import type_name
from kubeharden.detect.fields import ALIASES, MISSING, Getter, PathError, compile_path
from kubeharden.model.facts import AUDIT_LEVELS

Predicate = Callable[[Any], bool]
COMBINATORS = ("all", "any", "not", "some", "macro")
OPERATORS = ("eq", "ne", "in", "not_in", "startswith", "not_startswith", "endswith", "contains", "regex", "exists",
             "gt", "gte", "lt", "lte", "cidr", "not_cidr", "mentions")
LEVELS = AUDIT_LEVELS


class RuleError(ValueError):
    """A rule that cannot be compiled; the message names the rule and the place."""


@dataclass
class CompileContext:
    lists: dict[str, list[Any]] = field(default_factory=dict)
    macros: dict[str, Any] = field(default_factory=dict)
    #: The highest audit level any compiled field needs (filled while compiling).
    level: str = "Metadata"
    fields: set[str] = field(default_factory=set)
    _macro_stack: list[str] = field(default_factory=list)

    def need(self, level: str) -> None:
        if LEVELS.index(level) > LEVELS.index(self.level):
            self.level = level

    def resolve(self, arg: Any) -> Any:
        if isinstance(arg, str) and arg.startswith("$"):
            name = arg[1:]
            if name not in self.lists:
                raise RuleError(f"unknown list {arg!r}")
            return self.lists[name]
        return arg


def compile_condition(cond: Any, ctx: CompileContext, relative: bool = False) -> Predicate:
    if cond is None or cond == {}:
        return _true
    if not isinstance(cond, dict):
        raise RuleError(f"a condition must be a mapping, not {type_name(cond)}: {str(cond)[:80]}")
    parts: list[Predicate] = []
    for key, value in cond.items():
        key = str(key)
        if "#" in key and key.split("#", 1)[0] in COMBINATORS:
            key = key.split("#", 1)[0]  # any#time, all#2: YAML keys are unique, so combinators take a label
        if key == "all":
            parts.append(_all([compile_condition(c, ctx, relative) for c in _as_list(value, key)]))
        elif key == "any":
            parts.append(_any([compile_condition(c, ctx, relative) for c in _as_list(value, key)]))
        elif key == "not":
            inner = compile_condition(value, ctx, relative)
            parts.append(lambda e, _p=inner: not _p(e))  # type: ignore[misc]  # mypy cannot infer lambdas with defaults
        elif key == "some":
            parts.append(_compile_some(value, ctx))
        elif key == "macro":
            for name in _as_list(value, key):
                parts.append(_compile_macro(str(name), ctx, relative))
        else:
            parts.append(compile_field(key, value, ctx, relative))
    return _all(parts)


def _compile_macro(name: str, ctx: CompileContext, relative: bool) -> Predicate:
    if name not in ctx.macros:
        raise RuleError(f"unknown macro {name!r}")
    if name in ctx._macro_stack:
        raise RuleError(f"macro {name!r} refers to itself")
    ctx._macro_stack.append(name)
    try:
        return compile_condition(ctx.macros[name], ctx, relative)
    finally:
        ctx._macro_stack.pop()


def _compile_some(spec: Any, ctx: CompileContext) -> Predicate:
    if not isinstance(spec, dict) or "field" not in spec or "match" not in spec:
        raise RuleError("some needs {field: PATH, match: CONDITION}")
    getter = _getter(str(spec["field"]), ctx)
    inner = compile_condition(spec["match"], ctx, relative=True)

    def some(event: Any) -> bool:
        value = getter.fn(event)
        if value is MISSING:
            return False
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, list):
                if any(inner(x) for x in item):
                    return True
            elif inner(item):
                return True
        return False
    return some


def _getter(path: str, ctx: CompileContext) -> Getter:
    try:
        getter = compile_path(path)
    except PathError as exc:
        raise RuleError(str(exc)) from None
    ctx.need(getter.level)
    ctx.fields.add(ALIASES.get(path, path))
    return getter


def compile_field(path: str, spec: Any, ctx: CompileContext, relative: bool = False) -> Predicate:
    getter = _getter(path, ctx)
    if isinstance(spec, dict):
        tests = [(str(op), _compile_op(str(op), arg, ctx, path)) for op, arg in spec.items()]
    elif isinstance(spec, list) or (isinstance(spec, str) and spec.startswith("$")):
        tests = [("in", _compile_op("in", spec, ctx, path))]
    else:
        tests = [("eq", _compile_op("eq", spec, ctx, path))]
    get = getter.fn
    exists_tests = [t for op, t in tests if op == "exists"]
    value_tests = [t for op, t in tests if op != "exists"]

    if len(value_tests) == 1 and not exists_tests and not getter.multi:
        test = value_tests[0]

        def single(event: Any) -> bool:
            value = get(event)
            if value is MISSING:
                return False
            if isinstance(value, list):
                return any(test(v) for v in value)
            return test(value)
        return single

    def general(event: Any) -> bool:
        value = get(event)
        values = value if getter.multi else ([] if value is MISSING else [value])
        for t in exists_tests:
            if not t(values):
                return False
        if not value_tests:
            return True
        flat: list[Any] = []
        for v in values:
            if isinstance(v, list):
                flat.extend(v)
            else:
                flat.append(v)
        # All operators must hold for the same value: "one container is privileged and runs as root".
        return any(all(t(v) for t in value_tests) for v in flat)
    return general


def _compile_op(op: str, arg: Any, ctx: CompileContext, path: str) -> Callable[[Any], bool]:
    where = f"field {path!r}, operator {op!r}"
    arg = ctx.resolve(arg)
    if op == "exists":
        want = bool(arg)
        return lambda values: bool(values) == want
    if op == "eq":
        if isinstance(arg, str):
            return lambda v, _a=arg: v == _a  # type: ignore[misc]  # mypy cannot infer lambdas with defaults
        return lambda v, _a=arg: (v == _a and type(v) is type(_a)) or (v is None and _a is None)  # type: ignore[misc]  # mypy cannot infer lambdas with defaults
    if op == "ne":
        return lambda v, _a=arg: v != _a  # type: ignore[misc]  # mypy cannot infer lambdas with defaults
    if op in ("not_in", "not_startswith"):
        # "some value is not one of / does not start with": unlike not: {in: …}, which means "no value is".
        positive = _compile_op(op[4:], arg, ctx, path)
        return lambda v: not positive(v)
    if op == "in":
        items = _as_list(arg, where)
        if all(isinstance(x, str) for x in items):
            strings = frozenset(items)
            return lambda v: v.__class__ is str and v in strings
        hashable = all(isinstance(x, (str, int, float, bool)) or x is None for x in items)
        if hashable:
            bag = frozenset((type(x), x) for x in items)
            return lambda v: _hashable(v) and (type(v), v) in bag
        return lambda v: v in items
    if op in ("startswith", "endswith", "contains"):
        needles = tuple(str(x) for x in _as_list(arg, where))
        if op == "startswith":
            return lambda v: v.__class__ is str and v.startswith(needles)
        if op == "endswith":
            return lambda v: isinstance(v, str) and v.endswith(needles)
        if len(needles) == 1:
            needle = needles[0]
            return lambda v: v.__class__ is str and needle in v

        def contains(v: Any) -> bool:
            if v.__class__ is not str:
                return False
            for n in needles:
                if n in v:
                    return True
            return False
        return contains
    if op == "regex":
        try:
            patterns = [re.compile(str(p)) for p in _as_list(arg, where)]
        except re.error as exc:
            raise RuleError(f"{where}: bad regular expression: {exc}") from None
        try:  # one combined pattern is faster; patterns with global flags stay separate
            rx = re.compile("|".join(f"(?:{p.pattern})" for p in patterns))
            search = lambda v: rx.search(v) is not None  # noqa: E731
        except re.error:
            search = lambda v: any(p.search(v) for p in patterns)  # noqa: E731
        seen: dict[str, bool] = {}  # the same images, user agents and commands come back again and again

        def regex(v: Any) -> bool:
            if v.__class__ is not str:
                return False
            found = seen.get(v)
            if found is None:
                found = search(v)
                if len(seen) >= 20_000:
                    seen.clear()
                seen[v] = found
            return found
        return regex
    if op in ("gt", "gte", "lt", "lte"):
        if not isinstance(arg, (int, float)) or isinstance(arg, bool):
            raise RuleError(f"{where}: needs a number, got {arg!r}")
        cmp = {"gt": lambda v: v > arg, "gte": lambda v: v >= arg,
               "lt": lambda v: v < arg, "lte": lambda v: v <= arg}[op]
        return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and cmp(v)
    if op == "not_cidr":
        # "some value is an IP address outside these networks" (a value that is not an address is no match)
        inside = _compile_op("cidr", arg, ctx, path)
        return lambda v: _is_ip(v) and not inside(v)
    if op == "cidr":
        try:
            nets = [ipaddress.ip_network(str(x), strict=False) for x in _as_list(arg, where)]
        except ValueError as exc:
            raise RuleError(f"{where}: {exc}") from None
        return lambda v: _in_networks(v, nets)
    if op == "mentions":
        keys = {str(x) for x in _as_list(arg, where)}
        encoded = tuple(k.encode() for k in keys)

        def mentions(v: Any) -> bool:
            # A key named anywhere appears in the value's JSON text; most bodies name none, and one
            # serialisation is cheaper than walking them. Only a hit is confirmed by the walk.
            try:
                text = orjson.dumps(v)
            except TypeError:
                return _mentions(v, keys)
            return any(n in text for n in encoded) and _mentions(v, keys)
        return mentions
    raise RuleError(f"{where}: unknown operator (one of {', '.join(OPERATORS)})")


def _hashable(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool)) or v is None


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(value)
    except (ValueError, TypeError):
        return False
    return True


def _in_networks(value: Any, nets: list[Any]) -> bool:
    if not isinstance(value, str):
        return False
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return False
    return any(ip.version == n.version and ip in n for n in nets)


def _mentions(value: Any, keys: set[str], depth: int = 0) -> bool:
    """True if a key named in ``keys`` appears anywhere in ``value``: as a mapping key, or as a
    segment of a JSON-patch ``path`` (``/spec/template/spec/containers/0/securityContext``)."""
    if depth > 60:
        return False
    if isinstance(value, dict):
        for k, v in value.items():
            if k in keys:
                return True
            if k == "path" and isinstance(v, str) and keys.intersection(v.split("/")):
                return True
            if isinstance(v, (dict, list)) and _mentions(v, keys, depth + 1):
                return True
        return False
    if isinstance(value, list):
        return any(_mentions(v, keys, depth + 1) for v in value if isinstance(v, (dict, list)))
    return False


def _as_list(value: Any, where: str) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, (str, int, float, bool, dict)) or value is None:
        return [value]
    raise RuleError(f"{where}: expected a list")


def _true(_event: Any) -> bool:
    return True


def _all(preds: list[Predicate]) -> Predicate:
    preds = [p for p in preds if p is not _true]
    if not preds:
        return _true
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda e: a(e) and b(e)
    if len(preds) == 3:
        a, b, c = preds
        return lambda e: a(e) and b(e) and c(e)
    chain = tuple(preds)

    def all_of(e: Any) -> bool:
        for p in chain:
            if not p(e):
                return False
        return True
    return all_of


def _any(preds: list[Predicate]) -> Predicate:
    if not preds:
        return lambda e: False
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda e: a(e) or b(e)
    chain = tuple(preds)

    def any_of(e: Any) -> bool:
        for p in chain:
            if p(e):
                return True
        return False
    return any_of
