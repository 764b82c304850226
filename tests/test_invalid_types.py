"""A value of the wrong type makes the API server refuse the object: invalid, never a pass."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kubeharden.model.apitypes import type_problems

from conftest import ids, scan

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: app}
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: c
    image: registry.example/app@sha256:DIGEST
    securityContext:
      %s
""".replace("DIGEST", "a" * 64)


@pytest.mark.parametrize(("field", "path", "line"), [
    ('privileged: "true"', "spec.containers[0].securityContext.privileged", 10),
    ('runAsUser: "0"', "spec.containers[0].securityContext.runAsUser", 10),
    ("allowPrivilegeEscalation: 'false'", "spec.containers[0].securityContext.allowPrivilegeEscalation", 10),
    ("capabilities: {drop: ALL}", "spec.containers[0].securityContext.capabilities.drop", 10),
    ("runAsUser: 1.5", "spec.containers[0].securityContext.runAsUser", 10),
])
def test_wrong_types_are_invalid_objects_with_their_line(field, path, line):
    findings, result = scan(POD % field)
    errors = [p for p in result.problems if p.level == "error"]
    assert [(p.kind, p.line) for p in errors] == [("invalid-object", line)]
    assert errors[0].message.startswith(path + " is ")
    assert result.pss[0].level == "invalid"


def test_right_types_are_not_problems():
    _, result = scan(POD % "{privileged: false, runAsUser: 1000.0, allowPrivilegeEscalation: no}")
    assert not result.problems and result.pss[0].level != "invalid"


def test_containers_as_a_string_is_invalid_not_restricted():
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: app}\nspec:\n  containers: x\n"
    _, result = scan(text)
    assert result.pss[0].level == "invalid"
    assert [(p.level, p.line) for p in result.problems] == [("error", 5)]
    assert "spec.containers is a string" in result.problems[0].message


def test_an_invalid_object_never_counts_as_passing():
    findings, result = scan(POD % 'privileged: "true"')
    evaluated_before = dict(result.tally.evaluated)
    assert "KH-POD-004" not in evaluated_before  # neither a pass nor a failure: not judged
    assert "KH-POD-004" not in ids(findings)


def test_unknown_fields_are_warned_about():
    problems = type_problems({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [
        {"name": "c", "securityContext": {"priviliged": True}}]}}, "v1", "Pod")
    assert [(p.level, p.path) for p in problems] == [("warning", "spec.containers[0].securityContext.priviliged")]


def test_custom_resources_are_not_type_checked():
    assert type_problems({"spec": {"x": 1}}, "example.com/v1", "Widget") == []


def test_older_groups_use_the_same_structs():
    problems = type_problems({"spec": {"template": {"spec": {"hostNetwork": "yes"}}}}, "extensions/v1beta1",
                             "Deployment")
    assert [p.path for p in problems] == ["spec.template.spec.hostNetwork"]


@pytest.mark.parametrize("fmt", ["json", "sarif", "junit"])
def test_every_format_reports_the_invalid_object_as_an_error(fmt):
    proc = subprocess.run([sys.executable, "-m", "kubeharden", "scan", "--no-config", "-f", fmt, "--fail-on",
                           "critical", "-"], input=POD % 'privileged: "true"', capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    out = proc.stdout
    if fmt == "json":
        errors = json.loads(out)["errors"]
        assert any(e["level"] == "error" and "privileged is a string" in e["message"] for e in errors)
    elif fmt == "sarif":
        notes = json.loads(out)["runs"][0]["invocations"][0]["toolExecutionNotifications"]
        assert any(n["level"] == "error" and "privileged is a string" in n["message"]["text"] for n in notes)
    else:
        assert "privileged is a string" in out and "<error" in out


INVALID_ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: all}
rules: [{apiGroups: "*", resources: "*", verbs: "*"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: all}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: all}
subjects: [{kind: ServiceAccount, name: sa, namespace: app}]
"""


@pytest.mark.parametrize("argv", [
    ["rbac", "who-can", "get", "secrets"], ["rbac", "can", "serviceaccount:app:sa"], ["rbac", "paths"],
])
def test_analyses_report_invalid_objects_and_leave_them_out(tmp_path, argv):
    path = tmp_path / "rbac.yaml"
    path.write_text(INVALID_ROLE)
    proc = subprocess.run([sys.executable, "-m", "kubeharden", *argv, str(path)], capture_output=True, text=True)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "rules[0].apiGroups is a string" in proc.stderr and "left out of this analysis" in proc.stderr


@pytest.mark.parametrize("argv", [["netpol", "matrix"], ["generate", "netpol"], ["generate", "quotas"]])
def test_network_analyses_and_generators_too(tmp_path, argv):
    path = tmp_path / "pod.yaml"
    path.write_text((POD % 'privileged: "true"') + "---\n" + (POD % "privileged: false").replace("name: p,", "name: q,"))
    proc = subprocess.run([sys.executable, "-m", "kubeharden", *argv, str(path)], capture_output=True, text=True)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "privileged is a string" in proc.stderr


@pytest.mark.parametrize(("field", "path"), [
    ("runAsUser: 9223372036854775808", "spec.containers[0].securityContext.runAsUser"),
    ("runAsUser: 18446744073709551616", "spec.containers[0].securityContext.runAsUser"),
])
def test_integers_out_of_range_are_invalid(field, path):
    _, result = scan(POD % field)
    errors = [p for p in result.problems if p.level == "error"]
    assert len(errors) == 1 and errors[0].message.startswith(path + " is ") and "64-bit" in errors[0].message


def test_int32_fields_refuse_larger_values():
    text = (POD % "{}").replace("    securityContext:\n      {}\n", "    ports: [{containerPort: 3000000000}]\n")
    _, result = scan(text)
    assert [p.message.split(" is ")[0] for p in result.problems if p.level == "error"] == [
        "spec.containers[0].ports[0].containerPort"]


@pytest.mark.parametrize("spelling", ["1e3", "1_000.0", "1000.", "01750"])
def test_whole_floats_are_the_integers_kubectl_sends(spelling):
    findings, result = scan(POD % f"runAsUser: {spelling}")
    assert not result.problems
    assert "KH-POD-001" not in ids(findings)
    assert result.pss[0].level != "invalid"


def test_the_quick_check_agrees_with_the_walk():
    """type_problems answers most objects with a quick walk that keeps no paths (apitypes._valid); it must
    say "no problem" exactly when the full walk finds none, whatever is wrong where."""
    import copy
    import random

    from kubeharden.model.apitypes import _structs, _valid, _walk, definition_for

    base = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"a": "b"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b"}, "annotations": {"x": "y"}},
                                  "spec": {"containers": [{"name": "c", "image": "i", "args": ["a"],
                                                           "ports": [{"containerPort": 80}],
                                                           "resources": {"limits": {"cpu": "1"}},
                                                           "securityContext": {"privileged": False}}],
                                           "volumes": [{"name": "v", "emptyDir": {}}]}}}}
    values = [None, "x", "true", 1, -1, 2**40, 2**70, 1.0, 1.5, True, [], {}, ["a"], [1], {"a": 1}, {"a": "b"},
              {"$patch": "delete"}, [{"name": 1}]]
    root, structs = definition_for("apps/v1", "Deployment"), _structs()

    def places(value, out):
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, child in list(items):
            out.append((value, key))
            places(child, out)
        return out

    rnd = random.Random(7)
    seen = set()
    for _ in range(3000):
        raw = copy.deepcopy(base)
        for _ in range(rnd.randint(1, 2)):
            holder, key = rnd.choice(places(raw, []))
            if isinstance(holder, dict) and rnd.random() < 0.3:
                key = rnd.choice(["unknown", "$setElementOrder/x", "apiVersion", "kind"])
            holder[key] = copy.deepcopy(rnd.choice(values))
        found = _walk(raw, root, structs, 20)
        assert _valid(raw, root, structs, top=True) == (not found), raw
        assert type_problems(raw, "apps/v1", "Deployment") == found
        seen.add(bool(found))
    assert seen == {True, False}
