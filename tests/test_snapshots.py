"""Pinned behaviour: every catalogue example's findings and every reporter's output on the examples.

The expected outputs live in ``tests/snapshots/`` (see tests/snapshots.py for how to update them).
"""

from __future__ import annotations

import pytest
from conftest import scan_example
from snapshots import ROOT_PLACEHOLDER, assert_entry, assert_text, normalise
from test_catalogue import EXAMPLE_CONFIG, ROOT

from kubeharden import __version__
from kubeharden.catalogue.loader import load_catalogue
from kubeharden.cli import main
from kubeharden.model.findings import Finding

CONTROLS = load_catalogue()
FORMATS = ("table", "json", "sarif", "junit", "markdown", "csv", "prometheus", "html")


def pinned(findings: list[Finding]) -> list[dict]:
    """What a snapshot keeps of a finding: everything a change of behaviour would show in."""
    return [{"control": f.control.id, "line": f.line, "container": f.container_id, "status": f.status,
             "message": f.message, "path": f.path, "fix": f.fix.to_dict() if f.fix else None}
            for f in findings]


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: c.id)
def test_catalogue_examples(control):
    entry = {}
    for n, example in enumerate(control.fail_examples):
        findings, _ = scan_example(control, example, EXAMPLE_CONFIG, only=[control.id])
        entry[f"fail-{n + 1}"] = pinned(findings)
    findings, _ = scan_example(control, control.example_pass, EXAMPLE_CONFIG, only=[control.id])
    entry["pass"] = pinned(findings)
    assert_entry("catalogue-examples.json", control.id, entry)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("example", ("insecure", "hardened"))
def test_reporters_on_the_examples(example, fmt, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    for name in ("FORCE_COLOR", "COLUMNS", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    assert main(["scan", "--no-config", "-f", fmt, "--fail-on", "none", f"examples/{example}"]) == 0
    out = capsys.readouterr().out
    assert_text(f"reports/{example}.{fmt}", normalise(out, __version__, str(ROOT)))


def test_normalise_only_touches_volatile_parts():
    text = '"version": "1.2.3", "uri": "/src/repo/examples/a.yaml", "n": "1.2.3.4"'
    assert normalise(text, "1.2.3", "/src/repo") == (
        f'"version": "<version>", "uri": "{ROOT_PLACEHOLDER}/examples/a.yaml", "n": "1.2.3.4"')
