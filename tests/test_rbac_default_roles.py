"""Review fixes of issue 9 (RBAC items 1-5): every default role is known, defaults need name *and*
label, Namespace requests carry their own name as namespace, wildcard verbs on cluster-scoped resources.

Manifests are written here from "Using RBAC Authorization" (Default roles and role bindings, Core
component roles, Controller roles) and the bootstrap policy; each case has a failing and a passing twin.
"""

from __future__ import annotations

import json

import yaml

from conftest import scan
from rbac_helpers import binding, model, role, rule, sa, scanned, scanned_json, to_yaml, user

from kubeharden.analysis.rbac_defaults import CONTROL_PLANE_ROLES, DEFAULT_CLUSTER_ROLE_NAMES, \
    UNCARRIED_CLUSTER_ROLES
from kubeharden.cli import main
from kubeharden.detect.rules import builtin_rule_files

DEFAULTS = {"kubernetes.io/bootstrapping": "rbac-defaults"}


def findings(control, *objects):
    found, result = scan(to_yaml(*objects), only=[control])
    assert not [p for p in result.problems if p.level == "error"]
    return [f for f in found if f.control.id == control]


def labelled(obj):
    obj["metadata"]["labels"] = dict(DEFAULTS)
    return obj


# -- 1. bindings to default roles kubeharden did not carry -------------------------------------


def test_control_plane_roles_bound_to_other_subjects_are_reported():
    for name, subject in (("system:kube-controller-manager", user("x")),
                          ("system:controller:clusterrole-aggregation-controller", sa("ci", "app")),
                          ("system:node", sa("app", "app")), ("system:kube-scheduler", user("x"))):
        hits = findings("KH-RBAC-028", binding("b", name, [subject]))
        assert len(hits) == 1, name
        assert name in hits[0].message and hits[0].control.severity.label == "high"


def test_a_default_binding_with_an_extra_subject_reports_only_the_extra_one():
    job = labelled(binding("system:controller:job-controller", "system:controller:job-controller",
                           [sa("job-controller", "kube-system"), sa("attacker", "app")]))
    hits = findings("KH-RBAC-028", job)
    assert len(hits) == 1 and "serviceaccount:app:attacker" in hits[0].message
    assert "serviceaccount:kube-system:job-controller" not in hits[0].message.split("Kubernetes binds")[0]
    assert "not assessed" in hits[0].message  # job-controller's rules are not carried


def test_a_snapshot_copy_of_the_role_does_not_hide_the_binding():
    copy = labelled(role("system:kube-controller-manager", [rule([""], ["secrets"], ["get"])]))
    hits = findings("KH-RBAC-028", copy, binding("b", "system:kube-controller-manager", [user("x")]))
    assert len(hits) == 1 and "user:x" in hits[0].message


def test_the_default_bindings_as_shipped_are_quiet():
    objs = [labelled(binding("system:controller:job-controller", "system:controller:job-controller",
                             [sa("job-controller", "kube-system")])),
            labelled(binding("system:kube-controller-manager", "system:kube-controller-manager",
                             [user("system:kube-controller-manager")]))]
    assert findings("KH-RBAC-028", *objs) == []
    assert findings("KH-RBAC-029", *objs) == []
    assert findings("KH-RBAC-020", *objs) == []


def test_carried_rules_make_paths_and_can_answer(capsys, tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text(to_yaml(binding("agg", "system:controller:clusterrole-aggregation-controller", [user("x")]),
                            binding("kcm", "system:kube-controller-manager", [sa("ci", "app")])))
    assert main(["rbac", "can", "user:x", "-f", "json", str(path)]) == 0
    rules = json.loads(capsys.readouterr().out)["rules"]
    assert any("escalate" in r["rule"] and "clusterroles" in r["rule"] for r in rules)
    m = model(binding("agg", "system:controller:clusterrole-aggregation-controller", [user("x")]),
              binding("kcm", "system:kube-controller-manager", [sa("ci", "app")]))
    assert scanned(m.who_can("escalate", "rbac.authorization.k8s.io", "clusterroles"))
    assert any(g.subject.name == "ci" for g in scanned(m.who_can("list", "", "secrets")))
    hits = findings("KH-RBAC-028", binding("kcm", "system:kube-controller-manager", [sa("ci", "app")]))
    assert "can read Secrets" in hits[0].message
    assert main(["rbac", "paths", "-f", "json", str(path)]) == 0
    starts = {p["from"] for p in json.loads(capsys.readouterr().out)["paths"]}
    assert {"user:x", "serviceaccount:app:ci"} <= starts


def test_uncarried_default_roles_are_said_to_be_not_assessed():
    hits = findings("KH-RBAC-029", binding("dns", "system:kube-dns", [sa("app", "app")]))
    assert len(hits) == 1 and "not assessed" in hits[0].message
    assert findings("KH-RBAC-029", binding("v", "view", [sa("app", "app")])) == []
    # an unknown system: name is neither silent nor a default
    issues = findings("KH-RBAC-020", binding("f", "system:not-a-default", [user("x")]))
    assert len(issues) == 1 and "not a Kubernetes default" in issues[0].message


def test_default_names_cover_the_documented_roles_and_agree_with_the_audit_pack():
    for name in ("system:kube-controller-manager", "system:kube-scheduler", "system:node", "system:node-proxier",
                 "system:volume-scheduler", "system:controller:job-controller", "system:auth-delegator",
                 "system:kube-dns", "system:kubelet-api-admin", "cluster-admin", "admin", "edit", "view"):
        assert name in DEFAULT_CLUSTER_ROLE_NAMES
    assert "system:kube-controller-manager" not in UNCARRIED_CLUSTER_ROLES
    common = yaml.safe_load(next(p for p in builtin_rule_files() if p.name == "00-common.yaml").read_text())
    assert set(common["lists"]["cluster_control_roles"]) - {"cluster-admin"} == CONTROL_PLANE_ROLES


# -- 2. the label alone does not make a default -------------------------------------------------


def test_a_forged_label_exempts_nothing():
    evil = role("evil", [rule([""], ["secrets"], ["get", "list"])], labels=dict(DEFAULTS))
    assert len(findings("KH-RBAC-003", evil, binding("e", "evil", [sa("yy", "app")]))) == 1
    foo = role("system:controller:foo", [rule([""], ["pods/exec"], ["create"])], labels=dict(DEFAULTS))
    assert len(findings("KH-RBAC-004", foo, binding("f", "system:controller:foo", [user("x")]))) == 1
    assert findings("KH-RBAC-028", foo, binding("f", "system:controller:foo", [user("x")])) == []


def test_a_labelled_real_default_is_still_exempt():
    real = role("system:controller:job-controller", [rule([""], ["pods"], ["create", "delete"])],
                labels=dict(DEFAULTS))
    assert findings("KH-RBAC-005", real) == []


# -- 3. namespaces in a Role -------------------------------------------------------------------


def test_namespaces_in_a_role_grant_the_role_own_namespace(capsys, tmp_path):
    own = role("ns-admin", [rule([""], ["namespaces"], ["get", "update", "patch", "delete"])], ns="app")
    rb = binding("ns-admin", "ns-admin", [user("jane")], ns="app", role_kind="Role")
    assert findings("KH-RBAC-022", own, rb) == []
    listing = role("ns-list", [rule([""], ["namespaces"], ["get", "list", "watch", "create"])], ns="app")
    hits = findings("KH-RBAC-022", listing)
    assert len(hits) == 1 and "create,list,watch" in hits[0].message
    path = tmp_path / "ns.yaml"
    path.write_text(to_yaml(own, rb))
    assert main(["rbac", "who-can", "delete", "namespaces", "-n", "app", "-f", "json", str(path)]) == 0
    assert [s["subject"] for s in scanned_json(json.loads(capsys.readouterr().out)["subjects"])] == ["user:jane"]
    m = model(own, rb)
    assert scanned(m.who_can("delete", "", "namespaces", namespace="app", name="other")) == []
    assert scanned(m.who_can("delete", "", "namespaces")) == []  # not cluster-wide


# -- 4. wildcard verbs on cluster-scoped resources in a Role -----------------------------------


def test_wildcard_verbs_on_cluster_scoped_resources_in_a_role_are_ineffective():
    for resource in ("nodes/proxy", "persistentvolumes"):
        bad = role("r", [rule([""], [resource], ["*"])], ns="app")
        hits = findings("KH-RBAC-022", bad)
        assert len(hits) == 1 and resource in hits[0].message
        good = role("r", [rule([""], [resource], ["*"])])
        assert findings("KH-RBAC-022", good) == []
