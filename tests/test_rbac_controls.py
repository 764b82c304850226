"""RBAC controls over whole RBAC sets: failing and passing sets, bootstrap roles, a normal scan."""

from __future__ import annotations

import pytest

from conftest import scan
from rbac_helpers import binding, deployment, group, role, rule, sa, service_account, to_yaml, user

RBAC = "rbac.authorization.k8s.io"


def findings(control, *objects):
    found, result = scan(to_yaml(*objects), only=[control])
    assert not [p for p in result.problems if p.level == "error"]
    return [f for f in found if f.control.id == control]


def bound(name, rules, ns=None):
    return [role(name, rules, ns=ns), binding(name, name, [sa("app", ns or "app")], ns=ns,
                                              role_kind="Role" if ns else "ClusterRole")]


CLUSTER = None  # cluster-scoped resources: a ClusterRole bound by a ClusterRoleBinding


@pytest.mark.parametrize("control, bad, good, ns", [
    ("KH-RBAC-002", [rule(["*"], ["pods"], ["get"])], [rule([""], ["pods"], ["get"])], "app"),
    ("KH-RBAC-003", [rule([""], ["*"], ["watch"])], [rule([""], ["secrets"], ["get"], names=["tls"])], "app"),
    ("KH-RBAC-004", [rule([""], ["pods/attach"], ["get"])], [rule([""], ["pods/log"], ["get"])], "app"),
    ("KH-RBAC-004", [rule([""], ["pods/portforward"], ["create"])], [rule([""], ["pods"], ["create"])], "app"),
    ("KH-RBAC-005", [rule(["apps"], ["statefulsets"], ["create"])], [rule(["apps"], ["statefulsets/scale"], ["patch"])],
     "app"),
    ("KH-RBAC-005", [rule(["apps"], ["deployments"], ["patch"], names=["web"])],
     [rule(["apps"], ["deployments"], ["get", "list", "watch"])], "app"),
    ("KH-RBAC-005", [rule([""], ["pods"], ["deletecollection"])], [rule([""], ["pods"], ["create"], names=["x"])], "app"),
    ("KH-RBAC-006", [rule([RBAC], ["roles"], ["escalate"])], [rule([RBAC], ["roles"], ["get", "create"])], "app"),
    ("KH-RBAC-007", [rule([""], ["serviceaccounts"], ["impersonate"])], [rule([""], ["serviceaccounts"], ["get"])],
     "app"),
    ("KH-RBAC-007", [rule([""], ["users"], ["impersonate"])], [rule([""], ["serviceaccounts"], ["get"])], CLUSTER),
    ("KH-RBAC-008", [rule([""], ["nodes/*"], ["get"]) | {"resources": ["*"]}], [rule([""], ["nodes"], ["get"])],
     CLUSTER),
    ("KH-RBAC-009", [rule(["certificates.k8s.io"], ["signers"], ["approve"]),
                     rule(["certificates.k8s.io"], ["certificatesigningrequests/approval"], ["update"])],
     [rule(["certificates.k8s.io"], ["signers"], ["approve"])], CLUSTER),
    ("KH-RBAC-010", [rule(["admissionregistration.k8s.io"], ["validatingwebhookconfigurations"], ["delete"])],
     [rule(["admissionregistration.k8s.io"], ["validatingwebhookconfigurations"], ["patch"], names=["mine"])], CLUSTER),
    ("KH-RBAC-011", [rule([""], ["serviceaccounts/token"], ["create"], names=["builder"])],
     [rule([""], ["serviceaccounts"], ["create"])], "app"),
    ("KH-RBAC-012", [rule([""], ["persistentvolumes"], ["*"])], [rule([""], ["persistentvolumeclaims"], ["create"])],
     CLUSTER),
    ("KH-RBAC-012", [rule([""], ["persistentvolumes"], ["patch"])], [rule([""], ["persistentvolumes"], ["get"])],
     CLUSTER),
    ("KH-RBAC-023", [rule(["events.k8s.io"], ["events"], ["deletecollection"])],
     [rule(["", "events.k8s.io"], ["events"], ["create", "patch"])], "app"),
    ("KH-RBAC-024", [rule(["networking.k8s.io"], ["networkpolicies"], ["update"])],
     [rule(["networking.k8s.io"], ["networkpolicies"], ["get", "list"])], "app"),
    ("KH-RBAC-025", [rule([""], ["services/status"], ["patch"])], [rule([""], ["services"], ["patch"])], "app"),
])
def test_rule_controls(control, bad, good, ns):
    hits = findings(control, *bound("r", bad, ns=ns))
    assert len(hits) == 1
    assert hits[0].resource.kind == ("Role" if ns else "ClusterRole") and hits[0].line is not None
    via = "RoleBinding r in namespace app" if ns else "ClusterRoleBinding r cluster-wide"
    assert f"serviceaccount:app:app via {via}" in hits[0].message
    assert findings(control, *bound("r", good, ns=ns)) == []


def test_one_finding_per_role_naming_each_rule():
    hits = findings("KH-RBAC-003", *bound("r", [rule([""], ["secrets"], ["list"]),
                                                rule([""], ["configmaps", "secrets"], ["watch"])]))
    assert len(hits) == 1 and hits[0].message.count("rule:") == 2


def test_bootstrap_and_aggregated_roles_are_not_reported():
    objs = [role("system:controller:job-controller", [rule(["*"], ["*"], ["*"])],
                 labels={"kubernetes.io/bootstrapping": "rbac-defaults"}),
            role("agg", [], aggregate=[{"matchLabels": {"a": "b"}}]),
            role("part", [rule([""], ["secrets"], ["list"])], labels={"a": "b"})]
    assert [f.resource.name for f in findings("KH-RBAC-003", *objs)] == ["part"]
    assert findings("KH-RBAC-002", *objs) == []


def test_cluster_admin_bindings():
    assert findings("KH-RBAC-001", binding("cluster-admin", "cluster-admin", [group("system:masters")])) == []
    hits = findings("KH-RBAC-001", binding("ops", "cluster-admin", [user("jane")], ns="ops"))
    assert "in namespace ops" in hits[0].message
    equivalent = findings("KH-RBAC-001", role("root", [rule(["*"], ["*"], ["*"])]),
                          binding("root", "root", [sa("ci", "build")]))
    assert "cluster-admin equivalent" in equivalent[0].message


def test_anonymous_grants_and_the_informational_default():
    default = binding("system:public-info-viewer", "system:public-info-viewer",
                      [group("system:authenticated"), group("system:unauthenticated")])
    assert findings("KH-RBAC-013", default) == []
    info = findings("KH-RBAC-014", default)
    assert len(info) == 1 and info[0].severity.label == "info" and "Kubernetes default" in info[0].message
    bad = findings("KH-RBAC-013", binding("anon", "view", [user("system:anonymous")], ns="web"))
    assert bad and bad[0].severity.label == "critical"


def test_everyone_and_default_service_account_and_masters():
    assert findings("KH-RBAC-015", binding("system:discovery", "system:discovery",
                                           [group("system:authenticated")])) == []
    assert findings("KH-RBAC-015", binding("all", "edit", [group("system:serviceaccounts")]))
    assert findings("KH-RBAC-016", binding("d", "view", [sa("default", "web")], ns="web"))
    assert findings("KH-RBAC-016", binding("d", "view", [sa("web", "web")], ns="web")) == []
    assert findings("KH-RBAC-017", binding("m", "view", [group("system:masters")]))


def test_workload_token_risk_names_the_permissions():
    objs = [service_account("api", "app"), deployment("api", "app", "api"),
            *bound("r", [rule([""], ["pods/exec"], ["create"])], ns="app")]
    objs[-1]["subjects"] = [sa("api", "app")]
    hits = findings("KH-RBAC-019", *objs)
    assert len(hits) == 1 and hits[0].resource.kind == "Deployment"
    assert "run commands in or connect to running containers (app)" in hits[0].message
    objs[0]["automountServiceAccountToken"] = False  # the ServiceAccount opts out and the pod does not override
    assert findings("KH-RBAC-019", *objs) == []


def test_unresolved_binding_and_path_controls_in_a_normal_scan():
    objs = [binding("ghost", "nope", [user("jane")], ns="app", role_kind="Role"),
            service_account("operator", "ops"), binding("op", "cluster-admin", [sa("operator", "ops")]),
            role("dev", [rule([""], ["pods"], ["create"])], ns="ops"),
            binding("dev", "dev", [user("jane")], ns="ops", role_kind="Role")]
    found, _ = scan(to_yaml(*objs))
    by_id = {f.control.id: f for f in found}
    assert "nope" in by_id["KH-RBAC-020"].message
    path = by_id["KH-RBAC-021"]
    assert path.message.startswith("user:jane can reach cluster-admin in 2 steps")
    assert path.resource.name == "dev" and path.line is not None


def test_hostile_rbac_objects_are_reported_and_the_rest_is_scanned():
    text = """
    apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRole
    metadata: {name: weird}
    rules: "everything"
    aggregationRule: {clusterRoleSelectors: 7}
    ---
    apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRoleBinding
    metadata: {name: odd}
    roleRef: [ClusterRole, weird]
    subjects: 12
    ---
    apiVersion: rbac.authorization.k8s.io/v1
    kind: RoleBinding
    metadata: {name: subjects, namespace: a}
    roleRef: {kind: ClusterRole, name: view}
    subjects: [{kind: Robot, name: r2}, {kind: User}, {kind: User, name: system:anonymous}]
    ---
    apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRoleBinding
    metadata: {name: root}
    roleRef: {kind: ClusterRole, name: cluster-admin}
    subjects: [{kind: User, name: jane}]
    """
    found, result = scan(text)
    unresolved = [f.message for f in found if f.control.id == "KH-RBAC-020"]
    # values of the wrong type make the API server refuse the object: reported as invalid, not analysed
    invalid = [p.message for p in result.problems if p.kind == "invalid-object"]
    assert any(m.startswith("rules is a string") for m in invalid)
    assert any(m.startswith("roleRef is a list") for m in invalid)
    assert any(m.startswith("subjects is a number") for m in invalid)
    assert any("kind is 'Robot'" in m for m in unresolved)
    assert any("subjects[1] has no name" in m for m in unresolved)
    assert {"KH-RBAC-001", "KH-RBAC-013"} <= {f.control.id for f in found}


# -- a grant that puts every user one step from cluster-admin is as severe as a cluster-admin binding ---------

BIND_AND_CREATE = [rule([RBAC], ["clusterroles"], ["bind"]), rule([RBAC], ["clusterrolebindings"], ["create"])]


def _everyone(*objects):
    return {(f.resource.name, f.severity.label): f.message for f in findings("KH-RBAC-015", *objects)}


@pytest.mark.parametrize("who", ["system:authenticated", "system:serviceaccounts"])
def test_bind_and_create_clusterrolebindings_for_everyone_is_critical(who):
    found = _everyone(role("binder", BIND_AND_CREATE), binding("all-bind", "binder", [group(who)]))
    (key,) = found
    assert key == ("all-bind", "critical")
    assert (f"every member of group:{who} is one step from cluster-admin: can bind ClusterRoles and create "
            "ClusterRoleBindings") in found[key]


def test_escalate_on_a_clusterrole_bound_to_everyone_is_critical():
    # escalate + update on the ClusterRole bound to the group: anyone can add every rule to it
    escalator = role("grow", [rule([RBAC], ["clusterroles"], ["escalate", "update", "get"])])
    found = _everyone(escalator, binding("all-grow", "grow", [group("system:authenticated")]))
    assert list(found) == [("all-grow", "critical")]


@pytest.mark.parametrize(("names", "severity"), [(["grow"], "critical"), (["unused-role"], "high")])
def test_escalate_limited_by_resource_names_is_one_step_only_through_a_role_the_group_holds(names, severity):
    # escalate + update reach cluster-admin by growing a role bound to the subject; limited by resourceNames to a
    # role it does not hold, they grow nothing it can use
    escalator = role("grow", [rule([RBAC], ["clusterroles"], ["escalate", "update"], names)])
    found = _everyone(escalator, binding("all-grow", "grow", [group("system:authenticated")]))
    assert list(found) == [("all-grow", severity)]


def test_the_two_halves_in_two_bindings_raise_both():
    found = _everyone(role("binder", BIND_AND_CREATE[:1]), role("maker", BIND_AND_CREATE[1:]),
                      binding("all-bind", "binder", [group("system:authenticated")]),
                      binding("all-make", "maker", [group("system:authenticated")]))
    assert sorted(found) == [("all-bind", "critical"), ("all-make", "critical")]


def test_halves_granted_to_system_authenticated_and_system_serviceaccounts_meet_in_every_serviceaccount():
    # every ServiceAccount is in both groups ("Authenticating"), so it holds bind and create together
    found = _everyone(role("binder", BIND_AND_CREATE[:1]), role("maker", BIND_AND_CREATE[1:]),
                      binding("all-bind", "binder", [group("system:authenticated")]),
                      binding("sa-make", "maker", [group("system:serviceaccounts")]))
    assert sorted(found) == [("all-bind", "critical"), ("sa-make", "critical")]
    assert all("every member of group:system:serviceaccounts is one step" in m for m in found.values())


@pytest.mark.parametrize("rules, how", [
    ([rule([""], ["users", "groups"], ["impersonate"])], "group system:masters"),
    ([rule([""], ["*"], ["impersonate"])], "group system:masters"),
    ([rule([RBAC], ["clusterrolebindings"], ["patch"]), rule([RBAC], ["clusterroles"], ["bind"])],
     "patch ClusterRoleBinding cluster-admin"),
    ([rule([RBAC], ["clusterrolebindings"], ["update"]), rule([RBAC], ["*"], ["bind"])],
     "patch ClusterRoleBinding cluster-admin"),
])
@pytest.mark.parametrize("who", ["system:authenticated", "system:serviceaccounts"])
def test_impersonation_and_joining_the_cluster_admin_binding_for_everyone_are_critical(rules, how, who):
    found = _everyone(role("step", rules), binding("all-step", "step", [group(who)]))
    assert list(found) == [("all-step", "critical")]
    assert how in found[("all-step", "critical")]


@pytest.mark.parametrize("objects", [
    # only half of the step: bind without creating ClusterRoleBindings, or the reverse
    [role("binder", BIND_AND_CREATE[:1]), binding("all-bind", "binder", [group("system:authenticated")])],
    [role("maker", BIND_AND_CREATE[1:]), binding("all-make", "maker", [group("system:authenticated")])],
    # reading everything is a broad grant, not a step to cluster-admin
    [binding("all-view", "view", [group("system:authenticated")])],
    # groups cannot be impersonated without a user; users alone reach no user of the input one step from admin
    [role("groups", [rule([""], ["groups"], ["impersonate"])]),
     binding("all-groups", "groups", [group("system:authenticated")])],
    [role("users", [rule([""], ["users"], ["impersonate"])]),
     binding("all-users", "users", [group("system:authenticated")])],
])
def test_other_grants_to_everyone_stay_high(objects):
    found = _everyone(*objects)
    assert found and all(severity == "high" for _, severity in found)
    assert not any("one step from cluster-admin" in m for m in found.values())


def test_the_binders_user_is_no_broad_group_and_a_configured_severity_still_wins():
    assert _everyone(role("binder", BIND_AND_CREATE), binding("jane-bind", "binder", [user("jane")])) == {}
    text = to_yaml(role("binder", BIND_AND_CREATE), binding("all-bind", "binder", [group("system:authenticated")]))
    found, _ = scan(text, {"controls": {"severity": {"KH-RBAC-015": "medium"}}}, only=["KH-RBAC-015"])
    assert [f.severity.label for f in found] == ["medium"]


def test_grants_to_unauthenticated_users_are_critical_already():
    (f,) = findings("KH-RBAC-013", role("binder", BIND_AND_CREATE),
                    binding("anon-bind", "binder", [group("system:unauthenticated")]))
    assert f.severity.label == "critical"


def test_every_member_of_a_group_but_the_unauthenticated_one_is_also_in_system_authenticated():
    from kubeharden.analysis.rbac import Subject

    assert Subject("Group", "devs").groups() == ("system:authenticated",)
    assert Subject("Group", "system:serviceaccounts:shop").groups() == ("system:serviceaccounts",
                                                                        "system:authenticated")
    assert Subject("Group", "system:unauthenticated").groups() == ()
    assert Subject("Group", "system:authenticated").groups() == ()


@pytest.mark.parametrize("role_name", ["admin", "edit"])
def test_admin_or_edit_in_kube_system_for_everyone_is_critical(role_name):
    # edit (and admin, which aggregates it) may impersonate the ServiceAccounts of kube-system; every cluster's
    # default binding gives kube-system/clusterrole-aggregation-controller escalate and update on ClusterRoles
    found = _everyone(binding("sa-kube-system", role_name, [group("system:serviceaccounts")], ns="kube-system"))
    assert list(found) == [("sa-kube-system", "critical")]
    assert "serviceaccount:kube-system:clusterrole-aggregation-controller" in found[("sa-kube-system", "critical")]
    # view reads no Secrets and impersonates nobody: broad, not one step
    assert list(_everyone(binding("sa-view", "view", [group("system:serviceaccounts")], ns="kube-system"))) == \
        [("sa-view", "high")]
    # in an ordinary namespace edit reaches only that namespace's accounts
    assert list(_everyone(binding("sa-app", "edit", [group("system:serviceaccounts")], ns="app"))) == \
        [("sa-app", "high")]
