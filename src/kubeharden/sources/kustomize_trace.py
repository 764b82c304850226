"""Tracing a built Kustomize object back to its base resource file and to the patches that changed it.

* The base: Kustomize's ``config.kubernetes.io/origin`` annotation names the resource file; the
  document in it of the same kind and name (before ``namePrefix``/``nameSuffix``) is the base, and
  every field of the built object takes the line of the same field there (:func:`relabel`), or of
  its nearest ancestor that the base has.
* Patches: the ``alpha.config.kubernetes.io/transformations`` annotation names the kustomization
  files whose transformers changed the object. Their ``patches``, ``patchesStrategicMerge`` and
  ``patchesJson6902`` entries (https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/patches/)
  that target the object are read with lines; a field that a strategic-merge patch writes, or
  that lies under the ``path`` of a JSON 6902 operation (RFC 6902), is traced to that patch line
  (the last such patch wins, as Kustomize applies them in order). Inline patches are traced into
  the kustomization file itself.

Not traced (docs/helm-kustomize.md): fields set by other transformers (images, replicas,
namespace, labels, name prefixes: they keep the base line), generators' content, and patches
selected by label or annotation selectors only.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from kubeharden.model.lines import LineList, LineMap, line_of
from kubeharden.model.objects import K8sObject, Provenance
from kubeharden.sources.yamlload import load_documents

_MAX_PATCH_BYTES = 8 * 1024 * 1024
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _documents(file: str) -> tuple[Any, ...]:
    """The YAML documents of ``file`` (with lines), read once per version of the file; () when unreadable."""
    try:
        stat = os.stat(file)
    except OSError:
        return ()
    return _read_documents(file, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def _read_documents(file: str, mtime_ns: int, size: int) -> tuple[Any, ...]:
    if size > _MAX_PATCH_BYTES:
        return ()
    try:
        with open(file, encoding="utf-8-sig") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError):
        return ()
    return _parse(text)


def _parse(text: str) -> tuple[Any, ...]:
    return tuple(doc.data for doc in load_documents(text) if doc.error is None and doc.data is not None)


def load_yaml_file(file: str) -> Any:
    """The first YAML document of ``file`` (with lines), or None when it cannot be read."""
    docs = _documents(file)
    return docs[0] if docs else None


def base_document(file: str, obj: K8sObject) -> Any:
    """The document of ``file`` that ``obj`` was built from: same kind, and the name it had there."""
    best = None
    for doc in _documents(file):
        if not isinstance(doc, dict) or doc.get("kind") != obj.kind:
            continue
        name = _name(doc)
        if name == obj.name:
            return doc
        if name and name in obj.name and best is None:
            best = doc
    return best


def _name(doc: Any) -> str:
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    return str(meta.get("name") or "") if isinstance(meta, dict) else ""


def relabel(built: Any, base: Any) -> None:
    """Give every mapping and list of ``built`` the lines of the same fields in ``base`` (None: unknown)."""
    _relabel(built, base, line_of(base) if base is not None else None)


def _relabel(node: Any, base: Any, fallback: int | None) -> None:
    own = line_of(base) if base is not None else None
    own = own or fallback
    if isinstance(node, LineMap):
        node.line = own
        mapped = {key: _key_line(base, key) or own for key in node}
        if None in mapped.values():
            node._lines = ()  # no key line known: lines are asked of the mapping, which says None
        else:
            node.lines = mapped  # type: ignore[assignment]
        for key, value in node.items():
            child = base.get(key) if isinstance(base, dict) else None
            _relabel(value, child, _key_line(base, key) or own)
    elif isinstance(node, LineList):
        node.line = own
        for index, value in enumerate(node):
            _relabel(value, _matching_item(base, value, index), own)


def _key_line(base: Any, key: Any) -> int | None:
    return base.key_line(key) if isinstance(base, LineMap) else None


def _matching_item(items: Any, item: Any, index: int) -> Any:
    """The item of ``items`` that ``item`` merges with: the same ``name`` (strategic merge key of
    containers, volumes, env …), else the same position."""
    if not isinstance(items, list):
        return None
    name = item.get("name") if isinstance(item, dict) else None
    if name is not None:
        return next((i for i in items if isinstance(i, dict) and i.get("name") == name), None)
    return items[index] if index < len(items) else None


@dataclass(frozen=True, slots=True)
class Patch:
    """One patch: the file its lines are in, its target, and its body (a mapping, or a list of JSON 6902 ops)."""

    file: str
    kind: str | None
    name: str | None
    body: Any


class PatchIndex:
    """The patches of kustomization files, read once per build."""

    def __init__(self) -> None:
        self._by_file: dict[str, list[Patch]] = {}

    def for_object(self, kustomizations: list[str], obj: K8sObject) -> list[Patch]:
        """The patches of ``kustomizations`` (in order) that target ``obj``."""
        found: list[Patch] = []
        for file in kustomizations:
            if file not in self._by_file:
                self._by_file[file] = list(_patches(file))
            found.extend(p for p in self._by_file[file] if _targets(p, obj))
        return found


def _targets(patch: Patch, obj: K8sObject) -> bool:
    if patch.kind and patch.kind != obj.kind:
        return False
    return not patch.name or patch.name == obj.name or (patch.name in obj.name)


def _patches(kustomization: str) -> list[Patch]:
    doc = load_yaml_file(kustomization)
    if not isinstance(doc, dict):
        return []
    folder = os.path.dirname(kustomization)
    found: list[Patch] = []
    for key in ("patches", "patchesJson6902"):  # the second is the deprecated form of the first
        entries = doc.get(key)
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict):
                target = entry.get("target")
                found.extend(_bodies(entry, folder, kustomization, target if isinstance(target, dict) else {}))
    items = doc.get("patchesStrategicMerge")  # deprecated: file names or inline patches
    for index, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, str) and "\n" not in item:
            found.extend(_from_file(os.path.join(folder, item), {}))
        elif isinstance(item, str):  # an inline patch: its line is approximate (one item per line assumed)
            found.extend(_inline(item, kustomization, (line_of(items) or 1) + index, {}))
    return found


def _bodies(entry: dict[str, Any], folder: str, kustomization: str, target: dict[str, Any]) -> list[Patch]:
    """The patch of one ``patches`` entry: from its ``path`` file, or its inline ``patch`` text."""
    if isinstance(entry.get("path"), str):
        return _from_file(os.path.join(folder, entry["path"]), target)
    text = entry.get("patch")
    if isinstance(text, str):
        key_line = entry.key_line("patch") if isinstance(entry, LineMap) else None
        # a block scalar (``patch: |-``) starts on the line after its key
        return _inline(text, kustomization, key_line + 1 if key_line else None, target)
    return []


def _from_file(file: str, target: dict[str, Any]) -> list[Patch]:
    return [_patch(file, body, target) for body in _documents(file)]


def _inline(text: str, file: str, first_line: int | None, target: dict[str, Any]) -> list[Patch]:
    bodies = _parse(text)
    if first_line:
        for body in bodies:
            _shift(body, first_line - 1)
    return [_patch(file, body, target) for body in bodies]


def _shift(node: Any, offset: int) -> None:
    if isinstance(node, LineMap):
        lines = node.lines
        node.line = (node.line or 0) + offset if node.line else None
        if lines:
            node.lines = {k: v + offset for k, v in lines.items()}
        for value in node.values():
            _shift(value, offset)
    elif isinstance(node, LineList):
        node.line = (node.line or 0) + offset if node.line else None
        for value in node:
            _shift(value, offset)


def _patch(file: str, body: Any, target: dict[str, Any]) -> Patch:
    kind = target.get("kind") or (body.get("kind") if isinstance(body, dict) else None)
    name = target.get("name") or (_name(body) if isinstance(body, dict) else None)
    return Patch(file, str(kind) if kind else None, str(name) if name else None, body)


class KustomizeTracer:
    """The patch line of a field of one built object, when a patch set it."""

    def __init__(self, built: Any, patches: list[Patch]) -> None:
        self.built = built
        self.patches = patches

    def trace(self, origin: Provenance, line: int | None, path: str) -> Provenance:
        found: tuple[str, int] | None = None
        for patch in self.patches:
            hit = _json6902_line(patch.body, path, self.built) if isinstance(patch.body, list) else \
                _merge_line(patch.body, path, self.built)
            if hit is not None:
                found = (patch.file, hit)
        if found is None:
            return replace(origin, line=line)
        file, patch_line = found
        return replace(origin, line=line, patch_file=shown(file), patch_line=patch_line)


def _steps(path: str) -> list[str | int]:
    return [int(index) if index else key for key, index in _STEP.findall(path)]


def _merge_line(body: Any, path: str, built: Any) -> int | None:
    """Line in a strategic-merge patch of the field at ``path``, or None when the patch does not set it."""
    node, patched = body, None
    built_node = built
    line = None
    for step in _steps(path):
        if isinstance(step, int):
            item = built_node[step] if isinstance(built_node, list) and step < len(built_node) else None
            patched = _matching_item(node, item, step) if isinstance(item, dict) and "name" in item else None
            if patched is None:
                return None
            node, built_node, line = patched, item, line_of(patched) or line
        else:
            if not isinstance(node, dict) or step not in node:
                return None
            line = _key_line(node, step) or line
            node = node[step]
            built_node = built_node.get(step) if isinstance(built_node, dict) else None
    # a mapping in the patch is merged into, not written: a finding on the whole mapping is not the patch's
    return None if isinstance(node, dict) else line


def _json6902_line(ops: list[Any], path: str, built: Any) -> int | None:
    """Line of the last JSON 6902 operation whose ``path`` is the field or one above it."""
    pointer = "/" + "/".join(str(s).replace("~", "~0").replace("/", "~1") for s in _steps(path))
    line = None
    for op in ops:
        if not isinstance(op, dict) or not isinstance(op.get("path"), str) or op.get("op") in ("test", "remove"):
            continue
        target = op["path"].rstrip("/")
        if pointer == target or pointer.startswith(target + "/"):
            line = _key_line(op, "path") or line_of(op)
    return line


def shown(path: str) -> str:
    """A path as the user would write it: relative to the working folder when under it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative
