"""Parallel scans: files are read and checked in worker processes, merged in the parent.

The parent lists the input files (an input a registered source claims, such as a snapshot, is
one unit) and hands them, in tasks of a few files, to ``jobs - 1`` worker processes; it is the
last of the ``jobs`` itself and checks the next task nobody has whenever the next result in order
is not ready yet, with a worker of its own, and at the end takes back the tasks no worker has
started (:func:`_results`). Each worker reads its units through the input seam, as one process
reading the command line would (:func:`read_unit`), runs the per-object controls
(container, pod and object scope) with an :class:`~kubeharden.engine.evaluator.Evaluator` of its own,
then sends back a compact
:class:`FileResult`: the findings and problems in the order the file produced them, the Pod
Security verdicts, the counts, and the inventory records of that file (pod records and the
kinds cross-object checks read) rather than the whole raw objects. The parent replays the
results in file order into its own evaluator, so duplicate objects, counts and the order of
findings and problems are exactly those of a single-process scan; the cross-object
(``inventory`` scope) controls then run once over the merged inventory, the RBAC and resource ones
in a forked copy of the parent, which sends each answer as soon as it has it, while the parent runs
the others and writes every finding (:func:`close_split`).

A file a worker could not finish (an unexpected exception, a worker that died) is checked
again in the parent, so the report is the one ``--jobs 1`` gives in every case.
"""

from __future__ import annotations

import datetime as dt
import gc
import multiprocessing
import os
import signal
import stat
import threading
from collections import Counter
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from multiprocessing.reduction import ForkingPickler
from typing import Any, NamedTuple

from kubeharden.catalogue.loader import controls_by_id
from kubeharden.checks.registry import template_for
from kubeharden.config import Config
from kubeharden.engine.evaluator import SCOPE_HINT, DuplicateIndex, Evaluator
from kubeharden.model.controls import Control
from kubeharden.model.findings import Finding, Fix, Problem, Tally
from kubeharden.model.inventory import Inventory, PodRecord
from kubeharden.model.objects import K8sObject, Provenance, ResourceRef
from kubeharden.model.resources import ContainerResources
from kubeharden.model.results import PssEntry
from kubeharden.sources.files import ReadOptions, input_name, own_output_note, skipped_reason
from kubeharden.sources.registry import iter_files, listed_source, read_inputs, read_listed, source_for

#: Inputs smaller than this are scanned in the calling process: starting workers costs more.
PARALLEL_MIN_BYTES = 1024 * 1024
#: Files per task sent to a worker (amortises the inter-process round trip of small files).
MAX_CHUNK = 32
#: Tasks per worker submitted ahead of the one the parent is merging (bounds the parent's memory).
IN_FLIGHT = 4
#: Tasks the parent may check itself beyond the workers' queue while the next result in order is still with a
#: worker. It keeps their results until their turn: with two jobs, where a task holds about a thirty-second of
#: the bytes (:func:`_chunks`), up to half the input's results. Fewer left the parent waiting for the worker
#: whenever the worker's queue held larger files.
LOOKAHEAD = 16


def default_jobs() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


class ObjectSeen(NamedTuple):
    """Where an object started in a file's results: its identity, for the parent's duplicate check."""

    ref: ResourceRef
    origin: Provenance
    name: Any  # metadata.name as loaded (objects with only generateName are never duplicates)


@dataclass(slots=True)
class FileResult:
    """What checking one file gave, compact enough to cross a process boundary.

    ``entries``: the file's problems and findings and an :class:`ObjectSeen` before each
    object's own, in the order a single-process scan records them. ``None`` in ``failed``
    means the worker could not finish the file and the parent must check it itself.
    """

    entries: list[ObjectSeen | Problem | Finding] = field(default_factory=list)
    pss: list[PssEntry] = field(default_factory=list)
    evaluated: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    kinds: Counter[str] = field(default_factory=Counter)
    by_severity: Counter[str] = field(default_factory=Counter)
    suppressed: int = 0
    suppressed_by_control: Counter[str] = field(default_factory=Counter)
    errored: set[str] = field(default_factory=set)
    exceptions_used: list[int] = field(default_factory=list)
    pods: list[PodRecord] = field(default_factory=list)
    objects: dict[str, list[K8sObject]] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=set)
    unfinished: str | None = None


# -- in the worker --------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _catalogue_index() -> dict[str, Control]:
    """The catalogue by control ID (a pure cache of immutable data, shared by every scan of the process)."""
    return controls_by_id()


def _control_by_id(control_id: str) -> Control:
    return _catalogue_index()[control_id]


def _reduce_control(control: Control) -> tuple[Any, tuple[str]]:
    """A Control crosses a process boundary as its ID (the catalogue is the same on both sides)."""
    return _control_by_id, (control.id,)


ForkingPickler.register(Control, _reduce_control)


#: The frozen dataclasses that cross in numbers (in every finding, object and pod record, and in fixes),
#: with the names of their fields, all of them constructor arguments (tests/test_parallel.py checks the round trip).
FROZEN_CROSSING: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in fields(cls)) for cls in (ResourceRef, Provenance, Fix, ContainerResources)}


def _reduce_frozen(obj: Any) -> tuple[type, tuple[Any, ...]]:
    """A frozen dataclass crosses as its class and field values and is rebuilt by its constructor.

    Pickle's way for frozen slotted dataclasses (``dataclasses``' ``__getstate__``/``__setstate__``)
    looks up the class's fields again for every object on both sides: this is about a seventh less
    CPU for pickling and unpickling a scan's results.
    """
    return type(obj), tuple([getattr(obj, name) for name in FROZEN_CROSSING[type(obj)]])


for _frozen in FROZEN_CROSSING:
    ForkingPickler.register(_frozen, _reduce_frozen)


class _NoDuplicateIndex:
    """Workers see one file at a time: duplicates across files are found by the parent."""

    def add(self, obj: K8sObject) -> None:
        return None


class _Worker:
    """One worker process's evaluator; it lives as long as the process, which serves one scan."""

    def __init__(self, config: Config, only: list[str] | None, today: dt.date, options: ReadOptions,
                 whole: frozenset[str]) -> None:
        self.evaluator = Evaluator(config, today=today, only=only)
        self.evaluator._duplicates = _NoDuplicateIndex()  # type: ignore[assignment]
        self.options = replace(options, shallow_kind=lambda kind: not self.evaluator.needs_full_object(kind))
        self.whole = whole

    def check(self, path: str) -> FileResult:
        """Read and check one file; what the parent needs of it (the evaluator is reset after)."""
        ev = self.evaluator
        result = ev.result
        out = FileResult()
        for item in read_unit(path, self.options, self.whole):
            if isinstance(item, Problem):
                out.entries.append(item)
                continue
            out.entries.append(ObjectSeen(item.ref, item.origin, item.metadata.get("name")))
            before = len(result.problems)
            findings = list(ev.evaluate_object(item))
            for finding in findings:
                finding.fingerprint  # noqa: B018 - computed here, so the parent only writes it
            out.entries.extend(result.problems[before:])
            out.entries.extend(findings)
        inventory = ev.inventory
        out.pss, out.kinds, out.by_severity = result.pss, result.kinds, result.findings_by_severity
        out.evaluated, out.failed, out.suppressed = result.tally.evaluated, result.tally.failed, result.suppressed
        out.suppressed_by_control, out.errored = result.suppressed_by_control, result.errored
        out.exceptions_used = [e.used for e in ev.config.exceptions]
        out.pods, out.objects, out.namespaces = inventory.pods, dict(inventory.objects), inventory.namespaces_seen
        self.reset()
        return out

    def reset(self) -> None:
        """Forget the last file: counts, verdicts, exception uses and inventory start from zero."""
        ev = self.evaluator
        result = ev.result
        result.problems, result.pss, result.kinds = [], [], Counter()
        result.findings_by_severity, result.suppressed = Counter(), 0
        result.suppressed_by_control, result.errored = Counter(), set()
        result.tally = Tally()
        for e in ev.config.exceptions:
            e.used = 0
        ev.inventory = Inventory()


_worker: _Worker | None = None  # set once in each worker process by _start_worker; never in the parent


def _start_worker(config: Config, only: list[str] | None, today: dt.date, options: ReadOptions,
                  whole: frozenset[str]) -> None:
    global _worker
    # a unit of a source that must run in the parent (Helm) is handed back unread, should the plan have sent one
    _worker = _Worker(config, only, today, replace(options, forked=True), whole)


def _check_chunk(paths: list[str]) -> list[FileResult]:
    assert _worker is not None, "called outside a worker process"
    return [_check_with(_worker, path) for path in paths]


def _check_with(worker: _Worker, path: str) -> FileResult:
    try:
        return worker.check(path)
    except Exception as exc:  # the parent checks the file again and meets the same error itself
        worker.reset()
        return FileResult(unfinished=f"{type(exc).__name__}: {exc}")


# -- in the parent ---------------------------------------------------------------------------------

def scan_files(evaluator: Evaluator, paths: list[str], options: ReadOptions, jobs: int,
               only: list[str] | None = None, *, per_path: bool = False, counts: list[int] | None = None,
               min_bytes: int | None = None) -> Iterator[Finding]:
    """Evaluate the command-line ``paths`` with ``jobs`` processes.

    The same findings, in the same order, and the same ``evaluator.result`` as
    ``evaluator.run(read_inputs(paths, options))``, or with ``per_path`` (``--scope path``)
    ``evaluator.run_scopes(read_inputs([path], options) for path in paths)``. Every unit is read
    through :func:`read_unit`: an input a registered source claims, such as a snapshot, is one unit;
    the files the files source lists under a path are one unit each. ``only`` is the ``--control``
    selection the evaluator was built with (workers build theirs alike). ``counts`` (one per path)
    receives the objects each path gave. Inputs under ``min_bytes`` (default
    :data:`PARALLEL_MIN_BYTES`) in all, stdin, and ``jobs`` 1 run in this process.
    """
    evaluator.duplicate_hint = "" if per_path else SCOPE_HINT
    evaluator._duplicates = DuplicateIndex(evaluator.duplicate_hint)
    # names as read_inputs writes them, before a source is asked: "dump.jsonl/" is the snapshot dump.jsonl
    names = [input_name(path) for path in paths]
    whole = frozenset(name for name in names if name != "-" and source_for(name) is not None)
    planned: list[list[Unit]] = [[(n, name)] if name in whole or name == "-" else
                                 [(n, item) for item in iter_files([name])] for n, name in enumerate(names)]
    scopes = planned if per_path else [[unit for units in planned for unit in units]]
    files = [p for _, p in _units(scopes) if isinstance(p, str) and p != "-"]
    executor = None
    worker_args = (evaluator.config, only, evaluator.today, replace(options, shallow_kind=None), whole)
    # one stat per file: its size cuts the tasks, its identity finds the report this run writes, and a
    # folder (a chart, an overlay) is read by the source that claims it (_scope)
    stats = {path: _stat(path) for path in files} if jobs > 1 and len(files) > 1 else {}
    if stats and sum(s.size for s in stats.values()) >= (PARALLEL_MIN_BYTES if min_bytes is None else min_bytes):
        # this process is the last of the ``jobs``: it checks files too while it waits (see _results)
        executor = ProcessPoolExecutor(
            max_workers=min(jobs - 1, len(files)), mp_context=_context(), initializer=_start_worker,
            initargs=worker_args)
        _widen_results(executor)
        # the first task starts every worker (fork) now: each builds its evaluator while this process
        # decides which files it may hand out and cuts them into tasks
        executor.submit(os.getpid)
    tally = counts if counts is not None else [0] * len(paths)
    try:
        for n, items in enumerate(scopes, 1):
            yield from _scope(evaluator, items, options, executor, jobs, tally, worker_args, stats, whole)
            if executor is not None and n == len(scopes):
                executor.shutdown(wait=True)  # no thread may run while close_split forks
                executor = None
                yield from close_split(evaluator)
            else:
                yield from evaluator.close_scope()
        yield from evaluator.finish()
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


#: A unit of a scan, with the number of the command-line path it belongs to: the path itself when a source
#: claims it (or stdin), else each entry the files source lists under it (:func:`read_unit`).
Unit = tuple[int, "str | Problem"]


def read_unit(path: str, options: ReadOptions, whole: frozenset[str]) -> Iterator[K8sObject | Problem]:
    """The items of one unit. ``whole`` holds the command-line inputs a source claims, named as
    :func:`~kubeharden.sources.files.input_name` names them: a unit of that name is read through ``read_inputs``
    (an entry of a walked folder may have it too, a claimed Dockerfile or overlay, read alike either way). Any
    other unit (an entry the files source listed under a PATH, a PATH that is a file, ``-``) is read through
    ``read_listed``, as ``read_inputs`` reads the PATH it came from, without asking every source again."""
    return read_inputs([path], options) if path in whole else read_listed(path, options)


def _units(scopes: list[list[Unit]]) -> Iterator[Unit]:
    """Every unit of every scope, in order."""
    return (unit for items in scopes for unit in items)


def _context() -> Any:
    """fork where the platform has it (workers inherit the loaded catalogue), spawn elsewhere."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _scope(evaluator: Evaluator, items: list[Unit], options: ReadOptions,
           executor: ProcessPoolExecutor | None, jobs: int, counts: list[int],
           worker_args: tuple[Any, ...], stats: dict[str, _Stat], whole: frozenset[str]) -> Iterator[Finding]:
    """One scope's units (files, ``-``, problems of the command line) in order, into ``evaluator``;
    ``stats``: what one ``stat`` said of each file when the plan looked (empty with one job or one file);
    ``whole``: the units a source claims (:func:`read_unit`)."""
    result = evaluator.result
    skipped = {path: skipped_reason(path, options.skip_files, stats[path].identity if path in stats else None)
               for _, path in items if isinstance(path, str)}
    forkable = {p: _forkable(p, p in stats and stats[p].folder, whole) for p in skipped} if executor is not None else {}
    remote = [p for _, p in items if isinstance(p, str) and not skipped[p] and forkable[p]] if forkable else []
    sizes = {path: stats[path].size for path in remote}
    results = _results(executor, remote, jobs, _Local(worker_args), sizes) if remote else iter(())
    for done, (n, item) in enumerate(items, 1):
        if isinstance(item, Problem):
            evaluator.take_problem(item)
            continue
        reason = skipped[item]
        if reason:
            result.problems.append(own_output_note(item, reason))
            continue
        got = next(results) if remote and forkable[item] else None
        if got is None or got.unfinished is not None:
            counts[n] += yield from _check_here(evaluator, item, options, whole)
        else:
            counts[n] += sum(isinstance(e, ObjectSeen) for e in got.entries)
            yield from _merge(evaluator, got)
        if done % 200 == 0:
            gc.freeze()  # what is left is the inventory the parent keeps (see gctune.freezing)


def _forkable(path: str, folder: bool, whole: frozenset[str]) -> bool:
    """Whether a worker process may read the unit ``path`` (``folder``: it is a folder; ``whole``: as
    :func:`read_unit`): not stdin, not a unit of a source that must run in this process (``Source.fork_safe``:
    a Helm chart). The source is the one :func:`read_unit` reads the unit with, found without asking every
    source about every file (a source's claims may look at the disk: Helm's looks for ``Chart.yaml``)."""
    if path == "-":
        return False
    source = source_for(path) if path in whole else listed_source(path, folder)
    return source is None or source.fork_safe


class _Local:
    """This process's own worker, made when it first checks a task. Like a worker process's, its evaluator
    is not the one the results are merged into, and its exception rules are its own copies: a worker
    counts each rule's uses per file and starts again from zero (``_Worker.reset``), while the merged
    counts live in the parent's."""

    def __init__(self, worker_args: tuple[Any, ...]) -> None:
        self.worker_args = worker_args
        self.worker: _Worker | None = None

    def check(self, paths: list[str]) -> list[FileResult]:
        if self.worker is None:
            config, *rest = self.worker_args
            own = replace(config, exceptions=[replace(rule, used=0) for rule in config.exceptions])
            self.worker = _Worker(own, *rest)
        return [_check_with(self.worker, path) for path in paths]


def _results(executor: ProcessPoolExecutor | None, files: list[str], jobs: int,
             local: _Local, sizes: dict[str, int]) -> Iterator[FileResult | None]:
    """Each file's result in order; None for files whose worker died (they are checked in the parent).

    The files are cut into tasks (:func:`_chunks`), handed out in order. The worker processes keep
    :data:`IN_FLIGHT` tasks each queued ahead of the one being merged, so results never pile up in the
    parent when it writes the report slower than they check. Whenever the next task in order is still
    with a worker, this process checks the next task not handed out yet itself (at most
    :data:`LOOKAHEAD` beyond the workers' queue) and keeps its results until their turn: all ``jobs``
    CPUs work, and with two, half the results are never pickled. Near the end the workers are given
    fewer tasks ahead (:func:`_pool_depth`), so that this process checks the last ones itself rather than
    wait for the workers' queues. Once the pool is broken (a worker died), nothing more goes to it: what it
    had gives None, the rest is checked here.
    """
    assert executor is not None
    chunks = _chunks(files, jobs, sizes)
    # tasks[k]: task k's Future (with a worker), its results (checked here ahead of its turn), or None (not
    # handed out yet, or merged). Tasks below ``handed`` have been handed out; ``queued`` are with the workers.
    tasks: list[Future[list[FileResult]] | list[FileResult] | None] = [None] * len(chunks)
    queue = max(1, jobs - 1) * IN_FLIGHT
    handed = queued = 0
    broken = False
    for k, chunk in enumerate(chunks):
        while not broken and handed < len(chunks) and queued < _pool_depth(queue, jobs, len(chunks) - handed):
            try:
                tasks[handed] = executor.submit(_check_chunk, chunks[handed])
            except BrokenProcessPool:  # a worker died since the last result came in
                broken = True
                break
            handed += 1
            queued += 1
        task = tasks[k]
        tasks[k] = None  # merged below: not kept
        if task is None:  # not handed out (so k == handed): only once the pool is broken
            task = local.check(chunk)
            handed += 1
        while (isinstance(task, Future) and not task.done() and handed < len(chunks)
               and handed - k < queue + LOOKAHEAD):
            tasks[handed] = local.check(chunks[handed])
            handed += 1
        if not isinstance(task, Future):
            yield from task
            continue
        queued -= 1
        try:
            got: list[FileResult | None] = list(task.result())
        except BrokenProcessPool:
            broken = True
            got = [None] * len(chunk)
        yield from got


def _pool_depth(queue: int, jobs: int, left: int) -> int:
    """How many tasks the workers may hold at once, with ``left`` tasks not handed out yet: ``queue``,
    and two per worker (the one it checks and the next) once no more than twice ``queue`` are left (the
    last tasks are small: :func:`_chunks`).

    Tasks a worker holds are waited for at the end; holding fewer then, the workers finish theirs while
    this process checks the rest, and the processes end together. (Taking queued tasks back with
    ``Future.cancel`` would do the same, but on Python 3.11 a worker that dies while a cancelled task is
    still in the pool's table kills the pool's manager thread, which CPython fixed later: gh-107219.)
    """
    return queue if left > 2 * queue else min(queue, 2 * max(1, jobs - 1))


def _chunks(files: list[str], jobs: int, sizes: dict[str, int]) -> list[list[str]]:
    """``files`` in order, cut into tasks of at most :data:`MAX_CHUNK` files and about a sixteenth of
    a worker's share of the bytes, so that one task of large files does not keep a worker busy
    while the others wait at the end (real trees mix a few large files with many small ones); the
    last eighth of the bytes goes in tasks a quarter that size, so the workers finish together.
    ``sizes``: the bytes of each file."""
    lengths = [sizes[path] for path in files]
    total = sum(lengths)
    budget = max(1, total // (jobs * 16))
    tail_from = total - total // 8
    chunks: list[list[str]] = [[]]
    held = done = 0
    for path, size in zip(files, lengths, strict=True):
        limit = budget if done < tail_from else max(1, budget // 4)
        if chunks[-1] and (len(chunks[-1]) >= MAX_CHUNK or held + size > limit):
            chunks.append([])
            held = 0
        chunks[-1].append(path)
        held += size
        done += size
    return chunks


class _Stat(NamedTuple):
    """What the plan needs of one listed file, from one ``stat``: its bytes (0 when it cannot be
    ``stat``-ed), its ``(st_dev, st_ino)`` (None then) and whether it is a folder."""

    size: int
    identity: tuple[int, int] | None
    folder: bool


def _stat(path: str) -> _Stat:
    try:
        st = os.stat(path)
    except OSError:
        return _Stat(0, None, False)
    return _Stat(st.st_size, (st.st_dev, st.st_ino), stat.S_ISDIR(st.st_mode))


def _check_here(evaluator: Evaluator, path: str, options: ReadOptions,
                whole: frozenset[str]) -> Generator[Finding, None, int]:
    """Read and check the unit ``path`` in this process (``whole``: as :func:`read_unit`); return how many
    objects it gave."""
    objects = 0
    for item in read_unit(path, options, whole):
        if isinstance(item, Problem):
            evaluator.take_problem(item)  # a kind a snapshot records as unlisted makes controls not assessable
        else:
            objects += 1
            yield from evaluator.evaluate_object(item)
    return objects


def _merge(evaluator: Evaluator, got: FileResult) -> Iterator[Finding]:
    """Replay one file's result into ``evaluator`` as if its objects had been evaluated here."""
    result = evaluator.result
    duplicates = evaluator._duplicates
    for entry in got.entries:
        if isinstance(entry, Finding):
            yield entry
        elif isinstance(entry, Problem):
            evaluator.take_problem(entry)
        else:
            seen = K8sObject(raw={"metadata": {"name": entry.name}}, ref=entry.ref, origin=entry.origin)
            duplicate = duplicates.add(seen)
            if duplicate is not None:
                result.problems.append(duplicate)
    result.pss.extend(got.pss)
    result.kinds.update(got.kinds)
    result.findings_by_severity.update(got.by_severity)
    result.suppressed += got.suppressed
    result.suppressed_by_control.update(got.suppressed_by_control)
    result.errored |= got.errored
    tally = result.tally
    for control_id, count in got.evaluated.items():
        tally.evaluated[control_id] = tally.evaluated.get(control_id, 0) + count
    for control_id, count in got.failed.items():
        tally.failed[control_id] = tally.failed.get(control_id, 0) + count
    for rule, used in zip(evaluator.config.exceptions, got.exceptions_used, strict=False):
        rule.used += used
    _merge_inventory(evaluator.inventory, got)


def _merge_inventory(inventory: Inventory, got: FileResult) -> None:
    inventory.pods.extend(got.pods)
    for kind, objects in got.objects.items():
        inventory.objects[kind].extend(objects)
    if got.objects:
        inventory._sa_index = None
    inventory.namespaces_seen |= got.namespaces


# -- the cross-object controls, in two processes ------------------------------------------------

#: Modules whose inventory controls run in the forked child: the RBAC controls (functions and the
#: ``rbac-risk`` template) share one RBAC model; checks.pods' inventory control (the ServiceAccount token,
#: KH-POD-024) reads that model too for its fix evidence, so it runs where the model is built; the
#: resource controls (KH-RES-*: containers' requests and limits, read against their namespace's LimitRange
#: defaults) come last in the catalogue and balance the two processes: this one runs the NetworkPolicy
#: controls and writes every finding of the tail.
CHILD_MODULES = frozenset({"kubeharden.checks.rbac", "kubeharden.checks.pods", "kubeharden.checks.resources"})
#: The largest frame the child's pipe may announce (bytes); a larger length is damage, not an answer
MAX_FRAME = 1 << 40
#: Bytes the pipes from the workers and from the child hold (Linux, best effort): what they send waits
#: there until this process reads it, rather than the sender waiting
PIPE_BYTES = 1024 * 1024


def logic_module(control: Control, run: Any) -> str | None:
    """The module that holds ``control``'s logic: its function's, or its rule template's (a template
    control's runner is a closure made in checks.registry)."""
    rule = control.rule
    if isinstance(rule, dict) and "template" in rule:
        return getattr(template_for(rule["template"]), "__module__", None)
    return getattr(run, "__module__", None)


class _Raised(NamedTuple):
    """An exception a control raised in the child, re-raised in the parent with the same name and text."""

    name: str
    text: str


def close_split(evaluator: Evaluator) -> Iterator[Finding]:
    """``evaluator.close_scope()``, with some cross-object controls (:data:`CHILD_MODULES`) run in a
    forked child meanwhile.

    The child is a copy of this process (the inventory is shared copy-on-write, nothing is sent
    to it) and sends back each control's violations as soon as it has them, in catalogue order.
    Meanwhile this process works out its own controls that come after the child's first one in
    catalogue order, then runs the engine's ``close_scope``, which emits every control's findings
    in catalogue order exactly as without the child: its own controls are run and emitted while the
    child still works, and a child's control waits only for that control's answer. Without
    ``os.fork``, with other threads running, or for the controls whose answer the child did not
    send (it failed), everything runs here.
    """
    scoped = evaluator._by_scope["inventory"]  # the engine's (control, runner) pairs of inventory scope
    remote = {c.id for c, run in scoped if logic_module(c, run) in CHILD_MODULES}
    if not remote or not hasattr(os, "fork") or threading.active_count() > 1:
        yield from evaluator.close_scope()
        return
    waiting = _Waiting(_fork_controls(evaluator, remote), evaluator.inventory, remote)
    try:
        first = next(n for n, (c, _) in enumerate(scoped) if c.id in remote)
        answers: dict[str, list[Any] | _Raised] = {c.id: _violations_or_error(run, evaluator)
                                                   for c, run in scoped[first:] if c.id not in remote}
        evaluator._by_scope["inventory"] = [
            (c, _replay(answers[c.id]) if c.id in answers else waiting.runner(c.id, run) if c.id in remote
             else run) for c, run in scoped]
        yield from evaluator.close_scope()
    finally:
        evaluator._by_scope["inventory"] = scoped
        waiting.close()  # the child is always waited for, even when the scan stops early


class _Waiting:
    """The child's answers, read from its pipe as far as the control asked for."""

    def __init__(self, child: tuple[int, int] | None, inventory: Inventory, ids: set[str]) -> None:
        self.pid = child[0] if child is not None else None
        self.pipe = os.fdopen(child[1], "rb") if child is not None else None
        self.inventory = inventory
        self.ids = ids  # the controls the child answers
        self.collected: dict[str, list[Any] | _Raised] = {}

    def answer(self, control_id: str) -> list[Any] | _Raised | None:
        """The child's answer for ``control_id``; None when it sent none (it failed before)."""
        while control_id not in self.collected and self.pipe is not None:
            frame = _next_frame(self.pipe)
            if frame is None:
                self.close()
            else:
                self.collected.update(_resolve(frame, self.inventory))
        return self.collected.get(control_id)

    def runner(self, control_id: str, run: Any) -> Any:
        """The runner of the child's control ``control_id``: its answer, or ``run`` here when the child failed."""
        def replay_or_run(unit: Any, ctx: Any) -> Any:
            got = self.answer(control_id)
            return _replay(got)(unit, ctx) if got is not None else run(unit, ctx)
        return replay_or_run

    def close(self) -> None:
        """Stop reading and wait for the child; one that has not sent every answer (the scan stopped early,
        or its pipe ended first) is stopped first."""
        if self.pipe is not None:
            self.pipe.close()
            self.pipe = None
        if self.pid is not None:
            if not self.ids <= self.collected.keys():
                _kill(self.pid)
            os.waitpid(self.pid, 0)
            self.pid = None


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:  # it has ended already
        pass


def _violations_or_error(run: Any, evaluator: Evaluator) -> list[Any] | _Raised:
    try:
        return list(run(evaluator.inventory, evaluator.ctx))
    except Exception as exc:
        return _Raised(type(exc).__name__, str(exc))


def _replay(answer: list[Any] | _Raised) -> Any:
    def run(unit: Any, ctx: Any) -> list[Any]:
        if isinstance(answer, _Raised):
            raise type(answer.name, (Exception,), {})(answer.text)
        return answer
    return run


def _fork_controls(evaluator: Evaluator, ids: set[str]) -> tuple[int, int] | None:
    """Fork a child that runs the controls ``ids``; (pid, read end of its pipe), or None.

    The child writes one frame per control, in catalogue order, as soon as it has its answer: eight
    bytes of length (little-endian), then the pickled ``{control ID: answer}`` (:func:`_by_reference`).
    """
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:  # the child: never returns, never flushes the parent's buffered output
        code = 1
        try:
            os.close(read_fd)
            _widen(write_fd)
            places = _places(evaluator.inventory)
            with os.fdopen(write_fd, "wb") as pipe:
                for control, run in evaluator._by_scope["inventory"]:
                    if control.id in ids:
                        answer = {control.id: _violations_or_error(run, evaluator)}
                        frame = ForkingPickler.dumps(_by_reference(answer, evaluator.inventory, places))
                        pipe.write(len(frame).to_bytes(8, "little"))
                        pipe.write(frame)
                        pipe.flush()
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    return pid, read_fd


def _widen_results(executor: ProcessPoolExecutor) -> None:
    """Let the pipe that brings the workers' results hold :data:`PIPE_BYTES`: a task's results are about
    the default 64 KiB, and a worker whose results fill the pipe waits until this process's result thread
    reads them (which waits its turn for the interpreter). The pipe is the executor's own (``_result_queue``,
    a private attribute of ProcessPoolExecutor since Python 3.9): without it, nothing changes."""
    writer = getattr(getattr(executor, "_result_queue", None), "_writer", None)
    if writer is not None:
        _widen(writer.fileno())


def _widen(fd: int) -> None:
    """Let the pipe of ``fd`` hold :data:`PIPE_BYTES`, so its writer rarely waits for this process to read (Linux)."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass  # another OS, or a limit below PIPE_BYTES: the writer waits for the reader now and then


def _next_frame(pipe: Any) -> dict[str, list[Any] | _Raised] | None:
    """The child's next whole frame, or None at the end of the pipe (or a frame cut short: the child died)."""
    head = pipe.read(8)
    if len(head) < 8:
        return None
    size = int.from_bytes(head, "little")
    if size > MAX_FRAME:  # not a length the child wrote: reading it would ask for that much memory first
        return None
    data = pipe.read(size)
    if len(data) < size:
        return None
    try:
        frame = ForkingPickler.loads(data)
    except Exception:
        return None
    return frame if isinstance(frame, dict) else None


class _InInventory(NamedTuple):
    """A violation's object named by its place in the inventory, which parent and child share."""

    kind: str | None  # None: a pod record
    position: int


def _places(inventory: Inventory) -> dict[int, _InInventory]:
    """Each inventory object's place, by the object's ``id``."""
    places: dict[int, _InInventory] = {id(p): _InInventory(None, i) for i, p in enumerate(inventory.pods)}
    for kind, objects in inventory.objects.items():
        places.update((id(o), _InInventory(kind, i)) for i, o in enumerate(objects))
    return places


def _by_reference(answers: dict[str, list[Any] | _Raised], inventory: Inventory,
                  places: dict[int, _InInventory] | None = None) -> dict[str, list[Any] | _Raised]:
    """The child's answers with each inventory object replaced by its place: the parent gets its own
    objects back (no copies in memory, and one object stays one object, as findings are counted).
    ``places``: :func:`_places` of ``inventory``, when already worked out."""
    places = _places(inventory) if places is None else places
    return {cid: [v._replace(obj=places[id(v.obj)]) if id(v.obj) in places else v for v in answer]
            if isinstance(answer, list) else answer for cid, answer in answers.items()}


def _resolve(answers: dict[str, list[Any] | _Raised], inventory: Inventory) -> dict[str, list[Any] | _Raised]:
    """:func:`_by_reference` undone in the parent."""
    def place(v: Any) -> Any:
        ref = v.obj
        if not isinstance(ref, _InInventory):
            return v
        objects = inventory.pods if ref.kind is None else inventory.objects[ref.kind]
        return v._replace(obj=objects[ref.position])
    return {cid: [place(v) for v in answer] if isinstance(answer, list) else answer for cid, answer in answers.items()}
