"""hostPath paths are compared in their normal form (the kernel's view), never as spelled."""

from __future__ import annotations

import pytest

from kubeharden.model.facts import normalize_host_path

from conftest import ids, scan

POD = """
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: app}
spec:
  containers:
  - name: c
    image: registry.example/app:1
    volumeMounts: [{name: host, mountPath: /host, readOnly: true}]
  volumes:
  - name: host
    hostPath: {path: '%s'}
"""


@pytest.mark.parametrize(("spelled", "normal"), [
    ("//etc", "/etc"), ("/etc/", "/etc"), ("/var/lib/../lib/kubelet", "/var/lib/kubelet"), ("///", "/"),
    ("/./var//run/docker.sock", "/var/run/docker.sock"), ("/proc/./1/..", "/proc"), ("relative/x", "relative/x"),
])
def test_normal_form(spelled, normal):
    assert normalize_host_path(spelled) == normal


@pytest.mark.parametrize("spelled", ["//", "/./", "//proc", "/sys/", "/var//lib/kubelet/pods", "//var/run/docker.sock",
                                     "/var/run/../run/containerd"])
def test_sensitive_paths_are_caught_however_spelled(spelled):
    findings, _ = scan(POD % spelled)
    assert "KH-POD-009" in ids(findings)


def test_allowed_host_paths_are_normalised_too():
    config = {"allowed_host_paths": ["//var/log/"]}
    assert "KH-POD-007" not in ids(scan(POD % "/var//log/app", config)[0])
    assert "KH-POD-007" in ids(scan(POD % "/var/log/../lib", config)[0])


def test_backsteps_make_the_pod_invalid():
    _, result = scan(POD % "/var/log/../../etc")
    errors = [p for p in result.problems if p.level == "error"]
    assert len(errors) == 1 and "'..'" in errors[0].message and errors[0].line == 12
