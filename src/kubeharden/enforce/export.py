"""``kubeharden export kyverno|vap``: the controls as admission policies the cluster enforces itself.

Every control whose rule translates to CEL (:mod:`kubeharden.enforce.cel`) becomes

- ``vap``: a ``ValidatingAdmissionPolicy`` and its ``ValidatingAdmissionPolicyBinding``
  (``admissionregistration.k8s.io/v1``, GA since Kubernetes 1.30;
  https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/);
- ``kyverno``: a Kyverno ``ClusterPolicy`` (``kyverno.io/v1``) whose rule validates with the same CEL
  (``validate.cel``, Kyverno 1.11+; https://kyverno.io/docs/writing-policies/validate/#common-expression-language-cel).

The policies match CREATE and UPDATE of the resources the control judges (every pod-bearing kind,
plus ``pods/ephemeralcontainers``, or the control's ``kinds:``), leave out ``kube-system`` and the
namespaces given, and refuse (``Deny`` / ``Enforce``) or only warn and audit. Controls that cannot be
expressed are returned with the reason (:func:`export`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubeharden.enforce.cel import POD_VARIABLES, inexpressible, violation
from kubeharden.model.apiresources import RESOURCES
from kubeharden.model.controls import Control
from kubeharden.model.pods import POD_TEMPLATE_PATHS

TARGETS = ("vap", "kyverno")
LABELS = {"app.kubernetes.io/managed-by": "kubeharden"}


@dataclass
class Export:
    """The policies (in apply order) and the controls left out with why."""

    documents: list[dict[str, Any]] = field(default_factory=list)
    exported: list[str] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)


def kinds_of(control: Control) -> list[str]:
    """The kinds a control's policy matches: its ``kinds:`` (object scope) or every pod-bearing kind."""
    if control.scope == "object":
        return [k for k in control.kinds if k != "*"]
    return list(POD_TEMPLATE_PATHS)


def resource_rules(kinds: list[str], pods: bool) -> list[dict[str, Any]]:
    """Admission ``resourceRules`` (group, resources) for ``kinds``, from the built-in API resources."""
    by_group: dict[str, set[str]] = {}
    for info in RESOURCES.values():
        if info.kind in kinds:
            by_group.setdefault(info.group, set()).add(info.name)
    if pods:
        by_group.setdefault("", set()).add("pods/ephemeralcontainers")
    return [{"apiGroups": [group], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
             "resources": sorted(names)} for group, names in sorted(by_group.items())]


def message(control: Control) -> str:
    """One line: the control, what is wrong, the guide IDs and the fix."""
    text = f"{control.id} {control.title} (guide {', '.join(control.nsa)}): {control.remediation}"
    return " ".join(text.split())


def _name(control: Control) -> str:
    return f"kubeharden-{control.id.lower()}"


def _annotations(control: Control) -> dict[str, str]:
    return {"kubeharden.io/control": control.id, "kubeharden.io/severity": control.severity.label,
            "kubeharden.io/guide": ", ".join(control.nsa)}


def _variables(control: Control) -> list[dict[str, str]]:
    return [dict(v) for v in POD_VARIABLES] if control.scope in ("pod", "container") else []


def _excluded(namespaces: tuple[str, ...]) -> dict[str, Any]:
    return {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                                  "values": sorted(namespaces)}]}


def vap(control: Control, enforce: bool, exclude: tuple[str, ...]) -> list[dict[str, Any]]:
    """The ValidatingAdmissionPolicy and its binding for ``control``. Raises cel.Inexpressible."""
    name = _name(control)
    kinds = kinds_of(control)
    spec: dict[str, Any] = {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": resource_rules(kinds, control.scope != "object")},
    }
    if control.scope in ("pod", "container"):
        spec["variables"] = _variables(control)
    spec["validations"] = [{"expression": f"!({violation(control)})", "message": message(control),
                            "reason": "Forbidden"}]
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": dict(LABELS), "annotations": _annotations(control)},
        "spec": spec,
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": dict(LABELS)},
        "spec": {"policyName": name, "validationActions": ["Deny"] if enforce else ["Warn", "Audit"],
                 "matchResources": {"namespaceSelector": _excluded(exclude)}},
    }
    return [policy, binding]


def kyverno(control: Control, enforce: bool, exclude: tuple[str, ...]) -> list[dict[str, Any]]:
    """The Kyverno ClusterPolicy for ``control``. Raises cel.Inexpressible."""
    name = _name(control)
    cel: dict[str, Any] = {"expressions": [{"expression": f"!({violation(control)})", "message": message(control)}]}
    if control.scope in ("pod", "container"):
        cel = {"variables": _variables(control), **cel}
    kinds = kinds_of(control)
    if control.scope != "object":  # as resource_rules: kubectl debug adds containers through this subresource
        # Kyverno matches a subresource as Kind/subresource ("Match statements": Pod/ephemeralcontainers)
        kinds = [*kinds, "Pod/ephemeralcontainers"]
    return [{
        "apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy",
        "metadata": {"name": name, "labels": dict(LABELS), "annotations": {
            **_annotations(control), "policies.kyverno.io/title": control.title,
            "policies.kyverno.io/severity": control.severity.label,
            "policies.kyverno.io/description": " ".join(control.description.split())}},
        "spec": {
            "background": True,
            "rules": [{
                "name": control.id.lower(),
                "match": {"any": [{"resources": {"kinds": kinds, "operations": ["CREATE", "UPDATE"]}}]},
                "exclude": {"any": [{"resources": {"namespaces": sorted(exclude)}}]},
                "validate": {"failureAction": "Enforce" if enforce else "Audit", "cel": cel},
            }],
        },
    }]


def export(controls: list[Control], target: str, enforce: bool = True,
           exclude: tuple[str, ...] = ("kube-system",)) -> Export:
    """The policies of ``controls`` for ``target`` (vap or kyverno), and those left out with why."""
    if target not in TARGETS:
        raise ValueError(f"target {target!r} is not one of {', '.join(TARGETS)}")
    build = vap if target == "vap" else kyverno
    out = Export()
    for control in controls:
        if control.scope == "facts":
            out.left_out.append((control.id, "it judges a component's settings and files on a node, which an "
                                             "admission request does not carry"))
            continue
        if "admission" not in control.inputs:
            out.left_out.append((control.id, "it needs the other objects of the cluster, which an admission "
                                             "request does not hold"))
            continue
        why = inexpressible(control)
        if why is not None:
            out.left_out.append((control.id, why))
            continue
        if control.scope == "object" and not kinds_of(control):
            out.left_out.append((control.id, "it applies to every kind; a policy over all resources is not exported"))
            continue
        out.documents.extend(build(control, enforce, exclude))
        out.exported.append(control.id)
    return out
