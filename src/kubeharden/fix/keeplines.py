"""Keep the lines a fix did not change byte for byte: merge a re-dumped document with its original text.

ruamel.yaml dumps a whole document in one indentation (``- `` flush under its key, or indented by
two) and one spacing, so a document that mixes them would come back with lines the fix never touched
re-indented. :func:`keep_unchanged_lines` compares the dumped lines with the original ones by their
content without its white space (indentation, spacing inside a flow mapping such as ``{ }``, before a
comment and the line end do not count) using :class:`difflib.SequenceMatcher`: a line of the dump
that matches one of the original is replaced by the original line, byte for byte, and so are the
lines of a plain scalar the file folds over several lines where the dump writes it on one, and the
blank and comment lines the dump drops. Lines the fix wrote (new or changed) keep the dump's relative
indentation, moved by the shift of the nearest line above them that is their sibling or parent: a
line at a lower indentation, or at the same one where a list item (``- ``) is not taken for the
sibling of a mapping key (with ``- `` flush under its key, the item and the key that holds the list
sit at one indentation). The content of a list item (``- name: web``) counts as a line of its own,
at the column after its ``- ``. So a key added beside ``ports:`` whose items the file indents by four
stays beside ``ports:``, and a key added to a mapping whose children the file indents by four inside
a file indented by two goes in at four, beside them.

The result is a guess that the caller must check: :mod:`kubeharden.fix.yamlfile` loads it again and
uses it only when it holds exactly the edited data, else the plain dump (and says so).
"""

from __future__ import annotations

import difflib


def _key(line: str) -> str:
    return "".join(line.split())


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_item(line: str) -> bool:
    """A list item line: ``- `` (or a lone ``-``) after its indentation."""
    text = line.strip(" ")
    return text.startswith("- ") or text.rstrip("\r\n") == "-"


def _content(line: str) -> int | None:
    """The column of a list item's content (``- name: web`` -> the column of ``name``), None when it has none."""
    rest = line.lstrip(" ")[1:]
    text = rest.lstrip(" ")
    if not text.strip() or text.startswith("#"):
        return None
    return len(line) - len(text)


def _shift_for(placed: list[tuple[int, int, bool]], indent: int, item: bool) -> int:
    """The shift of the nearest line placed above a new line at ``indent`` that is its sibling or parent."""
    for at, shift, is_item in reversed(placed):
        if at < indent or (at == indent and (item or not is_item)):
            return shift
    return 0


def _place(placed: list[tuple[int, int, bool]], new: str, shift: int, old: str | None = None) -> None:
    """Record where the dumped line ``new`` went (``old``, its original, or shifted by ``shift``)."""
    indent = _indent(new)
    placed.append((indent, shift, _is_item(new)))
    if _is_item(new):
        column = _content(new)
        kept = _content(old) if old is not None else None
        if column is not None:
            placed.append((column, (kept - column) if kept is not None else shift, False))


def _structural(line: str) -> bool:
    """A line that says where its content sits (not blank, not only a comment, whose indentation is free)."""
    text = line.strip()
    return bool(text) and not text.startswith("#")


def _folded(old: list[str], start: int, stop: int, key: str) -> tuple[int, int] | None:
    """(first, end) of the lines ``old[first:end]`` (``start <= first``, ``end <= stop``), two or more,
    whose contents together are ``key``: one scalar folded over several lines; None when there are none."""
    for first in range(start, stop):
        joined = _key(old[first])
        if not joined or not key.startswith(joined):
            continue
        for end in range(first + 1, stop):
            joined += _key(old[end])
            if joined == key:
                return first, end + 1
            if not key.startswith(joined):
                break
    return None


def keep_unchanged_lines(original: str, dumped: str) -> str:
    """``dumped`` (the new text of a document) with each line whose content ``original`` holds at the
    matching place taken from ``original``; new lines shifted into the original's indentation."""
    old = original.splitlines(keepends=True)
    new = dumped.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, [_key(x) for x in old], [_key(x) for x in new], autojunk=False)
    out: list[str] = []
    placed: list[tuple[int, int, bool]] = []  # (indentation in the dump, shift to the original, list item)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                out.append(old[i])
                if _structural(new[j]):
                    _place(placed, new[j], _indent(old[i]) - _indent(new[j]), old[i] if _is_item(old[i]) else None)
            continue
        if tag == "delete":  # the dump dropped them: blank lines (with spaces) and comments stay
            out.extend(line for line in old[i1:i2] if not _structural(line))
            continue
        i = i1
        for j in range(j1, j2):  # "replace" and "insert": lines of the fix; the old lines they replace go
            fold = _folded(old, i, i2, _key(new[j]))
            if fold is not None:  # a plain scalar the file folds over several lines, dumped on one
                start, i = fold
                out.extend(old[start:i])
                if _structural(new[j]):
                    _place(placed, new[j], _indent(old[start]) - _indent(new[j]))
                continue
            line, indent = new[j], _indent(new[j])
            shift = _shift_for(placed, indent, _is_item(line))
            if line.strip():
                line = " " * max(0, indent + shift) + line[indent:]
            out.append(line)
            if _structural(new[j]):
                _place(placed, new[j], shift)
    newline = "\r\n" if "\r\n" in dumped else "\n"
    for n, line in enumerate(out[:-1]):  # an original last line without its line end, no longer last
        if not line.endswith("\n"):
            out[n] = line + newline
    return "".join(out)
