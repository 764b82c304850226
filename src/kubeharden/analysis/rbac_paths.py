"""Privilege-escalation paths: from an identity, through what it may do, to cluster-admin.

The graph's nodes are identities (ServiceAccounts, users, groups), workloads (which run
as their ServiceAccount when its token is mounted), a few *capability* nodes that stand
for "any ServiceAccount of namespace N" and the like, and two goals:
``goal:cluster-admin`` (every permission) and ``goal:secrets`` (read every Secret).
Capability nodes keep the graph linear: "create pods in N" is one edge to ``any-sa@N``
and one edge from there to each account of N, not accounts × creators.

Edges are the techniques public RBAC research describes (rbac-police, KubiScan, the
Kubernetes RBAC good-practices page): create pods or pod-creating workloads, patch
workloads, exec into running pods, read ServiceAccount token Secrets, create token
Secrets, the TokenRequest API, impersonation, bind (creating a binding, or adding oneself
to an existing one), escalate, CSR approval, nodes/proxy, and—when Node objects are in the
set—breaking out of a pod in a namespace without Pod Security enforcement. Each edge
carries the grants (binding, role, rule) that allow it.

An edge straight to ``goal:cluster-admin`` is *one step*: one request makes its holder
cluster-admin (``KH-RBAC-015`` raises grants to everyone that give one). Impersonation is
one request too (``--as``/``--as-group``), so impersonating a group, or an identity that is
itself one step from cluster-admin, is one step as well (:meth:`PathFinder._impersonation`).

The shortest path from every start to each goal comes from one reverse breadth-first
search per goal, so finding all paths is O(nodes + edges).
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Iterable, Iterator

from kubeharden.analysis.rbac import ALL, RBAC_GROUP, WORKLOAD_RESOURCES, Grant, RbacModel, RbacRule, \
    RoleDef, Subject, normalise_user
from kubeharden.model.objects import K8sObject, as_dict

Grants = dict[tuple[str | None, str], list["Grant"]]

CLUSTER_ADMIN = "goal:cluster-admin"
SECRETS = "goal:secrets"
GOALS = {"cluster-admin": CLUSTER_ADMIN, "secrets": SECRETS}
NODE = "node:any"
SA_TOKEN_TYPE = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"

#: Rule facts that give one edge to a capability waypoint in the grant's scope: (fact, waypoint, why).
SIMPLE_EDGES: tuple[tuple[str, str, str], ...] = (
    ("create-workloads", "any-sa", "can create pods (or pod-creating workloads) in {where}, and a pod can run as "
     "any ServiceAccount there"),
    ("patch-workloads", "any-sa", "can patch workloads in {where} and set their serviceAccountName to any "
     "ServiceAccount there"),
    ("running-pods", "running-sa", "can exec into or replace the image of running pods in {where} and use their "
     "mounted tokens"),
)


@dataclass(frozen=True, slots=True)
class Step:
    """One edge: ``src`` may become or reach ``dst`` because of ``grants``."""

    src: str
    dst: str
    action: str
    grants: tuple[Grant, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.src, "to": self.dst, "action": self.action,
                "grants": [grant_dict(g) for g in self.grants]}


def grant_dict(g: Grant) -> dict[str, Any]:
    return {"binding": f"{g.binding.kind}/{g.binding.namespace + '/' if g.binding.namespace else ''}"
                       f"{g.binding.name}",
            "role": f"{g.role.kind}/{g.role.obj.namespace + '/' if g.role.obj.namespace else ''}{g.role.name}",
            "rule": g.rule.describe(), "scope": g.scope, "file": g.binding.origin.file,
            "line": g.binding.origin.line, "role_file": g.role.obj.origin.file, "role_line": g.rule.line,
            "builtin": g.binding.origin.source == "builtin"}


@dataclass(slots=True)
class Path:
    start: str
    goal: str
    steps: list[Step]

    def __len__(self) -> int:
        """Hops: steps that land on an identity, a node or a goal (capability nodes are waypoints)."""
        return sum(1 for s in self.steps if not is_capability(s.dst))

    def hops(self) -> list[tuple[str, str, tuple[Grant, ...]]]:
        """(action, reached node, grants) per hop, folding the capability waypoints into the action."""
        out: list[tuple[str, str, tuple[Grant, ...]]] = []
        action, grants = "", ()  # type: str, tuple[Grant, ...]
        for step in self.steps:
            if not action:
                action, grants = step.action, step.grants
            if not is_capability(step.dst):
                out.append((action, step.dst, grants))
                action, grants = "", ()
        return out

    def describe(self) -> str:
        return " -> ".join(f"[{action}] {describe_node(dst)}" for action, dst, _ in self.hops())

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.start, "to": self.goal, "length": len(self),
                "steps": [s.to_dict() for s in self.steps]}


@dataclass(slots=True)
class Impersonation:
    """The cluster-wide (users, groups) and any-scope (ServiceAccounts) ``impersonate`` grants of one subject."""

    users: list[Grant] = field(default_factory=list)
    service_accounts: list[Grant] = field(default_factory=list)
    groups: list[Grant] = field(default_factory=list)

    def acting_user(self) -> Grant | None:
        """A grant that names some user or ServiceAccount to act as (groups need one), or None."""
        return next(iter(self.users or self.service_accounts), None)


@dataclass(slots=True)
class Graph:
    edges: dict[str, list[Step]] = field(default_factory=lambda: defaultdict(list))
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def add(self, src: str, dst: str, action: str, *grants: Grant) -> None:
        if src == dst or (src, dst) in self._seen:
            return  # the first reason is enough to explain the edge
        self._seen.add((src, dst))
        self.edges[src].append(Step(src, dst, action, grants))


def _where(ns: str | None) -> str:
    return f"namespace {ns}" if ns else "every namespace"


def _at(ns: str | None) -> str:
    return ns or "*"


class PathFinder:
    """Builds the escalation graph of a model and finds the shortest paths to the goals."""

    def __init__(self, model: RbacModel) -> None:
        self.model = model
        self.graph = Graph()
        self.starts: set[str] = set()
        self._facts: dict[RbacRule, frozenset[str]] = {}
        self._sas = model.service_accounts()
        self._namespaces = sorted(set(self._sas) | model.inventory.namespaces_seen)
        self._nodes_known = bool(model.inventory.of_kind("Node"))
        self._unenforced = self._namespaces_without_psa()
        self._build()

    # -- building ----------------------------------------------------------------------------

    def _namespaces_without_psa(self) -> set[str]:
        enforced = {ns.name for ns in self.model.inventory.of_kind("Namespace")
                    if ns.labels.get(PSA_ENFORCE) in ("baseline", "restricted")}
        return {ns for ns in self._namespaces if ns not in enforced}

    def _build(self) -> None:
        principals: set[Subject] = set(self.model.by_subject)
        self._impersonators: dict[str, Impersonation] = {}
        self._joinable: list[tuple[K8sObject, RoleDef, str | None]] | None = None
        for subject in sorted(principals):
            self.starts.add(subject.key)
            self._principal(subject)
        self._impersonation()
        self._capability_nodes()
        self._workloads()
        g = self.graph
        g.add("group:system:masters", CLUSTER_ADMIN, "members of system:masters bypass RBAC authorisation")
        g.add(CLUSTER_ADMIN, SECRETS, "cluster-admin can read every Secret")

    def _principal(self, subject: Subject) -> None:
        key = subject.key
        g = self.graph
        binders: Grants = defaultdict(list)
        namespace_binders: Grants = defaultdict(list)
        creators: Grants = defaultdict(list)
        escalators: Grants = defaultdict(list)
        role_writers: Grants = defaultdict(list)
        csr: dict[str, list[Grant]] = {"csr-create": [], "csr-approval": [], "csr-signer": []}
        secret_makers: dict[str | None, Grant] = {}
        secret_readers: dict[str | None, Grant] = {}
        imp = Impersonation()
        binding_writers: list[Grant] = []
        bind_any: list[Grant] = []
        #: the names of the roles bound to the subject, by resource (what escalate + update must reach)
        bound: dict[str, set[str]] = defaultdict(set)
        for grant in self.model.grants_of(subject):
            bound["clusterroles" if grant.role.kind == "ClusterRole" else "roles"].add(grant.role.name)
            facts = rule_facts(grant.rule, self._facts)
            if not facts:
                continue
            ns = grant.namespace
            at, where = _at(ns), _where(ns)
            if "all" in facts:
                if ns is None:
                    g.add(key, CLUSTER_ADMIN, "holds every verb on every resource cluster-wide", grant)
                else:
                    g.add(key, f"ns-admin@{ns}", f"holds every verb on every resource in namespace {ns}", grant)
            for fact, target, text in SIMPLE_EDGES:
                if fact in facts:
                    g.add(key, f"{target}@{at}", text.format(where=where), grant)
            if "create-workloads" in facts and self._nodes_known and (ns is None or ns in self._unenforced):
                g.add(key, NODE, f"can create a privileged or hostPath pod in {where} (no Pod Security "
                      "enforcement) and take over a node", grant)
            if "create-secrets" in facts:
                secret_makers.setdefault(ns, grant)
            if "get-secrets" in facts or "list-secrets" in facts:
                secret_readers.setdefault(ns, grant)
            if "list-secrets" in facts:
                if ns is None:
                    g.add(key, SECRETS, "can list every Secret cluster-wide", grant)
                g.add(key, f"token-secrets@{at}", f"can read Secrets in {where}, including ServiceAccount "
                      "tokens", grant)
            elif "get-secrets" in facts:
                g.add(key, f"token-secrets@{at}", f"can get Secrets by name in {where}, including "
                      "ServiceAccount token Secrets", grant)
            if "token" in facts:
                self._named_or_any(key, grant, f"any-sa@{at}", f"can request tokens (TokenRequest) for "
                                   f"ServiceAccounts in {where}", lambda n, ns=ns: f"serviceaccount:{ns}:{n}" if ns
                                   else None)
            if "impersonate-sa" in facts:
                imp.service_accounts.append(grant)
                self._named_or_any(key, grant, f"any-sa@{at}", f"can impersonate ServiceAccounts in {where}",
                                   lambda n, ns=ns: f"serviceaccount:{ns}:{n}" if ns else None)
            if "write-rolebindings" in facts or (ns is None and "write-clusterrolebindings" in facts):
                binding_writers.append(grant)
            if "bind-any" in facts:
                bind_any.append(grant)
            if ns is None:
                if "impersonate-users" in facts:
                    imp.users.append(grant)
                    self._named_or_any(key, grant, "any-user", "can impersonate users",
                                       lambda n: normalise_user(n).key)
                if "impersonate-groups" in facts:
                    imp.groups.append(grant)
                if "nodes-proxy" in facts:
                    g.add(key, NODE, "can use nodes/proxy to reach the kubelet API and run commands in any pod "
                          "on a node", grant)
                for fact in csr:
                    if fact in facts:
                        csr[fact].append(grant)
            for kind_res in ("clusterroles", "roles"):
                if f"bind-{kind_res}" in facts:
                    binders[(ns, kind_res)].append(grant)
                elif f"bind-admin-{kind_res}" in facts:  # enough for a namespace, not for the cluster
                    namespace_binders[(ns, kind_res)].append(grant)
                if f"escalate-{kind_res}" in facts:
                    escalators[(ns, kind_res)].append(grant)
                if f"write-{kind_res}" in facts:
                    role_writers[(ns, kind_res)].append(grant)
            for kind_res in ("clusterrolebindings", "rolebindings"):
                if f"create-{kind_res}" in facts:
                    creators[(ns, kind_res)].append(grant)
        self._combinations(key, binders, creators, escalators, role_writers, csr, namespace_binders, bound)
        self._binding_updates(key, binding_writers, bind_any)
        if imp.groups and imp.acting_user():
            # Impersonate-Group is refused without Impersonate-User, and each header is authorised on its own
            # ("Authenticating" > User impersonation; apiserver endpoints/filters/impersonation.go)
            for grant in imp.groups:
                self._named_or_any(key, grant, "any-group", "can impersonate groups (with a user it may impersonate)",
                                   lambda n: f"group:{n}")
        if imp.users or imp.service_accounts:
            self._impersonators[key] = imp
        for ns, maker in secret_makers.items():
            reader = secret_readers.get(ns) or secret_readers.get(None)
            if reader is not None:
                g.add(key, f"any-sa@{_at(ns)}", f"can create a {SA_TOKEN_TYPE} Secret in {_where(ns)} and read the "
                      "token the controller puts in it, for any ServiceAccount there", maker, reader)

    def _named_or_any(self, key: str, grant: Grant, any_node: str, action: str, named: Any) -> None:
        """An edge to ``any_node``, or one per name when the rule lists resourceNames."""
        rule = grant.rule
        if not rule.resource_names:
            self.graph.add(key, any_node, action, grant)
            return
        for name in sorted(rule.resource_names):
            target = named(name)
            if target:
                self.graph.add(key, target, f"{action} (named {name})", grant)

    def _binding_updates(self, key: str, writers: list[Grant], binds: list[Grant]) -> None:
        """``update``/``patch`` of an existing binding plus ``bind`` on its role: add oneself to its subjects.

        "Using RBAC Authorization" > Restrictions on role binding creation or update: a binding may be
        created *or updated* by whoever may ``bind`` the referenced role. ``roleRef`` cannot change, so what
        counts is the bindings that exist: the default ``cluster-admin`` ClusterRoleBinding (every cluster has
        it, reconciled at each API server start) and the input's bindings of a cluster-admin-equivalent role,
        or of ``admin``/cluster-admin-equivalent roles in a namespace (full control of that namespace). The
        write must allow the binding's name (``resourceNames``), ``bind`` the role's name, in scope.
        """
        if not writers or not binds:
            return
        if self._joinable is None:
            self._joinable = list(self._admin_bindings())
        for binding, role, ns in self._joinable:
            cluster = ns is None
            resource = "clusterrolebindings" if cluster else "rolebindings"
            write = next((g for g in writers if g.namespace in (None, ns) and any(
                g.rule.allows(v, RBAC_GROUP, resource, "", binding.name) for v in ("update", "patch"))), None)
            role_res = "clusterroles" if role.kind == "ClusterRole" else "roles"
            bind = next((g for g in binds if g.namespace in (None, ns)
                         and g.rule.allows("bind", RBAC_GROUP, role_res, "", role.name)), None)
            if write is None or bind is None:
                continue
            target = CLUSTER_ADMIN if cluster else f"ns-admin@{ns}"
            self.graph.add(key, target, f"can update or patch {binding.kind} {binding.name} (of {role.kind} "
                           f"{role.name}) and bind its role: adds itself to the subjects", write, bind)

    def _admin_bindings(self) -> Iterator[tuple[K8sObject, RoleDef, str | None]]:
        """(binding, role, namespace or None) of the bindings whose subjects hold cluster-admin, or full control
        of a namespace (a RoleBinding of ``admin`` or of a cluster-admin-equivalent role)."""
        model = self.model
        for binding, role, _subjects in [*model.builtin_bindings, *model.bindings]:
            if role is None:
                continue
            if binding.kind == "ClusterRoleBinding":
                if role.cluster_admin_equivalent:
                    yield binding, role, None
            elif role.cluster_admin_equivalent or (role.kind == "ClusterRole" and role.name == "admin"):
                yield binding, role, binding.namespace or model.default_namespace

    def _impersonation(self) -> None:
        """One step by impersonation: each impersonator whose one request, as a user or ServiceAccount it may
        impersonate, is one step from cluster-admin.

        Kubernetes "Authenticating" > User impersonation: the API server authorises every ``Impersonate-*``
        header on its own (verb ``impersonate`` on ``users``, ``serviceaccounts`` in the account's namespace,
        ``groups``, by name) and refuses groups without a user. The impersonated identity holds exactly the
        named user's (or ServiceAccount's) grants plus ``system:authenticated``'s (for a ServiceAccount, its
        groups') and those of the groups named. So one request is enough when the impersonator may name
        (a) a user or ServiceAccount *and* group ``system:masters`` (any group, or that name): members bypass
        RBAC; (b) a group of the graph that is one step from cluster-admin, with a user; (c) a user, or a
        ServiceAccount in the grant's namespace, that the graph shows one step from cluster-admin (a direct
        edge to the goal: holding cluster-admin's rules, bind with create, escalate, CSR approval).
        Impersonating users alone gives nothing when no such user is in the input.
        """
        g = self.graph
        direct = {src: step for src, steps in g.edges.items() for step in steps if step.dst == CLUSTER_ADMIN}
        powerful = [s for s in sorted(self.model.by_subject) if s.key in direct]  # few: the loop stays cheap
        for key, imp in sorted(self._impersonators.items()):
            acting = imp.acting_user()
            for grant in imp.groups:
                if acting is not None and grant.rule.allows("impersonate", "", "groups", "", "system:masters"):
                    g.add(key, CLUSTER_ADMIN, "can impersonate a user with group system:masters in one request "
                          "(--as=NAME --as-group=system:masters): members of system:masters bypass RBAC",
                          grant, acting)
            for subject in powerful:
                step = direct[subject.key]
                if subject.key == key:
                    continue
                how = self._may_impersonate(imp, subject)
                if how is not None:
                    g.add(key, CLUSTER_ADMIN, f"can impersonate {subject.key}, which {step.action}: one request "
                          "as it", *how)

    @staticmethod
    def _may_impersonate(imp: Impersonation, subject: Subject) -> tuple[Grant, ...] | None:
        """The grants that let one request act as ``subject`` (with a user, for a group), or None."""
        if subject.kind == "User":
            found = [g for g in imp.users if g.rule.allows("impersonate", "", "users", "", subject.name)]
            return (found[0],) if found else None
        if subject.kind == "ServiceAccount":
            found = [g for g in imp.service_accounts if g.namespace in (None, subject.namespace)
                     and g.rule.allows("impersonate", "", "serviceaccounts", "", subject.name)]
            return (found[0],) if found else None
        acting = imp.acting_user()
        found = [g for g in imp.groups if g.rule.allows("impersonate", "", "groups", "", subject.name)]
        return (found[0], acting) if found and acting else None

    def _combinations(self, key: str, binders: Grants, creators: Grants, escalators: Grants,
                      role_writers: Grants, csr: dict[str, list[Grant]], namespace_binders: Grants,
                      bound: dict[str, set[str]]) -> None:
        """Techniques that need two or three permissions together. ``bound``: the names of the ClusterRoles
        (``clusterroles``) and Roles (``roles``) bound to the subject: escalate and update limited by
        ``resourceNames`` reach a step only through a role the subject holds."""
        g = self.graph
        crb = creators.get((None, "clusterrolebindings"))
        if crb and binders.get((None, "clusterroles")):
            g.add(key, CLUSTER_ADMIN, "can bind ClusterRoles and create ClusterRoleBindings: binds cluster-admin "
                  "to itself", binders[(None, "clusterroles")][0], crb[0])
        binding_scopes = {ns for (ns, _kind) in binders} | {ns for (ns, _kind) in namespace_binders}
        for ns in sorted(binding_scopes, key=lambda n: n or ""):
            bind = binders.get((ns, "clusterroles")) or binders.get((ns, "roles")) or \
                namespace_binders.get((ns, "clusterroles")) or namespace_binders.get((ns, "roles")) or []
            if not bind:
                continue
            if ns is None:  # a cluster-wide bind works in every namespace it can create RoleBindings in
                targets = [(n, c) for (n, kind), c in creators.items() if kind == "rolebindings"]
            else:
                targets = [(ns, c) for (n, kind), c in creators.items()
                           if kind == "rolebindings" and n in (ns, None)]
            for target_ns, maker in targets:
                g.add(key, f"ns-admin@{_at(target_ns)}", f"can bind roles and create RoleBindings in "
                      f"{_where(target_ns)}: binds admin there", bind[0], maker[0])
        def reach(grant: Grant, kind: str) -> bool:
            names = grant.rule.resource_names
            return not names or bool(names & bound.get(kind, set()))

        for (ns, kind), all_grants in escalators.items():
            grants = [x for x in all_grants if reach(x, kind)]
            writers = [x for x in role_writers.get((ns, kind), []) if reach(x, kind)]
            if grants and writers and (ns is None) == (kind == "clusterroles"):
                target = CLUSTER_ADMIN if ns is None else f"ns-admin@{ns}"
                g.add(key, target, f"can escalate and update the {kind} bound to it in {_where(ns)}: adds any "
                      "permission to them", grants[0], writers[0])
        if all(csr.values()):
            g.add(key, CLUSTER_ADMIN, "can create and approve a CertificateSigningRequest for a client certificate "
                  "in group system:masters", *(grants[0] for grants in csr.values()))

    def _capability_nodes(self) -> None:
        g = self.graph
        model = self.model
        running: dict[str, set[str]] = defaultdict(set)
        for pod in model.inventory.pods:
            if model.token_mounted(pod):
                running[model.namespace_of(pod)].add(pod.service_account)
        tokens: dict[str, set[str]] = defaultdict(set)
        for secret in model.inventory.of_kind("Secret"):
            if as_dict(secret.raw).get("type") == SA_TOKEN_TYPE:
                sa = secret.annotations.get(SA_NAME_ANNOTATION)
                if sa:
                    tokens[secret.namespace or model.default_namespace].add(sa)
        for ns in self._namespaces:
            for sa in sorted(self._sas.get(ns, ())):
                g.add(f"any-sa@{ns}", f"serviceaccount:{ns}:{sa}", "runs as this ServiceAccount")
            for sa in sorted(running.get(ns, ())):
                g.add(f"running-sa@{ns}", f"serviceaccount:{ns}:{sa}", "takes the token mounted in its pods")
            for sa in sorted(tokens.get(ns, ())):
                g.add(f"token-secrets@{ns}", f"serviceaccount:{ns}:{sa}", "reads its token Secret")
            for cap in ("any-sa", "running-sa", "token-secrets", "ns-admin"):
                g.add(f"{cap}@*", f"{cap}@{ns}", f"in namespace {ns}")
            g.add(f"ns-admin@{ns}", f"any-sa@{ns}", "creates a pod as any ServiceAccount there")
            g.add(f"ns-admin@{ns}", f"token-secrets@{ns}", "reads the Secrets there")
        g.add(NODE, "running-sa@*", "root on a node reads the tokens of the pods it runs (and can pull any pod "
              "there with nodeName)")
        for subject in model.by_subject:
            if subject.kind == "User":
                g.add("any-user", subject.key, "impersonates this user")
            elif subject.kind == "Group":
                g.add("any-group", subject.key, "impersonates this group")
        g.add("any-group", "group:system:masters", "impersonates group system:masters")

    def _workloads(self) -> None:
        for pod in self.model.inventory.pods:
            if not self.model.token_mounted(pod):
                continue
            key = f"workload:{pod.ref}"
            self.starts.add(key)
            self.graph.add(key, self.model.account_of(pod).key,
                           "runs as this ServiceAccount with its token mounted")

    # -- searching ---------------------------------------------------------------------------

    def shortest_paths(self, goal: str) -> dict[str, list[Step]]:
        """The shortest path from every node that can reach ``goal`` (reverse BFS)."""
        reverse: dict[str, list[Step]] = defaultdict(list)
        for steps in self.graph.edges.values():
            for step in steps:
                reverse[step.dst].append(step)
        nxt: dict[str, Step | None] = {goal: None}
        queue = deque([goal])
        while queue:
            node = queue.popleft()
            for step in reverse.get(node, ()):
                if step.src not in nxt:
                    nxt[step.src] = step
                    queue.append(step.src)
        out: dict[str, list[Step]] = {}
        for start in nxt:
            if start == goal:
                continue
            path: list[Step] = []
            node = start
            while node != goal:
                hop = nxt[node]
                assert hop is not None
                path.append(hop)
                node = hop.dst
            out[start] = path
        return out

    def paths(self, goals: Iterable[str] = (CLUSTER_ADMIN, SECRETS), start: str | None = None) -> list[Path]:
        """Shortest path from each start (subjects and workloads) to each goal, shortest first."""
        found: list[Path] = []
        for goal in goals:
            table = self.shortest_paths(goal)
            for node, steps in table.items():
                if start is not None and node != start:
                    continue
                if start is None and node not in self.starts:
                    continue
                found.append(Path(node, goal, steps))
        found.sort(key=lambda p: (len(p), p.goal, p.start))
        return found


def rule_facts(rule: RbacRule, memo: dict[RbacRule, frozenset[str]] | None = None) -> frozenset[str]:
    """What a rule allows that matters for escalation, independent of its scope.

    Most rules allow nothing of interest, so the graph builder skips them after one lookup in
    ``memo`` (its own, one per :class:`PathFinder`: no state outlives a scan).
    """
    found = memo.get(rule) if memo is not None else None
    if found is not None:
        return found
    a = rule.allows
    facts = {
        "all": a(ALL, ALL, ALL),
        "create-workloads": any(a("create", grp, res) for grp, res in WORKLOAD_RESOURCES),
        "patch-workloads": any(a(v, grp, res) for grp, res in WORKLOAD_RESOURCES[1:] for v in ("patch", "update")),
        "running-pods": any(a(v, "", "pods") for v in ("patch", "update"))
        or any(a(v, "", "pods", s) for v in ("create", "get") for s in ("exec", "attach")),
        "create-secrets": a("create", "", "secrets"),
        "list-secrets": a("list", "", "secrets") or a("watch", "", "secrets"),
        "get-secrets": a("get", "", "secrets"),
        "token": a("create", "", "serviceaccounts", "token", any_name=True),
        "impersonate-sa": a("impersonate", "", "serviceaccounts", any_name=True),
        "impersonate-users": a("impersonate", "", "users", any_name=True),
        "impersonate-groups": a("impersonate", "", "groups", any_name=True),
        "nodes-proxy": a("create", "", "nodes", "proxy", any_name=True) or a("get", "", "nodes", "proxy",
                                                                              any_name=True),
        "csr-create": a("create", "certificates.k8s.io", "certificatesigningrequests"),
        "csr-approval": any(a(v, "certificates.k8s.io", "certificatesigningrequests", "approval", any_name=True)
                            for v in ("update", "patch")),
        "csr-signer": a("approve", "certificates.k8s.io", "signers", "", "kubernetes.io/kube-apiserver-client"),
        "create-clusterrolebindings": a("create", RBAC_GROUP, "clusterrolebindings"),
        "create-rolebindings": a("create", RBAC_GROUP, "rolebindings"),
        "write-clusterrolebindings": any(a(v, RBAC_GROUP, "clusterrolebindings", any_name=True)
                                         for v in ("update", "patch")),
        "write-rolebindings": any(a(v, RBAC_GROUP, "rolebindings", any_name=True) for v in ("update", "patch")),
        "bind-any": any(a("bind", RBAC_GROUP, res, any_name=True) for res in ("clusterroles", "roles")),
    }
    for kind_res in ("clusterroles", "roles"):
        facts[f"bind-{kind_res}"] = a("bind", RBAC_GROUP, kind_res) or a("bind", RBAC_GROUP, kind_res, "",
                                                                           "cluster-admin")
        facts[f"bind-admin-{kind_res}"] = a("bind", RBAC_GROUP, kind_res, "", "admin")
        facts[f"escalate-{kind_res}"] = a("escalate", RBAC_GROUP, kind_res, any_name=True)
        facts[f"write-{kind_res}"] = any(a(v, RBAC_GROUP, kind_res, any_name=True) for v in ("update", "patch"))
    found = frozenset(k for k, v in facts.items() if v)
    if memo is not None:
        memo[rule] = found
    return found


def is_capability(node: str) -> bool:
    return "@" in node or node in ("any-user", "any-group")


def describe_node(node: str) -> str:
    """A readable label for a graph node."""
    head, _, rest = node.partition("@")
    labels = {"any-sa": "any ServiceAccount in", "running-sa": "tokens of running pods in",
              "token-secrets": "token Secrets in", "ns-admin": "full control of namespace"}
    if rest and head in labels:
        return f"{labels[head]} {'every namespace' if rest == '*' else rest}"
    return {CLUSTER_ADMIN: "cluster-admin", SECRETS: "read all Secrets", NODE: "a node (root)",
            "any-user": "any user", "any-group": "any group"}.get(node, node)


__all__ = ["CLUSTER_ADMIN", "GOALS", "NODE", "SECRETS", "Path", "PathFinder", "RbacRule", "Step", "describe_node"]
