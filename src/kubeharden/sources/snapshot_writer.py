"""Writing snapshots: the objects of any input saved as one ``kubeharden.io/v1`` ``Snapshot`` file.

The envelope is the one :mod:`kubeharden.sources.snapshot` reads (``apiVersion``, ``kind``,
``metadata`` with ``name`` and ``creationTimestamp``, ``items``), plus:

- ``cluster``: ``context`` (the kubeconfig context it was taken from, or null), ``version`` (the
  API server's ``/version`` answer, ``version.Info``: ``gitVersion``, ``major``, ``minor`` …, or
  null when unknown), ``secretValues``: ``removed`` or ``included``, and, when the cluster refused to
  list some kinds (403, 404), ``unlisted``: ``[{apiVersion, kind, message}]``, which a scan of the
  snapshot replays as the live scan's ``unlisted`` warnings (the same controls are not assessable).

It is written as JSON, gzip-compressed, in a layout that keeps every object on a line of its own::

    {"apiVersion":"kubeharden.io/v1","kind":"Snapshot","metadata":{…},"items":[
    {object 1},
    {object 2}
    ],"cluster":{…}}

so any JSON reader (``zcat snap.json.gz | jq``) reads it as one document, while kubeharden decodes
it object by object with ``json`` and gives each object its line (``zcat snap.json.gz | sed -n Np``).

Secrets: unless values are kept on purpose, every value of a Secret's ``data`` and ``stringData``
(https://kubernetes.io/docs/concepts/configuration/secret/#restriction-names-data) is replaced by an
empty string, keeping the keys, and the ``kubectl.kubernetes.io/last-applied-configuration``
annotation (https://kubernetes.io/docs/reference/labels-annotations-taints/#kubectl-kubernetes-io-last-applied-configuration),
which repeats the whole object as last applied, values included, is dropped from Secrets.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterable
from typing import IO, Any

from kubeharden.sources.snapshot import API_VERSION, KIND, is_snapshot_header

#: The annotation ``kubectl apply`` writes with the whole applied object, Secret values included.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
#: The fields of a Secret that hold its values (core/v1 Secret, Kubernetes API reference).
SECRET_VALUE_FIELDS = ("data", "stringData")
REMOVED, INCLUDED = "removed", "included"


def header(name: str, *, context: str | None = None, version: dict[str, Any] | None = None,
           secret_values: bool = False, now: dt.datetime | None = None) -> dict[str, Any]:
    """The envelope without its items: ``{"apiVersion", "kind", "metadata", "cluster"}``.

    ``version`` is the ``/version`` answer (``version.Info``; only its string fields are kept);
    ``now`` defaults to the current time, written as RFC 3339 in UTC as Kubernetes timestamps are.
    """
    stamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    info = {k: v for k, v in version.items() if isinstance(v, str)} if isinstance(version, dict) else None
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name, "creationTimestamp": stamp},
            "cluster": {"context": context, "version": info or None,
                        "secretValues": INCLUDED if secret_values else REMOVED}}


def without_secret_values(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` unchanged unless it is a core/v1 Secret; then a copy whose values are empty strings.

    Only the Secret's ``data`` and ``stringData`` values and its last-applied annotation are
    touched; keys, type, labels and the rest stay, so checks that read them still work.
    """
    if obj.get("kind") != "Secret" or obj.get("apiVersion") != "v1":
        return obj
    out = dict(obj)
    for name in SECRET_VALUE_FIELDS:
        values = out.get(name)
        if isinstance(values, dict):
            out[name] = {key: "" for key in values}
    meta = out.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict) and LAST_APPLIED in meta["annotations"]:
        annotations = {k: v for k, v in meta["annotations"].items() if k != LAST_APPLIED}
        out["metadata"] = {**meta, "annotations": annotations}
    return out


def write(out: IO[bytes], head: dict[str, Any], objects: Iterable[dict[str, Any]]) -> int:
    """Write the envelope ``head`` with ``objects`` as gzip-compressed JSON to ``out``; the number written.

    ``head["cluster"]`` is written after the items (on the closing line), so a caller may fill it in
    while the items are read (a version that arrives with the objects). Objects are written as
    given: remove Secret values first with :func:`without_secret_values`. Snapshot headers among
    ``objects`` (a snapshot being saved again) are skipped.
    """
    count = 0
    opening = {k: v for k, v in head.items() if k != "cluster"}
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) as zipped:
        first = json.dumps({**opening, "items": []}, separators=(",", ":"), ensure_ascii=False)
        zipped.write(first[:-2].encode("utf-8") + b"\n")  # the opening line ends with "items":[
        for obj in objects:
            if is_snapshot_header(obj):
                continue
            line = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str)
            zipped.write((b",\n" if count else b"") + line.encode("utf-8"))
            count += 1
        closing = json.dumps({"cluster": head.get("cluster")}, separators=(",", ":"), ensure_ascii=False)
        zipped.write((b"\n" if count else b"") + b"]," + closing[1:].encode("utf-8") + b"\n")
    return count
