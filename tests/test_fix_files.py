"""``kubeharden fix`` file handling: symbolic links, byte-order marks and line ends, JSON kept JSON,
untouched lines byte for byte, and a reason for every fix not applied (docs/fix.md)."""

from __future__ import annotations

import io
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from kubeharden.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> int:
    return main(["fix", "--no-config", *args])


# --- every fix not applied says why ---------------------------------------------------------------

FINDING = re.compile(r"KH-[A-Z]+-\d+ [A-Za-z]+/")


def unsafe_reasons(text: str) -> tuple[int, int]:
    """(findings the "can break the application" line counts, findings named on its reason lines)."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "can break the application" in line)
    counted = int(lines[at].split(" ", 1)[0])
    named = 0
    for line in lines[at + 1:]:
        if not line.startswith("  - "):
            break
        named += len(FINDING.findall(line))
    return counted, named


@pytest.mark.parametrize("mode", ["--dry-run", "--diff", "in place"])
def test_every_unsafe_fix_of_the_insecure_example_says_why(mode, tmp_path, capsys):
    work = tmp_path / "insecure"
    shutil.copytree(ROOT / "examples" / "insecure", work)
    run(str(work), *([mode] if mode.startswith("--") else []))
    captured = capsys.readouterr()
    counted, named = unsafe_reasons(captured.out if mode == "--dry-run" else captured.err)
    assert counted > 10 and named == counted
    output = captured.out + captured.err
    # a fix without a recorded reason says what it changes at run time
    assert re.search(r"not safe \(needs --unsafe\): the node port goes away[^\n]*KH-POD-010 Deployment/shop/frontend",
                     output)


def test_a_declined_fix_is_named(tmp_path, monkeypatch, capsys):
    path = tmp_path / "pod.yaml"
    path.write_text(POD, encoding="utf-8")
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert run(str(path), "--interactive", "--only", "KH-POD-004") == 0
    assert re.search(r"not fixed \(declined\): \S+pod.yaml:\d+ KH-POD-004 Pod/default/web", capsys.readouterr().err)


POD = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata:
      name: web
    spec:
      containers:
        - name: web
          image: registry.example.com/web:1.0
          securityContext:
            privileged: true
    """)
