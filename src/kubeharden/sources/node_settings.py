"""Effective configuration of the kubelet and kube-proxy: the file, the flags over it, the defaults under it.

The Kubernetes facts (which flag sets which field, the defaults of file and flags, and which component
lets flags override its file) are in :mod:`kubeharden.model.components`; this module only merges.
Each value keeps the line it was written on (the file's key, or the flag's line in a unit file or a
command line); ``where`` tells which file that line is in.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from kubeharden.model.commandline import typed
from kubeharden.model.components import FlagField
from kubeharden.model.fieldpath import join
from kubeharden.model.lines import LineMap

Where = dict[str, tuple[str | None, str | None]]


class Written(NamedTuple):
    """A flag's value and where it was written (a host path for findings, a line)."""

    value: str
    file: str | None
    line: int | None


def _child(mapping: LineMap, key: str, line: int | None) -> LineMap:
    current = mapping.get(key)
    if isinstance(current, LineMap):
        return current
    child = LineMap(current) if isinstance(current, dict) else LineMap()
    child.line = line or mapping.line
    child.lines = {}
    _set(mapping, key, child, line)
    return child


def _set(mapping: LineMap, key: str, value: Any, line: int | None) -> None:
    lines = mapping.lines
    mapping[key] = value
    lines[key] = line or mapping.line or 0
    mapping.lines = lines


def put(mapping: LineMap, path: tuple[str, ...], value: Any, line: int | None) -> None:
    """Set ``mapping[path]`` to ``value`` written at ``line``, creating the mappings on the way; a mapping
    value is merged key by key into what is there (``featureGates`` from a flag over the file's)."""
    for key in path[:-1]:
        mapping = _child(mapping, key, line)
    if isinstance(value, dict) and isinstance(mapping.get(path[-1]), dict):
        target = _child(mapping, path[-1], line)
        for k, v in value.items():
            _set(target, k, v, line)
        return
    _set(mapping, path[-1], value, line)


def fill_defaults(mapping: LineMap, defaults: Mapping[str, Any]) -> None:
    """Add every default that ``mapping`` does not set (recursively), at the line of the mapping holding it."""
    for key, value in defaults.items():
        if isinstance(value, Mapping):
            if key in mapping and not isinstance(mapping[key], dict):
                continue  # a value of the wrong type is kept for the rules to judge
            fill_defaults(_child(mapping, key, mapping.line), value)
        elif key not in mapping:
            _set(mapping, key, copy.deepcopy(value), mapping.line)


_ZERO_DURATION = re.compile(r"^0+(\.0+)?(ns|us|µs|ms|s|m|h)?$")


def is_zero(value: Any) -> bool:
    """Go's zero value of a string, number or duration (``""``, ``0``, ``"0s"``)."""
    if value is None or value == "" or (isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0):
        return True
    return isinstance(value, str) and bool(_ZERO_DURATION.match(value))


def drop_zero(mapping: LineMap, paths: tuple[tuple[str, ...], ...]) -> list[tuple[LineMap, str, int]]:
    """Remove the fields of ``paths`` that hold a zero value, so their defaults apply (see
    model.components.KUBELET_ZERO_IS_UNSET); returns (holder, key, line) of each, to put the line back."""
    dropped: list[tuple[LineMap, str, int]] = []
    for path in paths:
        holder: Any = mapping
        for key in path[:-1]:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(holder, LineMap) and path[-1] in holder and is_zero(holder[path[-1]]):
            lines = holder.lines
            dropped.append((holder, path[-1], lines.get(path[-1], holder.line or 0)))
            del holder[path[-1]]
            lines.pop(path[-1], None)
            holder.lines = lines
    return dropped


def _as_linemap(config: Mapping[str, Any] | None, line: int | None) -> LineMap:
    if isinstance(config, LineMap):
        return config
    out = LineMap(config or {})
    out.line = line
    out.lines = {}
    return out


def effective(config: Mapping[str, Any] | None, config_file: str | None, flags: Mapping[str, Written],
              fields: Mapping[str, FlagField], defaults: Mapping[str, Any], *, flags_override: bool = True,
              flag_defaults: Mapping[tuple[str, ...], Any] | None = None,
              flags_file: str | None = None, first_line: int | None = None,
              zero_is_unset: tuple[tuple[str, ...], ...] = ()) -> tuple[LineMap, Where]:
    """The effective configuration and where each part was written.

    ``config``: the configuration file's mapping (None without ``--config``); ``flags``: the command
    line (name without dashes -> :class:`Written`); ``fields``: flag -> configuration field; ``defaults``:
    the file's defaults; ``flag_defaults``: defaults that differ without a file; ``flags_override``:
    whether the flags a file can set still count when a file is given (the kubelet: yes; kube-proxy: no);
    ``zero_is_unset``: fields whose zero value in the file takes the default.
    Returns the settings (a LineMap with key lines) and ``where`` (facts path prefix -> (file, None)).
    """
    settings = _as_linemap(config, first_line)
    dropped = drop_zero(settings, zero_is_unset)
    where: Where = {"settings": (config_file if config is not None else flags_file, None)}
    if config is None and flag_defaults:
        for path, value in flag_defaults.items():
            put(settings, path, value, first_line)
    fill_defaults(settings, defaults)
    for holder, key, line in dropped:  # the default now stands where the file wrote its zero value
        if key in holder:
            _set(holder, key, holder[key], line)
    for name, written in flags.items():
        if name not in fields or (config is not None and not flags_override):
            continue
        path, kind = fields[name]
        put(settings, path, typed(written.value, kind), written.line)
        value = typed(written.value, kind)
        keys = [join("settings", *path, k) for k in value] if isinstance(value, dict) else [join("settings", *path)]
        for key in keys:
            where[key] = (written.file, None)
    return settings, where
