"""Kubernetes versions against the official CVE feed and upstream support (NSA-UPG-1, KH-UPG-*).

Versions as components write them: ``gitVersion`` of /version, Node ``status.nodeInfo``
(Kubernetes API reference, NodeSystemInfo), image tags of registry.k8s.io/kube-apiserver etc.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path

import pytest

from kubeharden.checks.upgrades import image_version, object_versions
from kubeharden.engine.evaluator import Evaluator
from kubeharden.model.objects import K8sObject
from kubeharden.model.pods import pod_view
from kubeharden.model.versions import parse_version, version_data
from kubeharden.sources.files import parse_text

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("build_kubernetes_versions",
                                                  ROOT / "scripts" / "build_kubernetes_versions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def objects(text: str) -> list[K8sObject]:
    return [o for o in parse_text(text, "t.yaml") if isinstance(o, K8sObject)]


def node(kubelet: str, proxy: str = "", os: str = "linux") -> str:
    return f"""apiVersion: v1
kind: Node
metadata: {{name: n1}}
status:
  nodeInfo:
    kubeletVersion: {kubelet}
    kubeProxyVersion: "{proxy}"
    operatingSystem: {os}
"""


def findings(text: str, controls: list[str]) -> list:
    ev = Evaluator(only=controls)
    return list(ev.run(objects(text)))


@pytest.mark.parametrize(("text", "release", "prerelease", "vendor"), [
    ("v1.28.3", (1, 28, 3), False, False),
    ("1.28.3", (1, 28, 3), False, False),
    ("v1.29.0-rc.1", (1, 29, 0), True, False),
    ("v1.28.3-eks-4f4795d", (1, 28, 3), False, True),
    ("v1.27.8-gke.1067004", (1, 27, 8), False, True),
    ("v1.28.5+k3s1", (1, 28, 5), False, True),
])
def test_versions_as_components_write_them(text, release, prerelease, vendor):
    v = parse_version(text)
    assert v is not None and (v.release, v.prerelease, v.vendor) == (release, prerelease, vendor)


@pytest.mark.parametrize("text", ["latest", "v1.28", "", None, 128, "v1.28.x"])
def test_what_is_not_a_version(text):
    assert parse_version(text) is None


def test_range_bounds_and_the_fixed_release():
    data = version_data()
    names = lambda c, v: [a.id for a in data.vulnerabilities(c, parse_version(v))]  # noqa: E731
    assert "CVE-2024-3177" in names("kube-apiserver", "v1.29.3")
    assert "CVE-2024-3177" not in names("kube-apiserver", "v1.29.4")
    assert "CVE-2024-3177" in names("kube-apiserver", "v1.27.0")  # "<= v1.27.12": every earlier release
    assert "CVE-2024-3177" not in names("kubelet", "v1.29.3")  # another component
    [advisory] = [a for a in data.advisories["kube-apiserver"] if a.id == "CVE-2024-3177"]
    assert advisory.fixed_for(parse_version("v1.28.2")) == "v1.28.9"
    assert advisory.fixed_for(parse_version("v1.26.5")) == "v1.27.13 or a later minor release"
    # a release named alone (CVE-2019-11245 affected exactly v1.13.6 and v1.14.2)
    assert "CVE-2019-11245" in names("kubelet", "v1.14.2") and "CVE-2019-11245" not in names("kubelet", "v1.14.1")


def test_end_of_life_on_the_data_date():
    data = version_data()
    assert data.date == dt.date(2026, 11, 30)
    assert data.support_ended(parse_version("v1.34.2")) == dt.date(2026, 10, 27)
    assert data.support_ended(parse_version("v1.35.0")) is None
    assert data.support_ended(parse_version("v1.16.0")) is not None  # older than every listed release
    assert data.support_ended(parse_version("v1.40.0")) is None  # newer than the data: not known


def test_windows_only_advisories_match_windows_nodes_only():
    linux = findings(node("v1.28.3"), ["KH-UPG-001"])
    windows = findings(node("v1.28.3", os="windows"), ["KH-UPG-001"])
    assert "CVE-2023-5528" not in linux[0].message and "CVE-2024-10220" in linux[0].message
    assert "CVE-2023-5528" in windows[0].message


def test_node_findings_name_the_field_line_and_fix():
    [kubelet, proxy] = findings(node("v1.28.3-eks-4f4795d", "v1.18.3"), ["KH-UPG-001"])
    assert kubelet.path == "status.nodeInfo.kubeletVersion" and kubelet.line == 6
    assert "vendor build" in kubelet.message and "v1.28.12" in kubelet.remediation
    assert proxy.path == "status.nodeInfo.kubeProxyVersion" and "CVE-2020-8558" in proxy.message
    assert "v1.18.4" in proxy.remediation


def test_empty_kube_proxy_version_is_not_read():
    [obj] = objects(node("v1.35.0", ""))
    assert [r.component for r in object_versions(obj)] == ["kubelet"]


def test_out_of_support_reports_each_component():
    found = findings(node("v1.30.14", "v1.30.14"), ["KH-UPG-003"])
    assert [f.path for f in found] == ["status.nodeInfo.kubeletVersion", "status.nodeInfo.kubeProxyVersion"]
    assert "since 2025-06-28" in found[0].message


def test_another_groups_snapshot_kind_is_not_read():
    [obj] = objects("apiVersion: longhorn.io/v1beta2\nkind: Snapshot\nmetadata: {name: s}\n"
                    "cluster: {version: {gitVersion: v1.20.0}}\n")
    assert object_versions(obj) == []


@pytest.mark.parametrize(("image", "component"), [
    ("registry.k8s.io/kube-apiserver:v1.27.2", "kube-apiserver"),
    ("mirror.example.com/k8s/kube-scheduler:v1.27.2", "kube-scheduler"),
    ("registry.k8s.io/kube-proxy:v1.27.2@sha256:" + "a" * 64, "kube-proxy"),
    ("k8s.gcr.io/kube-apiserver-amd64:v1.11.3", "kube-apiserver"),  # single-architecture images before 1.12
    ("602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/kube-proxy:v1.29.0-minimal-eksbuild.3", "kube-proxy"),
    ("registry.k8s.io/kube-apiserver@sha256:" + "a" * 64, None),  # no tag: no version to compare
    ("registry.k8s.io/kube-apiserver:latest", None),
    ("example.com/kube-apiserver-proxy:v1.27.2", None),  # another program
    ("registry.k8s.io/kubelet:v1.27.2", None),  # the kubelet runs on the host, not from an image
])
def test_component_images(image, component):
    [obj] = objects(f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n"
                    f"    - name: c\n      image: \"{image}\"\n")
    reading = image_version(pod_view(obj).containers[0])
    assert (reading.component if reading else None) == component


def test_the_data_file_is_built_from_the_saved_feed():
    script = _script()
    feed = json.loads((ROOT / "scripts" / "data" / "official-cve-feed.json").read_text())
    releases = json.loads((ROOT / "scripts" / "data" / "kubernetes-releases.json").read_text())
    data, notes = script.build(feed, releases)
    assert notes == []
    current = (ROOT / "src" / "kubeharden" / "model" / "kubernetes_versions.json").read_text()
    assert script.render(data) == current, "stale: python3 scripts/build_kubernetes_versions.py"


def test_the_build_reads_the_advisory_sections_and_says_what_it_cannot():
    script = _script()
    item = {"id": "CVE-0000-0001", "summary": "Something on Windows nodes", "content_text": (
        "### Am I vulnerable?\n#### Affected Versions\n- kubelet v1.30.0 - v1.30.2\n- kubelet < v1.29.0\n"
        "- kubelet v1.29.5\n- ingress-nginx v1.9.0\n#### Fixed Versions\n- kubelet v1.30.3\n\n### Detection\n"
        "- kubelet v9.9.9 - v9.9.9 is not in a version section\n")}
    entry, unread = script.parse_item(item)
    assert entry["components"]["kubelet"] == {"affected": [["1.30.0", "1.30.2"], [None, "1.28.999"], ["1.29.5", "1.29.5"]],
                                              "fixed": ["1.30.3"]}
    assert entry["os"] == "windows"
    assert unread == ["- ingress-nginx v1.9.0"]
    none, _ = script.parse_item({"id": "CVE-0000-0002", "content_text": "#### Affected Versions\n- ingress-nginx v1.9.0\n"})
    assert none is None


def test_what_holds_no_version_is_not_applicable_never_a_pass():
    manifest = ("apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n---\n"
                "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n"
                "    - {name: web, image: registry.example.com/web:1.0}\n")
    ev = Evaluator(only=["KH-UPG-001", "KH-UPG-002", "KH-UPG-003", "KH-UPG-004"])
    assert list(ev.run(objects(manifest))) == []
    assert set(ev.result.control_status().values()) == {"not-applicable"}
    ev = Evaluator(only=["KH-UPG-001", "KH-UPG-002"])
    list(ev.run(objects(node("v1.35.0") + "---\n" + "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
                        "  containers:\n    - {name: c, image: registry.k8s.io/kube-proxy:v1.35.0}\n")))
    assert ev.result.control_status() == {"KH-UPG-001": "pass", "KH-UPG-002": "pass"}
