"""Containers are identified by their list (containers, initContainers, ephemeralContainers) and name."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

from kubeharden.report import get_reporter

from conftest import scan

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: app}
spec:
  initContainers:
  - name: setup
    image: registry.example/setup:1
    securityContext: {privileged: true}
  containers:
  - name: app
    image: registry.example/app:1
    securityContext: {privileged: true}
  - name: sidecar
    image: registry.example/sidecar:1
    securityContext: {privileged: true}
"""


def privileged(findings):
    return [f for f in findings if f.control.id == "KH-POD-004"]


def test_findings_name_the_list_and_the_container():
    findings, _ = scan(POD)
    assert sorted(f.container_id for f in privileged(findings)) == [
        "containers/app", "containers/sidecar", "initContainers/setup"]
    assert {f.to_dict()["container_list"] for f in privileged(findings)} == {"containers", "initContainers"}


def test_a_name_used_in_two_lists_makes_the_pod_invalid():
    text = POD.replace("name: app", "name: setup")
    _, result = scan(text)
    errors = [p for p in result.problems if p.level == "error"]
    assert len(errors) == 1 and errors[0].line == 6
    assert "'setup' is used by spec.containers[0] and spec.initContainers[0]" in errors[0].message
    assert result.pss[0].level == "invalid"


def test_exceptions_can_name_the_list():
    config = {"exceptions": [{"control": "KH-POD-004", "reason": "bootstraps the node", "kind": "Pod",
                              "name": "p", "container": "setup", "container_list": "initContainers"}]}
    findings, _ = scan(POD, config)
    assert {f.container_id: f.status for f in privileged(findings)} == {
        "initContainers/setup": "suppressed", "containers/app": "fail", "containers/sidecar": "fail"}
    config["exceptions"][0]["container_list"] = "containers"
    findings, _ = scan(POD, config)
    assert {f.status for f in privileged(findings)} == {"fail"}


def test_sarif_fingerprints_carry_the_list_and_name():
    findings, result = scan(POD)
    out = io.StringIO()
    get_reporter("sarif")(iter(findings), result, out)
    results = json.loads(out.getvalue())["runs"][0]["results"]
    prints = [r["partialFingerprints"]["kubeharden/v2"] for r in results if r["ruleId"] == "KH-POD-004"]
    assert prints == [f.fingerprint for f in privileged(findings)]
    assert len(set(prints)) == len(prints) == 3


def test_junit_case_names_are_unique_in_the_report():
    text = POD + """\
  volumes:
  - {name: a, hostPath: {path: /var/log}}
  - {name: b, hostPath: {path: /var/tmp}}
"""
    findings, result = scan(text)
    out = io.StringIO()
    get_reporter("junit")(iter(findings), result, out)
    names = [case.get("name") for case in ET.fromstring(out.getvalue()).iter("testcase")]
    assert len(names) == len(set(names))
    assert "KH-POD-004 Pod/app/p [initContainers/setup]" in names
    assert "KH-POD-007 Pod/app/p #2" in names
