"""Section-3 node and control-plane controls (scope: facts) and the rule-language parts they use.

Each control's failing and passing examples run in tests/test_catalogue.py; here: how flags are read
(model/settings.py), defaults of absent flags, version-bound rules, file modes and owners by role, and
the coverage table docs/node-coverage.md against the catalogue.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kubeharden.catalogue.loader import load_catalogue
from kubeharden.checks.rules import problems, run_facts_rule
from kubeharden.model.controls import NOTHING_TO_JUDGE
from kubeharden.model.facts import ComponentFacts
from kubeharden.model.settings import (
    file_mode, go_bool, go_duration_seconds, go_int, kubernetes_minor, mode_exceeds)
from kubeharden.sources.examples import example_facts

CONTROLS = {c.id: c for c in load_catalogue()}
ROOT = Path(__file__).resolve().parents[1]


def findings(control_id: str, component: str, version: str | None = None, flags=None, settings=None, files=None):
    facts = ComponentFacts(component=component, node="cp-1", version=version, flags=flags or {},
                           settings=settings or {}, files=files or {})
    return [v.message for v in run_facts_rule(CONTROLS[control_id], facts) if v is not NOTHING_TO_JUDGE]


# -- how values are read -----------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [("true", True), ("True", True), ("1", True), ("t", True),
                                            ("FALSE", False), ("0", False), ("yes", None), ("", None),
                                            (" true", None), (True, None)])
def test_flag_booleans_are_read_as_go_parsebool_reads_them(text, expected):
    assert go_bool(text) is expected


def test_integers_durations_and_versions():
    assert go_int("030") == 30 and go_int("-1") == -1 and go_int(7) == 7
    assert go_int("1e3") is None and go_int(True) is None and go_int("ten") is None
    assert go_duration_seconds("4h0m0s") == 14400 and go_duration_seconds("1m30s") == 90
    assert go_duration_seconds("0") == 0 and go_duration_seconds("0s") == 0 and go_duration_seconds("1.5h") == 5400
    assert go_duration_seconds("5") is None and go_duration_seconds("h") is None and go_duration_seconds(300) is None
    assert kubernetes_minor("1.29.3") == 29 and kubernetes_minor("v1.19.0-rc.1") == 19
    assert kubernetes_minor("1.30") == 30 and kubernetes_minor("3.5.12") is None and kubernetes_minor(None) is None


def test_a_mode_is_at_most_its_limit_bit_by_bit():
    assert file_mode("0600") == file_mode("600") == file_mode("0o600") == 0o600 and file_mode(0o100644) == 0o644
    assert file_mode("rw-r--r--") is None and file_mode("0800") is None
    assert not mode_exceeds("0400", "0600") and not mode_exceeds("0600", "0600")
    assert mode_exceeds("0610", "0644")  # numerically below 0644, but group may execute
    assert mode_exceeds("0700", "0600") and mode_exceeds("0644", "0600")
    assert not mode_exceeds("garbage", "0600")


def test_new_rule_keys_are_validated_when_the_catalogue_loads():
    base = {"path": "mode", "items": "files", "message": "m"}
    assert problems({**base, "fail_if": {"mode_exceeds": 600}}, "facts")
    assert problems({**base, "fail_if": {"mode_exceeds": "rwx"}}, "facts")
    assert not problems({**base, "fail_if": {"mode_exceeds": "0600"}}, "facts")
    assert problems({"path": "flags.x", "fail_if": "absent", "item_when": [{"path": "role", "is": "exists"}]}, "facts")
    assert problems({**base, "fail_if": "absent", "item_when": [{"path": "role"}]}, "facts")
    assert problems({"path": "flags.x", "fail_if": "absent", "default": {"a": 1}}, "facts")
    assert problems({"path": "flags.x", "as": "no-such-reading", "fail_if": "absent"}, "facts")


# -- defaults: an absent flag has the component's default ----------------------------------------


def test_absent_flags_are_judged_at_their_documented_default():
    assert findings("KH-CP-001", "kube-apiserver", "1.29.3") == [
        "kube-apiserver on cp-1 serves requests without credentials as system:anonymous "
        "(--anonymous-auth is true (the default))"]
    assert findings("KH-CP-022", "kube-apiserver", "1.29.3") == []  # --service-account-lookup defaults to true
    assert findings("KH-CP-018", "kube-scheduler", "1.29.3")  # --profiling defaults to true
    assert findings("KH-CP-030", "kube-controller-manager", "1.29.3") == [
        "kube-controller-manager on cp-1 listens on 0.0.0.0 (the default), beyond the loopback interface"]
    assert len(findings("KH-CP-002", "kube-apiserver", "1.29.3")) == 1  # AlwaysAllow by default: one finding
    # KubeletConfiguration defaults: anonymous off, Webhook authorization, rotation off, no PID limit
    assert findings("KH-KUBELET-001", "kubelet", "1.29.3") == []
    assert findings("KH-KUBELET-002", "kubelet", "1.29.3") == []
    assert findings("KH-KUBELET-009", "kubelet", "1.29.3")
    assert findings("KH-KUBELET-012", "kubelet", "1.29.3")


def test_flags_are_read_as_the_component_parses_them():
    assert findings("KH-CP-001", "kube-apiserver", flags={"anonymous-auth": "False"}) == []
    assert findings("KH-CP-001", "kube-apiserver", flags={"anonymous-auth": "1"})
    assert findings("KH-CP-021", "kube-apiserver", flags={"audit-log-maxage": "0030", "audit-log-maxbackup": "10",
                                                          "audit-log-maxsize": "100"}) == []
    assert findings("KH-KUBELET-005", "kubelet", settings={"streamingConnectionIdleTimeout": "0"})
    assert findings("KH-KUBELET-005", "kubelet", settings={"streamingConnectionIdleTimeout": "30m"}) == []


def test_authorization_mode_is_a_comma_separated_list():
    assert findings("KH-CP-002", "kube-apiserver", flags={"authorization-mode": "Node, RBAC"}) == []
    assert findings("KH-CP-002", "kube-apiserver", flags={"authorization-mode": "RBAC,Node,AlwaysAllow"})
    # a structured AuthorizationConfiguration replaces the flag (1.30+): the flag rules do not apply
    assert findings("KH-CP-002", "kube-apiserver", "1.30.1",
                    flags={"authorization-config": "/etc/kubernetes/authz.yaml"}) == []


def test_a_rule_judges_only_the_components_it_names():
    assert findings("KH-CP-001", "kubelet", "1.29.3") == []
    assert findings("KH-KUBELET-001", "kube-apiserver", "1.29.3",
                    settings={"authentication": {"anonymous": {"enabled": True}}}) == []


# -- version-bound rules ------------------------------------------------------------------------


def test_insecure_port_before_1_20_defaults_to_8080():
    assert findings("KH-CP-007", "kube-apiserver", "1.19.16") == [
        "kube-apiserver on cp-1 (before 1.20) serves port 8080 (the default) without authentication or authorization"]
    assert findings("KH-CP-007", "kube-apiserver", "1.19.16", flags={"insecure-port": "0"}) == []


def test_removed_insecure_flags_are_reported_as_removed():
    assert findings("KH-CP-007", "kube-apiserver", "1.29.3", flags={"insecure-port": "0"}) == [
        "kube-apiserver on cp-1 is given --insecure-port, removed in 1.24: remove it"]
    assert findings("KH-CP-007", "kube-apiserver", "1.22.0", flags={"insecure-port": "0"}) == []
    assert findings("KH-CP-007", "kube-apiserver", "1.29.3") == []


def test_an_unknown_version_still_judges_what_is_insecure_in_every_release():
    assert findings("KH-CP-007", "kube-apiserver", None) == []  # the default depends on the release
    assert findings("KH-CP-007", "kube-apiserver", None, flags={"insecure-port": "8080"}) == [
        "kube-apiserver on cp-1 is given --insecure-port=8080: an unauthenticated port"]
    assert findings("KH-CP-006", "kube-apiserver", None, flags={"disable-admission-plugins": "PodSecurity"})


def test_pod_security_admission_by_release():
    disabled = {"disable-admission-plugins": "PodSecurity"}
    assert findings("KH-CP-006", "kube-apiserver", "1.24.17", flags=disabled)
    assert findings("KH-CP-006", "kube-apiserver", "1.24.17", flags={}) == []  # on by default from 1.23
    assert findings("KH-CP-006", "kube-apiserver", "1.22.17", flags={"enable-admission-plugins": "PodSecurityPolicy"}) == []
    assert findings("KH-CP-006", "kube-apiserver", "1.22.17", flags={})
    assert findings("KH-CP-006", "kube-apiserver", "1.25.0", flags={"enable-admission-plugins": "PodSecurityPolicy"}) == [
        "kube-apiserver on cp-1 names PodSecurityPolicy, removed in 1.25: this API server refuses to start with it"]


def test_basic_auth_file_is_removed_from_1_19():
    assert findings("KH-CP-009", "kube-apiserver", "1.29.3", flags={"basic-auth-file": "/x.csv"}) == [
        "kube-apiserver on cp-1 is given --basic-auth-file, removed in 1.19: remove it"]
    assert findings("KH-CP-009", "kube-apiserver", "1.18.0", flags={"basic-auth-file": "/x.csv"}) == [
        "kube-apiserver on cp-1 accepts the static passwords of /x.csv"]


# -- files by role ------------------------------------------------------------------------------


def test_file_rules_judge_every_file_of_the_role_and_skip_missing_ones():
    files = {
        "/etc/kubernetes/admin.conf": {"mode": "0644", "owner": "root", "group": "root", "role": "kubeconfig"},
        "/etc/kubernetes/scheduler.conf": {"mode": "0400", "owner": "root", "group": "root", "role": "kubeconfig"},
        "/etc/kubernetes/gone.conf": {"role": "kubeconfig", "exists": False},
        "/etc/kubernetes/pki/ca.key": {"mode": "0644", "owner": "root", "group": "root", "role": "pki-key"},
    }
    facts = ComponentFacts(component="kube-apiserver", node="cp-1", files=files)
    found = list(run_facts_rule(CONTROLS["KH-FILE-003"], facts))
    assert [(v.path, v.message) for v in found] == [
        ("files[/etc/kubernetes/admin.conf].mode",
         "/etc/kubernetes/admin.conf (kube-apiserver) has mode 0644, more open than 0600")]
    assert [v.path for v in run_facts_rule(CONTROLS["KH-FILE-008"], facts)] == ["files[/etc/kubernetes/pki/ca.key].mode"]


def test_numeric_root_owner_passes_and_other_owners_fail():
    files = {"/etc/kubernetes/manifests/etcd.yaml": {"mode": "0600", "owner": "0", "group": "0", "role": "manifest"}}
    assert findings("KH-FILE-002", "etcd", files=files) == []
    files = {"/etc/kubernetes/manifests/etcd.yaml": {"mode": "0600", "owner": "1000", "group": "0", "role": "manifest"}}
    assert findings("KH-FILE-002", "etcd", files=files) == [
        "/etc/kubernetes/manifests/etcd.yaml (etcd) is owned by user 1000, not root"]


def test_findings_point_at_the_line_of_the_flag():
    facts = example_facts("component: kube-apiserver\nversion: '1.29.3'\nflags:\n  profiling: 'true'\n"
                          "  anonymous-auth: 'true'\n")
    (found,) = run_facts_rule(CONTROLS["KH-CP-001"], facts)
    assert (found.line, found.path, found.obj) == (5, "flags.anonymous-auth", facts)


def test_a_facts_example_must_name_a_component():
    with pytest.raises(ValueError):
        example_facts("flags: {}\n")
    with pytest.raises(ValueError):
        example_facts("component: kube-apiserver\nflags: [a]\n")


def test_node_controls_are_seen_by_node_inputs_only():
    for control in CONTROLS.values():
        if control.scope == "facts":
            assert control.inputs == ("node",), control.id


# -- the coverage table -------------------------------------------------------------------------


def test_coverage_table_names_existing_controls_and_every_node_control():
    text = (ROOT / "docs" / "node-coverage.md").read_text(encoding="utf-8")
    named = set(re.findall(r"KH-[A-Z]+-\d{3}", text))
    assert named and named <= set(CONTROLS), sorted(named - set(CONTROLS))
    facts_controls = {c.id for c in CONTROLS.values() if c.scope == "facts"}
    assert facts_controls <= named, sorted(facts_controls - named)


def test_coverage_table_lists_every_mapped_cis_check_with_its_control():
    text = (ROOT / "docs" / "node-coverage.md").read_text(encoding="utf-8")
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| (\d+\.\d+(?:\.\d+)?) \|[^|]*\|([^|]*)\|", text, re.M)}
    for control in CONTROLS.values():
        if control.scope != "facts":
            continue
        for cis_id in control.mappings_dict()["cis"]:
            assert cis_id in rows and control.id in rows[cis_id], (cis_id, control.id)


def test_export_says_why_node_controls_are_left_out(capsys):
    from kubeharden.cli import main

    assert main(["export", "vap"]) == 0
    err = capsys.readouterr().err
    assert "not exported: KH-KUBELET-001: it judges a component's settings and files on a node" in err


def test_items_iterates_a_mapping_only_over_node_facts():
    from kubeharden.checks.rules import CompiledRule, _entries
    from kubeharden.model.fieldpath import join

    rule = {"items": "spec.ports", "path": "port", "fail_if": "absent", "message": "m"}
    root = {"spec": {"ports": {"http": {"port": 80}}}}  # a wrong type in an API object: reported elsewhere
    assert _entries(CompiledRule(rule, "object"), root) == []
    facts_rule = {**rule, "items": "files"}
    entries = _entries(CompiledRule(facts_rule, "facts"), {"files": {"/etc/a": {"mode": "0600"}}})
    assert entries == [({"mode": "0600"}, "/etc/a", "/etc/a")]  # (entry, key, path step)
    assert join("", "files", entries[0][2]) == "files[/etc/a]"


def test_table_footer_counts_many_not_assessable_node_controls_and_lists_few():
    from types import SimpleNamespace

    from kubeharden.report.table import _not_assessable

    node = [SimpleNamespace(id=f"KH-CP-{n:03d}", inputs=("node",)) for n in range(1, 9)]
    few = [SimpleNamespace(id="KH-CLU-001", inputs=("manifest", "cluster"))]
    text = _not_assessable(few + node, "manifest")
    assert text == ("KH-CLU-001 (what it judges could not be read or seen: see the input problems and notes), "
                    "8 controls: needs node input (KH-CP-*; kubeharden controls lists them)")
    assert _not_assessable(node[:2], "manifest") == "KH-CP-001 (needs node input), KH-CP-002 (needs node input)"


@pytest.mark.parametrize(("modes", "expected"), [(None, 1), ("AlwaysAllow", 1), ("Node,RBAC,AlwaysAllow", 1),
                                                 ("Node", 1), ("RBAC", 1), ("ABAC", 1), ("Node,RBAC", 0)])
def test_authorization_mode_gives_one_finding_per_flag(modes, expected):
    flags = {} if modes is None else {"authorization-mode": modes}
    assert len(findings("KH-CP-002", "kube-apiserver", "1.29.3", flags=flags)) == expected


@pytest.mark.parametrize(("component", "flag", "version", "removed"), [
    ("kube-scheduler", "address", "1.24.0", True), ("kube-scheduler", "port", "1.29.3", True),
    ("kube-scheduler", "port", "1.23.9", False), ("kube-apiserver", "address", "1.24.0", True),
    ("kube-apiserver", "port", "1.29.3", True), ("kube-controller-manager", "address", "1.30.0", True),
    ("kube-controller-manager", "port", "1.22.0", False)])
def test_insecure_serving_flags_removed_in_1_24_are_found_on_every_control_plane_component(
        component, flag, version, removed):
    """CHANGELOG-1.24: kube-apiserver (#106859), kube-controller-manager (#106860) and kube-scheduler
    (#106865) lost --address and --port."""
    expected = [f"{component} on cp-1 is given --{flag}, removed in 1.24: remove it"] if removed else []
    assert findings("KH-CP-032", component, version, flags={flag: "0"}) == expected
