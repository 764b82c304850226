"""Objects defined twice are named, and --scope path keeps independent apps apart."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

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


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl builds Kustomize folders (sources/kustomize.py)")
def test_an_object_defined_twice_by_one_place_has_its_own_kind_and_stderr_counts_repeated_warnings(tmp_path, capsys):
    """A Kustomize base built by two overlays is one definition reached twice, not two that compete; and a
    flood of warnings of one kind is said 20 lines deep on stderr, the rest counted (the report has them all)."""
    base = tmp_path / "base"
    base.mkdir()
    pods = "\n---\n".join(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}, namespace: shop}}\ndata: {{a: b}}"
                          for i in range(25))
    (base / "cms.yaml").write_text(pods + "\n")
    (base / "kustomization.yaml").write_text("resources: [cms.yaml]\n")
    for name in ("prod", "stage"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "kustomization.yaml").write_text("resources: [../base]\n")
    report = scan_json(capsys, str(tmp_path / "prod"), str(tmp_path / "stage"))
    dup = [e for e in report["errors"] if e["kind"] == "repeated-object"]
    assert len(dup) == 25 and all("defined again by the same place of the input" in e["message"] for e in dup)
    assert not [e for e in report["errors"] if e["kind"] == "duplicate-object"]
    assert main(["scan", "--no-config", "--format", "json", "--fail-on", "none", str(tmp_path / "prod"),
                 str(tmp_path / "stage")]) == 0
    err = capsys.readouterr().err
    assert err.count("defined again by the same place of the input") == 20
    assert "… and 5 more repeated-object warning(s) like these (kubeharden scan --format json lists every one)" in err
