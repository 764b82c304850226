"""The default ClusterRoles every cluster has, for bindings that reference them.

Manifests bind ``cluster-admin``, ``admin``, ``edit`` and ``view`` without shipping them;
without these definitions the model could not say what such a binding grants. The
rules follow the Kubernetes bootstrap policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy):
``admin``, ``edit`` and ``view`` aggregate the ``system:aggregate-to-*`` roles by label, so
a CRD's ClusterRole labelled ``aggregate-to-edit`` flows into ``edit`` and ``admin`` exactly as
in a cluster.

A scanned role or binding of a default name does not replace the default: at every start the
API server *reconciles* the defaults, adding back missing rules, labels, aggregation selectors
and binding subjects, unless the object is annotated ``rbac.authorization.kubernetes.io/autoupdate:
"false"`` ("Using RBAC Authorization", Default roles and role bindings, Auto-reconciliation;
pkg/registry/rbac/reconciliation). Default objects carry the label
``kubernetes.io/bootstrapping=rbac-defaults``; that label, not a ``system:`` name, marks them.
"""

from __future__ import annotations

from typing import Any

#: The annotation that, set to "false", opts a default role or binding out of reconciliation.
AUTOUPDATE_ANNOTATION = "rbac.authorization.kubernetes.io/autoupdate"
#: The label every default role and binding of the bootstrap policy carries.
BOOTSTRAP_LABEL = ("kubernetes.io/bootstrapping", "rbac-defaults")

_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_AGG = "rbac.authorization.k8s.io/aggregate-to-"


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _cluster_role(name: str, rules: list[dict[str, Any]], labels: dict[str, str] | None = None,
                  aggregate_from: str | None = None) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults", **(labels or {})}},
        "rules": rules,
    }
    if aggregate_from:
        raw["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {f"{_AGG}{aggregate_from}": "true"}}]}
    return raw


_VIEW_CORE = ["pods", "pods/log", "pods/status", "replicationcontrollers", "replicationcontrollers/scale",
              "replicationcontrollers/status", "services", "services/status", "endpoints",
              "persistentvolumeclaims", "persistentvolumeclaims/status", "configmaps", "serviceaccounts",
              "limitranges", "resourcequotas", "resourcequotas/status", "events", "namespaces",
              "namespaces/status", "bindings"]
_VIEW_APPS = ["controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
              "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets",
              "statefulsets/scale", "statefulsets/status"]

BUILTIN_CLUSTER_ROLES: tuple[dict[str, Any], ...] = (
    _cluster_role("cluster-admin", [
        _rule(["*"], ["*"], ["*"]),
        {"nonResourceURLs": ["*"], "verbs": ["*"]},
    ]),
    _cluster_role("admin", [], aggregate_from="admin"),
    _cluster_role("edit", [], labels={f"{_AGG}admin": "true"}, aggregate_from="edit"),
    _cluster_role("view", [], labels={f"{_AGG}edit": "true"}, aggregate_from="view"),
    _cluster_role("system:aggregate-to-admin", [
        _rule(["rbac.authorization.k8s.io"], ["rolebindings", "roles"], _READ + _WRITE),
        _rule(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
    ], labels={f"{_AGG}admin": "true"}),
    _cluster_role("system:aggregate-to-edit", [
        _rule([""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets",
                     "services/proxy"], _READ),
        _rule([""], ["serviceaccounts"], ["impersonate"]),
        _rule([""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"], _WRITE),
        _rule([""], ["pods/eviction"], ["create"]),
        _rule([""], ["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
                     "replicationcontrollers/scale", "secrets", "serviceaccounts", "services",
                     "services/proxy"], _WRITE),
        _rule([""], ["serviceaccounts/token"], ["create"]),
        _rule(["apps"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale",
                         "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"], _WRITE),
        _rule(["autoscaling"], ["horizontalpodautoscalers"], _WRITE),
        _rule(["batch"], ["cronjobs", "jobs"], _WRITE),
        _rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], _WRITE),
        _rule(["policy"], ["poddisruptionbudgets"], _WRITE),
    ], labels={f"{_AGG}edit": "true"}),
    _cluster_role("system:aggregate-to-view", [
        _rule([""], _VIEW_CORE, _READ),
        _rule(["apps"], _VIEW_APPS, _READ),
        _rule(["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"], _READ),
        _rule(["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], _READ),
        _rule(["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"], _READ),
        _rule(["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"], _READ),
        _rule(["discovery.k8s.io"], ["endpointslices"], _READ),
    ], labels={f"{_AGG}view": "true"}),
    _cluster_role("system:public-info-viewer", [
        {"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]},
    ]),
    _cluster_role("system:discovery", [
        {"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                             "/openapi/*", "/readyz", "/version", "/version/"], "verbs": ["get"]},
    ]),
    _cluster_role("system:basic-user", [
        _rule(["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], ["create"]),
        _rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"]),
    ]),
    _cluster_role("system:auth-delegator", [
        _rule(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
        _rule(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"]),
    ]),
    _cluster_role("system:service-account-issuer-discovery", [
        {"nonResourceURLs": ["/.well-known/openid-configuration", "/.well-known/openid-configuration/",
                             "/openid/v1/jwks", "/openid/v1/jwks/"], "verbs": ["get"]},
    ]),
    # bootstrappolicy/policy.go, ClusterRoles(): the controller manager's own identity. Its informers
    # list and watch every resource (Secrets included) and it mints ServiceAccount tokens.
    _cluster_role("system:kube-controller-manager", [
        _rule([""], ["events"], ["create"]),
        _rule(["events.k8s.io"], ["events"], ["create", "patch", "update"]),
        _rule(["coordination.k8s.io"], ["leases"], ["create"]),
        {**_rule(["coordination.k8s.io"], ["leases"], ["get", "update"]), "resourceNames": ["kube-controller-manager"]},
        _rule([""], ["secrets", "serviceaccounts"], ["create"]),
        _rule([""], ["secrets"], ["delete"]),
        _rule([""], ["configmaps", "namespaces", "secrets", "serviceaccounts"], ["get"]),
        _rule([""], ["secrets", "serviceaccounts"], ["update"]),
        _rule(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
        _rule(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"]),
        _rule(["*"], ["*"], ["list", "watch"]),
        _rule([""], ["serviceaccounts/token"], ["create"]),
    ]),
    # bootstrappolicy/controller_policy.go: the aggregation controller rewrites every ClusterRole, so it
    # holds escalate (it may write rules it does not itself hold).
    _cluster_role("system:controller:clusterrole-aggregation-controller", [
        _rule(["rbac.authorization.k8s.io"], ["clusterroles"], ["escalate", "get", "list", "watch", "update", "patch"]),
    ]),
)

#: The core components' ClusterRoles ("Using RBAC Authorization", Core component roles) whose binding hands
#: over the control plane; the same set as the audit pack's ``cluster_control_roles`` (KH-AUDIT-050) minus
#: cluster-admin, which has controls of its own.
CONTROL_PLANE_ROLES = frozenset({"system:kube-controller-manager", "system:kube-scheduler", "system:node"})
#: Prefix of the controller roles ("Using RBAC Authorization", Controller roles): system:controller:<name>,
#: bound by default to the ServiceAccount kube-system/<name> only.
CONTROLLER_ROLE_PREFIX = "system:controller:"
#: The kube-controller-manager's controllers that have a default ClusterRole and ClusterRoleBinding
#: (bootstrappolicy/controller_policy.go, buildControllerRoles; Kubernetes 1.29-1.33).
CONTROLLER_NAMES: tuple[str, ...] = (
    "attachdetach-controller", "certificate-controller", "clusterrole-aggregation-controller",
    "cronjob-controller", "daemon-set-controller", "deployment-controller", "disruption-controller",
    "endpoint-controller", "endpointslice-controller", "endpointslicemirroring-controller",
    "ephemeral-volume-controller", "expand-controller", "generic-garbage-collector", "horizontal-pod-autoscaler",
    "job-controller", "legacy-service-account-token-cleaner", "namespace-controller", "node-controller",
    "persistent-volume-binder", "pod-garbage-collector", "pv-protection-controller", "pvc-protection-controller",
    "replicaset-controller", "replication-controller", "resourcequota-controller", "root-ca-cert-publisher",
    "route-controller", "service-account-controller", "service-cidrs-controller", "service-controller",
    "statefulset-controller", "ttl-after-finished-controller", "ttl-controller",
    "validatingadmissionpolicy-status-controller",
)
#: Every other default ClusterRole of the bootstrap policy (policy.go ClusterRoles(); "Using RBAC
#: Authorization", Default roles and role bindings) whose rules kubeharden does not carry.
_OTHER_DEFAULT_CLUSTER_ROLES: tuple[str, ...] = (
    "system:kube-scheduler", "system:volume-scheduler", "system:node", "system:node-proxier",
    "system:monitoring", "system:heapster", "system:kube-aggregator", "system:kube-dns", "system:kubelet-api-admin",
    "system:node-bootstrapper", "system:node-problem-detector", "system:persistent-volume-provisioner",
    "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
    "system:certificates.k8s.io:kube-apiserver-client-approver",
    "system:certificates.k8s.io:kube-apiserver-client-kubelet-approver",
    "system:certificates.k8s.io:kubelet-serving-approver",
    "system:certificates.k8s.io:legacy-unknown-approver",
)
#: Default ClusterRoles whose rules kubeharden does not carry: their bindings are reported as not
#: assessable (KH-RBAC-029), never as granting nothing.
UNCARRIED_CLUSTER_ROLES: frozenset[str] = frozenset(_OTHER_DEFAULT_CLUSTER_ROLES) | frozenset(
    CONTROLLER_ROLE_PREFIX + n for n in CONTROLLER_NAMES) - {r["metadata"]["name"] for r in BUILTIN_CLUSTER_ROLES}
#: The name of every default ClusterRole.
DEFAULT_CLUSTER_ROLE_NAMES: frozenset[str] = frozenset(
    r["metadata"]["name"] for r in BUILTIN_CLUSTER_ROLES) | UNCARRIED_CLUSTER_ROLES

#: Default Roles in kube-system that extension API servers (metrics adapters…) bind to.
BUILTIN_ROLES: tuple[dict[str, Any], ...] = (
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
     "metadata": {"name": "extension-apiserver-authentication-reader", "namespace": "kube-system",
                  "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
     "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"],
                "resourceNames": ["extension-apiserver-authentication"]}]},
)

#: Default Roles of the bootstrap policy (policy.go NamespaceRoles()) per namespace, carried or not.
DEFAULT_ROLE_NAMES: dict[str, frozenset[str]] = {
    "kube-system": frozenset({"extension-apiserver-authentication-reader",
                              "system::leader-locking-kube-controller-manager", "system::leader-locking-kube-scheduler",
                              "system:controller:bootstrap-signer", "system:controller:cloud-provider",
                              "system:controller:token-cleaner"}),
    "kube-public": frozenset({"system:controller:bootstrap-signer"}),
}

#: Default ClusterRoleBindings of the bootstrap policy (policy.go ClusterRoleBindings(), controller_policy.go):
#: (binding name, role, subject kind, subject name); a ServiceAccount's name is ``namespace/name``.
DEFAULT_BINDINGS = frozenset({
    ("cluster-admin", "cluster-admin", "Group", "system:masters"),
    ("system:public-info-viewer", "system:public-info-viewer", "Group", "system:authenticated"),
    ("system:public-info-viewer", "system:public-info-viewer", "Group", "system:unauthenticated"),
    ("system:discovery", "system:discovery", "Group", "system:authenticated"),
    ("system:basic-user", "system:basic-user", "Group", "system:authenticated"),
    ("system:service-account-issuer-discovery", "system:service-account-issuer-discovery", "Group",
     "system:serviceaccounts"),
    ("system:monitoring", "system:monitoring", "Group", "system:monitoring"),
    ("system:kube-controller-manager", "system:kube-controller-manager", "User", "system:kube-controller-manager"),
    ("system:kube-scheduler", "system:kube-scheduler", "User", "system:kube-scheduler"),
    ("system:volume-scheduler", "system:volume-scheduler", "User", "system:kube-scheduler"),
    ("system:node-proxier", "system:node-proxier", "User", "system:kube-proxy"),
    ("system:kube-dns", "system:kube-dns", "ServiceAccount", "kube-system/kube-dns"),
    # system:node: no subjects since Kubernetes 1.8 (the Node authorizer serves the kubelets)
}) | frozenset((CONTROLLER_ROLE_PREFIX + n, CONTROLLER_ROLE_PREFIX + n, "ServiceAccount", f"kube-system/{n}")
               for n in CONTROLLER_NAMES)
#: Default ClusterRoleBindings without subjects (binding name -> role).
DEFAULT_EMPTY_BINDINGS: dict[str, str] = {"system:node": "system:node"}


Identity = tuple[str, str, str | None]  # subject kind, name, namespace (ServiceAccounts only)


def _identity(kind: str, name: str) -> Identity:
    if kind == "ServiceAccount":
        ns, _, sa = name.partition("/")
        return kind, sa, ns
    return kind, name, None


def _by_binding() -> dict[str, tuple[str, list[Identity]]]:
    out: dict[str, tuple[str, list[Identity]]] = {name: (role, []) for name, role in DEFAULT_EMPTY_BINDINGS.items()}
    for binding, role, kind, subject in sorted(DEFAULT_BINDINGS):
        out.setdefault(binding, (role, []))[1].append(_identity(kind, subject))
    return out


def _by_role() -> dict[str, set[Identity]]:
    out: dict[str, set[Identity]] = {role: set() for role in DEFAULT_EMPTY_BINDINGS.values()}
    for _, role, kind, subject in DEFAULT_BINDINGS:
        out.setdefault(role, set()).add(_identity(kind, subject))
    return out


_DEFAULT_BINDINGS_BY_NAME = _by_binding()
_DEFAULT_SUBJECTS_BY_ROLE = _by_role()


def default_binding_subjects(name: str) -> tuple[str, list[Identity]] | None:
    """The ClusterRole and (kind, name, namespace) subjects of the default ClusterRoleBinding ``name``, or None."""
    return _DEFAULT_BINDINGS_BY_NAME.get(name)


def default_binding_names() -> list[str]:
    """The names of the default ClusterRoleBindings of the bootstrap policy, sorted."""
    return sorted(_DEFAULT_BINDINGS_BY_NAME)


def default_subjects_of_role(role: str) -> frozenset[Identity]:
    """The (kind, name, namespace) subjects the default ClusterRoleBindings give ``role`` (empty: none)."""
    return frozenset(_DEFAULT_SUBJECTS_BY_ROLE.get(role, ()))


def is_default_binding_name(name: str) -> bool:
    """Whether ``name`` is the name of a default ClusterRoleBinding of the bootstrap policy."""
    return name in _DEFAULT_BINDINGS_BY_NAME


def reconciled(annotations: dict[str, str]) -> bool:
    """Whether the API server reconciles an object with these annotations.

    The reconciler compares the value with exactly "false" (pkg/registry/rbac/reconciliation).
    """
    return annotations.get(AUTOUPDATE_ANNOTATION) != "false"
