"""A JSON manifest edited in place: only the values a fix changed are written again, in the file's style.

JSON is YAML (``kubectl apply -f pod.json`` reads it), so a fixed JSON file must stay JSON. Dumping
the whole document again would reflow it (``json.dumps`` has one indentation and one spacing), so
:func:`edit_json` finds where each value sits in the text (:func:`spans`), compares the data as read
with the data as edited, and replaces only the text of what differs:

- a changed scalar, or a list whose length changed other than by items added at its end, is
  replaced where it stands;
- a key added to a mapping, or an item added at the end of a list, is inserted after the last one,
  on a line of its own indented like its siblings when they sit on lines of their own, else after
  ``, `` (the separator the mapping uses); an empty ``{}`` or ``[]`` filled stays on one line when
  the container holding it is written on one line;
- a key removed goes with its separator.

New values are written with the file's indentation (the first indented line's), separators (``:``
or ``: ``, ``,`` or ``, ``), line end (LF or CRLF) and escaping (``\\u`` escapes only where the
file uses them and no raw non-ASCII character). Key order is kept. The result is parsed again and
must equal the edited data; otherwise the whole file is written in that style, with a warning.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from kubeharden.fix.edits import same

_SPACE = re.compile(r"[ \t\r\n]*")
_DECODER = json.JSONDecoder()


@dataclass(slots=True)
class Span:
    """Where one JSON value sits in the text: ``text[start:end]``; its members or items when a container."""

    start: int
    end: int
    #: a mapping: (key, where the key's opening quote is, where the key ends, the value)
    members: list[tuple[str, int, int, Span]] | None = None
    items: list[Span] | None = None


@dataclass(slots=True)
class Style:
    indent: str | None  # one level of indentation, None for one-line JSON
    key_sep: str  # between a key and its value: ":" or ": "
    item_sep: str  # between members on one line: "," or ", "
    newline: str  # "\n" or "\r\n"
    ascii: bool  # non-ASCII characters written as \u escapes


@dataclass(slots=True)
class _Edits:
    text: str
    style: Style
    out: list[tuple[int, int, str]] = field(default_factory=list)


def _skip(text: str, at: int) -> int:
    """Where the white space from ``at`` ends."""
    match = _SPACE.match(text, at)
    return match.end() if match else at


def spans(text: str, at: int = 0) -> tuple[Span, int]:
    """The span of the JSON value at ``at`` (after white space) and where it ends; ``text`` must be valid
    JSON (``json.loads`` took it). Raises ValueError for a mapping with a key twice (which one counts
    is not ours to guess) and RecursionError for nesting deeper than Python's stack."""
    at = _skip(text, at)
    opening = text[at]
    if opening == "{":
        members: list[tuple[str, int, int, Span]] = []
        pos = _skip(text, at + 1)
        while text[pos] != "}":
            key_start = pos
            key, key_end = _DECODER.raw_decode(text, pos)
            if any(m[0] == key for m in members):
                raise ValueError(f"the key {key!r} is written twice in one mapping")
            colon = _skip(text, key_end)
            value, pos = spans(text, colon + 1)
            members.append((key, key_start, key_end, value))
            pos = _skip(text, pos)
            if text[pos] == ",":
                pos = _skip(text, pos + 1)
        return Span(at, pos + 1, members=members), pos + 1
    if opening == "[":
        items: list[Span] = []
        pos = _skip(text, at + 1)
        while text[pos] != "]":
            item, pos = spans(text, pos)
            items.append(item)
            pos = _skip(text, pos)
            if text[pos] == ",":
                pos = _skip(text, pos + 1)
        return Span(at, pos + 1, items=items), pos + 1
    _, end = _DECODER.raw_decode(text, at)
    return Span(at, end), end


def style_of(text: str) -> Style:
    """The indentation, separators, line end and escaping ``text`` is written in."""
    indent = re.search(r"\n([ \t]+)\S", text)
    key_sep = re.search(r'"([ \t]*:[ \t]*)[\[{"\-0-9tfn]', text)
    colon = key_sep.group(1) if key_sep else ": "
    item_sep = re.search(r'[\]}"0-9el](,[ \t]*)["\[{\-0-9tfn]', text)  # between items on one line
    return Style(indent=indent.group(1) if indent else None, key_sep=colon,
                 item_sep=item_sep.group(1) if item_sep else ("," if colon == ":" else ", "),
                 newline="\r\n" if "\r\n" in text else "\n",
                 ascii="\\u" in text and text.isascii())


def _dumps(value: Any, style: Style, line_indent: str, inline: bool) -> str:
    """``value`` as the file writes it, nested lines starting with ``line_indent``."""
    if inline or style.indent is None:
        return json.dumps(value, separators=(style.item_sep, style.key_sep), ensure_ascii=style.ascii)
    text = json.dumps(value, indent=style.indent, separators=(",", style.key_sep), ensure_ascii=style.ascii)
    return text.replace("\n", style.newline + line_indent)


def _line_indent(text: str, at: int) -> str:
    line_start = text.rfind("\n", 0, at) + 1
    line = text[line_start:at]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _multiline(text: str, span: Span, first: int) -> bool:
    """Whether the container at ``span`` puts its first member or item (at ``first``) on a line of its own."""
    return "\n" in text[span.start:first]


def _one_line(e: _Edits, span: Span) -> bool:
    return "\n" not in e.text[span.start:span.end]


def _replace(e: _Edits, span: Span, old: Any, new: Any, in_one_line: bool = False) -> None:
    """``new`` where ``old`` stands: on one line if the file is, or ``old`` was a container on one line
    (an empty ``{}`` or ``[]`` only when the container holding it, ``in_one_line``, is on one line too)."""
    inline = isinstance(old, (dict, list)) and (bool(old) or in_one_line) and _one_line(e, span)
    e.out.append((span.start, span.end, _dumps(new, e.style, _line_indent(e.text, span.start), inline)))


def _append(e: _Edits, span: Span, first: int, last_end: int, entries: list[str]) -> None:
    """Insert ``entries`` (member or item texts without separators) after the last one, ending at ``last_end``."""
    if _multiline(e.text, span, first):
        sep = "," + e.style.newline + _line_indent(e.text, first)
    else:
        sep = e.style.item_sep
    e.out.append((last_end, last_end, "".join(sep + entry for entry in entries)))


def _diff(e: _Edits, span: Span, old: Any, new: Any, in_one_line: bool = False) -> None:
    """Record the edits that turn ``old`` (written at ``span``) into ``new``; ``in_one_line``: the container
    holding it is written on one line."""
    if same(old, new):
        return
    if isinstance(old, dict) and isinstance(new, dict) and span.members:
        _diff_mapping(e, span, old, new)
    elif isinstance(old, list) and isinstance(new, list) and span.items and len(new) >= len(old):
        for item, a, b in zip(span.items, old, new, strict=False):
            _diff(e, item, a, b, _one_line(e, span))
        if len(new) > len(old):
            first, last = span.items[0], span.items[-1]
            multi = _multiline(e.text, span, first.start)
            indent = _line_indent(e.text, first.start)
            _append(e, span, first.start, last.end, [_dumps(v, e.style, indent, not multi) for v in new[len(old):]])
    else:
        _replace(e, span, old, new, in_one_line)


def _diff_mapping(e: _Edits, span: Span, old: dict[str, Any], new: dict[str, Any]) -> None:
    members = span.members or []
    kept = [k for k in new if k in old]
    added = [k for k in new if k not in old]
    removed = [i for i, m in enumerate(members) if m[0] not in new]
    if kept != [k for k in old if k in new] or new and list(new)[: len(kept)] != kept or \
            len(removed) > 1 or (removed and added) or len(removed) == len(members):
        _replace(e, span, old, new)  # reordered, or several changes of its keys at once: the mapping anew
        return
    for key, _, _, value in members:
        if key in new:
            _diff(e, value, old[key], new[key], _one_line(e, span))
    if removed:
        i = removed[0]
        if i < len(members) - 1:
            e.out.append((members[i][1], members[i + 1][1], ""))
        else:
            e.out.append((members[i - 1][3].end, members[i][3].end, ""))
    if added:
        first = members[0][1]
        multi = _multiline(e.text, span, first)
        indent = _line_indent(e.text, first)
        entries = [json.dumps(k, ensure_ascii=e.style.ascii) + _member_sep(e.text, members) +
                   _dumps(new[k], e.style, indent, not multi) for k in added]
        _append(e, span, first, members[-1][3].end, entries)


def _member_sep(text: str, members: list[tuple[str, int, int, Span]]) -> str:
    _, _, key_end, value = members[0]
    return text[key_end:value.start].replace("\r", "").replace("\n", "")


def edit_json(text: str, old: Any, new: Any) -> tuple[str, list[str]]:
    """``text`` (JSON whose data is ``old``) changed to hold ``new``, and warnings; see the module docstring."""
    style = style_of(text)
    try:
        root, _ = spans(text)
        edits = _Edits(text, style)
        _diff(edits, root, old, new)
        out = text
        for start, end, replacement in sorted(edits.out, key=lambda x: (x[0], x[1]), reverse=True):
            out = out[:start] + replacement + out[end:]
        if same(json.loads(out), new):
            return out, []
    except (ValueError, IndexError, RecursionError):
        pass
    whole = _dumps(new, style, "", False) + (style.newline if text.endswith("\n") else "")
    return whole, ["the JSON file is written again whole in its own indentation (review the diff)"]
