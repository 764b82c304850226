"""RBAC semantics the API server decides: reconciliation of defaults, defaults by label, what a
namespaced grant can authorise, rules that name nothing, whole capabilities and invalid bindings.

Each test states a set of manifests that must fail and its fixed twin that must pass.
"""

from __future__ import annotations

import pytest

from conftest import scan
from rbac_helpers import binding, group, model, role, rule, sa, scanned, to_yaml, user

from kubeharden.analysis.rbac_resources import cluster_scoped_in, ineffective_entries, missing_reason

RBAC = "rbac.authorization.k8s.io"
DEFAULTS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
NO_AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "false"}


def findings(control, *objects):
    found, result = scan(to_yaml(*objects), only=[control])
    assert not [p for p in result.problems if p.level == "error"]
    return [f for f in found if f.control.id == control]


def annotated(obj, annotations):
    obj["metadata"]["annotations"] = annotations
    return obj


# -- 1. default roles are reconciled ----------------------------------------------------------


def test_a_weakened_cluster_admin_copy_does_not_hide_cluster_admin_bindings():
    weak = role("cluster-admin", [rule([""], ["pods"], ["get"])])
    grant = binding("ops", "cluster-admin", [user("jane")])
    hits = findings("KH-RBAC-001", weak, grant)
    assert len(hits) == 1 and "user:jane" in hits[0].message
    m = model(weak, grant)
    assert [g.subject.key for g in scanned(m.who_can("delete", "", "secrets", namespace="x"))] == ["user:jane"]


def test_autoupdate_false_keeps_the_scanned_copy_alone():
    weak = annotated(role("cluster-admin", [rule([""], ["pods"], ["get"])]), NO_AUTOUPDATE)
    grant = binding("ops", "cluster-admin", [user("jane")])
    assert findings("KH-RBAC-001", weak, grant) == []
    m = model(weak, grant)
    assert scanned(m.who_can("delete", "", "secrets", namespace="x")) == []
    assert [g.subject.key for g in scanned(m.who_can("get", "", "pods", namespace="x"))] == ["user:jane"]


def test_a_default_aggregated_role_without_its_selector_still_aggregates():
    # a dump of `edit` without aggregationRule and labels: reconciliation adds both back
    edit = role("edit", [rule([""], ["configmaps"], ["get"])])
    crd = role("widgets-edit", [rule(["example.com"], ["widgets"], ["create"])],
               labels={f"{RBAC}/aggregate-to-edit": "true"})
    m = model(edit, crd, binding("e", "admin", [user("jane")], ns="team"))
    assert [g.subject.key for g in scanned(m.who_can("create", "example.com", "widgets", namespace="team"))] == ["user:jane"]
    frozen = annotated(role("edit", [rule([""], ["configmaps"], ["get"])]), NO_AUTOUPDATE)
    m = model(frozen, crd, binding("e", "edit", [user("jane")], ns="team"))
    assert scanned(m.who_can("create", "example.com", "widgets", namespace="team")) == []


def test_a_copy_of_a_default_is_judged_on_the_rules_it_adds():
    default_rules = [rule([""], ["pods", "pods/exec"], ["create", "delete", "deletecollection", "patch", "update"])]
    copy = role("system:aggregate-to-edit", default_rules, labels={f"{RBAC}/aggregate-to-edit": "true"})
    assert findings("KH-RBAC-004", copy) == []  # pods/exec is in the built-in definition
    copy["rules"].append(rule([RBAC], ["clusterroles"], ["escalate"]))
    hits = findings("KH-RBAC-006", copy)
    assert len(hits) == 1 and "escalate" in hits[0].message and "pods" not in hits[0].message


def test_default_bindings_get_their_subjects_back_and_a_moved_role_is_judged_as_written():
    # subjects: system:masters is added back; jane is still reported
    crb = binding("cluster-admin", "cluster-admin", [user("jane")])
    assert Subject_keys(model(crb)) >= {"group:system:masters", "user:jane"}
    assert "user:jane" in findings("KH-RBAC-001", crb)[0].message
    # a binding of a default's name pointing elsewhere is recreated as the default only at the API server's next
    # start ("Auto-reconciliation"); until then it grants what it says, so it is reported as written
    moved = binding("system:discovery", "cluster-admin", [group("system:authenticated")])
    assert findings("KH-RBAC-001", moved) and findings("KH-RBAC-015", moved)
    kept = annotated(binding("system:discovery", "cluster-admin", [group("system:authenticated")]), NO_AUTOUPDATE)
    assert findings("KH-RBAC-001", kept) and findings("KH-RBAC-015", kept)


def Subject_keys(m):
    return {s.key for s in m.by_subject}


# -- 2. defaults by label, not by name -------------------------------------------------------------


def test_system_names_are_not_exempt_but_a_default_name_with_the_bootstrap_label_is():
    wild = [rule(["*"], ["*"], ["*"])]
    assert len(findings("KH-RBAC-002", role("system:controller:sneaky", wild))) == 1
    # the label on a name the bootstrap policy does not define exempts nothing
    assert len(findings("KH-RBAC-002", role("system:controller:x", wild, labels=DEFAULTS))) == 1
    assert findings("KH-RBAC-002", role("system:controller:job-controller", wild, labels=DEFAULTS)) == []
    # the anonymous/everyone exemptions of harmless defaults follow the label too
    fake = role("system:discovery-extra", [rule([""], ["secrets"], ["list"])])
    assert findings("KH-RBAC-015", fake, binding("x", "system:discovery-extra", [group("system:authenticated")]))


# -- 3. grants that authorise nothing ------------------------------------------------------------------


@pytest.mark.parametrize("control, rules", [
    ("KH-RBAC-008", [rule([""], ["nodes/proxy"], ["get", "create"])]),
    ("KH-RBAC-012", [rule([""], ["persistentvolumes"], ["create"])]),
    ("KH-RBAC-007", [rule([""], ["users", "groups"], ["impersonate"])]),
    ("KH-RBAC-010", [rule(["admissionregistration.k8s.io"], ["mutatingwebhookconfigurations"], ["patch"])]),
])
def test_namespaced_grants_of_cluster_scoped_resources_are_ineffective_not_risks(control, rules):
    in_role = [role("r", rules, ns="app"), binding("r", "r", [user("jane")], ns="app", role_kind="Role")]
    assert findings(control, *in_role) == []
    info = findings("KH-RBAC-022", *in_role)
    assert len(info) == 1 and info[0].severity.label == "info" and "cluster-scoped" in info[0].message
    # a ClusterRole bound only by RoleBindings is the same
    via_rolebinding = [role("r", rules), binding("r", "r", [user("jane")], ns="app")]
    assert findings(control, *via_rolebinding) == []
    assert "bound only by RoleBindings" in findings("KH-RBAC-022", *via_rolebinding)[0].message
    # bound cluster-wide (or not bound at all) it is the risk, and not ineffective
    cluster_wide = [role("r", rules), binding("r", "r", [user("jane")])]
    assert len(findings(control, *cluster_wide)) == 1
    assert findings("KH-RBAC-022", *cluster_wide) == []


def test_a_role_wildcard_still_grants_the_namespaced_part():
    objs = [role("r", [rule([""], ["*"], ["impersonate"])], ns="app"),
            binding("r", "r", [user("jane")], ns="app", role_kind="Role")]
    hits = findings("KH-RBAC-007", *objs)
    assert len(hits) == 1 and "serviceaccounts" in hits[0].message and "users" not in hits[0].message
    assert findings("KH-RBAC-022", *objs) == []


def test_who_can_never_answers_a_namespaced_grant_for_a_cluster_scoped_resource():
    m = model(role("r", [rule([""], ["nodes", "pods"], ["get"])]), binding("r", "r", [user("jane")], ns="app"))
    assert scanned(m.who_can("get", "", "nodes", namespace="app")) == []
    assert [g.subject.key for g in scanned(m.who_can("get", "", "pods", namespace="app"))] == ["user:jane"]


@pytest.mark.parametrize("bad, good, phrase", [
    (rule([""], ["pod"], ["create"]), rule([""], ["pods"], ["create"]), "did you mean 'pods'"),
    (rule([""], ["clusterroles"], ["bind"]), rule([RBAC], ["clusterroles"], ["bind"]), "it is in " + RBAC),
    (rule(["apps"], ["pods"], ["create"]), rule(["apps", ""], ["pods"], ["create"]), "it is in core"),
    (rule([""], ["pods/*"], ["create"]), rule([""], ["pods/exec"], ["create"]), "not a wildcard"),
    (rule([""], ["pods/shell"], ["create"]), rule([""], ["*/exec"], ["create"]), "no subresource 'shell'"),
    (rule(["extensions"], ["deployments"], ["create"]), rule(["apps"], ["deployments"], ["create"]),
     "removed in Kubernetes 1.22"),
])
def test_rules_naming_no_resource_are_ineffective_not_risks(bad, good, phrase):
    hits = findings("KH-RBAC-022", role("r", [bad], ns="app"))
    assert len(hits) == 1 and phrase in hits[0].message
    assert findings("KH-RBAC-005", role("r", [bad], ns="app")) == []
    assert findings("KH-RBAC-022", role("r", [good], ns="app")) == []


def test_unknown_api_groups_are_not_judged():
    assert missing_reason(frozenset({"example.com"}), "widgets") is None
    assert missing_reason(frozenset({"*"}), "pod") is None
    assert missing_reason(frozenset({""}), "*") is None
    assert not cluster_scoped_in(frozenset({"", "example.com"}), "nodes")
    assert ineffective_entries(frozenset({"example.com"}), frozenset({"nodes"}), frozenset(), False) == []


def test_non_resource_urls_in_a_role_are_ineffective():
    hits = findings("KH-RBAC-022", role("r", [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}], ns="app"))
    assert len(hits) == 1 and "nonResourceURLs /metrics" in hits[0].message


# -- 4. whole capabilities ------------------------------------------------------------------------------------

APPROVAL = rule(["certificates.k8s.io"], ["certificatesigningrequests/approval"], ["update"])
SIGNER = rule(["certificates.k8s.io"], ["signers"], ["approve"], names=["kubernetes.io/kube-apiserver-client"])


def test_csr_approval_needs_both_halves_even_across_roles():
    halves = [role("approval", [APPROVAL]), role("signer", [SIGNER]),
              binding("a", "approval", [user("jane")]), binding("s", "signer", [user("jane")])]
    hits = findings("KH-RBAC-009", *halves)
    assert len(hits) == 1 and hits[0].message.startswith("user:jane can approve")
    assert hits[0].resource.kind == "ClusterRoleBinding" and hits[0].line is not None
    only_one = [role("approval", [APPROVAL]), role("signer", [SIGNER]),
                binding("a", "approval", [user("jane")]), binding("s", "signer", [user("bob")])]
    assert findings("KH-RBAC-009", *only_one) == []
    both = [role("approver", [APPROVAL, SIGNER]), binding("a", "approver", [user("jane")])]
    hits = findings("KH-RBAC-009", *both)
    assert len(hits) == 1 and hits[0].resource.kind == "ClusterRole"


@pytest.mark.parametrize("verb", ["update", "patch", "delete", "deletecollection"])
@pytest.mark.parametrize("group_, resource", [("", "pods"), ("", "replicationcontrollers"), ("apps", "deployments"),
                                              ("apps", "statefulsets"), ("apps", "daemonsets"),
                                              ("apps", "replicasets"), ("batch", "jobs"), ("batch", "cronjobs")])
def test_writes_on_pods_and_every_pod_template_kind_count_like_create(verb, group_, resource):
    assert len(findings("KH-RBAC-005", role("r", [rule([group_], [resource], [verb])], ns="app"))) == 1
    assert findings("KH-RBAC-005", role("r", [rule([group_], [resource], ["get", "list", "watch"])], ns="app")) == []


def test_admin_and_edit_bound_cluster_wide_get_their_own_finding():
    for name in ("admin", "edit"):
        hits = findings("KH-RBAC-027", binding("b", name, [group("devs"), sa("ci", "build")]))
        assert len(hits) == 1 and f"ClusterRole {name}" in hits[0].message and "serviceaccount:build:ci" in hits[0].message
        assert findings("KH-RBAC-027", binding("b", name, [group("devs")], ns="app")) == []
    assert findings("KH-RBAC-027", binding("b", "view", [group("devs")])) == []
    # a user's own role called "editors" is not the default edit
    assert findings("KH-RBAC-027", role("editors", [rule([""], ["pods"], ["get"])]),
                    binding("b", "editors", [group("devs")])) == []


def test_configmap_writes_in_system_namespaces():
    writer = [rule([""], ["configmaps"], ["patch"])]
    in_kube_system = [role("w", writer, ns="kube-system"),
                      binding("w", "w", [sa("tuner", "ops")], ns="kube-system", role_kind="Role")]
    hits = findings("KH-RBAC-026", *in_kube_system)
    assert len(hits) == 1 and "in namespace kube-system" in hits[0].message and hits[0].resource.kind == "RoleBinding"
    cluster_wide = [role("w", writer), binding("w", "w", [sa("tuner", "ops")])]
    assert "system namespaces" in findings("KH-RBAC-026", *cluster_wide)[0].message
    # the built-in edit role writes ConfigMaps too
    assert findings("KH-RBAC-026", binding("e", "edit", [user("jane")], ns="kube-public"))
    in_app = [role("w", writer, ns="app"), binding("w", "w", [sa("tuner", "ops")], ns="app", role_kind="Role")]
    assert findings("KH-RBAC-026", *in_app) == []
    reader = [role("w", [rule([""], ["configmaps"], ["get"])]), binding("w", "w", [sa("tuner", "ops")])]
    assert findings("KH-RBAC-026", *reader) == []


def test_workload_token_summary_names_the_csr_capability_and_respects_scope():
    from rbac_helpers import deployment, service_account
    objs = [service_account("issuer", "pki"), deployment("issuer", "pki", "issuer"),
            role("approval", [APPROVAL]), role("signer", [SIGNER]),
            binding("a", "approval", [sa("issuer", "pki")]), binding("s", "signer", [sa("issuer", "pki")]),
            role("pv", [rule([""], ["persistentvolumes"], ["create"])]),
            binding("pv", "pv", [sa("issuer", "pki")], ns="pki")]
    hits = findings("KH-RBAC-019", *objs)
    assert len(hits) == 1 and "approve CertificateSigningRequests" in hits[0].message
    assert "PersistentVolumes" not in hits[0].message  # granted in a namespace only: ineffective


# -- 5. invalid bindings -----------------------------------------------------------------------------------------


def test_cluster_role_binding_service_account_without_namespace_is_invalid():
    crb = binding("ci", "cluster-admin", [{"kind": "ServiceAccount", "name": "ci"}])
    hits = findings("KH-RBAC-020", crb)
    assert len(hits) == 1 and "invalid" in hits[0].message and "without a namespace" in hits[0].message
    assert hits[0].line is not None
    assert findings("KH-RBAC-001", crb) == []  # the API server rejects it: it grants nothing
    assert scanned(model(crb).grants) == []
    fixed = binding("ci", "cluster-admin", [sa("ci", "build")])
    assert findings("KH-RBAC-020", fixed) == [] and findings("KH-RBAC-001", fixed)


def test_role_binding_service_account_without_namespace_is_the_bindings_namespace():
    rb = binding("ci", "view", [{"kind": "ServiceAccount", "name": "ci"}], ns="build")
    assert findings("KH-RBAC-020", rb) == []
    assert {g.subject.key for g in scanned(model(rb).grants)} == {"serviceaccount:build:ci"}


def test_bind_on_clusterroles_is_checked_in_the_rolebindings_namespace():
    # "Using RBAC Authorization": a RoleBinding may grant bind on the admin/edit/view ClusterRoles in its namespace
    binder = [role("binder", [rule([RBAC], ["clusterroles"], ["bind"], names=["edit"])], ns="team"),
              binding("binder", "binder", [user("lead")], ns="team", role_kind="Role")]
    assert len(findings("KH-RBAC-006", *binder)) == 1
    assert findings("KH-RBAC-022", *binder) == []
    reader = [role("reader", [rule([RBAC], ["clusterroles"], ["get", "escalate"])], ns="team")]
    assert "clusterroles: cluster-scoped" in findings("KH-RBAC-022", *reader)[0].message
    assert findings("KH-RBAC-006", *reader) == []


def test_finalizers_of_any_resource_and_removed_resources():
    # OwnerReferencesPermissionEnforcement checks update on <resource>/finalizers of any owner
    assert missing_reason(frozenset({"apps"}), "deployments/finalizers") is None
    assert missing_reason(frozenset({""}), "services/finalizers") is None
    assert "removed in Kubernetes 1.25" in missing_reason(frozenset({"policy"}), "podsecuritypolicies")


def test_a_harmless_default_with_added_rules_is_not_harmless_any_more():
    extended = role("system:basic-user", [rule(["authorization.k8s.io"], ["selfsubjectaccessreviews"], ["create"]),
                                          rule([""], ["configmaps"], ["list"])], labels=DEFAULTS)
    everyone = binding("extra", "system:basic-user", [group("system:serviceaccounts")])
    assert findings("KH-RBAC-015", everyone) == []  # the built-in definition only
    assert len(findings("KH-RBAC-015", extended, everyone)) == 1
    assert findings("KH-RBAC-002", extended) == []


def test_csr_pair_held_by_a_group_is_reported_once_for_the_group():
    objs = [role("approval", [APPROVAL]), role("signer", [SIGNER]),
            binding("a", "approval", [group("system:serviceaccounts:web")]),
            binding("s", "signer", [group("system:serviceaccounts:web")]),
            binding("v", "view", [sa("app", "web")], ns="web")]  # a member of the group, holding both through it
    assert [h.message.split(" ")[0] for h in findings("KH-RBAC-009", *objs)] == ["group:system:serviceaccounts:web"]


def test_a_clusterrole_aggregated_into_a_cluster_wide_role_is_not_ineffective():
    part = role("nodes-part", [rule([""], ["nodes/proxy"], ["get"])], labels={"example.com/agg": "true"})
    objs = [part, role("agg", [], aggregate=[{"matchLabels": {"example.com/agg": "true"}}]),
            binding("agg", "agg", [user("jane")]), binding("p", "nodes-part", [user("bob")], ns="app")]
    assert findings("KH-RBAC-022", *objs) == []
    assert len(findings("KH-RBAC-008", *objs)) == 1


def test_default_roles_in_kube_system_are_reconciled_and_only_exactly_false_opts_out():
    emptied = role("extension-apiserver-authentication-reader", [], ns="kube-system")
    reader = binding("r", "extension-apiserver-authentication-reader", [sa("metrics", "kube-system")],
                     ns="kube-system", role_kind="Role")
    m = model(emptied, reader)
    assert scanned(m.who_can("get", "", "configmaps", namespace="kube-system", name="extension-apiserver-authentication"))
    weak = role("cluster-admin", [rule([""], ["pods"], ["get"])])
    grant = binding("ops", "cluster-admin", [user("jane")])
    assert findings("KH-RBAC-001", annotated(weak, {"rbac.authorization.kubernetes.io/autoupdate": "False"}), grant)
