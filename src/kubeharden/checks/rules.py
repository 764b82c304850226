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

    rule: {template: rbac-risk, ...}    # a parameterised rule written in Python (checks/rbac.py)

A ``rule:`` may also be a list of such rules; their findings come in list order.

The unit a ``path`` starts from follows the control's ``scope``: the container
(``container``), the pod spec (``pod``), the object (``object``, and ``inventory`` with
``kinds:``, which runs the rule over every object of those kinds at the end of the scan).
The older spellings ``forbid: [v]`` (= ``fail_if: {in: [v]}``), ``expect: v`` (= fails
unless the value is ``v``; an absent value fails with ``message_unset``),
``pod_field(s)`` (= ``path`` in pod scope) keep working.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from kubeharden.checks.catalogue import Control, Violation
from kubeharden.checks.pods import BASELINE_CAPABILITIES, SAFE_SYSCTLS
from kubeharden.model.objects import K8sObject, as_dict, as_list
from kubeharden.model.pods import CONTAINER_LISTS, UNSET, ContainerView, PodView, Setting

_WHERE = {"container": "set on the container", "pod": "inherited from the pod securityContext",
          "unset": "not set", "value": ""}

#: Keys a rule may have (anything else is a typo in the catalogue).
RULE_KEYS = frozenset({
    "container_field", "container_fields", "pod_field", "pod_fields", "path", "items", "containers",
    "fail_if", "forbid", "expect", "message", "message_unset", "linux_only", "line", "template", "skip_if",
})
#: Kubernetes value sets a rule may name instead of copying them (``not_in: {set: safe-sysctls}``); each
#: is defined once, where its Kubernetes source is cited, and shared with the Pod Security evaluation.
VALUE_SETS: dict[str, frozenset[str]] = {
    "safe-sysctls": SAFE_SYSCTLS,
    "baseline-capabilities": BASELINE_CAPABILITIES,
}
#: Container lists of a PodSpec, the values ``containers:`` may name.
LIST_NAMES = tuple(f"{kind}s" for kind, _ in CONTAINER_LISTS)


# -- operators -------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    """Equality as the API server sees types: ``true`` is not ``1``, ``1`` is not ``1.0`` of a string."""
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
}
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


def _fails(condition: Any, value: Any) -> bool:
    if isinstance(condition, str):
        return PRESENCE[condition](value)
    (op, arg), = condition.items()
    if isinstance(arg, dict) and "set" in arg:
        arg = VALUE_SETS[arg["set"]]
    return value is not None and COMPARISONS[op](value, arg)


def _holds(conditions: Any, value: Any) -> bool:
    found = conditions if isinstance(conditions, list) else [conditions]
    return any(_fails(condition, value) for condition in found)


def judge(rule: dict[str, Any], value: Any) -> str | None:
    """Which message key applies to ``value`` (``message`` or ``message_unset``), or None when it passes.

    ``value`` None means the field is absent (missing or null), as the API server treats it.
    """
    if "skip_if" in rule and _holds(rule["skip_if"], value):
        return None
    if "expect" in rule:
        if value is None:
            return "message_unset"
        return None if _same(value, rule["expect"]) else "message"
    for condition in _conditions(rule):
        if _fails(condition, value):
            return "message_unset" if value is None and rule.get("message_unset") else "message"
    return None


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
    targets = [k for k in ("container_field", "container_fields", "pod_field", "pod_fields", "path") if k in rule]
    if len(targets) != 1:
        out.append("a rule names exactly one of container_field(s), pod_field(s), path")
    if any(k.startswith("container_") for k in targets) and scope != "container":
        out.append("container_field needs scope: container")
    if any(k.startswith("pod_") for k in targets) and scope != "pod":
        out.append("pod_field needs scope: pod")
    if sum(k in rule for k in ("fail_if", "forbid", "expect")) != 1:
        out.append("a rule has exactly one of fail_if, forbid, expect")
    for condition in _conditions(rule) + (_listed(rule["skip_if"]) if "skip_if" in rule else []):
        out.extend(_condition_problems(condition))
    for name in rule.get("containers") or ():
        if name not in LIST_NAMES:
            out.append(f"containers: {name!r} is not one of {', '.join(LIST_NAMES)}")
    return out


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _condition_problems(condition: Any) -> list[str]:
    if isinstance(condition, str):
        return [] if condition in PRESENCE else [f"unknown operator {condition!r}"]
    if not isinstance(condition, dict) or len(condition) != 1:
        return [f"a condition is an operator name or a one-key mapping, not {condition!r}"]
    (op, arg), = condition.items()
    if op not in COMPARISONS:
        return [f"unknown operator {op!r}"]
    if op in ("in", "not_in") and isinstance(arg, dict):
        known = ", ".join(VALUE_SETS)
        return [] if list(arg) == ["set"] and arg["set"] in VALUE_SETS else [f"{op}: a named set is one of {known}"]
    if op in ("in", "not_in") and not isinstance(arg, list):
        return [f"{op} takes a list or a named set"]
    if op == "matches":
        try:
            re.compile(arg)
        except (re.error, TypeError) as exc:
            return [f"matches: bad regular expression {arg!r} ({exc})"]
    if op in ("gt", "ge", "lt", "le") and _number(arg) is None:
        return [f"{op} takes a number"]
    return []


# -- paths -----------------------------------------------------------------------------------


class _Lookup(dict):  # type: ignore[type-arg]
    """A mapping for message templates: a missing key reads as ``default`` (``{item[name]}``)."""

    def __init__(self, data: Any, default: Any = None) -> None:
        super().__init__(as_dict(data))
        self.default = default

    def __missing__(self, key: Any) -> Any:
        return self.default


def _dig(root: Any, parts: list[str]) -> Any:
    node = root
    for part in parts:
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _at(root: dict[str, Any], path: str) -> tuple[Any, dict[str, Any] | None, str]:
    """(value, the mapping that holds it or None, its key) of a dotted ``path`` below ``root``."""
    parts = path.split(".")
    holder = _dig(root, parts[:-1])
    holder = holder if isinstance(holder, dict) else None
    return (holder.get(parts[-1]) if holder is not None else None), holder, parts[-1]


def _unset_anchor(root: dict[str, Any], path: str) -> tuple[Any, str | None]:
    """Where an absent field is reported: the key of the mapping that should hold it, else ``root``."""
    parts = path.split(".")
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


def _render(rule: dict[str, Any], key: str, **values: Any) -> str:
    template = rule.get(key) or rule.get("message") or "{field} is {value}"
    return str(template).format(**values)


class _Unit:
    """What a path rule needs of the thing it judges: its root mapping and how to name lines."""

    def __init__(self, root: dict[str, Any], line: Callable[..., int | None], **names: Any) -> None:
        self.root, self.line, self.names = root, line, names


def _path_rule(rule: dict[str, Any], unit: _Unit) -> Iterator[Violation]:
    """Apply a ``path`` (optionally per ``items`` entry) rule to ``unit``."""
    path = str(rule["path"])
    if "items" not in rule:
        yield from _judge_at(rule, unit, unit.root, path, item=None)
        return
    for entry in as_list(_dig(unit.root, str(rule["items"]).split("."))):
        if isinstance(entry, dict):
            yield from _judge_at(rule, unit, entry, path, item=entry)


def _judge_at(rule: dict[str, Any], unit: _Unit, root: dict[str, Any], path: str,
              item: dict[str, Any] | None) -> Iterator[Violation]:
    value, holder, key = _at(root, path)
    which = judge(rule, value)
    if which is None:
        return
    at = rule.get("line")
    if at == "item":
        line = unit.line(item)
    elif at:
        line = unit.line(item if item is not None else root, at)
    elif value is not None:
        line = unit.line(holder, key)
    else:
        line = unit.line(*_unset_anchor(root, path)) if item is None else unit.line(item)
    yield Violation(_render(rule, which, field=path, value=_show(value), where="", level="",
                           item=_Lookup(item), **unit.names), line=line)


# -- runners per scope -------------------------------------------------------------------------


def _parts(control: Control) -> list[dict[str, Any]]:
    rule = control.rule
    return list(rule) if isinstance(rule, list) else [rule]


def _fields(rule: dict[str, Any], single: str, plural: str) -> list[str]:
    if single in rule:
        return [rule[single]]
    return list(rule.get(plural) or [])


def effective_setting(c: ContainerView, name: str) -> Setting:
    """The value the kubelet uses for securityContext field ``name`` (dotted below ``windowsOptions``).

    ``windowsOptions`` merge per field, container first ("Configure RunAsUserName for Windows
    pods and containers"); other fields come whole from the container, else from the pod for
    the fields PodSecurityContext also has (:data:`kubeharden.model.pods.INHERITED_FIELDS`).
    """
    head, _, rest = name.partition(".")
    if head == "windowsOptions" and rest:
        return c.windows_option(rest)
    setting = c.effective(head)
    if not rest or setting is UNSET:
        return setting
    value, holder, key = _at(as_dict(setting.value), rest)
    return Setting(value, holder, key, setting.level) if value is not None else UNSET


def run_container_rule(control: Control, c: ContainerView) -> Iterator[Violation]:
    """Findings of a container-scope rule over container ``c`` (one per failing field or entry)."""
    for rule in _parts(control):
        if rule.get("linux_only") and c.pod.is_windows:
            continue
        if rule.get("containers") and c.list_name not in rule["containers"]:
            continue
        if "path" in rule:
            yield from _path_rule(rule, _Unit(c.raw, c.line, container=c.name))
            continue
        for name in _fields(rule, "container_field", "container_fields"):
            setting = effective_setting(c, name)
            is_set = setting.level != "unset"
            which = judge(rule, setting.value if is_set else None)
            if which is None:
                continue
            line = c.line(setting.holder, setting.key) if is_set else c.line(c.sc or None, None)
            yield Violation(_render(rule, which, field=name, value=_show(setting.value), where=_WHERE[setting.level],
                                    level=setting.level, container=c.name, item=_Lookup(None)), line=line)


def run_pod_rule(control: Control, pod: PodView) -> Iterator[Violation]:
    """Findings of a pod-scope rule over the pod spec of ``pod``."""
    for rule in _parts(control):
        if rule.get("linux_only") and pod.is_windows:
            continue
        paths = [rule["path"]] if "path" in rule else _fields(rule, "pod_field", "pod_fields")
        for name in paths:
            yield from _path_rule({**rule, "path": name}, _Unit(pod.spec, pod.line))


def _object_unit(obj: K8sObject) -> _Unit:
    return _Unit(obj.raw, obj.line, name=obj.name, namespace=obj.namespace,
                 annotations=_Lookup(obj.annotations, "?"), kind=obj.kind)


def run_object_rule(control: Control, obj: K8sObject) -> Iterator[Violation]:
    """Findings of an object-scope rule over ``obj`` (paths start at the object root)."""
    for rule in _parts(control):
        yield from _path_rule(rule, _object_unit(obj))


def run_inventory_rule(control: Control, inventory: Any) -> Iterator[Violation]:
    """An object rule over every object of the control's ``kinds`` in the inventory, reported on each."""
    for obj in inventory.of_kind(*control.kinds):
        for v in run_object_rule(control, obj):
            yield v._replace(obj=obj)
