"""Naming controls: unknown IDs are errors everywhere, --control takes any case and globs, and a
control selected explicitly runs (or the command says which setting it needs)."""

from __future__ import annotations

import json
import re

import pytest

from kubeharden.catalogue.loader import load_catalogue
from kubeharden.catalogue.selection import UnknownControl, closest, resolve
from kubeharden.cli import main
from kubeharden.config import ConfigError, parse_config
from kubeharden.model.controls import REQUIRABLE_SETTINGS

KNOWN = [c.id for c in load_catalogue()]

# A Pod whose image is referenced by tag only (no digest), from a registry nobody allowed.
# Image names: https://kubernetes.io/docs/concepts/containers/images/#image-names
TAGGED = """apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  containers:
    - name: web
      image: registry.example.com/web:1.4.2
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def fired(tmp_path, capsys, *argv: str) -> tuple[int, set[str]]:
    out = tmp_path / "report.json"
    code = main([*argv, "-f", "json", "-o", str(out)])
    if code == 2:
        return code, set()
    return code, {f["control_id"] for f in json.loads(out.read_text())["findings"]}


@pytest.mark.parametrize("patterns,expected", [
    (["kh-pod-004"], ["KH-POD-004"]),
    (["KH-IMG-*"], [f"KH-IMG-{n:03d}" for n in range(1, 14)]),
    (["kh-sec-00[12]", "KH-SEC-001"], ["KH-SEC-001", "KH-SEC-002"]),
])
def test_resolve_accepts_any_case_and_globs(patterns, expected):
    assert resolve(patterns, KNOWN, "--control") == expected


@pytest.mark.parametrize("pattern,suggestion", [
    ("KH-POD-04", "KH-POD-004"), ("kh-img-2", "KH-IMG-002"), ("KH-RBCA-001", "KH-RBAC-001")])
def test_unknown_id_names_the_closest_known_one(pattern, suggestion):
    assert closest(pattern, KNOWN) == suggestion
    with pytest.raises(UnknownControl, match=f"'{pattern}' \\(did you mean {suggestion}\\?\\)"):
        resolve(["KH-POD-001", pattern], KNOWN, "--control")


def test_a_glob_that_matches_nothing_is_an_error():
    with pytest.raises(UnknownControl, match="no control matches 'KH-PDO-\\*'"):
        resolve(["KH-PDO-*"], KNOWN, "--control")


@pytest.mark.parametrize("data,where", [
    ({"controls": {"enable": ["KH-POD-0025"]}}, "controls.enable"),
    ({"controls": {"disable": ["KH-POD-04"]}}, "controls.disable"),
    ({"controls": {"severity": {"KH-IMG-01": "high"}}}, "controls.severity"),
    ({"exceptions": [{"control": "KH-POD-4", "reason": "reviewed"}]}, "exceptions[0].control"),
])
def test_unknown_control_ids_in_the_configuration_are_errors(data, where):
    with pytest.raises(ConfigError, match=re.escape(f"cfg.yaml: {where}: unknown control ") + ".*did you mean KH-"):
        parse_config(data, "cfg.yaml")


def test_configuration_ids_accept_case_and_globs():
    cfg = parse_config({"controls": {"disable": ["kh-rbac-*"], "severity": {"kh-img-00[12]": "high"}},
                        "exceptions": [{"control": "kh-pod-00*", "reason": "reviewed"}]})
    assert cfg.disabled == {cid for cid in KNOWN if cid.startswith("KH-RBAC-")}
    assert set(cfg.severity_overrides) == {"KH-IMG-001", "KH-IMG-002"}
    assert cfg.exceptions[0].matches("KH-POD-004", "Pod", "shop", "web", None)


def test_unknown_id_in_the_config_file_exits_2_with_the_suggestion(tmp_path, capsys):
    manifest = write(tmp_path, "pod.yaml", TAGGED)
    cfg = write(tmp_path, "cfg.yaml", "controls:\n  disable: [KH-IMG-01]\n")
    assert main(["scan", "--config", cfg, manifest]) == 2
    err = capsys.readouterr().err
    assert "KH-IMG-01" in err and "did you mean KH-IMG-001" in err


def test_control_option_takes_lower_case_and_globs(tmp_path, capsys):
    manifest = write(tmp_path, "pod.yaml", TAGGED)
    code, ids = fired(tmp_path, capsys, "scan", "--no-config", "--control", "kh-pod-00[23]", manifest)
    assert code == 1 and ids == {"KH-POD-002", "KH-POD-003"}
    assert main(["scan", "--no-config", "--control", "KH-PDO-*", manifest]) == 2
    assert "no control matches 'KH-PDO-*' (did you mean" in capsys.readouterr().err


def test_digest_control_selected_explicitly_runs_outside_the_strict_profile(tmp_path, capsys):
    manifest = write(tmp_path, "pod.yaml", TAGGED)
    assert "KH-IMG-002" not in fired(tmp_path, capsys, "scan", "--no-config", manifest)[1]
    assert fired(tmp_path, capsys, "scan", "--no-config", "--control", "KH-IMG-002", manifest) == (1, {"KH-IMG-002"})
    enable = write(tmp_path, "enable.yaml", "controls: {enable: [KH-IMG-002]}\n")
    assert "KH-IMG-002" in fired(tmp_path, capsys, "scan", "--config", enable, manifest)[1]
    # require_digest: false turns the profile's choice off, not an explicit selection
    off = write(tmp_path, "off.yaml", "require_digest: false\n")
    assert "KH-IMG-002" not in fired(tmp_path, capsys, "scan", "--config", off, "--profile", "strict", manifest)[1]
    assert fired(tmp_path, capsys, "scan", "--config", off, "--control", "KH-IMG-002", manifest)[1] == {"KH-IMG-002"}


def test_registry_control_selected_without_registries_says_which_setting_it_needs(tmp_path, capsys):
    manifest = write(tmp_path, "pod.yaml", TAGGED)
    assert main(["scan", "--no-config", "--control", "KH-IMG-003", manifest]) == 2
    err = capsys.readouterr().err
    assert "KH-IMG-003 is selected with --control but needs the setting `registries:`" in err
    enable = write(tmp_path, "enable.yaml", "controls: {enable: [KH-IMG-003]}\n")
    assert main(["scan", "--config", enable, manifest]) == 2
    assert "by controls.enable" in capsys.readouterr().err
    allowed = write(tmp_path, "allowed.yaml", "registries: [ghcr.io/acme]\n")
    assert fired(tmp_path, capsys, "scan", "--config", allowed, "--control", "KH-IMG-003", manifest) \
        == (1, {"KH-IMG-003"})


def test_every_required_setting_is_a_known_setting():
    for control in load_catalogue():
        for setting in (control.requires_config, control.enabled_by_config):
            if setting:
                assert setting in REQUIRABLE_SETTINGS, control.id
                assert control.config_note, f"{control.id} must say how to set {setting}"


@pytest.mark.parametrize("data,error", [
    ({"controls": {"disabled": ["KH-POD-004"]}}, r"cfg.yaml: controls: unknown keys disabled \(known"),
    ({"exceptions": [{"control": "KH-POD-004", "reason": "r", "namespce": "shop"}]},
     r"exceptions\[0\]: unknown keys namespce \(known"),
    ({"exceptions": [{"control": "KH-POD-004", "reason": "r", "match": {"nmae": "web"}}]},
     r"exceptions\[0\].match: unknown keys nmae \(known"),
])
def test_misspelt_keys_that_would_widen_or_drop_a_setting_are_errors(data, error):
    with pytest.raises(ConfigError, match=error):
        parse_config(data, "cfg.yaml")


@pytest.mark.parametrize(("text", "said"), [
    ("[]", "must be a mapping"),
    ("annotation_suppressions: 'false'", "'annotation_suppressions' must be true or false"),
    ("annotation_suppressions: n", "'annotation_suppressions' must be true or false"),
    ("require_digest: 'no'", "'require_digest' must be true or false"),
    ("exceptions: [{control: KH-POD-004, reason: r, match: [{name: foo}]}]", "'match' must be a mapping"),
    ("exceptions: [{control: KH-POD-004, reason: r, match: 'name=foo'}]", "'match' must be a mapping"),
    ("exceptions: [{control: KH-POD-004, reason: r, match: {kind: Pod}, name: foo}]", "must go inside 'match'"),
    ("exceptions: [{control: KH-POD-004, reason: r, name: [a, b]}]", "'name' must be a string"),
])
def test_settings_of_the_wrong_type_are_refused(tmp_path, text, said):
    from kubeharden.config import ConfigError, load_config
    path = tmp_path / ".kubeharden.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=re.escape(said)):
        load_config(str(path))


def test_a_glob_leaves_out_controls_that_need_a_missing_setting(tmp_path, capsys):
    path = tmp_path / "pod.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec:\n  containers: [{name: c, image: nginx}]\n")
    code = main(["scan", "--no-config", "--control", "kh-img-*", "-f", "json", "--fail-on", "none", str(path)])
    captured = capsys.readouterr()
    assert code == 0 and "KH-IMG-003 (matched by a --control glob) is left out" in captured.err
    assert "KH-IMG-001" in {f["control_id"] for f in json.loads(captured.out)["findings"]}
    assert main(["scan", "--no-config", "--control", "KH-IMG-003", str(path)]) == 2


def test_a_slug_named_exactly_is_not_a_glob(tmp_path, capsys):
    path = tmp_path / "pod.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec:\n  containers: [{name: c, image: nginx}]\n")
    # KH-IMG-003 (untrusted-registry) needs `registries:`: named by its slug it is an error, not left out
    assert main(["scan", "--no-config", "--control", "untrusted-registry", "--control", "kh-img-*", str(path)]) == 2
    assert "needs the setting `registries:`" in capsys.readouterr().err
