"""Snapshots: the objects of a cluster dumped to one file, read as if they were manifests.

Three shapes are read, plain or gzip-compressed (``.gz``):

- what ``kubectl get … -A -o json`` (or ``-o yaml``) writes: a ``List`` of objects
  (https://kubernetes.io/docs/reference/kubectl/#output-options; lists are unpacked as
  api-conventions.md "Lists and Simple kinds" says, by :func:`kubeharden.sources.files.unpack`);
- JSON lines: one object (or list) per line, as ``kubectl get -o json | jq -c '.items[]'`` writes;
- kubeharden's own envelope, ``{"apiVersion": "kubeharden.io/v1", "kind": "Snapshot",
  "metadata": {"name": …}, "items": [objects]}``, which names the dump.

Every object read from a snapshot has the provenance ``source="snapshot"``, the snapshot's
path as its file and the line of the object in the (decompressed) text, so a finding names
both the snapshot and the object (``zcat dump.json.gz | sed -n LINEp`` shows it).

The snapshot source claims a file named on the command line whose name ends in ``.gz``,
``.jsonl`` or ``.ndjson``. A ``Snapshot`` envelope in a plain ``.json`` or ``.yaml`` file (on the
command line or in a folder) is read by the files source and unpacked here (:func:`unpack_snapshot`),
so its items are never mistaken for one unknown object. ``--max-file-size`` limits the file and
its decompressed text alike (a gzip bomb is refused, never inflated).

An envelope written by ``kubeharden snapshot`` (:mod:`kubeharden.sources.snapshot_writer`) keeps
each object on a line of its own; it is decoded object by object with ``json`` (as JSON lines are),
streamed from the gzip file. An envelope with a ``cluster`` section (context, API server version)
also yields its *header*: the envelope without ``items``, a ``kubeharden.io/v1`` ``Snapshot``
object that the version controls read (:func:`is_snapshot_header`).
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Generator, Iterator
from functools import partial
from typing import Any

from kubeharden.model.cluster import INFO_API_VERSION, INFO_KIND
from kubeharden.model.findings import UNLISTED, Problem
from kubeharden.model.lines import line_of
from kubeharden.model.objects import K8sObject, ResourceRef
from kubeharden.sources.files import ReadOptions, mebibytes, parse_bytes, unpack
from kubeharden.sources.yamlload import MAX_DEPTH

SOURCE = "snapshot"
#: kubeharden's own API group and the envelope kind; only v1 exists.
GROUP = "kubeharden.io"
API_VERSION = f"{GROUP}/v1"
KIND = "Snapshot"
#: Names the snapshot source reads when they are given on the command line.
SUFFIXES = (".gz", ".jsonl", ".ndjson")
#: The first two bytes of every gzip member (RFC 1952, section 2.3.1).
GZIP_MAGIC = b"\x1f\x8b"

Item = K8sObject | Problem


def claims(path: str) -> bool:
    """Whether ``path`` (as given on the command line) is a snapshot: not a folder, named .gz, .jsonl or .ndjson."""
    return path != "-" and path.lower().endswith(SUFFIXES) and not os.path.isdir(path)


def is_snapshot_header(raw: Any) -> bool:
    """Whether the mapping ``raw`` is a snapshot's header: a ``kubeharden.io/v1`` ``Snapshot`` without ``items``."""
    return (isinstance(raw, dict) and raw.get("kind") == KIND and raw.get("apiVersion") == API_VERSION
            and "items" not in raw)


def read(path: str, options: ReadOptions) -> Iterator[Item]:
    """Objects of the snapshot file ``path``, and a Problem for everything that cannot be used.

    Never raises: unreadable, truncated or corrupt gzip, non-UTF-8 text, JSON errors and files
    (or decompressed texts) over ``options.max_file_bytes`` become problems naming the file.
    """
    if (yield from _read_written(path, options)):
        return
    data = yield from _load(path, options.max_file_bytes)
    if data is None:
        return
    if _is_json_lines(data):
        yield from _json_lines(data, path, options)
    else:
        yield from parse_bytes(data, path, source=SOURCE, shallow_kind=options.shallow_kind,
                               namespace=options.namespace)


def unpack_snapshot(obj: K8sObject, options: ReadOptions) -> Iterator[Item]:
    """The items of a ``kubeharden.io/v1`` ``Snapshot`` envelope, each with snapshot provenance.

    ``obj`` is the envelope as any source read it. An object of another API group that happens
    to be called ``Snapshot`` (a custom resource) is passed through unchanged. An unknown version
    of the envelope, ``items`` that is not a list and a snapshot nested in a snapshot are errors;
    an empty snapshot is a note, so that nothing read is never silent. A *header* (no ``items``, a
    ``cluster`` section: what this source yields after a snapshot's items, or what a live source
    knows about its cluster) is passed through for the version controls.
    """
    if _group(obj) != GROUP or (is_snapshot_header(obj.raw) and isinstance(obj.raw.get("cluster"), dict)):
        yield obj  # another group's Snapshot, or a header: what a source knows about its cluster, no items
        return
    file, line = obj.origin.file, obj.origin.line
    if obj.ref.api_version != API_VERSION:
        yield Problem("error", "invalid-object", f"{KIND} {obj.ref.api_version}: unknown snapshot version "
                      f"(kubeharden reads {API_VERSION}); skipped", file=file, line=line)
        return
    items = obj.raw.get("items")
    if items is None or items == []:
        yield Problem("note", "skipped", f"{KIND} {obj.name or '(unnamed)'} holds no object", file=file, line=line)
        return
    if not isinstance(items, list):
        yield Problem("error", "invalid-object", f"{KIND}.items is not a list; skipped", file=file,
                      line=line_of(obj.raw, "items") or line)
        return
    info_seen = False
    for item in items:
        for found in _item(item, file or "<snapshot>", line_of(item) or line or 1, options):
            info_seen |= _is_info(found)
            yield found
    yield from _header(obj.raw, file or "<snapshot>", line or 1, info_seen)


def _item(item: Any, file: str, line: int, options: ReadOptions) -> Iterator[Item]:
    """The objects of one item of an envelope; a snapshot inside it is an error."""
    for found in unpack(item, file, line, SOURCE, namespace=options.namespace):
        if isinstance(found, K8sObject) and found.kind == KIND and _group(found) == GROUP:
            yield Problem("error", "invalid-object", f"a {KIND} inside a {KIND} is not read; skipped",
                          file=found.origin.file, line=found.origin.line)
        else:
            yield found


def _header(envelope: dict[str, Any], file: str, line: int, info_seen: bool = False) -> Iterator[Item]:
    """The envelope without its items, when it says something about the cluster (``cluster:``).

    The kinds the cluster refused to list when the snapshot was taken (``cluster.unlisted``) come back
    as the ``unlisted`` warnings a live scan gives, so the same controls are not assessable offline.
    When the snapshot holds a ClusterInfo (``info_seen``), that object states the API server's version:
    the header is yielded without it, so the version is judged once.
    """
    cluster = envelope.get("cluster")
    if not isinstance(cluster, dict):
        return
    for entry in cluster.get("unlisted") or ():
        if isinstance(entry, dict) and isinstance(entry.get("kind"), str):
            given = entry.get("apiVersion")
            api_version = given if isinstance(given, str) else "v1"
            message = entry.get("message") if isinstance(entry.get("message"), str) else \
                f"{entry['kind']} could not be listed when the snapshot was taken"
            yield Problem("warning", UNLISTED, f"{message} (recorded in the snapshot)", file=file,
                          resource=ResourceRef(api_version, entry["kind"], None, ""))
    head = {k: v for k, v in envelope.items() if k != "items"}
    if info_seen and cluster.get("version"):
        head["cluster"] = {**cluster, "version": None}
    yield from unpack(head, file, line, SOURCE)


def _is_info(item: Any) -> bool:
    return isinstance(item, K8sObject) and item.kind == INFO_KIND and item.ref.api_version == INFO_API_VERSION


def _read_written(path: str, options: ReadOptions) -> Generator[Item, None, bool]:
    """Read ``path`` if it is laid out as ``kubeharden snapshot`` writes it; False (nothing read) if not.

    The first line opens the envelope and ends with ``"items":[``; each following line is one
    object (with a trailing comma but for the last); the last line closes the items and the
    envelope, with the rest of the envelope between (``],"cluster":{…}}``). The file is streamed,
    never held whole; ``options.max_file_bytes`` limits its decompressed text.
    """
    limit = options.max_file_bytes
    try:
        with open(path, "rb") as raw_file:
            zipped = raw_file.read(len(GZIP_MAGIC)) == GZIP_MAGIC
            raw_file.seek(0)
            with (gzip.GzipFile(fileobj=raw_file) if zipped else raw_file) as fh:
                first = fh.readline(64 * 1024)
                head = _written_header(first)
                if head is None:
                    return False
                size, number, ended, closing, info_seen = len(first), 1, False, 1, False
                while raw := fh.readline(max(limit - size, 0) + 1):  # a line without end never outgrows the limit
                    number += 1
                    size += len(raw)
                    if size > limit:
                        what = "decompressed snapshot" if zipped else "file"
                        yield Problem("error", "too-large", f"{what} is over the {mebibytes(limit)} limit "
                                      "(--max-file-size); the rest is skipped", file=path, line=number)
                        return True
                    text = raw.strip()
                    if text.startswith(b"]"):
                        ended, closing = True, number
                        yield from _closing(text, head, path, number)
                    elif text and not ended:
                        for found in _written_item(text.removesuffix(b","), path, number, options):
                            info_seen |= _is_info(found)
                            yield found
                    elif text:
                        yield Problem("error", "parse", "text after the end of the snapshot; ignored", file=path,
                                      line=number)
                        break
    except FileNotFoundError:
        return False
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        yield Problem("error", "read", f"not a valid gzip file ({exc or 'truncated'}); the rest is skipped",
                      file=path)
        return True
    except OSError as exc:
        yield Problem("error", "read", f"cannot read: {exc.strerror or exc}", file=path)
        return True
    if not ended:
        yield Problem("error", "read", "the snapshot ends early (no closing ]): it was cut off; what was read "
                      "is checked", file=path, line=number)
    yield from _header(head, path, closing, info_seen)  # the cluster section is on the closing line
    return True


def _written_header(first: bytes) -> dict[str, Any] | None:
    """The envelope (without items) when ``first`` is the opening line of a written snapshot, else None."""
    text = first.rstrip()
    if not text.endswith(b'"items":['):
        return None
    try:
        head = json.loads(text + b"]}")
    except (ValueError, RecursionError):
        return None
    if not isinstance(head, dict) or head.get("kind") != KIND or head.get("apiVersion") != API_VERSION \
            or head.get("items") != []:
        return None
    del head["items"]
    return head


def _closing(text: bytes, head: dict[str, Any], path: str, number: int) -> Iterator[Problem]:
    """Merge the envelope's fields after the items (``],"cluster":{…}}`` or ``]}``) into ``head``."""
    try:
        rest = json.loads(b'{"items":[' + text)
    except (ValueError, RecursionError) as exc:
        yield Problem("error", "parse", f"the closing line of the snapshot is not JSON ({exc}); its cluster "
                      "section is not read", file=path, line=number)
        return
    if isinstance(rest, dict):
        head.update({k: v for k, v in rest.items() if k != "items"})


def _written_item(text: bytes, path: str, number: int, options: ReadOptions) -> Iterator[Item]:
    """The object on line ``number`` of a written snapshot, checked as a JSON line is."""
    for doc in _decode_line(text, path, number):
        if isinstance(doc, Problem):
            yield doc
        else:
            yield from _item(doc, path, number, options)


def _group(obj: K8sObject) -> str:
    return obj.ref.api_version.partition("/")[0]


def _load(path: str, limit: int) -> Generator[Problem, None, bytes | None]:
    """The (decompressed) bytes of ``path``, or None after yielding the problem (a generator's return)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(GZIP_MAGIC))
            fh.seek(0)
            if head == GZIP_MAGIC:
                with gzip.GzipFile(fileobj=fh) as unzipped:
                    data = unzipped.read(limit + 1)
            else:
                data = fh.read(limit + 1)
    except FileNotFoundError:
        yield Problem("error", "read", "no such file or directory", file=path)
        return None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        yield Problem("error", "read", f"not a valid gzip file ({exc or 'truncated'}); skipped", file=path)
        return None
    except OSError as exc:
        yield Problem("error", "read", f"cannot read: {exc.strerror or exc}", file=path)
        return None
    if len(data) > limit:
        what = "decompressed snapshot" if head == GZIP_MAGIC else "file"
        yield Problem("error", "too-large", f"{what} is over the {mebibytes(limit)} limit (--max-file-size); "
                      "skipped", file=path)
        return None
    return data


def _is_json_lines(data: bytes) -> bool:
    """JSON lines: the first non-blank line is a whole JSON object on its own.

    A pretty-printed document (``kubectl -o json``) opens with a lone ``{``, which is not; a
    compact one-line document is, and reading it as one line gives the same objects.
    """
    for raw in data.splitlines():
        if raw.strip():
            try:
                return isinstance(json.loads(raw), dict)
            except (ValueError, RecursionError):
                return False
    return False


def _json_lines(data: bytes, path: str, options: ReadOptions) -> Iterator[Item]:
    """One document per line; each is checked as the YAML reader checks a document (depth, duplicate keys)."""
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        for doc in _decode_line(raw, path, number):
            if isinstance(doc, Problem):
                yield doc
            else:
                yield from unpack(doc, path, number, SOURCE, namespace=options.namespace)


def _decode_line(raw: bytes, path: str, number: int) -> Iterator[Any]:
    """The JSON document on line ``number`` (yielded last, once) after the Problems found reading it,
    or only the problems that keep it from being read."""
    duplicates: list[str] = []
    try:
        doc = json.loads(raw, object_pairs_hook=partial(_mapping, duplicates=duplicates))
    except UnicodeDecodeError:
        yield Problem("error", "encoding", "not valid UTF-8; line skipped", file=path, line=number)
        return
    except (ValueError, RecursionError) as exc:
        yield Problem("error", "parse", f"invalid JSON: {exc}; line skipped", file=path, line=number)
        return
    # a line with fewer opening brackets than the limit cannot nest deeper (most objects: no walk)
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _depth(doc) > MAX_DEPTH:
        yield Problem("error", "parse", f"nesting deeper than {MAX_DEPTH} levels; line skipped",
                      file=path, line=number)
        return
    for key in duplicates:
        yield Problem("warning", "duplicate-key", f"key {key!r} appears twice in one object; the last value "
                      "is used", file=path, line=number)
    yield doc


def _mapping(pairs: list[tuple[str, Any]], duplicates: list[str]) -> dict[str, Any]:
    """A JSON object, noting keys given twice (the API server's decoder keeps the last one too)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            duplicates.append(key)
        result[key] = value
    return result


def _depth(value: Any) -> int:
    """How deeply ``value`` nests mappings and lists (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest
