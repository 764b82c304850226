"""The ``messageExpression`` of exported container controls: which container is at fault, and what it has.

A ValidatingAdmissionPolicy's validation may carry a ``messageExpression``, CEL that evaluates to the
message returned when the validation fails; it sees the same variables as the expression (``object``,
``variables`` …), and when it errors or gives an empty string or one with a line break the API server
returns the static ``message`` instead (Kubernetes API reference, ValidatingAdmissionPolicy v1,
``Validation.messageExpression``;
https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/#message-expression).
Kyverno's ``validate.cel.expressions`` are the same Kubernetes ``Validation`` objects, so a Kyverno
ClusterPolicy carries the same ``messageExpression`` ("Validate Rules", Common Expression Language,
https://kyverno.io/docs/writing-policies/validate/).

The message names each container a rule reports, with the list it is in (``container app``,
``initContainer migrate``, ``ephemeralContainer debug``, as ``model.pods.CONTAINER_LISTS`` names them),
and the field the rule reads with its value: ``KH-POD-004 Privileged container: container app:
securityContext.privileged is true``. A container field is the effective one (inherited from the pod's
securityContext where the container leaves it unset), a path is the container's own, shown as written
(before an ``as:`` reading); a list entry is named by its ``name`` when it has one.
"""

from __future__ import annotations

import json
from typing import Any

from kubeharden.enforce.cel import (
    POD_ROOTS,
    container_rule_fails,
    container_rules,
    effective,
    fails,
    select,
    steps,
)
from kubeharden.config import Config
from kubeharden.enforce.cel_checks import (
    CONTAINER_CHECKS,
    POD_FAULTS,
    RESOURCE_LISTS,
    WRITABLE_HOST_MOUNT,
    pod_sc,
    resource_missing,
)
from kubeharden.checks.resources import CONTAINER_RESOURCES
from kubeharden.checks.resources import _resource_params as resource_params
from kubeharden.model.controls import Control
from kubeharden.model.pods import CONTAINER_LISTS


def show(v: str) -> str:
    """CEL that shows the value ``v`` in one line: ``not set``, a scalar (``string()`` converts strings,
    numbers and booleans), a list's entries, a mapping's entries (checks.rules._show's reading; a nested list
    or mapping is ``…``). Kept shallow: the CEL parsers limit nesting."""
    def scalar(x: str) -> str:
        return f"(type({x}) == list || type({x}) == map ? '…' : string({x}))"
    return (f"({v} == null ? 'not set' : type({v}) == list ? '[' + {v}.map(x, {scalar('x')}).join(', ') + ']' : "
            f"type({v}) == map ? '{{' + {v}.map(k, string(k) + ': ' + {scalar(f'{v}[k]')}).join(', ') + '}}' "
            f": string({v}))")


def _label(text: str) -> str:
    """A path as a CEL string; ``{container}`` is the container's name (the per-container annotation)."""
    head, found, tail = text.partition("{container}")
    if not found:
        return json.dumps(text)
    return f"{json.dumps(head)} + string(c.?name.orValue('')) + {json.dumps(tail)}"


def _is(label: str, value: str) -> str:
    return f"[{label} + ' is ' + {show(value)}]"


def what(rule: dict[str, Any]) -> tuple[str, str]:
    """(label, CEL list of strings over the container ``c``): the field the rule reads and its value; for a
    rule over list entries (``items:``), each entry it reports."""
    if "pod_path" in rule:
        first, *rest = steps(str(rule["pod_path"])) or [""]
        value = select(POD_ROOTS[str(first)], rest, "c") if first in POD_ROOTS else "null"
        return str(rule["pod_path"]), _is(_label(str(rule["pod_path"])), value)
    if "path" in rule and "items" in rule:
        items, path = str(rule["items"]), str(rule["path"])
        entries = select("c", steps(items))
        name = "(type(e.?name.orValue(null)) == string ? string(e.name) : '')"
        value = select("e", steps(path))
        return f"{items}[].{path}", (
            f"(type({entries}) == list ? {entries}.filter(e, type(e) == map && {fails(rule, value)})"
            f".map(e, {json.dumps(items + '[')} + {name} + {json.dumps('].' + path + ' is ')} + {show(value)}) : [])")
    if "path" in rule:
        return str(rule["path"]), _is(json.dumps(str(rule["path"])), select("c", steps(str(rule["path"]))))
    name = str(rule.get("container_field") or (rule.get("container_fields") or [""])[0])
    return f"securityContext.{name}", _is(json.dumps(f"securityContext.{name}"), effective("c", name))


def _fields(rules: list[tuple[dict[str, Any], list[str]]]) -> str:
    """CEL list of strings over ``c``: what each distinct field the rules read holds (first rule's reading)."""
    seen: dict[str, str] = {}
    for rule, _ in rules:
        names = rule.get("container_fields")
        for one in ([{**rule, "container_field": n, "container_fields": None} for n in names] if names else [rule]):
            label, listed = what(one)
            seen.setdefault(label, listed)
    return " + ".join(seen.values()) or "[]"


def _tagged(keys: list[str], root: str = "variables.spec") -> str:
    """CEL list of ``{'k': list kind, 'c': container}`` for the containers of the lists ``keys`` below ``root``."""
    return " + ".join(f"{root}.?{key}.orValue([]).filter(c, type(c) == map)"
                      f".map(c, {{'k': dyn({json.dumps(kind)}), 'c': dyn(c)}})"
                      for kind, key in CONTAINER_LISTS if key in keys)


def _around(control: Control, static: str, faults: str) -> str:
    """``'<ID> <title>: ' + faults.join('; ')`` and the guide and fix part of the static message."""
    _, _, tail = static.partition(" (guide ")
    prefix = json.dumps(f"{control.id} {control.title}: ")
    suffix = json.dumps(f" (guide {tail}" if tail else "")
    return f"{prefix} + {faults}.join('; ') + {suffix}"


def resources_message(control: Control, static: str) -> str:
    """The messageExpression of a container-resources control (KH-RES-001 to -005, Pods only): each container
    and init container without the requests or limits, ``container app: no cpu or memory request``."""
    part, resources = resource_params(control)
    missing = " + ".join(f"({resource_missing(part, r)} ? [{json.dumps(r)}] : [])" for r in resources)
    noun = " request" if part == "requests" else " limit"
    listed = f"[e.c].map(c, {missing})[0]"
    return _named(control, static, _tagged(list(RESOURCE_LISTS), "object.?spec"), f"size({listed}) > 0",
                  f"'no ' + {listed}.join(' or ') + {json.dumps(noun)}")


def _named(control: Control, static: str, tagged: str, judged: str, listed: str, pod: str = "") -> str:
    """The message over ``tagged`` containers ``e``: those ``judged`` (CEL over ``e``), each with ``listed``;
    then ``pod`` (a CEL list of strings: the pod's own faults), when given."""
    faults = (f"({tagged}).filter(e, {judged})"
              f".map(e, string(e.k) + ' ' + string(e.c.?name.orValue('')) + ': ' + {listed})")
    return _around(control, static, f"({faults} + {pod})" if pod else faults)


def pod_faults(control_id: str) -> str:
    """CEL list of strings: each pod-level fault of a hand-written pod check (cel_checks.POD_FAULTS) that holds,
    as ``pod: securityContext.fsGroup is 0`` (the scanner's finding without a container)."""
    return " + ".join(f"({cond} ? ['pod: ' + {_is(json.dumps('securityContext.' + name), pod_sc(name))}[0]] : [])"
                      for cond, name in POD_FAULTS[control_id]())


#: What the message shows of a container a hand-written check reports (cel_checks.CONTAINER_CHECKS): CEL lists of
#: strings over ``c``.
CHECK_FIELDS: dict[str, str] = {
    "KH-POD-001": (_is(json.dumps("securityContext.runAsUser"), effective("c", "runAsUser")) + " + " +
                   _is(json.dumps("securityContext.runAsNonRoot"), effective("c", "runAsNonRoot"))),
    # kept flat (no show()): the hostPath lookup is deep already
    "KH-POD-008": ("['writable hostPath volumeMounts: ' + c.?volumeMounts.orValue([])"
                   f".filter(m, {WRITABLE_HOST_MOUNT}).map(m, string(m.name)).join(', ')]"),
    "KH-IMG-003": _is(json.dumps("image"), "c.?image.orValue(null)"),
    "KH-POD-002": _is(json.dumps("securityContext.runAsGroup"), effective("c", "runAsGroup")),
    "KH-POD-019": _is(json.dumps("securityContext.seLinuxOptions"), "c.?securityContext.?seLinuxOptions.orValue(null)"),
}


def checks_message(control: Control, static: str, config: Config) -> str:
    """The messageExpression of a hand-written container check (cel_checks.CONTAINER_CHECKS): each container
    its predicate reports, with :data:`CHECK_FIELDS` (``container app: securityContext.runAsUser is 0, …``), then
    the pod's own faults of the pod checks among them (KH-POD-002, KH-POD-019: ``pod: securityContext.fsGroup
    is 0``)."""
    predicate = CONTAINER_CHECKS[control.id]
    return _named(control, static, _tagged([key for _, key in CONTAINER_LISTS]),
                  f"[e.c].exists(c, {predicate(config)})", f"[e.c].map(c, {CHECK_FIELDS[control.id]})[0].join(', ')",
                  pod_faults(control.id) if control.id in POD_FAULTS else "")


def message_expression(control: Control, static: str, config: Config | None = None) -> str | None:
    """The messageExpression of a container control (translated rule; the container-resources template:
    :func:`resources_message`; a hand-written check: :func:`checks_message`), or None for other controls:
    ``'<ID> <title>: ' + '<list> <name>: <field> is <value>, …; …'``, ending with ``static``'s guide and fix
    part. Every container is tagged with its list once (``{'k': list, 'c': container}``) and judged once by the
    control's rules (``[e.c].exists(c, …)`` binds it as ``c``), so the expression stays linear in the rules and
    shallow enough for CEL parsers' nesting limits. Raises cel.Inexpressible like the control's expression."""
    if isinstance(control.rule, dict) and control.rule.get("template") == CONTAINER_RESOURCES:
        return resources_message(control, static)
    if control.id in CONTAINER_CHECKS:
        return checks_message(control, static, config or Config())
    if control.scope != "container" or control.rule is None:
        return None
    rules = container_rules(control)
    kinds = dict(CONTAINER_LISTS)
    tagged = _tagged([key for _, key in CONTAINER_LISTS if any(key in lists for _, lists in rules)])
    by_rule = []
    for rule, lists in rules:
        own = [k for k, v in kinds.items() if v in lists]
        where = "" if len(lists) == len(kinds) else f"e.k in {json.dumps(own)} && "
        by_rule.append(f"({where}{container_rule_fails(rule)})")
    return _named(control, static, tagged, f"[e.c].exists(c, {' || '.join(by_rule)})",
                  f"[e.c].map(c, {_fields(rules)})[0].join(', ')")
