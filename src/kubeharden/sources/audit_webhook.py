"""An HTTPS receiver for the API server's audit webhook backend (``--audit-webhook-config-file``).

The API server POSTs ``audit.k8s.io/v1`` ``EventList`` batches. A busy control plane must never
wait on detection, so the receiver only reads, parses and validates a batch, hands it to a bounded
queue and answers at once; one worker thread runs the rules. When the queue is full the batch is
refused with 503 (the API server's webhook backend keeps it and retries with backoff) and the
refusal is counted and logged. A malformed batch gets 400 and a log line; nothing a client sends
can stop the server.

TLS is mandatory. With a client CA, batches are accepted only from a client (the API server) that
presented a certificate signed by it; only ``/healthz`` answers without one, for probes.
The TLS handshake happens in the connection's own thread, so a slow client cannot hold up others.
"""

from __future__ import annotations

import logging
import queue
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
    batches: int = 0
    events: int = 0
    malformed: int = 0
    rejected_batches: int = 0
    rejected_events: int = 0
    processed_events: int = 0
    alerts: int = 0
    worker_errors: int = 0
    started: float = field(default_factory=time.time)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def to_dict(self, depth: int) -> dict[str, Any]:
        with self.lock:
            return {"batches": self.batches, "events": self.events, "malformed_batches": self.malformed,
                    "rejected_batches": self.rejected_batches, "rejected_events": self.rejected_events,
                    "processed_events": self.processed_events, "alerts": self.alerts,
                    "worker_errors": self.worker_errors, "queue_depth": depth,
                    "uptime_seconds": round(time.time() - self.started, 1)}


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
                 path: str | None = None, timeout: float = 30.0, max_connections: int = 256) -> None:
        super().__init__(address, _Handler)
        self.slots = threading.BoundedSemaphore(max_connections)
        self.tls = tls
        self.handle_events = handle_events
        self.queue: queue.Queue[list[dict[str, Any]] | None] = queue.Queue(maxsize=queue_batches)
        self.path = path
        self.conn_timeout = timeout
        self.stats = ReceiverStats()
        self._last_reject_log = 0.0
        self.worker = threading.Thread(target=self._work, name="kubeharden-audit-worker", daemon=True)

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
            self.RequestHandlerClass(tls_sock, client_address, self)
        finally:
            try:
                tls_sock.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:  # never print tracebacks per client
        log.warning("connection from %s ended with an error", client_address[0], exc_info=False)

    def start(self) -> None:
        self.worker.start()

    def serve(self) -> None:
        self.start()
        self.serve_forever(poll_interval=0.2)

    def stop(self, drain_seconds: float = 5.0) -> None:
        """Stop accepting, let the worker finish the queue (up to ``drain_seconds``), close."""
        self.shutdown()
        self.server_close()
        deadline = time.monotonic() + drain_seconds
        while not self.queue.empty() and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            self.queue.put(None, timeout=1)
        except queue.Full:
            pass
        self.worker.join(timeout=max(0.1, deadline - time.monotonic()))

    def enqueue(self, events: list[dict[str, Any]]) -> bool:
        try:
            self.queue.put_nowait(events)
        except queue.Full:
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

    def _work(self) -> None:
        while True:
            batch = self.queue.get()
            if batch is None:
                return
            try:
                alerts = self.handle_events(batch)
            except Exception:
                log.exception("processing a batch of %d events failed", len(batch))
                with self.stats.lock:
                    self.stats.worker_errors += 1
                continue
            with self.stats.lock:
                self.stats.processed_events += len(batch)
                self.stats.alerts += alerts or 0


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
            self._reply(200, self.server.stats.to_dict(self.server.queue.qsize()))
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
        if not self.server.enqueue(events):
            self._reply(503, {"error": "busy; retry"}, {"Retry-After": "1"})
            return
        self._reply(200, {"accepted": len(events)})
