"""RBAC controls (NSA-RBAC-3..8, NSA-AUTH-3/5, NSA-POD-21/22, NSA-NET-28) over the permission model.

Three kinds of control, all inventory-scope because a grant needs a role *and* a binding:

* rule patterns, reported on the Role or ClusterRole at the rule's line, naming who the
  role is bound to (the risky permissions are catalogue data: ``rule: {template: rbac-risk}``);
* binding patterns (cluster-admin, anonymous, ``system:masters``, the ``default`` account),
  reported on the binding;
* consequences: workloads whose mounted token carries risky permissions, and subjects
  with an escalation path to cluster-admin or to every Secret.

Kubernetes' own default roles and bindings (labelled ``kubernetes.io/bootstrapping=rbac-defaults``,
``cluster-admin`` bound to ``system:masters``) are not reported: they are the platform, not a
choice the reader made. A scanned copy of a default kubeharden knows is judged on the rules it
adds to the default. A ``system:`` name alone exempts nothing. ClusterRoles filled by aggregation
are judged through the roles they aggregate, so a permission is reported once, where it is written.

Rules that authorise nothing (a cluster-scoped resource granted in a namespace, a resource that
does not exist in the named API group) are reported as ineffective (``KH-RBAC-022``, info), never
as the risk they seem to grant.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from functools import lru_cache, partial

from kubeharden.analysis.rbac import ALL, Grant, RbacModel, RbacRule, RoleDef, Subject, \
    is_default_binding
from kubeharden.analysis.rbac_defaults import (
    BOOTSTRAP_LABEL,
    CONTROL_PLANE_ROLES,
    CONTROLLER_ROLE_PREFIX,
    default_subjects_of_role,
    is_default_binding_name,
    reconciled,
)
from kubeharden.analysis.rbac_paths import CLUSTER_ADMIN, SECRETS, Path, PathFinder, describe_node
from kubeharden.analysis.rbac_resources import ineffective_entries
from kubeharden.analysis.rbac_risks import (
    CONFIGMAP_WRITES,
    CSR_APPROVAL,
    CSR_SIGNER,
    Risk,
    RiskError,
    risk_from_grants,
    risks_of,
    verbs_phrase,
)
from kubeharden.catalogue.loader import CatalogueError, load_catalogue
from kubeharden.checks.context import Context
from kubeharden.checks.registry import check, template
from kubeharden.model.controls import Control, Violation
from kubeharden.model.findings import Severity
from kubeharden.model.fieldpath import join
from kubeharden.model.inventory import Inventory
from kubeharden.model.memo import IdentityMemo
from kubeharden.model.objects import K8sObject

ANONYMOUS = (Subject("User", "system:anonymous"), Subject("Group", "system:unauthenticated"))
EVERYONE = (Subject("Group", "system:authenticated"), Subject("Group", "system:serviceaccounts"))
PUBLIC_URLS = frozenset({"/healthz", "/livez", "/readyz", "/version", "/version/"})
HARMLESS_ROLES = frozenset({"system:public-info-viewer", "system:discovery", "system:basic-user",
                            "system:service-account-issuer-discovery"})


# -- helpers ----------------------------------------------------------------------------------


def model_for(inventory: Inventory, ctx: Context) -> RbacModel:
    """The RBAC model of ``inventory``, built once per scan however many controls ask (memo in ``ctx.scan``)."""
    return ctx.scan.memo("rbac", inventory, RbacModel)


def _bound_to(model: RbacModel) -> dict[int, list[tuple[K8sObject, list[Subject]]]]:
    out: dict[int, list[tuple[K8sObject, list[Subject]]]] = defaultdict(list)
    for binding, role, subjects in model.bindings:
        if role is not None:
            out[id(role)].append((binding, subjects))
    return out


def _who(bindings: list[tuple[K8sObject, list[Subject]]], limit: int = 4) -> str:
    if not bindings:
        return "not bound by any binding in the scanned objects"
    parts: list[str] = []
    for binding, subjects in bindings:
        names = ", ".join(str(s) for s in subjects) or "no subjects"
        text = f"{names} via {binding.kind} {binding.name} {_binding_scope(binding)}"
        if text not in parts:
            parts.append(text)
    more = f" and {len(parts) - limit} more" if len(parts) > limit else ""
    return "bound to " + "; ".join(parts[:limit]) + more


def _reviewable_roles(model: RbacModel) -> Iterator[tuple[RoleDef, list[RbacRule]]]:
    """Roles written in the scanned objects with the rules they add to Kubernetes' defaults.

    Built-in and labelled default roles add none; roles filled by aggregation are judged
    through the roles they aggregate.
    """
    for role in list(model.cluster_roles.values()) + list(model.roles.values()):
        if role.builtin or role.is_aggregated:
            continue
        rules = role.own_rules()
        if rules:
            yield role, rules


def _scope(model: RbacModel, role: RoleDef, bound: dict[int, list[tuple[K8sObject, list[Subject]]]]) \
        -> frozenset[str] | None:
    """Where the role's rules apply: None cluster-wide, else the namespaces they are granted in.

    A Role applies in its own namespace; a ClusterRole bound only by RoleBindings in theirs. A
    ClusterRole bound by nothing in the input is judged as if bound cluster-wide (it can be), and so
    is one aggregated into another ClusterRole (its rules flow wherever that one is bound).
    """
    if role.kind != "ClusterRole":
        return frozenset({role.obj.namespace or model.default_namespace})
    if role.name in model.aggregated_into:
        return None
    bindings = bound.get(id(role), [])
    if not bindings or any(b.kind == "ClusterRoleBinding" for b, _ in bindings):
        return None
    return frozenset(b.namespace or model.default_namespace for b, _ in bindings)


def _effective(model: RbacModel, rules: list[RbacRule], namespaces: frozenset[str] | None) -> list[RbacRule]:
    """The parts of ``rules`` that authorise something in ``namespaces`` (None: cluster-wide)."""
    return [part for rule in rules for part in model.effective_parts(rule, namespaces)]


def _rule_hits(model: RbacModel, risk: Risk, rules: list[RbacRule],
               namespaces: frozenset[str] | None) -> list[tuple[RbacRule, str]]:
    """The effective parts of ``rules`` that carry ``risk``, with a phrase each; ineffective parts never count."""
    hits = []
    for rule in _effective(model, rules, namespaces):
        matched = risk.matched(rule, namespaces is None)
        if matched:
            names = f" only for {', '.join(sorted(rule.resource_names))}" if rule.resource_names else ""
            hits.append((rule, f"{verbs_phrase(matched)}{names} (rule: {rule.describe()})"))
    return hits


RBAC_RISK = "rbac-risk"


def risk_of(control: Control) -> Risk:
    """The Risk a ``rule: {template: rbac-risk, what, grants, any_name}`` control describes.

    Raises CatalogueError naming the control when its parameters are not usable.
    """
    rule = control.rule
    try:
        return risk_from_grants(control.id, str(rule.get("what") or control.title), rule.get("grants"),
                                rule.get("any_name", True))
    except RiskError as exc:
        raise CatalogueError(f"{control.id}: rule: {exc}") from None


@lru_cache(maxsize=1)
def catalogue_risks() -> tuple[Risk, ...]:
    """Every risk of the catalogue's rbac-risk controls, in catalogue order (enabled or not)."""
    return tuple(risk_of(c) for c in load_catalogue()
            if isinstance(c.rule, dict) and c.rule.get("template") == RBAC_RISK)


@template(RBAC_RISK, check_params=risk_of)
def role_risk(control: Control, inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    """One finding per reviewable Role or ClusterRole whose rules allow a request of the control's risk."""
    model = model_for(inventory, ctx)
    bound = _bound_to(model)
    risk = risk_of(control)
    for role, rules in _reviewable_roles(model):
        hits = _rule_hits(model, risk, rules, _scope(model, role, bound))
        if hits:
            yield _role_violation(role, f"{risk.what}: ", hits, bound)


def _role_violation(role: RoleDef, what: str, hits: list[tuple[RbacRule, str]],
                    bound: dict[int, list[tuple[K8sObject, list[Subject]]]]) -> Violation:
    """One finding per role, at the first offending rule, listing up to three rules."""
    shown = "; ".join(text for _, text in hits[:3]) + (f"; and {len(hits) - 3} more rules" if len(hits) > 3 else "")
    return Violation(f"{role.kind} {role.name} {what}{shown}; {_who(bound.get(id(role), []))}", hits[0][0].line,
                     obj=role.obj, path=_rule_path(hits[0][0]))


def _rule_path(rule: RbacRule) -> str:
    """Path of a role's rule (``rules[2]``), or of its rules when the position is unknown."""
    return join("rules", rule.index) if rule.index is not None else "rules"




def _public_info_only(role: RoleDef) -> bool:
    return all(not r.resources and r.verbs <= {"get"} and r.non_resource_urls <= PUBLIC_URLS for r in role.rules)


def harmless_role(role: RoleDef) -> bool:
    """Bootstrap ClusterRoles every authenticated identity holds by default, as Kubernetes defines them
    ("Using RBAC Authorization", Default roles and role bindings: API discovery roles).

    A name is not enough: a Role of that name, or a scanned copy that adds rules, is not harmless.
    """
    return (role.kind == "ClusterRole" and role.name in HARMLESS_ROLES and (role.builtin or role.default_known)
            and not role.own_rules())


def _subject_index(binding: K8sObject, subject: Subject) -> int | None:
    subjects = binding.raw.get("subjects")
    if isinstance(subjects, list):
        for index, s in enumerate(subjects):
            if isinstance(s, dict) and s.get("name") in (subject.name, f"system:serviceaccount:{subject.namespace}:"
                                                                           f"{subject.name}"):
                return index
    return None


def _subject_line(binding: K8sObject, subject: Subject) -> int | None:
    index = _subject_index(binding, subject)
    if index is not None:
        return binding.line(binding.raw.get("subjects"), index)
    return binding.line(binding.raw, "subjects")


def _subject_path(binding: K8sObject, subject: Subject) -> str:
    index = _subject_index(binding, subject)
    return join("subjects", index) if index is not None else "subjects"


def _binding_scope(binding: K8sObject) -> str:
    if binding.kind != "RoleBinding":
        return "cluster-wide"
    return f"in namespace {binding.namespace}" if binding.namespace else "in the namespace it is applied to"


# -- rule patterns on roles --------------------------------------------------------------------


@check("KH-RBAC-002")
def wildcards(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    model = model_for(inventory, ctx)
    bound = _bound_to(model)
    for role, rules in _reviewable_roles(model):
        hits = []
        # a rule that grants nothing is KH-RBAC-022
        for rule in _effective(model, rules, _scope(model, role, bound)):
            parts = [f"{label} '*'" for label, values in (("verbs", rule.verbs), ("resources", rule.resources),
                                                          ("apiGroups", rule.api_groups)) if ALL in values]
            if ALL in rule.non_resource_urls:
                parts.append("nonResourceURLs '*'")
            if parts:
                hits.append((rule, f"{', '.join(parts)} in rule {rule.describe()}"))
        if hits:
            yield _role_violation(role, "uses wildcards, which also grant every verb or resource added later: ",
                                  hits, bound)


@check("KH-RBAC-009")
def approve_csr(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    """Both halves of CSR approval: in one role, or held by one subject through two bindings."""
    model = model_for(inventory, ctx)
    bound = _bound_to(model)
    whole: set[int] = set()
    for role, rules in _reviewable_roles(model):
        scope = _scope(model, role, bound)
        approval, signer = _rule_hits(model, CSR_APPROVAL, rules, scope), _rule_hits(model, CSR_SIGNER, rules, scope)
        if approval and signer:
            whole.add(id(role))
            yield _role_violation(role, "can approve CertificateSigningRequests: ", approval + signer, bound)
    for subject in sorted(model.by_subject):
        pair = _csr_pair(model, subject)
        if pair is None or id(pair[0].role) in whole or id(pair[1].role) in whole \
                or subject not in (pair[0].subject, pair[1].subject):
            continue  # reported on the role, or on the group that holds both
        approving, signing = pair
        yield Violation(f"{subject} can approve CertificateSigningRequests: update of the approval through "
                        f"{approving.via()} ({approving.rule.describe()}) and approve on the signer through "
                        f"{signing.via()} ({signing.rule.describe()})",
                        signing.binding.line(signing.binding.raw, "roleRef"), obj=signing.binding, path="roleRef")


def _csr_pair(model: RbacModel, subject: Subject) -> tuple[Grant, Grant] | None:
    """A cluster-wide grant of each half of CSR approval held by ``subject`` outside the defaults, or None."""
    approval = signer = None
    for grant in model.grants_of(subject):
        if grant.namespace is not None or _default_binding(grant.binding, grant.role):
            continue
        if approval is None and CSR_APPROVAL.matched(grant.rule):
            approval = grant
        if signer is None and CSR_SIGNER.matched(grant.rule):
            signer = grant
    return (approval, signer) if approval is not None and signer is not None else None


@check("KH-RBAC-022")
def ineffective_rules(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    """Rules, or parts of rules, that authorise nothing; reported instead of the risk they seem to carry."""
    model = model_for(inventory, ctx)
    bound = _bound_to(model)
    for role, rules in _reviewable_roles(model):
        namespaces = _scope(model, role, bound)
        why_scope = "" if role.kind == "Role" or namespaces is None else \
            f" (it is bound only by RoleBindings: {_who(bound.get(id(role), []))})"
        for rule in rules:
            reasons = ineffective_entries(rule.api_groups, rule.resources, rule.non_resource_urls, namespaces,
                                          rule.verbs, rule.resource_names)
            if reasons:
                yield Violation(f"{role.kind} {role.name}{why_scope}: rule {rule.describe()} grants nothing for "
                                f"{'; '.join(reasons)}", rule.line, obj=role.obj, path=_rule_path(rule))


# -- binding patterns --------------------------------------------------------------------------


@check("KH-RBAC-026")
def system_configmap_writes(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    """Write access to ConfigMaps of a system namespace, through a binding there or a cluster-wide one."""
    model = model_for(inventory, ctx)
    system = tuple(ctx.config.system_namespaces)
    for binding, role, subjects in model.bindings:
        if role is None or not subjects or role.cluster_admin_equivalent or _default_binding(binding, role):
            continue  # cluster-admin equivalents are KH-RBAC-001
        scope: frozenset[str] | None = None
        if binding.kind == "RoleBinding":
            ns = binding.namespace or model.default_namespace
            if ns not in system:
                continue
            where, scope = f"in namespace {ns}", frozenset({ns})
        else:
            where = f"in every namespace, system namespaces {', '.join(system)} included"
        hits = _rule_hits(model, CONFIGMAP_WRITES, role.rules, scope)
        if hits:
            yield Violation(f"{binding.kind} {binding.name} lets {', '.join(str(s) for s in subjects)} "
                            f"{CONFIGMAP_WRITES.what.removeprefix('can ')} {where} through {role.kind} {role.name}: "
                            f"{hits[0][1]}", binding.line(binding.raw, "roleRef"), obj=binding, path="roleRef")


@check("KH-RBAC-027")
def admin_edit_cluster_wide(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    """ClusterRoleBindings of the default ``admin`` or ``edit`` roles: namespace roles granted in every namespace."""
    model = model_for(inventory, ctx)
    for binding, role, subjects in model.bindings:
        if binding.kind != "ClusterRoleBinding" or role is None or not subjects:
            continue
        if role.kind != "ClusterRole" or role.name not in ("admin", "edit") or not (role.builtin or role.default_known):
            continue
        yield Violation(f"ClusterRoleBinding {binding.name} gives the default ClusterRole {role.name} in every "
                        f"namespace, kube-system included, to {', '.join(str(s) for s in subjects)}: it reads every "
                        "Secret, creates pods as any ServiceAccount and (admin) manages RoleBindings everywhere",
                        binding.line(binding.raw, "roleRef"), obj=binding, path="roleRef")


def _default_binding(binding: K8sObject, role: RoleDef) -> bool:
    """A default binding (a default binding's name and the bootstrap label) of a default role."""
    return role.is_default and is_default_binding_name(binding.name) and \
        binding.labels.get(BOOTSTRAP_LABEL[0]) == BOOTSTRAP_LABEL[1]


def _extra_subjects(role: RoleDef, subjects: list[Subject]) -> list[Subject]:
    """The subjects a binding gives a default role beyond those its default bindings give it."""
    defaults = default_subjects_of_role(role.name)
    return [s for s in subjects if (s.kind, s.name, s.namespace) not in defaults]


def _control_plane(role: RoleDef) -> bool:
    """A core component's or a controller's default role ("Using RBAC Authorization", Core component
    roles, Controller roles), built in or a scanned copy of one (a snapshot holds them); a forged
    ``system:controller:`` role is no default and is judged on its rules."""
    return (role.builtin or role.default_known) and role.kind == "ClusterRole" and \
        (role.name in CONTROL_PLANE_ROLES or role.name.startswith(CONTROLLER_ROLE_PREFIX))


def _grants_text(model: RbacModel, role: RoleDef, namespaces: frozenset[str] | None) -> str:
    if not role.rules_known:
        return "kubeharden does not carry this default role's rules, so what it grants is not assessed"
    found: list[str] = []
    for rule in _effective(model, role.rules, namespaces):
        for risk in risks_of(rule, catalogue_risks(), cluster_scope=namespaces is None):
            if risk.what not in found:
                found.append(risk.what)
    return "with it the subject " + (", ".join(found) if found else "holds the component's permissions") + \
        f" ({_rules_source(role)})"


def _binding_namespaces(model: RbacModel, binding: K8sObject) -> frozenset[str] | None:
    """Where a binding grants its role: None for a ClusterRoleBinding, else its namespace."""
    return None if binding.kind == "ClusterRoleBinding" else frozenset({binding.namespace or model.default_namespace})


def _rules_source(role: RoleDef) -> str:
    """Whose rules a default role's grants were read from: the bootstrap policy, the scanned copy, or both."""
    if role.builtin:
        return "rules of the Kubernetes bootstrap policy"
    if not reconciled(role.obj.annotations):
        return "rules of the scanned copy: its autoupdate \"false\" annotation stops the API server from restoring " \
            "the default ones"
    return "rules of the Kubernetes bootstrap policy, which the API server restores, with those of the scanned copy"


@check("KH-RBAC-028")
def control_plane_role_bindings(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    """Bindings that give a core component's or a controller's default role to anyone else."""
    model = model_for(inventory, ctx)
    for binding, role, subjects in model.bindings:
        if role is None or not _control_plane(role):
            continue
        extra = _extra_subjects(role, subjects)
        if not extra:
            continue
        meant = ", ".join(sorted(f"{k.lower()}:{n}" if ns is None else f"serviceaccount:{ns}:{n}"
                                 for k, n, ns in default_subjects_of_role(role.name)))
        meant = f"{meant} only" if meant else "no subject (the Node authorizer serves the kubelets)"
        yield Violation(f"{binding.kind} {binding.name} gives the default control-plane ClusterRole {role.name} "
                        f"{_binding_scope(binding)} to {', '.join(str(s) for s in extra)}; Kubernetes binds it to "
                        f"{meant}: {_grants_text(model, role, _binding_namespaces(model, binding))}",
                        _subject_line(binding, extra[0]), obj=binding, path=_subject_path(binding, extra[0]))


@check("KH-RBAC-029")
def uncarried_default_role_bindings(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    """Bindings of default roles whose rules kubeharden does not carry: said, never passed silently."""
    model = model_for(inventory, ctx)
    for binding, role, subjects in model.bindings:
        if role is None or role.rules_known or _control_plane(role) or not subjects:
            continue
        extra = _extra_subjects(role, subjects)
        if extra:
            yield Violation(f"{binding.kind} {binding.name} gives the default ClusterRole {role.name} "
                            f"{_binding_scope(binding)} to {', '.join(str(s) for s in extra)}; kubeharden does not "
                            "carry that role's rules, so what the binding grants is not assessed",
                            binding.line(binding.raw, "roleRef"), obj=binding, path="roleRef")


@check("KH-RBAC-001")
def cluster_admin_bindings(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    model = model_for(inventory, ctx)
    for binding, role, subjects in model.bindings:
        if role is None or not role.cluster_admin_equivalent:
            continue
        subjects = [s for s in subjects if not is_default_binding(binding, role, s)]
        if not subjects:
            continue
        what = "cluster-admin" if role.name == "cluster-admin" else \
            f"{role.kind} {role.name} (cluster-admin equivalent: every verb on every resource)"
        yield Violation(f"{binding.kind} {binding.name} gives {what} {_binding_scope(binding)} to "
                        f"{', '.join(str(s) for s in subjects)}", binding.line(binding.raw, "roleRef"), obj=binding,
                        path="roleRef")


@check("KH-RBAC-013")
def anonymous_grants(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    yield from _group_grants(inventory, ctx, ANONYMOUS, informational=False)


@check("KH-RBAC-014")
def anonymous_public_info(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    yield from _group_grants(inventory, ctx, ANONYMOUS, informational=True)


def _group_grants(inventory: Inventory, ctx: Context, who: tuple[Subject, ...],
                  informational: bool) -> Iterator[Violation]:
    model = model_for(inventory, ctx)
    for binding, role, subjects in model.bindings:
        if role is None:
            continue
        for subject in subjects:
            if subject not in who:
                continue
            if _public_info_only(role) != informational:
                continue
            if informational:
                note = " (the Kubernetes default)" if is_default_binding(binding, role, subject) else ""
                yield Violation(f"{subject} may read the health and version endpoints through {binding.kind} "
                                f"{binding.name}{note}", _subject_line(binding, subject), obj=binding,
                                path=_subject_path(binding, subject))
            else:
                rules = "; ".join(r.describe() for r in role.rules[:3]) or "no rules"
                yield Violation(f"{binding.kind} {binding.name} grants {role.kind} {role.name} ({rules}) "
                                f"{_binding_scope(binding)} to {subject}: anyone who can reach the API server "
                                "holds it", _subject_line(binding, subject), obj=binding,
                                path=_subject_path(binding, subject))


#: The control whose severity a grant takes when it puts every user one step from cluster-admin: one request
#: by anyone (a ClusterRoleBinding of cluster-admin to themselves) makes it a cluster-admin binding.
ADMIN_BINDING_CONTROL = "KH-RBAC-001"


@lru_cache(maxsize=1)
def admin_binding_severity() -> Severity:
    """The catalogue severity of :data:`ADMIN_BINDING_CONTROL` (critical): severities stay catalogue data."""
    return next(c.severity for c in load_catalogue() if c.id == ADMIN_BINDING_CONTROL)


def one_step_to_admin(model: RbacModel, ctx: Context, subject: Subject) -> dict[int, str]:
    """``id(binding)`` -> how ``subject`` reaches cluster-admin in one step through a grant of that binding.

    One step is a path of length 1 in the escalation graph (:class:`PathFinder`): holding cluster-admin's
    rules, ``bind`` on ClusterRoles with ``create`` on ClusterRoleBindings or ``update``/``patch`` of the
    ``cluster-admin`` ClusterRoleBinding, ``escalate`` and ``update`` on a ClusterRole bound to it cluster-wide,
    creating and approving a CertificateSigningRequest ("Using RBAC Authorization", "Privilege escalation
    prevention and bootstrapping"; "RBAC Good Practices", escalate and bind), or impersonating a user with group
    ``system:masters``, or an identity itself one step away ("Authenticating", User impersonation).
    """
    finder = ctx.scan.memo("rbac-paths", model, PathFinder)  # the finder KH-RBAC-021 and the report use
    out: dict[int, str] = {}
    for step in finder.graph.edges.get(subject.key, ()):
        if step.dst == CLUSTER_ADMIN:
            for grant in step.grants:
                out.setdefault(id(grant.binding), step.action)
    return out


@check("KH-RBAC-015")
def everyone_grants(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    """Bindings to system:authenticated or system:serviceaccounts; one whose grants put the group one step from
    cluster-admin (:func:`one_step_to_admin`) is reported with the severity of a cluster-admin binding
    (:func:`admin_binding_severity`), since any member can make one. Grants to system:unauthenticated are
    KH-RBAC-013's (critical)."""
    model = model_for(inventory, ctx)
    steps: dict[int, str] | None = None
    for binding, role, subjects in model.bindings:
        if role is None or harmless_role(role):
            continue
        for subject in subjects:
            if subject in EVERYONE and not is_default_binding(binding, role, subject):
                whom = "every authenticated user and ServiceAccount" if subject.name == "system:authenticated" \
                    else "every ServiceAccount of every namespace"
                if steps is None:  # a ServiceAccount holds the grants of both groups: either may complete the step
                    steps = {}
                    for group in EVERYONE:
                        for key, how in one_step_to_admin(model, ctx, group).items():
                            steps.setdefault(key, f"every member of {group} is one step from cluster-admin: {how}")
                step = steps.get(id(binding))
                admin = f"; {step}" if step else ""
                yield Violation(f"{binding.kind} {binding.name} grants {role.kind} {role.name} "
                                f"{_binding_scope(binding)} to {subject}, that is to {whom}{admin}",
                                _subject_line(binding, subject), obj=binding, path=_subject_path(binding, subject),
                                severity=admin_binding_severity() if step else None)


@check("KH-RBAC-016")
def default_service_account(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    model = model_for(inventory, ctx)
    for binding, role, subjects in model.bindings:
        if role is not None and harmless_role(role):
            continue
        for subject in subjects:
            if subject.kind == "ServiceAccount" and subject.name == "default":
                role_text = f"{role.kind} {role.name}" if role else "a role"
                yield Violation(f"{binding.kind} {binding.name} grants {role_text} {_binding_scope(binding)} to the "
                                f"default ServiceAccount of namespace {subject.namespace}, which every pod there uses "
                                "unless it names another", _subject_line(binding, subject), obj=binding,
                                path=_subject_path(binding, subject))


@check("KH-RBAC-017")
def system_masters(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    model = model_for(inventory, ctx)
    masters = Subject("Group", "system:masters")
    for binding, role, subjects in model.bindings:
        if masters in subjects and not is_default_binding(binding, role, masters):
            yield Violation(f"{binding.kind} {binding.name} names group system:masters: members of that group "
                            "bypass RBAC entirely, so the binding only hides that they hold every permission",
                            _subject_line(binding, masters), obj=binding, path=_subject_path(binding, masters))


@check("KH-RBAC-020")
def unresolved(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    for issue in model_for(inventory, ctx).issues:
        yield Violation(issue.message, issue.line, obj=issue.obj)


# -- consequences ------------------------------------------------------------------------------


@check("KH-RBAC-019")
def workload_token_risks(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    model = model_for(inventory, ctx)
    cache: dict[Subject, str] = {}
    risks: IdentityMemo[list[Risk]] = IdentityMemo()  # a rule's risks, per scope: accounts share roles' rules
    for pod in inventory.pods:
        if not model.token_mounted(pod):
            continue
        subject = model.account_of(pod)
        if subject not in cache:
            cache[subject] = _risk_summary(model, subject, risks)
        summary = cache[subject]
        if summary:
            yield Violation(f"runs as ServiceAccount {subject.namespace}/{subject.name} with its token mounted; "
                            f"a compromise of this workload gives: {summary}",
                            pod.automount_line or pod.spec_line, obj=pod,
                            path=join(pod.spec_path, "automountServiceAccountToken"))


def _risk_summary(model: RbacModel, subject: Subject, risks: IdentityMemo[list[Risk]]) -> str:
    """What the account's token gives, grouped by the binding that gives it (``risks``: the catalogue's risks
    of each rule part, per scope, kept for the control run)."""
    by_via: dict[str, list[str]] = {}
    csr = _csr_pair(model, subject)
    if csr is not None:
        by_via[f"{csr[0].via()} and {csr[1].via()}"] = ["approve CertificateSigningRequests (cluster-wide)"]
    for grant in model.grants_of(subject):
        if grant.role.cluster_admin_equivalent and grant.namespace is None:
            by_via[grant.via()] = ["cluster-admin (every permission cluster-wide)"]
            continue
        found = by_via.setdefault(grant.via(), [])
        if found and found[0].startswith("cluster-admin"):
            continue
        scope = None if grant.namespace is None else frozenset({grant.namespace})
        cluster_scope = scope is None
        for part in model.effective_parts(grant.rule, scope):
            for risk in risks.get(part, cluster_scope, partial(risks_of, part, catalogue_risks(), cluster_scope)):
                phrase = f"{risk.what.removeprefix('can ')} ({grant.scope})"
                if phrase not in found:
                    found.append(phrase)
    return "; ".join(f"{', '.join(what)} via {via}" for via, what in sorted(by_via.items()) if what)


@check("KH-RBAC-021")
def escalation_paths(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    model = model_for(inventory, ctx)
    if not model.grants:
        return
    finder = ctx.scan.memo("rbac-paths", model, PathFinder)  # the HTML report draws from the same finder
    admin = finder.shortest_paths(CLUSTER_ADMIN)
    secrets = finder.shortest_paths(SECRETS)
    for subject in sorted(model.by_subject):
        if subject.is_system:
            continue
        key = subject.key
        goal = CLUSTER_ADMIN if key in admin else SECRETS
        steps = admin.get(key) or secrets.get(key)
        if not steps or not steps[0].grants:
            continue
        path = Path(key, goal, steps)
        if len(path) < 2:
            continue  # direct holders are reported by the rule and binding controls
        first = steps[0].grants[0]
        yield Violation(f"{subject} can reach {describe_node(goal)} in {len(path)} steps: {path.describe()}",
                        first.binding.line(first.binding.raw, "roleRef"), obj=first.binding,
                        path=_subject_path(first.binding, subject))
