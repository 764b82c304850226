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
)

#: Default Roles in kube-system that extension API servers (metrics adapters…) bind to.
BUILTIN_ROLES: tuple[dict[str, Any], ...] = (
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
     "metadata": {"name": "extension-apiserver-authentication-reader", "namespace": "kube-system",
                  "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
     "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"],
                "resourceNames": ["extension-apiserver-authentication"]}]},
)

#: Default ClusterRoleBindings of the bootstrap policy: (binding name, role, subject kind, subject name).
DEFAULT_BINDINGS = frozenset({
    ("cluster-admin", "cluster-admin", "Group", "system:masters"),
    ("system:public-info-viewer", "system:public-info-viewer", "Group", "system:authenticated"),
    ("system:public-info-viewer", "system:public-info-viewer", "Group", "system:unauthenticated"),
    ("system:discovery", "system:discovery", "Group", "system:authenticated"),
    ("system:basic-user", "system:basic-user", "Group", "system:authenticated"),
    ("system:service-account-issuer-discovery", "system:service-account-issuer-discovery", "Group",
     "system:serviceaccounts"),
})


def _by_binding() -> dict[str, tuple[str, list[tuple[str, str]]]]:
    out: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    for binding, role, kind, subject in sorted(DEFAULT_BINDINGS):
        out.setdefault(binding, (role, []))[1].append((kind, subject))
    return out


_DEFAULT_BINDINGS_BY_NAME = _by_binding()


def default_binding_subjects(name: str) -> tuple[str, list[tuple[str, str]]] | None:
    """The ClusterRole and (kind, name) subjects of the default ClusterRoleBinding ``name``, or None."""
    return _DEFAULT_BINDINGS_BY_NAME.get(name)


def reconciled(annotations: dict[str, str]) -> bool:
    """Whether the API server reconciles an object with these annotations.

    The reconciler compares the value with exactly "false" (pkg/registry/rbac/reconciliation).
    """
    return annotations.get(AUTOUPDATE_ANNOTATION) != "false"
