"""deploy/node/: the DaemonSet and Job that run `kubeharden node` on every node (docs/deploy-node.md).

They must scan clean at the strict profile except for the exceptions written down in
deploy/node/.kubeharden.yaml, mount exactly what the node checks read and only read-only, share no
host namespace, and be admitted by their own ValidatingAdmissionPolicy, which refuses anything more.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from kubeharden.cli import COMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parents[1]
NODE = ROOT / "deploy" / "node"
CONFIG = NODE / ".kubeharden.yaml"
MANIFESTS = sorted(p for p in NODE.glob("*.yaml") if not p.name.startswith("."))
#: What the exceptions may suppress, and nothing else: host paths (KH-POD-009), root (KH-POD-001/002),
#: the PSS verdict that follows from hostPath (KH-PSS-001), the namespace's PSA level (KH-NS-003), and
#: no sandboxed runtime (KH-POD-025).
DOCUMENTED = {"KH-POD-009", "KH-POD-001", "KH-POD-002", "KH-PSS-001", "KH-NS-003", "KH-POD-025"}


def documents() -> list[dict]:
    return [d for f in MANIFESTS for d in yaml.safe_load_all(f.read_text()) if d]


def one(kind: str) -> dict:
    [found] = [d for d in documents() if d["kind"] == kind]
    return found


def pod_spec(kind: str) -> dict:
    return one(kind)["spec"]["template"]["spec"]


def _scan(capsys, *extra: str) -> tuple[int, dict]:
    code = main(["scan", "-f", "json", "--profile", "strict", "--fail-on", "info", *extra, *map(str, MANIFESTS)])
    return code, json.loads(capsys.readouterr().out)


def test_the_manifests_scan_clean_at_the_strict_profile_with_their_exceptions(capsys):
    code, report = _scan(capsys, "--config", str(CONFIG))
    assert code == 0, [(f["control_id"], f["message"]) for f in report["findings"] if f["status"] == "fail"]
    assert report["errors"] == []
    assert report["exceptions"] == {"expired": [], "unused": []}
    suppressed = [f for f in report["findings"] if f["status"] == "suppressed"]
    assert {f["control_id"] for f in suppressed} == DOCUMENTED
    assert all(len(f["suppression"]["reason"]) > 80 for f in suppressed)
    kinds = {k for k, n in report["summary"]["kinds"].items() if n}
    assert kinds >= {"DaemonSet", "Job", "Namespace", "NetworkPolicy", "ServiceAccount", "LimitRange",
                     "ResourceQuota", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def test_without_the_exceptions_the_host_access_is_reported(capsys):
    code, report = _scan(capsys, "--no-config")
    assert code == 1
    failed = {f["control_id"] for f in report["findings"] if f["status"] == "fail"}
    # every exception hides something real, and the allowed host paths are what KH-POD-007 compares with
    assert failed == DOCUMENTED | {"KH-POD-007"}


def _host_paths(spec: dict) -> dict[str, str]:
    return {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}


@pytest.mark.parametrize("kind", ["DaemonSet", "Job"])
def test_host_access_is_exactly_what_the_node_checks_read_and_read_only(kind):
    spec = pod_spec(kind)
    paths = _host_paths(spec)
    allowed = yaml.safe_load(CONFIG.read_text())["allowed_host_paths"]
    assert sorted(paths.values()) == sorted(allowed)
    assert "/var/lib/kubelet" not in paths.values()  # every pod's Secrets and tokens are mounted below it
    assert not any(p.startswith("/var/lib/etcd") or p in ("/", "/var", "/etc") for p in paths.values())
    assert all(v["hostPath"].get("type") in ("Directory", "File") for v in spec["volumes"] if "hostPath" in v)
    [container] = spec["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    for name, path in paths.items():
        assert mounts[name]["readOnly"] is True and mounts[name]["mountPath"] == "/host" + path
    for flag in ("hostPID", "hostIPC", "hostNetwork"):
        assert not spec.get(flag)


@pytest.mark.parametrize("kind", ["DaemonSet", "Job"])
def test_least_privilege_of_the_pod(kind):
    spec = pod_spec(kind)
    assert spec["automountServiceAccountToken"] is False
    assert one("ServiceAccount")["automountServiceAccountToken"] is False
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [container] = spec["containers"]
    context = container["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"]} and context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True and not context.get("privileged")
    assert set(container["resources"]["limits"]) >= {"cpu", "memory", "ephemeral-storage"}
    assert "@sha256:" in container["image"]
    assert {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"} in \
        spec["tolerations"]


def test_the_job_runs_the_daemonset_pod_once():
    daemon, job = copy.deepcopy(pod_spec("DaemonSet")), copy.deepcopy(pod_spec("Job"))
    assert job.pop("restartPolicy") == "Never" and "kubernetes.io/hostname" in job.pop("nodeSelector")
    for spec in (daemon, job):
        [container] = spec["containers"]
        container.pop("command"), container.pop("args", None)
        container["env"] = [e for e in container["env"] if e["name"] != "INTERVAL_SECONDS"]
    assert daemon == job


def _node_argv() -> list[list[str]]:
    [daemon_line] = [line.strip() for line in pod_spec("DaemonSet")["containers"][0]["args"][0].splitlines()
                     if line.strip().startswith("kubeharden ")]
    daemon = daemon_line.split(" || ")[0].replace('"$NODE_NAME"', "node-1").split()[1:]
    job = [w.replace("$(NODE_NAME)", "node-1") for w in pod_spec("Job")["containers"][0]["command"][1:]]
    return [daemon, job]


def test_both_run_kubeharden_node_on_the_host_root_as_json():
    for argv in _node_argv():
        assert argv[:3] == ["node", "--root", "/host"] and argv[argv.index("-f") + 1] == "json"
        assert argv[argv.index("--node-name") + 1] == "node-1"
    env = {e["name"]: e for e in pod_spec("DaemonSet")["containers"][0]["env"]}
    assert env["NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}


def test_the_command_lines_are_ones_kubeharden_accepts():
    if "node" not in COMMANDS:
        pytest.skip("kubeharden has no node command yet (`kubeharden node` of issue #12 is another branch)")
    for argv in _node_argv():
        assert build_parser(argv).parse_args(argv).func


# -- the namespace's own admission policy, evaluated with cel-expr-python (the official cel-cpp) ---------

def _policy_verdict(pod: dict) -> list[str]:
    """The messages of the validations the pod fails (empty: admitted)."""
    cel = pytest.importorskip("cel_expr_python.cel", reason="cel-expr-python is not installed (test extra)")
    from cel_expr_python.ext import ext_strings

    env = cel.NewEnv(variables={"object": cel.Type.DYN, "variables": cel.Type.Map(cel.Type.STRING, cel.Type.DYN)},
                     extensions=[ext_strings.ExtStrings()])
    policy = one("ValidatingAdmissionPolicy")

    def run(expression: str, variables: dict):
        value = env.compile(expression).eval(data={"object": pod, "variables": variables})
        assert value.type() != cel.Type.ERROR, f"CEL error in {expression}"
        return value.plain_value()

    variables: dict = {}
    for var in policy["spec"]["variables"]:
        variables[var["name"]] = run(var["expression"], variables)
    return [v["message"] for v in policy["spec"]["validations"] if run(v["expression"], variables) is not True]


def _pod(kind: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "namespace": "kubeharden-node"},
            "spec": copy.deepcopy(pod_spec(kind))}


def test_the_admission_policy_binds_to_the_scanner_namespace_only():
    binding = one("ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["matchResources"]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": one("Namespace")["metadata"]["name"]}
    allowed = yaml.safe_load(CONFIG.read_text())["allowed_host_paths"]
    validations = " ".join(v["expression"] for v in one("ValidatingAdmissionPolicy")["spec"]["validations"])
    assert all(f"'{path}'" in validations for path in allowed)


@pytest.mark.parametrize("kind", ["DaemonSet", "Job"])
def test_the_admission_policy_admits_the_scanner(kind):
    assert _policy_verdict(_pod(kind)) == []


def _with(change) -> dict:
    pod = _pod("DaemonSet")
    change(pod["spec"])
    return pod


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.update(hostPID=True), "host namespace"),
    (lambda s: s["volumes"].append({"name": "root", "hostPath": {"path": "/"}}), "hostPath volumes"),
    (lambda s: s["containers"][0]["volumeMounts"][0].pop("readOnly"), "read-only"),
    (lambda s: s["containers"][0].update(image="registry.example.com/security/kubeharden:0.1.0"), "digest"),
    (lambda s: s["containers"][0]["securityContext"].update(privileged=True), "privileged"),
    (lambda s: s["containers"][0]["securityContext"].update(capabilities={"add": ["SYS_ADMIN"]}), "capability"),
    (lambda s: s.update(ephemeralContainers=[{"name": "debug", "image": "busybox@sha256:" + "0" * 64}]),
     "ephemeral"),
    (lambda s: s["containers"][0]["securityContext"].pop("capabilities", None), "drops ALL"),
    (lambda s: s["containers"][0]["securityContext"].update(readOnlyRootFilesystem=False), "read-only root"),
    (lambda s: s["containers"][0]["securityContext"].update(seLinuxOptions={"type": "spc_t"}), "spc_t"),
    (lambda s: s.setdefault("securityContext", {}).update(seLinuxOptions={"type": "spc_t"}), "spc_t"),
    (lambda s: s["containers"][0]["securityContext"].update(seccompProfile={"type": "Unconfined"}), "Unconfined"),
    (lambda s: s.setdefault("securityContext", {}).update(appArmorProfile={"type": "Unconfined"}), "Unconfined"),
    (lambda s: s["containers"][0]["securityContext"].update(procMount="Unmasked"), "Unmasked"),
    (lambda s: s.update(automountServiceAccountToken=True), "ServiceAccount token"),
    (lambda s: s["volumes"].append({"name": "tok", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token"}}]}}), "ServiceAccount token"),
])
def test_the_admission_policy_refuses_more_access(change, message):
    refused = _policy_verdict(_with(change))
    assert any(message in m for m in refused), refused
