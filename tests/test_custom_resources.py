"""Custom resources that carry pods: evaluated through their pod template, or listed as not evaluated."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from kubeharden.cli import main

from conftest import scan

PRIVILEGED = "{name: app, image: registry.example.com/app:1, securityContext: {privileged: true}}"

ROLLOUT = f"""
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: shop, namespace: shop}}
spec:
  strategy: {{canary: {{steps: [{{setWeight: 20}}]}}}}
  template:
    metadata: {{labels: {{app: shop}}}}
    spec:
      containers:
        - {PRIVILEGED}
"""

DEPLOYMENT_CONFIG = f"""
apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata: {{name: legacy, namespace: shop}}
spec:
  replicas: 1
  selector: {{app: legacy}}
  template:
    metadata: {{labels: {{app: legacy}}}}
    spec:
      containers:
        - {PRIVILEGED}
"""

KNATIVE = """
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: hello, namespace: shop}
spec:
  template:
    spec:
      containers:
        - {image: registry.example.com/hello:1, securityContext: {privileged: true}}
"""

SCHEDULED = f"""
apiVersion: example.com/v1
kind: ScheduledTask
metadata: {{name: nightly, namespace: shop}}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - {PRIVILEGED}
"""

PYTORCH_JOB = """
apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: train, namespace: ml}
spec:
  pytorchReplicaSpecs:
    Master:
      template:
        spec:
          containers:
            - {name: pytorch, image: registry.example.com/train:1, securityContext: {privileged: true}}
"""

WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: build, namespace: ci}
spec:
  entrypoint: main
  templates:
    - name: main
      container: {image: registry.example.com/build:1, command: [make]}
"""


def _custom(result) -> list[tuple[str, str]]:
    return [(p.kind, p.level) for p in result.problems if p.kind in ("pod-template", "not-evaluated")]


@pytest.mark.parametrize("text, kind, line", [(ROLLOUT, "Rollout", 7), (DEPLOYMENT_CONFIG, "DeploymentConfig", 8),
                                              (KNATIVE, "Service", 6), (SCHEDULED, "ScheduledTask", 8)])
def test_pod_template_of_a_custom_resource_is_evaluated_and_said(text, kind, line):
    findings, result = scan(text, only=["KH-POD-004"])
    assert [f.resource.kind for f in findings] == [kind]
    assert findings[0].line == text.splitlines().index(next(ln for ln in text.splitlines() if "privileged" in ln)) + 1
    assert _custom(result) == [("pod-template", "note")]
    (note,) = [p for p in result.problems if p.kind == "pod-template"]
    assert "not a kind kubeharden knows" in note.message and note.line == line


def test_every_pod_control_and_the_inventory_see_the_custom_workload():
    findings, result = scan(ROLLOUT)
    assert {"KH-POD-004", "KH-POD-026", "KH-RES-003", "KH-NET-003"} <= {f.control.id for f in findings}
    assert [e.ref.kind for e in result.pss] == ["Rollout"]


@pytest.mark.parametrize("text, where", [
    (PYTORCH_JOB, "spec.pytorchReplicaSpecs.Master.template.spec.containers[*]"),
    (WORKFLOW, "spec.templates[0].container"),
])
def test_containers_outside_a_readable_template_are_listed_as_not_evaluated(text, where):
    findings, result = scan(text)
    assert findings == []
    assert _custom(result) == [("not-evaluated", "warning")]
    (warning,) = [p for p in result.problems if p.kind == "not-evaluated"]
    assert where in warning.message and "were not evaluated" in warning.message and warning.line == 2


def test_template_evaluated_and_other_containers_listed():
    text = ROLLOUT + "  analysis:\n    sidecars:\n      - {name: probe, image: registry.example.com/probe:1}\n"
    findings, result = scan(text, only=["KH-POD-004"])
    assert len(findings) == 1
    assert _custom(result) == [("pod-template", "note"), ("not-evaluated", "warning")]
    assert "spec.analysis.sidecars[*]" in result.problems[1].message
    assert "spec.template" not in result.problems[1].message


@pytest.mark.parametrize("text", [
    # no pod template at all (Argo Rollout referencing a Deployment): nothing to evaluate
    "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\n"
    "spec: {workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web}}\n",
    # a custom resource without containers
    "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: c}\nspec: {secretName: tls}\n",
    # a built-in kind is never searched
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {x: z}\n",
])
def test_objects_without_containers_say_nothing(text):
    findings, result = scan(text)
    assert findings == [] and result.problems == []


@pytest.mark.parametrize("spec", ["template: 3", "template: {spec: {containers: []}}",
                                  "template: {spec: {containers: [3]}}", "template: {spec: {containers: oops}}"])
def test_wrong_shapes_are_not_evaluated_and_never_crash(spec):
    text = f"apiVersion: example.com/v1\nkind: Thing\nmetadata: {{name: t}}\nspec:\n  {spec}\n"
    findings, result = scan(text)
    assert findings == [] and not [p for p in result.problems if p.level == "error"]
    assert not [p for p in result.problems if p.kind == "pod-template"]


def test_huge_custom_resource_is_reported_as_not_fully_searched():
    items = ", ".join(f"{{k{i}: [{i}, {i}]}}" for i in range(20_000))
    text = f"apiVersion: example.com/v1\nkind: Blob\nmetadata: {{name: b}}\nspec: {{items: [{items}]}}\n"
    _, result = scan(text)
    (warning,) = [p for p in result.problems if p.kind == "not-evaluated"]
    assert "too large to search" in warning.message


def test_every_format_says_it_through_the_command_line(tmp_path, capsys):
    # through the CLI, where kinds nobody reads are loaded shallowly: custom resources must be read whole
    path = tmp_path / "crs.yaml"
    path.write_text(ROLLOUT + "---" + PYTORCH_JOB)
    out = tmp_path / "out"

    assert main(["scan", "--no-config", "--fail-on", "none", "--format", "json", "-o", str(out), str(path)]) == 0
    report = json.loads(out.read_text())
    assert report["summary"]["custom_resources"] == {"evaluated": {"argoproj.io/v1alpha1/Rollout": 1},
                                                     "not_evaluated": {"kubeflow.org/v1/PyTorchJob": 1}}
    assert any(f["control_id"] == "KH-POD-004" and f["resource"]["kind"] == "Rollout" for f in report["findings"])
    assert [n["kind"] for n in report["notes"]] == ["pod-template"]
    assert [e["kind"] for e in report["errors"]] == ["not-evaluated"]

    assert main(["scan", "--no-config", "--fail-on", "none", "--format", "table", "-o", str(out), str(path)]) == 0
    table = out.read_text()
    assert "argoproj.io/v1alpha1/Rollout: not a kind kubeharden knows; 1 object(s) evaluated" in table
    assert "kubeflow.org/v1/PyTorchJob: 1 object(s) carry containers that were NOT evaluated" in table

    assert main(["scan", "--no-config", "--fail-on", "none", "--format", "sarif", "-o", str(out), str(path)]) == 0
    notes = json.loads(out.read_text())["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert sorted((n["descriptor"]["id"], n["level"]) for n in notes) == [
        ("input/not-evaluated", "warning"), ("input/pod-template", "note")]

    assert main(["scan", "--no-config", "--fail-on", "none", "--format", "junit", "-o", str(out), str(path)]) == 0
    suite = ET.parse(out).getroot().find("testsuite[@name='custom resources']")
    assert suite is not None and suite.get("tests") == "2" and suite.get("skipped") == "1"
    assert "PyTorchJob" in suite.find("testcase/skipped").get("message")
