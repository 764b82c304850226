"""Facts controls in the engine: node input, static Pods in manifests and clusters, not-applicable versus
not-assessable, findings' resource, file, line and container (docs/node.md). The controls here exist only in
these tests (the real section-3 controls are data in the catalogue)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeharden.catalogue import loader
from kubeharden.catalogue.loader import _parse_control
from kubeharden.cli import main
from kubeharden.engine import evaluator as evaluator_module
from kubeharden.engine.evaluator import Evaluator
from kubeharden.model.findings import Problem
from kubeharden.sources.files import parse_text
from kubeharden.sources.node import node_input
from kubeharden.sources.registry import read_inputs

from node_trees import NODES, hardened_tree, line_of, node_tree, write


def _control(cid: str, kinds: list[str], rule: dict) -> dict:
    return {"id": cid, "slug": f"test-{cid.lower()}", "since": "0.1.0", "title": f"test {cid}", "severity": "high",
            "description": "d", "remediation": "set it", "scope": "facts", "kinds": kinds, "rule": rule}


#: kube-apiserver --anonymous-auth defaults to true ("kube-apiserver" command-line reference).
ANONYMOUS = _control("KH-TEST-901", ["kube-apiserver"], {
    "path": "flags.anonymous-auth", "fail_if": ["absent", {"ne": "false"}],
    "message": "kube-apiserver on {node} serves anonymous requests ({value})",
    "message_unset": "--anonymous-auth is not set on {node} and defaults to true"})
#: KubeletConfiguration readOnlyPort: 0 disables the unauthenticated read-only port.
READ_ONLY_PORT = _control("KH-TEST-902", ["kubelet"], {
    "path": "settings.readOnlyPort", "fail_if": {"ne": 0}, "message": "the kubelet on {node} serves port {value}"})
#: kubeadm's ca.key is kube-controller-manager's file: its --cluster-signing-key-file names it.
CA_KEY_MODE = _control("KH-TEST-903", ["kube-controller-manager"], {
    "path": "files[/etc/kubernetes/pki/ca.key].mode", "fail_if": {"not_in": ["0600", "0400"]},
    "message": "ca.key mode is {value}"})
IDS = ["KH-TEST-901", "KH-TEST-902", "KH-TEST-903"]


@pytest.fixture(autouse=True)
def test_controls(monkeypatch):
    """The catalogue plus the test-only facts controls, wherever it is loaded."""
    extra = tuple(_parse_control(raw, "test.yaml") for raw in (ANONYMOUS, READ_ONLY_PORT, CA_KEY_MODE))
    catalogue = (*loader.load_catalogue(), *extra)
    monkeypatch.setattr(evaluator_module, "load_catalogue", lambda: catalogue)
    monkeypatch.setattr(loader, "load_catalogue", lambda: catalogue)  # exceptions name them too


def _run(items, input_kind: str) -> tuple[list, dict[str, str], list[Problem]]:
    ev = Evaluator(only=IDS + ["KH-NS-001"], input_kind=input_kind)
    findings = list(ev.run(items))
    return findings, ev.result.control_status(), ev.result.problems


def _node(root: Path):
    return _run(read_inputs([node_input(str(root))]), "node")


def test_a_node_facts_finding_names_the_component_the_file_line_and_container(tmp_path):
    root = node_tree(tmp_path, "kubeadm-control-plane", {"/etc/kubernetes/pki/ca.key": 0o644})
    findings, status, _ = _node(root)
    manifest = root / "etc/kubernetes/manifests/kube-apiserver.yaml"
    anonymous = [f for f in findings if f.control.id == "KH-TEST-901"]
    assert [(str(f.resource), f.file, f.line, f.container, f.message) for f in anonymous] == [
        ("ComponentFacts/kube-apiserver@cp-1", str(manifest), line_of(manifest, "- command:"), "kube-apiserver",
         "--anonymous-auth is not set on cp-1 and defaults to true")]
    mode = [f for f in findings if f.control.id == "KH-TEST-903"]
    assert [(f.file, f.message) for f in mode] == [(str(root / "etc/kubernetes/pki/ca.key"), "ca.key mode is 0644")]
    assert status["KH-TEST-902"] == "pass"  # kubeadm's kubelet: read-only port 0


def test_a_flag_that_is_set_points_at_its_own_line(tmp_path):
    root = node_tree(tmp_path, "kubeadm-control-plane")
    manifest = root / "etc/kubernetes/manifests/kube-apiserver.yaml"
    manifest.write_text(manifest.read_text().replace("    - --allow-privileged=true\n",
                                                     "    - --allow-privileged=true\n    - --anonymous-auth=true\n"))
    defaults = write(root, "/etc/default/kubelet", "KUBELET_EXTRA_ARGS=--read-only-port=10255\n")
    findings, _, _ = _node(root)
    by_id = {f.control.id: f for f in findings}
    assert (by_id["KH-TEST-901"].file, by_id["KH-TEST-901"].line) == (str(manifest),
                                                                      line_of(manifest, "--anonymous-auth=true"))
    assert by_id["KH-TEST-901"].message == "kube-apiserver on cp-1 serves anonymous requests (true)"
    # the kubelet's effective setting came from a flag in an environment file: the finding points there
    assert (by_id["KH-TEST-902"].file, by_id["KH-TEST-902"].line, by_id["KH-TEST-902"].path) == (
        str(defaults), 1, "settings.readOnlyPort")


def test_a_component_the_node_does_not_run_is_not_applicable(tmp_path):
    findings, status, _ = _node(node_tree(tmp_path, "worker"))
    assert status["KH-TEST-901"] == "not-applicable"  # a worker has no API server
    assert status["KH-TEST-903"] == "not-applicable"  # nor controller-manager
    assert status["KH-TEST-902"] == "pass"


def test_the_hardened_node_passes_the_test_controls(tmp_path):
    root = hardened_tree(tmp_path)
    findings, status, problems = _node(root)
    assert not [f for f in findings if f.control.id.startswith("KH-TEST")]
    assert [status[i] for i in IDS] == ["pass", "pass", "pass"]
    assert not [p for p in problems if p.level == "error"]


def _manifests(folder: Path):
    return read_inputs([str(folder)])


def test_a_static_pod_manifest_in_a_repository_is_judged_by_its_flags(tmp_path):
    findings, status, _ = _run(_manifests(NODES / "kubeadm-control-plane/etc/kubernetes/manifests"), "manifest")
    manifest = NODES / "kubeadm-control-plane/etc/kubernetes/manifests/kube-apiserver.yaml"
    anonymous = [f for f in findings if f.control.id == "KH-TEST-901"]
    assert [(str(f.resource), str(Path(f.file)), f.line, f.container, f.path) for f in anonymous] == [
        ("Pod/kube-system/kube-apiserver", str(manifest), line_of(manifest, "- command:"), "kube-apiserver",
         "spec.containers[0].command")]
    assert "unknown-node" in anonymous[0].message
    assert status["KH-TEST-901"] == "fail"
    # what a manifest cannot show: the kubelet, and file modes
    assert status["KH-TEST-902"] == "not-assessable"
    assert status["KH-TEST-903"] == "not-assessable"
    # control-plane static Pods belong in kube-system
    assert not [f for f in findings if f.control.id == "KH-NS-001"]


def test_a_set_flag_of_a_manifest_points_at_its_command_entry(tmp_path):
    text = (NODES / "kubeadm-control-plane/etc/kubernetes/manifests/kube-apiserver.yaml").read_text().replace(
        "    - --allow-privileged=true\n", "    - --allow-privileged=true\n    - --anonymous-auth=true\n")
    path = write(tmp_path, "/repo/kube-apiserver.yaml", text)
    findings, _, _ = _run(_manifests(path), "manifest")
    [finding] = [f for f in findings if f.control.id == "KH-TEST-901"]
    assert (finding.line, finding.path) == (line_of(path, "--anonymous-auth=true"), "spec.containers[0].command[3]")


def test_facts_controls_are_not_assessable_from_manifests_without_static_pods(tmp_path):
    path = write(tmp_path, "/app.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\n"
                 "spec:\n  containers:\n  - name: web\n    image: nginx:1.27\n")
    _, status, _ = _run(_manifests(path), "manifest")
    assert [status[i] for i in IDS] == ["not-assessable"] * 3


MIRROR = """apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver-cp-7
  namespace: kube-system
  annotations:
    kubernetes.io/config.mirror: 0123456789abcdef
  ownerReferences:
  - apiVersion: v1
    kind: Node
    name: cp-7
    uid: 9f4c
    controller: true
spec:
  nodeName: cp-7
  hostNetwork: true
  containers:
  - name: kube-apiserver
    image: registry.k8s.io/kube-apiserver:v1.30.2
    command:
    - kube-apiserver
    - --anonymous-auth=true
"""


def test_a_mirror_pod_of_a_live_cluster_yields_the_same_facts(tmp_path):
    items = list(parse_text(MIRROR, "kubectl get pod -n kube-system kube-apiserver-cp-7 -o yaml", source="cluster"))
    findings, status, _ = _run(items, "cluster")
    [finding] = [f for f in findings if f.control.id == "KH-TEST-901"]
    assert finding.message == "kube-apiserver on cp-7 serves anonymous requests (true)"
    assert (str(finding.resource), finding.container) == ("Pod/kube-system/kube-apiserver-cp-7", "kube-apiserver")
    assert status["KH-TEST-902"] == "not-assessable"
    assert not [f for f in findings if f.control.id == "KH-NS-001"]


def test_a_pod_named_like_a_component_is_still_a_workload_in_a_system_namespace(tmp_path):
    impostor = MIRROR.replace("  annotations:\n    kubernetes.io/config.mirror: 0123456789abcdef\n", "") \
        .replace("  ownerReferences:\n  - apiVersion: v1\n    kind: Node\n    name: cp-7\n    uid: 9f4c\n"
                 "    controller: true\n", "").replace("  hostNetwork: true\n", "")
    findings, status, _ = _run(list(parse_text(impostor, "impostor.yaml")), "manifest")
    assert [f.control.id for f in findings if f.control.id == "KH-NS-001"] == ["KH-NS-001"]
    assert status["KH-TEST-901"] == "not-assessable"  # no static Pod: its flags are no component's


def test_kubeharden_node_reports_in_every_format_with_scans_exit_codes(tmp_path, capsys):
    root = node_tree(tmp_path, "kubeadm-control-plane", {"/etc/kubernetes/pki/ca.key": 0o600})
    assert main(["node", "--root", str(root), "-f", "json", "--no-config", "--fail-on", "high"]) == 1
    report = json.loads(capsys.readouterr().out)
    [finding] = [f for f in report["findings"] if f["control_id"] == "KH-TEST-901"]
    assert (finding["resource"]["kind"], finding["resource"]["name"], finding["container"], finding["source"]) == (
        "ComponentFacts", "kube-apiserver@cp-1", "kube-apiserver", "node")
    assert finding["file"] == str(root / "etc/kubernetes/manifests/kube-apiserver.yaml")
    assert main(["node", "--root", str(root), "-f", "sarif", "--no-config"]) == 1
    sarif = json.loads(capsys.readouterr().out)
    assert any(r["ruleId"] == "KH-TEST-901" for r in sarif["runs"][0]["results"])
    assert main(["node", "--root", str(root), "--no-config", "--node-name", "cp-x", "--fail-on", "none"]) == 0
    assert "kube-apiserver@cp-x" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["node", "--root", str(empty), "--no-config", "-f", "json"]) == 3  # nothing found: an input error
    assert "node-empty" in capsys.readouterr().out


def test_exceptions_suppress_node_findings_by_component(tmp_path, capsys):
    root = node_tree(tmp_path, "kubeadm-control-plane", {"/etc/kubernetes/pki/ca.key": 0o600})
    config = write(tmp_path, "/kh.yaml", "exceptions:\n- control: KH-TEST-901\n  kind: ComponentFacts\n"
                   "  name: kube-apiserver@*\n  reason: anonymous health checks are needed by the load balancer\n"
                   "  expires: 2099-01-01\n")
    assert main(["node", "--root", str(root), "--config", str(config), "-f", "json", "--fail-on", "none"]) == 0
    report = json.loads(capsys.readouterr().out)
    [finding] = [f for f in report["findings"] if f["control_id"] == "KH-TEST-901"]
    assert finding["status"] == "suppressed"


def test_files_the_node_tree_does_not_hold_make_their_controls_not_assessable(tmp_path, capsys):
    """A copy of a node without its PKI folder and etcd data directory (what a scanner Pod that does not mount
    them sees): the controls judging those files are not assessable with a note naming the files, never a
    pass; the kubelet's bootstrap kubeconfig, gone after the TLS bootstrap, is no blind spot."""
    import shutil

    root = hardened_tree(tmp_path)
    shutil.rmtree(root / "etc" / "kubernetes" / "pki")
    shutil.rmtree(root / "var" / "lib" / "etcd", ignore_errors=True)
    main(["node", "--root", str(root), "-f", "json", "--fail-on", "none", "--no-config"])
    report = json.loads(capsys.readouterr().out)
    status = report["summary"]["control_status"]
    notes = {e["message"].split(":", 1)[0]: e["message"] for e in report["notes"] if e["kind"] == "incomplete"}
    for control in ("KH-FILE-007", "KH-FILE-008", "KH-FILE-009", "KH-FILE-010", "KH-FILE-011"):
        # failures found on the files it could see stay (with a note); without any it is not assessable
        assert status.get(control) in ("not-assessable", "fail") and control in notes, control
    assert status["KH-FILE-008"] == "not-assessable" and status["KH-FILE-011"] == "not-assessable"
    assert "/etc/kubernetes/pki/apiserver.key" in notes["KH-FILE-008"]
    assert "/var/lib/etcd" in notes["KH-FILE-011"]
    assert status.get("KH-FILE-004") == "pass"  # kubeconfig owners: bootstrap-kubelet.conf's absence is normal


def test_the_whole_hardened_tree_judges_its_file_controls(tmp_path, capsys):
    root = hardened_tree(tmp_path)
    main(["node", "--root", str(root), "-f", "json", "--fail-on", "none", "--no-config"])
    status = json.loads(capsys.readouterr().out)["summary"]["control_status"]
    assert all(status.get(c) in ("pass", "fail") for c in ("KH-FILE-007", "KH-FILE-008", "KH-FILE-011"))


def test_a_file_mode_finding_names_the_file_and_no_line(tmp_path, capsys):
    root = node_tree(tmp_path, "kubeadm-control-plane", {"/etc/kubernetes/pki/apiserver.key": 0o644})
    main(["node", "--root", str(root), "-f", "json", "--fail-on", "none", "--no-config"])
    report = json.loads(capsys.readouterr().out)
    [key] = [f for f in report["findings"] if f["control_id"] == "KH-FILE-008"
             and f["file"].endswith("/etc/kubernetes/pki/apiserver.key")]
    assert key["line"] is None


def test_kube_proxy_the_tree_cannot_show_is_not_assessable_not_absent(tmp_path, capsys):
    """kube-proxy runs as a DaemonSet's Pod: a tree without /proc cannot show it (not "not applicable"), and
    a kube-proxy whose --config the node cannot read is not judged on defaults alone."""
    root = node_tree(tmp_path / "a", "kubeadm-control-plane")
    main(["node", "--root", str(root), "-f", "json", "--fail-on", "none", "--no-config"])
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["control_status"]["KH-PROXY-001"] == "not-assessable"
    assert any(e["kind"] == "component-unseen" for e in report["errors"] + report["notes"])

    root = node_tree(tmp_path / "b", "kubeadm-control-plane")
    write(root, "/proc/4242/cmdline", b"kube-proxy\0--config=/var/lib/kube-proxy/config.conf\0")
    main(["node", "--root", str(root), "-f", "json", "--fail-on", "none", "--no-config"])
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["control_status"]["KH-PROXY-001"] == "not-assessable"


def test_the_table_of_a_node_scan_has_no_workload_line(tmp_path, capsys):
    root = node_tree(tmp_path, "worker")
    main(["node", "--root", str(root), "--fail-on", "none", "--no-config"])
    assert "Pod Security Standards (workloads)" not in capsys.readouterr().out


def test_a_kubeconfig_mode_finding_names_the_component_whose_flag_names_the_file(tmp_path, capsys):
    """controller-manager.conf and scheduler.conf belong to the components whose --kubeconfig names them,
    not to kube-apiserver; admin.conf, which no flag names, stays with kube-apiserver."""
    modes = {f"/etc/kubernetes/{name}": 0o644 for name in ("controller-manager.conf", "scheduler.conf", "admin.conf")}
    root = node_tree(tmp_path, "kubeadm-control-plane", modes)
    main(["node", "--root", str(root), "-f", "json", "--fail-on", "none", "--no-config"])
    report = json.loads(capsys.readouterr().out)
    owners = sorted((f["file"].rsplit("/", 1)[1], f["resource"]["name"].split("@")[0]) for f in report["findings"]
                    if "has mode 0644" in f["message"] and any(f["file"].endswith(f"/etc/kubernetes/{name}")
                                                             for name in ("controller-manager.conf",
                                                                          "scheduler.conf", "admin.conf")))
    assert owners == [("admin.conf", "kube-apiserver"), ("controller-manager.conf", "kube-controller-manager"),
                      ("scheduler.conf", "kube-scheduler")]


def test_k3s_is_judged_with_the_flags_k3s_gives_its_components(tmp_path, capsys):
    """The flags k3s sets itself (anonymous auth off, Node,RBAC, NodeRestriction, profiling off, its certificates,
    loopback binding, the kubelet's Webhook authentication and authorization …) are no findings; etcd's controls do not apply to kine's SQLite (no --cluster-init) and
    judge the embedded etcd's client certificate with it."""
    root = hardened_tree(tmp_path, "k3s")
    main(["node", "--root", str(root), "-f", "json", "--fail-on", "none", "--no-config"])
    report = json.loads(capsys.readouterr().out)
    status = report["summary"]["control_status"]
    cleared = ["KH-CP-001", "KH-CP-002", "KH-CP-003", "KH-CP-010", "KH-CP-011", "KH-CP-012", "KH-CP-013",
               "KH-CP-018", "KH-CP-023", "KH-CP-026", "KH-CP-027", "KH-CP-028", "KH-CP-030",
               "KH-KUBELET-001", "KH-KUBELET-002", "KH-KUBELET-003", "KH-KUBELET-008"]
    assert {c: status[c] for c in cleared} == dict.fromkeys(cleared, "pass")
    assert (status["KH-CP-014"], status["KH-CP-015"]) == ("not-applicable", "not-applicable")
    assert not [e for e in report["notes"] if e["kind"] == "incomplete"]  # every file k3s's flags name is there

    write(root, "/proc/812/cmdline", b"/usr/local/bin/k3s\0server\0--cluster-init\0")
    main(["node", "--root", str(root), "-f", "json", "--fail-on", "none", "--no-config"])
    status = json.loads(capsys.readouterr().out)["summary"]["control_status"]
    assert (status["KH-CP-014"], status["KH-CP-015"]) == ("pass", "pass")


@pytest.mark.parametrize("name", ["kubeadm-control-plane", "k3s", "worker"])
def test_messages_name_node_paths_and_findings_point_at_the_host_path(tmp_path, capsys, name):
    """With --root, a message names the file as the node knows it (/etc/kubernetes/admin.conf); the finding's
    file is where the scanning host reads it (ROOT/etc/kubernetes/admin.conf), said once."""
    root = node_tree(tmp_path, name)
    for path in root.rglob("*"):
        if path.is_file():
            path.chmod(0o644)
    main(["node", "--root", str(root), "-f", "json", "--fail-on", "none", "--no-config"])
    report = json.loads(capsys.readouterr().out)
    assert report["findings"]
    assert [m for m in (f["message"] for f in report["findings"] + report["errors"] + report["notes"])
            if str(root) in m] == []
    assert all(f["file"].startswith(str(root)) for f in report["findings"] if f["file"])
    embedded = [f for f in report["findings"] if f["control_id"] == "KH-KCFG-004"]
    assert embedded and all(f" {f['file'][len(str(root)):]} " in f["message"] for f in embedded)
