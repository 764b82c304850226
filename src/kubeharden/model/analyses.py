"""What reports draw of a scan's cross-object analyses: escalation paths and the reachability matrix.

Plain records, filled by :mod:`kubeharden.checks.drawings` from the analyses the scan's controls
already built (the RBAC model and the NetworkPolicy engine in the scan's memo) and kept on
:class:`~kubeharden.model.results.ScanResult` (``analyses``, one entry per scope) for the HTML
report. Every list is capped; what was left out is counted, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Reachability of one matrix cell (source row -> destination column).
OPEN = "open"  # every workload pair allowed on every port, neither side isolated by a policy
RESTRICTED = "restricted"  # some pairs or some ports allowed: policies select at least one side
ISOLATED = "isolated"  # no workload of the row can open a connection to any of the column


@dataclass(frozen=True, slots=True)
class GrantRef:
    """A permission a step uses: the binding, the role it binds, the rule, and where the binding is."""

    binding: str  # "RoleBinding shop/deployer"; "ClusterRoleBinding cluster-admin (built in)" for a default
    role: str  # "Role shop/pod-creator", "ClusterRole edit"
    rule: str  # as `kubeharden rbac can` prints it: "create pods [core]"
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Hop:
    """One step of an escalation path: what is done, what it reaches, and the grants that allow it."""

    action: str
    reached: str  # a readable label ("ServiceAccount shop/deployer", "cluster-admin", "a node (root)")
    reached_kind: str  # identity | workload | capability | node | goal
    #: the permissions used (two or three for combined techniques); none for a fact of Kubernetes
    #: ("runs as this ServiceAccount with its token mounted")
    grants: tuple[GrantRef, ...] = ()


@dataclass(frozen=True, slots=True)
class EscalationPath:
    """The shortest way from a subject or workload to a goal (cluster-admin, every Secret)."""

    start: str
    start_kind: str  # identity | workload
    goal: str
    hops: tuple[Hop, ...]


@dataclass(frozen=True, slots=True)
class ReachCell:
    """Source row -> destination column: how many workload pairs may connect, and what isolates them."""

    state: str  # OPEN, RESTRICTED or ISOLATED
    allowed_pairs: int
    pairs: int
    ports: str  # the union of allowed ports ("all ports", "TCP 80, TCP 443"), "" when none
    #: policies isolating the row's workloads for egress or the column's for ingress ("kind ns/name")
    policies: tuple[str, ...] = ()


@dataclass(slots=True)
class ReachMatrix:
    """Rows and columns are the same axis: namespaces, or workloads when the input holds few."""

    axis: str  # "namespace" or "workload"
    labels: list[str]
    cells: list[list[ReachCell]]
    #: namespaces or workloads of the input that the cap left out of the matrix
    left_out: list[str] = field(default_factory=list)
    #: the cap: at most this many rows, and this many pod classes (workloads no policy tells apart)
    max_axis: int = 0
    max_classes: int = 0
    #: policies with parts the engine does not evaluate (L7, FQDN …), with what is not evaluated
    not_evaluated: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ScopeAnalyses:
    """The drawings of one scope (the whole input, or one PATH with ``--scope path``)."""

    paths: list[EscalationPath] = field(default_factory=list)
    paths_total: int = 0
    #: why no path could be judged (no RoleBinding or ClusterRoleBinding in the input), "" when judged
    paths_not_assessed: str = ""
    matrix: ReachMatrix | None = None
    #: why there is no matrix (no workload in the input), "" when there is one
    matrix_not_assessed: str = ""
    #: what a drawing could not see (kinds a cluster would not list): drawn, but incomplete
    notes: list[str] = field(default_factory=list)
    #: an analysis that raised: its name and message (the page says it was not drawn)
    errors: list[str] = field(default_factory=list)
