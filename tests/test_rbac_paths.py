"""Escalation paths known from public RBAC research, each built as a fixture and found."""

from __future__ import annotations

import pytest

from kubeharden.analysis.rbac_paths import CLUSTER_ADMIN, SECRETS, NODE, PathFinder

from rbac_helpers import binding, deployment, group, model, role, rule, sa, service_account, user

# A powerful ServiceAccount every scenario can aim at: cluster-admin, running in namespace ops.
ADMIN_SA = [service_account("operator", "ops"), binding("operator-admin", "cluster-admin", [sa("operator", "ops")])]
RBAC = "rbac.authorization.k8s.io"


def paths_for(*objects, start="user:mallory", goal=CLUSTER_ADMIN):
    finder = PathFinder(model(*objects))
    return finder.paths([goal], start)


def grant(rules, ns=None):
    """mallory holds ``rules`` (in ``ns`` or cluster-wide)."""
    return [role("mallory", rules, ns=ns), binding("mallory", "mallory", [user("mallory")], ns=ns,
                                                   role_kind="Role" if ns else "ClusterRole")]


def one(found):
    assert found, "no path found"
    return found[0]


@pytest.mark.parametrize("name, rules, ns, extra, technique", [
    ("create pods, run as any SA of the namespace", [rule([""], ["pods"], ["create"])], "ops", [],
     "can create pods"),
    ("create a CronJob (pod-creating workload)", [rule(["batch"], ["cronjobs"], ["create"])], "ops", [],
     "can create pods"),
    ("patch a Deployment to another serviceAccountName", [rule(["apps"], ["deployments"], ["patch"])], "ops", [],
     "can patch workloads"),
    ("TokenRequest for ServiceAccounts", [rule([""], ["serviceaccounts/token"], ["create"])], "ops", [],
     "TokenRequest"),
    ("create a service-account-token Secret and read it", [rule([""], ["secrets"], ["create", "get"])], "ops", [],
     "service-account-token Secret"),
    ("impersonate ServiceAccounts", [rule([""], ["serviceaccounts"], ["impersonate"])], "ops", [],
     "impersonate ServiceAccounts"),
    ("exec into a running pod of the powerful SA", [rule([""], ["pods/exec"], ["create"])], "ops",
     [deployment("operator", "ops", "operator")], "exec into"),
])
def test_namespace_paths_to_a_powerful_service_account(name, rules, ns, extra, technique):
    path = one(paths_for(*ADMIN_SA, *extra, *grant(rules, ns)))
    first = path.steps[0]
    assert technique in first.action
    assert first.grants[0].binding.name == "mallory" and first.grants[0].rule.line
    assert [dst for _, dst, _ in path.hops()] == ["serviceaccount:ops:operator", CLUSTER_ADMIN]


def test_reading_token_secrets():
    token = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
             "metadata": {"name": "operator-token", "namespace": "ops",
                          "annotations": {"kubernetes.io/service-account.name": "operator"}}}
    path = one(paths_for(*ADMIN_SA, token, *grant([rule([""], ["secrets"], ["get"])], "ops")))
    assert "Secrets" in path.steps[0].action and len(path) == 2
    # without a token Secret of that account, get secrets leads nowhere
    assert paths_for(*ADMIN_SA, *grant([rule([""], ["secrets"], ["get"])], "ops")) == []


def test_creating_a_token_secret_needs_reading_it_too():
    # create alone cannot read the token the controller writes (create cannot be limited by name)
    limited = [rule([""], ["secrets"], ["create"]), rule([""], ["secrets"], ["get"], names=["own"])]
    assert paths_for(*ADMIN_SA, *grant(limited, "ops")) == []


def test_impersonating_system_masters():
    path = one(paths_for(*grant([rule([""], ["groups"], ["impersonate"], names=["system:masters"])])))
    assert [dst for _, dst, _ in path.hops()] == ["group:system:masters", CLUSTER_ADMIN]
    assert paths_for(*grant([rule([""], ["groups"], ["impersonate"], names=["developers"])])) == []


def test_bind_and_create_clusterrolebindings():
    path = one(paths_for(*grant([rule([RBAC], ["clusterroles"], ["bind"]),
                                 rule([RBAC], ["clusterrolebindings"], ["create"])])))
    assert len(path) == 1 and len(path.steps[0].grants) == 2
    # bind alone, or create alone, is not enough: RBAC's escalation check stops it
    assert paths_for(*grant([rule([RBAC], ["clusterrolebindings"], ["create"])])) == []
    assert paths_for(*grant([rule([RBAC], ["clusterroles"], ["bind"])])) == []


def test_bind_limited_to_admin_gives_namespaces_not_the_cluster():
    rules = [rule([RBAC], ["clusterroles"], ["bind"], names=["admin"]),
             rule([RBAC], ["clusterrolebindings", "rolebindings"], ["create"])]
    # only admin may be bound, so cluster-admin is reached only through a namespace whose accounts hold more:
    # every cluster's default binding gives kube-system/clusterrole-aggregation-controller escalate on clusterroles
    only = one(paths_for(*grant(rules)))
    assert "serviceaccount:kube-system:clusterrole-aggregation-controller" in [dst for _, dst, _ in only.hops()]
    path = one(paths_for(*ADMIN_SA, *grant(rules)))  # two paths of the same length: either is shortest
    assert [dst for _, dst, _ in path.hops()][1:] == [CLUSTER_ADMIN]
    assert path.hops()[0][1] in ("serviceaccount:ops:operator",
                                 "serviceaccount:kube-system:clusterrole-aggregation-controller")
    assert "binds admin" in path.steps[0].action


def test_escalate_and_update_own_clusterrole():
    path = one(paths_for(*grant([rule([RBAC], ["clusterroles"], ["escalate", "update"])])))
    assert "escalate" in path.steps[0].action


def test_bind_in_a_namespace_gives_its_service_accounts():
    path = one(paths_for(*ADMIN_SA, *grant([rule([RBAC], ["roles", "clusterroles"], ["bind"]),
                                            rule([RBAC], ["rolebindings"], ["create"])], "ops")))
    assert [dst for _, dst, _ in path.hops()] == ["serviceaccount:ops:operator", CLUSTER_ADMIN]


def test_csr_approval_mints_system_masters():
    rules = [rule(["certificates.k8s.io"], ["certificatesigningrequests"], ["create"]),
             rule(["certificates.k8s.io"], ["certificatesigningrequests/approval"], ["update"]),
             rule(["certificates.k8s.io"], ["signers"], ["approve"], names=["kubernetes.io/kube-apiserver-client"])]
    assert len(one(paths_for(*grant(rules)))) == 1
    assert paths_for(*grant(rules[:2])) == []


def test_nodes_proxy_reaches_tokens_of_running_pods():
    objs = [*ADMIN_SA, deployment("operator", "ops", "operator"), *grant([rule([""], ["nodes/proxy"], ["get"])])]
    path = one(paths_for(*objs))
    assert [dst for _, dst, _ in path.hops()] == [NODE, "serviceaccount:ops:operator", CLUSTER_ADMIN]
    # the operator pod does not mount its token: nothing to steal on the node
    objs[2] = deployment("operator", "ops", "operator", automount=False)
    assert paths_for(*objs) == []


def test_privileged_pod_escape_only_when_nodes_and_no_pod_security():
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-1"}}
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sandbox"}}
    base = [*ADMIN_SA, deployment("operator", "ops", "operator"), *grant([rule([""], ["pods"], ["create"])],
                                                                          "sandbox")]
    assert paths_for(*base) == []  # no Node objects: node paths are not claimed
    path = one(paths_for(*base, node, ns))
    assert NODE in [dst for _, dst, _ in path.hops()]
    ns["metadata"]["labels"] = {"pod-security.kubernetes.io/enforce": "baseline"}
    assert paths_for(*base, node, ns) == []


def test_multi_hop_path_is_shortest_and_explained():
    objs = [*ADMIN_SA,
            service_account("ci", "build"),
            role("ci-tokens", [rule([""], ["serviceaccounts/token"], ["create"])], ns="ops", kind="Role"),
            binding("ci-tokens", "ci-tokens", [sa("ci", "build")], ns="ops", role_kind="Role"),
            *grant([rule([""], ["pods"], ["create"])], "build")]
    path = one(paths_for(*objs))
    assert [dst for _, dst, _ in path.hops()] == ["serviceaccount:build:ci", "serviceaccount:ops:operator",
                                                   CLUSTER_ADMIN]
    assert [h[2][0].binding.name for h in path.hops()] == ["mallory", "ci-tokens", "operator-admin"]


def test_secrets_goal_and_all_paths_sorted():
    objs = [*grant([rule([""], ["secrets"], ["list"])]),
            role("dev", [rule([""], ["pods"], ["create"])], ns="ops", kind="Role"),
            binding("dev", "dev", [group("developers")], ns="ops", role_kind="Role"), *ADMIN_SA]
    finder = PathFinder(model(*objs))
    found = finder.paths([CLUSTER_ADMIN, SECRETS])
    assert [len(p) for p in found] == sorted(len(p) for p in found)
    starts = {(p.start, p.goal) for p in found}
    assert ("user:mallory", SECRETS) in starts and ("user:mallory", CLUSTER_ADMIN) not in starts
    assert ("group:developers", CLUSTER_ADMIN) in starts
