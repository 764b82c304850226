"""A control the input cannot see is not assessable, never a pass; every control gets a status."""

from __future__ import annotations

import dataclasses
import io
import json
import textwrap
import xml.etree.ElementTree as ET

import pytest

from kubeharden.catalogue.loader import load_catalogue
from kubeharden.config import Config, parse_config
from kubeharden.engine import evaluator as engine
from kubeharden.engine.evaluator import Evaluator
from kubeharden.report import get_reporter
from kubeharden.sources.files import parse_text

# A Pod naming its ServiceAccount (Kubernetes docs, "Configure Service Accounts for Pods").
PRIVILEGED_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: cni-agent
  namespace: kube-net
  annotations: {kubeharden.io/suppress.KH-POD-006: "programs the node's routes"}
spec:
  serviceAccountName: cni-agent
  hostNetwork: true
  containers:
    - name: web
      image: registry.example.com/web:1.0
      securityContext: {privileged: true}
"""


class Scan:
    """One scan of ``text`` from the given input kind: its evaluator and findings."""

    def __init__(self, text: str, only: list[str], input_kind: str = "manifest", config: Config | None = None):
        evaluator = Evaluator(config or Config(), only=only, input_kind=input_kind)
        self.findings = list(evaluator.run(parse_text(textwrap.dedent(text), "pod.yaml")))
        self.result = evaluator.result


def run(text: str, only: list[str], input_kind: str = "manifest", config: Config | None = None) -> Scan:
    return Scan(text, only, input_kind, config)


def report(scan: Scan, fmt: str) -> str:
    out = io.StringIO()
    get_reporter(fmt)(iter(scan.findings), scan.result, out)
    return out.getvalue()


def test_every_selected_control_gets_a_status():
    ev = run(PRIVILEGED_POD, ["KH-POD-004", "KH-POD-006", "KH-POD-010", "KH-NET-008"])
    assert ev.result.control_status() == {"KH-POD-004": "fail", "KH-POD-006": "suppressed", "KH-POD-010": "pass",
                                          "KH-NET-008": "not-applicable"}
    summary = json.loads(report(ev, "json"))["summary"]
    assert summary["control_status"]["KH-NET-008"] == "not-applicable"
    assert summary["input"] == "manifest" and summary["not_assessable"] == []


def test_a_control_that_raises_is_an_error(monkeypatch):
    def broken(unit, ctx):
        raise RuntimeError("boom")

    original = engine.Evaluator._runner
    monkeypatch.setattr(engine.Evaluator, "_runner",
                        lambda self, c: broken if c.id == "KH-POD-010" else original(self, c))
    ev = run(PRIVILEGED_POD, ["KH-POD-004", "KH-POD-010"])
    assert ev.result.control_status() == {"KH-POD-004": "fail", "KH-POD-010": "error"}


def test_cross_object_controls_are_not_assessable_on_one_admission_request():
    ev = run(PRIVILEGED_POD, ["KH-POD-004", "KH-POD-024", "KH-RBAC-019"], input_kind="admission")
    assert [c.id for c in ev.result.controls] == ["KH-POD-004"]
    assert [c.id for c in ev.result.not_assessable] == ["KH-POD-024", "KH-RBAC-019"]
    assert {f.control.id for f in ev.findings} == {"KH-POD-004"}
    # never run, so never counted: no unit evaluated, nothing in the compliance figures
    assert "KH-POD-024" not in ev.result.tally.evaluated
    status = ev.result.control_status()
    assert status == {"KH-POD-004": "fail", "KH-POD-024": "not-assessable", "KH-RBAC-019": "not-assessable"}
    summary = json.loads(report(ev, "json"))["summary"]
    assert summary["input"] == "admission"
    assert summary["not_assessable"] == [
        {"control_id": "KH-POD-024", "title": "Service-account token mounted", "inputs": ["manifest", "cluster"]},
        {"control_id": "KH-RBAC-019", "title": "Workload's mounted token holds risky permissions",
         "inputs": ["manifest", "cluster"]}]
    assert summary["controls"] == 1


def test_not_assessable_is_shown_by_every_reporter():
    ev = run(PRIVILEGED_POD, ["KH-POD-004", "KH-POD-024"], input_kind="admission")
    table = report(ev, "table")
    assert ("not assessable from admission input, so neither passed nor failed: KH-POD-024 (needs manifest or "
            "cluster input)") in table
    root = ET.fromstring(report(ev, "junit"))
    suite = next(s for s in root.iter("testsuite") if s.get("name") == "not assessable")
    assert (suite.get("tests"), suite.get("skipped"), suite.get("failures")) == ("1", "1", "0")
    (case,) = suite.iter("testcase")
    assert case.get("classname") == "KH-POD-024"
    assert case.find("skipped").get("message") == \
        "not assessable from admission input (needs manifest or cluster input)"
    assert (root.get("tests"), root.get("skipped"), root.get("failures")) == ("2", "1", "1")
    sarif = json.loads(report(ev, "sarif"))["runs"][0]
    assert sarif["invocations"][0]["properties"]["notAssessable"] == ["KH-POD-024"]
    assert [r["id"] for r in sarif["tool"]["driver"]["rules"]] == ["KH-POD-004"]


def test_a_cluster_only_control_is_not_assessable_from_manifests(monkeypatch):
    catalogue = tuple(dataclasses.replace(c, inputs=("cluster",)) if c.id == "KH-POD-004" else c
                      for c in load_catalogue())
    monkeypatch.setattr(engine, "load_catalogue", lambda: catalogue)
    ev = run(PRIVILEGED_POD, ["KH-POD-004", "KH-POD-006"])
    assert ev.result.control_status() == {"KH-POD-006": "suppressed", "KH-POD-004": "not-assessable"}
    assert not [f for f in ev.findings if f.control.id == "KH-POD-004"]
    ev = run(PRIVILEGED_POD, ["KH-POD-004"], input_kind="cluster")
    assert ev.result.control_status() == {"KH-POD-004": "fail"}


def test_profile_selection_keeps_not_assessable_controls_visible():
    ev = run(PRIVILEGED_POD, [], input_kind="admission", config=parse_config({"profile": "strict"}))
    inventory = {c.id for c in load_catalogue() if c.scope == "inventory"}
    # cross-object controls, and those that read files no admission request carries (Dockerfiles)
    blind = {c.id for c in load_catalogue() if "admission" not in c.inputs and not c.requires_config}
    assert inventory <= blind
    assert {c.id for c in ev.result.not_assessable} == blind
    assert not inventory & {c.id for c in ev.result.controls}


def test_unknown_input_kind_is_refused():
    with pytest.raises(ValueError):
        Evaluator(Config(), input_kind="helm")
