"""Shared helpers: scan YAML text through the same path the CLI uses."""

from __future__ import annotations

import datetime as dt
import textwrap
from typing import Any

import pytest

from kubeharden.config import Config, parse_config
from kubeharden.engine.evaluator import Evaluator
from kubeharden.model.findings import Finding
from kubeharden.model.results import ScanResult
from kubeharden.sources.files import parse_text


def scan(text: str, config: Config | dict[str, Any] | None = None, only: list[str] | None = None,
         today: dt.date | None = None, file: str = "test.yaml") -> tuple[list[Finding], ScanResult]:
    if isinstance(config, dict):
        config = parse_config(config)
    evaluator = Evaluator(config or Config(), only=only, today=today)
    findings = list(evaluator.run(parse_text(textwrap.dedent(text), file)))
    return findings, evaluator.result


def scan_example(control: Any, text: str, config: Config | dict[str, Any] | None = None,
                 only: list[str] | None = None) -> tuple[list[Finding], ScanResult]:
    """Scan one catalogue example of ``control`` as its input is read (sources/examples.py)."""
    from kubeharden.sources.examples import example_items

    if control.example_input == "facts":
        return judge_facts_example(control, text)

    if isinstance(config, dict):
        config = parse_config(config)
    evaluator = Evaluator(config or Config(), only=only, input_kind=example_input_kind(control))
    items = example_items(control.example_input, textwrap.dedent(text), textwrap.dedent(control.example_with))
    findings = list(evaluator.run(items))
    return findings, evaluator.result


def judge_facts_example(control: Any, text: str) -> tuple[list[Any], Any]:
    """A ``facts`` example judged by the control's rule (checks.rules.run_facts_rule), as findings with the
    fields the catalogue tests read. The node source's evaluator wiring (issue #12) runs facts controls in
    scans; until it does, this is how their examples run."""
    from types import SimpleNamespace

    from kubeharden.checks.rules import run_facts_rule
    from kubeharden.sources.examples import example_facts

    facts = example_facts(textwrap.dedent(text))
    findings = [SimpleNamespace(control=control, message=v.message, line=v.line, container_id=None, status="fail",
                                path=v.path, fix=None, obj=v.obj) for v in run_facts_rule(control, facts)]
    return findings, SimpleNamespace(problems=[])


def example_input_kind(control: Any) -> str:
    """The input kind (model.controls.INPUTS) a control's examples are judged as: etcd objects as read from
    etcd, everything else as manifests."""
    return "etcd" if control.example_input == "etcd" else "manifest"


def ids(findings: list[Finding]) -> set[str]:
    return {f.control.id for f in findings if f.status == "fail"}


def messages(findings: list[Finding], control_id: str) -> list[str]:
    return [f.message for f in findings if f.control.id == control_id]


@pytest.fixture
def scan_text():
    return scan
