"""Saved container images (``--image-archive PATH``), read without a container engine.

Two layouts are read, as a folder or a tar archive, with Python's ``tarfile`` and ``json`` only
(layers are never opened, so a huge image costs what its small JSON documents cost):

* the OCI image layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md):
  ``oci-layout``, ``index.json`` whose manifests (or nested image indexes) point at
  ``blobs/<alg>/<hex>``; each image manifest's ``config`` is the image configuration
  (https://github.com/opencontainers/image-spec/blob/main/config.md);
* ``docker save`` archives: ``manifest.json``, a list of ``{"Config", "RepoTags", "Layers"}``
  (https://github.com/moby/moby/blob/master/image/spec/v1.2.md, "Combined Image JSON + Filesystem
  Changeset Format"); Docker 25 and later write an OCI layout beside it, read the same way.

Each image becomes an ``ImageConfig`` object (model/supply.py): its references (``RepoTags``,
the ``io.containerd.image.name`` or ``org.opencontainers.image.ref.name`` annotations), the
manifest's digest, and the configuration's ``User``, ``ExposedPorts``, ``Env`` and ``Labels``.
"""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Callable, Iterator
from typing import Any

from kubeharden.model.findings import Problem
from kubeharden.model.objects import K8sObject, Provenance, ResourceRef, as_dict
from kubeharden.model.supply import API_VERSION, IMAGE_CONFIG
from kubeharden.sources.files import ReadOptions
from kubeharden.sources.vuln_report import depth_of
from kubeharden.sources.yamlload import MAX_DEPTH

Item = K8sObject | Problem
SCHEME = "image-archive://"
OPTION = ("--image-archive", "PATH", "a saved image to read: an OCI image layout (folder or tar) or a docker save "
          "tar; its user, ports, environment and labels are joined to the workloads that run it "
          "(repeatable; docs/supply-chain.md)")
#: The image-spec's annotation for a reference's name, and containerd's (and Docker's) full name.
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
_INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
#: Limit on one JSON document of an archive (manifests and configurations are kilobytes).
_MAX_JSON = 16 * 1024 * 1024
_MAX_DEPTH = 4


def claims(path: str) -> bool:
    """Whether ``path`` is an input of ``--image-archive`` (``image-archive://PATH``)."""
    return path.startswith(SCHEME)


def read(path: str, options: ReadOptions) -> Iterator[Item]:
    """The ``ImageConfig`` objects of the archive or OCI layout folder at ``path`` (scheme removed),
    and a Problem naming the archive for whatever cannot be read; never raises."""
    real = path[len(SCHEME):] if claims(path) else path
    try:
        if os.path.isdir(real):
            yield from read_layout(real, _folder_reader(real, options))
        elif os.path.isfile(real):
            if os.path.getsize(real) == 0:
                yield Problem("error", "image-archive", "empty file: not an image archive", file=real)
                return
            with tarfile.open(real, "r:*") as tar:
                yield from read_layout(real, _tar_reader(tar, options))
        else:
            yield Problem("error", "read", "no such file or directory (--image-archive)", file=real)
    except (OSError, tarfile.TarError, EOFError) as exc:
        yield Problem("error", "image-archive", f"not a readable image archive: {exc}", file=real)
    except TooDeep:
        yield Problem("error", "image-archive", f"a JSON document of the archive nests deeper than {MAX_DEPTH} "
                      "levels: not read", file=real)


Reader = Callable[[str], bytes | None]


def _folder_reader(root: str, options: ReadOptions) -> Reader:
    def read_member(name: str) -> bytes | None:
        parts = name.split("/")
        if name.startswith("/") or ".." in parts:
            return None  # a layout names its own files only (blobs/…, index.json): never outside the folder
        path = os.path.join(root, *parts)
        if not os.path.isfile(path) or os.path.getsize(path) > min(_MAX_JSON, options.max_file_bytes):
            return None
        with open(path, "rb") as fh:
            return fh.read()

    return read_member


def _tar_reader(tar: tarfile.TarFile, options: ReadOptions) -> Reader:
    members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}

    def read_member(name: str) -> bytes | None:
        member = members.get(name)
        if member is None or member.size > min(_MAX_JSON, options.max_file_bytes):
            return None
        fh = tar.extractfile(member)
        return fh.read() if fh is not None else None

    return read_member


def read_layout(display: str, read_member: Reader) -> Iterator[Item]:
    """Images of one archive, whatever its layout (``read_member(name)``: a member's bytes or None)."""
    images: dict[str, dict[str, Any]] = {}  # config digest -> ImageConfig raw
    problems: list[Problem] = []
    docker = _json(read_member("manifest.json"))
    if isinstance(docker, list):
        for entry in docker:
            if isinstance(entry, dict) and isinstance(entry.get("Config"), str):
                name = entry["Config"]
                image = _image(display, read_member, _digest_of_path(name), name, problems)
                if image is not None:
                    known = images.setdefault(image["config_digest"], image)
                    tags = [str(t) for t in entry.get("RepoTags") or () if isinstance(t, str)]
                    known["references"] = _unique(known["references"] + tags)
    index = _json(read_member("index.json"))
    if isinstance(index, dict):
        for image in _from_index(display, read_member, index, (), 0, problems):
            known = images.setdefault(image["config_digest"], image)
            if known is not image:
                known["references"] = _unique(known["references"] + image["references"])
                known["digest"] = known["digest"] or image["digest"]
    yield from problems
    if not images and not problems:
        yield Problem("error", "image-archive", "neither an OCI image layout (index.json) nor a docker save "
                      "archive (manifest.json): no image found", file=display)
    for config_digest, raw in images.items():
        name = raw["references"][0] if raw["references"] else (raw["digest"] or config_digest)
        # no metadata.name: one image saved in two archives is the same image, not an object defined twice
        raw["metadata"] = {}
        yield K8sObject(raw=raw, ref=ResourceRef(API_VERSION, IMAGE_CONFIG, None, name),
                        origin=Provenance(display, None, "image-archive"))


def _from_index(display: str, read_member: Reader, index: dict[str, Any], names: tuple[str, ...], depth: int,
                problems: list[Problem]) -> Iterator[dict[str, Any]]:
    for descriptor in index.get("manifests") or ():
        if not isinstance(descriptor, dict) or not isinstance(descriptor.get("digest"), str):
            continue
        annotations = as_dict(descriptor.get("annotations"))
        # ref.name may be a whole reference or only a tag (image-spec annotations.md); a tag alone names nothing
        own = tuple(str(annotations[k]) for k in (CONTAINERD_NAME, REF_NAME) if isinstance(annotations.get(k), str)
                    and (k == CONTAINERD_NAME or "/" in annotations[k] or ":" in annotations[k]))
        digest = descriptor["digest"]
        document = _json(read_member(_blob_path(digest)))
        if not isinstance(document, dict):
            problems.append(Problem("error", "image-archive", f"manifest {digest} is missing or not JSON",
                                    file=display))
            continue
        if descriptor.get("mediaType") in _INDEX_TYPES or document.get("mediaType") in _INDEX_TYPES:
            if depth < _MAX_DEPTH:
                yield from _from_index(display, read_member, document, names + own, depth + 1, problems)
            continue
        config = as_dict(document.get("config"))
        config_digest = config.get("digest")
        if not isinstance(config_digest, str):
            problems.append(Problem("error", "image-archive", f"manifest {digest} has no config", file=display))
            continue
        image = _image(display, read_member, config_digest, _blob_path(config_digest), problems)
        if image is not None:
            image["digest"] = digest.lower()
            image["references"] = _unique(list(names + own))
            yield image


def _image(display: str, read_member: Reader, config_digest: str, member: str,
           problems: list[Problem]) -> dict[str, Any] | None:
    document = _json(read_member(member))
    if not isinstance(document, dict):
        problems.append(Problem("error", "image-archive", f"image configuration {member} is missing or not JSON",
                                file=display))
        return None
    config = as_dict(document.get("config"))
    env = []
    for entry in config.get("Env") or ():
        if isinstance(entry, str):
            name, _, value = entry.partition("=")
            env.append([name, value])
    ports = config.get("ExposedPorts")
    labels = config.get("Labels")
    user = config.get("User")
    return {"apiVersion": API_VERSION, "kind": IMAGE_CONFIG, "references": [], "digest": None,
            "config_digest": config_digest.lower(), "user": user if isinstance(user, str) else "",
            "exposed_ports": sorted(str(p) for p in ports) if isinstance(ports, dict) else [],
            "env": env, "labels": {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
            "archive": display}


class TooDeep(Exception):
    """A JSON document of the archive nests deeper than MAX_DEPTH (yamlload.MAX_DEPTH): the archive is refused."""


def _json(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    except RecursionError:
        raise TooDeep from None
    if data.count(b"[") + data.count(b"{") > MAX_DEPTH and depth_of(document) > MAX_DEPTH:
        raise TooDeep
    return document


def _blob_path(digest: str) -> str:
    algorithm, _, encoded = digest.partition(":")
    return f"blobs/{algorithm}/{encoded}"


def _digest_of_path(name: str) -> str:
    """``blobs/sha256/HEX`` or ``HEX.json`` (docker save's config names) -> ``sha256:HEX``."""
    base = name.rsplit("/", 1)[-1].removesuffix(".json")
    return f"sha256:{base}"


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
