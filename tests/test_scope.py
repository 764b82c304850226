"""Objects defined twice are named, and --scope path keeps independent apps apart."""

from __future__ import annotations

import json
from pathlib import Path

from kubeharden.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def scan_json(capsys, *argv: str) -> dict:
    try:
        main(["scan", "--no-config", "-f", "json", "--fail-on", "none", *argv])
    except SystemExit:
        pass
    return json.loads(capsys.readouterr().out)


def fingerprints(report: dict) -> list[tuple]:
    return sorted((f["control_id"], f["resource"]["kind"], f["resource"]["name"], f["container"] or "", f["message"])
                  for f in report["findings"])


def test_an_object_defined_twice_names_both_files(capsys):
    report = scan_json(capsys, str(EXAMPLES / "insecure"), str(EXAMPLES / "hardened"))
    dup = [e for e in report["errors"] if e["kind"] == "duplicate-object"]
    deployment = [e for e in dup if e["resource"]["kind"] == "Deployment"][0]
    assert deployment["level"] == "warning"
    assert deployment["file"].startswith(str(EXAMPLES / "hardened"))
    assert str(EXAMPLES / "insecure" / "frontend.yaml") in deployment["message"]
    assert "--scope path" in deployment["message"]


def test_scope_path_equals_separate_scans(capsys):
    insecure = scan_json(capsys, str(EXAMPLES / "insecure"))
    hardened = scan_json(capsys, str(EXAMPLES / "hardened"))
    together = scan_json(capsys, str(EXAMPLES / "insecure"), str(EXAMPLES / "hardened"))
    scoped = scan_json(capsys, "--scope", "path", str(EXAMPLES / "insecure"), str(EXAMPLES / "hardened"))
    assert fingerprints(scoped) == sorted(fingerprints(insecure) + fingerprints(hardened))
    assert not [e for e in scoped["errors"] if e["kind"] == "duplicate-object"]
    # scanned as one cluster, the hardened twin's NetworkPolicies isolate the insecure workloads too
    assert fingerprints(together) != fingerprints(scoped)
