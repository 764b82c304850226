"""Which UPDATEs an exported policy judges: the ``matchConditions`` (VAP) / ``celPreconditions`` (Kyverno).

An admission policy sees every UPDATE of the objects it matches, including those a controller makes to
objects that existed before the policy (the Job controller removing a finalizer, the Deployment
controller scaling an old ReplicaSet, ``kubectl label ns``). Refusing them would leave such objects
impossible to update. As Pod Security Admission ("Pod Security Admission", *Exemptions* and the update
rule: updates that change only metadata other than the seccomp/AppArmor annotations are not re-judged;
https://kubernetes.io/docs/concepts/security/pod-security-admission/) and kubeharden's own webhook
(``enforce/admission.py`` ``_unchanged_update``), an UPDATE is judged only when the part the control
reads changed against ``oldObject``:

- pod controls: the pod spec (of the Pod, or of the pod template of a workload kind) and the pod's
  seccomp and AppArmor annotations (the only metadata a pod rule reads besides the namespace, which an
  UPDATE cannot change); ``pods/ephemeralcontainers`` changes the spec, so ``kubectl debug`` is judged;
- object controls: the fields their rule reads (each ``path`` of the rule and its guards, down to the
  field below ``metadata``, e.g. one annotation), or the fields listed in :data:`JUDGED_PATHS` for
  hand-written CEL; any other object control is judged on every UPDATE (none is exported today: a test
  keeps it so). Fields are compared with CEL equality, which works on the API server's typed objects.

A matchCondition that is false makes the policy not apply to the request
(https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/#matching-requests-matchconditions);
matchConditions may read ``object``, ``oldObject`` and ``request`` but not ``variables``.
"""

from __future__ import annotations

import json
from typing import Any

from kubeharden.analysis.rbac_defaults import AUTOUPDATE_ANNOTATION
from kubeharden.checks.namespaces import PSA_ENFORCE
from kubeharden.checks.resources import CONTAINER_RESOURCES
from kubeharden.enforce.cel import select, steps
from kubeharden.enforce.cel_checks import RESOURCE_LISTS
from kubeharden.model.controls import Control
from kubeharden.model.pods import POD_SECURITY_ANNOTATION_PREFIXES, POD_TEMPLATE_PATHS

#: Annotations pod rules read (legacy seccomp, beta AppArmor): a change to one of them is judged.
JUDGED_ANNOTATION_PREFIXES = POD_SECURITY_ANNOTATION_PREFIXES
#: The fields hand-written object controls (cel_checks.CHECKS) read, as paths below the object.
JUDGED_PATHS: dict[str, list[list[str | int]]] = {
    "KH-NET-011": [["spec"]],  # Ingress spec.tls and spec.rules
    "KH-NS-003": [["metadata", "labels", PSA_ENFORCE]],  # and metadata.name, which an UPDATE cannot change
    # the binding's subjects and autoupdate annotation (roleRef and metadata.name cannot change on UPDATE)
    "KH-RBAC-017": [["subjects"], ["metadata", "annotations", AUTOUPDATE_ANNOTATION]],
}
NAME = "kubeharden-judged-part-changed"


def pod_part(root: str, part: str) -> str:
    """The pod ``spec`` or ``metadata`` of ``root`` (``object`` or ``oldObject``): a Pod's own, or its
    pod template's for the workload kinds (model.pods.POD_TEMPLATE_PATHS); ``{}`` when absent."""
    chain = [f"{root}.kind == '{kind}' ? {root}" + "".join(f".?{p}" for p in path) + f".?{part}.orValue({{}})"
             for kind, path in POD_TEMPLATE_PATHS.items() if kind != "Pod"]
    return "(" + " : ".join([*chain, f"{root}.?{part}.orValue({{}})"]) + ")"


def _judged_annotations_differ() -> str:
    new = f"{pod_part('object', 'metadata')}.?annotations.orValue({{}})"
    old = f"{pod_part('oldObject', 'metadata')}.?annotations.orValue({{}})"
    judged = " || ".join(f"string(k).startsWith({json.dumps(p)})" for p in JUDGED_ANNOTATION_PREFIXES)
    return (f"({new}.exists(k, ({judged}) && (!(k in {old}) || {old}[k] != {new}[k])) || "
            f"{old}.exists(k, ({judged}) && !(k in {new})))")


def _rule_paths(rule: Any) -> list[list[str | int]]:
    """Every ``path`` a rule and its guards read, cut to the judged field (top level, or below metadata)."""
    found: list[list[str | int]] = []
    entries = rule if isinstance(rule, list) else [rule]
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        for guard in [*(entry.get("when") or ()), *(entry.get("unless") or ())]:
            found += _rule_paths(guard.get("any") if isinstance(guard, dict) and "any" in guard else guard)
        if "path" in entry:
            parts = steps(str(entry["path"]))
            found.append(parts[:3] if parts[:1] == ["metadata"] else parts[:1])
    return found


def judged_paths(control: Control) -> list[list[str | int]] | None:
    """The paths an object control reads (deduplicated, in order), or None when unknown."""
    if control.id in JUDGED_PATHS:
        return JUDGED_PATHS[control.id]
    if control.rule is None:
        return None
    unique: list[list[str | int]] = []
    for p in _rule_paths(control.rule):
        if p not in unique:
            unique.append(p)
    return unique or None


def container_resources(root: str) -> str:
    """The ``resources`` of ``root``'s (a Pod's) containers and init containers, and its pod-level ones."""
    lists = " + ".join(f"{root}.?spec.?{n}.orValue([]).map(c, type(c) == map ? c.?resources.orValue({{}}) : {{}})"
                       for n in RESOURCE_LISTS)
    return f"([{root}.?spec.?resources.orValue({{}})] + {lists})"


#: Rule templates whose judged part is an expression of its own (``root`` -> CEL): the container-resources
#: controls (KH-RES-001 to -005) read only the resources (an image update of a Pod that existed before the
#: policy is not re-judged; an in-place resize is).
JUDGED_PARTS = {CONTAINER_RESOURCES: container_resources}


def changed(control: Control) -> str:
    """CEL, over ``object`` and ``oldObject``, that is true when the part ``control`` judges changed."""
    template = control.rule.get("template") if isinstance(control.rule, dict) else None
    if template in JUDGED_PARTS:
        part = JUDGED_PARTS[template]
        return f"({part('object')} != {part('oldObject')})"
    if control.scope in ("pod", "container"):
        return f"({pod_part('object', 'spec')} != {pod_part('oldObject', 'spec')} || {_judged_annotations_differ()})"
    paths = judged_paths(control)
    if paths is None:  # what it reads is not known: every UPDATE is judged (the safe side)
        return "true"
    return "(" + " || ".join(f"{select('object', p)} != {select('oldObject', p)}" for p in paths) + ")"


def judged_request(control: Control) -> str:
    """CEL that is true when a request is judged: not an UPDATE, an UPDATE without ``oldObject``, or one
    that changes the judged part (:func:`changed`)."""
    return f"request.operation != 'UPDATE' || oldObject == null || {changed(control)}"


def match_conditions(control: Control) -> list[dict[str, str]]:
    """A ValidatingAdmissionPolicy's ``matchConditions`` (Kyverno: the rule's ``celPreconditions``)."""
    return [{"name": NAME, "expression": judged_request(control)}]
