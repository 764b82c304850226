"""RBAC at scale: 10k roles and 50k bindings resolved, and every escalation path found.

Synthetic but shaped like a large multi-tenant cluster: 500 namespaces, each with its
own Roles (readers, deployers, secret readers, token issuers, exec debuggers…),
RoleBindings to users, groups and ServiceAccounts, ServiceAccounts and Deployments; plus
ClusterRoles (some aggregated by label) and ClusterRoleBindings, a few of them
cluster-admin. Prints wall time per phase and peak memory (resource.getrusage).

    PYTHONPATH=src python3 benchmarks/rbac_bench.py [--roles 10000] [--bindings 50000]
"""

from __future__ import annotations

import argparse
import random
import resource
import time

from kubeharden.analysis.rbac import RbacModel
from kubeharden.analysis.rbac_paths import CLUSTER_ADMIN, SECRETS, PathFinder
from kubeharden.model.inventory import Inventory
from kubeharden.model.objects import K8sObject, Provenance, make_ref
from kubeharden.model.pods import pod_view

RBAC = "rbac.authorization.k8s.io/v1"
TEMPLATES = [
    [{"apiGroups": [""], "resources": ["pods", "pods/log", "services"], "verbs": ["get", "list", "watch"]}],
    [{"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["get", "list", "create",
                                                                                      "update", "patch"]}],
    [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]},
     {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["app-tls"]}],
    [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}],
    [{"apiGroups": [""], "resources": ["pods/exec", "pods/portforward"], "verbs": ["create"]}],
    [{"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}],
    [{"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": ["create", "delete"]}],
    [{"apiGroups": ["monitoring.coreos.com"], "resources": ["*"], "verbs": ["*"]}],
]


def obj(raw: dict) -> K8sObject:
    return K8sObject(raw, make_ref(raw), Provenance("bench.yaml", 1))


def build(roles: int, bindings: int, namespaces: int, seed: int = 7) -> Inventory:
    rnd = random.Random(seed)
    inv = Inventory()
    ns_names = [f"team-{i}" for i in range(namespaces)]
    cluster_roles = roles // 10
    for i in range(cluster_roles):
        labels = {"rbac.authorization.k8s.io/aggregate-to-edit": "true"} if i % 50 == 0 else {"tier": str(i % 7)}
        raw = {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": f"cr-{i}", "labels": labels},
               "rules": TEMPLATES[i % len(TEMPLATES)]}
        if i % 100 == 1:
            raw["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {"tier": str(i % 7)}}]}
        inv.add_object(obj(raw))
    per_ns = (roles - cluster_roles) // namespaces
    for ns in ns_names:
        for j in range(per_ns):
            inv.add_object(obj({"apiVersion": RBAC, "kind": "Role", "metadata": {"name": f"r-{j}", "namespace": ns},
                                "rules": TEMPLATES[j % len(TEMPLATES)]}))
        for j in range(10):
            inv.add_object(obj({"apiVersion": "v1", "kind": "ServiceAccount",
                                "metadata": {"name": f"sa-{j}", "namespace": ns}}))
            dep = obj({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"app-{j}", "namespace": ns},
                       "spec": {"template": {"spec": {"serviceAccountName": f"sa-{j}",
                                                      "containers": [{"name": "c", "image": "x"}]}}}})
            inv.add_object(dep)
            inv.add_pod(pod_view(dep))
    crbs = bindings // 50
    for i in range(crbs):
        role = "cluster-admin" if i % 200 == 0 else f"cr-{rnd.randrange(cluster_roles)}"
        inv.add_object(obj({"apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": f"crb-{i}"},
                            "roleRef": {"kind": "ClusterRole", "name": role},
                            "subjects": [{"kind": "ServiceAccount", "name": f"sa-{i % 10}",
                                          "namespace": rnd.choice(ns_names)}]}))
    for i in range(bindings - crbs):
        ns = ns_names[i % namespaces]
        kind = rnd.random()
        subject = ({"kind": "User", "name": f"user-{rnd.randrange(5000)}"} if kind < 0.5 else
                   {"kind": "Group", "name": f"group-{rnd.randrange(300)}"} if kind < 0.7 else
                   {"kind": "ServiceAccount", "name": f"sa-{rnd.randrange(10)}", "namespace": ns})
        ref = {"kind": "Role", "name": f"r-{rnd.randrange(per_ns)}"} if rnd.random() < 0.8 else \
            {"kind": "ClusterRole", "name": f"cr-{rnd.randrange(cluster_roles)}"}
        inv.add_object(obj({"apiVersion": RBAC, "kind": "RoleBinding", "metadata": {"name": f"rb-{i}", "namespace": ns},
                            "roleRef": ref, "subjects": [subject]}))
    return inv


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--roles", type=int, default=10_000)
    ap.add_argument("--bindings", type=int, default=50_000)
    ap.add_argument("--namespaces", type=int, default=500)
    args = ap.parse_args()
    inv = build(args.roles, args.bindings, args.namespaces)
    print(f"objects: {len(inv.of_kind('Role', 'ClusterRole'))} roles, "
          f"{len(inv.of_kind('RoleBinding', 'ClusterRoleBinding'))} bindings, {len(inv.pods)} workloads")
    t0 = time.perf_counter()
    model = RbacModel(inv)
    t1 = time.perf_counter()
    finder = PathFinder(model)
    t2 = time.perf_counter()
    paths = finder.paths([CLUSTER_ADMIN, SECRETS])
    t3 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    edges = sum(len(v) for v in finder.graph.edges.values())
    print(f"model:  {t1 - t0:6.2f} s  ({len(model.grants)} grants, {len(model.by_subject)} subjects)")
    print(f"graph:  {t2 - t1:6.2f} s  ({edges} edges)")
    print(f"paths:  {t3 - t2:6.2f} s  ({len(paths)} shortest paths to cluster-admin or all Secrets)")
    print(f"total:  {t3 - t0:6.2f} s   peak RSS {peak:.0f} MiB (whole process, objects included)")


if __name__ == "__main__":
    main()
