"""Patching (NSA-UPG-1): Kubernetes component versions against published CVEs and upstream support.

Where a version is read:

- the API server: ``cluster.version.gitVersion`` of the ``ClusterInfo`` object a live scan (and a
  snapshot of a cluster) holds, or of a snapshot's header (the ``/version`` answer,
  https://kubernetes.io/docs/reference/using-api/health-checks/ and ``version.Info``), kept by
  ``kubeharden snapshot`` (docs/snapshots.md); a snapshot that holds a ClusterInfo yields a header
  without the version, so the API server is judged once;
- kubelet and kube-proxy: a Node's ``status.nodeInfo.kubeletVersion`` and ``kubeProxyVersion``
  (Kubernetes API reference, Node v1, NodeSystemInfo; ``kubeProxyVersion`` is deprecated since
  v1.31 and may be empty, then only the kube-proxy image is judged);
- control-plane components and kube-proxy run as containers (kubeadm static Pods, the kube-proxy
  DaemonSet): the tag of their image, ``registry.k8s.io/kube-apiserver:v1.30.2``
  (https://kubernetes.io/releases/download/#container-images).

What is known about each version comes from :mod:`kubeharden.model.versions` (the dated data file).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator


from kubeharden.model.cluster import INFO_API_VERSION, INFO_KIND
from kubeharden.model.controls import NOTHING_TO_JUDGE, Violation
from kubeharden.checks.registry import check
from kubeharden.checks.context import Context
from kubeharden.model.images import parse_image
from kubeharden.model.fieldpath import join
from kubeharden.model.objects import K8sObject, as_dict
from kubeharden.model.pods import ContainerView
from kubeharden.model.versions import COMPONENTS, Advisory, Version, parse_version, version_data
from kubeharden.sources.snapshot import API_VERSION as SNAPSHOT_API_VERSION

#: The architecture suffix of single-architecture component images (``kube-proxy-amd64``), as published
#: before multi-architecture manifests (Kubernetes 1.12) and still by some vendors.
_ARCH_SUFFIX = re.compile(r"-(amd64|arm64|arm|ppc64le|s390x|386)$")
#: Components that run from their own image (kubelet runs on the host, not from an image).
IMAGE_COMPONENTS = frozenset(c for c in COMPONENTS if c != "kubelet")


class Reading:
    """One component version read from an object: where it is written, and the node's OS if known."""

    __slots__ = ("component", "version", "path", "line", "os", "field")

    def __init__(self, component: str, version: Version, path: str, line: int | None, os: str | None,
                 field: str = "") -> None:
        self.component, self.version, self.path, self.line, self.os = component, version, path, line, os
        self.field = field

    @property
    def what(self) -> str:
        """``kubelet v1.28.3 (status.nodeInfo.kubeletVersion)``; an image's container is named by the finding."""
        return f"{self.component} {self.version.text}" + (f" ({self.field})" if self.field else "")


def object_versions(obj: K8sObject) -> list[Reading]:
    """The component versions a Node, a ClusterInfo or a snapshot header states (none for other objects)."""
    if obj.kind == "Node" and obj.ref.api_version == "v1":
        info = as_dict(as_dict(obj.raw.get("status")).get("nodeInfo"))
        os = info.get("operatingSystem") if isinstance(info.get("operatingSystem"), str) else None
        out = []
        for component, key in (("kubelet", "kubeletVersion"), ("kube-proxy", "kubeProxyVersion")):
            version = parse_version(info.get(key))
            if version is not None:
                path = join("status", "nodeInfo", key)
                out.append(Reading(component, version, path, obj.line(info, key), os, path))
        return out
    if (obj.kind == "Snapshot" and obj.ref.api_version == SNAPSHOT_API_VERSION) or \
            (obj.kind == INFO_KIND and obj.ref.api_version == INFO_API_VERSION):
        info = as_dict(as_dict(obj.raw.get("cluster")).get("version"))
        version = parse_version(info.get("gitVersion"))
        if version is not None:
            path = join("cluster", "version", "gitVersion")
            return [Reading("kube-apiserver", version, path, obj.line(info, "gitVersion"), None, path)]
    return []


def image_version(c: ContainerView) -> Reading | None:
    """The component and version of a container running a Kubernetes component image, else None.

    The component is the image's last path segment (``kube-apiserver``, also under a mirror such
    as ``myregistry.example.com/k8s/kube-apiserver``, or with the architecture suffix of the images
    before Kubernetes 1.12 and of some vendors, ``k8s.gcr.io/kube-apiserver-amd64``), the version
    its tag; a tag that is not a version (``latest``, a digest only) gives None.
    """
    image = c.image
    if not image or "kube-" not in image:
        return None
    ref = parse_image(image)
    component = _ARCH_SUFFIX.sub("", ref.repository.rsplit("/", 1)[-1])
    version = parse_version(ref.tag)
    if component not in IMAGE_COMPONENTS or version is None:
        return None
    return Reading(component, version, join(c.path, "image"), c.line(c.raw, "image"), None, f"image {image}")


def _vendor_note(version: Version) -> str:
    if not version.vendor:
        return ""
    return (f" ({version.text} is a vendor build: its maintainer may have backported fixes; the upstream "
            f"release v{'.'.join(map(str, version.release))} is what is compared, so check the vendor's advisories)")


def _known(reading: Reading) -> list[Advisory]:
    found = version_data().vulnerabilities(reading.component, reading.version)
    if reading.os is None or reading.component != "kubelet":
        return found
    return [a for a in found if a.os is None or a.os == reading.os.lower()]


def _vulnerable(reading: Reading) -> Iterator[Violation]:
    found = _known(reading)
    if not found:
        return
    targets = [a.fixed_for(reading.version) for a in found]
    listed = "; ".join(f"{a.id} ({a.summary}{', Windows nodes' if a.os == 'windows' else ''}): fixed in "
                       f"{t or 'no release yet'}" for a, t in zip(found, targets, strict=True))
    same_minor = [t for t in targets if t and " " not in t]
    later = [t for t in targets if " " in t]
    if later:
        upgrade = f"upgrade {reading.component} to a supported minor release (at least {max(later, key=_key)})"
    elif same_minor:
        upgrade = f"upgrade {reading.component} to {max(same_minor, key=_key)} or later"
    else:
        upgrade = f"no fixed release of {reading.component} is known: apply the advisories' mitigations"
    yield Violation(f"{reading.what} is affected by {len(found)} published Kubernetes CVE(s): {listed}"
                    f"{_vendor_note(reading.version)}", reading.line, path=reading.path,
                    remediation=f"{upgrade}; the advisories: {', '.join(a.issue or a.id for a in found)}")


def _key(release: str) -> tuple[int, ...]:
    return tuple(int(p) for p in release.split(" ", 1)[0].removeprefix("v").split("."))


def _unsupported(reading: Reading) -> Iterator[Violation]:
    data = version_data()
    ended = data.support_ended(reading.version)
    if ended is None:
        return
    yield Violation(f"{reading.what}: Kubernetes {reading.version.minor_release} is out of upstream support "
                    f"since {ended.isoformat()} (support judged on {data.date.isoformat()}, the date of kubeharden's "
                    f"version data): it gets no more security fixes{_vendor_note(reading.version)}",
                    reading.line, path=reading.path,
                    remediation=f"upgrade {reading.component} one minor release at a time to a supported release "
                                f"(newest known: {data.newest_minor()}); https://kubernetes.io/releases/")


def _judge_objects(obj: K8sObject, judge: Callable[[Reading], Iterator[Violation]]) -> Iterator[Violation]:
    readings = object_versions(obj)
    if not readings:
        yield NOTHING_TO_JUDGE  # a Node without nodeInfo versions, a snapshot without the server's
    for reading in readings:
        yield from judge(reading)


def _judge_image(c: ContainerView, judge: Callable[[Reading], Iterator[Violation]]) -> Iterator[Violation]:
    reading = image_version(c)
    if reading is None:
        yield NOTHING_TO_JUDGE  # not a Kubernetes component, or no version in its tag
    else:
        yield from judge(reading)


@check("KH-UPG-001")
def known_vulnerability(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    return _judge_objects(obj, _vulnerable)


@check("KH-UPG-002")
def image_known_vulnerability(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    return _judge_image(c, _vulnerable)


@check("KH-UPG-003")
def out_of_support(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    return _judge_objects(obj, _unsupported)


@check("KH-UPG-004")
def image_out_of_support(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    return _judge_image(c, _unsupported)
