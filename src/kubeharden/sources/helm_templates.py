"""Helm template text: which template line emitted each rendered line, and which ``.Values`` drive it.

Helm renders Go templates (https://helm.sh/docs/chart_template_guide/); its output no longer
says where a line came from. Two analyses of a template's own text recover it:

* :func:`instrument` appends a marker (`` #@kh<line>@``) to every template line whose end lies
  outside any action, so that the marker is copied verbatim into the output (before a trailing
  ``-}}`` action instead, whose trimming would otherwise stop at the marker). Rendering the
  instrumented chart and reading the markers (:func:`line_table`) maps each rendered line to
  the template line that emitted it; a line produced by an action (``toYaml … | nindent``,
  ``include``) ends before the marker of the action's line, so it maps to that line. Lines
  inside ``define``/``block`` (named templates, whose output may be compared or hashed) get no
  marker; their output maps to the line that includes them.
* :func:`values_references` reads, per template line, the ``.Values`` paths its actions use,
  resolving ``.`` inside ``with``/``range`` blocks, and the paths of the enclosing ``if``
  conditions (a literal ``hostNetwork: true`` under ``{{ if .Values.hostNetwork }}``).

What cannot be traced (docs/helm-kustomize.md): output of named templates (``include``) maps to
the line that includes it; values reached through variables (``$x := .Values.a``), ``index``,
``tpl`` or ``get`` are not named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MARKER = re.compile(r" #@kh(\d+)@")
_OPENERS = frozenset({"if", "range", "with", "define", "block"})
_CHAIN = re.compile(r"(?<![\w)\]])(\$?)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_LONE_DOT = re.compile(r"(?<![\w)\]$.])\.(?![\w.])")
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`|\'(?:[^\'\\\n]|\\.)*\'')
_KEY = re.compile(r"^\s*(?:-\s+)?([\"']?[A-Za-z0-9_.\-/]+[\"']?)\s*:(?:\s|$)")
ROOT = "<root>"  # the context ``.`` of a template's top level: .Values, .Release …


@dataclass(slots=True)
class Action:
    """One ``{{ … }}``: its offsets in the text, the 1-based lines it starts and ends on, and its body."""

    start: int
    end: int
    start_line: int
    end_line: int
    body: str
    trim_left: bool
    trim_right: bool

    @property
    def words(self) -> list[str]:
        return self.body.split()

    @property
    def keyword(self) -> str:
        words = self.words
        return words[0] if words and not self.body.startswith("/*") else ""


def actions(text: str) -> list[Action]:
    """Every action of a Go template, in order (an unterminated one runs to the end of the text)."""
    found: list[Action] = []
    pos = 0
    line = 1
    while True:
        start = text.find("{{", pos)
        if start < 0:
            return found
        line += text.count("\n", pos, start)
        end = _action_end(text, start + 2)
        raw = text[start + 2:end - 2] if end <= len(text) and text[end - 2:end] == "}}" else text[start + 2:end]
        trim_left = raw.startswith("-") and raw[1:2] in (" ", "\t", "\n", "\r")
        trim_right = raw.endswith("-") and raw[-2:-1] in (" ", "\t", "\n", "\r")
        body = raw[1 if trim_left else 0:len(raw) - (1 if trim_right else 0)].strip()
        end_line = line + text.count("\n", start, end)
        found.append(Action(start, end, line, end_line, body, trim_left, trim_right))
        pos, line = end, end_line


def _action_end(text: str, pos: int) -> int:
    """Offset just after the ``}}`` closing the action whose body starts at ``pos``."""
    n = len(text)
    stripped = text[pos:pos + 4].lstrip("- ")
    if stripped.startswith("/*"):
        close = text.find("*/", pos)
        close = text.find("}}", close + 2) if close >= 0 else -1
        return n if close < 0 else close + 2
    i = pos
    while i < n:
        c = text[i]
        if c in "\"'`":
            i = _string_end(text, i)
            continue
        if c == "}" and text.startswith("}}", i):
            return i + 2
        i += 1
    return n


def _string_end(text: str, i: int) -> int:
    quote = text[i]
    j = i + 1
    while j < len(text):
        if text[j] == "\\" and quote != "`":
            j += 2
            continue
        if text[j] == quote or (text[j] == "\n" and quote != "`"):
            return j + 1
        j += 1
    return j


def instrument(text: str) -> str:
    """``text`` with a line marker on every line where one cannot change what the template renders.

    The marker goes at the end of the line, or, when the line ends with an action that trims the
    whitespace after it (``-}}``), just before that action unless it trims before it too (``{{- … -}}``:
    no marker); lines that end inside an action or inside a named template, and blank lines (which a
    following ``{{-`` trims away), get none.
    """
    acts = actions(text)
    named = _named_spans(acts)
    out: list[str] = []
    offset = 0
    index = 0
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        end = offset + len(line)
        while index < len(acts) and acts[index].end <= end:
            index += 1
        inside_action = index < len(acts) and acts[index].start < end
        last = acts[index - 1] if index else None
        if inside_action or not line.strip() or number == len(lines) or any(a <= end < b for a, b in named):
            out.append(line)
        elif last is not None and last.trim_right and last.end > offset and not text[last.end:end].strip():
            if last.start >= offset and not last.trim_left:  # before ``{{-`` it would stop that trimming too
                cut = last.start - offset
                out.append(f"{line[:cut]} #@kh{number}@{line[cut:]}")
            else:
                out.append(line)
        else:
            out.append(f"{line} #@kh{number}@")
        offset = end + 1
    return "\n".join(out)


def _named_spans(acts: list[Action]) -> list[tuple[int, int]]:
    """Text offsets covered by ``define``/``block`` bodies."""
    spans: list[tuple[int, int]] = []
    stack: list[tuple[str, int]] = []
    for act in acts:
        keyword = act.keyword
        if keyword in _OPENERS:
            stack.append((keyword, act.start))
        elif keyword == "end" and stack:
            opener, start = stack.pop()
            if opener in ("define", "block"):
                spans.append((start, act.end))
    return spans


def line_table(instrumented: str, rendered: str) -> list[int | None] | None:
    """Template line of each rendered line (index 0 is line 1), or None when the outputs do not align.

    ``instrumented`` is the output of the instrumented template, ``rendered`` the real output;
    they align when they have the same number of lines (markers never add a line). A rendered
    line takes its first marker (the line of its key, when trimming joined template lines); a
    line without one takes the next marker below it (the line of the action that printed it).
    """
    marked = instrumented.split("\n")
    real = rendered.split("\n")
    if len(marked) != len(real):
        return None
    table: list[int | None] = [None] * len(marked)
    following: int | None = None
    for i in range(len(marked) - 1, -1, -1):
        found = MARKER.findall(marked[i])
        if found:
            following = int(found[0])
        table[i] = following
    return table


@dataclass(slots=True)
class LineValues:
    """The ``.Values`` paths one template line uses, and those of the ``if`` conditions around it."""

    used: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    #: the YAML key the line writes (``privileged`` of ``privileged: {{ .Values.x }}``), None when an action leads
    key: str | None = None


@dataclass(slots=True)
class _Block:
    """An open ``if``/``with``/``range``/``define`` block: what ``.`` is inside and outside, the
    values paths of the condition of its current branch, and the line that branch starts on."""

    keyword: str
    outer: str | None
    inner: str | None
    condition: list[str]
    start: int


def values_references(text: str) -> dict[int, LineValues]:
    """Template line -> the values paths (``worker.securityContext``) it uses and the enclosing conditions.

    A path inside ``range`` ends in ``[]`` for the element (``ports[].containerPort``). The
    condition of a line is that of the innermost ``if``/``with``/``range`` holding it, ``else``
    branches included (the same value decides them); a block that holds a whole object (a line
    starting ``kind:``) switches the object on or off rather than setting a field, so its
    condition is not given to the fields inside.
    """
    lines = text.split("\n")
    found: dict[int, LineValues] = {}
    stack: list[_Block] = []
    for act in actions(text):
        keyword = act.keyword
        ctx = stack[-1].inner if stack else ROOT
        if keyword == "end":
            if stack:
                _close(stack.pop(), act.start_line, lines, found)
            continue
        if keyword == "else" and stack:
            block = stack.pop()
            _close(block, act.start_line, lines, found)
            words = act.words
            if len(words) > 1 and words[1] in ("if", "with"):
                stack.append(_open(words[1], " ".join(words[2:]), block.outer, act.end_line))
            else:
                stack.append(_Block(block.keyword, block.outer, block.outer if block.keyword != "if" else block.inner,
                                    block.condition, act.end_line))
            continue
        if keyword in _OPENERS:
            block = _open(keyword, " ".join(act.words[1:]), ctx, act.end_line)
            stack.append(block)
            paths = block.condition
        else:
            paths = references(act.body, ctx)
        for number in range(act.start_line, act.end_line + 1) if paths else ():
            found.setdefault(number, LineValues()).used.extend(p for p in paths if p not in found[number].used)
    for number, values in found.items():
        key = _KEY.match(lines[number - 1]) if number <= len(lines) else None
        values.key = key.group(1).strip("'\"") if key else None
    return found


def _open(keyword: str, expression: str, outer: str | None, line: int) -> _Block:
    if keyword in ("define", "block"):  # a named template: what ``.`` is depends on the caller
        return _Block(keyword, outer, None, [], line)
    paths = references(expression, outer)
    target = paths[0] if len(paths) == 1 and ":=" not in expression else None
    inner = outer if keyword == "if" else (f"{target}[]" if keyword == "range" and target else target)
    return _Block(keyword, outer, inner, paths, line)


def _close(block: _Block, end: int, lines: list[str], found: dict[int, LineValues]) -> None:
    """Give the block's condition to the lines of its branch that have none from an inner block."""
    body = lines[block.start:end - 1]
    switches = block.keyword != "range" and _switches_items(body)  # a range's items are its list's
    if not block.condition or any(line.startswith("kind:") for line in body) or switches:
        return
    for number in range(block.start + 1, end + 1):
        values = found.setdefault(number, LineValues())
        if not values.conditions:
            values.conditions.extend(block.condition)


def _switches_items(body: list[str]) -> bool:
    """The block holds whole list items (a container, a volume…): its condition switches them on or off,
    it is not the value of the fields inside."""
    content = [line.strip() for line in body if line.strip() and not line.strip().startswith("{{")]
    return bool(content) and (content[0].startswith("- ") or any(line.startswith(("- name:", "- image:"))
                                                                  for line in content))


def references(expression: str, ctx: str | None) -> list[str]:
    """The values paths an action's expression reads, in order, without repeats.

    ``ctx`` is what ``.`` is: :data:`ROOT`, a values path (inside ``with``/``range``) or None
    (unknown: inside a named template or a range over something else).
    """
    text = _STRING.sub('""', expression)
    paths: list[str] = []
    for dollar, chain in _CHAIN.findall(text):
        parts = chain[1:].split(".")
        if parts[0] == "Values" and (dollar or ctx == ROOT):
            path = ".".join(parts[1:])
        elif not dollar and ctx not in (None, ROOT):
            path = f"{ctx}.{'.'.join(parts)}"
        else:
            continue
        if path and path not in paths:
            paths.append(path)
    if ctx not in (None, ROOT) and _LONE_DOT.search(text) and ctx not in paths:
        paths.append(ctx)
    return paths
