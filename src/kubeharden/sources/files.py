"""Manifests from files, directories and stdin, turned into objects with provenance.

A source never judges: it only reads, unpacks ``List`` kinds and says what it could
not use. It streams file by file so memory stays flat however large the tree is.
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeharden.model.apitypes import type_name
from kubeharden.model.findings import OWN_OUTPUT, Problem
from kubeharden.model.kinds import DEFAULT_NAMESPACE
from kubeharden.model.lines import LineMap, line_of
from kubeharden.model.objects import K8sObject, Provenance, make_ref
from kubeharden.sources.yamlload import load_documents

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
#: kubeadm names its kubeconfigs ``admin.conf``, ``kubelet.conf``, ``super-admin.conf``,
#: ``controller-manager.conf`` and ``scheduler.conf`` (/etc/kubernetes): files with this suffix are
#: read in folders too, but only their kubeconfig documents are kept; any other ``.conf`` (nginx,
#: sysctl …) is left silently, being no Kubernetes input at all.
KUBECONFIG_SUFFIX = ".conf"
#: Top-level fields of a kubeconfig: a document with one of them and neither apiVersion nor kind is
#: one, as client-go's ``clientcmd.Load`` reads it (it defaults to ``apiVersion: v1``, ``kind: Config``).
KUBECONFIG_FIELDS = ("clusters", "users", "contexts")
MIB = 1024 * 1024
#: --max-file-size is given and printed in MiB (one unit everywhere).
DEFAULT_MAX_FILE_BYTES = 64 * MIB
#: kustomization.yaml's API group: read by kustomize, never sent to the API server
#: (https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/).
KUSTOMIZE_GROUP = "kustomize.config.k8s.io"
_SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".terraform"}


@dataclass(slots=True)
class ReadOptions:
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    #: Kinds for which only apiVersion, kind and metadata are loaded (None: load everything).
    shallow_kind: Callable[[str], bool] | None = None
    #: The namespace of namespaced objects without ``metadata.namespace`` (kubectl's ``-n``); None: not
    #: given, so ``default``, and objects naming another namespace are not remarked upon.
    namespace: str | None = None
    #: ``-n`` means "kubectl apply -n": objects naming another namespace are remarked upon
    namespace_strict: bool = False
    #: Files never read, by (st_dev, st_ino), with the reason (the report this run writes).
    skip_files: dict[tuple[int, int], str] = field(default_factory=dict)
    #: Options of registered sources, by source name (the Helm source's rendering options …).
    source_options: dict[str, Any] = field(default_factory=dict)
    #: False (``--no-render``): Kustomize folders are read as plain manifest files and Helm charts are
    #: named in a warning and not read, instead of being rendered.
    render: bool = True
    #: True in a forked worker process of a parallel scan: an input of a source that must run in the
    #: command's own process (``Source.fork_safe`` False, Helm) raises ``registry.MustRunHere`` instead
    #: of being read, and the worker hands it back to that process.
    forked: bool = False


def iter_paths(paths: Iterable[str], also: Callable[[str], bool] | None = None,
               is_unit: Callable[[str], bool] | None = None) -> Iterator[str | Problem]:
    """Expand the command line into files (sorted, recursive); ``-`` stays ``-``.

    In folders, files named ``.yaml``, ``.yml`` or ``.json`` are listed, and those whose name
    ``also`` accepts (the registry's sources find Dockerfiles so). ``is_unit(folder)`` says which
    folders below a PATH are read whole by another source (a Helm chart, a Kustomize folder): they
    are yielded as they are, never walked into.

    Names are written as :func:`input_name` writes them: ``scan .``, ``scan ./k8s`` and ``scan ./k8s//x.yaml``
    all name ``k8s/x.yaml``, so a file found in a folder and read again on its own (by a worker of a
    parallel scan) keeps its name.

    Nothing under a PATH is passed over unsaid: a folder that cannot be listed is an error, and a symbolic
    link to a folder (not followed, as ``os.walk`` does not: it may loop or leave the tree) a warning.
    """
    for raw in paths:
        if raw == "-":
            yield "-"
            continue
        path = Path(raw)
        if path.is_dir():
            dot = str(path) == os.curdir  # the walk of "." puts "./" before every name
            unreadable: list[OSError] = []
            for walked, dirs, files in os.walk(path, onerror=unreadable.append):
                yield from _unreadable_folders(unreadable)
                root = walked[len(os.curdir) + 1:] if dot else walked  # "." -> "", "./k8s" -> "k8s"
                units = sorted(d for d in dirs if is_unit is not None and d not in _SKIP_DIRS
                               and is_unit(os.path.join(walked, d)))
                links = sorted(d for d in dirs if d not in _SKIP_DIRS and d not in units
                               and os.path.islink(os.path.join(walked, d)))
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and d not in units and d not in links)
                entries = [os.path.join(root, name) for name in files
                           if name.lower().endswith((*MANIFEST_SUFFIXES, KUBECONFIG_SUFFIX))
                           or (also is not None and also(name))]
                entries.extend(os.path.join(root, d) for d in units)
                yield from sorted(map(_not_stdin, entries))
                for link in links:
                    yield Problem("warning", "read", "symbolic link to a folder, not followed: name its target as "
                                  "a PATH to check what it holds", file=_not_stdin(os.path.join(root, link)))
            yield from _unreadable_folders(unreadable)
        elif path.is_file():
            yield input_name(raw)
        elif path.exists():
            yield Problem("error", "read", "not a regular file or directory", file=raw)
        else:
            yield Problem("error", "read", "no such file or directory", file=raw)


def _unreadable_folders(errors: list[OSError]) -> Iterator[Problem]:
    """An error for each folder the walk could not list (``errors``, emptied), named as the walk names files."""
    while errors:
        exc = errors.pop(0)
        yield Problem("error", "read", f"cannot read folder: {exc.strerror or exc}; nothing in it was checked",
                      file=input_name(str(exc.filename)) if exc.filename is not None else None)


def input_name(path: str) -> str:
    """A command-line input as reports name it and its files: as :class:`~pathlib.Path` writes it, without
    ``./`` or ``//`` steps (``./chart/`` is ``chart``); stdin ``-`` and any path holding ``://`` (a source's
    ``scheme://`` input) as given."""
    if path == "-" or "://" in path:
        return path
    return _not_stdin(str(Path(path)))


def _not_stdin(name: str) -> str:
    """``name``, or ``./-`` for a file or folder named ``-``, which would read as stdin."""
    return os.curdir + os.sep + name if name == "-" else name


def read_objects(paths: Iterable[str], options: ReadOptions | None = None) -> Iterator[K8sObject | Problem]:
    """Every Kubernetes object found under ``paths``, and a Problem for everything else."""
    options = options or ReadOptions()
    for item in iter_paths(paths):
        if isinstance(item, Problem):
            yield item
            continue
        reason = skipped_reason(item, options.skip_files)
        if reason:
            yield own_output_note(item, reason)
            continue
        yield from read_file(item, options)


def own_output_note(path: str, reason: str) -> Problem:
    """The note that ``path``, a file this run writes (``reason``: :func:`skipped_reason`), is not read."""
    return Problem("note", OWN_OUTPUT, f"{reason}; not read as input", file=path)


def skipped_reason(path: str, skip_files: dict[tuple[int, int], str],
                   identity: tuple[int, int] | None = None) -> str | None:
    """Why ``path`` is not read (it is one of ``skip_files``, by device and inode), or None. ``identity``: the
    path's ``(st_dev, st_ino)`` when the caller has ``stat``-ed it already (None: it is looked up here)."""
    if not skip_files or path == "-":
        return None
    if identity is None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        identity = (st.st_dev, st.st_ino)
    return skip_files.get(identity)


def mebibytes(size: int) -> str:
    """A byte count in MiB, the unit of --max-file-size: ``64 MiB``, ``70.3 MiB``, ``0.68 MiB``, ``0.00095 MiB``."""
    value = size / MIB
    decimals = 1 if value >= 1 or value == 0 else 1 - math.floor(math.log10(value))
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".") + " MiB"


def read_limited(path: str, max_file_bytes: int) -> bytes | Problem:
    """The bytes of the file ``path``, or a Problem naming it when it is over ``max_file_bytes``
    (--max-file-size), is not a regular file or cannot be read. Sources of single files read them with this.

    Only regular files are read: a device (``/dev/zero``) or a FIFO named like a manifest would never
    end or block forever. The file is opened without blocking (a FIFO never stalls the open), checked
    with ``fstat`` on what was opened (no race with a rename), and at most ``max_file_bytes + 1``
    bytes are read, whatever its size said (a file growing while read is cut, not read without end).
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        return Problem("error", "read", f"cannot read: {exc.strerror or exc}", file=path)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (a device, FIFO or socket)"
            return Problem("error", "read", f"cannot read: {what}; skipped", file=path)
        if info.st_size > max_file_bytes:
            return _too_large(path, info.st_size, max_file_bytes)
        data = _read_up_to(fd, max_file_bytes + 1, info.st_size + 1)
        if len(data) > max_file_bytes:
            return _too_large(path, len(data), max_file_bytes)
        return data
    except OSError as exc:
        return Problem("error", "read", f"cannot read: {exc.strerror or exc}", file=path)
    finally:
        os.close(fd)


_READ_CHUNK = 1024 * 1024


def _read_up_to(fd: int, limit: int, expected: int) -> bytes:
    """At most ``limit`` bytes of the open file ``fd``, to its end; ``expected`` is the first read's size
    (the size ``fstat`` gave, plus one to see the end at once). Plain ``os.read`` calls: a buffered file
    object costs twice the reading itself for the small files manifests are."""
    chunks: list[bytes] = []
    got = 0
    ask = min(expected, limit)
    while got < limit:
        piece = os.read(fd, min(ask - got if got < ask else _READ_CHUNK, limit - got))
        if not piece:
            break
        chunks.append(piece)
        got += len(piece)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(path: str, size: int, max_file_bytes: int) -> Problem:
    return Problem("error", "too-large",
                   f"file is {mebibytes(size)} ({size:,} bytes), over the {mebibytes(max_file_bytes)} "
                   f"({max_file_bytes:,} bytes) limit (--max-file-size); skipped", file=path)


def read_file(path: str, options: ReadOptions | None = None) -> Iterator[K8sObject | Problem]:
    options = options or ReadOptions()
    display = "<stdin>" if path == "-" else path
    if path == "-":
        try:
            data = sys.stdin.buffer.read(options.max_file_bytes + 1)
        except OSError as exc:
            yield Problem("error", "read", f"cannot read: {exc.strerror or exc}", file=display)
            return
    else:
        read = read_limited(path, options.max_file_bytes)
        if isinstance(read, Problem):
            yield read
            return
        data = read
    if len(data) > options.max_file_bytes:
        yield Problem("error", "too-large",
                      f"input is over the {mebibytes(options.max_file_bytes)} limit (--max-file-size); skipped",
                      file=display)
        return
    items = parse_bytes(data, display, source="stdin" if path == "-" else "file",
                        shallow_kind=options.shallow_kind, namespace=options.namespace,
                        namespace_strict=options.namespace_strict)
    if display.lower().endswith(KUBECONFIG_SUFFIX):
        items = (i for i in items if isinstance(i, K8sObject) and i.kind == "Config" and i.ref.api_version == "v1")
    yield from items


def decode_text(data: bytes, display: str) -> str | Problem:
    """The UTF-8 text of a file's bytes (a byte-order mark dropped), or a Problem naming the file
    (and the line) for a binary file or bytes that are not UTF-8."""
    if b"\x00" in data[:8192]:
        return Problem("error", "binary", "binary file (NUL bytes); skipped", file=display)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return Problem("error", "encoding", f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); skipped",
                       file=display, line=line)


def parse_bytes(data: bytes, display: str, source: str = "file",
                shallow_kind: Callable[[str], bool] | None = None,
                namespace: str | None = None, namespace_strict: bool = False) -> Iterator[K8sObject | Problem]:
    """Decode and parse one file's bytes."""
    text = decode_text(data, display)
    if isinstance(text, Problem):
        yield text
        return
    if not text.strip():
        return
    yield from parse_text(text, display, source, shallow_kind, namespace, namespace_strict)


def parse_text(text: str, display: str, source: str = "file",
               shallow_kind: Callable[[str], bool] | None = None,
               namespace: str | None = None, namespace_strict: bool = False) -> Iterator[K8sObject | Problem]:
    """Objects and problems of one file's text; ``namespace`` is given to namespaced objects without one."""
    docs = load_documents(text, shallow_kind)
    if display.lower().endswith(".json"):
        docs = _json_fallback(text, docs)
    for doc in docs:
        for warn in doc.warnings:
            yield Problem("warning", "duplicate-key", warn.message, file=display, line=warn.line)
        if doc.error is not None:
            if _is_template(text, doc):
                yield Problem("note", "skipped", "Go/Helm template syntax ({{ }}): this document is not YAML until "
                              "it is rendered (helm template … | kubeharden scan -); skipped",
                              file=display, line=doc.line)
            else:
                yield Problem("error", "parse", doc.error.message, file=display, line=doc.error.line or doc.line)
            continue
        yield from unpack(doc.data, display, doc.line, source, namespace=namespace, namespace_strict=namespace_strict)


def _imply_identity(item: dict[str, Any], api_version: str, kind: str) -> None:
    """Items of a typed list (``PodList``, ``DeploymentList`` …) may omit apiVersion and kind.

    ``kubectl get -o yaml`` writes them that way: the list's own apiVersion and its kind
    without ``List`` name every item (api-conventions.md, "Lists and Simple kinds"). As in
    apimachinery's ``decodeToList``, only an item missing *both* takes them; one that names
    either is left as written.
    """
    if item.get("apiVersion") or item.get("kind"):
        return
    for key, value in (("apiVersion", api_version), ("kind", kind)):
        if isinstance(item, LineMap):
            item.pop(key, None)
            item.add(key, value, item.line)
        else:
            item[key] = value


def _is_template(text: str, doc: Any) -> bool:
    """A document that failed to load *and* carries Go template markers is a template.

    Valid YAML with ``{{`` inside strings (alerting rules, dashboards, injection
    annotations) loads fine and is checked like any other document.
    """
    start, end = doc.span
    chunk = text[start:end] if end > start else text
    return "{{" in chunk and "}}" in chunk


def _json_fallback(text: str, docs: Iterator[Any]) -> Iterator[Any]:
    """JSON is loaded as YAML for line numbers; YAML 1.1 rejects some valid JSON (tabs)."""
    from kubeharden.sources.yamlload import Document

    collected = list(docs)
    if not any(d.error for d in collected):
        yield from collected
        return
    try:
        data = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        yield Document(index=0, line=line or 1, error=_json_error(str(exc), line))
        return
    yield Document(index=0, line=1, data=data)


def _json_error(message: str, line: int | None) -> Any:
    from kubeharden.sources.yamlload import DocumentError

    return DocumentError(f"invalid JSON: {message}", line)


#: A kubeconfig's lists and the mapping each entry holds ("kubeconfig (v1)" reference: NamedCluster.cluster …).
_KUBECONFIG_LISTS = {"clusters": "cluster", "users": "user", "contexts": "context"}


def _kubeconfig_shape(data: dict[str, Any], display: str, line: int) -> Iterator[Problem]:
    """Input problems of a kubeconfig whose lists or entries have the wrong type (client-go refuses them):
    the checks then judge only what has the right shape, and this says what they could not."""
    for name, inner in _KUBECONFIG_LISTS.items():
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, list):
            yield Problem("warning", "invalid-object", f"kubeconfig {name} is {type_name(value)}, not a list: "
                          "client-go refuses the file; its entries are not judged",
                          file=display, line=line_of(data, name) or line)
            continue
        for i, entry in enumerate(value):
            body = entry.get(inner) if isinstance(entry, dict) else entry
            if body is not None and not isinstance(body, dict):
                yield Problem("warning", "invalid-object", f"kubeconfig {name}[{i}].{inner} is {type_name(body)}, "
                              "not a mapping: client-go refuses the file; this entry is not judged",
                              file=display, line=line_of(entry) or line)


def unpack(data: Any, display: str, line: int, source: str = "file",
           _depth: int = 0, namespace: str | None = None,
           namespace_strict: bool = False) -> Iterator[K8sObject | Problem]:
    """Objects from one document; ``List`` and every ``*List`` kind are unpacked."""
    if data is None:
        return
    if not isinstance(data, dict):
        yield Problem("note", "skipped", f"document is {type_name(data)}, not a Kubernetes object; skipped",
                      file=display, line=line)
        return
    if "kind" not in data and "apiVersion" not in data and any(f in data for f in KUBECONFIG_FIELDS):
        data["apiVersion"], data["kind"] = "v1", "Config"  # kept in place: the mapping carries its lines
    kind = data.get("kind")
    api_version = data.get("apiVersion")
    if not isinstance(kind, str) or not kind or not isinstance(api_version, str) or not api_version:
        yield Problem("note", "skipped", "no apiVersion/kind: not a Kubernetes object; skipped",
                      file=display, line=line)
        return
    if api_version.partition("/")[0] == KUSTOMIZE_GROUP:
        yield Problem("note", "skipped", f"{kind} ({api_version}) is Kustomize's own configuration, not a "
                      "Kubernetes object: render the folder first (kubectl kustomize DIR) and give kubeharden the "
                      "result (- reads standard input); skipped", file=display, line=line)
        return
    if kind.endswith("List") and "items" in data:
        items = data.get("items")
        if items is None:
            return
        if not isinstance(items, list):
            yield Problem("error", "invalid-object", f"{kind}.items is not a list", file=display,
                          line=line_of(data, "items") or line)
            return
        item_kind = kind[: -len("List")] if kind != "List" else None
        for item in items:
            if item_kind and isinstance(item, dict):
                _imply_identity(item, api_version, item_kind)
            yield from unpack(item, display, line_of(item) or line, source, _depth + 1, namespace, namespace_strict)
        return
    meta = data.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        yield Problem("error", "invalid-object", f"{kind}: metadata is not a mapping; skipped",
                      file=display, line=line_of(data, "metadata") or line)
        return
    if kind == "Config" and api_version == "v1":
        yield from _kubeconfig_shape(data, display, line)
    ref = make_ref(data, namespace or DEFAULT_NAMESPACE, file=display)
    written = meta.get("namespace") if isinstance(meta, dict) else None
    defaulted = ref.namespace is not None and not written
    if namespace_strict and namespace and written and ref.namespace is not None and str(written) != namespace:
        yield Problem("warning", "namespace", f"{ref} names namespace {written!r}, but -n says {namespace!r}: "
                      f"kubectl apply -n {namespace} refuses this object", file=display,
                      line=line_of(meta, "namespace") or line, resource=ref)
    yield K8sObject(raw=data, ref=ref, origin=Provenance(display, line_of(data) or line, source, defaulted))
