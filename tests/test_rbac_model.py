"""The permission model: Kubernetes' own matching rules, aggregation, subjects and bad input."""

from __future__ import annotations

import pytest
from rbac_helpers import binding, group, model, role, rule, sa, scanned, user

from kubeharden.analysis.rbac import RbacRule, Subject, parse_subject


def r(verbs, groups=("",), resources=(), names=(), urls=()):
    return RbacRule(frozenset(verbs), frozenset(groups), frozenset(resources), frozenset(names), frozenset(urls))


@pytest.mark.parametrize("rule_, request_, allowed", [
    (r(["get"], resources=["pods"]), ("get", "", "pods", ""), True),
    (r(["get"], resources=["pods"]), ("list", "", "pods", ""), False),
    (r(["*"], resources=["pods"]), ("delete", "", "pods", ""), True),
    (r(["get"], groups=["apps"], resources=["pods"]), ("get", "", "pods", ""), False),
    (r(["get"], groups=["*"], resources=["deployments"]), ("get", "apps", "deployments", ""), True),
    # '*' covers subresources; a resource alone does not
    (r(["create"], resources=["*"]), ("create", "", "pods", "exec"), True),
    (r(["create"], resources=["pods"]), ("create", "", "pods", "exec"), False),
    (r(["create"], resources=["pods/exec"]), ("create", "", "pods", "exec"), True),
    # */scale matches the scale subresource of anything, nothing else
    (r(["update"], groups=["apps"], resources=["*/scale"]), ("update", "apps", "deployments", "scale"), True),
    (r(["update"], groups=["apps"], resources=["*/scale"]), ("update", "apps", "deployments", ""), False),
    (r(["update"], groups=["apps"], resources=["*/scale"]), ("update", "apps", "deployments", "status"), False),
    # pods/* is not a wildcard in Kubernetes: it only matches a resource literally named so
    (r(["create"], resources=["pods/*"]), ("create", "", "pods", "exec"), False),
])
def test_resource_matching_follows_kubernetes(rule_, request_, allowed):
    assert rule_.allows(*request_) is allowed


def test_resource_names_need_a_named_request():
    rule_ = r(["get", "list"], resources=["secrets"], names=["tls"])
    assert rule_.allows("get", "", "secrets", "", "tls")
    assert not rule_.allows("get", "", "secrets", "", "other")
    assert not rule_.allows("list", "", "secrets")  # a list carries no name
    assert rule_.allows("list", "", "secrets", any_name=True)


@pytest.mark.parametrize("urls, path, allowed", [
    (["/healthz"], "/healthz", True),
    (["/healthz"], "/healthz/etcd", False),
    (["/healthz/*"], "/healthz/etcd", True),
    (["/api/*"], "/api", False),
    (["*"], "/metrics", True),
])
def test_non_resource_urls(urls, path, allowed):
    assert r(["get"], groups=(), urls=urls).allows_url("get", path) is allowed
    assert not r(["post"], groups=(), urls=urls).allows_url("get", path)


def test_rolebinding_to_clusterrole_is_scoped_to_its_namespace():
    m = model(role("reader", [rule([""], ["secrets"], ["get"])]),
              binding("read", "reader", [user("jane")], ns="team-a"))
    assert [g.subject.key for g in scanned(m.who_can("get", "", "secrets", namespace="team-a"))] == ["user:jane"]
    assert scanned(m.who_can("get", "", "secrets", namespace="team-b")) == []
    assert scanned(m.who_can("get", "", "secrets")) == []  # not cluster-wide


def test_non_resource_rules_only_count_cluster_wide():
    m = model(role("metrics", [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]),
              binding("m1", "metrics", [user("a")], ns="x"), binding("m2", "metrics", [user("b")]))
    holders = {g.subject.key for g in scanned(m.grants) if g.rule.allows_url("get", "/metrics")}
    assert holders == {"user:b"}


def test_groups_of_service_accounts_and_users():
    m = model(role("view-pods", [rule([""], ["pods"], ["list"])]),
              binding("all-sa", "view-pods", [group("system:serviceaccounts:ci")]))
    ci, other = Subject("ServiceAccount", "builder", "ci"), Subject("ServiceAccount", "x", "prod")
    assert [g.binding.name for g in scanned(m.grants_of(ci))] == ["all-sa"]
    assert scanned(m.grants_of(other)) == []
    assert Subject("User", "system:anonymous").groups() == ("system:unauthenticated",)


def test_serviceaccount_username_is_the_serviceaccount():
    m = model(role("r", [rule([""], ["pods"], ["get"])]),
              binding("b", "r", [user("system:serviceaccount:ci:builder")]))
    assert scanned(m.grants_of(Subject("ServiceAccount", "builder", "ci")))
    assert parse_subject("sa:ci:builder") == Subject("ServiceAccount", "builder", "ci")
    assert parse_subject("user:jane").key == "user:jane"
    with pytest.raises(ValueError):
        parse_subject("jane")


def test_aggregation_by_labels_and_expressions_nested():
    m = model(
        role("crd-edit", [rule(["example.com"], ["widgets"], ["create"])],
             labels={"rbac.authorization.k8s.io/aggregate-to-edit": "true"}),
        role("team-view", [rule([""], ["configmaps"], ["get"])], labels={"team": "a", "tier": "view"}),
        role("team-other", [rule([""], ["secrets"], ["get"])], labels={"team": "b"}),
        role("team-agg", [], aggregate=[{"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]},
                                                              {"key": "tier", "operator": "Exists"}]}]),
        binding("admin-jane", "admin", [user("jane")], ns="dev"),
        binding("agg", "team-agg", [user("bob")]),
    )
    # admin <- edit <- crd-edit: a CRD's role flows into the built-in admin role
    assert [g.subject.key for g in scanned(m.who_can("create", "example.com", "widgets", namespace="dev"))] == ["user:jane"]
    assert scanned(m.who_can("get", "", "configmaps")) and not scanned(m.who_can("get", "", "secrets", name="x"))
    assert m.cluster_roles["team-agg"].aggregated_from == ["team-view"]


def test_aggregation_cycle_does_not_hang():
    m = model(role("a", [rule([""], ["pods"], ["get"])], labels={"x": "1"}, aggregate=[{"matchLabels": {"y": "1"}}]),
              role("b", [rule([""], ["secrets"], ["get"])], labels={"y": "1"},
                   aggregate=[{"matchLabels": {"x": "1"}}]),
              binding("ba", "a", [user("u")]))
    assert scanned(m.who_can("get", "", "secrets", name="s"))


def test_missing_roles_and_malformed_rules_are_issues_not_crashes():
    m = model("""
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata: {name: broken, namespace: app}
        rules:
          - "get everything"
          - {apiGroups: [""], resources: pods, verbs: [get]}
          - {apiGroups: [""], resources: [configmaps], verbs: [get]}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata: {name: ghost, namespace: app}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: missing}
        subjects: [{kind: User, name: jane}]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata: {name: odd}
        roleRef: {kind: Role, name: broken}
        subjects: "jane"
        """, type_checked=False)
    messages = [i.message for i in m.issues]
    assert any("rules[0] is not a mapping" in t for t in messages)
    assert any("rules[1].resources must be a list" in t for t in messages)
    assert any("'missing'" in t and "not in the scanned objects" in t for t in messages)
    assert any("ClusterRoleBinding can only reference a ClusterRole" in t for t in messages)
    assert len(m.roles[("app", "broken")].rules) == 1  # the good rule survives
    assert all(i.line for i in m.issues)


def test_bootstrap_roles_referenced_but_absent_are_known():
    m = model(binding("v", "view", [user("jane")], ns="dev"), binding("s", "system:kube-dns", [sa("dns", "x")]),
              binding("ext", "extension-apiserver-authentication-reader", [sa("adapter", "mon")], ns="kube-system",
                      role_kind="Role"))
    assert m.issues == []
    assert scanned(m.who_can("list", "apps", "deployments", namespace="dev"))
    assert not scanned(m.who_can("get", "", "secrets", namespace="dev", name="x"))  # view never reads Secrets


def test_malformed_aggregation_selector_selects_nothing():
    m = model(role("agg", [], aggregate=[{"matchLabels": ["a"]}, {"matchExpressions": [{"key": "a",
                                                                                        "operator": "Near"}]}]),
              role("other", [rule([""], ["secrets"], ["list"])], labels={"a": "b"}),
              binding("b", "agg", [user("u")]), type_checked=False)
    assert m.cluster_roles["agg"].rules == []
    assert sum("aggregationRule" in i.message for i in m.issues) == 2


def test_unnamespaced_install_manifests_go_where_minus_n_says_as_kubectl():
    from rbac_helpers import deployment, service_account, to_yaml

    from kubeharden.analysis.rbac import model_for
    from kubeharden.engine.evaluator import build_inventory
    from kubeharden.sources.files import parse_text
    dep = deployment("server", None, "server")
    del dep["metadata"]["namespace"]
    acct = service_account("server", None)
    del acct["metadata"]["namespace"]
    text = to_yaml(acct, dep, binding("server", "cluster-admin", [sa("server", "argocd")]))
    # without -n: in `default`, as kubectl would apply them, with a warning that names argocd
    inventory, problems = build_inventory(parse_text(text, "install.yaml"))
    assert model_for(inventory).account_of(inventory.pods[0]) == Subject("ServiceAccount", "server", "default")
    assert [(p.level, p.kind) for p in problems] == [("warning", "namespace")]
    assert "-n argocd" in problems[0].message
    # with -n argocd: where the bindings point, and nothing to warn about
    inventory, problems = build_inventory(parse_text(text, "install.yaml", namespace="argocd"))
    assert model_for(inventory).account_of(inventory.pods[0]) == Subject("ServiceAccount", "server", "argocd")
    assert not problems
