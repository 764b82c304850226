"""Every control pairs a failing and a passing example, and its metadata is complete."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from conftest import scan_example

from kubeharden.catalogue.loader import load_catalogue
from kubeharden.checks.registry import registered_ids
from kubeharden.cli import main
from kubeharden.model.controls import MAPPING_KEYS
from kubeharden.model.guide import REQUIREMENTS
from kubeharden.report.controls import write_markdown

CONTROLS = load_catalogue()
EXAMPLE_CONFIG = {"profile": "strict", "registries": ["registry.example.com"], "require_digest": True}
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: c.id)
def test_failing_example_fails(control):
    for n, example in enumerate(control.fail_examples, 1):
        findings, result = scan_example(control, example, EXAMPLE_CONFIG, only=[control.id])
        assert [f for f in findings if f.control.id == control.id], f"{control.id}: fail example {n} produced nothing"
        assert not [p for p in result.problems if p.level == "error"], result.problems


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: c.id)
def test_passing_example_passes(control):
    findings, result = scan_example(control, control.example_pass, EXAMPLE_CONFIG, only=[control.id])
    assert not findings, [f.message for f in findings]
    assert not [p for p in result.problems if p.level == "error"], result.problems


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: c.id)
def test_metadata_is_complete(control):
    assert control.title and control.description and control.remediation
    assert control.nsa and all(i in REQUIREMENTS for i in control.nsa)
    assert set(control.mappings_dict()) == set(MAPPING_KEYS)
    assert control.example_fail.strip() and control.example_pass.strip()


def test_every_control_has_logic_and_every_function_an_entry():
    entries = {c.id for c in CONTROLS}
    functions = registered_ids()
    assert functions <= entries
    assert all(c.rule is not None or c.id in functions for c in CONTROLS)


def test_ids_and_titles_are_unique():
    assert len({c.id for c in CONTROLS}) == len(CONTROLS)
    assert len({c.title for c in CONTROLS}) == len(CONTROLS)


def test_controls_json_is_the_documented_catalogue(capsys):
    assert main(["controls", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in data] == [c.id for c in CONTROLS]
    for item in data:
        for key in ("id", "title", "severity", "nsa", "description", "remediation", "mappings"):
            assert key in item
        assert sorted(item["mappings"]) == sorted(MAPPING_KEYS)
        assert all(isinstance(v, list) for v in item["mappings"].values())
    pod9 = next(c for c in data if c["id"] == "KH-POD-004")
    assert pod9["mappings"]["cis"] == ["5.2.2"] and pod9["mappings"]["checkov"] == ["CKV_K8S_16"]


def test_docs_controls_md_is_current():
    out = io.StringIO()
    write_markdown(CONTROLS, out)
    current = (ROOT / "docs" / "controls.md").read_text(encoding="utf-8")
    assert current == out.getvalue(), "docs/controls.md is stale: kubeharden controls --format markdown " \
                                      "-o docs/controls.md"


def test_a_misspelt_key_in_a_catalogue_entry_is_refused():
    from kubeharden.catalogue.loader import CatalogueError, _parse_control

    raw = {"id": "KH-POD-999", "slug": "test-control", "since": "0.1.0", "title": "t", "severity": "low",
           "nsa": ["NSA-POD-9"], "description": "d", "remediation": "r", "scope": "container", "input": ["node"]}
    with pytest.raises(CatalogueError, match=r"KH-POD-999: unknown keys \['input'\]"):
        _parse_control(raw, "pods.yaml")
