"""The RBAC permission model: who can do what, resolved the way the API server does it.

Roles, ClusterRoles (with label-based aggregation), RoleBindings and ClusterRoleBindings
become :class:`Grant` records: one subject, one normalised rule, the scope it applies in
(a namespace, or ``None`` for cluster-wide) and the binding and role that grant it.
Matching follows ``rbac/v1`` evaluation helpers exactly:

* ``*`` in verbs, apiGroups and resources matches everything (resources: including
  subresources); ``*/scale`` matches the ``scale`` subresource of any resource; ``pods/*``
  is *not* a wildcard (it only matches a resource literally named so);
* ``resourceNames`` only allow requests that name one of them (so never ``list`` or
  ``create`` without a name);
* ``nonResourceURLs`` match exactly or, with a trailing ``*``, by prefix, and only count
  in ClusterRoles bound by a ClusterRoleBinding;
* a RoleBinding to a ClusterRole grants its rules only in the binding's namespace, and a
  namespaced grant never authorises a cluster-scoped resource (``nodes``, ``persistentvolumes``,
  impersonation of users and groups…: requests for them carry no namespace);
* default roles and bindings are reconciled as the API server does at every start: a scanned
  ``cluster-admin`` keeps every built-in rule unless annotated ``autoupdate: "false"``
  (:mod:`kubeharden.analysis.rbac_defaults`);
* a ClusterRoleBinding whose ServiceAccount subject has no namespace is rejected by the API
  server's validation, so it is reported as invalid and grants nothing.

Subjects are the identities the authenticator produces: ServiceAccounts are also
members of ``system:serviceaccounts``, ``system:serviceaccounts:<ns>`` and
``system:authenticated``; ``system:anonymous`` of ``system:unauthenticated``. The model
is built once per inventory and indexed by subject, so queries stay linear.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kubeharden.analysis.rbac_defaults import (
    BOOTSTRAP_LABEL,
    BUILTIN_CLUSTER_ROLES,
    BUILTIN_ROLES,
    DEFAULT_ROLE_NAMES,
    UNCARRIED_CLUSTER_ROLES,
    default_binding_names,
    default_binding_subjects,
    reconciled,
)
from kubeharden.analysis.rbac_resources import ineffective_part, is_cluster_scoped
from kubeharden.analysis.selectors import SelectorError, compile_selector
from kubeharden.model.findings import Problem
from kubeharden.model.inventory import Inventory, PodRecord
from kubeharden.model.kinds import DEFAULT_NAMESPACE
from kubeharden.model.memo import IdentityMemo
from kubeharden.model.objects import K8sObject, Provenance, as_dict, as_list, make_ref

RBAC_GROUP = "rbac.authorization.k8s.io"
ALL = "*"

#: Pod-creating workload resources: (API group, resource) pairs.
WORKLOAD_RESOURCES: tuple[tuple[str, str], ...] = (
    ("", "pods"), ("", "replicationcontrollers"), ("apps", "deployments"), ("apps", "daemonsets"),
    ("apps", "statefulsets"), ("apps", "replicasets"), ("batch", "jobs"), ("batch", "cronjobs"),
)
#: Workload kind -> (API group, resource), to join pods to the verbs that change them.
KIND_RESOURCE: dict[str, tuple[str, str]] = {
    "Pod": ("", "pods"), "ReplicationController": ("", "replicationcontrollers"),
    "Deployment": ("apps", "deployments"), "DaemonSet": ("apps", "daemonsets"),
    "StatefulSet": ("apps", "statefulsets"), "ReplicaSet": ("apps", "replicasets"),
    "Job": ("batch", "jobs"), "CronJob": ("batch", "cronjobs"),
}


# -- subjects ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Subject:
    """An identity a request can carry: a User, a Group or a ServiceAccount."""

    kind: str  # User | Group | ServiceAccount
    name: str
    namespace: str | None = None

    @property
    def key(self) -> str:
        if self.kind == "ServiceAccount":
            return f"serviceaccount:{self.namespace}:{self.name}"
        return f"{self.kind.lower()}:{self.name}"

    def __str__(self) -> str:
        return self.key

    @property
    def is_system(self) -> bool:
        """Kubernetes' own identities (``system:*`` users and groups, kube-system accounts)."""
        if self.kind == "ServiceAccount":
            return self.namespace == "kube-system"
        return self.name.startswith("system:")

    def groups(self) -> tuple[str, ...]:
        """The groups the authenticator puts this identity in; for a group, the groups every member is also in.

        Kubernetes "Authenticating": ServiceAccounts are in ``system:serviceaccounts`` and
        ``system:serviceaccounts:NS``; ``system:authenticated`` is in the groups of every authenticated user, so
        every member of any group but ``system:unauthenticated`` holds that group's grants too (and a member of
        ``system:serviceaccounts:NS`` is a ServiceAccount, so also in ``system:serviceaccounts``).
        """
        if self.kind == "ServiceAccount":
            return ("system:serviceaccounts", f"system:serviceaccounts:{self.namespace}", "system:authenticated")
        if self.kind == "User":
            return ("system:unauthenticated",) if self.name == "system:anonymous" else ("system:authenticated",)
        if self.kind == "Group" and self.name not in ("system:unauthenticated", "system:authenticated"):
            if self.name.startswith("system:serviceaccounts:"):
                return ("system:serviceaccounts", "system:authenticated")
            return ("system:authenticated",)
        return ()


def parse_subject(text: str) -> Subject:
    """``serviceaccount:NS:NAME`` (or ``sa:``), ``user:NAME``, ``group:NAME`` or a raw username."""
    head, _, rest = text.partition(":")
    kind = head.lower()
    if kind in ("serviceaccount", "sa") and rest.count(":") == 1:
        ns, _, name = rest.partition(":")
        if ns and name:
            return Subject("ServiceAccount", name, ns)
    if kind == "user" and rest:
        return normalise_user(rest)
    if kind == "group" and rest:
        return Subject("Group", rest)
    if text.startswith("system:serviceaccount:"):
        return normalise_user(text)
    raise ValueError(f"cannot read subject {text!r}: use serviceaccount:NAMESPACE:NAME, user:NAME or group:NAME")


def normalise_user(name: str) -> Subject:
    """A ``system:serviceaccount:NS:NAME`` username *is* that ServiceAccount."""
    parts = name.split(":")
    if len(parts) == 4 and parts[0] == "system" and parts[1] == "serviceaccount" and parts[2] and parts[3]:
        return Subject("ServiceAccount", parts[3], parts[2])
    return Subject("User", name)


# -- rules -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RbacRule:
    """One rbac.authorization.k8s.io/v1 PolicyRule of a Role or ClusterRole, normalised; ``line`` is where
    it starts in its file. (Named apart from the NetworkPolicy rules, audit detection rules and the
    catalogue's declarative rules.)"""

    verbs: frozenset[str]
    api_groups: frozenset[str] = frozenset()
    resources: frozenset[str] = frozenset()
    resource_names: frozenset[str] = frozenset()
    non_resource_urls: frozenset[str] = frozenset()
    line: int | None = None
    #: position in its role's ``rules`` list (None for built-in definitions); not part of equality
    index: int | None = field(default=None, compare=False)

    def allows(self, verb: str, group: str, resource: str, subresource: str = "", name: str | None = None,
               *, any_name: bool = False) -> bool:
        """Whether this rule authorises the request (rbac/v1 RuleAllows).

        ``name`` is the object name the request carries; ``any_name`` asks instead whether
        the rule allows the request for *some* name (a rule limited by resourceNames does).
        """
        if not (ALL in self.verbs or verb in self.verbs):
            return False
        if not (ALL in self.api_groups or group in self.api_groups):
            return False
        if not self._resource_matches(resource, subresource):
            return False
        if not self.resource_names or any_name:
            return True
        return name is not None and name in self.resource_names

    def covered_by(self, owners: Iterable[RbacRule]) -> bool:
        """Whether ``owners`` allow every request this rule allows (Kubernetes' validation.Covers).

        The rule is broken into its atomic requests (verb, group, resource, name; verb, URL)
        and each must be allowed by one owner rule, matching the rule's entries literally
        (a ``*`` here is only covered by a ``*`` there).
        """
        owners = list(owners)
        for verb in self.verbs:
            for url in self.non_resource_urls:
                if not any(o.allows_url(verb, url) for o in owners):
                    return False
            for group in self.api_groups:
                for entry in self.resources:
                    resource, _, sub = entry.partition("/")
                    for name in self.resource_names or (None,):
                        if not any(o.allows(verb, group, resource, sub, name) for o in owners):
                            return False
        return True

    def _resource_matches(self, resource: str, subresource: str) -> bool:
        combined = f"{resource}/{subresource}" if subresource else resource
        for r in self.resources:
            if r == ALL or r == combined:
                return True
            if subresource and len(r) == len(subresource) + 2 and r.startswith("*/") and r.endswith(subresource):
                return True
        return False

    def allows_url(self, verb: str, path: str) -> bool:
        if not (ALL in self.verbs or verb in self.verbs):
            return False
        for url in self.non_resource_urls:
            if url == ALL or url == path or (url.endswith("*") and path.startswith(url[:-1])):
                return True
        return False

    @property
    def is_resource_rule(self) -> bool:
        return bool(self.resources) and bool(self.api_groups)

    def describe(self) -> str:
        """The rule in one line, as a reviewer reads it."""
        if self.non_resource_urls and not self.resources:
            return f"{_join(self.verbs)} on URLs {_join(self.non_resource_urls)}"
        groups = _join("core" if g == "" else g for g in self.api_groups)
        text = f"{_join(self.verbs)} {_join(self.resources)} [{groups}]"
        if self.resource_names:
            text += f" names={_join(self.resource_names)}"
        return text


def _join(items: Iterable[str]) -> str:
    return ",".join(sorted(items))


def effective_parts(rule: RbacRule, namespaces: frozenset[str] | None) -> list[RbacRule]:
    """The parts of ``rule`` that authorise something where it is granted (empty: it grants nothing).

    ``namespaces`` None: granted cluster-wide (a ClusterRole bound by a ClusterRoleBinding); otherwise the
    namespaces of the grant (a Role's own, a ClusterRole's RoleBindings'). Drops what
    :func:`kubeharden.analysis.rbac_resources.ineffective_part` finds dead (resources that do not exist,
    cluster-scoped requests in a namespace, Namespaces named other than the grant's own, nonResourceURLs
    outside a cluster-wide grant); the rule itself is returned when all of it is effective. Risk controls
    judge these parts, so a rule that grants nothing is only reported as ineffective (KH-RBAC-022).
    """
    parts: dict[tuple[frozenset[str], frozenset[str]], set[str]] = {}
    changed = False
    for entry in rule.resources:
        dead = ineffective_part(rule.api_groups, entry, rule.verbs, rule.resource_names, namespaces)
        verbs, names = rule.verbs, rule.resource_names
        if dead is not None:
            changed = True
            verbs, names = verbs - dead[0], names - dead[1]
            if not verbs:
                continue
        parts.setdefault((verbs, names), set()).add(entry)
    urls = rule.non_resource_urls if namespaces is None else frozenset()
    if not changed and urls == rule.non_resource_urls:
        return [rule]
    out = [RbacRule(verbs, rule.api_groups, frozenset(entries), names, frozenset(), rule.line, rule.index)
           for (verbs, names), entries in sorted(parts.items(), key=lambda p: sorted(p[1]))]
    if urls:
        out.append(RbacRule(rule.verbs, frozenset(), frozenset(), frozenset(), urls, rule.line, rule.index))
    return out


def parse_rules(obj: K8sObject, raw_rules: Any) -> tuple[list[RbacRule], list[tuple[str, int | None]]]:
    """The rules of a role plus the problems found in them (a bad rule is skipped, not fatal)."""
    rules: list[RbacRule] = []
    problems: list[tuple[str, int | None]] = []
    if raw_rules is None:
        return rules, problems
    if not isinstance(raw_rules, list):
        return rules, [(f"rules is a {type(raw_rules).__name__}, not a list", obj.line(obj.raw, "rules"))]
    for index, raw in enumerate(raw_rules):
        line = obj.line(raw_rules, index)
        if not isinstance(raw, dict):
            problems.append((f"rules[{index}] is not a mapping", line))
            continue
        fields: dict[str, frozenset[str]] = {}
        bad = False
        for key in ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs"):
            value = raw.get(key)
            if value is None:
                fields[key] = frozenset()
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                fields[key] = frozenset(value)
            else:
                problems.append((f"rules[{index}].{key} must be a list of strings", obj.line(raw, key)))
                bad = True
        if bad:
            continue
        if not fields["verbs"]:
            problems.append((f"rules[{index}] has no verbs and grants nothing", line))
            continue
        rules.append(RbacRule(fields["verbs"], fields["apiGroups"], fields["resources"], fields["resourceNames"],
                              fields["nonResourceURLs"], line, index))
    return rules, problems


# -- roles and bindings ----------------------------------------------------------------------


@dataclass(slots=True)
class RoleDef:
    """A Role or ClusterRole with its effective rules (after aggregation)."""

    obj: K8sObject
    rules: list[RbacRule]
    builtin: bool = False
    aggregated_from: list[str] = field(default_factory=list)
    #: The rules of the built-in definition of the same name (the platform's, not the input's).
    default_rules: tuple[RbacRule, ...] = ()
    #: Labels and aggregation selectors after reconciliation (the default's merged in).
    labels: dict[str, str] = field(default_factory=dict)
    selectors: list[dict[str, Any]] | None = None
    #: A scanned role whose name is a Kubernetes default (kubeharden may or may not carry its rules).
    default_known: bool = False
    #: False for a default whose rules kubeharden does not carry (``rules`` is then what the input shows,
    #: possibly nothing): what it grants is not assessable.
    rules_known: bool = True

    @property
    def kind(self) -> str:
        return self.obj.kind

    @property
    def name(self) -> str:
        return self.obj.name

    @property
    def is_default(self) -> bool:
        """A Kubernetes default role: built in, or a scanned role of a default's name *and* labelled
        ``kubernetes.io/bootstrapping=rbac-defaults``.

        The label marks defaults ("Using RBAC Authorization", Default roles and role bindings), but
        anyone who may create roles can set it, or choose a ``system:`` name: only both together,
        a name of the bootstrap policy (:mod:`kubeharden.analysis.rbac_defaults`) and the label, count.
        """
        return self.builtin or (self.default_known and self.obj.labels.get(BOOTSTRAP_LABEL[0]) == BOOTSTRAP_LABEL[1])

    @property
    def is_aggregated(self) -> bool:
        return self.selectors is not None

    def own_rules(self) -> list[RbacRule]:
        """The rules the input adds to Kubernetes' defaults.

        All rules of an ordinary role (a forged label or ``system:`` name changes nothing); none
        of a built-in role or of a labelled default whose definition kubeharden does not carry;
        for a scanned copy of a default whose rules it carries, the rules they do not cover.
        """
        if self.builtin or (self.is_default and not self.default_rules):
            return []
        if self.default_known:
            return [r for r in self.rules if not r.covered_by(self.default_rules)]
        return list(self.rules)

    @property
    def cluster_admin_equivalent(self) -> bool:
        return any(ALL in r.verbs and ALL in r.resources and ALL in r.api_groups and not r.resource_names
                   for r in self.rules)


@dataclass(frozen=True, slots=True)
class Grant:
    """One subject holding one rule in one scope, and where that comes from."""

    subject: Subject
    rule: RbacRule
    namespace: str | None  # None: cluster-wide (a ClusterRoleBinding)
    binding: K8sObject
    role: RoleDef

    @property
    def scope(self) -> str:
        return self.namespace or "cluster-wide"

    def via(self) -> str:
        return f"{self.binding.kind}/{_ns(self.binding)}{self.binding.name} -> {self.role.kind}/" \
               f"{_ns(self.role.obj)}{self.role.name}"


def _ns(obj: K8sObject) -> str:
    return f"{obj.namespace}/" if obj.namespace and obj.kind in ("Role", "RoleBinding") else ""


def is_default_binding(binding: K8sObject, role: RoleDef | None, subject: Subject) -> bool:
    """Whether ``binding`` gives ``role`` to ``subject`` as the default ClusterRoleBinding of that name does
    (the bootstrap policy, ``rbac_defaults.default_binding_subjects``)."""
    if role is None or binding.kind != "ClusterRoleBinding":
        return False
    default = default_binding_subjects(binding.name)
    return default is not None and default[0] == role.name and \
        (subject.kind, subject.name, subject.namespace) in default[1]


@dataclass(frozen=True, slots=True)
class Issue:
    """Something in the RBAC objects that cannot be resolved, with the object and line."""

    obj: K8sObject
    message: str
    line: int | None


# -- the model -------------------------------------------------------------------------------


class RbacModel:
    """Every grant of a set of objects, indexed by subject and by binding."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.issues: list[Issue] = []
        self.cluster_roles: dict[str, RoleDef] = {}
        self.roles: dict[tuple[str | None, str], RoleDef] = {}
        self.grants: list[Grant] = []
        self.by_subject: dict[Subject, list[Grant]] = defaultdict(list)
        self.by_binding: dict[int, list[Grant]] = defaultdict(list)
        self.bindings: list[tuple[K8sObject, RoleDef | None, list[Subject]]] = []
        #: The default ClusterRoleBindings the input does not hold (every cluster has them): they grant, but
        #: are no binding of the input, so binding controls never see them.
        self.builtin_bindings: list[tuple[K8sObject, RoleDef, list[Subject]]] = []
        #: Per subject, the bindings giving it a default role whose rules kubeharden does not carry:
        #: (binding, role name, scope); what they grant is not assessed, never taken as nothing.
        self.unassessed: dict[Subject, list[tuple[K8sObject, str, str]]] = defaultdict(list)
        #: Names of the ClusterRoles some aggregated ClusterRole selects (their rules flow there).
        self.aggregated_into: set[str] = set()
        # Sources give namespaced objects without one the scan's namespace (-n), as kubectl does.
        self.default_namespace = DEFAULT_NAMESPACE
        #: :meth:`effective_parts` per rule and namespaces granted in: each risk control asks about every rule
        #: of every role, and KH-RBAC-019 about every grant of every account
        self._effective: IdentityMemo[list[RbacRule]] = IdentityMemo()
        self._load_roles()
        self._aggregate()
        self._load_bindings()
        self._load_builtin_bindings()

    # roles
    def _load_roles(self) -> None:
        for raw in BUILTIN_CLUSTER_ROLES:
            obj = K8sObject(raw, make_ref(raw), Provenance(None, None, "builtin"))
            rules, _ = parse_rules(obj, raw["rules"])
            self.cluster_roles[obj.name] = RoleDef(obj, rules, builtin=True, default_rules=tuple(rules),
                                                   labels=obj.labels, selectors=self._selectors_of(obj))
        for name in sorted(UNCARRIED_CLUSTER_ROLES):
            raw = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                   "metadata": {"name": name, "labels": {BOOTSTRAP_LABEL[0]: BOOTSTRAP_LABEL[1]}}}
            obj = K8sObject(raw, make_ref(raw), Provenance(None, None, "builtin"))
            self.cluster_roles[name] = RoleDef(obj, [], builtin=True, labels=obj.labels, rules_known=False)
        for raw in BUILTIN_ROLES:
            obj = K8sObject(raw, make_ref(raw), Provenance(None, None, "builtin"))
            rules, _ = parse_rules(obj, raw["rules"])
            self.roles[(obj.namespace or self.default_namespace, obj.name)] = RoleDef(
                obj, rules, builtin=True, default_rules=tuple(rules), labels=obj.labels)
        builtin_cluster_roles, builtin_roles = dict(self.cluster_roles), dict(self.roles)
        for obj in self.inventory.of_kind("ClusterRole", "Role"):
            rules, problems = parse_rules(obj, obj.raw.get("rules"))
            for message, line in problems:
                self.issues.append(Issue(obj, message, line))
            if obj.kind == "ClusterRole":
                self.cluster_roles[obj.name] = self._reconcile(obj, rules, builtin_cluster_roles.get(obj.name))
            else:
                key = (obj.namespace or self.default_namespace, obj.name)
                self.roles[key] = self._reconcile(obj, rules, builtin_roles.get(key))

    def _reconcile(self, obj: K8sObject, rules: list[RbacRule], default: RoleDef | None) -> RoleDef:
        """The role the cluster ends up with when the input holds a role of a default's name.

        The API server's reconciliation (run at every start, "Using RBAC Authorization",
        Auto-reconciliation) keeps the object and adds the default's missing rules, labels
        and aggregation selectors, unless annotated ``rbac.authorization.kubernetes.io/autoupdate:
        "false"``: then the scanned copy alone is what the cluster has.
        """
        selectors = self._selectors_of(obj)
        if default is None:
            return RoleDef(obj, rules, labels=obj.labels, selectors=selectors)
        role = RoleDef(obj, list(rules), default_rules=default.default_rules, labels=obj.labels,
                       selectors=selectors, default_known=True)
        if not reconciled(obj.annotations):
            return role
        role.rules_known = default.rules_known  # reconciliation adds the default's rules, unknown or not
        role.rules.extend(r for r in default.default_rules if not r.covered_by(rules))
        role.labels = {**default.labels, **obj.labels}
        if default.selectors is not None:
            role.selectors = list(selectors or []) + [s for s in default.selectors if s not in (selectors or [])]
        return role

    def _selectors_of(self, obj: K8sObject) -> list[dict[str, Any]] | None:
        """The aggregationRule's clusterRoleSelectors, or None when the role is not aggregated."""
        rule = obj.raw.get("aggregationRule")
        if rule is None:
            return None
        raw_selectors = as_dict(rule).get("clusterRoleSelectors")
        if not isinstance(raw_selectors, list):
            self.issues.append(Issue(obj, "aggregationRule.clusterRoleSelectors is not a list",
                                     obj.line(obj.raw, "aggregationRule")))
            return None
        return [s for s in raw_selectors if isinstance(s, dict)]

    def _aggregate(self) -> None:
        """Fill aggregated ClusterRoles with the rules of the roles their selectors pick.

        Like the aggregation controller, a role never aggregates itself; aggregated roles
        may select other aggregated roles (``admin`` ← ``edit`` ← ``view``), so resolution
        recurses with a guard against selector cycles. The declared rules are kept: a live
        object already carries the aggregate, and a manifest usually declares none.
        """
        selectors = {name: role.selectors for name, role in self.cluster_roles.items() if role.selectors is not None}
        if not selectors:
            return
        by_label: dict[tuple[str, str], list[str]] = defaultdict(list)
        for name, role in self.cluster_roles.items():
            for item in role.labels.items():
                by_label[item].append(name)
        done: dict[str, list[RbacRule]] = {}

        def resolve(name: str, visiting: frozenset[str]) -> list[RbacRule]:
            if name in done:
                return done[name]
            role = self.cluster_roles[name]
            if name not in selectors or name in visiting:
                return role.rules
            rules = list(role.rules)
            seen = set(rules)
            for member in self._selected(selectors[name], by_label, role.obj):
                if member == name:
                    continue
                role.aggregated_from.append(member)
                self.aggregated_into.add(member)
                for r in resolve(member, visiting | {name}):
                    if r not in seen:
                        seen.add(r)
                        rules.append(r)
            role.rules = rules
            done[name] = rules
            return rules

        for name in selectors:
            resolve(name, frozenset())

    def _selected(self, selectors: list[dict[str, Any]], by_label: dict[tuple[str, str], list[str]],
                  owner: K8sObject) -> list[str]:
        found: dict[str, None] = {}
        for i, raw in enumerate(selectors):
            try:
                selector = compile_selector(raw, f"aggregationRule.clusterRoleSelectors[{i}]")
            except SelectorError as exc:
                self.issues.append(Issue(owner, f"{exc}; the selector is ignored",
                                         owner.line(owner.raw, "aggregationRule")))
                continue
            if selector.labels:  # narrow the candidates through the label index
                candidates: Iterable[str] = by_label.get(selector.labels[0], [])
            else:
                candidates = list(self.cluster_roles)
            for name in candidates:
                if selector.matches(self.cluster_roles[name].labels):
                    found[name] = None
        return sorted(found)

    def role_for(self, binding: K8sObject) -> tuple[RoleDef | None, str]:
        """The role a binding refers to, or None and why."""
        ref = binding.raw.get("roleRef")
        if not isinstance(ref, dict):
            return None, "has no roleRef"
        kind, name = ref.get("kind"), ref.get("name")
        if not isinstance(name, str) or not name:
            return None, "roleRef has no name"
        if kind == "ClusterRole":
            role = self.cluster_roles.get(name)
        elif kind == "Role":
            if binding.kind == "ClusterRoleBinding":
                return None, f"roleRef is Role {name!r}, but a ClusterRoleBinding can only reference a ClusterRole"
            role = self.roles.get((binding.namespace or self.default_namespace, name))
        else:
            return None, f"roleRef.kind is {kind!r}, not Role or ClusterRole"
        if role is None and kind == "Role" and name in DEFAULT_ROLE_NAMES.get(binding.namespace or "", ()):
            return None, f"references the Kubernetes default Role {name!r} of namespace {binding.namespace!r}, whose " \
                         "rules kubeharden does not carry: what it grants is not assessed"
        if role is None:
            where = f" in namespace {binding.namespace!r}" if kind == "Role" else ""
            return None, f"references {kind} {name!r}{where}, which is not in the scanned objects " \
                         "and is not a Kubernetes default role"
        return role, ""

    # bindings
    def _load_bindings(self) -> None:
        for binding in self.inventory.of_kind("ClusterRoleBinding", "RoleBinding"):
            role, why = self.role_for(binding)
            ref_line = binding.line(binding.raw, "roleRef")
            if role is None and why:
                tail = "" if why.endswith("not assessed") else "; it grants nothing"
                self.issues.append(Issue(binding, f"{binding.kind} {binding.name!r} {why}{tail}",
                                         ref_line))
            subjects = list(self._subjects(binding, role))
            role, subjects = self._reconcile_binding(binding, role, subjects)
            self.bindings.append((binding, role, subjects))
            scope = (binding.namespace or self.default_namespace) if binding.kind == "RoleBinding" else None
            if (role is None and why.endswith("not assessed")) or (role is not None and not role.rules_known):
                name = role.name if role is not None else str(as_dict(binding.raw.get("roleRef")).get("name"))
                for subject in subjects:
                    self.unassessed[subject].append((binding, name, scope or "cluster-wide"))
            if role is None:
                continue
            self._grant(binding, role, subjects, scope)

    def _grant(self, binding: K8sObject, role: RoleDef, subjects: list[Subject], scope: str | None) -> None:
        rules = role.rules if scope is None else [r for r in role.rules if r.is_resource_rule]
        for subject in subjects:
            for rule in rules:
                g = Grant(subject, rule, scope, binding, role)
                self.grants.append(g)
                self.by_subject[subject].append(g)
                self.by_binding[id(binding)].append(g)

    def _load_builtin_bindings(self) -> None:
        """Add the default ClusterRoleBindings of the carried default roles that the input does not hold.

        Every cluster has them ("Using RBAC Authorization", Default roles and role bindings: the API server
        creates and reconciles them at every start), so ``system:masters`` holds cluster-admin and
        kube-system/clusterrole-aggregation-controller holds escalate on clusterroles whether or not a
        manifest shows the binding. A binding of the same name in the input is used instead (reconciled in
        :meth:`_reconcile_binding`). Bindings of roles whose rules kubeharden does not carry grant nothing
        it can state and are left out.
        """
        scanned = {b.name for b in self.inventory.of_kind("ClusterRoleBinding")}
        for name in default_binding_names():
            default = default_binding_subjects(name)
            role = self.cluster_roles.get(default[0]) if default is not None and name not in scanned else None
            if default is None or role is None or not role.rules_known:
                continue
            raw = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": name, "labels": {BOOTSTRAP_LABEL[0]: BOOTSTRAP_LABEL[1]}},
                   "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role.name}}
            obj = K8sObject(raw, make_ref(raw), Provenance(None, None, "builtin"))
            subjects = [Subject(kind, subject, ns) for kind, subject, ns in default[1]]
            self.builtin_bindings.append((obj, role, subjects))
            self._grant(obj, role, subjects, None)

    def _reconcile_binding(self, binding: K8sObject, role: RoleDef | None,
                           subjects: list[Subject]) -> tuple[RoleDef | None, list[Subject]]:
        """A default ClusterRoleBinding as the API server leaves it after reconciliation.

        Missing default subjects are added back (pkg/registry/rbac/reconciliation,
        computeReconciledRoleBinding). Annotated ``autoupdate: "false"``, it stays as written. A binding of a
        default's name that references another role is recreated as the default only when the API server next
        starts ("Using RBAC Authorization", Auto-reconciliation: "At each start-up"); until then the authorizer
        uses the stored roleRef, so it is judged as written (what it grants is real now).
        """
        default = default_binding_subjects(binding.name) if binding.kind == "ClusterRoleBinding" else None
        if default is None or not reconciled(binding.annotations):
            return role, subjects
        role_name, expected = default
        if role is None or role.kind != "ClusterRole" or role.name != role_name:
            return role, subjects
        wanted = [Subject(kind, name, ns) for kind, name, ns in expected]
        return role, subjects + [s for s in wanted if s not in subjects]

    def _subjects(self, binding: K8sObject, role: RoleDef | None = None) -> Iterator[Subject]:
        raw = binding.raw.get("subjects")
        if raw is None:
            return
        if not isinstance(raw, list):
            self.issues.append(Issue(binding, "subjects is not a list", binding.line(binding.raw, "subjects")))
            return
        if binding.kind == "ClusterRoleBinding" and self._unnamespaced_service_account(binding, raw, role):
            return
        for index, s in enumerate(raw):
            line = binding.line(raw, index)
            if not isinstance(s, dict) or not isinstance(s.get("name"), str) or not s.get("name"):
                self.issues.append(Issue(binding, f"subjects[{index}] has no name", line))
                continue
            kind, name = s.get("kind"), s["name"]
            if kind == "ServiceAccount":
                # In a RoleBinding, a ServiceAccount subject without a namespace is the account of the
                # binding's namespace (the RBAC authorizer's appliesToUser defaults it so).
                ns = s.get("namespace") or binding.namespace or self.default_namespace
                yield Subject("ServiceAccount", name, str(ns))
            elif kind == "User":
                yield normalise_user(name)
            elif kind == "Group":
                yield Subject("Group", name)
            else:
                self.issues.append(Issue(binding, f"subjects[{index}].kind is {kind!r}, not User, Group or "
                                                  "ServiceAccount", line))

    def _unnamespaced_service_account(self, binding: K8sObject, raw: list[Any], role: RoleDef | None) -> bool:
        """Report ServiceAccount subjects without a namespace in a ClusterRoleBinding; True if any.

        The API server's validation (ValidateRoleBindingSubject) requires ``namespace`` for a
        ServiceAccount subject of a ClusterRoleBinding, so such an object is rejected whole and
        grants nothing to any of its subjects. It is not read as ``default``.
        """
        found = False
        granted = f"{role.kind} {role.name}" if role is not None else "its role"
        for index, s in enumerate(raw):
            if isinstance(s, dict) and s.get("kind") == "ServiceAccount" and not s.get("namespace"):
                found = True
                self.issues.append(Issue(
                    binding, f"invalid: subjects[{index}] is ServiceAccount {s.get('name')!r} without a namespace; "
                    f"the API server rejects a ClusterRoleBinding whose ServiceAccount subject has no namespace, so "
                    f"this binding grants nothing (with the namespace set it would grant {granted} cluster-wide)",
                    binding.line(raw, index)))
        return found

    # queries
    def effective_parts(self, rule: RbacRule, namespaces: frozenset[str] | None) -> list[RbacRule]:
        """:func:`effective_parts` of ``rule``, worked out once per model (the list is shared: never change it)."""
        return self._effective.get(rule, namespaces, lambda: effective_parts(rule, namespaces))

    def grants_of(self, subject: Subject) -> list[Grant]:
        """Everything ``subject`` holds: its own grants and those of its groups."""
        out = list(self.by_subject.get(subject, ()))
        for group in subject.groups():
            out.extend(self.by_subject.get(Subject("Group", group), ()))
        return out

    def unassessed_of(self, subject: Subject) -> list[tuple[K8sObject, str, str]]:
        """(binding, role name, scope) of the default roles ``subject`` or its groups hold, rules not carried."""
        out = list(self.unassessed.get(subject, ()))
        for group in subject.groups():
            out.extend(self.unassessed.get(Subject("Group", group), ()))
        return out

    def who_can(self, verb: str, group: str, resource: str, subresource: str = "", namespace: str | None = None,
                name: str | None = None) -> list[Grant]:
        """Grants that authorise the request; ``namespace=None`` asks about a cluster-wide request."""
        out = []
        for g in self.grants:
            if namespace is None and g.namespace is not None:
                continue
            if g.namespace is not None and (g.namespace != namespace or is_cluster_scoped(group, resource, verb)):
                continue
            if g.namespace is not None and (group, resource) == ("", "namespaces") and name not in (None, namespace):
                continue  # a Namespace request's namespace is the Namespace's own name (requestinfo.go)
            if g.rule.allows(verb, group, resource, subresource, name):
                out.append(g)
        return out

    def subjects(self) -> list[Subject]:
        return sorted(self.by_subject)

    def input_subjects(self) -> set[Subject]:
        """Subjects a binding of the input names, but for the fixed subjects of a default ClusterRoleBinding.

        A ``system:`` identity in this set is there by the input's choice (a ClusterRoleBinding of
        ``system:authenticated`` the reader wrote), not by Kubernetes' bootstrap policy.
        """
        return {s for binding, role, subjects in self.bindings for s in subjects
                if not is_default_binding(binding, role, s)}

    def service_accounts(self) -> dict[str, set[str]]:
        """Known ServiceAccounts per namespace: objects, workload references and subjects."""
        out: dict[str, set[str]] = defaultdict(set)
        for sa in self.inventory.of_kind("ServiceAccount"):
            out[sa.namespace or self.default_namespace].add(sa.name)
        for pod in self.inventory.pods:
            out[pod.namespace or self.default_namespace].add(pod.service_account)
        for s in self.by_subject:
            if s.kind == "ServiceAccount" and s.namespace:
                out[s.namespace].add(s.name)
        return out

    def namespace_of(self, pod: PodRecord) -> str:
        return pod.namespace or self.default_namespace

    def account_of(self, pod: PodRecord) -> Subject:
        return Subject("ServiceAccount", pod.service_account, self.namespace_of(pod))

    def token_mounted(self, pod: PodRecord) -> bool:
        """Whether the pod gets its ServiceAccount token (pod setting first, then the SA's; never when the
        ServiceAccount admission plugin adds none: ``PodRecord.token_not_projected``)."""
        if pod.token_not_projected:
            return False
        if pod.automount is not None:
            return pod.automount
        sa = self.inventory.service_account(pod.namespace, pod.service_account)
        value = as_dict(sa.raw).get("automountServiceAccountToken") if sa is not None else None
        return value is not False


def namespace_hint(inventory: Inventory) -> Problem | None:
    """A warning when objects placed in the scan's namespace seem meant for another one.

    Install manifests (Argo CD's install.yaml, kustomize bases) leave namespaced objects
    without a namespace, to be applied with ``kubectl apply -n NS``, yet their
    ClusterRoleBindings must name the ServiceAccounts' namespace. When those bindings name
    another namespace than the one the objects were given, the user most likely forgot ``-n``.
    Returns None when nothing suggests it.
    """
    placed: dict[str, str] = {}
    for sa in inventory.of_kind("ServiceAccount"):
        if sa.origin.namespace_defaulted and sa.namespace:
            placed[sa.name] = sa.namespace
    for pod in inventory.pods:
        if pod.origin.namespace_defaulted and pod.namespace:
            placed.setdefault(pod.service_account, pod.namespace)
    if not placed:
        return None
    votes: Counter[str] = Counter()
    for binding in inventory.of_kind("ClusterRoleBinding", "RoleBinding"):
        for s in as_list(binding.raw.get("subjects")):
            if isinstance(s, dict) and s.get("kind") == "ServiceAccount" and isinstance(s.get("name"), str) \
                    and s["name"] in placed and isinstance(s.get("namespace"), str) and s["namespace"] \
                    and s["namespace"] != placed[s["name"]]:
                votes[s["namespace"]] += 1
    if not votes:
        return None
    target, count = votes.most_common(1)[0]
    given = next(iter(placed.values()))
    return Problem("warning", "namespace", f"objects without metadata.namespace were placed in {given!r} (as kubectl "
                   f"without -n), but {count} binding subject(s) name their ServiceAccounts in {target!r}: if they "
                   f"are applied with kubectl apply -n {target}, scan with -n {target}")


def model_for(inventory: Inventory) -> RbacModel:
    """The RBAC model of ``inventory`` (built anew each call: a caller that asks repeatedly keeps it,
    as the controls do in their scan's :class:`~kubeharden.checks.context.ScanContext`)."""
    return RbacModel(inventory)
