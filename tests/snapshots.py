"""Snapshot files: committed expected outputs that a change shows up against as a diff.

A test compares what the code produces now with ``tests/snapshots/<name>``. After a deliberate
change, rewrite them and review the diff before committing::

    KUBEHARDEN_UPDATE_SNAPSHOTS=1 python -m pytest -q tests/test_snapshots.py

(the whole suite works too). Without the variable a missing or different snapshot fails the test.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UPDATE = os.environ.get("KUBEHARDEN_UPDATE_SNAPSHOTS") == "1"
HOW = "KUBEHARDEN_UPDATE_SNAPSHOTS=1 python -m pytest -q tests/test_snapshots.py, then review the diff"


def assert_text(name: str, actual: str) -> None:
    """``actual`` equals the snapshot file ``name`` (or becomes it when updating)."""
    path = SNAPSHOTS / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="")  # byte for byte: CSV ends lines with CRLF
        return
    if not path.exists():
        pytest.fail(f"no snapshot {path.relative_to(SNAPSHOTS.parent)}; write it with {HOW}")
    with path.open(encoding="utf-8", newline="") as fh:
        expected = fh.read()
    assert actual == expected, f"{name} differs from its snapshot; if the change is intended: {HOW}"


def assert_entry(name: str, key: str, actual: Any) -> None:
    """``actual`` equals entry ``key`` of the JSON snapshot ``name`` (one file holds many entries)."""
    path = SNAPSHOTS / name
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    actual = json.loads(json.dumps(actual))  # tuples become lists, as in the file
    if UPDATE:
        data[key] = actual
        path.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        return
    if key not in data:
        pytest.fail(f"no entry {key!r} in snapshot {name}; write it with {HOW}")
    assert actual == data[key], f"{key} differs from snapshot {name}; if the change is intended: {HOW}"


ROOT_PLACEHOLDER = "<root>"


def normalise(text: str, version: str, root: str) -> str:
    """Replace the volatile parts of a report: the tool's version (as a whole JSON or XML value)
    and the checkout's absolute path."""
    for quote in ('"', "'"):
        text = text.replace(f"{quote}{version}{quote}", f"{quote}<version>{quote}")
    text = text.replace(f"kubeharden {version}", "kubeharden <version>")  # the HTML report's credits
    return text.replace(root, ROOT_PLACEHOLDER)
