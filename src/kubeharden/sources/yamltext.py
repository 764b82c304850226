"""What can be told about YAML text before parsing it: anchors, aliases, document starts, and the
bodies of documents nobody reads, blanked so that libyaml never composes them.

A CustomResourceDefinition's OpenAPI schema is often megabytes long, and no control reads it; the
loader keeps only apiVersion, kind and metadata of such documents (``yamlload._shallow``), but
libyaml would still turn every schema node into a Python object first. :func:`blank_unread_bodies`
finds, in the text alone, the top-level entries of such a document that would be dropped, checks
that the cut is exact and that the entries are valid YAML (libyaml's own parser, in C, without
building anything in Python), and replaces them with blanks of the same length and the same line
breaks. The loader then sees the same document, at the same lines and character offsets, with
nothing but identity and metadata in it. Anything the text alone cannot settle (anchors, aliases,
directives, tags on the document, flow or quoted keys at the top level, a document that is not a
block mapping) leaves the document as it is.

YAML facts relied on (YAML 1.1/1.2 as libyaml implements them, https://yaml.org/spec/1.2.2/):
a line starting with ``---`` and a blank (or the end of the line) at column 0 always starts a
document, inside a block or quoted scalar too (libyaml ends the scalar or raises an error
there); at the top level of a block mapping at column 0, a block or plain scalar never continues
on a line at column 0, so such a line starts a new key, a ``- `` entry of the key's sequence, a
comment, or (inside a quoted or flow value) continues that value, which is why each cut piece is
parsed on its own before it is blanked: a piece cut inside a quoted or flow value does not parse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from yaml.events import AliasEvent, StreamEndEvent

try:  # libyaml's parser; without it nothing is blanked (the pure-Python parser would cost as much as loading)
    from yaml._yaml import CParser as _RawParser
except ImportError:  # pragma: no cover - depends on the PyYAML build
    _RawParser = None  # type: ignore[misc,assignment]

#: A line that starts a new YAML document ("---" alone or followed by a space).
BOUNDARY = re.compile(r"^---(?=[ \t\r\n]|$)", re.MULTILINE)
#: "&" followed by a character an anchor name may start with.
_AMPERSAND = re.compile(r"&[^\s,\[\]{}]")
#: "*" followed by a character an alias name may start with.
_ASTERISK = re.compile(r"\*[^\s,\[\]{}]")
#: What may stand between a line's start and an anchor: indentation and "- ", "? ", "--- " indicators.
_LINE_START_INDICATORS = re.compile(r"[ \t]*(?:(?:-|\?|---)[ \t]+)*")


def has_anchor(text: str, pos: int = 0, endpos: int | None = None) -> bool:
    """Whether ``text[pos:endpos]`` holds an anchor token: "&name" where a node can start.

    A node starts at a line's start (after indentation and "- ", "? ", "--- "), after ": " or after
    a flow indicator ("[", "{", ","); "a=1&b=2" or "make && make install" inside a scalar are not
    anchors. Looks only backwards from each "&", so the cost stays linear in the text.
    """
    return _at_node_start(_AMPERSAND, text, pos, endpos)


def has_alias(text: str, pos: int = 0, endpos: int | None = None) -> bool:
    """Whether ``text[pos:endpos]`` holds an alias token, "*name" where a node can start (as :func:`has_anchor`)."""
    return _at_node_start(_ASTERISK, text, pos, endpos)


def _at_node_start(indicator: re.Pattern[str], text: str, pos: int, endpos: int | None) -> bool:
    end = len(text) if endpos is None else endpos
    for found in indicator.finditer(text, pos, end):
        amp = found.start()
        blank = amp
        while blank > pos and text[blank - 1] in " \t":
            blank -= 1
        if blank > pos and (text[blank - 1] in "[{," or (text[blank - 1] == ":" and blank < amp)):
            return True
        start = blank
        while start > pos and text[start - 1] in " \t-?":
            start -= 1
        if (start == 0 or text[start - 1] == "\n") and _LINE_START_INDICATORS.fullmatch(text, start, amp):
            return True
    return False


#: Documents shorter than this are loaded whole: blanking saves nothing worth the text scan.
BLANK_MIN_CHARS = 8192
#: A top-level ``kind:`` line with a plain kind name (a comment may follow).
_KIND_LINE = re.compile(r"^kind:[ \t]+([A-Za-z][A-Za-z0-9]*)[ \t]*(?:#[^\n]*)?\r?$", re.MULTILINE)
#: A line starting at column 0 with something other than a blank.
_COLUMN_ZERO = re.compile(r"\n[^ \t\r\n]")
#: A top-level key written plain, then ":" and a blank or the end of the line.
_PLAIN_KEY = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_.\-/]*):(?=[ \t\r\n]|$)")
#: The rest of a "---" line that leaves the document's first node to the following lines.
_EMPTY_REST = re.compile(r"[ \t]*(?:#[^\n]*)?\r?(?:\n|$)")
#: Lines holding nothing but blanks and comments.
_ONLY_COMMENTS = re.compile(r"(?:[ \t]*(?:#[^\n]*)?\r?\n)*[ \t]*(?:#[^\n]*)?\r?")


def blank_unread_bodies(text: str, shallow_kind: Callable[[str], bool], keep: frozenset[str]) -> str:
    """``text`` with the top-level entries other than ``keep`` blanked in each document whose kind
    ``shallow_kind`` accepts (same length, same line breaks: every line and offset stays valid).

    A document is blanked only when it is at least :data:`BLANK_MIN_CHARS` long, is a block mapping
    at column 0 with plain top-level keys and one ``kind``, holds no anchor, alias, directive or
    document end marker, and each of its top-level entries parses on its own with libyaml; otherwise
    it is left as written, and the loader reports whatever is wrong with it as before.
    """
    if _RawParser is None or len(text) < BLANK_MIN_CHARS:
        return text
    kinds = [found for found in (_KIND_LINE.match(text, line) for line in _lines_starting(text, "kind:"))
             if found is not None and shallow_kind(found.group(1))]
    if not kinds:
        return text
    starts = [0, *(line for line in _lines_starting(text, "---") if line > 0 and BOUNDARY.match(text, line)),
              len(text)]
    pieces: list[str] = []
    done = 0  # text before this offset is in pieces
    segment = 0
    for found in kinds:
        while starts[segment + 1] <= found.start():
            segment += 1
        begin, end = starts[segment], starts[segment + 1]
        if begin < done or end - begin < BLANK_MIN_CHARS:
            continue  # a document seen already (it has two kind lines: left as written), or a small one
        for cut_from, cut_to in _unread_entries(text, begin, end, keep):
            pieces.append(text[done:cut_from])
            pieces.append(_blank(text, cut_from, cut_to))
            done = cut_to
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _lines_starting(text: str, prefix: str) -> Iterator[int]:
    """The offsets of the lines of ``text`` that start with ``prefix`` (``str.find``: far faster
    than a multi-line regular expression on megabytes)."""
    if text.startswith(prefix):
        yield 0
    needle = "\n" + prefix
    found = text.find(needle)
    while found >= 0:
        yield found + 1
        found = text.find(needle, found + 1)


def _unread_entries(text: str, begin: int, end: int, keep: frozenset[str]) -> list[tuple[int, int]]:
    """The (start, end) offsets of the top-level entries of the document ``text[begin:end]`` that
    may be blanked: not in ``keep``, not the first (where the mapping starts), each cut exactly.
    Empty when the text alone cannot tell (see :func:`blank_unread_bodies`)."""
    if has_anchor(text, begin, end):
        return []  # the loader takes another way for documents with anchors: leave it the same text
    alias_like = has_alias(text, begin, end)  # or "*" starting a line of a long description
    first = begin
    if text.startswith("---", begin):
        rest = _EMPTY_REST.match(text, begin + 3, end)
        if rest is None:
            return []  # a node, a tag or an anchor on the "---" line
        first = rest.end()
    lines = ([first] if first < end and text[first] not in " \t\r\n" else []) + \
        [found.start() + 1 for found in _COLUMN_ZERO.finditer(text, first, end)]
    entries: list[tuple[str, int]] = []  # (key, offset of its line)
    for line in lines:
        head = text[line]
        if head == "#":
            continue
        if head == "-" and entries and (line + 1 == end or text[line + 1] in " \t\r\n"):
            continue  # an item of the sequence the entry above holds
        key = _PLAIN_KEY.match(text, line, end)
        if key is None:
            return []  # a directive, "...", a quoted, flow, tagged or complex key, a scalar document
        entries.append((key.group(1), line))
    if [name for name, _ in entries].count("kind") != 1:
        return []
    bounds = [(name, line, following) for (name, line), (_, following)
              in zip(entries, [*entries[1:], ("", end)], strict=True)]
    for name, line, following in bounds:
        eol = text.find("\n", line, following)
        if name == "kind" and eol >= 0 and not _ONLY_COMMENTS.fullmatch(text, eol + 1, following):
            return []  # the kind may go on over the next line: only the loader can read it
        if not _parses(text[line:following], alias_like):
            return []
    cuts: list[tuple[int, int]] = []
    for name, line, following in bounds[1:]:
        if name in keep:
            continue
        if cuts and cuts[-1][1] == line:
            cuts[-1] = (cuts[-1][0], following)
        else:
            cuts.append((line, following))
    return cuts


#: Whether a piece parses (:func:`_parse_check`), by (piece, alias_like): one tree often holds the same
#: CustomResourceDefinition in several files (an install.yaml, its namespaced and HA variants, crds/); the
#: real corpus gives 30 MB of pieces to check, 6 MB of them distinct. A pure cache of a fact about a text,
#: bounded by the characters it keeps (:data:`PARSED_CACHE_CHARS`); concurrent scans may share it.
_PARSED: dict[tuple[str, bool], bool] = {}
#: Characters of pieces :data:`_PARSED` may keep (pieces met after that are checked every time).
PARSED_CACHE_CHARS = 8_000_000
_parsed_chars = [0]


def _parses(piece: str, alias_like: bool) -> bool:
    """:func:`_parse_check`, remembered for pieces met again (:data:`_PARSED`)."""
    key = (piece, alias_like)
    known = _PARSED.get(key)
    if known is None:
        known = _parse_check(piece, alias_like)
        if _parsed_chars[0] + len(piece) <= PARSED_CACHE_CHARS:
            _PARSED[key] = known
            _parsed_chars[0] += len(piece)
    return known


def _parse_check(piece: str, alias_like: bool) -> bool:
    """Whether libyaml parses ``piece`` without an error (and, if ``alias_like``, without an alias,
    which only the composer resolves); only events are made, no nodes, in C unless ``alias_like``."""
    parser = _RawParser(piece)
    try:
        if not alias_like:
            parser.raw_parse()
            return True
        while (event := parser.get_event()) is not None:
            if isinstance(event, AliasEvent):
                return False
            if isinstance(event, StreamEndEvent):
                return True
        return True
    except Exception:  # any libyaml error: the loader reports it from the whole text
        return False
    finally:
        parser.dispose()


def _blank(text: str, begin: int, end: int) -> str:
    """As many characters as ``text[begin:end]``, as many line breaks, nothing else but spaces."""
    breaks = text.count("\n", begin, end)
    return " " * (end - begin - breaks) + "\n" * breaks
