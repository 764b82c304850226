"""Reading manifests: provenance, unpacking, and hostile or broken input that must not stop a scan."""

from __future__ import annotations

import io
import json
import sys

from conftest import scan

from kubeharden.model.findings import Problem
from kubeharden.model.lines import LineMap
from kubeharden.model.objects import K8sObject
from kubeharden.sources.files import ReadOptions, parse_text, read_objects


def split(items):
    objs = [i for i in items if isinstance(i, K8sObject)]
    probs = [i for i in items if isinstance(i, Problem)]
    return objs, probs


def test_lines_of_objects_and_fields():
    text = "# c\napiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers:\n  - name: x\n    image: y\n"
    (obj,), _ = split(list(parse_text(text, "f.yaml")))
    assert obj.origin.line == 2
    container = obj.raw["spec"]["containers"][0]
    assert isinstance(container, LineMap)
    assert obj.line(container, "image") == 9


def test_multi_document_and_lists_are_unpacked():
    text = """
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: one}
- apiVersion: v1
  kind: ServiceList
  items:
  - apiVersion: v1
    kind: Service
    metadata: {name: two}
---
apiVersion: v1
kind: ConfigMapList
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: three}
"""
    objs, probs = split(list(parse_text(text, "l.yaml")))
    assert [o.name for o in objs] == ["one", "two", "three"]
    assert [o.origin.line for o in objs] == [5, 11, 18]
    assert not probs


def test_json_with_lines_and_json_with_tabs(tmp_path):
    doc = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j"},
           "spec": {"containers": [{"name": "c", "image": "i", "securityContext": {"privileged": True}}]}}
    pretty = tmp_path / "pod.json"
    pretty.write_text(json.dumps(doc, indent=2))
    tabbed = tmp_path / "tabs.json"
    tabbed.write_text(json.dumps(doc, indent="\t"))
    items = list(read_objects([str(pretty), str(tabbed)]))
    objs, probs = split(items)
    assert [o.name for o in objs] == ["j", "j"]
    assert not probs
    findings, _ = scan(pretty.read_text(), only=["KH-POD-004"], file="pod.json")
    assert findings[0].line == json.dumps(doc, indent=2).splitlines().index('          "privileged": true') + 1


def test_not_kubernetes_and_templates_are_skipped_with_a_note(tmp_path):
    (tmp_path / "values.yaml").write_text("replicaCount: 2\nimage: {tag: x}\n")
    (tmp_path / "deployment.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    objs, probs = split(list(read_objects([str(tmp_path)])))
    assert not objs
    assert {p.kind for p in probs} == {"skipped"}
    assert all(p.level == "note" for p in probs)
    assert any("template" in p.message for p in probs)


def test_malformed_yaml_keeps_earlier_documents_and_other_files(tmp_path):
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\nkey: [1, 2\n")
    (tmp_path / "b.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n")
    objs, probs = split(list(read_objects([str(tmp_path)])))
    assert [o.name for o in objs] == ["ok", "other"]
    (err,) = probs
    assert err.level == "error" and err.kind == "parse" and err.file.endswith("a.yaml") and err.line == 5


def test_billion_laughs_is_refused_without_blowing_up():
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for name in "bcdefghij":
        bomb += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    bomb = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n  x: y\nextra:\n" + \
        "".join("  " + line + "\n" for line in bomb.splitlines())
    objs, probs = split(list(parse_text(bomb + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n",
                                        "bomb.yaml")))
    assert [o.name for o in objs] == ["ok"]
    assert "billion laughs" in probs[0].message and probs[0].line is not None


def test_small_anchors_are_fine():
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: x}\ndata: {a: b}\nother: *m\n"
    objs, probs = split(list(parse_text(text, "a.yaml")))
    assert [o.name for o in objs] == ["x"] and not probs


def test_deep_nesting_is_refused_with_its_line():
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata:\n  x: " + "[" * 5000 + "]" * 5000
    objs, probs = split(list(parse_text(text, "deep.yaml")))
    assert not objs
    # PyYAML >= 6.0.4 has its own depth limit, which may fire before ours: either way the
    # document is refused at error level, with its file and line, and the message says why.
    assert [(p.level, p.file, p.line) for p in probs] == [("error", "deep.yaml", 5)]
    assert "nesting" in probs[0].message


def test_nesting_over_our_limit_but_under_the_parsers_is_refused():
    # 150 levels: within every PyYAML's own limit, beyond kubeharden's MAX_DEPTH of 100.
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata:\n  x: " + "[" * 150 + "]" * 150
    objs, probs = split(list(parse_text(text, "deep.yaml")))
    assert not objs
    assert [(p.level, p.line) for p in probs] == [("error", 5)]
    assert "nesting deeper than 100 levels" in probs[0].message


def test_binary_and_non_utf8_files(tmp_path):
    (tmp_path / "bin.yaml").write_bytes(b"\x7fELF\x00\x00\x01binary")
    (tmp_path / "latin1.yaml").write_bytes(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: caf\xe9}\n")
    (tmp_path / "ok.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\n")
    objs, probs = split(list(read_objects([str(tmp_path)])))
    assert [o.name for o in objs] == ["fine"]
    kinds = {p.file.rsplit("/", 1)[-1]: (p.kind, p.line) for p in probs}
    assert kinds == {"bin.yaml": ("binary", None), "latin1.yaml": ("encoding", 3)}


def test_huge_file_is_skipped_with_a_message(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:  # 100 MB of comments: a real read would take seconds
        chunk = b"# padding padding padding padding padding padding padding padding padding padding\n" * 12800
        for _ in range(100):
            fh.write(chunk)
    (tmp_path / "small.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: small}\n")
    objs, probs = split(list(read_objects([str(tmp_path)])))
    assert [o.name for o in objs] == ["small"]
    assert probs[0].kind == "too-large"
    assert "file is 100.1 MiB (104,960,000 bytes), over the 64 MiB (67,108,864 bytes) limit (--max-file-size)" in probs[0].message
    objs, probs = split(list(read_objects([str(tmp_path / "small.yaml")], ReadOptions(max_file_bytes=10))))
    assert not objs and probs[0].kind == "too-large"


def test_python_tags_are_never_constructed():
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: !!python/object/apply:os.system ['id']\n"
    objs, probs = split(list(parse_text(text, "evil.yaml")))
    assert not objs and "unsupported YAML tag" in probs[0].message


def test_duplicate_keys_are_reported():
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: d}\nspec:\n  hostNetwork: true\n  hostNetwork: false\n" \
           "  containers: [{name: c, image: i}]\n"
    objs, probs = split(list(parse_text(text, "dup.yaml")))
    assert len(objs) == 1
    assert probs[0].kind == "duplicate-key" and probs[0].line == 6 and "hostNetwork" in probs[0].message


def test_stdin(monkeypatch):
    data = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: piped}\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    objs, probs = split(list(read_objects(["-"])))
    assert [o.name for o in objs] == ["piped"] and objs[0].origin.file == "<stdin>"


def test_missing_path_is_an_error_and_the_rest_goes_on(tmp_path):
    (tmp_path / "ok.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\n")
    objs, probs = split(list(read_objects([str(tmp_path / "nope.yaml"), str(tmp_path)])))
    assert [o.name for o in objs] == ["fine"] and probs[0].kind == "read"


def test_wrong_types_in_fields_are_reported_not_crashed_on():
    text = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: w}
spec:
  template:
    spec:
      securityContext: "nope"
      containers:
        - "just a string"
        - name: ok
          image: registry.example.com/x:1
          securityContext: [1, 2]
          ports: 5
          env: {a: b}
          resources: "lots"
      volumes: "none"
---
apiVersion: v1
kind: Pod
metadata: {name: nulls}
spec:
  containers: null
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: notemplate}
spec:
  template: 7
---
apiVersion: v1
kind: Pod
metadata: [not, a, map]
"""
    findings, result = scan(text)
    problems = [(p.kind, p.line, p.message) for p in result.problems]
    assert any("containers[0]" in m and line == 10 for _, line, m in problems)
    assert any("securityContext is a list" in m for _, _, m in problems)
    assert any("spec.template is a number" in m for _, _, m in problems)
    assert any("metadata is not a mapping" in m for _, _, m in problems)
    assert findings  # the valid container is still checked
    assert {f.container for f in findings if f.container} == {"ok"}


def test_shallow_kinds_keep_identity_and_metadata_only():
    text = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
  annotations: {example.com/token: "glpat-abcdefghijklmnopqrst"}
spec:
  versions: [{name: v1, schema: {openAPIV3Schema: {type: object}}}]
  bomb: &a [*a]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: kept}
data: {a: b}
"""
    shallow = lambda kind: kind == "CustomResourceDefinition"  # noqa: E731
    objs, probs = split(list(parse_text(text, "crd.yaml", shallow_kind=shallow)))
    assert not probs
    crd, cm = objs
    assert set(crd.raw) == {"apiVersion", "kind", "metadata"} and crd.origin.line == 2
    assert crd.line(crd.raw["metadata"]["annotations"], "example.com/token") == 6
    assert cm.raw["data"] == {"a": "b"}


def test_scan_loads_only_what_the_checks_read(tmp_path):
    from kubeharden.engine.evaluator import Evaluator

    evaluator = Evaluator()
    assert evaluator.needs_full_object("Deployment") and evaluator.needs_full_object("ConfigMap")
    assert evaluator.needs_full_object("ClusterRole") and evaluator.needs_full_object("ServiceList")
    assert not evaluator.needs_full_object("CustomResourceDefinition")
    assert not evaluator.needs_full_object("Event") and not evaluator.needs_full_object("Lease")
    # a custom resource may carry a pod template (Argo Rollout, Knative Service …): read whole
    assert evaluator.needs_full_object("PrometheusRule") and evaluator.needs_full_object("Rollout")


def test_secret_values_are_not_kept_for_analyses():
    from kubeharden.engine.evaluator import build_inventory

    text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: a}\ntype: Opaque\ndata: {password: aHVudGVyMg==}\n"
    inventory, _ = build_inventory(parse_text(text, "s.yaml"))
    (secret,) = inventory.of_kind("Secret")
    assert "data" not in secret.raw and secret.raw["type"] == "Opaque"
    assert secret.line(secret.raw, "type") == 4


def test_typed_list_items_take_their_identity_from_the_list():
    text = """\
apiVersion: v1
kind: PodList
items:
- metadata: {name: a, namespace: app}
  spec:
    containers: [{name: c, image: x:1, securityContext: {privileged: true}}]
- apiVersion: v1
  kind: Pod
  metadata: {name: b, namespace: app}
  spec: {containers: [{name: c, image: x:1}]}
"""
    objs, probs = split(list(parse_text(text, "pods.yaml")))
    assert [(o.ref.api_version, o.kind, o.name) for o in objs] == [("v1", "Pod", "a"), ("v1", "Pod", "b")]
    assert not probs
    assert objs[0].raw.key_line("metadata") == 4


def test_items_of_a_generic_list_still_need_their_own_identity():
    text = "apiVersion: v1\nkind: List\nitems:\n- metadata: {name: a}\n"
    objs, probs = split(list(parse_text(text, "list.yaml")))
    assert not objs and probs[0].kind == "skipped"


def test_typed_list_items_are_checked():
    from conftest import ids, scan
    text = ("apiVersion: apps/v1\nkind: DeploymentList\nitems:\n- metadata: {name: d, namespace: app}\n"
            "  spec:\n    template:\n      spec:\n        containers:\n        - {name: c, image: x:1, "
            "securityContext: {privileged: true}}\n")
    findings, result = scan(text)
    assert "KH-POD-004" in ids(findings) and result.kinds["Deployment"] == 1
