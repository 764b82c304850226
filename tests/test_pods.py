"""Pod controls on the tricky cases: inheritance, every pod-bearing kind, and the line of the fault."""

from __future__ import annotations

import pytest

from kubeharden.checks.pods import sensitive_reason
from kubeharden.checks.pss import evaluate
from kubeharden.model.images import parse_image, registry_allowed
from kubeharden.model.objects import make_ref
from kubeharden.model.pods import pod_view
from kubeharden.sources.files import parse_text

from conftest import ids, messages, scan

POD = """
apiVersion: v1
kind: Pod
metadata: {{name: p, namespace: shop}}
spec:
{spec}
"""


def pod(spec: str) -> str:
    return POD.format(spec="\n".join("  " + line for line in spec.strip("\n").splitlines()))


def by_container(findings, control_id):
    return sorted(f.container for f in findings if f.control.id == control_id)


def test_pod_run_as_non_root_is_inherited_but_container_false_wins():
    findings, _ = scan(pod("""
securityContext: {runAsNonRoot: true}
containers:
  - {name: a, image: x}
  - {name: b, image: x, securityContext: {runAsNonRoot: false}}
initContainers:
  - {name: init, image: x}
"""), only=["KH-POD-001"])
    assert by_container(findings, "KH-POD-001") == ["b"]


def test_container_uid_overrides_pod_uid_both_ways():
    findings, _ = scan(pod("""
securityContext: {runAsUser: 0}
containers:
  - {name: fixed, image: x, securityContext: {runAsUser: 1000}}
  - {name: inherits, image: x}
"""), only=["KH-POD-001"])
    assert by_container(findings, "KH-POD-001") == ["inherits"]
    assert "inherited from the pod" in messages(findings, "KH-POD-001")[0]
    findings, _ = scan(pod("""
securityContext: {runAsUser: 1000, runAsNonRoot: true}
containers:
  - {name: root, image: x, securityContext: {runAsUser: 0}}
"""), only=["KH-POD-001"])
    assert messages(findings, "KH-POD-001") == ["runAsUser is 0 (root), on the container"]


def test_explicit_uid_zero_fails_even_with_run_as_non_root():
    findings, _ = scan(pod("""
securityContext: {runAsNonRoot: true, runAsUser: 0}
containers: [{name: a, image: x}]
"""), only=["KH-POD-001"])
    assert ids(findings) == {"KH-POD-001"}


def test_ephemeral_containers_are_checked():
    findings, _ = scan(pod("""
containers: [{name: a, image: x, securityContext: {privileged: false}}]
ephemeralContainers: [{name: debug, image: x, securityContext: {privileged: true}}]
"""), only=["KH-POD-004"])
    assert by_container(findings, "KH-POD-004") == ["debug"]


def test_container_only_fields_do_not_inherit_from_the_pod():
    # allowPrivilegeEscalation, readOnlyRootFilesystem and capabilities are not pod fields:
    # setting them in the pod securityContext does nothing.
    findings, _ = scan(pod("""
securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
containers: [{name: a, image: x}]
"""), only=["KH-POD-003", "KH-POD-011", "KH-POD-012"])
    assert ids(findings) == {"KH-POD-003", "KH-POD-011", "KH-POD-012"}


def test_seccomp_inheritance_and_override():
    findings, _ = scan(pod("""
securityContext: {seccompProfile: {type: RuntimeDefault}}
containers:
  - {name: ok, image: x}
  - {name: unconfined, image: x, securityContext: {seccompProfile: {type: Unconfined}}}
  - {name: local, image: x, securityContext: {seccompProfile: {type: Localhost}}}
"""), only=["KH-POD-016"])
    assert by_container(findings, "KH-POD-016") == ["local", "unconfined"]


def test_selinux_container_options_replace_pod_options():
    findings, _ = scan(pod("""
securityContext: {seLinuxOptions: {type: container_t}}
containers:
  - {name: a, image: x, securityContext: {seLinuxOptions: {type: spc_t}}}
"""), only=["KH-POD-019", "KH-POD-020"])
    assert [(f.control.id, f.container) for f in findings] == [("KH-POD-019", "a")]


def test_apparmor_field_wins_over_annotation_and_windows_pods_skip_linux_controls():
    text = """
apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    container.apparmor.security.beta.kubernetes.io/a: unconfined
spec:
  containers:
    - {name: a, image: x, securityContext: {appArmorProfile: {type: RuntimeDefault}}}
    - {name: b, image: x}
  initContainers:
    - {name: a2, image: x}
"""
    findings, _ = scan(text, only=["KH-POD-017", "KH-POD-018"])
    assert [(f.control.id, f.container) for f in findings] == [("KH-POD-018", "b"), ("KH-POD-018", "a2")]
    findings, _ = scan(pod("""
os: {name: windows}
containers: [{name: w, image: x}]
"""), only=["KH-POD-011", "KH-POD-012", "KH-POD-016", "KH-POD-017"])
    assert not findings


def test_every_pod_bearing_kind_is_normalised():
    container = "containers: [{name: c, image: x, securityContext: {privileged: true}}]"
    docs = {
        "Deployment": f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d}}\nspec:\n  template:\n"
                      f"    spec:\n      {container}\n",
        "StatefulSet": f"apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: s}}\nspec:\n  template:\n"
                       f"    spec:\n      {container}\n",
        "DaemonSet": f"apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: ds}}\nspec:\n  template:\n"
                     f"    spec:\n      {container}\n",
        "ReplicaSet": f"apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {{name: rs}}\nspec:\n  template:\n"
                      f"    spec:\n      {container}\n",
        "ReplicationController": f"apiVersion: v1\nkind: ReplicationController\nmetadata: {{name: rc}}\nspec:\n"
                                 f"  template:\n    spec:\n      {container}\n",
        "Job": f"apiVersion: batch/v1\nkind: Job\nmetadata: {{name: j}}\nspec:\n  template:\n    spec:\n"
               f"      {container}\n",
        "CronJob": f"apiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: cj}}\nspec:\n  jobTemplate:\n"
                   f"    spec:\n      template:\n        spec:\n          {container}\n",
        "PodTemplate": f"apiVersion: v1\nkind: PodTemplate\nmetadata: {{name: pt}}\ntemplate:\n  spec:\n"
                       f"    {container}\n",
        "Pod": f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  {container}\n",
    }
    for kind, text in docs.items():
        findings, _ = scan(text, only=["KH-POD-004"])
        assert [f.resource.kind for f in findings] == [kind], kind
        line = text.splitlines().index(next(ln for ln in text.splitlines() if "privileged" in ln)) + 1
        assert findings[0].line == line, kind


def test_custom_resources_that_reuse_a_kind_name_are_evaluated_as_custom_resources():
    # Not an apps/v1 Deployment: evaluated because its spec.template has the pod-template shape, and said so.
    text = "apiVersion: example.com/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n" \
           "      containers: [{name: c, image: x, securityContext: {privileged: true}}]\n"
    findings, result = scan(text, only=["KH-POD-004"])
    assert [f.resource.api_version for f in findings] == ["example.com/v1"] and result.kinds["Deployment"] == 1
    assert [p.kind for p in result.problems] == ["pod-template"]


def test_findings_point_at_the_offending_line():
    text = pod("""
containers:
  - name: a
    image: registry.example.com/a:1
    securityContext:
      runAsUser: 1000
      capabilities:
        add: [SYS_ADMIN]
""")
    findings, _ = scan(text, only=["KH-POD-013"])
    assert findings[0].line == text.splitlines().index("          add: [SYS_ADMIN]") + 1


@pytest.mark.parametrize("path,sensitive", [
    ("/var/run/docker.sock", True), ("/run/containerd/containerd.sock", True), ("/", True),
    ("/etc/kubernetes/pki", True), ("/var/lib/kubelet/pods", True), ("/proc", True),
    ("/srv/data", False), ("/data", False), ("/etcd-backup", False), ("/opt/app", False),
    ("/etc/ssl/certs", False), ("/dev/log", False), ("/sys/fs/cgroup", True), ("/var/log", True),
    ("/var/run/crio/crio.sock", True), ("/tmp/podman.sock", True),
])
def test_sensitive_host_paths(path, sensitive):
    assert (sensitive_reason(path) is not None) is sensitive


def test_host_path_allowlist_and_read_only():
    text = pod("""
containers:
  - name: a
    image: x
    volumeMounts:
      - {name: logs, mountPath: /logs, readOnly: true}
      - {name: data, mountPath: /data}
volumes:
  - {name: logs, hostPath: {path: /srv/logs/app}}
  - {name: data, hostPath: {path: /srv/data}}
""")
    findings, _ = scan(text, {"allowed_host_paths": ["/srv/logs"]}, only=["KH-POD-007", "KH-POD-008"])
    assert sorted((f.control.id, "data" in f.message) for f in findings) == [("KH-POD-007", True),
                                                                            ("KH-POD-008", True)]


def test_capabilities_split_between_dangerous_and_extra():
    findings, _ = scan(pod("""
containers:
  - {name: a, image: x, securityContext: {capabilities: {drop: [all], add: [CAP_NET_RAW, CHOWN, NET_BIND_SERVICE]}}}
"""), only=["KH-POD-012", "KH-POD-013", "KH-POD-014"])
    assert messages(findings, "KH-POD-013") == ["capabilities.add grants NET_RAW, beyond the runtime's default set"]
    assert messages(findings, "KH-POD-014") == ["capabilities.add grants CHOWN; only NET_BIND_SERVICE may be added"]
    assert not messages(findings, "KH-POD-012")


def test_allow_privilege_escalation_false_is_undone_by_privileged():
    findings, _ = scan(pod("""
containers:
  - {name: a, image: x, securityContext: {allowPrivilegeEscalation: false, privileged: true}}
"""), only=["KH-POD-011"])
    assert "privileged" in messages(findings, "KH-POD-011")[0]


@pytest.mark.parametrize("image,expected", [
    ("nginx", ("docker.io", "library/nginx", None, None)),
    ("nginx:1.25", ("docker.io", "library/nginx", "1.25", None)),
    ("bitnami/redis:7", ("docker.io", "bitnami/redis", "7", None)),
    ("localhost:5000/app", ("localhost:5000", "app", None, None)),
    ("ghcr.io/org/app:v1@sha256:abc", ("ghcr.io", "org/app", "v1", "sha256:abc")),
    ("registry.k8s.io/pause@sha256:def", ("registry.k8s.io", "pause", None, "sha256:def")),
])
def test_image_reference_parsing(image, expected):
    assert tuple(parse_image(image)) == expected


def test_registry_allowlist_is_path_aware():
    assert registry_allowed("ghcr.io/acme/app:1", ("ghcr.io/acme",))
    assert not registry_allowed("ghcr.io/acme-evil/app:1", ("ghcr.io/acme",))
    assert registry_allowed("nginx:1", ("docker.io/library",))
    assert not registry_allowed("evil.io/registry.example.com/app", ("registry.example.com",))


def test_limits_imply_requests():
    findings, _ = scan(pod("""
containers:
  - {name: a, image: x, resources: {limits: {cpu: 1, memory: 1Gi}}}
  - {name: b, image: x, resources: {requests: {cpu: 1}}}
"""), only=["KH-RES-001"])
    assert [(f.container, f.message.split(" and ")[0]) for f in findings] == [("b", "no memory request")]


def test_pull_policy_defaults():
    findings, _ = scan(pod("""
containers:
  - {name: latest, image: "r.io/a:latest"}
  - {name: tagged, image: "r.io/a:1"}
  - {name: always, image: "r.io/a:1", imagePullPolicy: Always}
  - {name: digest, image: "r.io/a@sha256:0", imagePullPolicy: IfNotPresent}
"""), only=["KH-IMG-004"])
    assert by_container(findings, "KH-IMG-004") == ["tagged"]


def test_service_account_token_across_files_and_namespaces():
    text = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: app, namespace: a}
automountServiceAccountToken: false
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: uses-sa, namespace: a}
spec: {template: {spec: {serviceAccountName: app, containers: [{name: c, image: x}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: other-ns, namespace: b}
spec: {template: {spec: {serviceAccountName: app, containers: [{name: c, image: x}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: forces-it, namespace: a}
spec: {template: {spec: {serviceAccountName: app, automountServiceAccountToken: true, containers: [{name: c, image: x}]}}}
"""
    findings, result = scan(text, only=["KH-POD-024"])
    assert sorted(f.resource.name for f in findings) == ["forces-it", "other-ns"]
    assert result.tally.evaluated["KH-POD-024"] == 3 and result.tally.failed["KH-POD-024"] == 2


def test_namespace_placement():
    findings, _ = scan(pod("containers: [{name: a, image: x}]").replace("namespace: shop", "namespace: kube-system"),
                       {"system_workloads": ["kube-system/coredns*"]}, only=["KH-NS-001"])
    assert ids(findings) == {"KH-NS-001"}
    findings, _ = scan(pod("containers: [{name: a, image: x}]").replace("name: p,", "name: coredns-1,")
                       .replace("namespace: shop", "namespace: kube-system"),
                       {"system_workloads": ["kube-system/coredns*"]}, only=["KH-NS-001"])
    assert not findings


def test_pod_security_admission_levels_follow_the_profile():
    ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n" \
         "    pod-security.kubernetes.io/enforce: baseline\n"
    assert not scan(ns, only=["KH-NS-003"])[0]
    assert messages(scan(ns, {"profile": "strict"}, only=["KH-NS-003"])[0], "KH-NS-003")
    assert messages(scan(ns.replace("baseline", "privileged"), only=["KH-NS-003"])[0], "KH-NS-003")
    assert not scan(ns.replace("name: shop", "name: kube-system"), only=["KH-NS-003"])[0]


def _pss(text):
    (obj,) = [o for o in parse_text(text, "x.yaml")]
    return evaluate(pod_view(obj))


def test_pod_security_standards_levels():
    restricted = pod("""
securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
containers:
  - {name: a, image: x, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}}}
volumes: [{name: v, csi: {driver: x}}, {name: e, ephemeral: {volumeClaimTemplate: {spec: {}}}}]
""")
    assert _pss(restricted).level == "restricted"
    default_pod = pod("containers: [{name: a, image: x}]")
    result = _pss(default_pod)
    assert result.level == "baseline" and result.restricted and not result.baseline
    assert _pss(pod("hostNetwork: true\ncontainers: [{name: a, image: x}]")).level == "privileged"
    seccomp_on_containers = pod("""
securityContext: {runAsNonRoot: true}
containers:
  - {name: a, image: x, securityContext: {seccompProfile: {type: Localhost, localhostProfile: p.json}, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}
""")
    assert _pss(seccomp_on_containers).level == "restricted"
    nfs = restricted.replace("csi: {driver: x}", "nfs: {server: s, path: /}")
    assert _pss(nfs).level == "baseline"
    sysctl = restricted.replace("securityContext: {runAsNonRoot: true,",
                                "securityContext: {sysctls: [{name: kernel.msgmax, value: '1'}], runAsNonRoot: true,")
    assert _pss(sysctl).level == "privileged"


def test_make_ref_defaults():
    ref = make_ref({"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "web-"}})
    assert (ref.name, ref.namespace) == ("web-", None)


def test_service_account_token_not_reported_where_the_plugin_adds_none():
    """The ServiceAccount admission plugin adds no token to a mirror Pod, nor where every container and init
    container mounts a volume of its own at the token path; a projected serviceAccountToken volume there is a
    token all the same, and one container left without a mount there gets the token."""
    path = "/var/run/secrets/kubernetes.io/serviceaccount"
    text = f"""
apiVersion: v1
kind: Pod
metadata: {{name: mirror, namespace: a, annotations: {{kubernetes.io/config.mirror: "0f3c"}}}}
spec: {{containers: [{{name: c, image: x}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: own-mounts, namespace: a}}
spec:
  volumes: [{{name: blank, emptyDir: {{}}}}]
  initContainers: [{{name: i, image: x, volumeMounts: [{{name: blank, mountPath: {path}}}]}}]
  containers: [{{name: c, image: x, volumeMounts: [{{name: blank, mountPath: {path}}}]}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: one-left, namespace: a}}
spec:
  volumes: [{{name: blank, emptyDir: {{}}}}]
  initContainers: [{{name: i, image: x}}]
  containers: [{{name: c, image: x, volumeMounts: [{{name: blank, mountPath: {path}}}]}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: own-token, namespace: a}}
spec:
  volumes: [{{name: tok, projected: {{sources: [{{serviceAccountToken: {{path: token}}}}]}}}}]
  containers: [{{name: c, image: x, volumeMounts: [{{name: tok, mountPath: {path}}}]}}]
"""
    findings, result = scan(text, only=["KH-POD-024"])
    assert sorted(f.resource.name for f in findings) == ["one-left", "own-token"]
    assert result.tally.evaluated["KH-POD-024"] == 4
