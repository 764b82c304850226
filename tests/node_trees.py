"""Fixture node trees (tests/fixtures/nodes/) copied into a test's tmp_path, with file modes applied.

git keeps neither owners nor modes beyond the executable bit, so a test that judges them builds its
tree here: a copy of a fixture tree, then ``modes`` (node path -> mode) applied with chmod.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

NODES = Path(__file__).parent / "fixtures" / "nodes"


def node_tree(tmp_path: Path, name: str, modes: dict[str, int] | None = None) -> Path:
    """A copy of ``tests/fixtures/nodes/NAME`` under ``tmp_path``, each file of ``modes`` chmod-ed."""
    root = tmp_path / name
    shutil.copytree(NODES / name, root, symlinks=True)
    for node_path, mode in (modes or {}).items():
        os.chmod(root / node_path.lstrip("/"), mode)
    return root


def write(root: Path, node_path: str, text: str | bytes) -> Path:
    """Write a node file below ``root`` (folders created)."""
    path = root / node_path.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def line_of(path: Path, needle: str) -> int:
    """The 1-based line of the first line of ``path`` containing ``needle``."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")
