"""The supply chain's objects: Dockerfiles, image configurations and vulnerability reports.

The sources for these inputs (``sources/dockerfile.py``, ``sources/image_archive.py``,
``sources/vuln_report.py``) turn each into a :class:`~kubeharden.model.objects.K8sObject` of the
group ``kubeharden.io`` (never sent to an API server), so the engine, suppressions and reporters
treat them as they treat manifests. Their shapes (``raw``):

* ``Dockerfile``: ``{"stages": [{"index", "name", "base", "base_line", "from_stage",
  "instructions": [{"instruction", "value", "line", "flags"}]}]}``; the last stage is the image.
* ``ImageConfig``: ``{"references": [image names the archive tags it with], "digest": "sha256:…"
  (the manifest's digest) or None, "config_digest", "user", "exposed_ports", "env": [["NAME",
  "value"], ...], "labels": {...}, "archive": path}`` (OCI image spec, config ``config.User`` …).
* ``VulnerabilityReport``: ``{"format", "references": [image names], "digests": ["sha256:…"],
  "vulnerabilities": [{"id", "severity", "package", "installed", "fixed", "title"}]}``.

This module also holds the facts about an image's user that several parts judge by.
"""

from __future__ import annotations

from typing import Any

from kubeharden.model.images import parse_image

#: The API group of objects kubeharden makes from inputs that are not Kubernetes objects.
API_VERSION = "kubeharden.io/v1"
DOCKERFILE = "Dockerfile"
IMAGE_CONFIG = "ImageConfig"
VULNERABILITY_REPORT = "VulnerabilityReport"
#: The digests a Pod owned by a listed controller runs (the cluster source drops such Pods, sources/cluster.py):
#: ``{"metadata": {name, namespace}, "owners": [[kind, name], ... up to the top controller],
#: "running": [[list_name, container, "sha256:…"], ...]}``.
RUNNING_IMAGES = "RunningImages"
SUPPLY_KINDS = frozenset({DOCKERFILE, IMAGE_CONFIG, VULNERABILITY_REPORT, RUNNING_IMAGES})
#: Workload controllers whose Pods run what they declare ("Owners and Dependents").
CONTROLLER_KINDS = ("CronJob", "Deployment", "StatefulSet", "DaemonSet", "ReplicationController", "Job",
                    "ReplicaSet")

#: Severities of vulnerability reports, most severe first (CVSS v3 qualitative ratings, which
#: Trivy, Grype, CycloneDX and SPDX all use; "negligible" is Grype's, "none"/"info" CycloneDX's).
VULN_SEVERITIES = ("critical", "high", "medium", "low", "negligible", "info", "none", "unknown")


def root_user_reason(user: str | None) -> str | None:
    """Why an image whose ``USER`` (Dockerfile) or ``config.User`` (OCI image config) is ``user``
    runs as root, or None when it names another user and group.

    ``user`` is ``user``, ``uid``, ``user:group``, ``uid:gid`` and so on (OCI image-spec, config.md,
    ``User``; Dockerfile reference, ``USER``). An empty or missing user runs as UID 0: the
    runtime's default (Kubernetes docs, "Configure a Security Context": without ``runAsUser`` the
    image's user applies). A primary group 0 gives the process the root group.
    """
    text = (user or "").strip()
    if not text:
        return "no USER is set, so the image runs as root (UID 0)"
    name, _, group = text.partition(":")
    if _is_zero(name):  # "00" is UID 0 as well: the runtime parses the number
        return f"the user is {text!r}, root (UID 0)"
    if _is_zero(group):
        return f"the user is {text!r}, whose primary group is 0 (root)"
    return None


def _is_zero(part: str) -> bool:
    return part == "root" or (part.isdigit() and int(part) == 0)


def runs_as(user: str | None) -> str:
    """"runs as root" for a root (or empty) user, "runs with the root group" for a non-root user whose
    primary group is 0 (root_user_reason says why)."""
    name = (user or "").strip().partition(":")[0]
    return "runs with the root group (GID 0)" if name and not _is_zero(name) else "runs as root"


def numeric_user(user: str | None) -> int | None:
    """The UID of ``user`` when it is numeric (``1000`` or ``1000:1000``), else None.

    The kubelet can only verify ``runAsNonRoot`` against a numeric image user: with a user name
    it refuses to start the container unless ``runAsUser`` is set (Kubernetes API reference,
    SecurityContext ``runAsNonRoot``).
    """
    name = (user or "").strip().partition(":")[0]
    return int(name) if name.isdigit() else None


def image_keys(reference: str) -> tuple[str, ...]:
    """The keys under which an image reference is joined: its digest, and its normalised name with
    the tag (``docker.io/library/nginx:1.27``; ``:latest`` when none is written, as runtimes pull it).

    Vulnerability reports, archives and workloads are joined by these: the same digest, or the
    same registry, repository and tag (model/images.py resolves Docker Hub's short names).
    """
    if not reference:
        return ()
    ref = parse_image(reference)
    keys = [f"{ref.full_name}:{ref.tag or 'latest'}"] if ref.tag or not ref.digest else []
    if ref.digest:
        keys.insert(0, ref.digest.lower())
    return tuple(keys)


def digest_of_image_id(image_id: str) -> str | None:
    """The digest in a container status ``imageID`` (``docker-pullable://nginx@sha256:…``,
    ``sha256:…``), or None (Kubernetes API reference, ContainerStatus ``imageID``)."""
    text = image_id.strip()
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    elif "://" in text:
        text = text.split("://", 1)[1]
    return text.lower() if text.startswith("sha256:") and len(text) == 71 else None


def as_text(value: Any) -> str:
    """A report field as text ('' for None)."""
    return "" if value is None else str(value)
