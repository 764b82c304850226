"""Catalogue examples read as their input is read, so every example runs through its real source.

A control's examples (``examples: input:`` of its catalogue entry; model/controls.py
EXAMPLE_INPUTS) are manifests, Dockerfiles, image configurations, vulnerability reports or one
component's facts on a node. An image configuration is read as a saved image: an OCI image layout,
built here in memory, whose index names it EXAMPLE_IMAGE, read by the image-archive source's own
layout reader. Facts (:func:`example_facts`) are the mapping a facts rule reads, loaded with the safe
YAML reader so that findings carry the example's lines.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

from kubeharden.model.controls import EXAMPLE_IMAGE
from kubeharden.model.facts import COMPONENTS, ComponentFacts
from kubeharden.model.findings import Problem
from kubeharden.model.objects import K8sObject
from kubeharden.sources import dockerfile, image_archive, vuln_report
from kubeharden.sources.files import parse_text
from kubeharden.sources.yamlload import load_documents

Item = K8sObject | Problem


def example_items(kind: str, text: str, beside: str = "", display: str = "test") -> Iterator[Item]:
    """The objects of one example of input ``kind`` (EXAMPLE_INPUTS), after those of ``beside``."""
    if beside.strip():
        yield from parse_text(beside, f"{display}-manifests.yaml")
    if kind == "manifest":
        yield from parse_text(text, f"{display}.yaml")
    elif kind == "etcd":
        yield from parse_text(text, f"{display}-etcd.yaml")
    elif kind == "dockerfile":
        yield from dockerfile.parse_bytes(text.encode(), f"{display}/web/Dockerfile")
    elif kind == "vuln-report":
        yield from vuln_report.parse_bytes(text.encode(), f"{display}-report.json")
    elif kind == "image-config":
        blobs = oci_layout(text.encode(), EXAMPLE_IMAGE)
        yield from image_archive.read_layout(f"{display}-image.tar", blobs.get)
    else:
        raise ValueError(f"unknown example input {kind!r}")


def example_facts(text: str, display: str = "test") -> ComponentFacts:
    """One component's facts from a ``facts`` example: a YAML mapping with ``component`` (one of
    COMPONENTS), ``node``, ``version`` and the ``settings``, ``flags`` and ``files`` mappings of
    :class:`ComponentFacts`, each optional but ``component``. Lines are the example's.

    Raises ValueError for an example that is no such mapping (a catalogue error, found by the tests).
    """
    docs = [d for d in load_documents(text) if d.data is not None or d.error is not None]
    if len(docs) != 1 or docs[0].error is not None or not isinstance(docs[0].data, dict):
        raise ValueError(f"{display}: a facts example is one YAML mapping")
    data = docs[0].data
    if data.get("component") not in COMPONENTS:
        raise ValueError(f"{display}: component must be one of {', '.join(COMPONENTS)}")
    parts = {key: data.get(key) or {} for key in ("settings", "flags", "files")}
    if not all(isinstance(part, dict) for part in parts.values()):
        raise ValueError(f"{display}: settings, flags and files are mappings")
    version = data.get("version")
    return ComponentFacts(component=data["component"], node=str(data.get("node") or "node-1"),
                          version=None if version is None else str(version), file=f"{display}-facts.yaml",
                          first_line=docs[0].line, **parts)


def oci_layout(config: bytes, reference: str) -> dict[str, bytes]:
    """The files of an OCI image layout holding one image whose configuration is ``config``, named
    ``reference`` (image-spec image-layout.md: ``oci-layout``, ``index.json``, ``blobs/sha256/…``)."""
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": config_digest, "size": len(config)},
                           "layers": []}).encode()
    manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                       "digest": manifest_digest, "size": len(manifest),
                                       "annotations": {image_archive.CONTAINERD_NAME: reference}}]}).encode()
    return {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}', "index.json": index,
            f"blobs/sha256/{config_digest[7:]}": config, f"blobs/sha256/{manifest_digest[7:]}": manifest}
