"""The loader's tree builder gives exactly what PyYAML's generic constructor gives.

``yamlload._build_tree`` builds documents without aliases faster than the generic
constructor; every value, type, line, warning (in order) and error must be the same.
"""

from __future__ import annotations

import math
import random
import re
from pathlib import Path

import pytest

from kubeharden.model.lines import LineList, LineMap
from kubeharden.sources import yamlload
from kubeharden.sources.yamlload import has_anchor, load_documents

ROOT = Path(__file__).resolve().parent.parent

DOCUMENTS = {
    "pod": """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web, tier: "front"}
spec:
  hostNetwork: yes
  containers:
  - name: app
    image: nginx:1.27
    ports: [{containerPort: 0x50, protocol: TCP}]
    securityContext:
      privileged: off
      runAsUser: 0o1750
      readOnlyRootFilesystem: ~
    resources: {limits: {cpu: 1e3, memory: .5}}
    args: ["=", 2024-01-02, =, 1:20, '0644', 0644]
""",
    "duplicates at several depths, in construction order": """\
kind: Pod
kind: Pod
metadata:
  name: a
  name: b
  labels:
    x: "1"
    x: "2"
spec:
  containers:
  - name: c
    name: d
    securityContext: {privileged: true, privileged: false}
spec: {}
""",
    "keys that are not strings": "true: 1\n1.5: 2\n0x10: 3\n.inf: 4\nno: 5\n",
    "null key": "apiVersion: v1\n~: x\n",
    "invalid explicit int": "kind: Pod\nspec:\n  port: !!int eighty\n",
    "explicit tags": "a: !!str 12\nb: !!binary aGVsbG8=\nc: !!float 3\nd: !!set {x, y}\n",
    "unknown tag": "kind: Pod\nspec: !custom {a: 1}\n",
    "merge key without alias": "a:\n  <<: {x: 1, y: 2}\n  y: 3\nb: 1\nb: 2\n",
    "complex key": "? [a, b]\n: 1\n",
    "scalar document": "just text\n",
    "list document": "- 1\n- [2, {a: b}]\n- - x\n",
    "empty mapping values": "a:\nb: {}\nc: []\n",
    "anchors and aliases": "base: &b {x: 1}\nuse: *b\nlist: [*b, *b]\n",
    "several documents": "a: 1\n---\nb: [1, 2]\n---\n---\nc: {d: e}\n",
}


def _shape(value: object) -> object:
    """Everything a loaded value carries: types, values, lines of mappings, keys and lists."""
    if isinstance(value, LineMap):
        return ("map", value.line, value._lines, [(k, _shape(v)) for k, v in value.items()])
    if isinstance(value, LineList):
        return ("list", value.line, [_shape(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def _load(text: str) -> list[object]:
    return [(d.index, d.line, d.span, _shape(d.data),
             None if d.error is None else (d.error.message, d.error.line),
             [(w.message, w.line) for w in d.warnings]) for d in load_documents(text)]


def _generic(monkeypatch: pytest.MonkeyPatch, text: str) -> list[object]:
    def refuse(loader: object, root: object) -> object:
        raise yamlload._Unusual

    with monkeypatch.context() as patch:
        patch.setattr(yamlload, "_build_tree", refuse)
        return _load(text)


def _texts() -> list[tuple[str, str]]:
    texts = list(DOCUMENTS.items())
    for folder in ("examples", "src/kubeharden/catalogue/controls"):
        for path in sorted((ROOT / folder).rglob("*.yaml")):
            texts.append((str(path.relative_to(ROOT)), path.read_text()))
    return texts


@pytest.mark.parametrize(("name", "text"), _texts(), ids=[name for name, _ in _texts()])
def test_tree_builder_matches_the_generic_constructor(monkeypatch, name, text):
    assert _load(text) == _generic(monkeypatch, text)


def test_plain_documents_take_the_tree_builder(monkeypatch):
    built = []
    real = yamlload._build_tree

    def spy(loader, root):
        built.append(root.start_mark.line)
        return real(loader, root)

    monkeypatch.setattr(yamlload, "_build_tree", spy)
    docs = list(load_documents(DOCUMENTS["pod"] + "---\n" + DOCUMENTS["scalar document"]))
    assert len(built) == 2 and docs[0].data["spec"]["hostNetwork"] is True


def test_duplicate_warnings_come_breadth_first():
    (doc,) = list(load_documents(DOCUMENTS["duplicates at several depths, in construction order"]))
    assert [w.line for w in doc.warnings] == [2, 14, 5, 8, 12, 13]
    assert doc.data["metadata"]["name"] == "b" and doc.data["spec"] == {}


def test_errors_stop_the_document_with_their_line():
    (doc,) = list(load_documents(DOCUMENTS["invalid explicit int"]))
    assert doc.data is None and doc.error.line == 3 and "'eighty' is not a valid int" in doc.error.message
    (doc,) = list(load_documents(DOCUMENTS["null key"]))
    assert doc.error.line == 2 and "unsupported mapping key" in doc.error.message


#: The definition has_anchor implements without the regular expression's cost on long texts.
_ANCHOR = re.compile(r"(?:^[ \t]*(?:(?:-|\?|---)[ \t]+)*|:[ \t]+|[\[{,][ \t]*)&[^\s,\[\]{}]", re.MULTILINE)


def test_anchor_detection_matches_its_definition():
    rng = random.Random(10)
    for _ in range(20_000):
        text = "".join(rng.choice(" \t\n-?:&[{,]}ax") for _ in range(rng.randint(0, 14)))
        pos = rng.randint(0, len(text))
        end = rng.randint(pos, len(text))
        assert has_anchor(text, pos, end) == (_ANCHOR.search(text, pos, end) is not None), (text, pos, end)
    assert has_anchor("a: &x 1\n") and has_anchor("- - &x 1") and has_anchor("[1, &x 2]")
    assert not has_anchor("cmd: make && make install\nurl: a?b=1&c=2\n") and not has_anchor("-- &x")


_DEEP = "[" * 150 + "]" * 150


@pytest.mark.parametrize(("text", "line"), [
    ("k: 1\nk: 2\na: " + _DEEP + "\n", 3),  # a duplicate key built before the depth is met: no warning
    ("p: !!int eighty\na: " + _DEEP + "\n", 2),  # an invalid value built first: the depth still wins
    ("t: !custom x\na: " + _DEEP + "\n", 2),  # a tag the tree builder leaves to PyYAML's constructor
    ("m:\n  <<: {x: 1}\na: " + _DEEP + "\n", 3),  # a merge key, likewise
    ("- 1\n- " + _DEEP + "\n- k: 1\n  k: 2\n", 2),
    ("".join("  " * i + f"k{i}:\n" for i in range(120)) + "  " * 120 + "v: 1\n", 101),
    ("a: " + "[" * 100 + "]" * 100 + "\n", 1),  # 101 levels
])
def test_too_deep_is_refused_before_anything_else_is_said(text, line):
    """The tree builder measures depth as it builds: the refusal is the one a check before building gave."""
    (doc,) = list(load_documents(text))
    assert doc.data is None and doc.warnings == []
    assert (doc.error.message, doc.error.line) == ("nesting deeper than 100 levels; document skipped", line)


def test_a_hundred_levels_are_built():
    (doc,) = list(load_documents("a: " + "[" * 99 + "]" * 99 + "\n"))
    depth, value = 1, doc.data["a"]
    while value:
        depth, value = depth + 1, value[0]
    assert doc.error is None and depth == 99
