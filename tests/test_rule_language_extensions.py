"""The rule language's readings (as:), guards (when/unless), list operators, rule-level fixes, path
steps in the API server's notation, and the facts scope (docs/rule-language.md)."""

from __future__ import annotations

import pytest

from kubeharden.checks import rules
from kubeharden.checks.registry import control_runner
from kubeharden.catalogue.loader import CatalogueError, _parse_control
from kubeharden.model.findings import Fix
from kubeharden.model.facts import ComponentFacts
from kubeharden.model.pods import pod_view
from kubeharden.model.lines import LineMap

from test_rule_language import control, objects


def container_violations(rule, text):
    pod = pod_view(objects(text)[0])
    return [(c.name, v) for c in pod.containers for v in rules.run_container_rule(control(rule), c)]


CAPS = """
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - name: a
      image: x
      securityContext:
        capabilities:
          add: [cap_sys_admin, chown, NET_BIND_SERVICE, Net_Raw]
          drop: [net_raw, setuid, setgid, kill]
    - name: b
      image: x
      securityContext:
        capabilities: {drop: [all], add: [NET_BIND_SERVICE]}
    - name: c
      image: x
      securityContext:
        capabilities: {drop: ALL}
"""


# -- readings and list operators ------------------------------------------------------------------


def test_capability_names_are_read_as_the_runtime_reads_them():
    rule = {"path": "securityContext.capabilities.drop", "as": "capability-names", "skip_if": "empty",
            "fail_if": {"not_contains": "ALL"}, "message": "drops only {values} (first: {value}; written {written})"}
    found = [(name, v.message) for name, v in container_violations(rule, CAPS)]
    # every entry in {values}; {value} shows the first three; {written} is the manifest's own list;
    # b's lower-case "all" is ALL; c's string is not a list, so it reads as absent and is skipped
    assert found == [("a", "drops only NET_RAW, SETUID, SETGID, KILL (first: NET_RAW, SETUID, SETGID; "
                           "written ['net_raw', 'setuid', 'setgid', 'kill'])")]


def test_contains_holds_only_for_a_list_with_that_entry():
    contains = rules.COMPARISONS["contains"]
    assert contains(["SYS_ADMIN"], "SYS_ADMIN") and not contains("SYS_ADMIN", "SYS_ADMIN")
    assert not contains([True], 1)  # typed as the API server types values
    not_contains = rules.COMPARISONS["not_contains"]
    assert not_contains([], "ALL") and not not_contains("x", "ALL")


def test_entry_operators_name_the_matched_entries_and_fix_them_as_written():
    rule = {"path": "securityContext.capabilities.add", "as": "capability-names",
            "fail_if": {"any_not_in": {"set": "baseline-capabilities"}}, "fix": {"op": "remove", "value": "matched"},
            "message": "adds {matched}"}
    (name, v), = container_violations(rule, CAPS)
    assert (name, v.message) == ("a", "adds SYS_ADMIN, NET_RAW")
    assert v.fix == Fix("remove", "spec.containers[0].securityContext.capabilities.add", ["cap_sys_admin", "Net_Raw"])


def test_a_named_set_can_leave_members_out():
    rule = {"path": "securityContext.capabilities.add", "as": "capability-names",
            "fail_if": {"any_in": {"set": "baseline-capabilities", "except": ["NET_BIND_SERVICE"]}},
            "message": "{matched}"}
    assert [(n, v.message) for n, v in container_violations(rule, CAPS)] == [("a", "CHOWN")]


@pytest.mark.parametrize("image,tag,digest,reference", [
    ("nginx", None, None, "nginx"),
    ("nginx:1.25", "1.25", None, "nginx:1.25"),
    ("localhost:5000/x", None, None, "localhost:5000/x"),     # a registry port is no tag
    ("r.io/a/b:1@sha256:ab", "1", "sha256:ab", "r.io/a/b:1@sha256:ab"),
    ("", None, None, None),
    (5, None, None, None),                                     # not a string: names no image
])
def test_image_readings(image, tag, digest, reference):
    assert rules.READINGS["image-tag"](image) == tag
    assert rules.READINGS["image-digest"](image) == digest
    assert rules.READINGS["image-reference"](image) == reference


@pytest.mark.parametrize("reading,value,read", [
    ("trimmed-strings", [" 10.0.0.0/8 ", "::/0"], ["10.0.0.0/8", "::/0"]),
    ("trimmed-strings", "10.0.0.0/8", None),                   # not a list: no entries
    ("comma-separated", " 10.0.0.0/8 , ,0.0.0.0/0", ["10.0.0.0/8", "0.0.0.0/0"]),
    ("comma-separated", " , ", []),
    ("comma-separated", None, None),
    ("keys", {"a/b": 1, "c": None}, ["a/b", "c"]),
    ("keys", ["a"], None),
])
def test_list_readings(reading, value, read):
    assert rules.READINGS[reading](value) == read


def test_line_may_name_a_field_path_of_the_unit():
    obj, = objects("""
        apiVersion: v1
        kind: Service
        metadata: {name: s}
        spec:
          ports: [{port: 80}]
          type: LoadBalancer
        """)
    rule = {"path": "spec.loadBalancerSourceRanges", "fail_if": "absent", "message": "m"}
    assert [v.line for v in rules.run_object_rule(control(rule, "object"), obj)] == [5]  # spec:, where it belongs
    rule["line"] = "spec.type"
    assert [v.line for v in rules.run_object_rule(control(rule, "object"), obj)] == [7]
    rule["line"] = "spec.missing"  # a field that is not there: the mapping that would hold it
    assert [v.line for v in rules.run_object_rule(control(rule, "object"), obj)] == [6]


# -- guards --------------------------------------------------------------------------------------

GUARDED = """
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  securityContext: {runAsUser: 0}
  containers:
    - name: inherits-root
      image: x
    - name: own-user
      image: x
      securityContext: {runAsUser: 1000}
    - name: adds-admin
      image: x
      securityContext: {runAsUser: 1000, capabilities: {add: [CAP_SYS_ADMIN]}}
"""


def test_when_reads_effective_container_fields_and_any_of_alternatives():
    rule = {"path": "image", "fail_if": "exists", "message": "m",
            "when": [{"any": [{"container_field": "runAsUser", "is": {"eq": 0}},
                              {"container_field": "capabilities.add", "as": "capability-names",
                               "is": {"contains": "SYS_ADMIN"}}]}]}
    # runAsUser 0 is inherited from the pod by the first container (PodSecurityContext.runAsUser)
    assert [n for n, _ in container_violations(rule, GUARDED)] == ["inherits-root", "adds-admin"]


def test_unless_skips_the_rule_when_any_entry_holds():
    rule = {"path": "image", "fail_if": "exists", "message": "m",
            "unless": [{"container_field": "runAsUser", "is": {"eq": 0}},
                       {"path": "securityContext.capabilities", "is": "exists"}]}
    assert [n for n, _ in container_violations(rule, GUARDED)] == ["own-user"]


def test_a_guard_condition_list_holds_when_any_condition_does():
    rule = {"path": "image", "fail_if": "exists", "message": "m",
            "when": [{"container_field": "runAsUser", "is": [{"eq": 0}, {"gt": 999}]}]}
    assert len(container_violations(rule, GUARDED)) == 3


def test_guards_of_a_pod_rule_read_the_pod_spec():
    rule = {"path": "hostNetwork", "fail_if": "absent", "message": "m",
            "when": [{"path": "securityContext.runAsUser", "is": {"eq": 0}}]}
    pod = pod_view(objects(GUARDED)[0])
    assert [v.message for v in rules.run_pod_rule(control(rule, "pod"), pod)] == ["m"]
    rule["when"] = [{"path": "securityContext.runAsUser", "is": {"ne": 0}}]
    assert not list(rules.run_pod_rule(control(rule, "pod"), pod))


def test_pod_path_guards_read_the_pod_template_as_a_pod():
    text = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: d, annotations: {seccomp.security.alpha.kubernetes.io/pod: x}}
        spec:
          selector: {matchLabels: {a: b}}
          template:
            metadata:
              labels: {a: b}
              annotations: {container.seccomp.security.alpha.kubernetes.io/a: runtime/default}
            spec:
              containers: [{name: a, image: x}]
        """
    legacy = {"pod_path": "metadata.annotations", "as": "keys",
              "is": {"any_matches": r"^container\.seccomp\.security\.alpha"}}
    rule = {"path": "image", "fail_if": "exists", "message": "m", "when": [legacy]}
    assert len(container_violations(rule, text)) == 1  # the template's annotations, not the Deployment's
    legacy["is"] = {"any_matches": r"^seccomp\.security"}
    assert not container_violations(rule, text)
    per_container = {"pod_path": "metadata.annotations[container.seccomp.security.alpha.kubernetes.io/{container}]",
                     "is": "exists"}
    rule = {"path": "image", "fail_if": "exists", "message": "m", "unless": [per_container]}
    assert not container_violations(rule, text)  # {container} is the judged container: "a" has the annotation
    pod = pod_view(objects(text.replace("name: a,", "name: b,"))[0])
    assert len(list(rules.run_container_rule(control(rule), pod.containers[0]))) == 1
    odd = text.replace("name: a,", "name: 'a[0]',").replace(
        "container.seccomp.security.alpha.kubernetes.io/a:", "'container.seccomp.security.alpha.kubernetes.io/a[0]':")
    assert not container_violations(rule, odd)  # a name that is no path syntax is still only a key
    pod = pod_view(objects(text)[0])
    rule = {"path": "containers", "fail_if": "exists", "message": "m",
            "when": [{"pod_path": "spec.containers[0].name", "is": {"eq": "a"}}]}
    assert len(list(rules.run_pod_rule(control(rule, "pod"), pod))) == 1


def test_a_container_rule_may_judge_a_field_of_the_pod_template():
    text = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: d}
        spec:
          selector: {matchLabels: {a: b}}
          template:
            metadata:
              labels: {a: b}
              annotations:
                container.apparmor.security.beta.kubernetes.io/a: unconfined
                container.apparmor.security.beta.kubernetes.io/b: localhost/my-profile
            spec:
              containers: [{name: a, image: x}, {name: b, image: x}, {name: c, image: x}]
        """
    rule = {"pod_path": "metadata.annotations[container.apparmor.security.beta.kubernetes.io/{container}]",
            "as": "apparmor-annotation", "fail_if": {"not_in": ["RuntimeDefault", "Localhost"]},
            "message": "{value} ({written})"}
    found = [(n, v.message, v.line, v.path) for n, v in container_violations(rule, text)]
    assert found == [("a", "Unconfined (unconfined)", 11,
                      "spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/a]")]


@pytest.mark.parametrize("annotation,read", [
    ("runtime/default", "RuntimeDefault"), ("localhost/p", "Localhost"), ("unconfined", "Unconfined"),
    ("other", "other"), (None, None),
])
def test_apparmor_annotation_reading(annotation, read):
    assert rules.READINGS["apparmor-annotation"](annotation) == read


# -- fixes and paths -----------------------------------------------------------------------------


def test_a_rule_can_say_its_findings_have_no_mechanical_fix_or_give_its_own():
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: x}]\n"
    base = {"path": "imagePullPolicy", "fail_if": "absent", "message": "m"}
    (_, plain), = container_violations(base, text)
    assert plain.fix is None  # the control's fix: applies
    (_, none), = container_violations({**base, "fix": False}, text)
    assert none.fix is False
    (_, own), = container_violations({**base, "fix": {"op": "set", "value": "Always", "safe": True}}, text)
    assert own.fix == Fix("set", "spec.containers[0].imagePullPolicy", "Always", True)


def test_paths_take_map_keys_and_list_indexes_in_brackets():
    obj, = objects("""
        apiVersion: v1
        kind: Service
        metadata:
          name: s
          annotations:
            service.beta.kubernetes.io/load-balancer-source-ranges: 0.0.0.0/0
        spec:
          type: LoadBalancer
          ports: [{port: 80}, {port: 22}]
        """)
    key = "metadata.annotations[service.beta.kubernetes.io/load-balancer-source-ranges]"
    found = list(rules.run_object_rule(control({"path": key, "fail_if": {"eq": "0.0.0.0/0"}, "message": "{value}"},
                                               "object"), obj))
    assert [(v.message, v.line, v.path) for v in found] == [("0.0.0.0/0", 7, key)]
    found = list(rules.run_object_rule(control({"path": "spec.ports[1].port", "fail_if": {"eq": 22},
                                                "message": "{value}", "when": [{"path": "spec.ports[5]",
                                                                                 "is": "absent"}]}, "object"), obj))
    assert [(v.message, v.path) for v in found] == [("22", "spec.ports[1].port")]


def test_image_parts_are_message_fields_of_container_rules():
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: 'r.io/x:2'}]\n"
    rule = {"path": "imagePullPolicy", "fail_if": "absent", "message": "{image[registry]} {image[tag]!r}"}
    assert [v.message for _, v in container_violations(rule, text)] == ["r.io '2'"]


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rule,scope,error", [
    ({"path": "a", "fail_if": "absent", "as": "image"}, "pod", "as: 'image' is not one of capability-names"),
    ({"path": "a[b", "fail_if": "absent"}, "pod", "path: not a field path"),
    ({"path": "a", "fail_if": "absent", "when": [{"path": "b"}]}, "pod", "when: an entry says what the field is"),
    ({"path": "a", "fail_if": "absent", "when": [{"path": "b", "container_field": "c", "is": "absent"}]}, "container",
     "when: an entry names exactly one of path, container_field, pod_path"),
    ({"path": "a", "fail_if": "absent", "unless": [{"container_field": "c", "is": "absent"}]}, "pod",
     "unless: container_field needs scope: container"),
    ({"path": "a", "fail_if": "absent", "when": [{"any": [], "path": "b"}]}, "pod", "any: takes a non-empty list"),
    ({"path": "a", "fail_if": "absent", "when": [{"path": "b", "is": {"near": 1}}]}, "pod", "unknown operator 'near'"),
    ({"path": "a", "fail_if": "absent", "fix": {"op": "set", "field": "b"}}, "pod", "fix: unknown key 'field'"),
    ({"path": "a", "fail_if": "absent", "fix": True}, "pod", "fix: false, or op: one of"),
    ({"path": "a", "fail_if": {"any_in": {"set": "baseline-capabilities", "but": ["X"]}}}, "pod",
     "any_in: a named set is one of"),
    ({"path": "a", "fail_if": {"any_not_in": "ALL"}}, "pod", "any_not_in takes a list or a named set"),
    ({"path": "a", "fail_if": {"any_matches": "("}}, "pod", "any_matches: bad regular expression"),
    ({"pod_path": "a", "fail_if": "absent"}, "pod", "a pod_path target needs scope: container"),
    ({"path": "a", "fail_if": "absent", "when": [{"pod_path": "b", "is": "absent"}]}, "object",
     "when: pod_path needs scope: container or pod"),
])
def test_mistakes_in_the_extensions_are_named(rule, scope, error):
    raw = {"id": "KH-TEST-001", "slug": "test-rule", "since": "0.1.0", "title": "t", "severity": "low",
           "description": "d", "remediation": "r", "scope": scope, "rule": rule}
    with pytest.raises(CatalogueError, match=f"KH-TEST-001: rule: .*{error}"):
        control_runner(_parse_control(raw, "test.yaml"))  # a rule is judged when its control is compiled


# -- facts ---------------------------------------------------------------------------------------


def _settings() -> LineMap:
    anonymous = LineMap({"enabled": True})
    anonymous.line, anonymous.lines = 4, {"enabled": 4}
    authentication = LineMap({"anonymous": anonymous})
    authentication.line, authentication.lines = 3, {"anonymous": 3}
    settings = LineMap({"authentication": authentication, "readOnlyPort": 0})
    settings.line, settings.lines = 2, {"authentication": 2, "readOnlyPort": 5}
    return settings


KUBELET = ComponentFacts("kubelet", "node-1", settings=_settings(), flags={"rotate-certificates": "true"},
                         files={"/var/lib/kubelet/config.yaml": {"mode": "0644", "owner": "root"}},
                         file="/var/lib/kubelet/config.yaml", first_line=1)
#: A kube-bench style node check written as data (KubeletConfiguration, kubelet.config.k8s.io/v1beta1:
#: authentication.anonymous.enabled; "Kubelet authentication/authorization").
ANONYMOUS_KUBELET = [{"path": "settings.authentication.anonymous.enabled", "fail_if": {"ne": False},
                      "message": "the kubelet on {node} serves anonymous requests ({value})"},
                     {"path": "files[/var/lib/kubelet/config.yaml].mode", "fail_if": {"not_in": ["0600", "0400"]},
                      "message": "{component} configuration file mode is {value}"}]


def test_a_node_check_is_pure_data_over_component_facts():
    found = list(rules.run_facts_rule(control(ANONYMOUS_KUBELET, "facts", kinds=["kubelet"]), KUBELET))
    assert [(v.message, v.line, v.path, v.obj is KUBELET) for v in found] == [
        ("the kubelet on node-1 serves anonymous requests (true)", 4, "settings.authentication.anonymous.enabled",
         True),
        ("kubelet configuration file mode is 0644", 1, "files[/var/lib/kubelet/config.yaml].mode", True)]


def test_facts_rules_judge_only_their_components_and_absent_settings_by_their_conditions():
    apiserver = ComponentFacts("kube-apiserver", "cp-1", flags={"anonymous-auth": "false"})
    assert not list(rules.run_facts_rule(control(ANONYMOUS_KUBELET, "facts", kinds=["kubelet"]), apiserver))
    # kube-apiserver --anonymous-auth defaults to true: unset fails ("kube-apiserver" command-line reference)
    rule = {"path": "flags.anonymous-auth", "fail_if": ["absent", {"ne": "false"}], "message": "{value}",
            "message_unset": "--anonymous-auth is not set and defaults to true"}
    assert not list(rules.run_facts_rule(control(rule, "facts", kinds=["kube-apiserver"]), apiserver))
    bare = ComponentFacts("kube-apiserver", "cp-2", first_line=7)
    assert [(v.message, v.line) for v in rules.run_facts_rule(control(rule, "facts"), bare)] == [
        ("--anonymous-auth is not set and defaults to true", 7)]


def test_a_facts_control_is_seen_by_node_inputs_only():
    raw = {"id": "KH-TEST-001", "slug": "test-rule", "since": "0.1.0", "title": "t", "severity": "low",
           "description": "d", "remediation": "r", "scope": "facts", "kinds": ["kubelet"], "rule": ANONYMOUS_KUBELET}
    assert _parse_control(raw, "test.yaml").inputs == ("node",)
    runner = rules.runner(_parse_control(raw, "test.yaml"))
    assert len(list(runner(KUBELET))) == 2
