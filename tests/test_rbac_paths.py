"""Escalation paths known from public RBAC research, each built as a fixture and found."""

from __future__ import annotations

import json

import pytest

from kubeharden.analysis.rbac_paths import CLUSTER_ADMIN, SECRETS, NODE, PathFinder
from kubeharden.cli import main

from rbac_helpers import binding, deployment, group, model, role, rule, sa, service_account, to_yaml, user

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


@pytest.mark.parametrize("rules", [
    [rule([""], ["users", "groups"], ["impersonate"])],
    [rule([""], ["*"], ["impersonate"])],
    [rule([""], ["users"], ["impersonate"], names=["nobody"]),
     rule([""], ["groups"], ["impersonate"], names=["system:masters"])],
])
def test_impersonating_a_user_with_group_system_masters_is_one_step(rules):
    # one request: --as=NAME --as-group=system:masters ("Authenticating" > User impersonation)
    path = one(paths_for(*grant(rules)))
    assert len(path) == 1 and path.hops()[0][1] == CLUSTER_ADMIN
    assert "system:masters" in path.steps[0].action and path.steps[0].grants[0].binding.name == "mallory"


def test_impersonating_a_service_account_is_enough_as_the_user_for_groups():
    rules = [rule([""], ["serviceaccounts"], ["impersonate"]), rule([""], ["groups"], ["impersonate"])]
    assert len(one(paths_for(*grant(rules)))) == 1


def test_groups_alone_cannot_be_impersonated():
    # the API server refuses Impersonate-Group without Impersonate-User (apiserver impersonation filter)
    assert paths_for(*grant([rule([""], ["groups"], ["impersonate"], names=["system:masters"])])) == []
    assert paths_for(*grant([rule([""], ["groups"], ["impersonate"])])) == []
    named = [rule([""], ["users"], ["impersonate"], names=["nobody"]),
             rule([""], ["groups"], ["impersonate"], names=["developers"])]
    assert paths_for(*grant(named)) == []


def test_impersonating_users_is_one_step_only_to_a_user_the_input_shows_one_step_from_admin():
    users = [rule([""], ["users"], ["impersonate"])]
    # every cluster's user system:kube-controller-manager may request any ServiceAccount token: several steps
    assert len(one(paths_for(*grant(users)))) > 1
    root = binding("root", "cluster-admin", [user("root")])
    assert len(one(paths_for(root, *grant(users)))) == 1
    only_jane = [rule([""], ["users"], ["impersonate"], names=["jane"])]
    assert paths_for(root, *grant(only_jane)) == []  # jane holds nothing: impersonating her gives nothing
    binder = [role("binder", [rule([RBAC], ["clusterroles"], ["bind"]),
                              rule([RBAC], ["clusterrolebindings"], ["create"])]),
              binding("jane", "binder", [user("jane")])]
    step = one(paths_for(*binder, *grant(only_jane)))
    assert len(step) == 1 and "user:jane" in step.steps[0].action


def test_impersonating_a_service_account_that_holds_cluster_admin_is_one_step():
    path = one(paths_for(*ADMIN_SA, *grant([rule([""], ["serviceaccounts"], ["impersonate"])], "ops")))
    assert len(path) == 1 and "serviceaccount:ops:operator" in path.steps[0].action
    # in another namespace the ServiceAccount cannot be named
    assert all(len(p) > 1 for p in paths_for(*ADMIN_SA, *grant([rule([""], ["serviceaccounts"], ["impersonate"])],
                                                                  "dev")))


def test_bind_and_create_clusterrolebindings():
    path = one(paths_for(*grant([rule([RBAC], ["clusterroles"], ["bind"]),
                                 rule([RBAC], ["clusterrolebindings"], ["create"])])))
    assert len(path) == 1 and len(path.steps[0].grants) == 2
    # bind alone, or create alone, is not enough: RBAC's escalation check stops it
    assert paths_for(*grant([rule([RBAC], ["clusterrolebindings"], ["create"])])) == []
    assert paths_for(*grant([rule([RBAC], ["clusterroles"], ["bind"])])) == []


@pytest.mark.parametrize("verb", ["patch", "update"])
def test_updating_the_default_cluster_admin_binding_with_bind_is_one_step(verb):
    # "Using RBAC Authorization" > Restrictions on role binding creation or update: bind on the role suffices,
    # and every cluster has the cluster-admin ClusterRoleBinding
    rules = [rule([RBAC], ["clusterrolebindings"], [verb]), rule([RBAC], ["clusterroles"], ["bind"])]
    path = one(paths_for(*grant(rules)))
    assert len(path) == 1 and "ClusterRoleBinding cluster-admin" in path.steps[0].action
    assert len(path.steps[0].grants) == 2
    named = [rule([RBAC], ["clusterrolebindings"], [verb], names=["cluster-admin"]),
             rule([RBAC], ["clusterroles"], ["bind"], names=["cluster-admin"])]
    assert len(one(paths_for(*grant(named)))) == 1
    # either half alone, or a write limited to another binding, is not enough
    assert paths_for(*grant(rules[:1])) == [] and paths_for(*grant(rules[1:])) == []
    other = [rule([RBAC], ["clusterrolebindings"], [verb], names=["view"]), rules[1]]
    assert paths_for(*grant(other)) == []


def test_patching_a_rolebinding_of_admin_with_bind_gives_the_namespace():
    admin_rb = binding("team-admin", "admin", [user("lead")], ns="ops")
    rules = [rule([RBAC], ["rolebindings"], ["patch"]), rule([RBAC], ["clusterroles"], ["bind"], names=["admin"])]
    path = one(paths_for(*ADMIN_SA, admin_rb, *grant(rules, "ops")))
    assert "RoleBinding team-admin" in path.steps[0].action
    assert [dst for _, dst, _ in path.hops()] == ["serviceaccount:ops:operator", CLUSTER_ADMIN]
    assert paths_for(*ADMIN_SA, *grant(rules, "ops")) == []  # no such binding in ops to join


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


def _paths_cli(capsys, tmp_path, *objects, extra=()):
    manifest = tmp_path / "rbac.yaml"
    manifest.write_text(to_yaml(*objects))
    assert main(["rbac", "paths", "-f", "json", *extra, str(manifest)]) == 0
    return {p["from"] for p in json.loads(capsys.readouterr().out)["paths"]}


def test_paths_shows_system_groups_the_input_binds_and_hides_the_bootstrap_ones(capsys, tmp_path):
    bind = [role("a-bind", [rule([RBAC], ["clusterrolebindings"], ["create"]),
                            rule([RBAC], ["clusterroles"], ["bind"], names=["cluster-admin"])]),
            binding("a-bind", "a-bind", [group("system:authenticated")])]
    shown = _paths_cli(capsys, tmp_path, *bind)
    # the input's own binding of system:authenticated is shown; members that only inherit it, and Kubernetes'
    # own identities (system:masters, kube-system accounts of the default bindings) stay hidden without --all
    assert shown == {"group:system:authenticated"}
    every = _paths_cli(capsys, tmp_path, *bind, extra=["--all"])
    assert {"group:system:authenticated", "group:system:masters"} <= every
