"""The source registry: which source reads each input, one line per source.

Every command that reads Kubernetes objects (scan, rbac, netpol, generate) reads them through
:func:`read_inputs` (the command line reaches it through ``commands.common.open_inputs``; a parallel
scan reads the files it lists under a folder one by one with :func:`read_listed`, as the walk of the
folder reads them), so an input added here reaches all of them. Adding one is one new module in
``sources/`` and one line in :data:`SOURCES` (docs/sources.md). The files source (files, folders,
``-`` for stdin) is not listed: it reads every input no other source claims.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from kubeharden.model.findings import Problem
from kubeharden.model.objects import K8sObject
from kubeharden.sources import cluster, dockerfile, etcd, helm, image_archive, kustomize, node, snapshot, vuln_report
from kubeharden.sources.files import ReadOptions, input_name, iter_paths, own_output_note, read_file, skipped_reason

Item = K8sObject | Problem


@dataclass(frozen=True, slots=True)
class Source:
    """One kind of input.

    ``claims(path)`` says whether this source reads the command-line input ``path`` (without
    reading it; cheap); ``read(path, options)`` yields its objects, with provenance naming the
    source, and a Problem for whatever it cannot use (it never raises for bad input).
    ``unpacks`` are kinds of envelope documents the source opens wherever they turn up (a
    ``Snapshot`` inside a folder of manifests), with ``unpack(envelope, options)``; such kinds
    are always loaded whole, never shallowly.
    """

    name: str
    claims: Callable[[str], bool]
    read: Callable[[str, ReadOptions], Iterator[Item]]
    unpacks: frozenset[str] = field(default=frozenset())
    unpack: Callable[[K8sObject, ReadOptions], Iterator[Item]] | None = None
    #: file names in folders this source reads (Dockerfiles among manifests); None: only what it claims
    finds: Callable[[str], bool] | None = None
    #: an input given by a command-line option of its own, (flags, metavar, help); each value becomes
    #: the input ``scheme`` + value (``--vuln-report FILE`` -> ``vuln-report://FILE``)
    option: tuple[str, str, str] | None = None
    scheme: str = ""
    #: options of its own on the command line: ``add_options(parser)`` adds them to every command that
    #: reads inputs; ``options(args)`` gives (the inputs they stand for, such as ``cluster://CONTEXT`` for
    #: ``--cluster``; the settings that reach ``read`` as ``ReadOptions.source_options[name]``)
    add_options: Callable[[argparse.ArgumentParser], None] | None = None
    options: Callable[[argparse.Namespace], tuple[list[str], Any]] | None = None
    #: False when the source must run in the command's own process, never in a forked worker of
    #: ``scan --jobs`` (the Helm SDK's Go runtime does not survive a fork: a render there hangs)
    fork_safe: bool = True


#: Every source but files, in the order they are asked; the first that claims an input reads it.
SOURCES: tuple[Source, ...] = (
    # the inputs of an option (``image-archive://x.tar.gz``) go to its own source before any source that
    # claims by file name (the snapshot source claims ``*.gz``)
    Source("image-archive", image_archive.claims, image_archive.read, option=image_archive.OPTION,
           scheme=image_archive.SCHEME),
    Source("vuln-report", vuln_report.claims, vuln_report.read, option=vuln_report.OPTION,
           scheme=vuln_report.SCHEME),
    Source("snapshot", snapshot.claims, snapshot.read, frozenset({snapshot.KIND}), snapshot.unpack_snapshot),
    Source("dockerfile", dockerfile.claims, dockerfile.read, finds=dockerfile.claims),
    Source("helm", helm.claims, helm.read, add_options=helm.add_options,
           options=lambda args: ([], helm.options_from(args)), fork_safe=False),
    Source("kustomize", kustomize.claims, kustomize.read),
    Source(cluster.SOURCE, cluster.claims, cluster.read, add_options=cluster.add_options, options=cluster.options),
    Source(etcd.SOURCE, etcd.claims, etcd.read),
    Source(node.SOURCE, node.claims, node.read),
)

_UNPACKERS = {kind: source.unpack for source in SOURCES if source.unpack is not None for kind in source.unpacks}


class MustRunHere(Exception):
    """An input of a source that must run in the command's own process was met in a forked worker
    (``ReadOptions.forked``): the worker gives it back unread (engine/parallel.py)."""


def _read_with(source: Source, path: str, options: ReadOptions) -> Iterator[Item]:
    """``source.read(path, options)``; raises :class:`MustRunHere` in a forked worker for a source that must
    not run there, decided here, where the input is read, whatever a plan made earlier said of it."""
    if options.forked and not source.fork_safe:
        raise MustRunHere(f"{path}: the {source.name} source reads only in the command's own process")
    return source.read(path, options)


def add_source_options(parser: argparse.ArgumentParser) -> None:
    """The command-line options of every source that has some."""
    for source in SOURCES:
        if source.add_options is not None:
            source.add_options(parser)


def source_options(args: argparse.Namespace) -> tuple[list[str], dict[str, Any]]:
    """The inputs the sources' own options stand for, and each source's options by name."""
    paths: list[str] = []
    options: dict[str, Any] = {}
    for source in SOURCES:
        if source.options is not None:
            implied, options[source.name] = source.options(args)
            paths.extend(implied)
    return paths, options


def is_unit(path: str) -> bool:
    """Whether a folder met while walking an input is read whole by a source (a chart, a Kustomize folder)."""
    return os.path.isdir(path) and source_for(path) is not None


def source_for(path: str) -> Source | None:
    """The registered source that claims ``path``, or None for the files source."""
    return next((source for source in SOURCES if source.claims(path)), None)


def option_input(source: Source, value: str) -> str:
    """The input that ``source``'s command-line option with ``value`` stands for (``vuln-report://FILE``)."""
    return f"{source.scheme}{value}"


def _finder_for(name: str) -> Source | None:
    """The source that reads files named ``name`` found in folders, or None (the files source)."""
    return next((source for source in SOURCES if source.finds is not None and source.finds(name)), None)


def listed_source(entry: str, folder: bool) -> Source | None:
    """The source :func:`read_listed` reads ``entry`` with (``folder``: the entry is a folder), without reading
    it: the source that claims a folder, the one that finds a file by its name (a Dockerfile), or None for
    the files source."""
    return source_for(entry) if folder else _finder_for(os.path.basename(entry))


def _found_in_folders(name: str) -> bool:
    return _finder_for(name) is not None


def iter_files(paths: Iterable[str]) -> Iterator[str | Problem]:
    """The files of ``paths`` as the files source walks them (``-`` stays ``-``), plus the files
    registered sources find in folders (Dockerfiles) and the folders they read whole (charts,
    Kustomize overlays), in sorted order (:func:`files.iter_paths`)."""
    return iter_paths(paths, also=_found_in_folders, is_unit=is_unit)


def read_inputs(paths: Iterable[str], options: ReadOptions | None = None) -> Iterator[Item]:
    """Every object of every input in ``paths``, in order, and a Problem for everything else.

    Each input goes to the source that claims it, else to the files source; the report this run
    writes (``options.skip_files``) is never read, whichever source claims it; envelopes such as
    a ``Snapshot`` are opened wherever they were read. Never raises for bad input; with ``options.forked``,
    raises :class:`MustRunHere` for an input of a source that must run in the command's own process.
    """
    options = _whole_envelopes(options or ReadOptions())
    for path in map(input_name, paths):  # ./chart is chart, whichever source reads it
        source = source_for(path)
        if source is None:
            stream = _read_files(path, options)
        elif (reason := skipped_reason(path, options.skip_files)) is not None:
            stream = iter([own_output_note(path, reason)])
        else:
            stream = _read_with(source, path, options)
        yield from _opened(stream, options) if _UNPACKERS else stream


def _read_files(path: str, options: ReadOptions) -> Iterator[Item]:
    """The files source's reading of ``path``: files and stdin read as manifests, files a registered
    source finds in folders (Dockerfiles) and folders it reads whole (charts, overlays) go to it."""
    for item in iter_files([path]):
        if isinstance(item, Problem):
            yield item
        elif (reason := skipped_reason(item, options.skip_files)) is not None:
            yield own_output_note(item, reason)
        else:
            yield from _read_entry(item, options)


def read_listed(entry: str, options: ReadOptions | None = None) -> Iterator[Item]:
    """The items :func:`read_inputs` gives for ``entry`` while reading the PATH it was listed under.

    ``entry`` is one entry :func:`iter_files` listed (a file or a folder read whole under a folder of the
    command line, a PATH that is a file, ``-``), named as it names them. It is read as the walk reads it,
    without asking every source about it again: for a manifest file one ``stat`` before the file is opened
    rather than five, since the parallel scan reads every file of a folder on its own
    (``engine/parallel.py``). A PATH a source claims (a snapshot, a packaged chart) is not an entry: read it
    with :func:`read_inputs`. The report this run writes is not looked for here: the caller has set it aside
    (``options.skip_files``). Never raises for bad input (``MustRunHere`` as :func:`read_inputs`).
    """
    options = _whole_envelopes(options or ReadOptions())
    stream = _read_entry(entry, options)
    yield from _opened(stream, options) if _UNPACKERS else stream


def _read_entry(item: str, options: ReadOptions) -> Iterator[Item]:
    """One entry the files source listed: a folder read whole by its source, a file a source finds by
    name (a Dockerfile), or else a manifest file (or stdin)."""
    if item == "-":
        return read_file(item, options)
    if os.path.isdir(item):
        return read_inputs([item], options)
    source = listed_source(item, folder=False)
    return _read_with(source, item, options) if source is not None else read_file(item, options)


def _opened(stream: Iterator[Item], options: ReadOptions) -> Iterator[Item]:
    for item in stream:
        unpack = _UNPACKERS.get(item.kind) if isinstance(item, K8sObject) else None
        if unpack is not None and isinstance(item, K8sObject):
            yield from unpack(item, options)
        else:
            yield item


def _whole_envelopes(options: ReadOptions) -> ReadOptions:
    """``options`` whose shallow loading never applies to envelope kinds (their items are the content)."""
    shallow = options.shallow_kind
    if shallow is None or not _UNPACKERS:
        return options
    return replace(options, shallow_kind=lambda kind: kind not in _UNPACKERS and shallow(kind))
