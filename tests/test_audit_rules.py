"""Every built-in detection rule: its metadata is complete and its examples behave.

Each rule carries ``fire`` scenarios (must raise its alert) and ``quiet`` ones (must not), written
as real audit events (see kubeharden.detect.simulate.make_event). This runs them all.
"""

from __future__ import annotations

import re

import pytest

from kubeharden.detect.examples import run_scenario
from kubeharden.detect.rules import load_rules
from kubeharden.model.guide import REQUIREMENTS

RULES = load_rules(overrides={"approved_registries": ["registry.example.com/"]})  # turns every rule on
BY_ID = {r.id: r for r in RULES}


def _cases(kind: str) -> list:
    return [pytest.param(r.id, i, id=f"{r.id}-{kind}{i + 1}") for r in RULES for i in range(len(r.examples[kind]))]


@pytest.mark.parametrize(("rule_id", "index"), _cases("fire"))
def test_fire_example_raises_alert(rule_id: str, index: int) -> None:
    rule = BY_ID[rule_id]
    assert run_scenario(rule, rule.examples["fire"][index]) >= 1


@pytest.mark.parametrize(("rule_id", "index"), _cases("quiet"))
def test_quiet_example_stays_quiet(rule_id: str, index: int) -> None:
    rule = BY_ID[rule_id]
    assert run_scenario(rule, rule.examples["quiet"][index]) == 0


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_metadata_is_complete(rule) -> None:
    assert re.fullmatch(r"KH-AUDIT-\d{3}", rule.id)
    assert rule.title and rule.description and rule.remediation
    assert rule.nsa and all(n in REQUIREMENTS for n in rule.nsa)
    assert rule.det and all(re.fullmatch(r"DET-([1-9]|1\d|20)", d) for d in rule.det)
    assert all(re.fullmatch(r"T\d{4}(\.\d{3})?", m) for m in rule.mitre)
    assert rule.examples["fire"] and rule.examples["quiet"], "every rule needs both kinds of example"
    assert rule.requires is not None and rule.requires.level in ("Metadata", "Request", "RequestResponse")


def test_pack_covers_the_audit_visible_detections() -> None:
    covered = {d for r in RULES for d in r.det}
    # DET-3 (registry pushes) needs registry logs; every other detection shows in audit events.
    expected = {f"DET-{i}" for i in range(1, 21)} - {"DET-3"}
    assert expected <= covered


def test_rules_that_read_bodies_declare_request_level() -> None:
    assert BY_ID["KH-AUDIT-001"].requires.level == "Request"
    assert BY_ID["KH-AUDIT-030"].requires.level == "Metadata"
    assert BY_ID["KH-AUDIT-050"].requires.resources == [
        ("rbac.authorization.k8s.io", "clusterrolebindings", ""), ("rbac.authorization.k8s.io", "rolebindings", "")]


def test_mappings_name_peer_rules_from_the_anchor_lists() -> None:
    falco = {x for r in RULES for x in r.mappings["falco"]}
    sigma = {x for r in RULES for x in r.mappings["sigma"]}
    elastic = {x for r in RULES for x in r.mappings["elastic"]}
    assert {"Create Privileged Pod", "Attach/Exec Pod", "Attach to cluster-admin Role"} <= falco
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", x) for x in sigma)
    assert {"3132570d-cab2-4561-9ea6-1743644b2290",   # Kubernetes Events Deleted
            "84b777bd-c946-4d17-aa2e-c39f5a454325"} <= sigma  # RBAC Permission Enumeration Attempt
    assert {"Kubernetes Cluster-Admin Role Binding Created",
            "Kubernetes Sensitive RBAC Change Followed by Workload Modification"} <= elastic
    assert len(sigma) == 16 and len(elastic) >= 40 and len(falco) >= 25
