"""YAML is read as kubectl reads it (go-yaml v2 through sigs.k8s.io/yaml), not as PyYAML would."""

from __future__ import annotations

import math

import pytest

from kubeharden.sources.files import parse_text
from kubeharden.sources.scalars import json_key, resolve_plain

from conftest import ids, scan


@pytest.mark.parametrize(("text", "expected"), [
    ("y", True), ("Y", True), ("yes", True), ("Yes", True), ("YES", True), ("on", True), ("ON", True),
    ("true", True), ("True", True),
    ("n", False), ("N", False), ("no", False), ("No", False), ("off", False), ("Off", False), ("FALSE", False),
    ("~", None), ("null", None), ("NULL", None), ("", None),
    ("0644", 420), ("0o644", 420), ("0O17", 15), ("0x1F", 31), ("0b101", 5), ("-0x10", -16), ("+12", 12),
    ("1_000", 1000), ("0", 0), ("-0", 0),
    ("9223372036854775807", 2**63 - 1), ("18446744073709551615", 2**64 - 1),
    ("1e3", 1000.0), ("1_000.5", 1000.5), (".5", 0.5), ("-.5", -0.5), ("08", 8.0), ("1.", 1.0),
    ("99999999999999999999", 1e20),
    ("1:20", "1:20"), ("=", "="), ("2024-01-02", "2024-01-02"), ("yess", "yes" + "s"), ("0x", "0x"),
    ("1e999", "1e999"), ("inf", "inf"), (".5_0", ".5_0"), ("+", "+"), ("0b102", "0b102"), ("tRue", "tRue"),
])
def test_plain_scalars_resolve_as_go_yaml_v2(text, expected):
    value = resolve_plain(text)[1]
    assert value == expected and type(value) is type(expected)


def test_special_floats():
    assert math.isnan(resolve_plain(".NaN")[1])
    assert resolve_plain("-.inf")[1] == -math.inf


def load(text: str):
    items = list(parse_text(text, "t.yaml"))
    return [i for i in items if hasattr(i, "raw")], [i for i in items if not hasattr(i, "raw")]


def test_quoted_scalars_stay_strings_and_plain_ones_follow_the_table():
    objs, _ = load("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
                   "data: {a: 'y', b: \"0644\", c: y, d: 0644, e: 1:20, f: 0o17}\n")
    assert dict(objs[0].raw["data"]) == {"a": "y", "b": "0644", "c": True, "d": 420, "e": "1:20", "f": 15}


def test_keys_become_json_strings_as_kubectl_writes_them():
    objs, _ = load("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {80: a, yes: b, 1.5: c}\n")
    assert list(objs[0].raw["data"]) == ["80", "true", "1.5"]
    assert json_key(False) == "false" and json_key(2.0) == "2"


def test_null_key_is_refused_with_its_line():
    objs, problems = load("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  ~: x\n")
    assert not objs and problems[0].level == "error" and problems[0].line == 5


PRIVILEGED = """
apiVersion: v1
kind: Pod
metadata: {{name: p, namespace: app}}
spec:
  containers:
  - name: c
    image: registry.example/app@sha256:{digest}
    securityContext:
      privileged: {value}
"""


@pytest.mark.parametrize("spelling", ["y", "Y", "yes", "on", "On", "TRUE"])
def test_privileged_spelled_the_yaml_1_1_way_is_privileged(spelling):
    findings, result = scan(PRIVILEGED.format(value=spelling, digest="a" * 64))
    assert "KH-POD-004" in ids(findings)
    assert result.pss[0].level == "privileged"


@pytest.mark.parametrize("spelling", ["n", "N", "no", "off"])
def test_allow_privilege_escalation_n_takes_effect(spelling):
    text = """
    apiVersion: v1
    kind: Pod
    metadata: {name: p, namespace: app}
    spec:
      containers:
      - name: c
        image: registry.example/app:1
        securityContext:
          allowPrivilegeEscalation: SPELLING
    """.replace("SPELLING", spelling)
    findings, _ = scan(text)
    assert "KH-POD-011" not in ids(findings)
    assert "KH-POD-011" in ids(scan(text.replace(f"Escalation: {spelling}", "Escalation: y"))[0])


MERGED = """\
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: app}
x-defaults: &safe
  privileged: false
  allowPrivilegeEscalation: false
spec:
  containers:
  - name: c
    image: registry.example/app:1
    securityContext:
%s
"""


def test_a_key_overriding_a_merged_key_is_not_a_duplicate():
    objs, problems = load(MERGED % "      <<: *safe\n      privileged: true")
    sc = objs[0].raw["spec"]["containers"][0]["securityContext"]
    assert sc == {"privileged": True, "allowPrivilegeEscalation": False}
    assert sc.key_line("privileged") == 13
    assert not problems


def test_a_merge_after_a_key_replaces_it_as_kubectl_does_and_is_warned_about():
    objs, problems = load(MERGED % "      privileged: true\n      <<: *safe")
    assert objs[0].raw["spec"]["containers"][0]["securityContext"]["privileged"] is False
    assert [(p.level, p.line) for p in problems] == [("warning", 13)]
    assert "replaces 'privileged' written at line 12" in problems[0].message


def test_explicit_keys_written_twice_are_duplicates():
    objs, problems = load(MERGED % "      <<: *safe\n      privileged: false\n      privileged: true")
    assert objs[0].raw["spec"]["containers"][0]["securityContext"]["privileged"] is True
    assert [(p.level, p.line) for p in problems] == [("warning", 14)]
    assert "first at line 13" in problems[0].message


def test_first_of_several_merged_mappings_wins():
    text = "a: &a {k: 1}\nb: &b {k: 2, j: 3}\nc: {<<: [*a, *b]}\n"
    from kubeharden.sources.yamlload import load_documents
    doc = next(load_documents(text))
    assert dict(doc.data["c"]) == {"k": 1, "j": 3} and not doc.warnings
