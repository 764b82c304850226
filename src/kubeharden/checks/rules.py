"""The declarative rule language of catalogue entries (``rule:``); docs/rule-language.md is its manual.

A rule names a field and the condition under which its value fails; the functions below
apply it with Kubernetes' own inheritance, so catalogue authors never re-implement it::

    rule:
      container_field: privileged       # effective securityContext field (container, else pod)
      fail_if: {in: [true]}             # the condition that fails; an absent field never
      message: "privileged is {value}"  # fails a comparison

    rule:
      path: resources.limits.cpu        # a dotted path below the unit the scope gives
      containers: [containers, initContainers]
      fail_if: [absent, {eq: ""}]       # a list: fails when any condition holds
      message: "no cpu limit"

    rule:
      items: ports                      # judge each entry of a list
      path: hostPort                    # below the entry
      fail_if: {not_in: [0]}
      message: "hostPort {value} (containerPort {item[containerPort]})"

    rule:
      path: securityContext.capabilities.add
      as: capability-names              # judged as the runtime reads it (READINGS)
      fail_if: {any_not_in: {set: baseline-capabilities}}
      unless: [{container_field: privileged, is: {eq: true}}]   # guards on other fields
      fix: {op: remove, value: matched} # the matched entries, as written
      message: "adds {matched}"

    rule: {template: rbac-risk, ...}    # a parameterised rule written in Python (checks/rbac.py)

    rule:                               # over a component's facts on a node (scope: facts)
      path: flags.anonymous-auth
      as: boolean                       # read as the component's flag parser reads it
      default: "true"                   # an absent flag has the component's default
      fail_if: {eq: true}
      message: "--anonymous-auth is {value}{where}"

A ``rule:`` may also be a list of such rules; their findings come in list order.

The unit a ``path`` starts from follows the control's ``scope``: the container
(``container``), the pod spec (``pod``), the object (``object``, and ``inventory`` with
``kinds:``, which runs the rule over every object of those kinds at the end of the scan), or
one component's typed facts on a node (``facts``, :class:`kubeharden.model.facts.ComponentFacts`).
The older spellings ``forbid: [v]`` (= ``fail_if: {in: [v]}``), ``expect: v`` (= fails
unless the value is ``v``; an absent value fails with ``message_unset``),
``pod_field(s)`` (= ``path`` in pod scope) keep working.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kubeharden.model.controls import NOTHING_TO_JUDGE, Control, Violation
from kubeharden.model.images import parse_image
from kubeharden.checks.readings import READINGS, image_reference
from kubeharden.checks.pods import SAFE_SYSCTLS
from kubeharden.model.findings import FIX_OPERATIONS, Fix
from kubeharden.model.facts import BASELINE_CAPABILITIES, ComponentFacts
from kubeharden.model.fieldpath import join, split
from kubeharden.model.settings import STRONG_TLS_CIPHER_SUITES, file_mode, mode_exceeds
from kubeharden.model.objects import K8sObject, as_dict, as_list
from kubeharden.model.pods import CONTAINER_LISTS, UNSET, ContainerView, PodView, Setting

_WHERE = {"container": "set on the container", "pod": "inherited from the pod securityContext",
          "unset": "not set"}

#: Keys a rule may have (anything else is a typo in the catalogue).
RULE_KEYS = frozenset({
    "container_field", "container_fields", "pod_field", "pod_fields", "path", "items", "containers",
    "fail_if", "forbid", "expect", "message", "message_unset", "linux_only", "line", "template", "skip_if",
    "as", "when", "unless", "fix", "pod_path", "default", "item_when", "not_applicable_if",
})
#: Keys of a ``when:`` / ``unless:`` entry (a guard on another field of the same unit).
GUARD_KEYS = frozenset({"path", "container_field", "pod_path", "as", "is"})
#: The fields a guard can read, one per entry.
GUARD_TARGETS = ("path", "container_field", "pod_path")
#: Kubernetes value sets a rule may name instead of copying them (``not_in: {set: safe-sysctls}``); each
#: is defined once, where its Kubernetes source is cited, and shared with the Pod Security evaluation.
VALUE_SETS: dict[str, frozenset[str]] = {
    "safe-sysctls": SAFE_SYSCTLS,
    "baseline-capabilities": BASELINE_CAPABILITIES,
    "strong-tls-cipher-suites": STRONG_TLS_CIPHER_SUITES,
}


#: Container lists of a PodSpec, the values ``containers:`` may name.
LIST_NAMES = tuple(key for _, key in CONTAINER_LISTS)


# -- operators -------------------------------------------------------------------------------


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _same(a: Any, b: Any) -> bool:
    """Equality as the API server types values: ``true`` is not ``1``, and ``"80"`` is not ``80``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    return bool(a == b)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _compare(value: Any, limit: Any, test: Callable[[float, float], bool]) -> bool:
    a, b = _number(value), _number(limit)
    return a is not None and b is not None and test(a, b)


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


#: Operators over a present value (``value`` is never None here), and their argument.
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": _same,
    "ne": lambda v, arg: not _same(v, arg),
    "in": lambda v, arg: any(_same(v, x) for x in arg),
    "not_in": lambda v, arg: not any(_same(v, x) for x in arg),
    "gt": lambda v, arg: _compare(v, arg, float.__gt__),
    "ge": lambda v, arg: _compare(v, arg, float.__ge__),
    "lt": lambda v, arg: _compare(v, arg, float.__lt__),
    "le": lambda v, arg: _compare(v, arg, float.__le__),
    "matches": lambda v, arg: isinstance(v, str) and re.search(arg, v) is not None,
    # over a list value: whether an entry equals ``arg`` / whether some entry is (not) one of ``arg``
    "contains": lambda v, arg: isinstance(v, list) and any(_same(x, arg) for x in v),
    "not_contains": lambda v, arg: isinstance(v, list) and not any(_same(x, arg) for x in v),
    "any_in": lambda v, arg: isinstance(v, list) and any(ENTRY_TESTS["any_in"](x, arg) for x in v),
    "any_not_in": lambda v, arg: isinstance(v, list) and any(ENTRY_TESTS["any_not_in"](x, arg) for x in v),
    "any_matches": lambda v, arg: isinstance(v, list) and any(ENTRY_TESTS["any_matches"](x, arg) for x in v),
    # a file's permission bits allow something the limit does not ("600 or more restrictive")
    "mode_exceeds": mode_exceeds,
}
#: The list operators that pick entries: the entries they match are the rule's ``{matched}``.
ENTRY_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "any_in": lambda x, arg: any(_same(x, y) for y in arg),
    "any_not_in": lambda x, arg: not any(_same(x, y) for y in arg),
    "any_matches": lambda x, arg: isinstance(x, str) and re.search(arg, x) is not None,
}
#: Operators whose argument is a list or a named set.
_LIST_ARGS = ("in", "not_in", "any_in", "any_not_in")
#: Operators without an argument, judging presence: absent = missing or null; empty also "", [] and {}.
PRESENCE: dict[str, Callable[[Any], bool]] = {
    "absent": lambda v: v is None,
    "exists": lambda v: v is not None,
    "empty": _is_empty,
    "not_empty": lambda v: not _is_empty(v),
}


def _conditions(rule: dict[str, Any]) -> list[Any]:
    """The rule's failing conditions, with the older ``forbid`` spelled as ``in``."""
    if "fail_if" in rule:
        return _listed(rule["fail_if"])
    if "forbid" in rule:
        return [{"in": list(rule.get("forbid") or [])}]
    return []


def _argument(arg: Any) -> Any:
    """An operator's argument with a named set resolved (``{set: name, except: [..]}`` leaves some out)."""
    if isinstance(arg, dict) and "set" in arg:
        return VALUE_SETS[arg["set"]] - frozenset(arg.get("except") or ())
    return arg


def _test(condition: Any) -> Callable[[Any], bool]:
    """A condition as a function of the value (named sets resolved once)."""
    if isinstance(condition, str):
        return PRESENCE[condition]
    (op, arg), = condition.items()
    arg = _argument(arg)
    compare = COMPARISONS[op]
    return lambda value: value is not None and compare(value, arg)


def _entry_test(condition: Any) -> Callable[[Any], bool] | None:
    """For a list operator that picks entries (``any_in``, ``any_not_in``), the test of one entry."""
    if not isinstance(condition, dict) or len(condition) != 1:
        return None
    (op, arg), = condition.items()
    if op not in ENTRY_TESTS:
        return None
    arg, entry = _argument(arg), ENTRY_TESTS[op]
    return lambda x: entry(x, arg)


class Guard:
    """One ``when:`` / ``unless:`` entry: a condition on another field of the same unit, or ``any:`` of them.

    ``read(kind, name, parts)`` gives a field's value in the unit: ``kind`` is ``path`` (a path below
    the unit), ``container_field`` (an effective securityContext field) or ``pod_path`` (a path below
    the pod template read as a Pod: ``metadata.annotations``, ``spec.os.name``); ``parts`` are the
    path's steps, split once here.
    """

    __slots__ = ("kind", "name", "parts", "reading", "tests", "alternatives", "when_unset")

    def __init__(self, raw: dict[str, Any]) -> None:
        self.alternatives = tuple(Guard(g) for g in raw["any"]) if "any" in raw else ()
        self.kind = next((k for k in GUARD_TARGETS if k in raw), "path")
        self.name = str(raw.get(self.kind) or "")
        self.parts = steps(self.name) if self.kind != "container_field" else ()
        self.reading = READINGS[raw["as"]] if "as" in raw else None
        self.tests = tuple(_test(c) for c in _listed(raw.get("is", [])))
        #: whether it holds for an absent field (most fields guards read are unset), worked out once
        unset = self.reading(None) if self.reading is not None else None
        self.when_unset = any(test(unset) for test in self.tests)

    def holds(self, read: Callable[[str, str, tuple[Any, ...]], Any]) -> bool:
        # plain loops, not any(): a guard is judged for every rule of every container
        if self.alternatives:
            for guard in self.alternatives:
                if guard.holds(read):
                    return True
            return False
        value = read(self.kind, self.name, self.parts)
        if value is None:
            return self.when_unset
        if self.reading is not None:
            value = self.reading(value)
        for test in self.tests:
            if test(value):
                return True
        return False


_NO_EXPECT = object()


class CompiledRule:
    """One rule of a control, with its paths split and its conditions turned into functions once."""

    __slots__ = ("raw", "fields", "paths", "items", "containers", "linux_only", "line_at", "skip", "fail",
                 "expect", "has_unset_message", "line_steps", "reading", "when", "unless", "pick", "fix",
                 "default", "item_when", "map_items", "not_applicable_if", "target", "guarded", "message_names",
                 "targets", "when_unset")

    def __init__(self, raw: dict[str, Any], scope: str = "") -> None:
        self.raw = raw
        #: what the rule reads: ``path`` (below the unit), ``pod_path`` (the pod template, per container) or
        #: ``field`` (container_field(s) as the kubelet takes them, or pod_field(s))
        self.target = "path" if "path" in raw else "pod_path" if "pod_path" in raw else "field"
        if "path" in raw or "pod_path" in raw:
            names = [str(raw.get("path", raw.get("pod_path")))]
        elif scope == "container":
            names = _fields(raw, "container_field", "container_fields")
        else:
            names = _fields(raw, "pod_field", "pod_fields")
        self.fields = tuple(names)
        self.paths = tuple(steps(name) for name in names)
        #: each field the rule judges (:func:`_targets`)
        self.targets = _targets(self.fields, self.paths)
        self.items = steps(str(raw["items"])) if "items" in raw else None
        self.containers = frozenset(raw["containers"]) if raw.get("containers") else None
        self.linux_only = bool(raw.get("linux_only"))
        self.line_at = raw.get("line")
        #: ``line: a.b``: (steps to the mapping, key) of the field whose line the findings take
        self.line_steps = None if self.line_at in (None, "item") else steps(str(self.line_at))
        self.skip = tuple(_test(c) for c in _listed(raw["skip_if"])) if "skip_if" in raw else ()
        self.fail = tuple(_test(c) for c in _conditions(raw))
        self.expect = raw["expect"] if "expect" in raw else _NO_EXPECT
        self.has_unset_message = bool(raw.get("message_unset"))
        self.reading = READINGS.get(str(raw.get("as"))) if "as" in raw else None
        self.when = tuple(Guard(g) for g in raw.get("when") or ())
        self.unless = tuple(Guard(g) for g in raw.get("unless") or ())
        #: guards that make the rule skip its unit as one it does not concern (facts scope: when they hold for
        #: every rule, the control is not applicable to the component rather than passed)
        self.not_applicable_if = tuple(Guard(g) for g in raw.get("not_applicable_if") or ())
        self.pick = next((t for t in map(_entry_test, _conditions(raw)) if t is not None), None)
        self.fix = raw.get("fix")
        #: the value an absent field has (the component's documented default), or None
        self.default = raw.get("default")
        self.item_when = tuple(Guard(g) for g in raw.get("item_when") or ())
        #: ``items:`` may name a mapping (a component's ``files`` by path) only over typed node facts: an API
        #: object's list field written as a mapping is a wrong type, reported as an invalid object instead
        self.map_items = scope == "facts"
        #: whether the rule has guards at all (most have none)
        self.guarded = bool(self.when or self.unless or self.not_applicable_if)
        #: the fields its messages read (``{value}``, ``{item[name]}``, ``{image[tag]}`` …): only those are
        #: worked out for a violation
        self.message_names = _message_names(raw)
        #: :meth:`judge` of an absent field (most fields rules read are unset), worked out once
        self.when_unset = self.judge(None)

    def applies(self, read: Callable[[str, str, tuple[Any, ...]], Any]) -> bool:
        """Whether the rule's ``when`` entries all hold and none of its ``unless`` entries does."""
        if not self.guarded:
            return True
        for guard in self.when:
            if not guard.holds(read):
                return False
        for guard in self.unless:
            if guard.holds(read):
                return False
        return not self.concerns_not(read)

    def concerns_not(self, read: Callable[[str, str, tuple[Any, ...]], Any]) -> bool:
        """Whether one of the rule's ``not_applicable_if`` entries holds: the unit is not one it concerns."""
        for guard in self.not_applicable_if:
            if guard.holds(read):
                return True
        return False

    def matched(self, value: Any) -> list[int]:
        """Positions of the entries of list ``value`` that its entry-picking operator matches."""
        if self.pick is None or not isinstance(value, list):
            return []
        return [i for i, x in enumerate(value) if self.pick(x)]

    def violation_fix(self, path: str, written: Any, picked: list[int]) -> Fix | bool | None:
        """The fix of a violation at ``path``: None (the control's ``fix:``), False (none), or the rule's own
        ``fix:``, whose ``value: matched`` stands for the matched entries as written."""
        if self.fix is None:
            return None
        if self.fix is False:
            return False
        value = self.fix.get("value")
        if value == "matched":
            value = [written[i] for i in picked] if isinstance(written, list) else []
        return Fix(self.fix["op"], path, value, self.fix.get("safe") is True)

    def judge(self, value: Any) -> str | None:
        """Which message key applies to ``value`` (``message`` or ``message_unset``), or None when it passes.

        ``value`` None means the field is absent (missing or null), as the API server treats it.
        """
        if self.skip and any(test(value) for test in self.skip):
            return None
        if self.expect is not _NO_EXPECT:
            if value is None:
                return "message_unset"
            return None if _same(value, self.expect) else "message"
        for test in self.fail:
            if test(value):
                return "message_unset" if value is None and self.has_unset_message else "message"
        return None


def judge(rule: dict[str, Any], value: Any) -> str | None:
    """:meth:`CompiledRule.judge` of the rule written as ``rule``."""
    return CompiledRule(rule).judge(value)


# -- validation ------------------------------------------------------------------------------


def problems(rule: Any, scope: str) -> list[str]:
    """What is wrong with a catalogue ``rule:`` (empty when it is usable); ``scope`` is the control's."""
    if isinstance(rule, list):
        return [p for part in rule for p in problems(part, scope)] or ([] if rule else ["an empty rule list"])
    if not isinstance(rule, dict):
        return ["a rule is a mapping or a list of mappings"]
    if "template" in rule:  # the template checks its own parameters when it first runs
        return [] if isinstance(rule["template"], str) else ["template names a registered template"]
    out = [f"unknown rule key {key!r}" for key in sorted(set(rule) - RULE_KEYS)]
    targets = [k for k in ("container_field", "container_fields", "pod_field", "pod_fields", "path", "pod_path")
               if k in rule]
    if len(targets) != 1:
        out.append("a rule names exactly one of container_field(s), pod_field(s), path, pod_path")
    if "pod_path" in targets and scope != "container":
        out.append("a pod_path target needs scope: container (pod rules' paths start at the pod spec)")
    if any(k.startswith("container_") for k in targets) and scope != "container":
        out.append("container_field needs scope: container")
    if any(k in ("pod_field", "pod_fields") for k in targets) and scope != "pod":
        out.append("pod_field needs scope: pod")
    if sum(k in rule for k in ("fail_if", "forbid", "expect")) != 1:
        out.append("a rule has exactly one of fail_if, forbid, expect")
    for key in ("fail_if", "forbid"):
        if key in rule and rule[key] in ([], {}, None, ""):
            out.append(f"{key}: is empty, so the rule could never fail")
    for key in ("message", "message_unset"):
        if key in rule:
            try:
                list(string.Formatter().parse(str(rule[key])))
            except ValueError as exc:
                out.append(f"{key}: not a valid message template ({exc})")
    for condition in _conditions(rule) + (_listed(rule["skip_if"]) if "skip_if" in rule else []):
        out.extend(_condition_problems(condition))
    for name in rule.get("containers") or ():
        if name not in LIST_NAMES:
            out.append(f"containers: {name!r} is not one of {', '.join(LIST_NAMES)}")
    if rule.get("line") not in (None, "item"):
        out.extend(_path_problems("line", rule["line"]))
    for key in ("path", "items", "pod_field", "pod_path"):
        out.extend(_path_problems(key, rule.get(key)))
    for name in rule.get("pod_fields") or ():
        out.extend(_path_problems("pod_fields", name))
    if "as" in rule and rule["as"] not in READINGS:
        out.append(f"as: {rule['as']!r} is not one of {', '.join(READINGS)}")
    for key in ("when", "unless", "not_applicable_if"):
        if key in rule:
            guards = rule[key]
            out.extend(f"{key}: {p}" for g in (guards if isinstance(guards, list) else [guards])
                       for p in _guard_problems(g, scope))
    if "fix" in rule:
        out.extend(_fix_problems(rule["fix"]))
    if "item_when" in rule:
        guards = rule["item_when"]
        if "items" not in rule:
            out.append("item_when: needs items: (it judges each entry)")
        out.extend(f"item_when: {p}" for g in (guards if isinstance(guards, list) else [guards])
                   for p in _guard_problems(g, "object"))
    if isinstance(rule.get("default"), (dict, list)):
        out.append("default: is the scalar value an absent field has")
    return out


def _path_problems(key: str, path: Any) -> list[str]:
    if path is None:
        return []
    try:
        steps(str(path))
    except ValueError as exc:
        return [f"{key}: {exc}"]
    return []


def _guard_problems(guard: Any, scope: str) -> list[str]:
    if not isinstance(guard, dict):
        return ["an entry is a mapping"]
    if "any" in guard:
        if set(guard) != {"any"} or not isinstance(guard["any"], list) or not guard["any"]:
            return ["any: takes a non-empty list of entries and nothing beside it"]
        return [p for g in guard["any"] for p in _guard_problems(g, scope)]
    out = [f"unknown key {key!r}" for key in sorted(set(guard) - GUARD_KEYS)]
    if sum(k in guard for k in GUARD_TARGETS) != 1:
        out.append(f"an entry names exactly one of {', '.join(GUARD_TARGETS)}")
    out.extend(_path_problems("path", guard.get("path")))
    out.extend(_path_problems("pod_path", guard.get("pod_path")))
    if "container_field" in guard and scope != "container":
        out.append("container_field needs scope: container")
    if "pod_path" in guard and scope not in ("container", "pod"):
        out.append("pod_path needs scope: container or pod")
    if "as" in guard and guard["as"] not in READINGS:
        out.append(f"as: {guard['as']!r} is not one of {', '.join(READINGS)}")
    if "is" not in guard:
        out.append("an entry says what the field is (is: a condition or a list of them)")
    for condition in _listed(guard.get("is", [])):
        out.extend(_condition_problems(condition))
    return out


def _fix_problems(fix: Any) -> list[str]:
    if fix is False:
        return []
    if not isinstance(fix, dict) or fix.get("op") not in FIX_OPERATIONS:
        return [f"fix: false, or op: one of {', '.join(FIX_OPERATIONS)}"]
    return [f"fix: unknown key {key!r} (a rule's fix has op, value, safe and applies at its finding's path)"
            for key in sorted(set(fix) - {"op", "value", "safe"})]


def _condition_problems(condition: Any) -> list[str]:
    if isinstance(condition, str):
        return [] if condition in PRESENCE else [f"unknown operator {condition!r}"]
    if not isinstance(condition, dict) or len(condition) != 1:
        return [f"a condition is an operator name or a one-key mapping, not {condition!r}"]
    (op, arg), = condition.items()
    if op not in COMPARISONS:
        return [f"unknown operator {op!r}"]
    if op in _LIST_ARGS and isinstance(arg, dict):
        known = ", ".join(VALUE_SETS)
        if set(arg) - {"set", "except"} or arg.get("set") not in VALUE_SETS:
            return [f"{op}: a named set is one of {known} ({{set: name, except: [..]}})"]
        return [] if isinstance(arg.get("except", []), list) else [f"{op}: except takes a list"]
    if op in _LIST_ARGS and not isinstance(arg, list):
        return [f"{op} takes a list or a named set"]
    if op in ("matches", "any_matches"):
        try:
            re.compile(arg)
        except (re.error, TypeError) as exc:
            return [f"{op}: bad regular expression {arg!r} ({exc})"]
    if op in ("gt", "ge", "lt", "le") and _number(arg) is None:
        return [f"{op} takes a number"]
    if op == "mode_exceeds" and (not isinstance(arg, str) or file_mode(arg) is None):
        return [f"{op} takes permission bits in octal, quoted (\"0600\")"]
    return []


# -- paths -----------------------------------------------------------------------------------


def steps(path: str) -> tuple[Any, ...]:
    """The steps of a rule's path, in the API server's notation (:mod:`kubeharden.model.fieldpath`):
    ``a.b`` fields, ``[key.with.dots]`` map keys (annotations, labels), ``[0]`` list indexes.
    Raises ValueError for text that is no such path."""
    return tuple(split(path))


class _Lookup(dict):
    """A mapping for message templates: a missing key reads as ``default`` (``{item[name]}``)."""

    def __init__(self, data: Any, default: Any = None) -> None:
        super().__init__(as_dict(data))
        self.default = default

    def __missing__(self, key: Any) -> Any:
        return self.default


def _dig(root: Any, parts: tuple[Any, ...]) -> Any:
    """The value at ``parts`` below ``root``, None where a step is missing (most paths rules read are unset:
    the walk stops at the first missing step)."""
    node = root
    for part in parts:
        if node is None:
            return None
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and -len(node) <= part < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
    return node


def path_reader(root: Any, pod: PodView | None = None) -> Callable[[str, str, tuple[Any, ...]], Any]:
    """The ``when:``/``unless:`` reader of a unit whose paths start at ``root`` (pod spec, object, facts);
    ``pod_path`` entries read ``pod``'s template as a Pod (metadata and spec)."""
    def read(kind: str, name: str, parts: tuple[Any, ...]) -> Any:
        return _dig(_pod_template(pod) if kind == "pod_path" else root, parts)

    return read


def _named(parts: tuple[Any, ...], container: str) -> tuple[Any, ...]:
    """``parts`` with ``{container}`` in each step replaced by the container's name (after parsing, so a
    name that looks like path syntax stays one key)."""
    return tuple(p.replace("{container}", container) if isinstance(p, str) else p for p in parts)


def _pod_template(pod: PodView | None) -> dict[str, Any]:
    return {"metadata": pod.template_meta, "spec": pod.spec} if pod is not None else {}


def _at(root: dict[str, Any], parts: tuple[Any, ...]) -> tuple[Any, dict[str, Any] | None, Any]:
    """(value, the mapping that holds it or None, its key) of the path ``parts`` below ``root``."""
    key = parts[-1]
    if isinstance(key, int):  # a list entry: no key to point at
        return _dig(root, parts), None, None
    holder = _dig(root, parts[:-1]) if len(parts) > 1 else root
    if not isinstance(holder, dict):
        return None, None, key
    return holder.get(key), holder, key


def _targets(fields: tuple[str, ...], paths: tuple[tuple[Any, ...], ...]) -> tuple[tuple[Any, ...], ...]:
    """(field as written, its steps, the steps of the mapping that holds it, its key) of each field a rule
    judges, split once; a field that is a list entry (``a[0]``), or no field, has neither (None, None): it is
    read by :func:`_at`."""
    return tuple((name, parts, parts[:-1], parts[-1]) if parts and not isinstance(parts[-1], int)
                 else (name, parts, None, None) for name, parts in zip(fields, paths, strict=True))


def _unset_anchor(root: dict[str, Any], parts: tuple[str, ...]) -> tuple[Any, str | None]:
    """Where an absent field is reported: the key of the mapping that should hold it, else ``root``."""
    if len(parts) < 2:
        return None, None
    grand = _dig(root, parts[:-2])
    return (grand, parts[-2]) if isinstance(grand, dict) and grand else (None, None)


def _show(value: Any) -> Any:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, list):  # a list reads as its first three entries
        return ", ".join(map(str, value[:3]))
    if isinstance(value, dict):
        return _Lookup(value)
    return str(value)


#: Message fields that name the unit (each scope's ``names()``: the container and its image; the object's
#: name, namespace, annotations and kind; a component and its node).
UNIT_NAMES = frozenset({"container", "image", "name", "namespace", "annotations", "kind", "component", "node"})
#: Every field a message may read.
MESSAGE_NAMES = frozenset({"field", "where", "level", "item", "entry", "leaf", "value", "values", "written",
                           "matched", *UNIT_NAMES})


def _message_names(rule: dict[str, Any]) -> frozenset[str]:
    """The fields the rule's ``message`` and ``message_unset`` read (``{item[name]}`` reads ``item``), with
    ``field`` and ``value``, which the plain form reads; every field when a template cannot be parsed."""
    names = {"field", "value"}
    for key in ("message", "message_unset"):
        try:
            for _, name, spec, _ in string.Formatter().parse(str(rule.get(key) or "")):
                if spec and "{" in spec:  # a nested field ({value:{width}}): give it everything
                    return MESSAGE_NAMES
                if name is not None:
                    names.add(re.split(r"[.\[]", name, maxsplit=1)[0])
        except ValueError:
            return MESSAGE_NAMES
    return frozenset(names)


def _render(rule: dict[str, Any], key: str, **values: Any) -> str:
    """The message; a value of the wrong type for the template (a string where a mapping is read)
    gets the plain ``field is value`` form rather than stopping the control."""
    template = rule.get(key) or rule.get("message") or "{field} is {value}"
    try:
        return str(template).format(**values)
    except (LookupError, TypeError, ValueError, AttributeError):
        return f"{values.get('field')} is {values.get('value')!s}"


def _path_rule(rule: CompiledRule, root: dict[str, Any], base: str, line: Callable[..., int | None],
               names: Callable[[], dict[str, Any]], read: Callable[[str, str, tuple[Any, ...]], Any],
               paths: tuple[tuple[Any, ...], ...] | None = None) -> Iterator[Violation]:
    """Apply a path rule (each path, per ``items`` entry when given) below ``root``, which sits at field
    path ``base`` of the object, when its guards hold (``read`` reads the unit for them). A violation's
    path is the judged field's (absent or not), or the entry's when the rule reports at ``line: item``.

    The guards are judged only once a value fails: most values pass, and guards read other fields (they
    are pure, so when they are read does not change what is found)."""
    applies = not rule.guarded  # whether the guards hold, once known
    targets = rule.targets if paths is None else _targets(rule.fields, paths)
    default, reading, judge, when_unset = rule.default, rule.reading, rule.judge, rule.when_unset
    for entry, entry_key, step in ((root, None, None),) if rule.items is None else _entries(rule, root):
        if rule.item_when and not all(g.holds(path_reader(entry)) for g in rule.item_when):
            continue
        for name, parts, above, key in targets:  # (the loop of every rule over every unit: kept lean)
            if above is None:  # a list entry: no key to point at
                written, holder, key = _at(entry, parts)
            else:  # _at, with the path split once
                holder = _dig(entry, above) if above else entry
                if isinstance(holder, dict):
                    written = holder.get(key)
                else:
                    written = holder = None
            defaulted = written is None and default is not None
            if defaulted:
                written = default
            value = written if reading is None else reading(written)
            which = when_unset if value is None else judge(value)
            if which is None:
                continue
            if not applies:
                if not rule.applies(read):
                    return
                applies = True
            item = None if rule.items is None else entry
            at = rule.line_at
            if at == "item":
                where = line(item)
            elif rule.line_steps:
                holder_at = _dig(entry, rule.line_steps[:-1])
                where = line(holder_at if isinstance(holder_at, dict) else None, rule.line_steps[-1])
            elif value is not None and not defaulted:
                where = line(holder, key)
            else:
                where = line(*_unset_anchor(entry, parts)) if item is None else line(item)
            entry_path = base if step is None else join(base, *(rule.items or ()), step)
            path = entry_path if at == "item" else join(entry_path, *parts)
            picked = rule.matched(value)
            yield Violation(_message(rule, which, value, written, picked, item, names, field=name,
                                     where=" (the default)" if defaulted else "", level="", entry=entry_key,
                                     leaf=parts[-1]),
                            line=where, path=path, fix=rule.violation_fix(path, written, picked))


def _entries(rule: CompiledRule, root: dict[str, Any]) -> list[tuple[dict[str, Any], Any, Any]]:
    """(entry, its key, its path step after ``items``) of the entries an ``items:`` rule judges: each mapping
    entry of a list (key and step: its index) or, over node facts, each mapping value of a map (key: its
    key, such as a file's path in ``files``; step: the key as text)."""
    found = _dig(root, rule.items or ())
    if isinstance(found, dict) and rule.map_items:
        return [(e, k, str(k)) for k, e in found.items() if isinstance(e, dict)]
    return [(e, i, i) for i, e in enumerate(as_list(found)) if isinstance(e, dict)]


def _value_fields(value: Any, written: Any, picked: list[int], wanted: frozenset[str]) -> dict[str, Any]:
    """Message fields of a judged value: ``{value}`` (shown), and those of ``wanted`` of ``{values}`` (every
    entry of a list), ``{written}`` (the value as the manifest has it, before an ``as:`` reading),
    ``{matched}``."""
    shown = _show(value)
    fields = {"value": shown}
    if "values" in wanted:
        fields["values"] = ", ".join(map(str, value)) if isinstance(value, list) else shown
    if "written" in wanted:
        fields["written"] = written
    if "matched" in wanted:
        fields["matched"] = ", ".join(str(value[i]) for i in picked)
    return fields


def _message(rule: CompiledRule, which: str, value: Any, written: Any, picked: list[int], item: Any,
             names: Callable[[], dict[str, Any]], **fields: Any) -> str:
    """A violation's message (:func:`_render` of ``rule``'s ``which`` template): ``fields``, the judged
    value's fields (:func:`_value_fields`), ``{item}`` (the ``items:`` entry) and the unit's names (``names()``:
    container and image, object name and kind …); those the rule's templates do not read are not worked out."""
    wanted = rule.message_names
    fields.update(_value_fields(value, written, picked, wanted))
    if "item" in wanted:
        fields["item"] = _Lookup(item)
    if not wanted.isdisjoint(UNIT_NAMES):
        fields.update(names())
    return _render(rule.raw, which, **fields)


# -- runners per scope -------------------------------------------------------------------------


def compile_rules(control: Control) -> tuple[CompiledRule, ...]:
    """The control's ``rule:`` (one rule or a list) compiled, in order."""
    rule = control.rule
    return tuple(CompiledRule(part, control.scope) for part in (rule if isinstance(rule, list) else [rule]))


def _fields(rule: dict[str, Any], single: str, plural: str) -> list[str]:
    if single in rule:
        return [str(rule[single])]
    return [str(x) for x in rule.get(plural) or []]


def effective_setting(c: ContainerView, name: str) -> Setting:
    """The value the kubelet uses for securityContext field ``name`` (dotted below ``windowsOptions``).

    ``windowsOptions`` merge per field, container first ("Configure RunAsUserName for Windows
    pods and containers"); other fields come whole from the container, else from the pod for
    the fields PodSecurityContext also has (:data:`kubeharden.model.pods.INHERITED_FIELDS`). Worked out once
    per container and field (``c.settings``): many rules and guards read the same field.
    """
    setting = c.settings.get(name)
    if setting is None:
        setting = c.settings[name] = _effective_setting(c, name)
    return setting


def _effective_setting(c: ContainerView, name: str) -> Setting:
    head, _, rest = name.partition(".")
    if head == "windowsOptions" and rest:
        return c.windows_option(rest)
    setting = c.effective(head)
    if not rest or setting is UNSET:
        return setting
    value, holder, key = _at(as_dict(setting.value), tuple(rest.split(".")))
    return Setting(value, holder, key, setting.level) if value is not None else UNSET


class _ContainerUnit:
    """One container as the rules of every container control read it, worked out once per container (the
    engine runs each container's controls one after another: memo in the scan's context): whether its pod
    is a Windows pod, its list and path, its fields for guards (:meth:`read`), its names for messages."""

    __slots__ = ("c", "windows", "list_name", "path", "line", "_template")

    def __init__(self, c: ContainerView) -> None:
        self.c = c
        self.windows = c.pod.is_windows
        self.list_name = c.list_name
        self.path = c.path
        self.line = c.line
        self._template: dict[str, Any] | None = None

    def template(self) -> dict[str, Any]:
        """The pod template read as a Pod (``metadata`` and ``spec``), where ``pod_path`` starts."""
        if self._template is None:
            self._template = _pod_template(self.c.pod)
        return self._template

    def read(self, kind: str, name: str, parts: tuple[Any, ...]) -> Any:
        """A guard's field (:class:`Guard`): an effective securityContext field, a field of the pod template
        (``{container}`` in a step is this container's name) or a path below the container."""
        if kind == "container_field":
            setting = effective_setting(self.c, name)
            return setting.value if setting.level != "unset" else None
        if kind == "pod_path":  # annotations keyed by container name: [container.apparmor…/{container}]
            return _dig(self.template(), _named(parts, self.c.name) if "{container}" in name else parts)
        return _dig(self.c.raw, parts)

    def names(self) -> dict[str, Any]:
        """The container's message fields: ``{container}`` and ``{image}`` (registry, repository, tag, digest)."""
        image = image_reference(self.c.raw.get("image"))
        return {"container": self.c.name, "image": _Lookup(parse_image(image)._asdict() if image else {})}


def _container(compiled: tuple[CompiledRule, ...], c: ContainerView, linux_only: bool,
               ctx: Any = None) -> Iterator[Violation]:
    """The violations of ``compiled`` in container ``c``; ``linux_only``: every rule is (on a Windows pod the
    control then judges nothing). ``ctx``: the scan's context, whose memo keeps what the rules read of ``c``."""
    unit = _ContainerUnit(c) if ctx is None else ctx.scan.memo("rule-container", c, _ContainerUnit)
    windows = unit.windows
    if windows and linux_only:
        yield NOTHING_TO_JUDGE  # a Linux setting a Windows pod must leave unset: not applicable, never a pass
        return
    read, names, line = unit.read, unit.names, unit.line
    for rule in compiled:
        if rule.linux_only and windows:
            continue
        if rule.containers is not None and unit.list_name not in rule.containers:
            continue
        if rule.target == "path":
            yield from _path_rule(rule, c.raw, unit.path, line, names, read)
            continue
        if rule.target == "pod_path":  # a field of the pod template (an annotation), judged per container
            yield from _path_rule(rule, unit.template(), c.pod.spec_path.rpartition(".")[0], line, names,
                                  read, tuple(_named(parts, c.name) for parts in rule.paths))
            continue
        applies = not rule.guarded  # whether the guards hold, judged once a value fails (as in _path_rule)
        for name in rule.fields:
            setting = effective_setting(c, name)
            is_set = setting.level != "unset"
            written = setting.value if is_set else None
            value = written if rule.reading is None else rule.reading(written)
            which = rule.when_unset if value is None else rule.judge(value)
            if which is None:
                continue
            if not applies:
                if not rule.applies(read):
                    break
                applies = True
            where = line(setting.holder, setting.key) if is_set else line(c.sc or None, None)
            # The field where it is set (the pod's, when inherited), else where it belongs: the container's.
            base = c.pod.spec_path if setting.level == "pod" else unit.path
            path = join(base, "securityContext", *name.split("."))
            picked = rule.matched(value)
            yield Violation(_message(rule, which, value, written, picked, None, names, field=name,
                                     where=_WHERE[setting.level], level=setting.level),
                            line=where, path=path, fix=rule.violation_fix(path, written, picked))


def _pod(compiled: tuple[CompiledRule, ...], pod: PodView) -> Iterator[Violation]:
    read = path_reader(pod.spec, pod)
    if pod.is_windows and all(rule.linux_only for rule in compiled):
        yield NOTHING_TO_JUDGE
        return
    for rule in compiled:
        if rule.linux_only and pod.is_windows:
            continue
        yield from _path_rule(rule, pod.spec, pod.spec_path, pod.line, dict, read)


def _object(compiled: tuple[CompiledRule, ...], obj: K8sObject) -> Iterator[Violation]:
    def names() -> dict[str, Any]:
        return {"name": obj.name, "namespace": obj.namespace, "annotations": _Lookup(obj.annotations, "?"),
                "kind": obj.kind}

    read = path_reader(obj.raw)
    for rule in compiled:
        yield from _path_rule(rule, obj.raw, "", obj.line, names, read)


def _facts(compiled: tuple[CompiledRule, ...], components: tuple[str, ...],
           facts: ComponentFacts) -> Iterator[Violation]:
    if components and facts.component not in components:
        return
    view = facts.view()

    def names() -> dict[str, Any]:
        return {"component": facts.component, "node": facts.node}

    read = path_reader(view)
    if all(rule.concerns_not(read) for rule in compiled):
        # every rule says this component is none it concerns (etcd behind a local socket): the control
        # judged nothing, so it is not applicable here rather than passed
        yield NOTHING_TO_JUDGE
        return
    for rule in compiled:
        for v in _path_rule(rule, view, "", facts.line, names, read):
            yield v._replace(obj=facts)


def _inventory(compiled: tuple[CompiledRule, ...], kinds: tuple[str, ...], inventory: Any) -> Iterator[Violation]:
    for obj in inventory.of_kind(*kinds):
        for v in _object(compiled, obj):
            yield v._replace(obj=obj)


def runner(control: Control) -> Callable[..., Iterator[Violation]]:
    """The control's rule compiled once, as a function of the unit its scope gives (container, pod,
    object, or the inventory, over every object of the control's ``kinds``) and, as the engine calls every
    control's logic, the scan's context (``run(unit, ctx)``), which a rule does not read."""
    compiled = compile_rules(control)
    if control.scope == "container":
        linux_only = all(rule.linux_only for rule in compiled)
        return lambda c, ctx=None: _container(compiled, c, linux_only, ctx)
    if control.scope == "pod":
        return lambda pod, ctx=None: _pod(compiled, pod)
    if control.scope == "object":
        return lambda obj, ctx=None: _object(compiled, obj)
    if control.scope == "facts":
        return lambda facts, ctx=None: _facts(compiled, control.kinds, facts)
    return lambda inventory, ctx=None: _inventory(compiled, control.kinds, inventory)


def run_container_rule(control: Control, c: ContainerView) -> Iterator[Violation]:
    """Findings of a container-scope rule over container ``c`` (one per failing field or entry)."""
    compiled = compile_rules(control)
    return _container(compiled, c, all(rule.linux_only for rule in compiled))


def run_pod_rule(control: Control, pod: PodView) -> Iterator[Violation]:
    """Findings of a pod-scope rule over the pod spec of ``pod``."""
    return _pod(compile_rules(control), pod)


def run_object_rule(control: Control, obj: K8sObject) -> Iterator[Violation]:
    """Findings of an object-scope rule over ``obj`` (paths start at the object root)."""
    return _object(compile_rules(control), obj)


def file_roles(control: Control) -> frozenset[str]:
    """The ``role``s of ``files`` entries a facts control judges (``items: files`` with an ``item_when``
    on ``role``), empty for controls that read no files."""
    if control.scope != "facts":
        return frozenset()
    roles: set[str] = set()
    for part in control.rule if isinstance(control.rule, list) else [control.rule]:
        if not isinstance(part, dict) or part.get("items") != "files":
            continue
        for cond in part.get("item_when") or []:
            test = cond.get("is") if isinstance(cond, dict) and cond.get("path") == "role" else None
            if isinstance(test, dict) and isinstance(test.get("in"), list):
                roles.update(str(r) for r in test["in"])
    return frozenset(roles)


def unseen_files(control: Control, facts: ComponentFacts) -> list[str]:
    """Files of the roles ``control`` judges that the component's flags (or its installer's defaults) name
    but the node source could not see (``exists: False``: not in the node tree, not mounted, unreadable):
    the control cannot judge them, so it must not pass for them. Files meant to be gone once the node runs
    (``optional``: the kubelet's bootstrap kubeconfig) are left out."""
    roles = file_roles(control)
    if not roles:
        return []
    return sorted(str(path) for path, entry in facts.files.items()
                  if isinstance(entry, Mapping) and entry.get("exists") is False and entry.get("role") in roles
                  and not entry.get("optional"))


def run_facts_rule(control: Control, facts: ComponentFacts) -> Iterator[Violation]:
    """Findings of a facts-scope rule over one component's facts (paths start at ``facts.view()``), when
    the control's ``kinds`` (the components it judges) include it; each violation's ``obj`` is ``facts``."""
    return _facts(compile_rules(control), control.kinds, facts)


def run_inventory_rule(control: Control, inventory: Any) -> Iterator[Violation]:
    """An object rule over every object of the control's ``kinds`` in the inventory, reported on each."""
    return _inventory(compile_rules(control), control.kinds, inventory)
