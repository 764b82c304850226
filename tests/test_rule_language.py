"""The declarative rule language of the catalogue (checks/rules.py, docs/rule-language.md)."""

from __future__ import annotations

import textwrap

import pytest

from kubeharden.analysis.rbac_risks import RiskError, risk_from_grants
from kubeharden.catalogue.loader import CatalogueError, _parse_control, load_catalogue
from kubeharden.checks import rules
from kubeharden.checks.rbac import catalogue_risks, risk_of
from kubeharden.checks.registry import control_runner
from kubeharden.model.controls import Control
from kubeharden.model.findings import Severity
from kubeharden.model.objects import K8sObject
from kubeharden.model.pods import pod_view
from kubeharden.sources.files import parse_text


def control(rule, scope="container", kinds=()):
    return Control(id="KH-TEST-001", title="test", severity=Severity.parse("low"), nsa=(), description="d",
                   remediation="r", scope=scope, profile="default", kinds=tuple(kinds), rule=rule)


def objects(text: str) -> list[K8sObject]:
    return [o for o in parse_text(textwrap.dedent(text), "t.yaml") if isinstance(o, K8sObject)]


def container_findings(rule, text):
    """(container, message, line) of a container rule over every container of the one object in ``text``."""
    pod = pod_view(objects(text)[0])
    return [(c.name, v.message, v.line) for c in pod.containers for v in rules.run_container_rule(control(rule), c)]


# -- operators ----------------------------------------------------------------------------------


@pytest.mark.parametrize("condition,value,fails", [
    ({"eq": True}, True, True),
    ({"eq": True}, 1, False),            # YAML 1 is not true: the API server rejects it as a boolean
    ({"eq": 0}, False, False),
    ({"ne": "Default"}, "Unmasked", True),
    ({"ne": "Default"}, None, False),    # comparisons never fail an absent field
    ({"in": ["a", "b"]}, "b", True),
    ({"not_in": ["Default"]}, "Default", False),
    ({"not_in": ["Default"]}, None, False),
    ({"gt": 0}, 8080, True),
    ({"gt": 0}, 0, False),
    ({"ge": 1000}, 1000, True),
    ({"lt": 1000}, "999", False),        # a string is not a number
    ({"le": 0}, 0, True),
    ({"matches": "^sys_"}, "sys_admin", True),
    ({"matches": "^sys_"}, 5, False),
    ("absent", None, True),
    ("absent", "", False),
    ("exists", {}, True),
    ("empty", "", True),
    ("empty", [], True),
    ("empty", {"a": 1}, False),
    ("not_empty", ["1.2.3.4"], True),
    ("not_empty", None, False),
])
def test_each_operator(condition, value, fails):
    assert (rules.judge({"fail_if": condition}, value) is not None) is fails


def test_named_sets_and_skip_if():
    rule = {"fail_if": {"not_in": {"set": "safe-sysctls"}}, "skip_if": "empty"}
    assert rules.judge(rule, "kernel.msgmax") == "message"
    assert rules.judge(rule, "net.ipv4.tcp_syncookies") is None
    assert rules.judge(rule, "") is None  # skipped, not judged
    assert rules.judge({"fail_if": {"not_in": {"set": "safe-sysctls"}}}, "") == "message"


def test_a_list_of_conditions_fails_when_any_holds_and_expect_fails_an_absent_value():
    rule = {"fail_if": ["absent", {"eq": ""}]}
    assert rules.judge(rule, None) and rules.judge(rule, "") and rules.judge(rule, "500m") is None
    assert rules.judge({"expect": True, "message_unset": "u"}, None) == "message_unset"
    assert rules.judge({"expect": True}, False) == "message"
    assert rules.judge({"forbid": [True]}, True) == "message"


@pytest.mark.parametrize("rule,scope,problem", [
    ({"path": "a", "fail_if": "absent", "colour": 1}, "pod", "unknown rule key 'colour'"),
    ({"path": "a", "fail_if": {"about": 1}}, "pod", "unknown operator 'about'"),
    ({"path": "a", "fail_if": "missing"}, "pod", "unknown operator 'missing'"),
    ({"path": "a", "fail_if": {"matches": "("}}, "pod", "bad regular expression"),
    ({"path": "a", "fail_if": {"in": "x"}}, "pod", "in takes a list"),
    ({"path": "a", "fail_if": {"gt": "x"}}, "pod", "gt takes a number"),
    ({"container_field": "privileged", "forbid": [True]}, "pod", "container_field needs scope: container"),
    ({"path": "a", "pod_field": "b", "fail_if": "absent"}, "pod", "exactly one of container_field"),
    ({"path": "a"}, "pod", "exactly one of fail_if, forbid, expect"),
    ({"path": "a", "fail_if": "absent", "containers": ["sidecars"]}, "container", "'sidecars' is not one of"),
    ([], "pod", "an empty rule list"),
    ({"path": "a", "fail_if": {"not_in": {"set": "safe"}}}, "pod", "a named set is one of safe-sysctls"),
    ({"path": "a", "fail_if": "absent", "skip_if": "blank"}, "pod", "unknown operator 'blank'"),
])
def test_rule_mistakes_are_named(rule, scope, problem):
    assert any(problem in p for p in rules.problems(rule, scope)), rules.problems(rule, scope)


def test_every_control_of_the_catalogue_compiles():
    for control in load_catalogue():
        assert callable(control_runner(control)), control.id


def test_a_bad_rule_stops_its_control_from_compiling_with_the_control_named():
    # The catalogue sits below the checks and knows no rule language; a rule is judged when the
    # control is compiled, which every scan does for each selected control before reading input.
    raw = {"id": "KH-POD-999", "slug": "test-control", "since": "0.1.0", "title": "t", "severity": "low",
           "nsa": ["NSA-POD-9"], "description": "d",
           "remediation": "r", "scope": "container", "rule": {"container_field": "privileged", "fail_if": "yes"}}
    with pytest.raises(CatalogueError, match=r"KH-POD-999: rule: unknown operator 'yes'"):
        control_runner(_parse_control(raw, "pods.yaml"))
    raw["rule"] = {"container_field": "privileged", "fail_if": "exists"}
    raw["requires_config"] = "registry"
    with pytest.raises(CatalogueError, match="requires_config: 'registry' is not one of"):
        _parse_control(raw, "pods.yaml")


def test_every_catalogue_rule_is_valid():
    for c in load_catalogue():
        if c.rule is not None:
            assert rules.problems(c.rule, c.scope) == [], c.id


# -- paths, items, container lists ------------------------------------------------------------------

POD = """
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  securityContext:
    windowsOptions: {hostProcess: true}
  containers:
    - name: web
      image: x
      securityContext:
        windowsOptions: {runAsUserName: app}
      resources:
        requests: {cpu: 100m}
      ports:
        - {containerPort: 80, hostPort: 8080}
        - {containerPort: 443}
        - {containerPort: 53, hostPort: 0}
    - name: sized
      image: x
      resources:
        limits:
          memory: 1Gi
  initContainers:
    - {name: init, image: x}
  ephemeralContainers:
    - {name: debug, image: x}
"""


def test_items_are_judged_one_by_one_and_report_the_entry_and_its_line():
    found = container_findings({"items": "ports", "path": "hostPort", "fail_if": {"gt": 0},
                                "message": "hostPort {value} for {item[containerPort]} ({item[protocol]})"}, POD)
    assert found == [("web", "hostPort 8080 for 80 (None)", 16)]


def test_a_missing_nested_field_points_at_the_mapping_that_should_hold_it():
    rule = {"path": "resources.limits.cpu", "fail_if": "absent", "message": "no cpu limit"}
    found = {name: line for name, _, line in container_findings(rule, POD)}
    # web: resources has no limits (its own line); sized: at limits:; init and debug: the container itself
    assert found == {"web": 14, "sized": 22, "init": 25, "debug": 27}


def test_containers_filter_limits_the_lists_a_rule_applies_to():
    rule = {"path": "resources.limits.cpu", "fail_if": "absent", "containers": ["containers", "initContainers"]}
    assert sorted(name for name, _, _ in container_findings(rule, POD)) == ["init", "sized", "web"]
    only_init = {**rule, "containers": ["initContainers"]}
    assert [name for name, _, _ in container_findings(only_init, POD)] == ["init"]


def test_windows_options_merge_per_field_so_the_pods_host_process_reaches_every_container():
    rule = {"container_field": "windowsOptions.hostProcess", "fail_if": {"eq": True},
            "message": "hostProcess ({level})"}
    found = container_findings(rule, POD)
    assert ("web", "hostProcess (pod)", 7) in found  # web sets another windowsOptions field only
    assert {name for name, _, _ in found} == {"web", "sized", "init", "debug"}


def test_a_rule_list_reports_in_order_and_object_rules_name_the_object():
    svc = objects("""
        apiVersion: v1
        kind: Service
        metadata: {name: s, annotations: {team: shop}}
        spec: {type: NodePort, externalIPs: [10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4]}
        """)[0]
    rule = [{"path": "spec.externalIPs", "fail_if": "not_empty", "message": "{kind} {name}: {value}"},
            {"path": "spec.type", "fail_if": {"in": ["NodePort", "LoadBalancer"]},
             "message": "{value} by {annotations[team]}, {annotations[owner]}"}]
    found = [(v.message, v.line) for v in rules.run_object_rule(control(rule, "object"), svc)]
    assert found == [("Service s: 10.0.0.1, 10.0.0.2, 10.0.0.3", 5), ("NodePort by shop, ?", 5)]


def test_inventory_rules_run_over_every_object_of_their_kinds():
    from kubeharden.model.inventory import Inventory

    inventory = Inventory()
    for obj in objects("""
        apiVersion: v1
        kind: Secret
        metadata: {name: a}
        type: kubernetes.io/service-account-token
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: b}
        type: Opaque
        """):
        inventory.add_object(obj)
    rule = {"path": "type", "fail_if": {"eq": "kubernetes.io/service-account-token"}, "message": "{name}"}
    found = list(rules.run_inventory_rule(control(rule, "inventory", ["Secret"]), inventory))
    assert [(v.message, v.obj.name) for v in found] == [("a", "a")]


# -- the rbac-risk template --------------------------------------------------------------------------


def test_a_risk_is_written_as_policy_rules_and_expands_in_the_order_written():
    risk = risk_from_grants("k", "can debug", [
        {"apiGroups": [""], "resources": ["pods/exec", "pods/attach"], "verbs": ["create", "get"]},
        {"resource_set": "workloads", "verbs": ["delete"]},
    ])
    assert risk.requests[:4] == (("create", "", "pods", "exec"), ("get", "", "pods", "exec"),
                                 ("create", "", "pods", "attach"), ("get", "", "pods", "attach"))
    assert ("delete", "apps", "deployments", "") in risk.requests and risk.any_name


@pytest.mark.parametrize("grants,error", [
    ([], "non-empty list"),
    ([{"apiGroups": [""], "resources": ["secrets"]}], "needs verbs"),
    ([{"apiGroups": [""], "verbs": ["get"]}], "needs apiGroups and resources"),
    ([{"resource_set": "everything", "verbs": ["get"]}], "unknown resource_set 'everything'"),
    ([{"apiGroup": [""], "resources": ["secrets"], "verbs": ["get"]}], "a grant has apiGroups"),
])
def test_bad_risk_parameters_are_named(grants, error):
    with pytest.raises(RiskError, match=error):
        risk_from_grants("k", "w", grants)


def test_a_template_controls_bad_parameters_name_the_control():
    bad = control({"template": "rbac-risk", "what": "w", "grants": [{"verbs": ["get"]}]}, "inventory")
    with pytest.raises(CatalogueError, match="KH-TEST-001: rule: .*needs apiGroups"):
        risk_of(bad)


@pytest.mark.parametrize("params,error", [
    ({"part": "request", "resources": ["cpu"]}, "needs part: requests or limits"),
    ({"part": "limits", "resources": "cpu"}, "needs part: requests or limits"),
    ({"part": "limits", "resources": ["gpu"]}, r"resources \['gpu'\] are not judged"),
])
def test_the_container_resources_template_names_bad_parameters(params, error):
    from kubeharden.checks.resources import _resource_params

    with pytest.raises(CatalogueError, match=f"KH-TEST-001: rule: .*{error}"):
        _resource_params(control({"template": "container-resources", **params}, "inventory"))
    with pytest.raises(CatalogueError, match="needs scope: inventory"):
        _resource_params(control({"template": "container-resources", "part": "limits", "resources": ["cpu"]}))


def test_the_container_resources_template_runs_with_its_parameters():
    from kubeharden.checks.registry import template_for
    from kubeharden.checks.context import Context
    from kubeharden.config import Config
    from kubeharden.model.inventory import Inventory

    inventory = Inventory()
    for obj in objects("""
        apiVersion: v1
        kind: Pod
        metadata: {name: p, namespace: shop}
        spec:
          containers:
            - {name: a, image: x, resources: {limits: {cpu: "1"}}}
            - {name: b, image: x, resources: {requests: {memory: 1Gi}}}
        """):
        inventory.add_object(obj)
        inventory.add_pod(pod_view(obj))
    run = template_for("container-resources")
    found = run(control({"template": "container-resources", "part": "limits", "resources": ["cpu", "memory"]},
                        "inventory"), inventory, Context(Config()))
    assert [(v.container, v.message.split(" and ")[0]) for v in found] == [("a", "no memory limit"),
                                                                           ("b", "no cpu or memory limit")]


def test_the_catalogue_risks_are_the_rbac_risk_controls_in_catalogue_order():
    risky = [c for c in load_catalogue() if isinstance(c.rule, dict) and c.rule.get("template") == "rbac-risk"]
    assert [r.key for r in catalogue_risks()] == [c.id for c in risky]
    assert len(risky) >= 12
    secrets = next(r for r in catalogue_risks() if r.key == "KH-RBAC-003")
    assert secrets.what == "can read Secrets" and not secrets.any_name


def test_the_data_share_does_not_shrink():
    # 43 of 90 (issue #10 item 5): KH-RES-001..005 through the container-resources template; KH-POD-011..014,
    # -016..018, -026, KH-IMG-001, -002, -004 and KH-NET-009 through readings (as:), guards (when/unless), list operators.
    catalogue = load_catalogue()
    data = [c for c in catalogue if c.rule is not None]
    assert len(data) >= 43, f"{len(data)} of {len(catalogue)}"
    assert len(data) * 3 >= len(catalogue), "at least a third of the catalogue is data"


def test_no_control_id_is_written_in_the_engine():
    import inspect
    import re

    from kubeharden.engine import evaluator as engine

    code = "\n".join(line for line in inspect.getsource(engine).splitlines() if not line.strip().startswith("#"))
    assert not re.search(r'"KH-[A-Z]+-\d+"', code)


def test_an_unknown_template_is_named():
    from kubeharden.checks.registry import template_for

    with pytest.raises(CatalogueError, match=r"unknown rule template 'rbac-risks' \(known: container-resources, rbac-risk\)"):
        template_for("rbac-risks")


def test_a_value_of_the_wrong_type_for_the_message_still_gives_a_finding():
    text = """
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers:
            - name: c
              image: x
              env: [{name: A, valueFrom: {secretKeyRef: just-a-string}}]
        """
    secret_env = load_catalogue()[[c.id for c in load_catalogue()].index("KH-SEC-004")]
    pod = pod_view(objects(text)[0])
    found = [v.message for c in pod.containers for v in rules.run_container_rule(secret_env, c)]
    assert found == ["valueFrom.secretKeyRef is just-a-string"]


# -- field paths --------------------------------------------------------------------------------

PATHS_POD = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      securityContext:
        windowsOptions: {hostProcess: true}
        sysctls: [{name: kernel.shm_rmid_forced, value: "0"}, {name: net.core.somaxconn, value: "1024"}]
      containers:
        - name: web
          image: nginx
          ports: [{containerPort: 80}, {containerPort: 443, hostPort: 443}]
          env: [{name: A, value: b}, {name: T, valueFrom: {secretKeyRef: {name: s, key: k}}}]
"""


def test_rule_findings_carry_the_field_path_of_what_they_judge():
    pod = pod_view(objects(PATHS_POD)[0])
    c = pod.containers[0]
    port = rules.run_container_rule(control({"items": "ports", "path": "hostPort", "fail_if": {"not_in": [0]}}), c)
    assert [v.path for v in port] == ["spec.template.spec.containers[0].ports[1].hostPort"]
    env = rules.run_container_rule(control({"items": "env", "path": "valueFrom.secretKeyRef",
                                            "fail_if": "not_empty", "line": "valueFrom"}), c)
    assert [v.path for v in env] == ["spec.template.spec.containers[0].env[1].valueFrom.secretKeyRef"]
    # inherited from the pod: the path is the pod's securityContext field, where the value is set
    inherited = rules.run_container_rule(control({"container_field": "windowsOptions.hostProcess",
                                                  "fail_if": {"eq": True}}), c)
    assert [v.path for v in inherited] == ["spec.template.spec.securityContext.windowsOptions.hostProcess"]
    # absent: the container's own field, where it belongs
    unset = rules.run_container_rule(control({"container_field": "procMount", "fail_if": "absent"}), c)
    assert [v.path for v in unset] == ["spec.template.spec.containers[0].securityContext.procMount"]
    # line: item reports the entry, and so does the path
    sysctls = rules.run_pod_rule(control({"items": "securityContext.sysctls", "path": "name", "line": "item",
                                          "fail_if": {"not_in": {"set": "safe-sysctls"}}}, scope="pod"), pod)
    assert [v.path for v in sysctls] == ["spec.template.spec.securityContext.sysctls[1]"]
    absent = rules.run_pod_rule(control({"path": "runtimeClassName", "fail_if": "empty"}, scope="pod"), pod)
    assert [v.path for v in absent] == ["spec.template.spec.runtimeClassName"]


def test_object_rule_paths_start_at_the_object_root():
    service = objects("""
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: shop}
    spec: {type: NodePort, externalIPs: [192.0.2.10]}
    """)[0]
    found = rules.run_object_rule(control({"path": "spec.externalIPs", "fail_if": "not_empty"}, scope="object"),
                                  service)
    assert [v.path for v in found] == ["spec.externalIPs"]


@pytest.mark.parametrize("rule, error", [
    ({"container_field": "privileged", "fail_if": []}, "fail_if: is empty"),
    ({"container_field": "privileged", "forbid": []}, "forbid: is empty"),
    ({"container_field": "privileged", "fail_if": "exists", "message": "{value"}, "message: not a valid message template"),
])
def test_rules_that_could_never_fail_or_never_say_why_do_not_compile(rule, error):
    raw = {"id": "KH-POD-998", "slug": "test-rule-x", "since": "0.1.0", "title": "t", "severity": "low",
           "nsa": ["NSA-POD-9"], "description": "d", "remediation": "r", "scope": "container", "rule": rule}
    with pytest.raises(CatalogueError, match=error):
        control_runner(_parse_control(raw, "pods.yaml"))
