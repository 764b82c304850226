"""The detection side of the API server's audit webhook backend (``--audit-webhook-config-file``).

The API server POSTs ``audit.k8s.io/v1`` ``EventList`` batches to ``kubeharden audit serve`` (its
HTTPS side is ``kubeharden.serve.audit_app``). A busy control plane must never wait on detection,
so the receiver only parses and validates a batch and hands it to the bounded queue here
(:class:`AuditQueue`); one worker runs the rules. When the queue is full the batch is refused with
503 (the API server's webhook backend keeps it and retries with backoff) and the refusal is
counted and logged. The worker is a thread, or (``detect_in="process"``) a forked child process,
so detection and receiving each get a CPU core.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from kubeharden.sources.audit import events_of

log = logging.getLogger("kubeharden.audit.serve")

MAX_BATCH_BYTES = 64 * 1024 * 1024
"""The API server's default batch is 400 events; even RequestResponse batches stay far below this."""


@dataclass
class ReceiverStats:
    """What the receiving side counted; the worker's counts are added by :meth:`AuditReceiver.stats_dict`."""

    batches: int = 0
    events: int = 0
    malformed: int = 0
    rejected_batches: int = 0
    rejected_events: int = 0
    started: float = field(default_factory=time.time)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class _Worker:
    """The queue between receiver and detection, and the loop that drains it (shared by both kinds)."""

    handle: Callable[[list[dict[str, Any]]], int]
    queue: Any

    def submit(self, events: list[dict[str, Any]], body: bytes) -> bool:
        try:
            self.queue.put_nowait(self._item(events, body))
        except queue.Full:
            return False
        return True

    def depth(self) -> int:
        try:
            return self.queue.qsize()
        except NotImplementedError:  # pragma: no cover - multiprocessing on macOS
            return 0

    def _loop(self, to_events: Callable[[Any], list[dict[str, Any]]]) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            try:
                events = to_events(item)
                alerts = self.handle(events)
            except Exception:  # one bad batch must not stop detection
                log.exception("processing a batch failed")
                self._bump("worker_errors", 1)
                continue
            self._bump("processed_events", len(events))
            self._bump("alerts", alerts or 0)

    def _signal_stop(self, deadline: float) -> None:
        """Let the queue drain until ``deadline``, then tell the loop to finish."""
        while self.depth() and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            self.queue.put(None, timeout=1)
        except queue.Full:
            pass

    def _item(self, events: list[dict[str, Any]], body: bytes) -> Any:
        raise NotImplementedError

    def _bump(self, key: str, n: int) -> None:
        raise NotImplementedError


class _ThreadWorker(_Worker):
    """Detection in a thread of this process: simple, and enough for most clusters."""

    def __init__(self, handle: Callable[[list[dict[str, Any]]], int], queue_batches: int) -> None:
        self.handle = handle
        self.queue = queue.Queue(maxsize=queue_batches)
        self.counts = {"processed_events": 0, "alerts": 0, "worker_errors": 0}
        self.thread = threading.Thread(target=self._loop, args=(lambda events: events,),
                                       name="kubeharden-audit-worker", daemon=True)

    def _item(self, events: list[dict[str, Any]], body: bytes) -> Any:
        return events

    def _bump(self, key: str, n: int) -> None:
        self.counts[key] += n  # only the worker thread writes

    def start(self) -> None:
        self.thread.start()

    def stop(self, deadline: float) -> None:
        self._signal_stop(deadline)
        self.thread.join(timeout=max(0.1, deadline - time.monotonic()))  # the owner closes the pipeline


class _ProcessWorker(_Worker):
    """Detection in a child process (forked, so the compiled rules need no pickling): the receiver's
    TLS and parsing and the rules no longer share one interpreter lock, so both run at full speed.
    The raw batch crosses the pipe and is parsed again there, which is cheaper than pickling events."""

    def __init__(self, handle: Callable[[list[dict[str, Any]]], int], queue_batches: int) -> None:
        ctx = multiprocessing.get_context("fork")
        self.handle = handle
        self.queue = ctx.Queue(maxsize=queue_batches)
        self.values = {k: ctx.Value("q", 0) for k in ("processed_events", "alerts", "worker_errors")}
        self.process = ctx.Process(target=self._run, name="kubeharden-audit-detect", daemon=True)

    @property
    def counts(self) -> dict[str, int]:
        return {k: int(v.value) for k, v in self.values.items()}

    def _item(self, events: list[dict[str, Any]], body: bytes) -> Any:
        return body

    def _bump(self, key: str, n: int) -> None:
        value = self.values[key]
        with value.get_lock():
            value.value += n

    def start(self) -> None:
        self.process.start()

    def _run(self) -> None:  # in the child
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self._loop(lambda body: events_of(orjson.loads(body)) or [])
        close = getattr(self.handle, "close", None)
        if close is not None:
            close()  # sinks opened in this process are flushed and closed here

    def stop(self, deadline: float) -> None:
        self._signal_stop(deadline)
        self.process.join(timeout=max(0.1, deadline - time.monotonic()))
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=2)
        self.queue.close()


class AuditQueue:
    """The receiver's side of detection: counts, the bounded queue and its worker.

    ``handle_events`` runs in the worker only. ``detect_in``: "thread" or "process" (ValueError
    otherwise). The HTTP side (``kubeharden.serve.audit_app``) calls :meth:`enqueue` per batch.
    """

    def __init__(self, handle_events: Callable[[list[dict[str, Any]]], int], queue_batches: int = 1000,
                 detect_in: str = "thread") -> None:
        self.stats = ReceiverStats()
        self._last_reject_log = 0.0
        if detect_in not in ("thread", "process"):
            raise ValueError("detect_in is 'thread' or 'process'")
        worker_class = _ProcessWorker if detect_in == "process" else _ThreadWorker
        self.worker: _ThreadWorker | _ProcessWorker = worker_class(handle_events, queue_batches)

    def malformed(self) -> None:
        with self.stats.lock:
            self.stats.malformed += 1

    def start(self) -> None:
        """Start the detection worker (before serving: a process worker forks from a quiet parent)."""
        self.worker.start()

    def stop(self, drain_seconds: float = 5.0) -> None:
        """Let the worker finish the queue (up to ``drain_seconds``), then end it."""
        self.worker.stop(time.monotonic() + drain_seconds)

    def stats_dict(self) -> dict[str, Any]:
        st = self.stats
        with st.lock:
            out: dict[str, float] = {"batches": st.batches, "events": st.events, "malformed_batches": st.malformed,
                   "rejected_batches": st.rejected_batches, "rejected_events": st.rejected_events}
        out.update(self.worker.counts)
        out["queue_depth"] = self.worker.depth()
        out["uptime_seconds"] = round(time.time() - st.started, 1)
        return out

    def enqueue(self, events: list[dict[str, Any]], body: bytes) -> bool:
        if not self.worker.submit(events, body):
            with self.stats.lock:
                self.stats.rejected_batches += 1
                self.stats.rejected_events += len(events)
                rejected = self.stats.rejected_events
            now = time.monotonic()
            if now - self._last_reject_log > 5:
                self._last_reject_log = now
                log.warning("queue full: batch of %d events refused with 503 (%d events refused so far)",
                            len(events), rejected)
            return False
        with self.stats.lock:
            self.stats.batches += 1
            self.stats.events += len(events)
        return True
