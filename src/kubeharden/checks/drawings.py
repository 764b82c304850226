"""What the HTML report draws of a scope: its RBAC escalation paths and its reachability matrix.

Built from the analyses the scan's controls already hold in the scan's memo (``ctx.scan``): the RBAC
model of :func:`kubeharden.checks.rbac.model_for` and the NetworkPolicy engine of
:func:`kubeharden.checks.network.network_of`, so nothing is parsed twice. The engine calls
:func:`scope_analyses` when a scope closes, only for reports that draw them (``Evaluator.keep_analyses``).

- **Paths** are those ``kubeharden rbac paths`` lists by default: the shortest path from every
  subject and every workload whose token is mounted to cluster-admin and to reading every Secret,
  Kubernetes' own identities (``system:*``, kube-system accounts) left out; a start that reaches
  cluster-admin is not drawn again on its way to the Secrets (cluster-admin reads every Secret).
  Each hop names the binding and rule that allow it ("Using RBAC Authorization",
  https://kubernetes.io/docs/reference/access-authn-authz/rbac/; "RBAC Good Practices",
  https://kubernetes.io/docs/concepts/security/rbac-good-practices/, lists the escalation techniques).
- **The matrix** sums the engine's allowed connections (both sides must allow: "Network Policies",
  https://kubernetes.io/docs/concepts/services-networking/network-policies/) per pair of namespaces,
  or per pair of workloads when the input holds few. A cell is *open* when every pair may connect on
  every port, *isolated* when none may connect on any port, else *restricted*; it names the policies
  that isolate its sources for egress and its destinations for ingress.

Both are capped (:data:`MAX_PATHS`; :data:`MAX_AXIS` and :data:`MAX_CLASSES`); the record names what
was left out, and ``kubeharden rbac paths`` and ``kubeharden netpol matrix`` give everything.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from kubeharden.analysis.ports import NO_PORTS, PortSet
from kubeharden.analysis.rbac import Grant, Subject
from kubeharden.analysis.rbac_paths import CLUSTER_ADMIN, NODE, SECRETS, Path, PathFinder, describe_node, \
    is_capability
from kubeharden.analysis.reachability import POLICY_KINDS, Network
from kubeharden.checks.context import Context
from kubeharden.checks.network import network_of
from kubeharden.checks.rbac import model_for
from kubeharden.model.analyses import ISOLATED, OPEN, RESTRICTED, EscalationPath, GrantRef, Hop, \
    ReachCell, ReachMatrix, ScopeAnalyses
from kubeharden.model.inventory import Inventory
from kubeharden.model.objects import K8sObject
from kubeharden.model.pods import POD_TEMPLATE_PATHS

#: At most this many escalation paths are drawn (shortest first); the rest are counted.
MAX_PATHS = 50
#: At most this many namespaces (or workloads) per matrix axis, those with the most workloads first.
MAX_AXIS = 40
#: At most this many pod classes (workloads that no policy can tell apart) in the matrix: its cost is one
#: step per pair of classes, so 500 keep it near a second; the namespaces beyond are left out with a note.
MAX_CLASSES = 500
#: Up to this many workloads the matrix is drawn per workload rather than per namespace.
WORKLOAD_AXIS_UP_TO = 12
#: Policies named per cell (hover text); more are counted.
MAX_POLICIES_PER_CELL = 12
BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")
#: Kinds without which no grant is known ("Using RBAC Authorization": the four RBAC objects).
RBAC_KINDS = ("Role", "ClusterRole", *BINDING_KINDS)
#: Other kinds the path finder reads: accounts, token Secrets, Pod Security labels of namespaces, Nodes.
PATH_INPUT_KINDS = frozenset({"ServiceAccount", "Secret", "Namespace", "Node"})
#: Other kinds the reachability engine reads: namespace labels, and the Services and routes of exposure.
MATRIX_INPUT_KINDS = frozenset({"Namespace"})


def scope_analyses(inventory: Inventory, ctx: Context, unlisted: frozenset[str] = frozenset()) -> ScopeAnalyses:
    """The drawings of one closed scope. ``unlisted``: the kinds a cluster would not list (``unlisted``
    problems); a drawing that needs one is not assessed (an RBAC kind for the paths, a policy kind for the
    matrix: without them everything would look open), one that only misses some of its input says so.
    Never raises: an analysis that fails is named in ``errors``."""
    out = ScopeAnalyses()
    try:
        _paths_into(out, inventory, ctx, unlisted)
    except Exception as exc:  # a drawing must never cost the report; the page says it is missing
        out.errors.append(f"RBAC escalation paths: {type(exc).__name__}: {exc}")
    try:
        _matrix_into(out, inventory, ctx, unlisted)
    except Exception as exc:
        out.errors.append(f"reachability matrix: {type(exc).__name__}: {exc}")
    return out


# -- escalation paths ---------------------------------------------------------------------------


def _refused(kinds: Iterable[str], unlisted: frozenset[str]) -> str:
    """The kinds of ``kinds`` the cluster would not list, for a message ("" when none)."""
    return ", ".join(sorted(k for k in kinds if k in unlisted))


def _paths_into(out: ScopeAnalyses, inventory: Inventory, ctx: Context, unlisted: frozenset[str]) -> None:
    refused = _refused(RBAC_KINDS, unlisted)
    if refused:
        out.paths_not_assessed = f"the cluster would not list {refused}, so the grants are not all known"
        return
    partial = _refused([*PATH_INPUT_KINDS, *POD_TEMPLATE_PATHS], unlisted)
    if partial:
        out.notes.append(f"escalation paths: {partial} could not be listed; paths through them are missing")
    if not inventory.of_kind(*BINDING_KINDS):
        out.paths_not_assessed = ("no RoleBinding or ClusterRoleBinding in the input: which identities can "
                                  "escalate cannot be told from it (scan the bindings too, or the cluster)")
        return
    model = model_for(inventory, ctx)
    finder = ctx.scan.memo("rbac-paths", model, PathFinder)
    subjects = {s.key: s for s in model.by_subject}
    found = [p for p in finder.paths((CLUSTER_ADMIN, SECRETS)) if not _system(p.start, subjects)]
    to_admin = {p.start for p in found if p.goal == CLUSTER_ADMIN}
    found = [p for p in found if not (p.goal == SECRETS and p.start in to_admin)]
    out.paths_total = len(found)
    out.paths = [_drawn(p) for p in found[:MAX_PATHS]]


def _system(key: str, subjects: dict[str, Subject]) -> bool:
    subject = subjects.get(key)
    return subject is not None and subject.is_system


def _drawn(path: Path) -> EscalationPath:
    hops = tuple(Hop(action=action, reached=_label(reached), reached_kind=_kind(reached),
                     grants=tuple(dict.fromkeys(_grant(g) for g in grants)))  # one grant may serve twice
                 for action, reached, grants in path.hops())
    return EscalationPath(start=_label(path.start), start_kind=_kind(path.start), goal=describe_node(path.goal),
                          hops=hops)


def _grant(grant: Grant) -> GrantRef:
    binding, role = grant.binding, grant.role
    builtin = " (built in)" if binding.origin.source == "builtin" else ""
    return GrantRef(binding=f"{binding.kind} {_named(binding)}{builtin}", role=f"{role.kind} {_named(role.obj)}",
                    rule=grant.rule.describe(), file=binding.origin.file,
                    line=binding.line(binding.raw, "roleRef") if not builtin else None)


def _named(obj: K8sObject) -> str:
    return f"{obj.namespace}/{obj.name}" if obj.namespace and obj.kind in ("Role", "RoleBinding") else obj.name


def _kind(node: str) -> str:
    if node.startswith("goal:"):
        return "goal"
    if node == NODE:
        return "node"
    if node.startswith("workload:"):
        return "workload"
    return "capability" if is_capability(node) else "identity"


def _label(node: str) -> str:
    """``serviceaccount:shop:web`` -> ``ServiceAccount shop/web``; other nodes as ``rbac paths`` names them."""
    kind, _, rest = node.partition(":")
    if kind == "serviceaccount":
        namespace, _, name = rest.partition(":")
        return f"ServiceAccount {namespace}/{name}"
    if kind in ("user", "group"):
        return f"{kind.capitalize()} {rest}"
    if kind == "workload":
        return rest
    return describe_node(node)


# -- the reachability matrix ----------------------------------------------------------------------


def _matrix_into(out: ScopeAnalyses, inventory: Inventory, ctx: Context, unlisted: frozenset[str]) -> None:
    refused = _refused(POLICY_KINDS, unlisted)
    if refused:
        out.matrix_not_assessed = (f"the cluster would not list {refused}, so what isolates a workload is not "
                                   "known (without its policies every workload would look open)")
        return
    partial = _refused([*MATRIX_INPUT_KINDS, *POD_TEMPLATE_PATHS], unlisted)
    if partial:
        out.notes.append(f"reachability: {partial} could not be listed; their workloads, or the labels "
                         "namespace selectors match, are missing")
    if not inventory.pods:
        out.matrix_not_assessed = "no workload in the input: there is no connection to show"
        return
    network = network_of(inventory, ctx)
    workloads = [w for w in network.workloads if not w.modelled]
    if len(workloads) <= WORKLOAD_AXIS_UP_TO:
        axis = "workload"
        group_of = {w.index: w.label for w in workloads}
    else:
        axis = "namespace"
        group_of = {w.index: w.namespace for w in workloads}
    sizes = Counter(group_of.values())
    ranked = sorted(sizes, key=lambda g: (-sizes[g], g))
    kept = sorted(_within_budget(ranked, {w.index: w.klass for w in workloads}, group_of))
    position = {g: i for i, g in enumerate(kept)}
    n = len(kept)
    members: list[Counter[int]] = []  # per class: matrix position -> workloads of the class there
    for klass in network.classes:
        members.append(Counter(position[group_of[m]] for m in klass.members
                               if m in group_of and group_of[m] in position))
    placed = [tuple(where.items()) for where in members]
    # per cell (row * n + column): workload pairs allowed, by the ports allowed to them; 2,000 workloads
    # give millions of class pairs, so the loop only counts and the ports are joined once per distinct set
    seen: list[defaultdict[PortSet, int]] = [defaultdict(int) for _ in range(n * n)]
    within = sum(1 << klass.index for klass, where in zip(network.classes, members, strict=True) if where)
    for s, d, opened in network.class_pairs(within):
        for r, rows in placed[s]:
            for c, cols in placed[d]:
                seen[r * n + c][opened] += rows * cols
    egress, ingress = _isolating(network, members, n)
    cells = [[_cell(seen[r * n + c], sizes[kept[r]] * sizes[kept[c]], egress[r] | ingress[c]) for c in range(n)]
             for r in range(n)]
    out.matrix = ReachMatrix(axis=axis, labels=kept, cells=cells, left_out=sorted(set(ranked) - set(kept)),
                             max_axis=MAX_AXIS, max_classes=MAX_CLASSES,
                             not_evaluated=[f"{p.label}: {'; '.join(notes)}" for p, notes in network.not_evaluated()])


def _within_budget(ranked: list[str], class_of: dict[int, int], group_of: dict[int, str]) -> list[str]:
    """The first groups of ``ranked`` (most workloads first) while they are at most MAX_AXIS and their pod
    classes at most MAX_CLASSES (the matrix costs a step per pair of classes); always the first one."""
    classes: dict[str, set[int]] = {}
    for workload, group in group_of.items():
        classes.setdefault(group, set()).add(class_of[workload])
    kept: list[str] = []
    total = 0
    for group in ranked:
        total += len(classes[group])
        if kept and (len(kept) == MAX_AXIS or total > MAX_CLASSES):
            break
        kept.append(group)
    return kept


def _isolating(network: Network, members: list[Counter[int]], n: int) -> tuple[list[set[str]], list[set[str]]]:
    """Per matrix position: the policies isolating its workloads for egress, and for ingress."""
    egress: list[set[str]] = [set() for _ in range(n)]
    ingress: list[set[str]] = [set() for _ in range(n)]
    for klass, where in zip(network.classes, members, strict=True):
        for position in where:
            egress[position].update(p.label for p in klass.egress_policies)
            ingress[position].update(p.label for p in klass.ingress_policies)
    return egress, ingress


def _cell(allowed: dict[PortSet, int], pairs: int, policies: set[str]) -> ReachCell:
    """A cell from its allowed workload pairs by their ports, of ``pairs`` in all."""
    named = sorted(policies)
    if len(named) > MAX_POLICIES_PER_CELL:
        named = [*named[:MAX_POLICIES_PER_CELL], f"and {len(named) - MAX_POLICIES_PER_CELL} more"]
    count = sum(allowed.values())
    full = sum(n for ports, n in allowed.items() if ports.is_all)
    state = ISOLATED if not count else OPEN if full == pairs else RESTRICTED
    opened = NO_PORTS
    for ports in allowed:
        opened = opened | ports
    return ReachCell(state=state, allowed_pairs=count, pairs=pairs, ports=str(opened) if count else "",
                     policies=tuple(named))
