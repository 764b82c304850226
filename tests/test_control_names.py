"""Control names and lifecycle: slugs, since, status, redirects of former IDs, the renamed profile."""

from __future__ import annotations

import ast
import collections
import dataclasses
import json
import pathlib

import pytest
from conftest import ids, scan

from kubeharden import cli
from kubeharden.catalogue import loader as cat
from kubeharden.catalogue.loader import CatalogueError, _parse_control, catalogue_names, load_catalogue
from kubeharden.catalogue.selection import ControlNames, UnknownControl, resolve
from kubeharden.config import ConfigError, parse_config
from kubeharden.model import controls as model_controls

PRIVILEGED = """
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: shop}
spec:
  containers:
    - {name: c, image: x, securityContext: {privileged: true}}
"""

RENAMED = ControlNames(("KH-POD-004", "KH-POD-005"), {"privileged-container": "KH-POD-004", "host-pid-or-ipc":
                                                      "KH-POD-005"}, {"KH-POD-104": "KH-POD-004"},
                       frozenset({"KH-POD-005"}))


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- slugs ---------------------------------------------------------------------------------------


def test_every_control_has_a_unique_slug_a_since_and_a_status():
    controls = load_catalogue()
    slugs = [c.slug for c in controls]
    assert len(set(slugs)) == len(controls) and all(slugs)
    assert all(c.since and c.status in model_controls.STATUSES for c in controls)
    assert catalogue_names().slugs["privileged-container"] == "KH-POD-004"


@pytest.mark.parametrize("field,value,error", [
    ("slug", "Privileged_Container", "slug must be lower-case words"),
    ("slug", "privileged", "slug must be lower-case words"),
    ("since", "soon", "since must be the version"),
    ("status", "beta", "status must be one of"),
    ("formerly", ["pod-4"], "formerly lists former control IDs"),
])
def test_lifecycle_fields_are_checked(field, value, error):
    raw = {"id": "KH-POD-999", "slug": "test-control", "since": "0.1.0", "title": "t", "severity": "low",
           "nsa": ["NSA-POD-9"], "description": "d", "remediation": "r", field: value}
    with pytest.raises(CatalogueError, match=error):
        _parse_control(raw, "pods.yaml")


def test_a_slug_names_the_control_everywhere_an_id_does(tmp_path):
    assert resolve(["privileged-container", "PRIVILEGED-CONTAINER", "kh-pod-005"], catalogue_names(), "x") \
        == ["KH-POD-004", "KH-POD-005"]
    assert resolve(["role-writes-*"], catalogue_names(), "x") == ["KH-RBAC-005", "KH-RBAC-010", "KH-RBAC-012",
                                                                    "KH-RBAC-024", "KH-RBAC-025"]
    cfg = parse_config({"controls": {"disable": ["privileged-container"], "severity": {"host-network": "low"}},
                        "exceptions": [{"control": "run-as-root", "reason": "legacy image"}]})
    assert cfg.disabled == {"KH-POD-004"} and "KH-POD-006" in cfg.severity_overrides
    assert cfg.exceptions[0].control == "KH-POD-001"
    assert "KH-POD-004" not in ids(scan(PRIVILEGED, cfg)[0])
    assert "KH-POD-004" in ids(scan(PRIVILEGED)[0])


def test_an_unknown_slug_suggests_the_closest_one():
    with pytest.raises(UnknownControl, match="did you mean privileged-container"):
        resolve(["privileged-containers"], catalogue_names(), "--control")
    with pytest.raises(ConfigError, match=r"exceptions\[0\].control: unknown control 'run-as-rot'"):
        parse_config({"exceptions": [{"control": "run-as-rot", "reason": "r"}]})


def test_control_option_accepts_a_slug(tmp_path, capsys):
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(PRIVILEGED)
    code, out, _ = run_cli(capsys, "scan", "--no-config", "-f", "json", "--control", "privileged-container",
                           str(manifest))
    assert code == 1 and {f["control_id"] for f in json.loads(out)["findings"]} == {"KH-POD-004"}


# -- redirects and deprecation ---------------------------------------------------------------------


def test_a_former_id_resolves_to_the_new_one_with_a_note():
    notes: list[str] = []
    assert resolve(["kh-pod-104"], RENAMED, "--control", notes) == ["KH-POD-004"]
    assert notes == ["--control: KH-POD-104 was renamed KH-POD-004; name it KH-POD-004 (or privileged-container), "
                     "the old ID is deprecated"]


def test_naming_a_deprecated_control_warns():
    notes: list[str] = []
    assert resolve(["host-pid-or-ipc"], RENAMED, "cfg: controls.enable", notes) == ["KH-POD-005"]
    assert notes and "KH-POD-005 (host-pid-or-ipc) is deprecated" in notes[0]


def test_former_ids_work_in_the_configuration_and_the_command_line(monkeypatch, tmp_path, capsys):
    import kubeharden.commands.scan as scan_command
    import kubeharden.config as config

    monkeypatch.setattr(config, "catalogue_names", lambda: RENAMED)
    cfg = parse_config({"controls": {"disable": ["KH-POD-104"]},
                        "exceptions": [{"control": "KH-POD-104", "reason": "r"}]}, "cfg.yaml")
    assert cfg.disabled == {"KH-POD-004"} and cfg.exceptions[0].control == "KH-POD-004"
    assert cfg.notes[0].startswith("cfg.yaml: controls.disable: KH-POD-104 was renamed KH-POD-004")
    assert cfg.notes[1].startswith("cfg.yaml: exceptions[0].control: KH-POD-104 was renamed")
    monkeypatch.setattr(scan_command, "catalogue_names", lambda: RENAMED)
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(PRIVILEGED)
    code, out, err = run_cli(capsys, "scan", "--no-config", "-f", "json", "--control", "KH-POD-104", str(manifest))
    assert code == 1 and {f["control_id"] for f in json.loads(out)["findings"]} == {"KH-POD-004"}
    assert "kubeharden: warning: --control: KH-POD-104 was renamed KH-POD-004" in err


def test_a_former_id_may_not_be_a_current_one(monkeypatch):
    first = load_catalogue()[0]
    clash = dataclasses.replace(first, formerly=(load_catalogue()[1].id,))
    monkeypatch.setattr(cat, "load_catalogue", lambda: (clash, *load_catalogue()[1:]))
    with pytest.raises(CatalogueError, match="are current IDs too"):
        cat.catalogue_names()


# -- the profile that was called baseline ------------------------------------------------------------


def test_minimal_is_the_former_baseline_profile(tmp_path, capsys):
    assert model_controls.PROFILES[0] == "minimal"
    minimal = {c.id for c in load_catalogue() if cat.profile_includes("minimal", c)}
    assert minimal == {c.id for c in load_catalogue() if cat.profile_includes("baseline", c)}
    assert "KH-POD-004" in minimal and "KH-POD-003" not in minimal
    cfg = parse_config({"profile": "baseline"}, "cfg.yaml")
    assert cfg.notes == ["cfg.yaml: profile: profile 'baseline' is now called 'minimal' (it is not the Pod "
                         "Security Standards level of that name); 'baseline' keeps working for now"]
    assert parse_config({"profile": "minimal"}).notes == []
    with pytest.raises(ConfigError, match="profile must be one of minimal, default, strict"):
        parse_config({"profile": "restricted"})
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(PRIVILEGED)
    old = run_cli(capsys, "scan", "--no-config", "-f", "json", "--profile", "baseline", str(manifest))
    new = run_cli(capsys, "scan", "--no-config", "-f", "json", "--profile", "minimal", str(manifest))
    assert "warning: --profile: profile 'baseline' is now called 'minimal'" in old[2] and "warning" not in new[2]
    assert [f["control_id"] for f in json.loads(old[1])["findings"]] == \
        [f["control_id"] for f in json.loads(new[1])["findings"]] == ["KH-POD-004", "KH-NET-007"]


# -- where names are shown -----------------------------------------------------------------------------


def test_controls_command_and_docs_show_slugs_and_lifecycle(capsys):
    code, out, _ = run_cli(capsys, "controls", "--format", "json")
    entry = next(c for c in json.loads(out) if c["id"] == "KH-POD-004")
    assert (entry["slug"], entry["since"], entry["status"], entry["formerly"]) == \
        ("privileged-container", "0.1.0", "stable", [])
    code, out, _ = run_cli(capsys, "controls", "--format", "markdown")
    assert "| [KH-POD-004](#kh-pod-004) | `privileged-container` | critical | minimal |" in out
    assert "**Privileged container** · `privileged-container` ·" in out and "stable since 0.1.0" in out
    code, out, _ = run_cli(capsys, "controls")
    assert "privileged-container" in out


def test_sarif_rules_point_at_the_controls_page_and_list_former_ids(tmp_path, capsys, monkeypatch):
    from kubeharden.report import sarif

    control = dataclasses.replace(cat.controls_by_id()["KH-POD-004"], formerly=("KH-POD-104",))
    rule = sarif._rule(control)
    assert rule["helpUri"].endswith("/docs/controls.md#kh-pod-004")
    assert rule["properties"]["guideUri"].endswith("/docs/guide.md#nsa-pod-9")
    assert rule["deprecatedIds"] == ["KH-POD-104"] and rule["properties"]["slug"] == "privileged-container"
    assert "deprecatedIds" not in sarif._rule(cat.controls_by_id()["KH-POD-004"])
    assert "## KH-POD-004\n" in pathlib.Path("docs/controls.md").read_text()  # the anchor helpUri names


def test_no_two_rule_classes_share_a_name():
    names: dict[str, list[str]] = collections.defaultdict(list)
    for path in pathlib.Path(cat.__file__).parents[1].rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Rule"):
                names[node.name].append(path.name)
    assert "Rule" not in names
    assert {n: p for n, p in names.items() if len(p) > 1} == {}


def test_a_suppression_annotation_may_name_the_control_by_slug():
    text = """
apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: shop
  annotations:
    kubeharden.io/suppress.privileged-container.c: "the CNI installer needs the host's devices"
    kubeharden.io/suppress.host-network: ""
spec:
  hostNetwork: true
  containers:
    - {name: c, image: x, securityContext: {privileged: true}}
    - {name: d, image: x, securityContext: {privileged: true}}
"""
    findings, result = scan(text)
    by = {(f.control.id, f.container): f for f in findings}
    assert by[("KH-POD-004", "c")].status == "suppressed"
    assert by[("KH-POD-004", "c")].suppression["annotation"] == "kubeharden.io/suppress.privileged-container.c"
    assert by[("KH-POD-004", "d")].status == "fail"  # the annotation names container c only
    assert by[("KH-POD-006", None)].status == "fail"  # no reason, no suppression
    assert any("suppress.host-network has no reason" in p.message for p in result.problems)
