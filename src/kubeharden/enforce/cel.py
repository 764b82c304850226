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
``1``), ``matches`` searches (RE2, as CEL's ``matches``).

Only declarative rules translate; a control whose logic is a Python check or a template
(:func:`inexpressible`) is listed with the reason. Objects are assumed to be as the API server
hands them to admission: decoded into their types, so a field is either absent or has a value
(never ``null``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from kubeharden.checks.rules import VALUE_SETS
from kubeharden.model.controls import Control
from kubeharden.model.pods import CONTAINER_LISTS, INHERITED_FIELDS, POD_TEMPLATE_PATHS

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: CEL variables every pod policy defines, in order (a ValidatingAdmissionPolicy's ``spec.variables``).
POD_VARIABLES: list[dict[str, str]] = [
    {"name": "spec", "expression": " : ".join(
        [f"object.kind == '{kind}' ? object" + "".join(f".?{p}" for p in path) + ".?spec.orValue({})"
         for kind, path in POD_TEMPLATE_PATHS.items() if kind != "Pod"] + ["object.?spec.orValue({})"])},
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


def _step(step: str) -> str:
    return f".?{step}" if _IDENT.match(step) else f"[?{json.dumps(step)}]"


def select(root: str, parts: list[str] | tuple[str, ...]) -> str:
    """The value at ``parts`` below ``root``, or null when any step is missing."""
    return root + "".join(_step(p) for p in parts) + ".orValue(null)"


def _condition(condition: Any, v: str) -> str:
    """CEL that is true when ``condition`` (a rule-language condition) fails the value ``v``."""
    empty = f"({v} == null || {v} == '' || {v} == [] || {v} == {{}})"
    if isinstance(condition, str):
        return {"absent": f"{v} == null", "exists": f"{v} != null", "empty": empty,
                "not_empty": f"!{empty}"}[condition]
    (op, arg), = condition.items()
    if isinstance(arg, dict) and "set" in arg:
        arg = VALUE_SETS[arg["set"]]
    number = f"(type({v}) == int || type({v}) == uint || type({v}) == double)"
    tests = {
        "eq": lambda: f"{v} == {literal(arg)}",
        "ne": lambda: f"{v} != {literal(arg)}",
        "in": lambda: f"{v} in {literal(list(arg) if not isinstance(arg, (set, frozenset)) else arg)}",
        "not_in": lambda: f"!({v} in {literal(list(arg) if not isinstance(arg, (set, frozenset)) else arg)})",
        "gt": lambda: f"{number} && double({v}) > {float(arg)!r}",
        "ge": lambda: f"{number} && double({v}) >= {float(arg)!r}",
        "lt": lambda: f"{number} && double({v}) < {float(arg)!r}",
        "le": lambda: f"{number} && double({v}) <= {float(arg)!r}",
        "matches": lambda: f"type({v}) == string && string({v}).matches({json.dumps(arg)})",
    }
    if op not in tests:
        raise Inexpressible(f"its rule uses the operator {op!r}, which has no CEL translation yet")
    return f"({v} != null && {tests[op]()})"


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def fails(rule: dict[str, Any], v: str) -> str:
    """CEL that is true when the rule fails the value expression ``v`` (skip_if, expect, fail_if/forbid)."""
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


def _path_fails(rule: dict[str, Any], root: str) -> str:
    """True when a path rule fails below ``root`` (per ``items`` entry when given)."""
    paths = [str(rule["path"])] if "path" in rule else [str(x) for x in _listed(
        rule.get("pod_field") or rule.get("pod_fields") or [])]

    def at(entry: str) -> str:
        return " || ".join(fails(rule, select(f"({entry})", p.split("."))) for p in paths)

    if "items" not in rule:
        return f"({at(root)})"
    items = select(f"({root})", str(rule["items"]).split("."))
    return f"(({items}) != null && ({items}).exists(e, type(e) == map && ({at('e')})))"


# -- controls whose logic is a Python check, written as CEL by hand ---------------------------------
# Each mirrors its check in checks/ line by line; tests/test_export_cel.py holds them to the scanner's
# verdict on every example object.

def _capabilities(c: str, which: str) -> str:
    """The normalised names of capabilities.``which`` (model.facts.capability_name: upper case, no CAP_)."""
    return (f"{c}.?securityContext.?capabilities.?{which}.orValue([])"
            ".map(x, string(x).upperAscii().startsWith('CAP_') ? string(x).upperAscii().substring(4) "
            ": string(x).upperAscii())")


def _image(c: str) -> str:
    return f"(type({c}.?image.orValue('')) == string ? string({c}.?image.orValue('')) : '')"


def _has_digest(img: str) -> str:
    return f"({img}.contains('@') && {img}.substring({img}.indexOf('@') + 1) != '')"


def _tag(img: str) -> str:
    rest = f"({img}.contains('@') ? {img}.substring(0, {img}.indexOf('@')) : {img})"
    return (f"({rest}.lastIndexOf(':') > {rest}.lastIndexOf('/') ? "
            f"{rest}.substring({rest}.lastIndexOf(':') + 1) : '')")


def _run_as_root(c: str) -> str:  # checks.pods.run_as_non_root
    user, non_root = effective(c, "runAsUser"), effective(c, "runAsNonRoot")
    return f"({user} != null ? (type({user}) != int || {user} == 0) : {non_root} != true)"


def _privilege_escalation(c: str) -> str:  # checks.pods.privilege_escalation
    ape = effective(c, "allowPrivilegeEscalation")
    anyway = f"({effective(c, 'privileged')} == true || {_capabilities(c, 'add')}.exists(x, x == 'SYS_ADMIN'))"
    return f"(!variables.windows && ({ape} == false ? {anyway} : true))"


def _drop_all(c: str) -> str:  # checks.pods.drop_all_capabilities
    return f"(!variables.windows && !{_capabilities(c, 'drop')}.exists(x, x == 'ALL'))"


def _seccomp(c: str) -> str:  # checks.pods.seccomp_profile
    profile = effective(c, "seccompProfile")
    kind = f"(type({profile}) == map ? {profile}.?type.orValue(null) : null)"
    local = f"(type({profile}) == map ? {profile}.?localhostProfile.orValue('') : '')"
    return (f"(!variables.windows && !({kind} == 'RuntimeDefault' || "
            f"({kind} == 'Localhost' && {local} != '' && {local} != null)))")


def _mutable_tag(c: str) -> str:  # checks.images.mutable_tag
    img = _image(c)
    return f"({img} == '' || (!{_has_digest(img)} && ({_tag(img)} == '' || {_tag(img)} == 'latest')))"


def _not_pinned(c: str) -> str:  # checks.images.digest_pinning
    img = _image(c)
    return f"({img} != '' && !{_has_digest(img)})"


#: control ID -> its per-container predicate on ``c`` (every container list of the pod).
CONTAINER_CHECKS = {"KH-POD-001": _run_as_root, "KH-POD-011": _privilege_escalation, "KH-POD-012": _drop_all,
                    "KH-POD-016": _seccomp, "KH-IMG-001": _mutable_tag, "KH-IMG-002": _not_pinned}


def _rules(control: Control) -> list[dict[str, Any]]:
    if control.rule is None:
        raise Inexpressible("its logic is a Python check (judgement across fields, named sets of paths or "
                            "images, or other objects) that has no CEL translation")
    rules = control.rule if isinstance(control.rule, list) else [control.rule]
    if any("template" in r for r in rules):
        raise Inexpressible("it is a rule template written in Python")
    for rule in rules:
        extensions = sorted(set(rule) & _UNTRANSLATED_KEYS)
        if extensions:
            raise Inexpressible(f"its rule uses {', '.join(extensions)} (docs/rule-language.md), which has no CEL "
                                "translation yet")
        paths = [str(p) for k in ("path", "items", "pod_field", "pod_fields", "container_field", "container_fields")
                 for p in _listed(rule.get(k) or [])]
        if any("[" in p for p in paths):
            raise Inexpressible("its rule names a map key or list index in brackets, which has no CEL translation yet")
    return rules


#: Rule-language keys the translation does not know (readings, guards, pod paths, per-rule fixes): a rule
#: using one is listed as inexpressible rather than translated with a part of its meaning missing.
_UNTRANSLATED_KEYS = frozenset({"as", "when", "unless", "pod_path", "fix"})


def violation(control: Control) -> str:
    """CEL that is true when the admitted ``object`` violates the control. Raises Inexpressible."""
    if control.id in CONTAINER_CHECKS and control.scope == "container":
        containers = " + ".join(f"variables.spec.?{n}.orValue([])" for n in LISTS)
        return f"(({containers}).exists(c, type(c) == map && {CONTAINER_CHECKS[control.id]('c')}))"
    rules = _rules(control)
    if control.scope == "inventory":
        raise Inexpressible("it needs the other objects of the cluster, which an admission request does not hold")
    parts = []
    for rule in rules:
        if control.scope == "object":
            parts.append(_path_fails(rule, "object"))
            continue
        guard = "!variables.windows && " if rule.get("linux_only") else ""
        if control.scope == "pod":
            parts.append(f"({guard}{_path_fails(rule, 'variables.spec')})")
            continue
        lists = [n for n in LISTS if not rule.get("containers") or n in rule["containers"]]
        containers = " + ".join(f"variables.spec.?{n}.orValue([])" for n in lists)
        if "path" in rule:
            per = _path_fails(rule, "c")
        else:
            names = [str(x) for x in _listed(rule.get("container_field") or rule.get("container_fields") or [])]
            per = " || ".join(fails(rule, effective("c", n)) for n in names)
        parts.append(f"({guard}({containers}).exists(c, type(c) == map && ({per})))")
    return " || ".join(parts)


def inexpressible(control: Control) -> str | None:
    """Why ``control`` cannot be exported as CEL, or None when it can."""
    try:
        violation(control)
    except Inexpressible as exc:
        return str(exc)
    return None


__all__ = ["POD_VARIABLES", "Inexpressible", "effective", "fails", "inexpressible",
           "literal", "violation"]
