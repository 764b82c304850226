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
expressed are returned with the reason (:func:`export`). Controls whose logic is a Python check are
written by hand in :mod:`kubeharden.enforce.cel_checks`, with the settings of the configuration the
export runs with (allowed host paths, volume types, registries, system namespaces, the profile).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from kubeharden.config import Config
from kubeharden.enforce.cel import POD_VARIABLES, Inexpressible
from kubeharden.model.configfiles import CONFIG_FILE_KINDS
from kubeharden.enforce.cel import violation as rule_violation
from kubeharden.enforce.cel_checks import CHECKS, NOT_WRITTEN, TEMPLATES
from kubeharden.enforce.cel_messages import message_expression
from kubeharden.enforce.cel_updates import match_conditions
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


CONFIG_FILE_KIND_NAMES = frozenset(kind for _, kind in CONFIG_FILE_KINDS)
#: Why a control that needs more than the admitted object is left out (the fallback of :func:`elsewhere`).
OTHER_OBJECTS = "it needs the other objects of the cluster, which an admission request does not hold"
_ONE = "; one admission request holds one object"
#: What controls that cannot judge an admission request read instead, by control ID, then by ID prefix.
_READS_BY_ID = {
    # plugin/pkg/admission/serviceaccount (the ServiceAccount admission plugin, Pod CREATE, mutating phase):
    # shouldAutomount is the pod's automountServiceAccountToken, else the ServiceAccount's, else true; it then
    # mounts its projected kube-api-access-<random> volume at /var/run/secrets/kubernetes.io/serviceaccount in
    # every container and init container that has no mount at that path, adds the volume only if one needed it
    # and none named kube-api-access-* exists, and leaves mirror Pods alone ("Configure Service Accounts for
    # Pods", opt out of API credential automounting; "Managing Service Accounts", ServiceAccount admission).
    "KH-POD-024": ("it reads the pod's ServiceAccount, whose automountServiceAccountToken decides when the pod sets "
                   "none; a Pod-only policy decides exactly only when spec.automountServiceAccountToken is set. "
                   "With it unset, the projected kube-api-access-* volume the ServiceAccount admission plugin adds "
                   "before validating admission shows the ServiceAccount's choice, but not case by case: a Pod "
                   "whose ServiceAccount opts out can carry a volume of that name written in its manifest (even "
                   "a projected token that it asks for on purpose), which the scanner passes"),
    "KH-NET-012": "it looks for the LimitRanges of the namespace" + _ONE,
    "KH-NET-013": "it looks for the ResourceQuotas of the namespace" + _ONE,
    "KH-NET-014": "it reports the policy rules the reachability analysis of all policies could not evaluate" + _ONE,
    "KH-IMG-010": "it joins workloads with their images' users, read from Dockerfiles or image archives",
    "KH-IMG-011": "it joins workloads with vulnerability reports, which are not API objects",
    "KH-IMG-012": "it looks for admission policies and webhooks among the cluster's objects" + _ONE,
}
_READS_BY_PREFIX = {
    "KH-RBAC-": "it judges RBAC as a graph: roles with their bindings, aggregated ClusterRoles and the workloads "
                "whose tokens hold them (analysis/rbac.py); whether a role is risky depends on where it is "
                "bound" + _ONE,
    "KH-NET-": "it computes reachability from every NetworkPolicy (and admin, Cilium, Calico policy), Namespace, "
               "Service and Ingress (analysis/network)" + _ONE,
    "KH-RES-": "it resolves what containers end up with after the namespace's LimitRange defaults" + _ONE,
    "KH-CLU-": "it judges the cluster's nodes, versions and admission configuration, read from a live cluster",
    "KH-IMG-": "it reads Dockerfiles or image configurations, which are not API objects",
}


#: Controls the scanner judges over the whole input (scope inventory) whose verdict on the one admitted
#: object is the scanner's, case by case, and the kinds their policy matches: KH-RBAC-018 reads only the
#: Secret's ``type`` (Kubernetes API reference, Secret; "Service account token Secrets"); KH-RBAC-017 reads
#: the binding's subjects, and its roleRef, name and autoupdate annotation for the bootstrap exemption
#: (cel_checks._system_masters says why the other RBAC objects do not change it).
#: KH-RES-001 to -005 (requests and limits) on Pods only: the LimitRanger admission plugin has applied the
#: namespace's LimitRange defaults to a Pod before validating admission runs ("Limit Ranges"), so the Pod holds
#: what the scanner resolves with the LimitRanges; a workload's pod template is not defaulted (its Pods are, when
#: created), so for the workload kinds the verdict needs the LimitRanges and no policy is written for them.
ADMISSION_EXACT: dict[str, tuple[str, ...]] = {"KH-RBAC-018": ("Secret",),
                                               "KH-RBAC-017": ("RoleBinding", "ClusterRoleBinding"),
                                               **{f"KH-RES-00{n}": ("Pod",) for n in range(1, 6)}}
#: Subresources a control's policy matches besides its kinds' resources: an in-place resize
#: (``pods/resize``, "Resize CPU and Memory Resources assigned to Containers") changes container resources.
SUBRESOURCES: dict[str, tuple[str, ...]] = {f"KH-RES-00{n}": ("pods/resize",) for n in range(1, 6)}


def elsewhere(control: Control) -> str:
    """Why ``control``, which admission cannot run (its ``inputs`` lack ``admission``), is left out."""
    if control.id in _READS_BY_ID:
        return _READS_BY_ID[control.id]
    if control.scope == "facts":
        return "it judges a component's settings and files on a node, which an admission request does not carry"
    if "etcd" in control.inputs:
        return "it judges what etcd stores and how it answers clients (kubeharden etcd check), not an API object"
    if control.scope == "object" and control.kinds and set(control.kinds) <= CONFIG_FILE_KIND_NAMES:
        return ("it judges a configuration file of the control plane (read from a repository or a node), "
                "which is not an API object and never reaches admission")
    return next((why for prefix, why in _READS_BY_PREFIX.items() if control.id.startswith(prefix)), OTHER_OBJECTS)


def violation(control: Control, config: Config | None = None) -> str:
    """CEL that is true when the admitted object violates ``control``: its hand-written CEL
    (cel_checks.CHECKS, with ``config``) or its translated rule. Raises cel.Inexpressible."""
    if control.id in CHECKS:
        return CHECKS[control.id](config or Config())
    if control.id in NOT_WRITTEN:
        raise Inexpressible(NOT_WRITTEN[control.id])
    template = control.rule.get("template") if isinstance(control.rule, dict) else None
    if template in TEMPLATES:
        return TEMPLATES[template](control, config or Config())
    if control.id in ADMISSION_EXACT:  # its rule reads the one object: translate it as an object rule
        return rule_violation(replace(control, scope="object"))
    return rule_violation(control)


def inexpressible(control: Control, config: Config | None = None) -> str | None:
    """Why ``control`` cannot be exported as CEL, or None when it can."""
    try:
        violation(control, config)
    except Inexpressible as exc:
        return str(exc)
    return None


def kinds_of(control: Control) -> list[str]:
    """The kinds a control's policy matches: its ``kinds:`` (object scope) or every pod-bearing kind."""
    if control.id in ADMISSION_EXACT:
        return list(ADMISSION_EXACT[control.id])
    if control.scope == "object":
        return [k for k in control.kinds if k != "*"]
    return list(POD_TEMPLATE_PATHS)


def resource_rules(kinds: list[str], pods: bool, subresources: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Admission ``resourceRules`` (group, resources) for ``kinds``, from the built-in API resources, plus
    ``subresources`` of the core group (``pods/resize``)."""
    by_group: dict[str, set[str]] = {}
    for info in RESOURCES.values():
        if info.kind in kinds:
            by_group.setdefault(info.group, set()).add(info.name)
    if pods:
        by_group.setdefault("", set()).add("pods/ephemeralcontainers")
    for name in subresources:
        by_group.setdefault("", set()).add(name)
    return [{"apiGroups": [group], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
             "resources": sorted(names)} for group, names in sorted(by_group.items())]


def message(control: Control) -> str:
    """One line: the control, what is wrong, the guide IDs and the fix."""
    text = f"{control.id} {control.title} (guide {', '.join(control.nsa)}): {control.remediation}"
    return " ".join(text.split())


def _validation(control: Control, config: Config | None) -> dict[str, str]:
    """The validation of ``control`` (VAP ``validations`` and Kyverno ``validate.cel.expressions`` entry):
    expression, message and, for container controls, the messageExpression naming the containers at fault."""
    out = {"expression": f"!({violation(control, config)})", "message": message(control)}
    named = message_expression(control, out["message"], config)
    if named is not None:
        out["messageExpression"] = named
    return out


def _name(control: Control) -> str:
    return f"kubeharden-{control.id.lower()}"


def _annotations(control: Control) -> dict[str, str]:
    return {"kubeharden.io/control": control.id, "kubeharden.io/severity": control.severity.label,
            "kubeharden.io/guide": ", ".join(control.nsa)}


def _variables(control: Control) -> list[dict[str, str]]:
    return [dict(v) for v in POD_VARIABLES] if control.scope in ("pod", "container") else []


#: Controls that judge the system namespaces themselves (KH-NS-001: user workloads in kube-system …): their
#: policy is bound there too, or it would never fire; the allowances (static control-plane Pods, the
#: configuration's system_workloads) are in the control's CEL.
JUDGES_SYSTEM_NAMESPACES = frozenset({"KH-NS-001"})


def excluded_for(control: Control, exclude: tuple[str, ...], config: Config | None = None) -> tuple[str, ...]:
    """The namespaces ``control``'s policy leaves alone: ``exclude`` less the system namespaces
    (config.system_namespaces) for the controls of :data:`JUDGES_SYSTEM_NAMESPACES`."""
    if control.id not in JUDGES_SYSTEM_NAMESPACES:
        return exclude
    system = set((config or Config()).system_namespaces)
    return tuple(ns for ns in exclude if ns not in system)


def _excluded(namespaces: tuple[str, ...]) -> dict[str, Any]:
    """A namespaceSelector without ``namespaces`` (NotIn needs values: none selects every namespace)."""
    if not namespaces:
        return {}
    return {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                                  "values": sorted(namespaces)}]}


def vap(control: Control, enforce: bool, exclude: tuple[str, ...],
        config: Config | None = None) -> list[dict[str, Any]]:
    """The ValidatingAdmissionPolicy and its binding for ``control``. Raises cel.Inexpressible."""
    name = _name(control)
    kinds = kinds_of(control)
    exclude = excluded_for(control, exclude, config)
    spec: dict[str, Any] = {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": resource_rules(kinds, control.scope in ("pod", "container"),
                                                             SUBRESOURCES.get(control.id, ()))},
        "matchConditions": match_conditions(control),
    }
    if control.scope in ("pod", "container"):
        spec["variables"] = _variables(control)
    spec["validations"] = [{**_validation(control, config), "reason": "Forbidden"}]
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


def kyverno(control: Control, enforce: bool, exclude: tuple[str, ...],
            config: Config | None = None) -> list[dict[str, Any]]:
    """The Kyverno ClusterPolicy for ``control``. Raises cel.Inexpressible."""
    name = _name(control)
    exclude = excluded_for(control, exclude, config)
    cel: dict[str, Any] = {"expressions": [_validation(control, config)]}
    if control.scope in ("pod", "container"):
        cel = {"variables": _variables(control), **cel}
    kinds = kinds_of(control)
    if control.scope in ("pod", "container"):  # as resource_rules: kubectl debug adds containers this way
        # Kyverno matches a subresource as Kind/subresource ("Match statements": Pod/ephemeralcontainers)
        kinds = [*kinds, "Pod/ephemeralcontainers"]
    kinds += [f"Pod/{name.partition('/')[2]}" for name in SUBRESOURCES.get(control.id, ())]
    rule: dict[str, Any] = {
        "name": control.id.lower(),
        "match": {"any": [{"resources": {"kinds": kinds, "operations": ["CREATE", "UPDATE"]}}]},
        "exclude": {"any": [{"resources": {"namespaces": sorted(exclude)}}]},
        "celPreconditions": match_conditions(control),
        "validate": {"failureAction": "Enforce" if enforce else "Audit", "cel": cel},
    }
    if not exclude:
        del rule["exclude"]
    return [{
        "apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy",
        "metadata": {"name": name, "labels": dict(LABELS), "annotations": {
            **_annotations(control), "policies.kyverno.io/title": control.title,
            "policies.kyverno.io/severity": control.severity.label,
            "policies.kyverno.io/description": " ".join(control.description.split())}},
        "spec": {
            "background": True,
            "rules": [rule],
        },
    }]


def export(controls: list[Control], target: str, enforce: bool = True,
           exclude: tuple[str, ...] = ("kube-system",), config: Config | None = None) -> Export:
    """The policies of ``controls`` for ``target`` (vap or kyverno), and those left out with why; ``config``
    (default: the defaults) gives the settings hand-written controls read."""
    if target not in TARGETS:
        raise ValueError(f"target {target!r} is not one of {', '.join(TARGETS)}")
    build = vap if target == "vap" else kyverno
    out = Export()
    for control in controls:
        if control.id not in ADMISSION_EXACT and (control.scope == "facts" or "admission" not in control.inputs):
            out.left_out.append((control.id, elsewhere(control)))
            continue
        why = inexpressible(control, config)
        if why is not None:
            out.left_out.append((control.id, why))
            continue
        if control.scope == "object" and not kinds_of(control):
            out.left_out.append((control.id, "it applies to every kind; a policy over all resources is not exported"))
            continue
        out.documents.extend(build(control, enforce, exclude, config))
        out.exported.append(control.id)
    return out
