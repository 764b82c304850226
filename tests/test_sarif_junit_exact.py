"""SARIF and JUnit pinned element by element: levels, rule indexes, locations, counts, suppressions.

A scan with one finding of each SARIF level, one suppression of each kind, an input error, a
warning and a skipped document; every element the reporters write is asserted exactly, so a
changed mapping, a wrong index or an off-by-one count fails here.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import textwrap
import xml.etree.ElementTree as ET

from kubeharden.config import parse_config
from kubeharden.engine.evaluator import Evaluator
from kubeharden.report import get_reporter
from kubeharden.report.sarif import FINGERPRINT_KEY
from kubeharden.sources.files import parse_text

# Pod fields from the Kubernetes API reference (Pod v1, SecurityContext, ContainerPort).
INPUT = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  annotations:
    kubeharden.io/suppress.KH-POD-006: "the node agent needs the host network"
spec:
  hostNetwork: true
  containers:
    - name: app
      image: registry.example.com/app:1.0
      securityContext: {privileged: true}
      ports:
        - {containerPort: 8080, hostPort: 8080}
    - name: helper
      image: registry.example.com/helper:1.0
      ports:
        - {containerPort: 9090, hostPort: 9090}
---
not: a kubernetes object
---
broken: [yaml
"""
ONLY = ["KH-POD-004", "KH-POD-006", "KH-POD-010", "KH-POD-018", "KH-POD-025", "KH-NS-003"]
CONFIG = {"exceptions": [{"control": "KH-POD-010", "kind": "Pod", "name": "web", "container": "helper",
                          "reason": "the metrics port is scraped on the node", "expires": "2099-01-01"}]}


def render(fmt: str) -> str:
    evaluator = Evaluator(parse_config(CONFIG), only=ONLY, today=dt.date(2026, 1, 1))
    findings = evaluator.run(parse_text(INPUT, "deploy/web.yaml"))
    out = io.StringIO()
    get_reporter(fmt)(findings, evaluator.result, out)
    return out.getvalue()


# -- SARIF ---------------------------------------------------------------------------------------


def test_sarif_rules_are_the_selected_controls_in_catalogue_order():
    run = json.loads(render("sarif"))["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["KH-POD-004", "KH-POD-006", "KH-POD-010", "KH-POD-018", "KH-POD-025",
                                        "KH-NS-003"]
    assert [r["defaultConfiguration"]["level"] for r in rules] == ["error", "error", "warning", "note", "note",
                                                                   "warning"]
    assert [r["properties"]["security-severity"] for r in rules] == ["9.5", "8.0", "5.5", "3.0", "0.0", "5.5"]
    assert rules[0]["name"] == "KHPOD004" and rules[0]["shortDescription"] == {"text": "Privileged container"}


def test_sarif_results_exactly():
    run = json.loads(render("sarif"))["runs"][0]
    results = run["results"]
    summary = [(r["ruleId"], r["ruleIndex"], r["level"], r["locations"][0]["physicalLocation"]["region"]["startLine"],
                r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"], [s["kind"] for s in
                                                                                  r.get("suppressions", [])])
               for r in results]
    assert sorted(summary) == sorted([
        ("KH-POD-004", 0, "error", 13, "Pod/shop/web container containers/app", []),
        ("KH-POD-006", 1, "error", 9, "Pod/shop/web", ["inSource"]),
        ("KH-POD-010", 2, "warning", 15, "Pod/shop/web container containers/app", []),
        ("KH-POD-010", 2, "warning", 19, "Pod/shop/web container containers/helper", ["external"]),
        ("KH-POD-018", 3, "note", 13, "Pod/shop/web container containers/app", []),
        ("KH-POD-018", 3, "note", 16, "Pod/shop/web container containers/helper", []),
        ("KH-POD-025", 4, "note", 9, "Pod/shop/web", []),
    ])
    for r in results:
        assert r["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "deploy/web.yaml"}
        assert list(r["partialFingerprints"]) == [FINGERPRINT_KEY] and len(r["partialFingerprints"][FINGERPRINT_KEY]) == 32
        assert r["message"]["text"].startswith(r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] + ": ")
        assert r["properties"]["resource"] == {"apiVersion": "v1", "kind": "Pod", "namespace": "shop", "name": "web"}
    justifications = {r["locations"][0]["physicalLocation"]["region"]["startLine"]: r["suppressions"][0]["justification"]
                      for r in results if "suppressions" in r}
    assert justifications == {9: "the node agent needs the host network", 19: "the metrics port is scraped on the node"}
    privileged = next(r for r in results if r["ruleId"] == "KH-POD-004")
    assert privileged["properties"]["path"] == "spec.containers[0].securityContext.privileged"
    assert privileged["properties"]["fix"] == {"op": "set", "path": "spec.containers[0].securityContext.privileged",
                                               "value": False, "safe": False,
                                               "because": "not safe (needs --unsafe): the container loses access to "
                                                          "the node's devices and every capability: agents that load "
                                                          "kernel modules or manage devices stop working; grant the one "
                                                          "capability they need instead"}
    assert privileged["properties"]["container"] == "app" and privileged["properties"]["container_list"] == "containers"


def test_sarif_notifications_are_the_errors_and_warnings_only():
    run = json.loads(render("sarif"))["runs"][0]
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False
    notes = invocation["toolExecutionNotifications"]
    assert [(n["level"], n["descriptor"]["id"], n["locations"][0]["physicalLocation"]["region"]["startLine"])
            for n in notes] == [("error", "input/parse", 23)]
    assert notes[0]["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "deploy/web.yaml"}
    assert notes[0]["message"]["text"].startswith("deploy/web.yaml:23: ")


def test_sarif_clean_scan_succeeds():
    evaluator = Evaluator(parse_config({}), only=["KH-POD-004"])
    findings = evaluator.run(parse_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
                                        "  containers: [{name: c, image: registry.example.com/c:1.0}]\n", "p.yaml"))
    out = io.StringIO()
    get_reporter("sarif")(findings, evaluator.result, out)
    run = json.loads(out.getvalue())["runs"][0]
    assert run["results"] == [] and run["invocations"][0]["executionSuccessful"] is True
    assert run["invocations"][0]["toolExecutionNotifications"] == []


# -- JUnit ---------------------------------------------------------------------------------------


def test_junit_suites_and_totals_exactly():
    root = ET.fromstring(render("junit"))
    suites = [(s.get("name"), s.get("tests"), s.get("failures"), s.get("skipped"), s.get("errors"))
              for s in root.findall("testsuite")]
    assert suites == [
        ("KH-POD-004 Privileged container", "1", "1", "0", "0"),
        ("KH-POD-006 Pod uses the host network", "1", "0", "1", "0"),
        ("KH-POD-010 Container binds a host port", "2", "1", "1", "0"),
        ("KH-POD-018 No explicit AppArmor profile", "2", "2", "0", "0"),
        ("KH-POD-025 Workload not sandboxed", "1", "1", "0", "0"),
        ("KH-NS-003 Namespace does not enforce Pod Security Admission", "1", "0", "0", "0"),
        ("inputs", "1", "0", "0", "1"),
    ]
    assert (root.get("tests"), root.get("failures"), root.get("skipped"), root.get("errors")) == ("9", "5", "2", "1")


def test_junit_cases_exactly():
    root = ET.fromstring(render("junit"))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert sorted(cases) == sorted([
        "KH-POD-004 Pod/shop/web [containers/app]", "KH-POD-006 Pod/shop/web",
        "KH-POD-010 Pod/shop/web [containers/app]", "KH-POD-010 Pod/shop/web [containers/helper]",
        "KH-POD-018 Pod/shop/web [containers/app]", "KH-POD-018 Pod/shop/web [containers/helper]",
        "KH-POD-025 Pod/shop/web",
        "KH-NS-003 all resources", "deploy/web.yaml:23"])
    privileged = cases["KH-POD-004 Pod/shop/web [containers/app]"]
    assert (privileged.get("classname"), privileged.get("file"), privileged.get("line")) == (
        "KH-POD-004", "deploy/web.yaml", "13")
    failure = privileged.find("failure")
    assert failure.get("type") == "critical" and failure.get("message").startswith("securityContext.privileged is true")
    assert failure.text.startswith("deploy/web.yaml:13\n") and "\nFix: " in failure.text and "NSA-POD-9" in failure.text
    assert privileged.find("skipped") is None
    host = cases["KH-POD-006 Pod/shop/web"]
    assert host.find("failure") is None
    assert host.find("skipped").get("message") == "suppressed: the node agent needs the host network"
    excepted = cases["KH-POD-010 Pod/shop/web [containers/helper]"]
    assert excepted.find("skipped").get("message") == "suppressed: the metrics port is scraped on the node"
    clean = cases["KH-NS-003 all resources"]
    assert list(clean) == [] and clean.get("classname") == "KH-NS-003"
    error = cases["deploy/web.yaml:23"].find("error")
    assert error.get("type") == "parse" and error.text.startswith("deploy/web.yaml:23: ")


def test_junit_repeated_names_are_numbered():
    text = textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: p, namespace: shop}
        spec:
          containers:
            - name: c
              image: registry.example.com/c:1.0
              ports: [{containerPort: 1, hostPort: 1}, {containerPort: 2, hostPort: 2}]
        """)
    evaluator = Evaluator(parse_config({}), only=["KH-POD-010"])
    out = io.StringIO()
    get_reporter("junit")(evaluator.run(parse_text(text, "p.yaml")), evaluator.result, out)
    names = [c.get("name") for c in ET.fromstring(out.getvalue()).iter("testcase")]
    assert names == ["KH-POD-010 Pod/shop/p [containers/c]", "KH-POD-010 Pod/shop/p [containers/c] #2"]
