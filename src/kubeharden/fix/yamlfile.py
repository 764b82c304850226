"""A manifest file opened for editing: its documents, the objects in them, and the text written back.

The file is cut at its document markers (``---`` and ``...`` at the start of a line) and each
document is loaded on its own with ruamel.yaml's round-trip loader (``typ="rt"``: a subclass of
its safe constructor; it never builds Python objects from tags). Only documents that change are
dumped again, with the file's own indentation, and of those only the lines the fix changed are
taken from the dump: every other line keeps its bytes (:mod:`kubeharden.fix.keeplines`), so a diff
shows the fix and nothing else, even in a document that mixes list styles. JSON files are edited as
JSON, only the values the fix changed written again in the file's style (:mod:`kubeharden.fix.jsonedit`).
A UTF-8 byte-order mark and Windows line ends (CRLF) are kept.

Objects are found in each document and in the ``items`` of ``List`` kinds (``kind: List`` and every
``*List``), as kubeharden's reader finds them (docs/input.md).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from kubeharden.fix.jsonedit import edit_json
from kubeharden.fix.keeplines import keep_unchanged_lines
from kubeharden.model.objects import make_ref

#: the UTF-8 byte-order mark as read (a file that starts with one keeps it)
BOM = "\ufeff"
_MARKER = re.compile(r"^(---|\.\.\.)(?:[ \t].*)?$")


class ParseError(Exception):
    """The file cannot be loaded for editing; it is left alone."""


class RenderError(Exception):
    """The edited file cannot be written back faithfully; it is left alone."""


def plain(node: Any) -> Any:
    """The data of a round-trip tree as plain dicts, lists and scalars (merge keys resolved), to compare."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, bool) or type(node).__name__ == "ScalarBoolean":
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


@dataclass(slots=True)
class Segment:
    """One document of the file: its marker line (kept verbatim), its body, and the loaded tree."""

    marker: str
    body: str
    first_line: int  # 1-based line of the body's first line in the file
    data: Any = None
    changed: bool = False
    original: Any = None  # JSON only: the data as read, to tell the values the fix changed


@dataclass(slots=True)
class EditableObject:
    """One Kubernetes object of the file: where it starts, and its tree to edit."""

    kind: str
    name: str
    namespace: str | None
    line: int
    node: dict[str, Any]
    segment: Segment


@dataclass(slots=True)
class ManifestFile:
    path: str
    text: str  # without the byte-order mark
    is_json: bool
    segments: list[Segment] = field(default_factory=list)
    bom: str = ""  # "\ufeff" when the file starts with a UTF-8 byte-order mark, written back before the text

    def objects(self) -> Iterator[EditableObject]:
        for seg in self.segments:
            for node in _objects_in(seg.data):
                ref = make_ref(node)
                meta = node.get("metadata")
                written_ns = meta.get("namespace") if isinstance(meta, dict) else None
                yield EditableObject(ref.kind, ref.name, str(written_ns) if written_ns else None,
                                     seg.first_line + _node_line(node), node, seg)

    def render(self) -> tuple[str, list[str]]:
        """The file's text with every changed document written again and the rest as it was, and warnings.

        A changed document is dumped and merged with its original lines (:mod:`kubeharden.fix.keeplines`);
        the merge is used when it reads back as the edited data, else the plain dump, with a warning
        naming the document when that rewrites lines beyond the fix. A dump that does not read back as
        the edited data (a scalar style ruamel.yaml cannot reproduce) raises RenderError: the file
        must be left alone.
        """
        if self.is_json:
            seg = self.segments[0]
            if not seg.changed:
                return self.bom + self.text, []
            text, warnings = edit_json(self.text, seg.original, seg.data)
            return self.bom + text, warnings
        out, warnings = [self.bom], []
        for seg in self.segments:
            out.append(seg.marker)
            if not seg.changed:
                out.append(seg.body)
                continue
            text = _dump_yaml(seg.data, seg.body)
            if plain(_yaml(text).load(text)) != plain(seg.data):
                raise RenderError(f"the document at line {seg.first_line} would not read back as edited")
            merged = keep_unchanged_lines(seg.body, text)
            if _reads_as(merged, seg.data):
                text = merged
            elif _dump_yaml(_yaml(seg.body).load(seg.body), seg.body) != seg.body:
                warnings.append(f"the document at line {seg.first_line} is not uniformly indented or quoted: "
                                "lines beyond the fix are rewritten too (review the diff)")
            out.append(text)
        return "".join(out), warnings


def _reads_as(text: str, data: Any) -> bool:
    """Whether YAML ``text`` loads as ``data`` (compared as plain data); False when it does not load."""
    try:
        return plain(_yaml(text).load(text)) == plain(data)
    except (YAMLError, ValueError, RecursionError):
        return False


def _objects_in(data: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(data, dict):
        return
    kind = data.get("kind")
    items = data.get("items")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and item.get("kind"):
                yield item
        return
    if kind:
        yield data


def _node_line(node: Any) -> int:
    lc = getattr(node, "lc", None)
    return int(lc.line) if lc is not None and lc.line is not None else 0


def load(path: str, text: str) -> ManifestFile:
    """``text`` (the content of ``path``) cut into documents and loaded; raises ParseError."""
    bom = BOM if text.startswith(BOM) else ""
    text = text[len(bom):]
    if path.endswith(".json"):
        try:
            data, original = _load_json(text), _load_json(text)
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"cannot be loaded for editing: {exc}") from None
        return ManifestFile(path, text, True, [Segment("", text, 1, data, original=original)], bom=bom)
    mf = ManifestFile(path, text, False, bom=bom)
    for seg in split_documents(text):
        if seg.body.strip():
            try:
                seg.data = _yaml(seg.body).load(seg.body)
            except (YAMLError, ValueError, RecursionError) as exc:
                raise ParseError(_describe(exc, seg.first_line)) from None
        mf.segments.append(seg)
    return mf


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:  # json.loads would keep the last silently; which one counts is not ours to guess
            raise ValueError(f"the key {key!r} is written twice in one mapping")
        out[key] = value
    return out


def _load_json(text: str) -> Any:
    """The data of JSON ``text``; raises ValueError (invalid, or a key written twice) or RecursionError."""
    return json.loads(text, object_pairs_hook=_unique_keys)


def _describe(exc: BaseException, first_line: int) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {first_line + mark.line}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"cannot be loaded for editing{where}: {problem}"


def split_documents(text: str) -> list[Segment]:
    """The documents of ``text``: each with the marker line before it ("" for the first) and its body."""
    segments: list[Segment] = []
    marker, first = "", 1
    body: list[str] = []
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if _MARKER.match(line.rstrip("\r\n")):
            segments.append(Segment(marker, "".join(body), first))
            marker, body, first = line, [], number + 1
        else:
            body.append(line)
    segments.append(Segment(marker, "".join(body), first))
    return segments


def guess_indentation(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as the document writes them.

    ruamel.yaml's own guess mixes the two common Kubernetes styles (``- `` flush under its key,
    or indented by two), which would re-indent every list of a file it did not mean to touch.
    """
    lines = [x for x in text.splitlines() if x.strip() and not x.lstrip().startswith("#")]
    mapping = offset = None
    for above, below in zip(lines, lines[1:], strict=False):
        if not above.rstrip().endswith(":"):
            continue
        indent_above = len(above) - len(above.lstrip()) + (2 if above.lstrip().startswith("- ") else 0)
        indent_below = len(below) - len(below.lstrip())
        if below.lstrip().startswith("- "):
            if offset is None and indent_below >= indent_above:
                offset = indent_below - indent_above
        elif mapping is None and indent_below > indent_above:
            mapping = indent_below - indent_above
        if mapping is not None and offset is not None:
            break
    mapping = mapping or 2
    offset = offset if offset is not None else 0
    return mapping, offset + 2, offset


def _yaml(text: str) -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never fold long lines that were not folded
    mapping, sequence, offset = guess_indentation(text)
    y.indent(mapping=mapping, sequence=sequence, offset=offset)
    return y


def _dump_yaml(data: Any, original: str) -> str:
    out = io.StringIO()
    _yaml(original).dump(data, out)
    text = out.getvalue()
    if original.endswith("\n") and not text.endswith("\n"):
        text += "\n"
    elif not original.endswith("\n") and text.endswith("\n"):
        text = text[:-1]  # the last line of the file had no line end
    if "\r\n" in original:  # keep Windows line ends
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    return text
