"""``kubeharden diff OLD NEW``: findings compared by fingerprint between two inputs (two snapshots)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from kubeharden.exitcodes import FINDINGS, INPUT_ERRORS, OK, USAGE
from tests.test_snapshot import run

# https://kubernetes.io/docs/concepts/security/pod-security-standards/ ("Privileged Containers", "Host Namespaces")
POD = """apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  containers:
    - name: web
      image: registry.example.com/web:1.0
      securityContext: {privileged: %s}
"""
HOST_NETWORK = """apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: shop}
spec:
  hostNetwork: true
  containers:
    - {name: agent, image: registry.example.com/agent:1.0}
"""


def snapshot(capsys, tmp_path: Path, name: str, *docs: str) -> str:
    folder = tmp_path / name
    folder.mkdir()
    for i, doc in enumerate(docs):
        (folder / f"{i}.yaml").write_text(doc)
    out = tmp_path / f"{name}.json.gz"
    assert run(capsys, "snapshot", str(folder), "-o", str(out))[0] == OK
    return str(out)


def test_new_and_resolved_findings(capsys, tmp_path: Path):
    old = snapshot(capsys, tmp_path, "old", POD % "true")
    new = snapshot(capsys, tmp_path, "new", POD % "false", HOST_NETWORK)
    code, out, err = run(capsys, "diff", "--no-config", "-f", "json", old, new)
    assert code == FINDINGS, err
    doc = json.loads(out)
    added = {(f["control_id"], f["resource"]["name"]) for f in doc["new"]}
    resolved = {(f["control_id"], f["resource"]["name"]) for f in doc["fixed"]}
    assert ("KH-POD-006", "agent") in added and ("KH-POD-004", "web") in resolved
    assert not {name for _, name in resolved} - {"web"} and ("KH-POD-004", "web") not in added
    assert doc["counts"]["still_open"] > 0  # web's other findings (root user, no limits …) stayed


def test_a_message_or_line_change_is_not_a_change(capsys, tmp_path: Path):
    old = snapshot(capsys, tmp_path, "old", POD % "true")
    new = snapshot(capsys, tmp_path, "new", "# moved down\n\n" + (POD % "true").replace("1.0", "1.1"))
    code, out, _ = run(capsys, "diff", "--no-config", "-f", "json", old, new)
    doc = json.loads(out)
    assert code == OK and doc["new"] == [] and doc["fixed"] == []


def test_fail_on_counts_only_new_findings(capsys, tmp_path: Path):
    old = snapshot(capsys, tmp_path, "old", POD % "true")
    new = snapshot(capsys, tmp_path, "new", POD % "true", HOST_NETWORK)
    assert run(capsys, "diff", "--no-config", "--fail-on", "critical", old, new)[0] == OK  # hostNetwork is high
    code, out, _ = run(capsys, "diff", "--no-config", "--fail-on", "high", old, new)
    assert code == FINDINGS and "KH-POD-006" in out and re.search(r": \d+ new, \d+ fixed", " ".join(out.split()))


def test_two_inputs_exactly_and_empty_input_is_an_error(capsys, tmp_path: Path):
    old = snapshot(capsys, tmp_path, "old", POD % "true")
    assert run(capsys, "diff", "--no-config", old)[0] == USAGE
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "diff", "--no-config", old, str(empty))
    assert code == INPUT_ERRORS and "no Kubernetes object" in err
