"""The live cluster source, against the HTTPS test double of the API server (tests/clusterdouble)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess

import pytest

from kubeharden.catalogue.loader import load_catalogue
from kubeharden.cli import main
from kubeharden.exitcodes import INPUT_ERRORS, USAGE
from kubeharden.model.findings import UNLISTED, Problem
from kubeharden.model.objects import K8sObject
from kubeharden.sources.cluster import SA_TOKEN_TYPE, ClusterOptions, read
from kubeharden.sources.cluster_info import build_info, flags_of
from kubeharden.sources.files import ReadOptions
from tests.clusterdouble import ClusterDouble, small_cluster
from tests.conftest import scan


@pytest.fixture(scope="module")
def double(tmp_path_factory):
    started = ClusterDouble(small_cluster()).start(tmp_path_factory.mktemp("double"))
    yield started
    started.stop()


def start(tmp_path, objects=None, **kwargs) -> ClusterDouble:
    return ClusterDouble(copy.deepcopy(objects if objects is not None else small_cluster()), **kwargs).start(tmp_path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def scan_json(capsys, kubeconfig: str, *extra: str) -> tuple[int, dict]:
    code, out, err = run(capsys, "scan", "--no-config", "--cluster", "--kubeconfig", kubeconfig, "-f", "json",
                         "--fail-on", "none", *extra)
    assert out, err
    return code, json.loads(out)


def scan_double(tmp_path, capsys, **double) -> tuple[int, dict]:
    """Scan a fresh double (``ClusterDouble`` keyword arguments) as one cluster; its exit code and report."""
    started = start(tmp_path, **double)
    try:
        return scan_json(capsys, started.kubeconfig)
    finally:
        started.stop()


def listed(kubeconfig: str, **options) -> list[K8sObject | Problem]:
    opts = ReadOptions(source_options={"cluster": ClusterOptions(kubeconfig=kubeconfig, **options)})
    return list(read("cluster://", opts))


def objects(items) -> list[K8sObject]:
    return [i for i in items if isinstance(i, K8sObject)]


def problems(items) -> list[Problem]:
    return [i for i in items if isinstance(i, Problem)]


def failing(report: dict, control: str) -> list[str]:
    return sorted(f["resource"]["name"] for f in report["findings"] if f["control_id"] == control
                  and f["status"] == "fail")


# -- what is listed, and how --------------------------------------------------------------------

def test_every_needed_kind_is_listed_with_its_type_and_provenance(double):
    items = listed(double.kubeconfig)
    kinds = {(o.ref.api_version, o.kind) for o in objects(items)}
    assert {("v1", "Namespace"), ("v1", "Node"), ("apps/v1", "Deployment"), ("apps/v1", "DaemonSet"),
            ("rbac.authorization.k8s.io/v1", "RoleBinding"), ("networking.k8s.io/v1", "NetworkPolicy"),
            ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
            ("kubeharden.io/v1", "ClusterInfo")} <= kinds
    assert "/api/v1/configmaps?limit=500" in double.requests  # KH-SEC-002 reads ConfigMaps (none here)
    web = next(o for o in objects(items) if o.kind == "Deployment")
    assert web.origin.source == "cluster" and web.origin.line is None
    assert web.origin.file == f"kubectl get deployments.apps web -n shop --context double --kubeconfig " \
                              f"{double.kubeconfig} -o yaml"
    assert not [p for p in problems(items) if p.level == "error"]


def test_objects_owned_by_a_listed_controller_are_judged_through_it(double):
    items = listed(double.kubeconfig)
    names = {(o.kind, o.name) for o in objects(items)}
    assert ("ReplicaSet", "web-6d5f8b7c9") not in names and ("Pod", "web-6d5f8b7c9-x2kqp") not in names
    assert ("Pod", "kube-apiserver-cp-1") in names  # owned by its Node, not by a workload controller
    note = next(p for p in problems(items) if p.kind == "skipped")
    assert "1 Pod, 1 ReplicaSet" in note.message


def test_lists_are_read_in_pages(tmp_path):
    double = start(tmp_path)
    try:
        items = listed(double.kubeconfig, chunk_size=2)
    finally:
        double.stop()
    namespaces = [o.name for o in objects(items) if o.kind == "Namespace"]
    assert sorted(namespaces) == ["default", "dev", "kube-flannel", "kube-system", "shop"]
    pages = [r for r in double.requests if r.startswith("/api/v1/namespaces?")]
    assert len(pages) == 3 and all("limit=2" in r for r in pages) and "continue=" in pages[1]


def test_an_expired_continue_token_restarts_the_list_once_without_repeating(tmp_path):
    double = start(tmp_path, expire_once={"namespaces"})
    try:
        items = listed(double.kubeconfig, chunk_size=2)
    finally:
        double.stop()
    namespaces = [o.name for o in objects(items) if o.kind == "Namespace"]
    assert sorted(namespaces) == ["default", "dev", "kube-flannel", "kube-system", "shop"]
    assert not [p for p in problems(items) if p.kind == UNLISTED]
    assert len([r for r in double.requests if r.startswith("/api/v1/namespaces?")]) == 5  # 1, 410, 3 again


def test_secrets_are_listed_as_metadata_of_token_secrets_only(double):
    secrets = [o for o in objects(listed(double.kubeconfig)) if o.kind == "Secret"]
    assert [s.name for s in secrets] == ["web-token"]
    assert "data" not in secrets[0].raw and secrets[0].raw["type"] == SA_TOKEN_TYPE
    assert any(r.startswith("/api/v1/secrets?") and f"fieldSelector=type={SA_TOKEN_TYPE}" in r
               for r in double.requests)


def test_minus_n_and_exclude_namespace_limit_what_is_listed(tmp_path, capsys):
    double = start(tmp_path)
    try:
        _, only_shop = scan_json(capsys, double.kubeconfig, "-n", "shop")
        _, without_system = scan_json(capsys, double.kubeconfig, "--exclude-namespace", "kube-system")
    finally:
        double.stop()
    assert "/api/v1/namespaces/shop/pods?limit=500" in double.requests
    namespaces = {f["resource"]["namespace"] for f in only_shop["findings"]} - {None}
    assert namespaces == {"shop"}
    assert "kube-system" not in {f["resource"]["namespace"] for f in without_system["findings"]}
    assert failing(without_system, "KH-NS-001") == []
    # the network plugin's DaemonSet is outside shop: the verdict says the listing was limited
    plugin = next(f for f in only_shop["findings"] if f["control_id"] == "KH-CLU-003")
    assert "listed in namespaces shop only" in plugin["message"]


# -- the scan of a cluster -------------------------------------------------------------------

def test_scan_of_the_cluster(double, capsys):
    code, report = scan_json(capsys, double.kubeconfig)
    assert code == 0
    # a control-plane static Pod belongs in kube-system; a Pod someone put there does not
    assert failing(report, "KH-NS-001") == ["debug-shell"]
    # worker-1 runs kubelet 1.27 under a 1.31 API server: four minor versions, one more than allowed
    assert failing(report, "KH-CLU-001") == ["worker-1", "worker-1"]
    assert failing(report, "KH-CLU-002") == ["double"]  # the only webhook sees ConfigMaps
    assert failing(report, "KH-CLU-003") == ["kube-flannel-ds"]
    finding = next(f for f in report["findings"] if f["control_id"] == "KH-POD-001")
    assert finding["source"] == "cluster" and finding["file"].startswith("kubectl get ")
    # only controls a cluster cannot show are not assessable (Dockerfiles and image archives)
    unseen = report["summary"]["not_assessable"]
    assert unseen and all("cluster" not in c["inputs"] for c in unseen)
    assert "KH-IMG-005" in {c["control_id"] for c in unseen}


def test_sarif_names_the_live_object_and_its_kubectl_command_not_a_file(double, capsys):
    code, out, err = run(capsys, "scan", "--no-config", "--cluster", "--kubeconfig", double.kubeconfig, "-f", "sarif",
                         "--fail-on", "none", "--control", "KH-CLU-003")
    result = json.loads(out)["runs"][0]["results"][0]
    assert "physicalLocation" not in result["locations"][0]
    assert result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].endswith("kube-flannel-ds")
    assert result["properties"]["kubectl"].startswith("kubectl get daemonsets.apps kube-flannel-ds -n kube-flannel")


def test_a_refused_kind_makes_exactly_its_controls_not_assessable(tmp_path, capsys):
    code, report = scan_double(tmp_path, capsys, forbidden={"pods", "nodes"})
    assert code != INPUT_ERRORS
    unable = {c["control_id"] for c in report["summary"]["not_assessable"]}
    assert {"KH-POD-004", "KH-CLU-001"} <= unable
    # KH-POD-001 found failures on the workloads listed: they stay failures (tests/test_fix11.py)
    assert report["summary"]["control_status"]["KH-POD-001"] == "fail"
    assert not unable & {"KH-RBAC-001", "KH-CLU-002", "KH-NET-001", "KH-NS-003", "KH-POD-001"}
    warnings = [p for p in report["errors"] + report["notes"] if p["kind"] == UNLISTED]
    assert {p["resource"]["kind"] for p in warnings} == {"Pod", "Node"}
    assert all("forbidden" in p["message"] for p in warnings)


def test_refused_networkpolicies_make_the_policy_controls_not_assessable(tmp_path, capsys):
    _, report = scan_double(tmp_path, capsys, forbidden={"networkpolicies"})
    unable = {c["control_id"] for c in report["summary"]["not_assessable"]}
    # without the policies, "no default deny" would be a guess: not assessable, no finding
    assert {"KH-NET-001", "KH-NET-002", "KH-NET-003", "KH-NET-015"} <= unable
    assert not [f for f in report["findings"] if f["control_id"] in unable]
    assert not unable & {"KH-NET-012", "KH-POD-001", "KH-RBAC-003"}


def test_a_kind_the_cluster_does_not_serve_is_not_a_problem(tmp_path):
    double = start(tmp_path, absent={"validatingadmissionpolicies", "validatingadmissionpolicybindings"})
    try:
        items = listed(double.kubeconfig)
    finally:
        double.stop()
    assert not [p for p in problems(items) if p.kind == UNLISTED]
    assert not any("validatingadmissionpolicies" in r for r in double.requests)


def test_cluster_info_holds_version_and_control_plane_flags(double):
    info = next(o for o in objects(listed(double.kubeconfig)) if o.kind == "ClusterInfo")
    assert info.raw["cluster"]["version"]["gitVersion"] == "v1.31.2"
    assert info.raw["cluster"]["context"] == "double"
    apiserver = info.raw["controlPlane"]["kube-apiserver"][0]
    assert apiserver["pod"] == "kube-system/kube-apiserver-cp-1"
    assert apiserver["flags"]["authorization-mode"] == "Node,RBAC"
    assert set(info.raw["controlPlane"]) == {"kube-apiserver", "etcd"}
    assert info.raw["provider"] is None


def test_a_managed_cluster_says_what_its_provider_hides(tmp_path):
    cluster = [o for o in small_cluster() if o["kind"] != "Pod" or o["metadata"]["namespace"] != "kube-system"]
    double = start(tmp_path, cluster, version={"major": "1", "minor": "30", "gitVersion": "v1.30.4-eks-a737599"})
    try:
        items = listed(double.kubeconfig)
    finally:
        double.stop()
    info = next(o for o in objects(items) if o.kind == "ClusterInfo")
    assert info.raw["provider"]["key"] == "eks" and info.raw["controlPlane"] is None
    note = next(p for p in problems(items) if p.kind == "managed-cluster")
    assert "Amazon EKS" in note.message and "cannot be assessed" in note.message


def test_flags_are_read_as_the_components_parse_them():
    pod = {"spec": {"containers": [{"command": ["kube-apiserver", "--a=1", "--profiling"],
                                    "args": ["--b", "two", "--c=x=y"]}]}}
    assert flags_of(pod) == {"a": "1", "profiling": "true", "b": "two", "c": "x=y"}
    aks = build_info(None, "https://aks", {"gitVersion": "v1.30.5"},
                     [{"metadata": {"name": "n1", "labels": {"kubernetes.azure.com/cluster": "MC_rg"}}}], [])
    assert aks["provider"]["key"] == "aks"


# -- every command, and kubectl ---------------------------------------------------------------

def test_rbac_and_netpol_read_the_cluster(double, capsys):
    code, out, err = run(capsys, "rbac", "who-can", "get", "secrets", "-n", "shop", "--cluster",
                         "--kubeconfig", double.kubeconfig)
    assert code == 0, err
    assert "serviceaccount:shop:web" in out and "RoleBinding/shop/web-reads-secre" in out
    code, out, err = run(capsys, "generate", "quotas", "--no-config", "--cluster", "--kubeconfig", double.kubeconfig)
    assert code == 0 and "kind: ResourceQuota" in out, err
    code, out, err = run(capsys, "netpol", "matrix", "--cluster", "--kubeconfig", double.kubeconfig, "-f", "json")
    assert code == 0, err
    connections = json.loads(out)
    ends = {(c[end].get("namespace"), c[end].get("name")) for c in connections for end in ("src", "dst")}
    assert ("kube-flannel", "kube-flannel-ds") in ends
    assert not [e for e in ends if e[0] == "shop"]  # shop's default-deny policy isolates it both ways


def test_kubectl_plugin_without_a_path_reads_the_current_context(double, capsys, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", double.kubeconfig)
    code = main(["scan", "--no-config", "-f", "json", "--fail-on", "none"], kubectl_plugin=True)
    report = json.loads(capsys.readouterr().out)
    assert code == 0, [e["message"] for e in report["errors"]]
    assert failing(report, "KH-CLU-003") == ["kube-flannel-ds"]
    with pytest.raises(SystemExit) as stopped:
        main(["scan", "--no-config"])
    assert stopped.value.code == USAGE


def test_kubectl_lists_from_the_double_with_the_same_kubeconfig(double):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH: only the check that kubectl reads the double is skipped")
    done = subprocess.run([kubectl, "--kubeconfig", double.kubeconfig, "get", "pods", "-A", "-o", "json",
                           "--chunk-size", "2"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    names = sorted(p["metadata"]["name"] for p in json.loads(done.stdout)["items"])
    assert names == ["debug-shell", "etcd-cp-1", "kube-apiserver-cp-1", "web-6d5f8b7c9-x2kqp"]
    done = subprocess.run([kubectl, "--kubeconfig", double.kubeconfig, "get", "deploy", "-n", "shop", "-o", "name"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "deployment.apps/web", done.stderr


# -- what cannot be reached -------------------------------------------------------------------

def test_an_unreachable_or_unusable_cluster_is_an_input_error(tmp_path, capsys):
    double = start(tmp_path)
    double.stop()  # the kubeconfig now names a port nobody listens on
    code, out, err = run(capsys, "scan", "--no-config", "--cluster", "--kubeconfig", double.kubeconfig, "-f", "json")
    assert code == INPUT_ERRORS and "no answer" in out
    garbage = tmp_path / "garbage"
    garbage.write_text("clusters: [ {")
    code, out, _ = run(capsys, "scan", "--no-config", "--cluster", "--kubeconfig", str(garbage), "-f", "json")
    assert code == INPUT_ERRORS and "cannot configure the cluster client" in out
    code, out, _ = run(capsys, "scan", "--no-config", "--cluster", "--kubeconfig", double.kubeconfig,
                       "--context", "nope", "-f", "json")
    assert code == INPUT_ERRORS and "nope" in out


def test_a_list_answering_404_makes_its_controls_not_assessable(tmp_path, capsys):
    _, report = scan_double(tmp_path, capsys, not_found={"validatingadmissionpolicies"})
    # (controls of Dockerfiles and image archives are never assessable from a cluster: left out here)
    assert [c["control_id"] for c in report["summary"]["not_assessable"] if "cluster" in c["inputs"]] == \
        ["KH-CLU-002"]
    warning = next(p for p in report["errors"] + report["notes"] if p["kind"] == UNLISTED)
    assert warning["resource"]["kind"] == "ValidatingAdmissionPolicy" and "404" in warning["message"]


def test_an_answer_that_is_not_a_list_is_unlisted_not_empty(tmp_path):
    double = start(tmp_path, broken={"networkpolicies"})
    try:
        items = listed(double.kubeconfig)
    finally:
        double.stop()
    unlisted = [p for p in problems(items) if p.kind == UNLISTED]
    assert [p.resource.kind for p in unlisted] == ["NetworkPolicy"] and "not a NetworkPolicyList" in unlisted[0].message


def test_a_wrong_token_is_reported_not_raised(tmp_path, capsys):
    double = start(tmp_path)
    try:
        config = (tmp_path / "kubeconfig").read_text().replace("double-token-for-tests", "wrong")
        (tmp_path / "wrong").write_text(config)
        code, out, _ = run(capsys, "scan", "--no-config", "cluster://", "--kubeconfig", str(tmp_path / "wrong"),
                           "-f", "json")
    finally:
        double.stop()
    assert code == INPUT_ERRORS and "401" in out


def test_progress_is_one_line_on_a_terminal(capsys):
    from kubeharden.sources.cluster import _Progress

    shown = _Progress(True, 2)
    shown.add("Pod", 500)
    shown.kind_done()
    shown.done()
    err = capsys.readouterr().err
    assert "listed 500 objects, 0/2 kinds (Pod)" in err and "1/2 kinds" in err and err.endswith("\r\x1b[K")
    _Progress(False, 2).add("Pod", 500)
    assert capsys.readouterr().err == ""


def test_nothing_is_written_to_a_stderr_that_is_not_a_terminal(double, capsys):
    _, _, err = run(capsys, "scan", "--no-config", "--cluster", "--kubeconfig", double.kubeconfig, "-f", "json",
                    "--fail-on", "none")
    assert err == ""


# -- least privilege ----------------------------------------------------------------------------

def test_the_shipped_clusterrole_grants_exactly_reading_what_is_listed(double, capsys):
    import yaml

    from kubeharden.sources.cluster import wanted
    from tests.clusterdouble import RESOURCES

    role = yaml.safe_load(open("deploy/clusterrole.yaml"))
    granted = {(g, r) for rule in role["rules"] for g in rule.get("apiGroups", ()) for r in rule.get("resources", ())}
    verbs = {v for rule in role["rules"] for v in rule["verbs"]}
    assert verbs == {"get", "list"}
    needed = {(g, r) for g, _v, r, kind, _ns in RESOURCES if wanted(g, kind)}
    assert needed - granted == {("", "secrets")}  # left out on purpose (values), see the file's header
    # and the role itself is no finding of kubeharden's RBAC controls
    code, out, err = run(capsys, "scan", "--no-config", "deploy/clusterrole.yaml", "-f", "json", "--fail-on", "none")
    assert code == 0 and json.loads(out)["findings"] == [], err


def test_without_secrets_the_token_controls_are_not_assessable(tmp_path, capsys):
    _, report = scan_double(tmp_path, capsys, forbidden={"secrets"})
    unable = {c["control_id"] for c in report["summary"]["not_assessable"]}
    assert "KH-RBAC-018" in unable  # long-lived token Secrets: exactly the control that reads Secrets
    assert not unable & {"KH-POD-001", "KH-RBAC-003", "KH-NET-001"}


# -- the controls on their own ----------------------------------------------------------------

SKEW = """
apiVersion: kubeharden.io/v1
kind: ClusterInfo
metadata: {{name: prod}}
cluster: {{context: prod, version: {{gitVersion: {server}}}}}
---
apiVersion: v1
kind: Node
metadata: {{name: n1}}
status: {{nodeInfo: {{kubeletVersion: {kubelet}, kubeProxyVersion: ""}}}}
"""


@pytest.mark.parametrize("server, kubelet, fails", [
    ("v1.31.2", "v1.28.15", False),   # three behind: supported
    ("v1.31.2", "v1.27.16", True),    # four behind
    ("v1.28.3", "v1.25.16", False),   # three behind, kubelet 1.25: supported
    ("v1.27.3", "v1.24.17", True),    # three behind, but a kubelet older than 1.25 may lag only two
    ("v1.30.4-eks-a737599", "v1.31.0-eks-1234", True),  # newer than the API server
    ("v1.30.4", "v1.30.4", False),
])
def test_version_skew_follows_the_policy(server, kubelet, fails):
    findings, _ = scan(SKEW.format(server=server, kubelet=kubelet), only=["KH-CLU-001"])
    assert bool(findings) is fails, [f.message for f in findings]


def test_an_unknown_api_server_version_is_said_not_passed():
    text = SKEW.format(server="null", kubelet="v1.20.0")
    findings, _ = scan(text, only=["KH-CLU-001"])
    assert [f.message for f in findings] and "unknown" in findings[0].message


@pytest.mark.parametrize("rules, enforced", [
    ([{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}], True),
    ([{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*"]}], True),
    ([{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["pods"]}], False),
    ([{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods/exec"]}], False),
    ([{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["deployments"]}], False),
])
def test_admission_webhooks_count_only_when_they_see_pod_creation(rules, enforced):
    info = {"apiVersion": "kubeharden.io/v1", "kind": "ClusterInfo", "metadata": {"name": "c"},
            "cluster": {"version": {"gitVersion": "v1.31.0"}}}
    hook = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "policy"}, "webhooks": [{"name": "p.example.com", "rules": rules,
                                                          "admissionReviewVersions": ["v1"], "sideEffects": "None",
                                                          "clientConfig": {"url": "https://policy.example.com"}}]}
    findings, _ = scan(json.dumps(info) + "\n---\n" + json.dumps(hook), only=["KH-CLU-002"])
    assert bool(findings) is not enforced


def test_a_policy_without_a_denying_binding_does_not_count():
    control = next(c for c in load_catalogue() if c.id == "KH-CLU-002")
    audit_only = control.example_pass.replace("validationActions: [Deny]", "validationActions: [Audit]")
    findings, _ = scan(audit_only, only=["KH-CLU-002"])
    assert findings


def test_kubectl_runs_the_plugin_which_reads_the_current_context(double):
    import os
    import sys
    from pathlib import Path

    kubectl = shutil.which("kubectl")
    plugin = Path(sys.executable).parent / "kubectl-harden"
    if kubectl is None or not plugin.exists():
        pytest.skip("kubectl or the installed kubectl-harden script is missing: only this end-to-end check is skipped")
    env = {**os.environ, "KUBECONFIG": double.kubeconfig, "PATH": f"{plugin.parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([kubectl, "harden", "scan", "--no-config", "-f", "json", "--fail-on", "none",
                           "--control", "KH-CLU-003"], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert failing(json.loads(done.stdout), "KH-CLU-003") == ["kube-flannel-ds"]


def test_the_digest_an_owned_pod_runs_is_judged_for_its_workload(tmp_path, capsys):
    # the Pod is dropped as owned by the Deployment's ReplicaSet, but the digest its status names
    # (ContainerStatus imageID) is the image the workload runs
    objs = small_cluster()
    digest = "sha256:" + "d" * 64
    for o in objs:
        if o.get("kind") == "Pod" and o["metadata"]["name"] == "web-6d5f8b7c9-x2kqp":
            o["status"] = {"containerStatuses": [{"name": "web", "imageID": f"registry.example.com/shop/web@{digest}"}]}
    report = tmp_path / "trivy.json"
    report.write_text(json.dumps({
        "SchemaVersion": 2, "ArtifactName": f"registry.example.com/other@{digest}", "ArtifactType": "container_image",
        "Metadata": {"RepoDigests": [f"registry.example.com/other@{digest}"]},
        "Results": [{"Target": "x", "Vulnerabilities": [{"VulnerabilityID": "CVE-2024-9999", "PkgName": "openssl",
                                                         "InstalledVersion": "1", "FixedVersion": "2",
                                                         "Severity": "CRITICAL"}]}]}))
    started = start(tmp_path, objs)
    try:
        _, out = scan_json(capsys, started.kubeconfig, "--control", "KH-IMG-011", "--vuln-report", str(report))
    finally:
        started.stop()
    web = [f for f in out["findings"] if f["resource"]["name"] == "web" and f["status"] == "fail"]
    assert len(web) == 1 and web[0]["resource"]["kind"] == "Deployment" and "CVE-2024-9999" in web[0]["message"]
