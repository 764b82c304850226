"""Bodies of documents loaded shallowly are blanked before libyaml composes them (sources/yamltext.py).

Blanking is an optimisation only: every document must come out exactly as it does when the whole
text is composed and ``yamlload._shallow`` drops the body afterwards (data, lines of every key,
span, warnings, errors), and any document the text alone cannot settle is left as written.
The CustomResourceDefinition below follows the CronTab example of
https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/.
"""

from __future__ import annotations

import json

import pytest

from kubeharden.cli import main
from kubeharden.model.lines import LineList, LineMap
from kubeharden.sources import yamlload
from kubeharden.sources.yamlload import SHALLOW_KEYS, load_documents
from kubeharden.sources.yamltext import BLANK_MIN_CHARS, blank_unread_bodies, has_alias


def _properties(count: int) -> str:
    return "".join(f"""\
                field{n}:
                  type: string
                  description: >-
                    Field number {n} of the CronTab, described at length so that the
                    schema grows the way generated schemas do.
""" for n in range(count))


CRD = f"""\
# the CronTab of the Kubernetes documentation
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
  labels: {{app: crontab}}
spec:
  group: stable.example.com
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec:
                type: string
              image:
                type: string
{_properties(60)}\
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames:
    - ct
status:
  acceptedNames:
    kind: ""
    plural: ""
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: app
        image: nginx:1.27
"""


def _shallow_crd(kind: str) -> bool:
    return kind == "CustomResourceDefinition"


def _shape(docs: list[yamlload.Document]) -> list[tuple[object, ...]]:
    """Everything a document carries, lines of every key and item included."""
    def lines(value: object) -> list[object]:
        found: list[object] = []
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, LineMap):
                found.append((item.line, item._lines))
                stack.extend(item.values())
            elif isinstance(item, LineList):
                found.append(item.line)
                stack.extend(item)
        return found
    return [(d.index, d.line, d.span, repr(d.data), lines(d.data), [(w.message, w.line) for w in d.warnings],
             (d.error.message, d.error.line) if d.error else None) for d in docs]


def _compare(text: str, monkeypatch: pytest.MonkeyPatch) -> list[yamlload.Document]:
    """The documents of ``text`` loaded shallowly with blanking, asserted equal to those without."""
    blanked = list(load_documents(text, _shallow_crd))
    with monkeypatch.context() as patch:
        patch.setattr(yamlload, "blank_unread_bodies", lambda text, shallow, keep: text)
        whole = list(load_documents(text, _shallow_crd))
    assert _shape(blanked) == _shape(whole)
    return blanked


def test_the_body_of_a_shallow_document_is_blanked_in_place():
    assert len(CRD) > BLANK_MIN_CHARS
    blanked = blank_unread_bodies(CRD, _shallow_crd, SHALLOW_KEYS)
    assert len(blanked) == len(CRD) and blanked.count("\n") == CRD.count("\n")
    assert "openAPIV3Schema" not in blanked and "acceptedNames" not in blanked
    head = CRD[:CRD.index("spec:")]
    assert blanked.startswith(head) and not blanked[len(head):].strip()


def test_documents_come_out_as_if_composed_whole(monkeypatch):
    text = DEPLOYMENT + "---\n" + CRD + "--- # the same again\n" + CRD + "---\n" + DEPLOYMENT
    assert blank_unread_bodies(text, _shallow_crd, SHALLOW_KEYS).count("openAPIV3Schema") == 0
    docs = _compare(text, monkeypatch)
    crd = docs[1].data
    assert list(crd) == ["apiVersion", "kind", "metadata"] and crd["metadata"]["name"] == "crontabs.stable.example.com"
    first = DEPLOYMENT.count("\n") + 3  # after the Deployment, its "---" and the comment line
    assert crd.line == first and crd.key_line("metadata") == first + 2
    assert docs[3].data["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"


def test_kinds_read_in_full_are_not_blanked():
    assert blank_unread_bodies(CRD, lambda kind: False, SHALLOW_KEYS) is CRD


def test_small_documents_are_left_as_written():
    small = CRD[:BLANK_MIN_CHARS // 2].rsplit("\n", 1)[0] + "\n"
    assert blank_unread_bodies(small, _shallow_crd, SHALLOW_KEYS) is small


def test_a_first_entry_is_kept_where_the_mapping_starts(monkeypatch):
    body = CRD[CRD.index("spec:"):CRD.index("status:")]
    text = body + "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: x\n"
    blanked = blank_unread_bodies(text, _shallow_crd, SHALLOW_KEYS)
    assert blanked == text  # spec is the first key: blanking it would move the mapping's start
    _compare(text, monkeypatch)


@pytest.mark.parametrize("change", [
    pytest.param(("    plural: crontabs\n", "    plural: &p crontabs\n    other: *p\n"), id="anchor and alias"),
    pytest.param(("    plural: crontabs\n", '    plural: "crontabs\nsecret: looks like a key"\n'),
                 id="quoted scalar going on at column 0"),
    pytest.param(("    shortNames:\n", "    shortNames: [ct,\ncronSpec: x]\n    more:\n"),
                 id="flow sequence going on at column 0"),
    pytest.param(("kind: CustomResourceDefinition\n", "kind: CustomResourceDefinition\n  Extra\n"),
                 id="kind going on over the next line"),
    pytest.param(("apiVersion:", "--- !custom\napiVersion:"), id="tag on the document"),
    pytest.param(("apiVersion:", '"apiVersion":'), id="quoted top-level key"),
    pytest.param(("status:\n", "...\nstatus:\n"), id="document end marker"),
])
def test_what_the_text_cannot_settle_is_left_as_written(change, monkeypatch):
    old, new = change
    text = CRD.replace(old, new, 1)
    assert blank_unread_bodies(text, _shallow_crd, SHALLOW_KEYS) == text
    _compare(text, monkeypatch)


@pytest.mark.parametrize("broken", [
    pytest.param(("    plural: crontabs\n", "    plural: [crontabs\n"), id="unclosed flow sequence"),
    pytest.param(("    plural: crontabs\n", "    plural: crontabs\n   bad indentation: x\n"), id="bad indentation"),
    pytest.param(("    plural: crontabs\n", "    plural: *undefined\n"), id="undefined alias"),
    pytest.param(("    plural: crontabs\n", "    plural: !!binary |\n      c2VjcmV0\n    x: !h!y 1\n"),
                 id="undefined tag handle"),
])
def test_a_broken_body_is_still_reported(broken, monkeypatch):
    old, new = broken
    text = CRD.replace(old, new, 1) + "---\n" + DEPLOYMENT
    docs = _compare(text, monkeypatch)
    assert docs[0].error is not None
    assert docs[-1].data["kind"] == "Deployment"  # the next document is still read


def test_a_line_starting_with_an_asterisk_inside_a_description_is_no_alias(monkeypatch):
    text = CRD.replace("                    schema grows the way generated schemas do.\n",
                       "                    schema grows the way generated schemas do.\n"
                       "                    *Warning: this field is deprecated.\n", 1)
    assert has_alias(text)  # the text alone cannot tell; libyaml's parser says it is text
    assert "openAPIV3Schema" not in blank_unread_bodies(text, _shallow_crd, SHALLOW_KEYS)
    _compare(text, monkeypatch)


def test_windows_line_breaks(monkeypatch):
    text = CRD.replace("\n", "\r\n")
    assert "openAPIV3Schema" not in blank_unread_bodies(text, _shallow_crd, SHALLOW_KEYS)
    _compare(text, monkeypatch)


def test_a_scan_still_sees_the_definition_where_it_stands(tmp_path):
    """The blanked definition is still an object of the inventory: counted by kind, named with its
    file and line (here by the duplicate-object warning of its second copy)."""
    manifest = tmp_path / "crds.yaml"
    manifest.write_text(CRD + "---\n" + CRD, encoding="utf-8")
    out = tmp_path / "report.json"
    main(["scan", str(manifest), "--format", "json", "--output", str(out), "--no-config", "--fail-on", "none",
          "--jobs", "1"])
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["summary"]["kinds"] == {"CustomResourceDefinition": 2}
    second = CRD.count("\n") + 3  # after the first copy, its "---" and the comment line
    (duplicate,) = [e for e in report["errors"] if e["kind"] == "duplicate-object"]
    assert duplicate["line"] == second and duplicate["file"] == str(manifest)
    assert duplicate["resource"] == {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                                     "namespace": None, "name": "crontabs.stable.example.com"}


@pytest.mark.parametrize("text", [CRD, CRD.replace("    plural: crontabs\n", "    plural: [crontabs\n", 1)],
                         ids=["valid", "broken"])
def test_a_definition_met_again_is_not_parsed_again(text, monkeypatch):
    """The same body in another file (install.yaml and its variants) is checked by libyaml once; the answer
    (parses, or not: then the document is left for the loader to report) is the same the second time."""
    from kubeharden.sources import yamltext

    monkeypatch.setattr(yamltext, "_PARSED", {})
    monkeypatch.setattr(yamltext, "_parsed_chars", [0])
    checked: list[str] = []
    real = yamltext._parse_check

    def counting(piece: str, alias_like: bool) -> bool:
        checked.append(piece)
        return real(piece, alias_like)

    monkeypatch.setattr(yamltext, "_parse_check", counting)
    first = blank_unread_bodies(text, _shallow_crd, SHALLOW_KEYS)
    pieces = len(checked)
    assert pieces >= 2
    again = blank_unread_bodies(DEPLOYMENT + "---\n" + text, _shallow_crd, SHALLOW_KEYS)
    assert len(checked) == pieces, "a piece seen before was parsed again"
    assert again == DEPLOYMENT + "---\n" + first
    assert ("openAPIV3Schema" in first) == (text is not CRD)


def test_the_parse_cache_keeps_at_most_its_bound(monkeypatch):
    from kubeharden.sources import yamltext

    monkeypatch.setattr(yamltext, "_PARSED", {})
    monkeypatch.setattr(yamltext, "_parsed_chars", [0])
    monkeypatch.setattr(yamltext, "PARSED_CACHE_CHARS", len(CRD) // 2)
    blank_unread_bodies(CRD, _shallow_crd, SHALLOW_KEYS)
    assert 0 < yamltext._parsed_chars[0] <= len(CRD) // 2
    assert sum(len(piece) for piece, _ in yamltext._PARSED) == yamltext._parsed_chars[0]
