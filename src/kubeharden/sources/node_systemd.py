"""The kubelet's command line as systemd starts it: its unit file, drop-ins and environment.

systemd reads a unit from the first folder of its search path that has it, then every ``*.conf`` of its
``NAME.service.d/`` folders in file-name order (a name in an earlier folder hides the same name in a later
one; systemd.unit(5), "Unit File Load Path" and drop-ins). In ``[Service]``: an empty ``ExecStart=`` clears
the command and a later one replaces it; ``Environment=`` sets variables (quoted assignments, several per
line); ``EnvironmentFile=`` (``-`` before the path: optional) reads ``KEY=VALUE`` lines whose settings
override ``Environment=``, later files overriding earlier ones; in the command, ``$VAR`` alone as a word
becomes the words of its value, ``${VAR}`` is replaced inside a word (systemd.exec(5) and systemd.service(5),
"Command lines"). kubeadm starts the kubelet so, with /var/lib/kubelet/kubeadm-flags.env and
/etc/default/kubelet (or /etc/sysconfig/kubelet) as environment files.

Every word keeps the file and line it was written on (for an expanded variable, where the variable is
set), so a finding on a kubelet flag points at that line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from kubeharden.model.components import KUBELET_DROPIN_DIRS, KUBELET_UNITS
from kubeharden.model.findings import Problem
from kubeharden.sources.files import decode_text
from kubeharden.sources.node_root import NodeRoot


class Word(NamedTuple):
    """One word of a command line and where it was written (a host path for messages, a 1-based line)."""

    text: str
    file: str | None
    line: int | None


@dataclass(slots=True)
class UnitCommand:
    """The command a unit starts, and the node files it was assembled from (unit, drop-ins, environment files)."""

    words: list[Word] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class _Entry(NamedTuple):
    key: str
    value: str
    file: str
    line: int


def _entries(text: str, display: str) -> list[_Entry]:
    """The ``[Service]`` assignments of a unit file, in order (continuation lines joined)."""
    out: list[_Entry] = []
    section = ""
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith(("#", ";"))):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, eq, value = line.partition("=")
        if eq and section == "Service":
            out.append(_Entry(key.strip(), value.strip(), display, start))
    return out


def _split(value: str) -> list[str]:
    """Words of a unit setting: whitespace-separated, "double" or 'single' quotes group."""
    return [m.group(1) if m.group(1) is not None else m.group(2) if m.group(2) is not None else m.group(3)
            for m in re.finditer(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|(\S+)', value)]


def _env_file(text: str) -> list[tuple[str, str, int]]:
    """``KEY=VALUE`` lines of an environment file (comments and blank lines skipped, quotes removed)."""
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, eq, value = line.partition("=")
        if not eq:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out.append((key.strip(), value, number))
    return out


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ALONE = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")


def _expand(entry: _Entry, env: dict[str, tuple[str, str | None, int | None]]) -> list[Word]:
    words: list[Word] = []
    for n, token in enumerate(_split(entry.value)):
        if n == 0:
            token = token.lstrip("-@:+!")
        alone = _ALONE.match(token)
        if alone:
            value, file, line = env.get(alone.group(1), ("", None, None))
            words.extend(Word(w, file, line) for w in value.split())
            continue
        text = _VAR.sub(lambda m: env.get(m.group(1), ("", None, None))[0], token)
        words.append(Word(text, entry.file, entry.line))
    return words


def unit_files(root: NodeRoot, units: tuple[str, ...] = KUBELET_UNITS,
               dropin_dirs: tuple[str, ...] = KUBELET_DROPIN_DIRS) -> list[str]:
    """The node paths systemd reads for a unit, in order: the first unit file found, then its drop-ins."""
    unit = next((u for u in units if root.exists(u)), None)
    if unit is None:
        return []
    chosen: dict[str, str] = {}
    for folder in dropin_dirs:
        for name in root.listdir(folder):
            if name.endswith(".conf") and name not in chosen:
                chosen[name] = f"{folder}/{name}"
    return [unit, *(chosen[name] for name in sorted(chosen))]


def unit_command(root: NodeRoot, max_bytes: int, units: tuple[str, ...] = KUBELET_UNITS,
                 dropin_dirs: tuple[str, ...] = KUBELET_DROPIN_DIRS) -> UnitCommand | None:
    """The command line systemd runs for the unit (kubelet by default), or None when no unit file is there."""
    paths = unit_files(root, units, dropin_dirs)
    if not paths:
        return None
    result = UnitCommand(files=list(paths))
    entries: list[_Entry] = []
    for path in paths:
        text = _text(root, path, max_bytes, result.problems)
        if text is not None:
            entries.extend(_entries(text, root.display(path)))
    env: dict[str, tuple[str, str | None, int | None]] = {}
    env_files: list[str] = []
    exec_start: _Entry | None = None
    for entry in entries:
        if entry.key == "Environment":
            if not entry.value:
                env.clear()
            for assignment in _split(entry.value):
                name, eq, value = assignment.partition("=")
                if eq:
                    env[name] = (value, entry.file, entry.line)
        elif entry.key == "EnvironmentFile":
            env_files = [] if not entry.value else [*env_files, entry.value]
        elif entry.key == "ExecStart":
            exec_start = entry if entry.value else None
    for spec in env_files:
        optional = spec.startswith("-")
        path = spec.lstrip("-")
        if optional and not root.exists(path):
            continue
        result.files.append(path)
        text = _text(root, path, max_bytes, result.problems)
        for name, value, line in _env_file(text or ""):
            env[name] = (value, root.display(path), line)
    if exec_start is not None:
        result.words = _expand(exec_start, env)
    else:
        result.problems.append(Problem("warning", "node-unit", "no ExecStart= in the unit and its drop-ins: the "
                                       "command line it runs is unknown", file=root.display(paths[0])))
    return result


def _text(root: NodeRoot, path: str, max_bytes: int, problems: list[Problem]) -> str | None:
    data = root.read(path, max_bytes)
    if isinstance(data, Problem):
        problems.append(data)
        return None
    text = decode_text(data, root.display(path))
    if isinstance(text, Problem):
        problems.append(text)
        return None
    return text
