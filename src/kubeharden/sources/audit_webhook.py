"""An HTTPS receiver for the API server's audit webhook backend (``--audit-webhook-config-file``).

The API server POSTs ``audit.k8s.io/v1`` ``EventList`` batches. A busy control plane must never
wait on detection, so the receiver only reads, parses and validates a batch, hands it to a bounded
queue and answers at once; one worker thread runs the rules. When the queue is full the batch is
refused with 503 (the API server's webhook backend keeps it and retries with backoff) and the
refusal is counted and logged. The worker is a thread, or (``detect_in="process"``) a forked child
process, so detection and receiving each get a CPU core. A malformed batch gets 400 and a log
line; nothing a client sends can stop the server.

TLS is mandatory. With a client CA, batches are accepted only from a client (the API server) that
presented a certificate signed by it; only ``/healthz`` answers without one, for probes.
The TLS handshake happens in the connection's own thread, so a slow client cannot hold up others.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


def server_tls_context(cert: str, key: str, client_ca: str | None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    if client_ca:
        # A certificate, when presented, must verify against the CA (else the handshake fails). It is
        # optional at the TLS layer only so that probes can reach /healthz; POST and /stats insist on it.
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(client_ca)
    return ctx


class AuditReceiver(ThreadingHTTPServer):
    """The HTTPS server plus its queue and worker. ``handle_events`` runs in the worker only."""

    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], tls: ssl.SSLContext,
                 handle_events: Callable[[list[dict[str, Any]]], int], queue_batches: int = 1000,
                 path: str | None = None, timeout: float = 30.0, max_connections: int = 256,
                 detect_in: str = "thread") -> None:
        super().__init__(address, _Handler)
        self.slots = threading.BoundedSemaphore(max_connections)
        self.tls = tls
        self.path = path
        self.conn_timeout = timeout
        self.stats = ReceiverStats()
        self._last_reject_log = 0.0
        if detect_in not in ("thread", "process"):
            raise ValueError("detect_in is 'thread' or 'process'")
        worker_class = _ProcessWorker if detect_in == "process" else _ThreadWorker
        self.worker: _ThreadWorker | _ProcessWorker = worker_class(handle_events, queue_batches)

    def process_request(self, request: Any, client_address: Any) -> None:
        """One thread per connection, up to ``max_connections``; beyond that, close at once."""
        if not self.slots.acquire(blocking=False):
            log.warning("too many connections; closing one from %s", client_address[0])
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    # TLS in the connection's thread, not in accept(): a stalled handshake delays nobody else.
    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(self.conn_timeout)
        try:
            tls_sock = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.warning("TLS handshake with %s failed: %s", client_address[0], exc)
            return
        try:
            self.RequestHandlerClass(tls_sock, client_address, self)  # type: ignore[arg-type]  # typeshed: Self
        finally:
            try:
                tls_sock.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:  # never print tracebacks per client
        log.warning("connection from %s ended with an error", client_address[0], exc_info=False)

    def start(self) -> None:
        """Start the detection worker (before serving: a process worker forks from a quiet parent)."""
        self.worker.start()

    def serve(self) -> None:
        self.start()
        self.serve_forever(poll_interval=0.2)

    def stop(self, drain_seconds: float = 5.0) -> None:
        """Stop accepting, let the worker finish the queue (up to ``drain_seconds``), close."""
        self.shutdown()
        self.server_close()
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


class _Handler(BaseHTTPRequestHandler):
    server: AuditReceiver
    protocol_version = "HTTP/1.1"
    server_version = "kubeharden-audit"
    disable_nagle_algorithm = True  # headers and body go out as two writes; Nagle would hold the second

    def log_message(self, fmt: str, *args: Any) -> None:  # access logs are noise at thousands of batches/s
        log.debug("%s " + fmt, self.client_address[0], *args)

    def _reply(self, code: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = orjson.dumps(body)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _bad(self, code: int, message: str) -> None:
        with self.server.stats.lock:
            self.server.stats.malformed += 1
        log.warning("rejected request from %s: %s", self.client_address[0], message)
        self.close_connection = True
        self._reply(code, {"error": message})

    def _authenticated(self) -> bool:
        """With a client CA configured, the peer must have presented a certificate it signed."""
        if self.server.tls.verify_mode == ssl.CERT_NONE:
            return True
        if self.connection.getpeercert():
            return True
        self._bad(403, "a client certificate signed by the configured CA is required")
        return False

    def do_GET(self) -> None:
        if self.path.split("?")[0] in ("/healthz", "/readyz"):
            self._reply(200, {"status": "ok"})
        elif self.path.split("?")[0] == "/stats":
            if not self._authenticated():
                return
            self._reply(200, self.server.stats_dict())
        else:
            self._reply(404, {"error": "POST audit EventList batches here; GET /healthz or /stats"})

    def do_POST(self) -> None:
        if not self._authenticated():
            return
        if self.server.path and self.path.split("?")[0] != self.server.path:
            self._bad(404, f"unknown path {self.path[:100]!r}")
            return
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.isdigit():
            self._bad(411, "Content-Length is required")
            return
        length = int(length_text)
        if length > MAX_BATCH_BYTES:
            self._bad(413, f"batch of {length} bytes is over the {MAX_BATCH_BYTES} byte limit")
            return
        try:
            body = self.rfile.read(length)
        except (TimeoutError, OSError) as exc:
            log.warning("reading a batch from %s failed: %s", self.client_address[0], exc)
            self.close_connection = True
            return
        if len(body) < length:
            self._bad(400, "body shorter than Content-Length")
            return
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            self._bad(400, f"not JSON: {exc}")
            return
        events = events_of(doc)
        if events is None:
            self._bad(400, "not an audit.k8s.io/v1 EventList (or Event)")
            return
        if not self.server.enqueue(events, body):
            self._reply(503, {"error": "busy; retry"}, {"Retry-After": "1"})
            return
        self._reply(200, {"accepted": len(events)})
