"""Second review of issue 9's RBAC items: risk controls judge only what a rule grants, a Namespace named
in a Role, the built-in default bindings, and the wording of not-assessed and reconciled roles.

Manifests are written here from "Using RBAC Authorization" (RoleBinding and ClusterRoleBinding, Default
roles and role bindings, Auto-reconciliation, Core component roles) and the API server's request info
(``k8s.io/apiserver/pkg/endpoints/request/requestinfo.go``: a Namespace request's namespace is its name).
"""

from __future__ import annotations

import json

from conftest import scan
from rbac_helpers import binding, model, role, rule, sa, scanned, to_yaml, user

from kubeharden.cli import main

DEFAULTS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
NO_AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "false"}


def findings(control, *objects):
    found, result = scan(to_yaml(*objects), only=[control])
    assert not [p for p in result.problems if p.level == "error"]
    return [f for f in found if f.control.id == control]


def in_role(rules, ns="app"):
    return [role("r", rules, ns=ns), binding("r", "r", [user("jane")], ns=ns, role_kind="Role")]


# -- 1. risk controls skip the part of a rule that grants nothing ---------------------------------------


def test_a_wildcard_verb_on_a_cluster_scoped_resource_in_a_role_is_ineffective_not_a_wildcard_risk():
    objs = in_role([rule([""], ["nodes/proxy"], ["*"])])
    assert findings("KH-RBAC-002", *objs) == []
    info = findings("KH-RBAC-022", *objs)
    assert len(info) == 1 and "nodes/proxy" in info[0].message
    # the same rule in a ClusterRole bound cluster-wide grants it: the wildcard is the risk there
    cluster = [role("r", [rule([""], ["nodes/proxy"], ["*"])]), binding("r", "r", [user("jane")])]
    assert len(findings("KH-RBAC-002", *cluster)) == 1
    assert findings("KH-RBAC-022", *cluster) == []


def test_a_partly_effective_rule_keeps_its_effective_part():
    hits = findings("KH-RBAC-002", *in_role([rule([""], ["nodes/proxy", "pods"], ["*"])]))
    assert len(hits) == 1
    assert "pods" in hits[0].message and "nodes/proxy" not in hits[0].message


def test_a_wildcard_rule_on_a_resource_that_does_not_exist_is_only_ineffective():
    objs = [role("r", [rule([""], ["pod"], ["*"])]), binding("r", "r", [user("jane")])]
    assert findings("KH-RBAC-002", *objs) == []
    assert "no resource 'pod'" in findings("KH-RBAC-022", *objs)[0].message


def test_the_workload_token_summary_ignores_ineffective_parts():
    from rbac_helpers import deployment
    objs = in_role([rule([""], ["persistentvolumes"], ["create"])]) + [
        binding("app", "r", [sa("runner", "app")], ns="app", role_kind="Role"), deployment("web", "app", "runner")]
    assert findings("KH-RBAC-019", *objs) == []


# -- 2. a Namespace named in a namespaced grant ---------------------------------------------------------


def test_a_role_naming_another_namespace_grants_nothing():
    objs = in_role([rule([""], ["namespaces"], ["delete"], names=["other"])])
    info = findings("KH-RBAC-022", *objs)
    assert len(info) == 1 and "other" in info[0].message and info[0].severity.label == "info"
    m = model(*objs)
    assert scanned(m.who_can("delete", "", "namespaces", namespace="app", name="other")) == []
    # naming its own namespace is effective, and so is a ClusterRole bound by a RoleBinding there
    assert findings("KH-RBAC-022", *in_role([rule([""], ["namespaces"], ["delete"], names=["app"])])) == []
    assert findings("KH-RBAC-022", role("c", [rule([""], ["namespaces"], ["delete"], names=["app"])]),
                    binding("c", "c", [user("jane")], ns="app")) == []
    assert findings("KH-RBAC-022", role("c", [rule([""], ["namespaces"], ["delete"], names=["other"])]),
                    binding("c", "c", [user("jane")], ns="app"))
    # cluster-wide, any name applies
    assert findings("KH-RBAC-022", role("c", [rule([""], ["namespaces"], ["delete"], names=["other"])]),
                    binding("c", "c", [user("jane")])) == []


def test_a_role_naming_another_namespace_with_a_cluster_wide_verb_too_grants_nothing():
    objs = in_role([rule([""], ["namespaces"], ["get", "list"], names=["other"])])
    info = findings("KH-RBAC-022", *objs)
    assert len(info) == 1 and "names other" in info[0].message
    assert findings("KH-RBAC-002", *in_role([rule([""], ["namespaces"], ["*"], names=["other"])])) == []


def test_a_role_naming_its_own_and_another_namespace_reports_the_other_name_only():
    info = findings("KH-RBAC-022", *in_role([rule([""], ["namespaces"], ["get"], names=["app", "other"])]))
    assert len(info) == 1 and "names other:" in info[0].message and "names app:" not in info[0].message


def test_a_wildcard_on_another_namespace_is_ineffective_not_a_wildcard_risk():
    objs = in_role([rule([""], ["namespaces"], ["*"], names=["other"])])
    assert findings("KH-RBAC-002", *objs) == []
    assert findings("KH-RBAC-022", *objs)


# -- 4. wording ---------------------------------------------------------------------------------------


def test_system_node_bound_to_someone_says_no_subject_without_only():
    message = findings("KH-RBAC-028", binding("b", "system:node", [user("bob")]))[0].message
    assert "no subject (the Node authorizer serves the kubelets):" in message
    assert "only" not in message.split("Kubernetes binds it to")[1]


def test_an_autoupdate_false_copy_says_its_own_rules_are_used():
    copy = role("system:kube-controller-manager", [rule([""], ["secrets"], ["get"])], labels=dict(DEFAULTS))
    copy["metadata"]["annotations"] = dict(NO_AUTOUPDATE)
    message = findings("KH-RBAC-028", copy, binding("b", "system:kube-controller-manager", [user("x")]))[0].message
    assert "rules of the scanned copy" in message and "(rules of the Kubernetes bootstrap policy)" not in message
    builtin = findings("KH-RBAC-028", binding("b", "system:kube-controller-manager", [user("x")]))[0].message
    assert "(rules of the Kubernetes bootstrap policy)" in builtin


# -- 3. the built-in default bindings ------------------------------------------------------------------


def kcm_to_robot():
    return binding("robot-kcm", "system:kube-controller-manager", [sa("robot", "app")])


def test_paths_use_the_default_binding_of_the_aggregation_controller(capsys, tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text(to_yaml(kcm_to_robot()))
    assert main(["rbac", "paths", "--all", "--from", "serviceaccount:app:robot", "-f", "json", str(path)]) == 0
    paths = json.loads(capsys.readouterr().out)["paths"]
    to_admin = [p for p in paths if p["to"] == "goal:cluster-admin"]
    assert to_admin, paths
    hops = [step["to"] for step in to_admin[0]["steps"]]
    assert "serviceaccount:kube-system:clusterrole-aggregation-controller" in hops
    assert any(g["builtin"] and g["binding"] == "ClusterRoleBinding/system:controller:clusterrole-aggregation-controller"
               for step in to_admin[0]["steps"] for g in step["grants"])


def test_who_can_and_can_see_default_bindings_and_the_scan_reports_none_of_them(capsys, tmp_path):
    m = model(kcm_to_robot())
    holders = {g.subject.key for g in m.who_can("escalate", "rbac.authorization.k8s.io", "clusterroles")}
    assert holders == {"serviceaccount:kube-system:clusterrole-aggregation-controller", "group:system:masters"}
    path = tmp_path / "f.yaml"
    path.write_text(to_yaml(kcm_to_robot()))
    assert main(["rbac", "can", "sa:kube-system:clusterrole-aggregation-controller", "-f", "json", str(path)]) == 0
    rules = json.loads(capsys.readouterr().out)["rules"]
    assert any("escalate" in r["rule"] and r["builtin"] for r in rules)
    found, _ = scan(to_yaml(kcm_to_robot()))
    rbac = [f for f in found if f.control.id.startswith("KH-RBAC")]
    assert rbac and all(f.file for f in rbac)  # every finding is on a scanned object
    assert not {"KH-RBAC-001", "KH-RBAC-017", "KH-RBAC-014"} & {f.control.id for f in rbac}
    # the scan's escalation path agrees with rbac paths: robot reaches cluster-admin through the default binding
    path = [f for f in rbac if f.control.id == "KH-RBAC-021"]
    assert len(path) == 1 and "clusterrole-aggregation-controller" in path[0].message and "robot" in path[0].message


def test_a_binding_of_the_default_name_in_the_input_replaces_the_built_in_one():
    own = binding("system:controller:clusterrole-aggregation-controller",
                  "system:controller:clusterrole-aggregation-controller", [])
    own["metadata"]["annotations"] = dict(NO_AUTOUPDATE)
    m = model(own)
    assert [g.subject.key for g in m.who_can("escalate", "rbac.authorization.k8s.io", "clusterroles")] == \
        ["group:system:masters"]


def test_can_says_a_held_default_role_whose_rules_are_not_carried_is_not_assessed(capsys, tmp_path):
    path = tmp_path / "bob.yaml"
    path.write_text(to_yaml(binding("bob-node", "system:node", [user("bob")])))
    assert main(["rbac", "can", "user:bob", str(path)]) == 0
    table = capsys.readouterr().out  # the table wraps the note inside its cell
    assert "holds system:node" in table and "assessed" in table and "ClusterRoleBinding/bob-node" in table
    assert "(nothing)" not in table
    assert main(["rbac", "can", "user:bob", "-f", "json", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(n["binding"], n["role"]) for n in data["not_assessed"]] == [("ClusterRoleBinding/bob-node", "system:node")]
    # someone else holds nothing of it
    assert main(["rbac", "can", "user:alice", "-f", "json", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["not_assessed"] == []
