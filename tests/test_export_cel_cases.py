"""The exported CEL and the scanner agree in every pod-bearing kind and on adversarial objects.

Each case is written from the Kubernetes API reference (PodSpec, SecurityContext, PodSecurityContext,
Volume, Service, Ingress, Namespace) and the "Pod Security Standards" page; the expected verdict is
asserted for both the scanner and the policy, so a case fails when either side changes. Every pod
case and every pod-level catalogue example is also judged as each of the nine pod-bearing kinds.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml
from test_export_cel import CONFIG, CONTROLS, EXPORTED, VAP, _objects, _without_nulls, admitted, scanner_fails
from test_pod_kinds import as_kind, split

from kubeharden.config import parse_config
from kubeharden.enforce.cel import READINGS
from kubeharden.enforce.export import export, kinds_of
from kubeharden.checks.readings import READINGS as PYTHON_READINGS
from kubeharden.checks.readings import SETTINGS_READINGS
from kubeharden.model.pods import POD_TEMPLATE_PATHS

BY_ID = {c.id: c for c in CONTROLS}
POLICIES: dict[str, dict[str, dict]] = {}


def policy(control_id: str, config=CONFIG) -> dict:
    """The ValidatingAdmissionPolicy of ``control_id`` exported with ``config`` (cached per config)."""
    key = str(id(config))  # CONFIG and SITE live as long as the module
    if key not in POLICIES:
        result = export(CONTROLS, "vap", config=config)
        POLICIES[key] = {d["metadata"]["annotations"]["kubeharden.io/control"]: d for d in result.documents
                         if d["kind"] == "ValidatingAdmissionPolicy"}
    return POLICIES[key][control_id]


def verdicts(control_id: str, obj: dict, config=CONFIG) -> tuple[bool, bool]:
    """(the scanner reports the control, the policy refuses the object)."""
    obj = _without_nulls(copy.deepcopy(obj))
    return scanner_fails(control_id, obj, config), not admitted(policy(control_id, config), obj)


def pod(spec: dict, namespace: str = "shop", annotations: dict | None = None, name: str = "web") -> dict:
    meta: dict = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def c(**fields) -> dict:
    """A container named app (image pinned, so image controls stay quiet) with ``fields``."""
    return {"name": "app", "image": "registry.example.com/app:1.0", **fields}


def sc(**fields) -> dict:
    return c(securityContext=fields)


RESTRICTED_SC = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
                 "seccompProfile": {"type": "RuntimeDefault"}}
WINDOWS = {"os": {"name": "windows"}}

#: (control, object, whether it violates the control). Pods are judged in every pod-bearing kind too.
CASES: list[tuple[str, dict, bool]] = [
    # KH-POD-001 run_as_non_root: runAsUser inherited; non-zero UID is enough; runAsNonRoot else
    ("KH-POD-001", pod({"securityContext": {"runAsUser": 1000}, "containers": [sc(runAsUser=0)]}), True),
    ("KH-POD-001", pod({"securityContext": {"runAsUser": 1000}, "containers": [c(securityContext={})]}), False),
    ("KH-POD-001", pod({"securityContext": {"runAsNonRoot": True}, "containers": [c()],
                        "ephemeralContainers": [{"name": "debug", "image": "busybox:1.36",
                                                 "securityContext": {"runAsNonRoot": False}}]}), True),
    ("KH-POD-001", pod({"containers": [sc(runAsNonRoot=True)], "initContainers": [c(name="init")]}), True),
    # KH-POD-002 run_as_non_root_group: every container's group, fsGroup and supplementalGroups
    ("KH-POD-002", pod({"securityContext": {"runAsGroup": 1000}, "containers": [c()]}), False),
    ("KH-POD-002", pod({"securityContext": {"runAsGroup": 1000}, "containers": [c()],
                        "initContainers": [c(name="init", securityContext={"runAsGroup": 0})]}), True),
    ("KH-POD-002", pod({"securityContext": {"runAsGroup": 1000, "fsGroup": 0}, "containers": [c()]}), True),
    ("KH-POD-002", pod({"securityContext": {"runAsGroup": 1000, "supplementalGroups": [1000, 0]},
                        "containers": [c()]}), True),
    ("KH-POD-002", pod({"containers": [sc(runAsGroup=1000)]}), False),
    ("KH-POD-002", pod({"containers": [sc(runAsGroup=1000)], "ephemeralContainers": [c(name="debug")]}), True),
    # a Windows pod must leave runAsGroup, fsGroup and supplementalGroups unset (API reference, PodSpec.os): not
    # judged; a Linux pod is
    ("KH-POD-002", pod({**WINDOWS, "securityContext": {"runAsNonRoot": True, "windowsOptions": {
        "runAsUserName": "ContainerUser"}}, "containers": [c()], "initContainers": [c(name="init")]}), False),
    ("KH-POD-002", pod({"os": {"name": "linux"}, "securityContext": {"runAsNonRoot": True}, "containers": [c()]}),
     True),
    # KH-POD-007/008/009 host paths, normalised as the node resolves them
    ("KH-POD-007", pod({"containers": [c()], "volumes": [{"name": "data", "emptyDir": {}}]}), False),
    ("KH-POD-007", pod({"containers": [c()], "volumes": [{"name": "h", "hostPath": {"path": "/data"}}]}), True),
    ("KH-POD-008", pod({"containers": [c(volumeMounts=[{"name": "h", "mountPath": "/h", "readOnly": True}])],
                        "volumes": [{"name": "h", "hostPath": {"path": "/data"}}]}), False),
    ("KH-POD-008", pod({"containers": [c()], "initContainers": [c(name="init", volumeMounts=[
        {"name": "h", "mountPath": "/h"}])], "volumes": [{"name": "h", "hostPath": {"path": "/data"}}]}), True),
    ("KH-POD-008", pod({"containers": [c(volumeMounts=[{"name": "h", "mountPath": "/h", "readOnly": False}])],
                        "volumes": [{"name": "h", "emptyDir": {}}]}), False),
    ("KH-POD-008", pod({"containers": [c()], "ephemeralContainers": [c(name="debug", volumeMounts=[
        {"name": "h", "mountPath": "/h", "readOnly": False}])],
                        "volumes": [{"name": "h", "hostPath": {"path": "/srv"}}]}), True),
    *[("KH-POD-009", pod({"containers": [c()], "volumes": [{"name": "h", "hostPath": {"path": path}}]}), bad)
      for path, bad in [("/var/run/docker.sock", True), ("/etc/", True), ("//etc/./", True), ("/etcetera", False),
                        ("/var/lib/kubelet/pods", True), ("/data", False), ("/proc/sys", True), ("/", True),
                        ("/run/containerd/containerd.sock", True), ("/var/log/app", False), ("/var/log", True),
                        (" /sys ", True), ("/srv/cri-dockerd.sock", True)]],
    # KH-POD-015 volume types (default allowed list); hostPath is KH-POD-007's
    ("KH-POD-015", pod({"containers": [c()], "volumes": [{"name": "n", "nfs": {"server": "nfs", "path": "/"}}]}),
     True),
    ("KH-POD-015", pod({"containers": [c()], "volumes": [{"name": "h", "hostPath": {"path": "/data"}},
                                                          {"name": "cm", "configMap": {"name": "cm"}}]}), False),
    # KH-POD-019 SELinux: pod and each container's own options
    ("KH-POD-019", pod({"securityContext": {"seLinuxOptions": {"type": "spc_t"}}, "containers": [c()]}), True),
    ("KH-POD-019", pod({"containers": [sc(seLinuxOptions={"type": "container_t", "level": "s0:c1,c2"})]}), False),
    ("KH-POD-019", pod({"containers": [c()], "ephemeralContainers": [
        c(name="debug", securityContext={"seLinuxOptions": {"role": "sysadm_r"}})]}), True),
    ("KH-POD-019", pod({"containers": [sc(seLinuxOptions={"user": "system_u"})]}), True),
    # KH-PSS-001 baseline ("Pod Security Standards", baseline controls)
    ("KH-PSS-001", pod({"containers": [c()]}), False),
    ("KH-PSS-001", pod({"containers": [c()], "ephemeralContainers": [c(name="d", securityContext={
        "privileged": True})]}), True),
    ("KH-PSS-001", pod({"containers": [sc(capabilities={"add": ["NET_ADMIN"]})]}), True),
    ("KH-PSS-001", pod({"containers": [sc(capabilities={"add": ["CHOWN", "NET_BIND_SERVICE"]})]}), False),
    ("KH-PSS-001", pod({"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]},
                        "containers": [c()]}), True),
    ("KH-PSS-001", pod({"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "1"}]},
                        "containers": [c()]}), False),
    ("KH-PSS-001", pod({"containers": [c()]}, annotations={
        "container.apparmor.security.beta.kubernetes.io/app": "unconfined"}), True),
    ("KH-PSS-001", pod({"containers": [c()]}, annotations={
        "container.apparmor.security.beta.kubernetes.io/app": "localhost/k8s-nginx"}), False),
    ("KH-PSS-001", pod({"containers": [c(ports=[{"containerPort": 80, "hostPort": 0}])]}), False),
    ("KH-PSS-001", pod({"containers": [c(ports=[{"containerPort": 80, "hostPort": 8080}])]}), True),
    ("KH-PSS-001", pod({"containers": [sc(procMount="Unmasked")]}), True),
    ("KH-PSS-001", pod({"securityContext": {"seccompProfile": {"type": "Unconfined"}}, "containers": [c()]}), True),
    ("KH-PSS-001", pod({"securityContext": {"appArmorProfile": {"type": "Unconfined"}}, "containers": [c()]}), True),
    ("KH-PSS-001", pod({**WINDOWS, "securityContext": {"windowsOptions": {"hostProcess": True}},
                        "hostNetwork": True, "containers": [c()]}), True),
    ("KH-PSS-001", pod({"hostIPC": True, "containers": [c()]}), True),
    ("KH-PSS-001", pod({"containers": [c()], "volumes": [{"name": "h", "hostPath": {"path": "/srv"}}]}), True),
    # KH-PSS-002 restricted, when baseline is met
    ("KH-PSS-002", pod({"containers": [c(securityContext=RESTRICTED_SC)]}), False),
    ("KH-PSS-002", pod({"hostPID": True, "containers": [c()]}), False),
    ("KH-PSS-002", pod({"containers": [c(securityContext={**RESTRICTED_SC, "capabilities": {}})]}), True),
    ("KH-PSS-002", pod({"containers": [c(securityContext={**RESTRICTED_SC, "capabilities": {
        "drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}})]}), False),
    ("KH-PSS-002", pod({**WINDOWS, "securityContext": {"runAsNonRoot": True}, "containers": [c()]}), False),
    ("KH-PSS-002", pod({"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [sc(allowPrivilegeEscalation=False, capabilities={"drop": ["ALL"]})]}), False),
    ("KH-PSS-002", pod({"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [sc(allowPrivilegeEscalation=False, capabilities={"drop": ["ALL"]},
                                          runAsNonRoot=False)]}), True),
    ("KH-PSS-002", pod({"containers": [c(securityContext={**RESTRICTED_SC, "runAsUser": 0})]}), True),
    ("KH-PSS-002", pod({"containers": [c(securityContext=RESTRICTED_SC)], "ephemeralContainers": [
        {"name": "debug", "image": "busybox:1.36"}]}), True),
    ("KH-PSS-002", pod({"containers": [c(securityContext=RESTRICTED_SC)],
                        "volumes": [{"name": "n", "nfs": {"server": "nfs", "path": "/"}}]}), True),
    # KH-NS-001/002: the namespace of the request
    ("KH-NS-001", pod({"containers": [c()]}, namespace="kube-system"), True),
    ("KH-NS-001", pod({"containers": [c()]}, namespace="kube-public"), True),
    ("KH-NS-001", pod({"containers": [c()]}, namespace="default"), False),
    ("KH-NS-002", pod({"containers": [c()]}, namespace="default"), True),
    ("KH-NS-002", pod({"containers": [c()]}, namespace="shop"), False),
    # KH-POD-013/014 capabilities as the runtime reads their names
    ("KH-POD-013", pod({"containers": [sc(capabilities={"add": ["cap_sys_admin"]})]}), True),
    ("KH-POD-013", pod({"containers": [sc(capabilities={"add": ["chown"]})]}), False),
    ("KH-POD-013", pod({"containers": [c()], "ephemeralContainers": [c(name="d", securityContext={
        "capabilities": {"add": ["NET_RAW"]}})]}), True),
    ("KH-POD-014", pod({"containers": [sc(capabilities={"add": ["NET_BIND_SERVICE"]})]}), False),
    ("KH-POD-014", pod({"containers": [sc(capabilities={"add": ["CAP_CHOWN"]})]}), True),
    ("KH-POD-014", pod({**WINDOWS, "containers": [sc(capabilities={"add": ["CHOWN"]})]}), False),
    # KH-POD-011/012/016 rules with guards
    ("KH-POD-011", pod({"containers": [sc(allowPrivilegeEscalation=False, privileged=True)]}), True),
    ("KH-POD-011", pod({"containers": [sc(allowPrivilegeEscalation=False, capabilities={"add": ["sys_admin"]})]}),
     True),
    ("KH-POD-011", pod({"containers": [sc(allowPrivilegeEscalation=False)]}), False),
    ("KH-POD-012", pod({"containers": [sc(capabilities={"drop": ["all"]})]}), False),
    ("KH-POD-012", pod({"containers": [sc(capabilities={"drop": ["NET_RAW"]})]}), True),
    ("KH-POD-012", pod({**WINDOWS, "containers": [c()]}), False),
    ("KH-POD-016", pod({"containers": [sc(seccompProfile={"type": "Localhost"})]}), True),
    ("KH-POD-016", pod({"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}, "containers": [c()]}),
     False),
    ("KH-POD-016", pod({"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [sc(seccompProfile={"type": "Unconfined"})]}), True),
    ("KH-POD-016", pod({"containers": [c()]}, annotations={"seccomp.security.alpha.kubernetes.io/pod":
                                                            "runtime/default"}), True),
    # KH-POD-017/018 AppArmor: field first, then the container's own beta annotation
    ("KH-POD-017", pod({"containers": [c()]}, annotations={
        "container.apparmor.security.beta.kubernetes.io/app": "unconfined"}), True),
    ("KH-POD-017", pod({"containers": [c()]}, annotations={
        "container.apparmor.security.beta.kubernetes.io/other": "unconfined"}), False),
    ("KH-POD-017", pod({"containers": [sc(appArmorProfile={"type": "RuntimeDefault"})]}, annotations={
        "container.apparmor.security.beta.kubernetes.io/app": "unconfined"}), False),
    ("KH-POD-017", pod({"securityContext": {"appArmorProfile": {"type": "Unconfined"}}, "containers": [c()]}), True),
    ("KH-POD-017", pod({"containers": [sc(appArmorProfile={"type": "Localhost"})]}), True),
    ("KH-POD-018", pod({"containers": [c()]}), True),
    ("KH-POD-018", pod({"containers": [c()]}, annotations={
        "container.apparmor.security.beta.kubernetes.io/app": "runtime/default"}), False),
    ("KH-POD-018", pod({"securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}}, "containers": [c()]}),
     False),
    # KH-POD-026 service accounts (serviceAccount is the deprecated spelling)
    ("KH-POD-026", pod({"serviceAccountName": "default", "containers": [c()]}), True),
    ("KH-POD-026", pod({"serviceAccount": "default", "containers": [c()]}), True),
    ("KH-POD-026", pod({"serviceAccountName": "app", "containers": [c()]}), False),
    ("KH-POD-026", pod({"containers": [c()]}), True),
    # KH-IMG-003/004 images as the runtime resolves the reference
    ("KH-IMG-003", pod({"containers": [c(image="REGISTRY.example.com/app:1")]}), False),
    ("KH-IMG-003", pod({"containers": [c(image="nginx:1.25")]}), True),
    ("KH-IMG-003", pod({"containers": [c(image="registry.example.com.evil.io/app:1")]}), True),
    ("KH-IMG-003", pod({"containers": [c(image="registry.example.com:5000/app:1")]}), True),
    ("KH-IMG-003", pod({"containers": [c()], "ephemeralContainers": [c(name="d", image="busybox")]}), True),
    ("KH-IMG-004", pod({"containers": [c(image="nginx:1.25")]}), True),
    ("KH-IMG-004", pod({"containers": [c(image="nginx:latest")]}), False),
    ("KH-IMG-004", pod({"containers": [c(image="nginx@sha256:" + "a" * 64)]}), False),
    ("KH-IMG-004", pod({"containers": [c(image="localhost:5000/app", imagePullPolicy="IfNotPresent")]}), True),
    ("KH-IMG-004", pod({"containers": [c(image="nginx:1.25", imagePullPolicy="Always")]}), False),
]

SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"}}
INGRESS = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web", "namespace": "shop"}}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace"}


def _with(base: dict, **fields) -> dict:
    return {**copy.deepcopy(base), **fields}


def _lb(ranges=None, annotation=None) -> dict:
    obj = _with(SERVICE, spec={"type": "LoadBalancer", "ports": [{"port": 80}]})
    if ranges is not None:
        obj["spec"]["loadBalancerSourceRanges"] = ranges
    if annotation is not None:
        obj["metadata"]["annotations"] = {"service.beta.kubernetes.io/load-balancer-source-ranges": annotation}
    return obj


def _ingress(tls, hosts) -> dict:
    spec: dict = {"rules": [{"host": h} if h else {} for h in hosts]}
    if tls is not None:
        spec["tls"] = tls
    return _with(INGRESS, spec=spec)


OBJECT_CASES: list[tuple[str, dict, bool]] = [
    ("KH-NET-009", _lb(), True),
    ("KH-NET-009", _lb(annotation="10.0.0.0/8"), False),
    ("KH-NET-009", _lb(ranges=[" 0.0.0.0/0 "]), True),
    ("KH-NET-009", _lb(annotation="10.0.0.0/8, 0.0.0.0/0"), True),
    ("KH-NET-009", _lb(ranges=["10.0.0.0/8"], annotation="0.0.0.0/0"), False),
    ("KH-NET-009", _with(SERVICE, spec={"type": "ClusterIP"}), False),
    ("KH-NET-011", _ingress(None, ["shop.example.com"]), True),
    ("KH-NET-011", _ingress([{"secretName": "tls"}], ["shop.example.com"]), False),
    ("KH-NET-011", _ingress([{"hosts": ["*.example.com"]}], ["shop.example.com"]), False),
    ("KH-NET-011", _ingress([{"hosts": ["*.example.com"]}], ["a.shop.example.com"]), True),
    ("KH-NET-011", _ingress([{"hosts": ["shop.example.com"]}], ["shop.example.com", "admin.example.com"]), True),
    ("KH-NET-011", _ingress([{"hosts": ["shop.example.com"]}], [None]), False),
    ("KH-NET-011", _ingress([], ["shop.example.com"]), True),
    *[("KH-NS-003", _with(NAMESPACE, metadata={"name": name, **({"labels": labels} if labels else {})}), bad)
      for name, labels, bad in [
          ("shop", {"pod-security.kubernetes.io/enforce": "restricted"}, False),
          ("shop", {"pod-security.kubernetes.io/enforce": "baseline"}, True),  # the strict profile wants restricted
          ("shop", {"pod-security.kubernetes.io/enforce": "Restricted"}, True),
          ("shop", {"pod-security.kubernetes.io/warn": "restricted"}, True),
          ("shop", None, True),
          ("kube-system", None, False)]],
]


def _case_id(case: tuple[str, dict, bool]) -> str:
    control_id, obj, bad = case
    return f"{control_id}-{'fail' if bad else 'pass'}"


@pytest.mark.parametrize("case", CASES + OBJECT_CASES, ids=[_case_id(x) for x in CASES + OBJECT_CASES])
def test_adversarial_cases_get_the_expected_verdict_from_both(case):
    control_id, obj, bad = case
    assert verdicts(control_id, obj) == (bad, bad)


@pytest.mark.parametrize("case", CASES, ids=[_case_id(x) for x in CASES])
def test_adversarial_pods_agree_in_every_pod_bearing_kind(case):
    control_id, obj, bad = case
    parts = split(obj)
    for kind in POD_TEMPLATE_PATHS:
        variant = yaml.safe_load(as_kind(kind, *parts))
        assert verdicts(control_id, variant) == (bad, bad), f"{control_id} as {kind}"


def _pod_examples() -> list[tuple[str, str, str]]:
    out = []
    for control in EXPORTED:
        if control.scope not in ("pod", "container"):
            continue
        for label, text in [(f"fail-{n}", t) for n, t in enumerate(control.fail_examples, 1)] + [
                ("pass", control.example_pass)]:
            objs = [o for o in _objects(text) if o.get("kind") in POD_TEMPLATE_PATHS]
            if len(objs) == 1:
                out.append((control.id, label, objs[0]))
    return out


POD_EXAMPLES = _pod_examples()


@pytest.mark.parametrize(("control_id", "label", "obj"), POD_EXAMPLES, ids=[f"{c}-{n}" for c, n, _ in POD_EXAMPLES])
def test_catalogue_examples_agree_in_every_pod_bearing_kind(control_id, label, obj):
    parts = split(obj)
    for kind in POD_TEMPLATE_PATHS:
        variant = _without_nulls(yaml.safe_load(as_kind(kind, *parts)))
        found, refused = verdicts(control_id, variant)
        assert found == refused, f"{control_id} {label} as {kind}: scanner {found}, policy refuses {refused}"
        if label.startswith("fail") and kind == "Pod":
            assert found, f"{control_id} {label}: the example fails nothing"


def test_every_exported_pod_control_is_judged_in_every_kind():
    judged = {c for c, _, _ in POD_EXAMPLES}
    assert judged == {c.id for c in EXPORTED if c.scope in ("pod", "container")}


# -- settings of .kubeharden.yaml the hand-written CEL reads -------------------------------------------

SITE = parse_config({"profile": "default", "allowed_host_paths": ["/data/", "/srv/app"],
                     "allowed_volume_types": ["configMap", "nfs"], "system_workloads": ["kube-system/coredns*"],
                     "registries": ["registry.example.com/team/"]})

SITE_CASES: list[tuple[str, dict, bool]] = [
    *[("KH-POD-007", pod({"containers": [c()], "volumes": [{"name": "h", "hostPath": {"path": path}}]}), bad)
      for path, bad in [("/data", False), ("//data/./x/", False), ("/data2", True), ("/srv/app/cache", False),
                        ("/srv", True), ("relative", True)]],
    ("KH-POD-015", pod({"containers": [c()], "volumes": [{"name": "n", "nfs": {"server": "nfs", "path": "/"}}]}),
     False),
    ("KH-POD-015", pod({"containers": [c()], "volumes": [{"name": "e", "emptyDir": {}}]}), True),
    ("KH-NS-001", pod({"containers": [c()]}, namespace="kube-system", name="coredns-5d78c9869d-abcde"), False),
    ("KH-NS-001", pod({"containers": [c()]}, namespace="kube-system", name="core"), True),
    ("KH-NS-003", _with(NAMESPACE, metadata={"name": "shop", "labels": {
        "pod-security.kubernetes.io/enforce": "baseline"}}), False),  # the default profile wants baseline
    ("KH-NS-003", _with(NAMESPACE, metadata={"name": "shop", "labels": {
        "pod-security.kubernetes.io/enforce": "privileged"}}), True),
    ("KH-IMG-003", pod({"containers": [c(image="registry.example.com/team/app:1")]}), False),
    ("KH-IMG-003", pod({"containers": [c(image="registry.example.com/teamx/app:1")]}), True),
]


@pytest.mark.parametrize("case", SITE_CASES, ids=[_case_id(x) for x in SITE_CASES])
def test_the_policy_reads_the_settings_the_export_ran_with(case):
    control_id, obj, bad = case
    assert verdicts(control_id, obj, SITE) == (bad, bad)


def test_a_static_control_plane_pod_in_kube_system_is_not_a_workload_there():
    mirror = pod({"containers": [c(name="kube-apiserver", command=["/usr/local/bin/kube-apiserver"])]},
                 namespace="kube-system", annotations={"kubernetes.io/config.mirror": "abc"}, name="kube-apiserver-n1")
    assert verdicts("KH-NS-001", mirror) == (False, False)
    plain = copy.deepcopy(mirror)
    del plain["metadata"]["annotations"]
    assert verdicts("KH-NS-001", plain) == (True, True)


def test_only_a_kubeadm_manifest_not_any_pod_running_the_binary_is_a_control_plane_pod():
    """model.cluster.system_component: host network + command alone (anyone can run a binary called
    kube-apiserver) is no exemption; kubeadm's labels and the upstream image with them are."""
    spoof = pod({"hostNetwork": True, "containers": [c(name="miner", image="evil/miner:1.0",
                                                       command=["kube-apiserver", "--foo"])]},
                namespace="kube-system", name="miner")
    assert verdicts("KH-NS-001", spoof) == (True, True)
    kubeadm = copy.deepcopy(spoof)
    kubeadm["metadata"]["labels"] = {"component": "kube-apiserver", "tier": "control-plane"}
    assert verdicts("KH-NS-001", kubeadm) == (True, True)  # labels copied, image not upstream
    kubeadm["spec"]["containers"][0]["image"] = "registry.k8s.io/kube-apiserver:v1.29.3"
    assert verdicts("KH-NS-001", kubeadm) == (False, False)
    wrong = copy.deepcopy(kubeadm)
    wrong["spec"]["containers"][0]["image"] = "registry.k8s.io/etcd:3.5.12-0"  # not the component it says
    assert verdicts("KH-NS-001", wrong) == (True, True)
    no_host = copy.deepcopy(kubeadm)
    no_host["spec"]["hostNetwork"] = False
    assert verdicts("KH-NS-001", no_host) == (True, True)


# -- what is not exported, and the readings -------------------------------------------------------------

OTHER_OBJECT_PREFIXES = ("KH-RBAC-", "KH-RES-", "KH-CLU-")


def test_the_controls_left_out_and_their_reasons_are_exactly_these():
    left = dict(VAP.left_out)
    # inventory controls whose verdict the one admitted object decides (ADMISSION_EXACT)
    assert {"KH-RBAC-017", "KH-RBAC-018", "KH-RES-001", "KH-RES-002", "KH-RES-003", "KH-RES-004",
            "KH-RES-005"} <= set(VAP.exported)
    graph = {i for i in left if i.startswith(OTHER_OBJECT_PREFIXES)}
    assert all("one admission request holds one object" in left[i] or "live cluster" in left[i] for i in graph)
    # node facts and control-plane configuration files are not API objects: one reason each, by kind of control
    node = {c.id for c in CONTROLS if c.scope == "facts"}
    files = {c.id for c in CONTROLS if c.id.startswith(("KH-ENC-", "KH-LOG-", "KH-KCFG-", "KH-PSA-"))}
    assert node and files and (node | files) <= set(left)
    assert {left[i] for i in node} == {"it judges a component's settings and files on a node, which an admission "
                                       "request does not carry"}
    assert all(left[i].startswith("it judges a configuration file of the control plane") for i in files)
    stored = {c.id for c in CONTROLS if "etcd" in c.inputs}
    assert stored and all(left[i].startswith("it judges what etcd stores") for i in stored)
    rest = {i: left[i] for i in sorted(set(left) - graph - node - files - stored)}
    assert {i: why.split(";")[0].split(",")[0] for i, why in rest.items()} == {
        "KH-IMG-005": "it reads Dockerfiles or image configurations",
        "KH-IMG-006": "it reads Dockerfiles or image configurations",
        "KH-IMG-007": "it reads Dockerfiles or image configurations",
        "KH-IMG-008": "it reads Dockerfiles or image configurations",
        "KH-IMG-009": "it reads Dockerfiles or image configurations",
        "KH-IMG-010": "it joins workloads with their images' users",
        "KH-IMG-011": "it joins workloads with vulnerability reports",
        "KH-IMG-012": "it looks for admission policies and webhooks among the cluster's objects",
        "KH-IMG-013": "it reads Dockerfiles or image configurations",
        "KH-NET-001": "it computes reachability from every NetworkPolicy (and admin",
        "KH-NET-002": "it computes reachability from every NetworkPolicy (and admin",
        "KH-NET-003": "it computes reachability from every NetworkPolicy (and admin",
        "KH-NET-004": "it computes reachability from every NetworkPolicy (and admin",
        "KH-NET-005": "it computes reachability from every NetworkPolicy (and admin",
        "KH-NET-006": "it computes reachability from every NetworkPolicy (and admin",
        "KH-NET-007": "it computes reachability from every NetworkPolicy (and admin",
        "KH-NET-012": "it looks for the LimitRanges of the namespace",
        "KH-NET-013": "it looks for the ResourceQuotas of the namespace",
        "KH-NET-014": "it reports the policy rules the reachability analysis of all policies could not evaluate",
        "KH-NET-015": "it parses six policy kinds with their selector",
        "KH-NET-016": "it computes reachability from every NetworkPolicy (and admin",
        "KH-NET-017": "it computes reachability from every NetworkPolicy (and admin",
        "KH-POD-024": "it reads the pod's ServiceAccount",  # and why the token volume is not enough: see below
        "KH-SEC-001": "its verdict uses the Shannon entropy of the value (log2)",
        "KH-SEC-002": "its verdict uses the Shannon entropy of the value (log2)",
        "KH-SEC-003": "it applies to every kind",
        "KH-UPG-001": "it compares versions with the Kubernetes release and CVE data bundled with kubeharden "
                      "(model/kubernetes_versions.json)",
        "KH-UPG-002": "it compares image versions with the Kubernetes release and CVE data bundled with kubeharden "
                      "(model/kubernetes_versions.json)",
        "KH-UPG-003": "it compares versions with the upstream end-of-life dates bundled with kubeharden "
                      "(model/kubernetes_versions.json)",
        "KH-UPG-004": "it compares image versions with the upstream end-of-life dates bundled with kubeharden "
                      "(model/kubernetes_versions.json)",
    }
    assert not [why for why in left.values() if "no CEL translation" in why]


def test_every_exported_policy_matches_the_kinds_its_control_judges():
    for control in EXPORTED:
        rules = policy(control.id)["spec"]["matchConstraints"]["resourceRules"]
        resources = {r for rule in rules for r in rule["resources"]}
        assert ("pods" in resources) == (control.scope in ("pod", "container") or "Pod" in kinds_of(control))


def test_every_reading_of_the_rule_language_has_its_cel():
    assert set(READINGS) == set(PYTHON_READINGS) - SETTINGS_READINGS


def test_a_rule_using_a_reading_without_cel_is_listed_not_exported():
    from kubeharden.enforce.cel import inexpressible
    control = copy.deepcopy(BY_ID["KH-POD-013"])
    object.__setattr__(control, "rule", {**control.rule, "as": "no-such-reading"})
    assert "no-such-reading" in inexpressible(control)


# -- docs/export.md keeps the table of what is exported ---------------------------------------------------

DOC = Path(__file__).resolve().parents[1] / "docs" / "export.md"
BEGIN = "<!-- export-table:begin: generated by tests/test_export_cel_cases.py (KUBEHARDEN_UPDATE_SNAPSHOTS=1) -->"
END = "<!-- export-table:end -->"


#: The profiles the table reports (baseline is another name of minimal).
TABLE_PROFILES = ("minimal", "default", "strict")


def exported_by_profile() -> dict[str, list[str]]:
    """Profile -> the controls `kubeharden export --profile P` exports with otherwise default settings
    (the profile's controls, as the command selects them)."""
    from kubeharden.engine.evaluator import Evaluator

    out = {}
    for name in TABLE_PROFILES:
        evaluator = Evaluator(parse_config({"profile": name}), input_kind="admission")
        out[name] = export(evaluator.controls + evaluator.result.not_assessable, "vap").exported
    return out


def export_table() -> str:
    """Every control of the catalogue: the profiles whose default export holds it, or why it is not exported."""
    left = dict(export(CONTROLS, "vap").left_out)
    by_profile = exported_by_profile()
    rows = ["| control | title | exported by the profiles | why not |", "|---|---|---|---|"]
    for control in sorted(CONTROLS, key=lambda c: c.id):
        title = control.title.replace("|", "\\|")
        why = left.get(control.id, "").replace("|", "\\|")
        profiles = ", ".join(p for p in TABLE_PROFILES if control.id in by_profile[p])
        if not why and not profiles:
            why = "in no profile: exported with --control"
        rows.append(f"| {control.id} | {title} | {profiles or 'none'} | {why} |")
    count = ("Controls exported with the default settings: " +
             ", ".join(f"{len(by_profile[p])} with --profile {p}" for p in TABLE_PROFILES) +
             f" (of {len(CONTROLS)} controls; `registries` unset, so KH-IMG-003 is left out until it is set).")
    return "\n".join([BEGIN, count, "", *rows, END])


def test_the_table_counts_what_the_command_exports(tmp_path):
    from kubeharden.cli import main

    out = tmp_path / "p.yaml"
    assert main(["export", "vap", "--no-config", "-o", str(out)]) == 0
    policies = [d for d in yaml.safe_load_all(out.read_text()) if d and d["kind"] == "ValidatingAdmissionPolicy"]
    assert len(policies) == len(exported_by_profile()["default"])


def test_docs_export_lists_what_is_exported_and_why_not():
    text = DOC.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    if os.environ.get("KUBEHARDEN_UPDATE_SNAPSHOTS") == "1":
        DOC.write_text(text[:start] + export_table() + text[end:])
        text = DOC.read_text()
        start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == export_table(), "docs/export.md is stale: KUBEHARDEN_UPDATE_SNAPSHOTS=1 pytest " \
                                              "tests/test_export_cel_cases.py -k docs"


#: Objects written with explicit nulls: the scanner reads them as written, the API server hands admission
#: the decoded object, where a null field is absent. Both must agree with the expected verdict.
NULL_CASES: list[tuple[str, dict, bool]] = [
    ("KH-POD-001", pod({"securityContext": {"runAsNonRoot": True}, "containers": [c(securityContext=None)]}), False),
    ("KH-POD-001", pod({"securityContext": None, "containers": [sc(runAsUser=None, runAsNonRoot=None)]}), True),
    ("KH-POD-002", pod({"securityContext": {"runAsGroup": 1000, "fsGroup": None}, "containers": [
        c(securityContext=None)]}), False),
    ("KH-POD-008", pod({"containers": [c(volumeMounts=None)], "volumes": [
        {"name": "h", "hostPath": {"path": "/data"}}]}), False),
    ("KH-PSS-002", pod({"containers": [c(securityContext={**RESTRICTED_SC, "capabilities": None})]}), True),
    ("KH-PSS-001", pod({"securityContext": {"sysctls": None, "seLinuxOptions": None}, "containers": [c()],
                        "volumes": None}), False),
    ("KH-POD-017", pod({"securityContext": {"appArmorProfile": None}, "containers": [c()]}), False),
    ("KH-NET-011", _with(INGRESS, spec={"tls": None, "rules": [{"host": "shop.example.com"}]}), True),
]


@pytest.mark.parametrize("case", NULL_CASES, ids=[_case_id(x) for x in NULL_CASES])
def test_explicit_nulls_read_as_the_api_server_decodes_them(case):
    control_id, obj, bad = case
    assert scanner_fails(control_id, copy.deepcopy(obj)) is bad
    assert admitted(policy(control_id), _without_nulls(copy.deepcopy(obj))) is not bad


#: The functions and macros the exported CEL may call: the CEL standard definitions (size, type, dyn, string,
#: contains, startsWith, endsWith, matches, exists, filter, map), optionals (optional.of, orValue) and the
#: strings extension, all of which Kubernetes offers to admission policies ("CEL in Kubernetes",
#: https://kubernetes.io/docs/reference/using-api/cel/). cel-expr-python is given the same libraries.
KUBERNETES_CEL = {"contains", "dyn", "endsWith", "exists", "filter", "map", "matches", "size", "startsWith", "string",
                  "type", "of", "orValue", "indexOf", "join", "lastIndexOf", "lowerAscii", "split", "substring",
                  "trim", "upperAscii"}


def test_the_exported_cel_calls_only_functions_kubernetes_offers():
    import re

    called: set[str] = set()
    for doc in VAP.documents:
        if doc["kind"] != "ValidatingAdmissionPolicy":
            continue
        for item in doc["spec"].get("variables", []) + doc["spec"]["validations"]:
            for text in (item["expression"], item.get("messageExpression", "")):
                code = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', text)
                called |= set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", code))
    assert called <= KUBERNETES_CEL, sorted(called - KUBERNETES_CEL)
    assert {"split", "join", "trim"} <= called  # the strings extension is really exercised
