"""The README's first screen: the Python version it states and the commands it shows stay true."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

from kubeharden.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _shell_lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_states_the_python_version_the_package_requires():
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11" and "Python 3.11 or newer" in README


def test_readme_installs_into_a_virtual_environment_and_shows_the_render_pipelines():
    lines = _shell_lines()
    assert lines[0].startswith("git clone ")
    installs = [line for line in lines if "pip install" in line]
    assert installs and all(line.startswith("python3 -m venv .venv && . .venv/bin/activate && ") for line in installs)
    assert any(line.startswith("helm template ") and line.endswith("| kubeharden scan -") for line in lines)
    assert any(line.startswith("kubectl kustomize ") and line.endswith("| kubeharden scan -") for line in lines)


def test_every_kubeharden_command_in_the_readme_parses():
    commands = [segment.strip() for line in _shell_lines() for segment in re.split(r"&&|\|", line)
                if segment.strip().startswith("kubeharden ")]
    assert len(commands) >= 3
    for command in commands:
        argv = shlex.split(command)[1:]
        args = build_parser(argv).parse_args(argv)
        assert args.func is not None, command


def test_no_merge_conflict_markers_are_committed():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    marker = re.compile(r"^(<<<<<<< |>>>>>>> |=======$)", re.M)
    found = [str(p.relative_to(root)) for pattern in ("*.md", "*.py", "*.yaml", "*.toml")
             for p in root.rglob(pattern) if not any(part.startswith(".venv") for part in p.parts) and marker.search(p.read_text(errors="replace"))]
    assert found == []
