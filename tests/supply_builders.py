"""Saved images and vulnerability reports built in Python by the tests, in their published formats.

- OCI image layout: https://github.com/opencontainers/image-spec/blob/main/image-layout.md
  (``oci-layout``, ``index.json``, ``blobs/sha256/<hex>``; manifests: manifest.md; configuration:
  config.md; image indexes: image-index.md);
- ``docker save``: ``manifest.json`` with ``Config``, ``RepoTags``, ``Layers``
  (https://github.com/moby/moby/blob/master/image/spec/v1.2.md);
- Trivy JSON: https://trivy.dev/latest/docs/configuration/reporting/#json;
- Grype JSON: https://github.com/anchore/grype#supported-output-formats.
No container engine is needed: the archives are written with ``tarfile``.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

DIGEST = "sha256:" + "ab" * 32


def image_config(user: str = "", env: list[str] | None = None, ports: list[str] | None = None,
                 labels: dict[str, str] | None = None) -> bytes:
    """An OCI image configuration (config.md) with ``config.User``, ``Env``, ``ExposedPorts``, ``Labels``."""
    config: dict[str, Any] = {"Env": env or ["PATH=/usr/local/bin:/usr/bin"]}
    if user:
        config["User"] = user
    if ports:
        config["ExposedPorts"] = {p: {} for p in ports}
    if labels:
        config["Labels"] = labels
    return json.dumps({"architecture": "amd64", "os": "linux", "config": config,
                       "rootfs": {"type": "layers", "diff_ids": []}}).encode()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def oci_files(config: bytes, names: dict[str, str] | None = None, nested: bool = False) -> tuple[dict[str, bytes], str]:
    """The files of an OCI layout holding one image, and the image manifest's digest.

    ``names``: annotations of the index entry (``io.containerd.image.name``,
    ``org.opencontainers.image.ref.name``); ``nested``: the top index points at an image index
    (a multi-platform image) that points at the manifest.
    """
    layer = b"not a real layer"
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _digest(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": _digest(layer),
                    "size": len(layer)}]}).encode()
    files = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}', f"blobs/sha256/{_digest(config)[7:]}": config,
             f"blobs/sha256/{_digest(manifest)[7:]}": manifest, f"blobs/sha256/{_digest(layer)[7:]}": layer}
    entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": _digest(manifest),
             "size": len(manifest), "platform": {"architecture": "amd64", "os": "linux"}}
    if nested:
        inner = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                            "manifests": [entry]}).encode()
        files[f"blobs/sha256/{_digest(inner)[7:]}"] = inner
        entry = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": _digest(inner),
                 "size": len(inner)}
    if names:
        entry["annotations"] = names
    files["index.json"] = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                      "manifests": [entry]}).encode()
    return files, _digest(manifest)


def docker_save_files(config: bytes, tags: list[str]) -> dict[str, bytes]:
    """The files of a ``docker save`` archive (the classic layout, before Docker 25)."""
    hexdigest = _digest(config)[7:]
    return {f"{hexdigest}.json": config, "layer0/layer.tar": b"",
            "manifest.json": json.dumps([{"Config": f"{hexdigest}.json", "RepoTags": tags,
                                          "Layers": ["layer0/layer.tar"]}]).encode()}


def write_tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def trivy_report(image: str, vulns: list[tuple[str, str, str, str, str]], digests: tuple[str, ...] = ()) -> str:
    """A Trivy JSON report (schema 2) of ``image``: vulns are (ID, SEVERITY, package, installed, fixed)."""
    return json.dumps({
        "SchemaVersion": 2, "ArtifactName": image, "ArtifactType": "container_image",
        "Metadata": {"RepoTags": [image], "RepoDigests": [f"{image.rsplit(':', 1)[0]}@{d}" for d in digests]},
        "Results": [{"Target": f"{image} (debian 12.8)", "Class": "os-pkgs", "Type": "debian",
                     "Vulnerabilities": [{"VulnerabilityID": i, "Severity": s, "PkgName": p, "InstalledVersion": v,
                                          "FixedVersion": f, "Title": f"{p}: flaw"} for i, s, p, v, f in vulns]}]})


def grype_report(image: str, vulns: list[tuple[str, str, str, str, str]], digest: str = "") -> str:
    """A Grype JSON report of ``image``: vulns are (ID, Severity, package, installed, fixed)."""
    target: dict[str, Any] = {"userInput": image, "tags": [image]}
    if digest:
        target["manifestDigest"] = digest
    return json.dumps({
        "matches": [{"vulnerability": {"id": i, "severity": s, "fix": {"versions": [f] if f else [],
                                                                      "state": "fixed" if f else "not-fixed"}},
                     "artifact": {"name": p, "version": v}} for i, s, p, v, f in vulns],
        "source": {"type": "image", "target": target}, "descriptor": {"name": "grype"}})
