"""Safe YAML loading that remembers where every field came from.

Findings must point at the line of the offending field, so mappings are loaded as
:class:`LineMap` (a ``dict`` that also knows the line of each key). Everything goes
through PyYAML's *safe* loader (the libyaml C parser when it is present); nothing
here can construct arbitrary Python objects.

Hostile input is handled before it can hurt anyone downstream:

* alias "billion laughs" bombs are measured on the node graph (shared nodes are
  counted once per use, with memoisation, so the measuring itself cannot explode);
* nesting deeper than :data:`MAX_DEPTH` is refused with a message;
* duplicate keys are reported, because a repeated key can hide a dangerous value
  behind a harmless one (PyYAML silently keeps the last).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from sys import intern
from typing import Any

import yaml

try:  # the C parser is ~6x faster; fall back to pure Python where libyaml is missing
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kubeharden.model.lines import LineList, LineMap
from kubeharden.sources.scalars import BOOL as BOOL_TAG
from kubeharden.sources.scalars import FLOAT as FLOAT_TAG
from kubeharden.sources.scalars import INT as INT_TAG
from kubeharden.sources.scalars import MERGE as MERGE_TAG
from kubeharden.sources.scalars import NULL as NULL_TAG
from kubeharden.sources.scalars import STR as STR_TAG
from kubeharden.sources.scalars import json_key, resolve_plain
from kubeharden.sources.yamltext import BOUNDARY as _BOUNDARY
from kubeharden.sources.yamltext import blank_unread_bodies, has_anchor

MAX_DEPTH = 100
"""Kubernetes objects nest about 15 levels deep; 100 leaves room for CRDs and data."""

MAX_EXPANDED_NODES = 1_000_000
"""Upper bound on the nodes a document may expand to once aliases are followed."""


class DocumentError(Exception):
    """A document that cannot be used; ``line`` says where, when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class Document:
    """One YAML document of a file: its data (or the error that stopped it) and warnings."""

    index: int
    line: int
    data: Any = None
    error: DocumentError | None = None
    warnings: list[DocumentError] = field(default_factory=list)
    #: (start, end) character offsets of the document in the text it was loaded from
    span: tuple[int, int] = (0, 0)


class _Loader(_BaseLoader):
    """Safe loader building LineMap/LineList and checking each document before construction."""

    # The composer calls these two around every node to follow PyYAML's path resolvers, which this
    # loader has none of (PyYAML's own methods return at once when there are none). Built-in callables
    # that take the same arguments and do nothing spare two Python calls per node: about a tenth of
    # loading a file. descend_resolver(parent, index) and ascend_resolver() return values nobody reads.
    descend_resolver = staticmethod(operator.is_)  # type: ignore[assignment]
    ascend_resolver = staticmethod(tuple)  # type: ignore[assignment]

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.doc_warnings: list[DocumentError] = []
        # Without an anchor there can be no alias, so no alias bomb: a cheaper walk suffices.
        self.text = stream if isinstance(stream, str) else None
        self.may_alias = self.text is None or ("&" in self.text and has_anchor(self.text))

    def construct_document(self, node: Node) -> Any:
        if self.may_alias and (self.text is None or has_anchor(
                self.text, node.start_mark.index, node.end_mark.index + 1)):
            _check_expansion(node)
            return super().construct_document(node)
        # A document nested deeper than MAX_DEPTH is refused before anything else is said of it; the tree
        # builder measures depth as it goes, and whatever stops it is checked against that refusal first.
        try:
            return _build_tree(self, node)
        except _TooDeep:
            self._refuse_if_too_deep(node)
            raise AssertionError("_TooDeep without a node deeper than MAX_DEPTH") from None
        except _Unusual:  # explicit tags, merge keys, complex keys: PyYAML's constructor, from the start
            self._refuse_if_too_deep(node)
            self.doc_warnings = []
            return super().construct_document(node)
        except Exception:  # an invalid value or key (DocumentError) in a document also nested too deeply
            self._refuse_if_too_deep(node)
            raise

    def _refuse_if_too_deep(self, node: Node) -> None:
        """Raise the refusal of a document nested deeper than MAX_DEPTH, as if nothing had been built."""
        try:
            _check_depth(node)
        except DocumentError:
            self.doc_warnings = []
            raise

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        # Plain scalars are resolved as kubectl's YAML decoder does (go-yaml v2, YAML 1.1; see
        # scalars.py), not with PyYAML's table. Called from the C composer for every node without
        # an explicit tag; plain scalars repeat a lot (keys, image names, "TCP"), and their tag
        # depends only on their text. Everything else gets PyYAML's default tag (this loader has
        # no path resolvers), answered here without PyYAML's generic lookup.
        if kind is ScalarNode:
            if not implicit[0]:
                return STR_TAG
            tag = _RESOLVED.get(value)
            if tag is None:
                tag = resolve_plain(value)[0]
                if len(value) <= 64 and len(_RESOLVED) < 100_000:
                    _RESOLVED[value] = tag
            return tag
        return _MAP_TAG if kind is MappingNode else _SEQ_TAG

    def construct_go_scalar(self, node: ScalarNode) -> Any:
        """bool, int, float and null as go-yaml v2 reads them (explicit tags included)."""
        text = self.construct_scalar(node)
        value: Any
        tag, value = resolve_plain(text) if text else (NULL_TAG, None)
        if tag != node.tag and not (node.tag == FLOAT_TAG and tag == INT_TAG):
            raise DocumentError(f"{text!r} is not a valid {node.tag.rpartition(':')[2]}", node.start_mark.line + 1)
        if node.tag == FLOAT_TAG or isinstance(value, float):
            value = float(value)
            # sigs.k8s.io/yaml writes a whole float64 to JSON as an integer (1e3 -> 1000): the API server
            # and every field then see the integer
            if value.is_integer() and abs(value) < 2**63:
                return int(value)
        return value

    def construct_yaml_map(self, node: MappingNode) -> Iterator[LineMap]:  # type: ignore[override]
        data = LineMap()
        data.line = node.start_mark.line + 1
        yield data
        lines: list[int] = []
        position: dict[Any, int] = {}
        explicit: dict[Any, int] = {}  # key -> line, for keys written in this very mapping
        for key_node, value_node, merge_line in _entries(node):
            key = self.construct_object(key_node, deep=False)
            try:
                key = json_key(key)
            except ValueError as exc:
                raise DocumentError(str(exc), key_node.start_mark.line + 1) from None
            line = key_node.start_mark.line + 1
            if merge_line is None:
                if key in explicit:
                    self.doc_warnings.append(DocumentError(
                        f"duplicate key {key!r} (first at line {explicit[key]}); the last value is "
                        "used, which can hide a setting from a reviewer", line))
                explicit[key] = line
            elif key in explicit:
                # go-yaml v2 (kubectl) applies a merge where it stands: it replaces earlier keys.
                self.doc_warnings.append(DocumentError(
                    f"the merge key '<<' at line {merge_line} replaces {key!r} written at line {explicit.pop(key)} "
                    "(kubectl applies keys in order), which can hide a setting from a reviewer", merge_line))
            if key in position:
                lines[position[key]] = line
            else:
                position[key] = len(lines)
                lines.append(line)
            data[key] = self.construct_object(value_node, deep=False)
        data._lines = tuple(lines)

    def construct_yaml_seq(self, node: SequenceNode) -> Iterator[LineList]:  # type: ignore[override]
        data = LineList()
        data.line = node.start_mark.line + 1
        yield data
        data.extend(self.construct_sequence(node))

    def construct_yaml_timestamp(self, node: ScalarNode) -> str:  # type: ignore[override]
        # Kubernetes treats these as strings; a datetime would only surprise the checks.
        return str(self.construct_scalar(node))

    def construct_undefined(self, node: Node) -> Any:
        raise DocumentError(f"unsupported YAML tag {node.tag!r}", node.start_mark.line + 1)


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_yaml_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_yaml_seq)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)
# A plain "=" resolves to YAML 1.1's `value` tag (seen in kube-prometheus CRDs): keep the string.
_Loader.add_constructor("tag:yaml.org,2002:value", _Loader.construct_yaml_str)  # type: ignore[type-var]  # stubs
for _tag in (BOOL_TAG, INT_TAG, FLOAT_TAG, NULL_TAG):
    _Loader.add_constructor(_tag, _Loader.construct_go_scalar)
_Loader.add_constructor(None, _Loader.construct_undefined)


#: A pure function cache (plain scalar text -> its YAML 1.1 tag), bounded below; it holds no scan's
#: state, so concurrent scans may share it.
_RESOLVED: dict[str, str] = {}
class _Unusual(Exception):
    """A node :func:`_build_tree` leaves to PyYAML's constructor (the whole document is built again)."""


class _TooDeep(Exception):
    """:func:`_build_tree` met a collection deeper than MAX_DEPTH (:func:`_check_depth` says which)."""


_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_GO_TAGS = frozenset({BOOL_TAG, INT_TAG, FLOAT_TAG, NULL_TAG})
_STRING_TAGS = frozenset({"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"})


#: Strings up to this length are interned by :func:`_build_tree`: keys and short values ("v1", "TCP",
#: "ServiceAccount") repeat across objects, and one shared copy saves memory and the pickling of results.
SHARED_LENGTH = 40


def _build_tree(loader: _Loader, root: Node) -> Any:
    """The document of ``root``, a tree (no alias), built as the constructors above build it, faster.

    PyYAML's generic constructor memoises every node, tracks recursion and runs one generator
    per collection; a tree needs none of it. Collections are filled breadth first, in the order
    PyYAML's constructor fills them, so the same warnings come in the same order and the same
    error stops the document. Anything else (an explicit tag, a merge key ``<<``, a key that is
    not a scalar) raises :class:`_Unusual`, and the caller builds the document the generic way;
    a collection nested deeper than :data:`MAX_DEPTH` raises :class:`_TooDeep` (depth as
    :func:`_check_depth` counts it: the root is 1). Keys and short strings are interned (equal
    values, one object).

    The common scalars are recognised by the *identity* of their tag: :meth:`_Loader.resolve`
    returns the constant ``STR_TAG`` object (and the scalars module's other constants), so
    ``tag is STR_TAG`` means a string scalar whose tag was resolved, never a collection. An
    explicit ``!!str`` carries an equal string of libyaml's making; it fails the identity test
    and takes the general path, which compares by value.
    """
    go_scalar = loader.construct_go_scalar
    # (node, collection, depth of its items), breadth first: the loop below reads the list while
    # appending to it, which a Python list allows, and the order is PyYAML's
    pending: list[tuple[Node, Any, int]] = []
    push = pending.append
    str_tag = STR_TAG

    def value_of(node: Any, depth: int) -> Any:
        tag = node.tag
        if tag is str_tag:
            text = node.value
            return intern(text) if len(text) <= SHARED_LENGTH else text
        cls = node.__class__
        if cls is MappingNode:
            if tag == _MAP_TAG:
                if depth > MAX_DEPTH:
                    raise _TooDeep
                data = LineMap.__new__(LineMap)
                data.line = node.start_mark.line + 1
                data._lines = ()
                push((node, data, depth + 1))
                return data
        elif cls is ScalarNode:
            if tag in _GO_TAGS:
                return _go_value(go_scalar, node, tag)
            if tag == STR_TAG:  # an explicit !!str
                text = node.value
                return intern(text) if len(text) <= SHARED_LENGTH else text
            if tag in _STRING_TAGS:
                return str(node.value)
        elif cls is SequenceNode and tag == _SEQ_TAG:
            if depth > MAX_DEPTH:
                raise _TooDeep
            items = LineList.__new__(LineList)
            items.line = node.start_mark.line + 1
            push((node, items, depth + 1))
            return items
        raise _Unusual

    result = value_of(root, 1)
    for node, data, depth in pending:
        if data.__class__ is LineList:
            data.extend([value_of(item, depth) for item in node.value])
        else:
            data._lines = _fill_mapping(loader, node, data, depth, value_of)
    return result


def _fill_mapping(loader: _Loader, node: Node, data: LineMap, depth: int,
                  value_of: Callable[[Any, int], Any]) -> tuple[int, ...]:
    """Fill ``data`` with the entries of ``node`` (a MappingNode; values at ``depth``); its key lines, in key order.

    A repeated key keeps its first place and takes the line and value of its last occurrence, with a warning.
    """
    lines: list[int] = []
    append = lines.append
    str_tag = STR_TAG
    for key_node, value_node in node.value:
        if key_node.tag is str_tag:  # a resolved string scalar (see _build_tree)
            key = intern(key_node.value)
        else:
            key = _unusual_key(key_node, depth, value_of)
        line = key_node.start_mark.line + 1
        if key in data:
            position = list(data).index(key)
            loader.doc_warnings.append(DocumentError(
                f"duplicate key {key!r} (first at line {lines[position]}); the last value is "
                "used, which can hide a setting from a reviewer", line))
            lines[position] = line
        else:
            append(line)
        if value_node.tag is str_tag:
            text = value_node.value
            data[key] = intern(text) if len(text) <= SHARED_LENGTH else text
        else:
            data[key] = value_of(value_node, depth)
    return tuple(lines)


def _unusual_key(key_node: Node, depth: int, value_of: Callable[[Any, int], Any]) -> str:
    """The JSON key of a key node that is not a resolved string (an explicit tag, a number, a bool…)."""
    if key_node.__class__ is not ScalarNode or key_node.tag == MERGE_TAG:
        raise _Unusual
    if key_node.tag == STR_TAG:
        return intern(key_node.value)
    try:
        return json_key(value_of(key_node, depth))
    except ValueError as exc:
        raise DocumentError(str(exc), key_node.start_mark.line + 1) from None


def _go_value(go_scalar: Callable[[ScalarNode], Any], node: ScalarNode, tag: str) -> Any:
    """``go_scalar(node)`` (a bool, int, float or null), remembered by text: flags and ports repeat."""
    text = node.value
    known = _GO_VALUES.get(text)
    if known is not None and known[0] == tag:
        return known[1]
    value = go_scalar(node)
    if len(text) <= 64 and len(_GO_VALUES) < 100_000:
        _GO_VALUES[text] = (tag, value)
    return value


#: A pure function cache like _RESOLVED: scalar text -> (tag, what construct_go_scalar makes of a node with
#: that tag and text). The value depends on nothing else; an error (which names a line) is never stored.
_GO_VALUES: dict[str, tuple[str, Any]] = {}


def _entries(node: MappingNode) -> list[tuple[Node, Node, int | None]]:
    """The (key, value, merge line) pairs of a mapping in the order kubectl applies them.

    go-yaml v2 applies a ``<<`` merge where it stands, so it replaces keys written before it,
    and keys written after it replace merged ones; of several merged mappings the first wins.
    ``merge line`` is None for keys written in the mapping itself.
    """
    if not any(k.tag == MERGE_TAG for k, _ in node.value):
        return [(k, v, None) for k, v in node.value]
    entries: list[tuple[Node, Node, int | None]] = []
    for key_node, value_node in node.value:
        if key_node.tag != MERGE_TAG:
            entries.append((key_node, value_node, None))
            continue
        line = key_node.start_mark.line + 1
        sources = [value_node] if isinstance(value_node, MappingNode) else \
            list(reversed(value_node.value)) if isinstance(value_node, SequenceNode) else None
        if sources is None or not all(isinstance(s, MappingNode) for s in sources):
            raise DocumentError("the merge key '<<' needs a mapping or a list of mappings", line)
        for source in sources:
            entries.extend((k, v, line) for k, v, _ in _entries(source))
    return entries


def _check_depth(root: Node) -> None:
    """Refuse documents nested deeper than MAX_DEPTH (a tree: no aliases in the text)."""
    stack: list[tuple[Node, int]] = [(root, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > MAX_DEPTH:
            raise DocumentError(f"nesting deeper than {MAX_DEPTH} levels; document skipped",
                                node.start_mark.line + 1)
        depth += 1
        if node.__class__ is MappingNode:
            for key, value in node.value:
                if value.__class__ is not ScalarNode:
                    push((value, depth))
                if key.__class__ is not ScalarNode:
                    push((key, depth))
        elif node.__class__ is SequenceNode:
            for value in node.value:
                if value.__class__ is not ScalarNode:
                    push((value, depth))


def _check_expansion(root: Node) -> None:
    """Refuse documents nested too deeply or expanding (through aliases) too far.

    Iterative, so depth cannot exhaust Python's stack. Nodes reached twice are aliases;
    their expanded sizes are memoised so a bomb is measured in linear time.
    """
    seen: set[int] = set()
    sizes: dict[int, int] = {}
    # (node, depth, children-done?)
    stack: list[tuple[Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if isinstance(node, ScalarNode):
            continue
        ident = id(node)
        if done:
            total = 1
            for child in _children(node):
                total += sizes.get(id(child), 1)
            sizes[ident] = total
            if total > MAX_EXPANDED_NODES:
                raise DocumentError(
                    f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} nodes "
                    "(a 'billion laughs' alias bomb); document skipped",
                    node.start_mark.line + 1,
                )
            continue
        if depth > MAX_DEPTH:
            raise DocumentError(
                f"nesting deeper than {MAX_DEPTH} levels; document skipped", node.start_mark.line + 1
            )
        if ident in seen:
            continue
        seen.add(ident)
        stack.append((node, depth, True))
        for child in _children(node):
            if not isinstance(child, ScalarNode):
                stack.append((child, depth + 1, False))


def _children(node: Node) -> Iterator[Node]:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            yield key
            yield value
    elif isinstance(node, SequenceNode):
        yield from node.value


#: Top-level keys kept when a document is loaded shallowly: its identity and metadata.
SHALLOW_KEYS = frozenset({"apiVersion", "kind", "metadata"})


def _top_scalar(node: Node, key: str) -> str | None:
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.value == key and isinstance(v, ScalarNode):
                return str(v.value)
    return None


def _shallow(node: Node | None, shallow_kind: Callable[[str], bool] | None) -> Node | None:
    """Only identity and metadata of documents whose kind nobody reads in full.

    A large CustomResourceDefinition costs far more to construct in Python than to parse;
    its body is never checked, so it is never built (and cannot hurt anyone if hostile).
    """
    if shallow_kind is None or not isinstance(node, MappingNode):
        return node
    kind = _top_scalar(node, "kind")
    if kind is None or not shallow_kind(kind):
        return node
    kept = [(k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value in SHALLOW_KEYS]
    return MappingNode(node.tag, kept, node.start_mark, node.end_mark, node.flow_style)


def load_documents(text: str, shallow_kind: Callable[[str], bool] | None = None) -> Iterator[Document]:
    """Yield each document of ``text``, with its data or the error that stopped it.

    libyaml cannot resynchronise after a syntax error, so after one the rest of the text is
    loaded again from the next document start (``---``): one broken document never hides
    the others. Documents whose kind satisfies ``shallow_kind`` keep only apiVersion, kind
    and metadata. Every line number is 1-based and relative to ``text``.
    """
    if shallow_kind is not None:  # the same documents, without composing the bodies _shallow drops
        text = blank_unread_bodies(text, shallow_kind, SHALLOW_KEYS)
    start: int | None = 0
    index = 0
    while start is not None:
        resume: int | None = None
        line_offset = text.count("\n", 0, start)
        loader = _Loader(text[start:] if start else text)
        try:
            while loader.check_node():
                node = _shallow(loader.get_node(), shallow_kind)
                begin = node.start_mark.line + 1 if node is not None else 1
                doc = Document(index=index, line=begin)
                if node is not None:
                    doc.span = (start + node.start_mark.index, start + node.end_mark.index)
                try:
                    doc.data = loader.construct_document(node) if node is not None else None
                except DocumentError as exc:
                    doc.error = exc
                    _reset_constructor(loader)
                except RecursionError:
                    doc.error = DocumentError("structure too deeply nested to load; document skipped", begin)
                    _reset_constructor(loader)
                doc.warnings, loader.doc_warnings = loader.doc_warnings, []
                if line_offset:
                    _shift_lines(doc, line_offset)
                yield doc
                index += 1
        except yaml.MarkedYAMLError as exc:
            doc, resume = _syntax_error(text, start, exc, index)
            if line_offset and doc.error is not None and doc.error.line is not None:
                doc.error.line += line_offset
            doc.line = doc.error.line if doc.error and doc.error.line else text.count("\n", 0, doc.span[0]) + 1
            yield doc
            index += 1
        except yaml.YAMLError as exc:
            yield Document(index=index, line=line_offset + 1, error=DocumentError(f"invalid YAML: {exc}", None),
                           span=(start, len(text)))
        finally:
            loader.dispose()
        start = resume


def _syntax_error(text: str, start: int, exc: yaml.MarkedYAMLError, index: int) -> tuple[Document, int | None]:
    """The document a syntax error broke (its span ends at the next ``---``) and where to resume."""
    # An unclosed bracket is detected far from where it was opened: point at the opening.
    mark = exc.context_mark or exc.problem_mark
    line = mark.line + 1 if mark is not None else None
    problem = exc.problem or exc.context or "invalid YAML"
    context = ""
    if exc.context and exc.problem:
        context = f" ({exc.context} started here"
        if exc.problem_mark is not None and exc.problem_mark.line + 1 != line:
            context += f"; detected at line {exc.problem_mark.line + 1}"
        context += ")"
    where = start + (exc.problem_mark.index if exc.problem_mark is not None else 0)
    line_start = text.rfind("\n", 0, where) + 1
    doc_start = start
    for found in _BOUNDARY.finditer(text, start, line_start):
        doc_start = found.start()
    following = _BOUNDARY.search(text, line_start)
    if following is not None and following.start() <= doc_start:
        following = _BOUNDARY.search(text, following.end())
    resume = following.start() if following is not None else None
    doc = Document(index=index, line=line or 1, error=DocumentError(f"invalid YAML: {problem}{context}", line),
                   span=(doc_start, resume if resume is not None else len(text)))
    return doc, resume


def _shift_lines(doc: Document, offset: int) -> None:
    """Add ``offset`` to every line of a document loaded from a later part of the text."""
    doc.line += offset
    for problem in (*doc.warnings, doc.error):
        if problem is not None and problem.line is not None:
            problem.line += offset
    seen: set[int] = set()
    stack = [doc.data]
    while stack:
        item = stack.pop()
        if not isinstance(item, (LineMap, LineList)) or id(item) in seen:
            continue
        seen.add(id(item))
        if item.line is not None:
            item.line += offset
        if isinstance(item, LineMap):
            item._lines = tuple(n + offset for n in item._lines)
            stack.extend(item.values())
        else:
            stack.extend(item)


def _reset_constructor(loader: Any) -> None:
    loader.constructed_objects = {}
    loader.recursive_objects = {}
    loader.state_generators = []
    loader.deep_construct = False
