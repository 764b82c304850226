"""Dockerfiles and Containerfiles, turned into ``Dockerfile`` objects (model/supply.py).

Parsed with ``dockerfile-parse`` (line continuations, comments, parser directives); the stages,
their base images and instructions are laid out here with the line of each, so the controls
(checks/supply.py) can point at the line at fault. Multi-stage builds: every ``FROM`` starts a
stage; the last stage is the image that is shipped (Dockerfile reference, "Multi-stage builds":
https://docs.docker.com/build/building/multi-stage/). ``ARG``s declared before the first
``FROM`` are substituted in ``FROM`` lines (Dockerfile reference, "Understand how ARG and FROM
interact"); ``ARG`` and ``ENV`` defaults of a stage are substituted in its ``USER``.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from typing import Any

from kubeharden.model.findings import Problem
from kubeharden.model.objects import K8sObject, Provenance, ResourceRef
from kubeharden.model.supply import API_VERSION, DOCKERFILE
from kubeharden.sources.files import ReadOptions, decode_text, read_limited

Item = K8sObject | Problem
_NAMES = ("dockerfile", "containerfile")
_SUFFIXES = tuple(f".{n}" for n in _NAMES)  # NAME.Dockerfile, NAME.Containerfile (asked of every input file)
#: ``<<EOF``, ``<<-EOF``, ``<<"EOF"``: a here-document (Dockerfile reference, "Here-Documents").
_HEREDOC = re.compile(r"<<-?([\"']?)([A-Za-z_][A-Za-z0-9_]*)\1")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::[-+]([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def claims(path: str) -> bool:
    """Whether ``path`` is a Dockerfile by its name: ``Dockerfile``, ``Containerfile``,
    ``NAME.Dockerfile`` or ``NAME.Containerfile`` (any case); never reads it."""
    name = os.path.basename(path).lower()
    return name in _NAMES or name.endswith(_SUFFIXES)


def read(path: str, options: ReadOptions) -> Iterator[Item]:
    """The ``Dockerfile`` object of the file ``path``, or Problems naming the file; never raises."""
    data = read_limited(path, options.max_file_bytes)
    if isinstance(data, Problem):
        yield data
    else:
        yield from parse_bytes(data, path)


def parse_bytes(data: bytes, display: str) -> Iterator[Item]:
    """The ``Dockerfile`` object of one file's bytes (``display`` names it), or Problems."""
    text = decode_text(data, display)
    if isinstance(text, Problem):
        yield text
        return
    try:
        from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]  # no stubs published

        structure = DockerfileParser(fileobj=io.BytesIO(text.encode()), env_replace=False).structure
    except Exception as exc:  # the library's own errors on input nobody foresaw
        yield Problem("error", "parse", f"not a Dockerfile dockerfile-parse can read ({type(exc).__name__}: "
                      f"{exc}); skipped", file=display)
        return
    stages = layout(structure)
    if not stages:
        yield Problem("error", "parse", "no FROM instruction: not a Dockerfile that builds an image; skipped",
                      file=display, line=1)
        return
    raw: dict[str, Any] = {"apiVersion": API_VERSION, "kind": DOCKERFILE, "metadata": {"name": display},
                           "stages": stages}
    yield K8sObject(raw=raw, ref=ResourceRef(API_VERSION, DOCKERFILE, None, display),
                    origin=Provenance(display, stages[-1]["base_line"], "dockerfile"))


def layout(structure: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stages of a parsed Dockerfile (dockerfile-parse's ``structure``), in order; see model/supply.py."""
    global_args: dict[str, str] = {}
    stages: list[dict[str, Any]] = []
    names: set[str] = set()
    pending: list[str] = []  # here-document terminators still to come
    for entry in structure:
        if pending:  # dockerfile-parse reads a here-document's lines as instructions: skip them
            if str(entry.get("content") or "").strip() == pending[0]:
                pending.pop(0)
            continue
        instruction = str(entry.get("instruction") or "").upper()
        value = str(entry.get("value") or "")
        line = int(entry.get("startline") or 0) + 1
        pending = [m.group(2) for m in _HEREDOC.finditer(value)] if instruction in ("RUN", "COPY", "ADD") else []
        if instruction == "FROM":
            flags, words = split_flags(value)
            base = substitute(words[0], global_args) if words else ""
            name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
            stage: dict[str, Any] = {"index": len(stages), "name": name, "base": base, "base_line": line,
                                     "flags": flags, "from_stage": base.lower() in names,
                                     "scratch": base.lower() == "scratch", "variables": {}, "instructions": []}
            stages.append(stage)
            if name:
                names.add(name)
            continue
        if not stages:
            if instruction == "ARG":
                global_args.update(declared(value))
            continue
        current = stages[-1]
        if instruction == "ARG":
            # a bare "ARG NAME" in a stage takes the default of the global ARG NAME (Dockerfile reference,
            # "Understand how ARG and FROM interact")
            current["variables"].update({k: v or global_args[k] for k, v in declared(value, keep_bare=True).items()
                                         if v or k in global_args})
        elif instruction == "ENV":
            current["variables"].update(declared(value))
        flags, _ = split_flags(value)
        current["instructions"].append({"instruction": instruction, "value": value, "line": line, "flags": flags})
    return stages


def split_flags(value: str) -> tuple[dict[str, str], list[str]]:
    """``--flag=value`` options at the start of an instruction's arguments, and the other words."""
    words = value.split()
    flags: dict[str, str] = {}
    while words and words[0].startswith("--"):
        key, _, flag_value = words.pop(0)[2:].partition("=")
        flags[key.lower()] = flag_value
    return flags, words


def substitute(text: str, variables: dict[str, str]) -> str:
    """``$NAME``, ``${NAME}`` and ``${NAME:-default}`` replaced by ``variables``; unknown ones are kept."""
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if name in variables:
            return variables[name]
        if match.group(2) is not None and match.group(0).startswith("${" + name + ":-"):
            return match.group(2)
        return match.group(0)

    return _VARIABLE.sub(one, text)


def declared(value: str, keep_bare: bool = False) -> dict[str, str]:
    """Names and defaults of ``ARG NAME=value`` / ``ENV NAME=value …`` / ``ENV NAME value`` (quotes
    removed); ``keep_bare`` keeps ``ARG NAME`` without a default, as ``NAME: ""``."""
    out: dict[str, str] = {}
    text = value.strip()
    first = text.split(" ", 1)[0]
    if "=" not in first:
        name, _, rest = text.partition(" ")
        if rest.strip():
            out[name] = rest.strip().strip("\"'")
        elif keep_bare and name:
            out[name] = ""
        return out
    for match in re.finditer(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\'[^\']*\'|\S*)', text):
        out[match.group(1)] = match.group(2).strip("\"'")
    return out
