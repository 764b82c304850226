"""Calico selector expressions (``selector: app == 'web' && has(tier)``).

The grammar follows Calico's policy reference ("Selectors",
https://docs.tigera.io/calico/latest/reference/resources/networkpolicy#selectors):

    all()  global()  has(k)  !has(k)  k == 'v'  k != 'v'  k in {'a', 'b'}  k not in {...}
    k contains 's'  k starts with 's'  k ends with 's'  !expr  (expr)  expr && expr  expr || expr

``k != 'v'`` and ``k not in {...}`` are true when the label is absent. The empty string
selects everything (like ``all()``). A selector is compiled once into a hashable tree and
matched many times; a malformed one raises :class:`SelectorError`, as calicoctl rejects it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from collections.abc import Mapping

from kubeharden.analysis.selectors import SelectorError

_TOKEN = re.compile(r"""\s*(?:(?P<str>'[^']*'|"[^"]*")|(?P<op>==|!=|&&|\|\||[!(){},])|(?P<word>[A-Za-z0-9_./-]+))""")

Node = tuple  # ("all",) | ("has", k) | ("eq", k, v) | ("ne", k, v) | ("in", k, vs) | ("notin", k, vs)
#             | ("contains"|"starts"|"ends", k, s) | ("not", n) | ("and", a, b) | ("or", a, b)


@dataclass(frozen=True, slots=True)
class CalicoSelector:
    """A compiled Calico selector; ``source`` is the text as written."""

    source: str
    tree: Node

    @property
    def is_empty(self) -> bool:
        return self.tree == ("all",)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return _eval(self.tree, labels)

    def keys(self) -> frozenset[str]:
        """The label keys the expression reads."""
        return _keys(self.tree)

    def describe(self) -> str:
        return self.source.strip() or "all()"


def _keys(node: Node) -> frozenset[str]:
    op = node[0]
    if op == "all":
        return frozenset()
    if op == "not":
        return _keys(node[1])
    if op in ("and", "or"):
        return _keys(node[1]) | _keys(node[2])
    return frozenset((node[1],))


def _eval(node: Node, labels: Mapping[str, str]) -> bool:
    op = node[0]
    if op == "all":
        return True
    if op == "has":
        return node[1] in labels
    if op == "not":
        return not _eval(node[1], labels)
    if op == "and":
        return _eval(node[1], labels) and _eval(node[2], labels)
    if op == "or":
        return _eval(node[1], labels) or _eval(node[2], labels)
    value = labels.get(node[1])
    if op == "eq":
        return value == node[2]
    if op == "ne":
        return value != node[2]
    if op == "in":
        return value in node[2]
    if op == "notin":
        return value not in node[2]
    if value is None:
        return False
    if op == "contains":
        return node[2] in value
    if op == "starts":
        return value.startswith(node[2])
    return value.endswith(node[2])  # ends


def _tokens(text: str, where: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise SelectorError(f"{where}: cannot parse selector {text!r} at {text[pos:pos + 10]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        out.append((kind, value[1:-1] if kind == "str" else value))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], where: str, text: str) -> None:
        self.tokens, self.pos, self.where, self.text = tokens, 0, where, text

    def fail(self, what: str) -> SelectorError:
        return SelectorError(f"{self.where}: invalid selector {self.text!r}: {what}")

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            raise self.fail(f"expected {value or kind}")
        self.pos += 1
        return token[1]

    def accept(self, kind: str, value: str) -> bool:
        if self.peek() == (kind, value):
            self.pos += 1
            return True
        return False

    def expr(self) -> Node:
        node = self.conj()
        while self.accept("op", "||"):
            node = ("or", node, self.conj())
        return node

    def conj(self) -> Node:
        node = self.unary()
        while self.accept("op", "&&"):
            node = ("and", node, self.unary())
        return node

    def unary(self) -> Node:
        if self.accept("op", "!"):
            return ("not", self.unary())
        if self.accept("op", "("):
            node = self.expr()
            self.take("op", ")")
            return node
        word = self.take("word")
        if word in ("all", "global") and self.accept("op", "("):
            self.take("op", ")")
            return ("all",)
        if word == "has" and self.accept("op", "("):
            key = self.take("word")
            self.take("op", ")")
            return ("has", key)
        return self.comparison(word)

    def comparison(self, key: str) -> Node:
        token = self.peek()
        if token == ("op", "=="):
            self.pos += 1
            return ("eq", key, self.take("str"))
        if token == ("op", "!="):
            self.pos += 1
            return ("ne", key, self.take("str"))
        if token == ("word", "in"):
            self.pos += 1
            return ("in", key, self.values())
        if token == ("word", "not") and self.peek(1) == ("word", "in"):
            self.pos += 2
            return ("notin", key, self.values())
        if token == ("word", "contains"):
            self.pos += 1
            return ("contains", key, self.take("str"))
        if token in (("word", "starts"), ("word", "ends")) and self.peek(1) == ("word", "with"):
            self.pos += 2
            return ("starts" if token[1] == "starts" else "ends", key, self.take("str"))
        raise self.fail(f"expected an operator after {key!r}")

    def values(self) -> frozenset[str]:
        self.take("op", "{")
        out: set[str] = set()
        if not self.accept("op", "}"):
            out.add(self.take("str"))
            while self.accept("op", ","):
                out.add(self.take("str"))
            self.take("op", "}")
        return frozenset(out)


def compile_calico(text: object, where: str) -> CalicoSelector:
    """Compile a Calico selector; None or ``""`` is ``all()``. Raises SelectorError."""
    if text is None:
        return CalicoSelector("", ("all",))
    if not isinstance(text, str):
        raise SelectorError(f"{where} must be a selector string, not {type(text).__name__}")
    tokens = _tokens(text, where)
    if not tokens:
        return CalicoSelector(text, ("all",))
    parser = _Parser(tokens, where, text)
    tree = parser.expr()
    if parser.peek() is not None:
        raise parser.fail(f"unexpected {parser.peek()[1]!r}")  # type: ignore[index]
    return CalicoSelector(text, tree)
