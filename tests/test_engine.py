"""Suppressions, exceptions with expiry, profiles and configuration: one mechanism for every source."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from conftest import ids, scan

from kubeharden.config import ConfigError, find_config, load_config, parse_config

DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: prod
  annotations: {annotations}
spec:
  template:
    metadata:
      annotations: {template_annotations}
    spec:
      containers:
        - {{name: app, image: x, securityContext: {{privileged: true}}}}
        - {{name: sidecar, image: x, securityContext: {{privileged: true}}}}
"""


def deploy(annotations="{}", template_annotations="{}"):
    return DEPLOY.format(annotations=annotations, template_annotations=template_annotations)


def statuses(findings):
    return sorted((f.container, f.status) for f in findings)


def test_annotation_suppresses_for_the_whole_object_with_a_reason():
    findings, _ = scan(deploy('{"kubeharden.io/suppress.KH-POD-004": "GPU driver installer, reviewed"}'),
                       only=["KH-POD-004"])
    assert statuses(findings) == [("app", "suppressed"), ("sidecar", "suppressed")]
    assert findings[0].suppression == {"kind": "annotation", "annotation": "kubeharden.io/suppress.KH-POD-004",
                                       "reason": "GPU driver installer, reviewed"}


def test_annotation_for_one_container_on_the_pod_template():
    findings, result = scan(deploy(template_annotations='{"kubeharden.io/suppress.KH-POD-004.sidecar": "needs it"}'),
                            only=["KH-POD-004"])
    assert statuses(findings) == [("app", "fail"), ("sidecar", "suppressed")]
    assert result.tally.failed["KH-POD-004"] == 1


def test_annotation_without_reason_does_not_suppress_and_warns():
    findings, result = scan(deploy('{"kubeharden.io/suppress.KH-POD-004": ""}'), only=["KH-POD-004"])
    assert {f.status for f in findings} == {"fail"}
    assert any(p.kind == "suppression" for p in result.problems)


UNREASONED = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: prod
  annotations:
    team: payments
    kubeharden.io/suppress.KH-POD-004: ""
spec:
  template:
    metadata:
      annotations:
        kubeharden.io/suppress.KH-POD-011.app: "  "
    spec:
      containers:
        - {name: app, image: x, securityContext: {privileged: true}}
        - {name: sidecar, image: x, securityContext: {privileged: true}}
        - {name: third, image: x, securityContext: {privileged: true}}
---
apiVersion: v1
kind: Pod
metadata:
  name: single
  namespace: prod
  annotations:
    kubeharden.io/suppress.KH-POD-004:
spec:
  containers:
    - {name: a, image: x, securityContext: {privileged: true}}
    - {name: b, image: x, securityContext: {privileged: true}}
"""


def test_annotation_without_reason_is_reported_once_per_object_at_its_own_line():
    findings, result = scan(UNREASONED, file="app.yaml")
    assert {f.status for f in findings if f.control.id in ("KH-POD-004", "KH-POD-011")} == {"fail"}
    warned = sorted((p.resource.name, p.line, p.message.split()[1]) for p in result.problems
                    if p.kind == "suppression")
    assert warned == [("api", 8, "kubeharden.io/suppress.KH-POD-004"),
                      ("api", 13, "kubeharden.io/suppress.KH-POD-011.app"),
                      ("single", 26, "kubeharden.io/suppress.KH-POD-004")]
    assert all(p.file == "app.yaml" and "no reason" in p.message for p in result.problems if p.kind == "suppression")


def test_unreasoned_annotations_are_not_reported_when_annotations_cannot_suppress():
    _, result = scan(UNREASONED, {"annotation_suppressions": False})
    assert not [p for p in result.problems if p.kind == "suppression"]


def test_annotation_suppressions_can_be_switched_off_by_the_admin():
    findings, _ = scan(deploy('{"kubeharden.io/suppress.KH-POD-004": "trust me"}'),
                       {"annotation_suppressions": False}, only=["KH-POD-004"])
    assert {f.status for f in findings} == {"fail"}


def test_exceptions_match_globs_and_containers_and_expire():
    cfg = {"exceptions": [
        {"control": "KH-POD-004", "kind": "Deployment", "namespace": "prod*", "name": "api",
         "container": "sidecar", "reason": "vendor agent", "expires": "2030-01-01"},
        {"control": "KH-POD-004", "name": "api", "container": "app", "reason": "old", "expires": "2020-01-01"},
        {"control": "KH-POD-0*", "namespace": "staging", "reason": "never matches"},
    ]}
    findings, result = scan(deploy(), cfg, only=["KH-POD-004"], today=dt.date(2026, 11, 22))
    assert statuses(findings) == [("app", "fail"), ("sidecar", "suppressed")]
    sidecar = next(f for f in findings if f.container == "sidecar")
    assert sidecar.suppression["reason"] == "vendor agent" and sidecar.suppression["expires"] == "2030-01-01"
    assert [e.index for e in result.expired_exceptions] == [1]
    assert [e.index for e in result.unused_exceptions] == [2]


def test_profiles_disable_enable_and_severity_overrides():
    text = deploy()
    assert "KH-POD-018" not in ids(scan(text)[0])
    assert "KH-POD-018" in ids(scan(text, {"profile": "strict"})[0])
    assert "KH-POD-003" not in ids(scan(text, {"profile": "baseline"})[0])
    assert "KH-POD-004" in ids(scan(text, {"profile": "baseline"})[0])
    assert "KH-POD-004" not in ids(scan(text, {"controls": {"disable": ["KH-POD-004"]}})[0])
    assert "KH-POD-025" in ids(scan(text, {"controls": {"enable": ["KH-POD-025"]}})[0])
    findings, _ = scan(text, {"controls": {"severity": {"KH-POD-004": "low"}}}, only=["KH-POD-004"])
    assert {f.severity.label for f in findings} == {"low"}


def test_registry_control_needs_configuration():
    text = deploy()
    assert "KH-IMG-003" not in ids(scan(text)[0])
    assert "KH-IMG-003" in ids(scan(text, {"registries": ["registry.example.com"]})[0])


@pytest.mark.parametrize("data,error", [
    ({"profile": "paranoid"}, "profile must be one of"),
    ({"unknown": 1}, "unknown settings"),
    ({"exceptions": [{"control": "X"}]}, "'reason' is required"),
    ({"exceptions": [{"control": "X", "reason": "r", "expires": "soon"}]}, "must be a date"),
    ({"controls": {"severity": {"KH-POD-004": "urgent"}}}, "unknown severity"),
])
def test_bad_configuration_is_explained(data, error):
    with pytest.raises(ConfigError, match=error):
        parse_config(data, "cfg.yaml")


def test_config_is_found_upwards_and_yaml_errors_name_the_line(tmp_path):
    (tmp_path / ".kubeharden.yaml").write_text("profile: strict\n")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_config(nested) == tmp_path / ".kubeharden.yaml"
    cwd = os.getcwd()
    try:
        os.chdir(nested)
        assert load_config(None).profile == "strict"
    finally:
        os.chdir(cwd)
    bad = tmp_path / "bad.yaml"
    bad.write_text("profile: strict\nexceptions: [\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: invalid YAML"):
        load_config(bad)


def test_a_failing_check_is_reported_and_the_scan_goes_on():
    from kubeharden.config import Config
    from kubeharden.engine.evaluator import Evaluator
    from kubeharden.sources.files import parse_text

    evaluator = Evaluator(Config(), only=["KH-POD-004", "KH-POD-006"])
    control, _ = next((c, r) for c, r in evaluator._by_scope["pod"] if c.id == "KH-POD-006")
    evaluator._by_scope["pod"] = [(control, lambda pod, ctx: [1 / 0])]
    findings = list(evaluator.run(parse_text(deploy(), "d.yaml")))
    assert {f.control.id for f in findings} == {"KH-POD-004"}
    (problem,) = [p for p in evaluator.result.problems if p.kind == "internal"]
    assert "KH-POD-006" in problem.message and "ZeroDivisionError" in problem.message
    assert problem.file == "d.yaml" and problem.resource.name == "api"


def test_suppression_annotations_that_are_not_text_suppress_nothing():
    from conftest import scan
    text = """\
apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: a
  annotations:
    kubeharden.io/suppress.KH-POD-003: 0
    kubeharden.io/suppress.KH-POD-001: false
    kubeharden.io/suppress.KH-POD-011: [a]
spec:
  containers: [{name: c, image: nginx}]
"""
    findings, result = scan(text)
    assert {f.control.id: f.status for f in findings if f.control.id in ("KH-POD-001", "KH-POD-003", "KH-POD-011")} \
        == {"KH-POD-001": "fail", "KH-POD-003": "fail", "KH-POD-011": "fail"}
    said = [(p.line, p.message) for p in result.problems if p.kind == "suppression"]
    assert [line for line, _ in said] == [7, 8, 9] and all("not text" in m for _, m in said)
