"""Helm values: reading values files with line numbers, merging them as Helm does, and finding who set a path.

Helm's precedence (https://helm.sh/docs/chart_template_guide/values_files/): a subchart's own
``values.yaml`` is overridden by the parent chart's ``values.yaml`` (under the subchart's name or
alias), which is overridden by each ``--values`` file in order, then ``--set``/``--set-string``.
``global`` values are shared by every chart. :class:`ValuesIndex` answers "which file and line
set this path" in that order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubeharden.model.apitypes import type_name
from kubeharden.model.lines import LineMap
from kubeharden.sources.yamlload import load_documents

SET_FLAG = "--set"


class ValuesError(Exception):
    """A values file that cannot be used; the message names the file."""


def load_values_text(text: str, display: str) -> dict[str, Any]:
    """The mapping of a values file (a LineMap, with lines); ``{}`` for an empty file. Raises ValuesError."""
    docs = list(load_documents(text))
    data: Any = None
    for doc in docs:
        if doc.error is not None:
            where = f"{display}:{doc.error.line}" if doc.error.line else display
            raise ValuesError(f"{where}: {doc.error.message}")
        if doc.data is not None:
            data = doc.data
            break
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValuesError(f"{display}: a values file must be a mapping, not {type_name(data)}")
    return data


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` deep-merged over ``base`` (mappings merge key by key; anything else replaces), new dict."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True, slots=True)
class ValuesLayer:
    """One place values come from: ``file`` (or ``--set``), its data, and the prefix it sits under.

    ``prefix`` is the subchart path a chart's own values.yaml answers for (``redis.``), "" for
    the top chart and user values.
    """

    file: str
    data: dict[str, Any]
    prefix: str = ""


@dataclass(frozen=True, slots=True)
class ValueSource:
    """Where a values path is set: the file (``--set`` for the command line) and the line (None when unknown)."""

    file: str
    line: int | None


class ValuesIndex:
    """Who sets each values path: layers from the strongest (``--set``) to the weakest (a subchart's defaults)."""

    def __init__(self, layers: Iterable[ValuesLayer]) -> None:
        self.layers = list(layers)

    def source(self, path: str, index: int | None = None) -> ValueSource | None:
        """The strongest layer that sets ``path`` (``worker.securityContext.privileged``), or None.

        A path inside a range (``ports[].containerPort``) is answered with the line of the field in
        the list's element ``index`` (else the first element that sets it), else the list (``ports``).
        """
        if "[]" in path:
            head, _, rest = path.partition("[]")
            whole = self.source(head)
            rest = rest.lstrip(".")
            for layer in self.layers if rest and whole is not None else []:
                inner = head if head.startswith("global.") else head[len(layer.prefix):]
                if layer.prefix and not head.startswith(layer.prefix) and not head.startswith("global."):
                    continue
                items = _node(layer.data, inner.split("."))
                if not isinstance(items, list):
                    continue
                order = ([index] if index is not None and 0 <= index < len(items) else []) + list(range(len(items)))
                for i in order:
                    found = _find(items[i], rest.replace("[]", "").split("."))
                    if found:
                        return ValueSource(layer.file, found)
            return whole
        for layer in self.layers:
            if layer.prefix and not path.startswith(layer.prefix) and not path.startswith("global."):
                continue
            inner = path if path.startswith("global.") else path[len(layer.prefix):]
            found = _find(layer.data, inner.split(".")) if inner else None
            if found is not None:
                return ValueSource(layer.file, found if found > 0 else None)
        return None

    def has(self, path: str) -> bool:
        return self.source(path) is not None


def _node(data: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _find(data: Any, parts: list[str]) -> int | None:
    """The line of the key at ``parts`` in ``data`` (0 when set but its line is unknown), or None."""
    node = data
    line: int | None = None
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return None
        line = node.key_line(part) if isinstance(node, LineMap) else None
        node = node[part]
    return line or 0
