"""The catalogue's declarative rules (docs/rule-language.md) written as CEL, for admission policies.

A ValidatingAdmissionPolicy or a Kyverno CEL rule sees the object being admitted as ``object``
(Kubernetes: "Validating Admission Policy",
https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/; the CEL
libraries Kubernetes offers, optionals included: https://kubernetes.io/docs/reference/using-api/cel/).
The expressions below rebuild what the scanner's pod view gives a rule (``model/pods.py``): the pod
spec of every pod-bearing kind, its three container lists, and a container's *effective*
securityContext field (the container's, else the pod's for the fields PodSecurityContext also has;
``windowsOptions`` merged per field). A rule's condition becomes a CEL predicate with the rule
language's semantics: an absent field never fails a comparison, equality is typed (``true`` is not
``1``), ``matches`` searches (RE2, as CEL's ``matches``). ``as:`` readings become the CEL of the same
reading (:data:`READINGS`, one per entry of ``checks.readings.READINGS``), ``when:``/``unless:``
guards become conditions, ``pod_path`` reads the pod template as a Pod (``variables.meta`` and
``variables.spec``; ``{container}`` is the container's name), bracket paths become map keys and list
indexes, and a rule's ``fix:`` is ignored (it does not change the verdict).

Declarative rules translate; controls whose logic is a Python check are written by hand
(``enforce/cel_checks.py``) or listed with the reason
(:func:`inexpressible`). Objects are assumed to be as the API server
hands them to admission: decoded into their types, so a field is either absent or has a value
(never ``null``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from kubeharden.checks.readings import READINGS as PYTHON_READINGS
from kubeharden.checks.readings import SETTINGS_READINGS
from kubeharden.checks.rules import GUARD_TARGETS, VALUE_SETS
from kubeharden.model.controls import Control
from kubeharden.model.fieldpath import split
from kubeharden.model.pods import (
    APPARMOR_ANNOTATION_TYPES,
    APPARMOR_LOCALHOST,
    APPARMOR_LOCALHOST_PREFIX,
    CONTAINER_LISTS,
    INHERITED_FIELDS,
    POD_TEMPLATE_PATHS,
)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: CEL variables every pod policy defines, in order (a ValidatingAdmissionPolicy's ``spec.variables``).
POD_VARIABLES: list[dict[str, str]] = [
    {"name": "spec", "expression": " : ".join(
        [f"object.kind == '{kind}' ? object" + "".join(f".?{p}" for p in path) + ".?spec.orValue({})"
         for kind, path in POD_TEMPLATE_PATHS.items() if kind != "Pod"] + ["object.?spec.orValue({})"])},
    {"name": "meta", "expression": " : ".join(
        [f"object.kind == '{kind}' ? object" + "".join(f".?{p}" for p in path) + ".?metadata.orValue({})"
         for kind, path in POD_TEMPLATE_PATHS.items() if kind != "Pod"] + ["object.?metadata.orValue({})"])},
    {"name": "podSC", "expression": "variables.spec.?securityContext.orValue({})"},
    {"name": "windows", "expression": "string(variables.spec.?os.?name.orValue('')).lowerAscii() == 'windows'"},
]
#: The container lists of a PodSpec, in the scanner's order.
LISTS = tuple(key for _, key in CONTAINER_LISTS)


class Inexpressible(ValueError):
    """The control cannot be written as CEL here; the message says why."""


def literal(value: Any) -> str:
    """A YAML/JSON value as a CEL literal (strings JSON-quoted, which CEL reads alike)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float, str)):
        return json.dumps(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return "[" + ", ".join(literal(v) for v in items) + "]"
    raise Inexpressible(f"no CEL literal for {type(value).__name__}")


def _step(step: str | int, container: str | None = None) -> str:
    if isinstance(step, int):
        return f"[?{step}]"
    if container is not None and "{container}" in step:  # annotations keyed by the container's name
        head, _, tail = step.partition("{container}")
        name = f"string({container}.?name.orValue(''))"
        return f"[?({json.dumps(head)} + {name}" + (f" + {json.dumps(tail)})]" if tail else ")]")
    return f".?{step}" if _IDENT.match(step) else f"[?{json.dumps(step)}]"


def select(root: str, parts: Sequence[str | int], container: str | None = None) -> str:
    """The value at ``parts`` (fields, map keys, list indexes) below ``root``, or null when any step is
    missing; ``{container}`` in a step is the name of the container ``container`` (a CEL variable)."""
    return "dyn(" + root + "".join(_step(p, container) for p in parts) + ".orValue(null))"


def steps(path: str) -> list[str | int]:
    """A rule's path (``metadata.annotations[key.with/slash]``, ``ports[0]``) as steps, or Inexpressible."""
    try:
        return split(path)
    except ValueError as exc:
        raise Inexpressible(str(exc)) from None


def _list_or_null(v: str, entries: str) -> str:
    """``entries`` (a list expression over ``v``) when ``v`` is a list, else null: the readings' shape."""
    return f"(type({v}) == list ? dyn({entries}) : dyn(null))"


def _image_reference(v: str) -> str:  # checks.readings.image_reference
    return f"(type({v}) == string && {v} != '' ? dyn({v}) : dyn(null))"


def _image_part(part: str) -> Any:
    def read(v: str) -> str:  # checks.readings._image_part over model.images.parse_image
        img = f"string({v})"
        value = image_tag(img) if part == "tag" else image_digest(img)
        return f"(type({v}) == string && {v} != '' && {value} != '' ? dyn({value}) : dyn(null))"
    return read


def _apparmor_annotation(v: str) -> str:  # checks.readings._apparmor_annotation, model.pods.apparmor_type
    text = f"string({v})"
    chain = "".join(f"{text} == {json.dumps(k)} ? {json.dumps(t)} : "
                    for k, t in sorted(APPARMOR_ANNOTATION_TYPES.items()))
    return (f"({v} == null ? dyn(null) : dyn({chain}{text}.startsWith({json.dumps(APPARMOR_LOCALHOST_PREFIX)}) ? "
            f"{json.dumps(APPARMOR_LOCALHOST)} : {text}))")


#: ``as:`` readings (checks/readings.py) in CEL: value expression -> the value as the reading gives it
#: (null where the Python reading gives None). tests/test_export_cel.py keeps the keys equal.
READINGS: dict[str, Any] = {
    "capability-names": lambda v: _list_or_null(v, f"{v}.map(x, {capability_name('x')})"),
    "trimmed-strings": lambda v: _list_or_null(v, f"{v}.map(x, string(x).trim())"),
    "comma-separated": lambda v: (f"({v} == null || type({v}) == list || type({v}) == map ? dyn(null) : "
                                  f"dyn(string({v}).split(',').map(x, x.trim()).filter(x, x != '')))"),
    "keys": lambda v: f"(type({v}) == map ? dyn({v}.map(k, string(k))) : dyn(null))",
    "apparmor-annotation": _apparmor_annotation,
    "image-reference": _image_reference,
    "image-tag": _image_part("tag"),
    "image-digest": _image_part("digest"),
}
assert set(READINGS) == set(PYTHON_READINGS) - SETTINGS_READINGS, "every reading needs its CEL"


def read_as(reading: Any, v: str) -> str:
    """``v`` through the ``as:`` reading named ``reading`` (unchanged when None)."""
    if reading is None:
        return v
    if reading not in READINGS:
        raise Inexpressible(f"its rule reads a value as {reading!r}, which has no CEL translation")
    return READINGS[reading](v)


def _condition(condition: Any, v: str) -> str:
    """CEL that is true when ``condition`` (a rule-language condition) fails the value ``v``."""
    empty = f"({v} == null || {v} == '' || {v} == [] || {v} == {{}})"
    if isinstance(condition, str):
        return {"absent": f"{v} == null", "exists": f"{v} != null", "empty": empty,
                "not_empty": f"!{empty}"}[condition]
    (op, arg), = condition.items()
    if isinstance(arg, dict) and "set" in arg:  # as checks.rules._argument: the named set less its except
        arg = VALUE_SETS[arg["set"]] - frozenset(arg.get("except") or ())
    number = f"(type({v}) == int || type({v}) == uint || type({v}) == double)"
    tests = {
        "eq": lambda: f"{v} == {literal(arg)}",
        "ne": lambda: f"{v} != {literal(arg)}",
        "in": lambda: f"{v} in {_list_literal(arg)}",
        "not_in": lambda: f"!({v} in {_list_literal(arg)})",
        "gt": lambda: f"{number} && double({v}) > {float(arg)!r}",
        "ge": lambda: f"{number} && double({v}) >= {float(arg)!r}",
        "lt": lambda: f"{number} && double({v}) < {float(arg)!r}",
        "le": lambda: f"{number} && double({v}) <= {float(arg)!r}",
        "matches": lambda: f"type({v}) == string && string({v}).matches({json.dumps(arg)})",
        # list operators (checks.rules.COMPARISONS): the value must be a list
        "contains": lambda: f"type({v}) == list && {v}.exists(x, x == {literal(arg)})",
        "not_contains": lambda: f"type({v}) == list && !{v}.exists(x, x == {literal(arg)})",
        "any_in": lambda: f"type({v}) == list && {v}.exists(x, x in {_list_literal(arg)})",
        "any_not_in": lambda: f"type({v}) == list && {v}.exists(x, !(x in {_list_literal(arg)}))",
        "any_matches": lambda: f"type({v}) == list && {v}.exists(x, type(x) == string && "
                               f"string(x).matches({json.dumps(arg)}))",
    }
    if op not in tests:
        raise Inexpressible(f"its rule uses the operator {op!r}, which has no CEL translation yet")
    return f"({v} != null && {tests[op]()})"


def _list_literal(arg: Any) -> str:
    return literal(list(arg) if not isinstance(arg, (set, frozenset)) else arg)


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def fails(rule: dict[str, Any], v: str) -> str:
    """CEL that is true when the rule fails the value expression ``v`` (its ``as:`` reading, skip_if, expect,
    fail_if/forbid)."""
    v = read_as(rule.get("as"), v)
    if "expect" in rule:
        failing = f"({v} == null || !({v} == {literal(rule['expect'])}))"
    else:
        conditions = _listed(rule["fail_if"]) if "fail_if" in rule else [{"in": list(rule.get("forbid") or [])}]
        failing = "(" + " || ".join(_condition(c, v) for c in conditions) + ")"
    if "skip_if" in rule:
        skipped = " || ".join(_condition(c, v) for c in _listed(rule["skip_if"]))
        failing = f"(!({skipped}) && {failing})"
    return failing


def effective(container: str, name: str) -> str:
    """The effective securityContext field ``name`` of ``container`` (rules.effective_setting in CEL)."""
    head, _, rest = name.partition(".")
    own = f"{container}.?securityContext"
    if head == "windowsOptions" and rest:
        mine = select(own + ".?windowsOptions", rest.split("."))
        pods = select("variables.podSC.?windowsOptions", rest.split("."))
        return f"({mine} != null ? {mine} : {pods})"
    mine = select(own, [head])
    whole = f"({mine} != null ? {mine} : {select('variables.podSC', [head])})" if head in INHERITED_FIELDS else mine
    if not rest:
        return whole
    return f"({whole} == null ? null : {select(f'optional.of({whole})', rest.split('.'))})"


def capability_name(x: str) -> str:
    """model.facts.capability_name in CEL: upper case, without the ``CAP_`` prefix."""
    return (f"(string({x}).upperAscii().startsWith('CAP_') ? string({x}).upperAscii().substring(4) "
            f": string({x}).upperAscii())")


def image_digest(img: str) -> str:
    """The digest of the image string ``img`` (after the first ``@``), '' when it has none
    (model.images.parse_image)."""
    return f"({img}.contains('@') ? {img}.substring({img}.indexOf('@') + 1) : '')"


def image_tag(img: str) -> str:
    """The tag of the image string ``img``, '' when it has none: after the last ``:`` past the last ``/``
    of the part before ``@`` (model.images.parse_image)."""
    rest = f"({img}.contains('@') ? {img}.substring(0, {img}.indexOf('@')) : {img})"
    return (f"({rest}.lastIndexOf(':') > {rest}.lastIndexOf('/') ? "
            f"{rest}.substring({rest}.lastIndexOf(':') + 1) : '')")


#: Where ``pod_path`` reads: the pod template read as a Pod (checks.rules._pod_template).
POD_ROOTS = {"metadata": "variables.meta", "spec": "variables.spec"}


def _read(kind: str, name: str, scope: str) -> str:
    """The value a rule or guard reads: ``path`` below the unit, ``container_field`` (effective),
    ``pod_path`` below the pod template; in container scope the container is ``c``."""
    if kind == "container_field" and scope == "container":
        return effective("c", name)
    if kind == "pod_path" and scope in ("container", "pod"):
        first, *rest = steps(name) or [""]
        if first not in POD_ROOTS:
            return "null"
        return select(POD_ROOTS[str(first)], rest, "c" if scope == "container" else None)
    if kind == "path":
        return select(_UNIT[scope], steps(name))
    raise Inexpressible(f"its rule reads {kind} in {scope} scope, which has no CEL translation")


#: The CEL expression of the unit a ``path`` starts from, per scope.
_UNIT = {"container": "c", "pod": "variables.spec", "object": "object"}


def _guard(raw: dict[str, Any], scope: str) -> str:
    """CEL that is true when a ``when:``/``unless:`` entry holds (checks.rules.Guard.holds)."""
    if "any" in raw:
        return "(" + (" || ".join(_guard(g, scope) for g in raw["any"]) or "false") + ")"
    kind = next((k for k in GUARD_TARGETS if k in raw), "path")
    value = read_as(raw.get("as"), _read(kind, str(raw.get(kind) or ""), scope))
    return "(" + (" || ".join(_condition(c, value) for c in _listed(raw.get("is", []))) or "false") + ")"


def _applies(rule: dict[str, Any], scope: str) -> str:
    """CEL that is true when every ``when`` entry holds and no ``unless`` entry does (empty: always)."""
    parts = [_guard(g, scope) for g in rule.get("when") or ()]
    parts += [f"!{_guard(g, scope)}" for g in rule.get("unless") or ()]
    return " && ".join(parts)


def _path_fails(rule: dict[str, Any], root: str, container: str | None = None) -> str:
    """True when a path rule fails below ``root`` (per ``items`` entry when given)."""
    paths = [str(rule["path"])] if "path" in rule else [str(x) for x in _listed(
        rule.get("pod_field") or rule.get("pod_fields") or [])]

    def at(entry: str) -> str:
        return " || ".join(fails(rule, select(f"({entry})", steps(p), container)) for p in paths)

    if "items" not in rule:
        return f"({at(root)})"
    items = select(f"({root})", steps(str(rule["items"])))
    return f"(type({items}) == list && ({items}).exists(e, type(e) == map && ({at('e')})))"


def _rule_fails(rule: dict[str, Any], scope: str) -> str:
    """CEL that is true when one rule reports the unit of ``scope`` (the container is ``c``)."""
    if "template" in rule:
        raise Inexpressible("it is a rule template written in Python")
    if "pod_path" in rule and scope == "container":
        first, *rest = steps(str(rule["pod_path"])) or [""]
        target = (f"({fails(rule, select(POD_ROOTS[str(first)], rest, 'c'))})" if first in POD_ROOTS
                  else f"({fails(rule, 'null')})")
    elif "path" in rule or scope != "container":
        target = _path_fails(rule, _UNIT[scope])
    else:
        names = [str(x) for x in _listed(rule.get("container_field") or rule.get("container_fields") or [])]
        target = "(" + " || ".join(fails(rule, effective("c", n)) for n in names) + ")"
    guards = _applies(rule, scope)
    return f"({guards} && {target})" if guards else target


def _lists(rule: dict[str, Any]) -> list[str]:
    """The container lists a container rule judges: its ``containers:``, else all three."""
    return [n for n in LISTS if not rule.get("containers") or n in rule["containers"]]


def container_rules(control: Control) -> list[tuple[dict[str, Any], list[str]]]:
    """Each rule of a container control with the container lists it judges."""
    rules = control.rule if isinstance(control.rule, list) else [control.rule]
    return [(rule, _lists(rule)) for rule in rules]


def container_rule_fails(rule: dict[str, Any]) -> str:
    """CEL that is true when a container rule reports the container ``c`` (its Linux-only guard included)."""
    guard = "!variables.windows && " if rule.get("linux_only") else ""
    return f"({guard}{_rule_fails(rule, 'container')})"


def violation(control: Control) -> str:
    """CEL that is true when the admitted ``object`` violates the control's rule (pod policies use the
    variables of :data:`POD_VARIABLES`). Raises Inexpressible."""
    if control.rule is None:
        raise Inexpressible("its logic is a Python check that has no CEL translation")
    if control.scope not in _UNIT:
        raise Inexpressible("it needs the other objects of the cluster, which an admission request does not hold")
    rules = control.rule if isinstance(control.rule, list) else [control.rule]
    parts = []
    for rule in rules:
        judged = _rule_fails(rule, control.scope)
        if control.scope == "object":
            parts.append(judged)
            continue
        guard = "!variables.windows && " if rule.get("linux_only") else ""
        if control.scope == "pod":
            parts.append(f"({guard}{judged})")
            continue
        lists = _lists(rule)
        containers = " + ".join(f"variables.spec.?{n}.orValue([])" for n in lists)
        parts.append(f"({guard}({containers}).exists(c, type(c) == map && {judged}))")
    return " || ".join(parts)


def inexpressible(control: Control) -> str | None:
    """Why ``control``'s rule cannot be exported as CEL, or None when it can."""
    try:
        violation(control)
    except Inexpressible as exc:
        return str(exc)
    return None


__all__ = ["POD_ROOTS", "POD_VARIABLES", "READINGS", "Inexpressible", "capability_name", "container_rule_fails",
           "container_rules", "effective", "fails", "image_digest",
           "image_tag", "inexpressible", "literal", "read_as", "select", "steps", "violation"]
