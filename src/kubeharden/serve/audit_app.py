"""``kubeharden audit serve``: the HTTPS side of the API server's audit webhook backend.

Batches (``audit.k8s.io/v1`` EventList, or one Event) are read, parsed and validated here, then
handed to the bounded :class:`~kubeharden.sources.audit_webhook.AuditQueue`; the answer goes out
at once (200 accepted, 503 with ``Retry-After`` when the queue is full: the API server's webhook
backend retries with backoff). A malformed batch gets 400 and a log line; a refusal (no client
certificate 403, too large 413, queue full 503) is counted apart from malformed batches
(:data:`REFUSALS`); nothing a client sends can stop the server. TLS is mandatory; with a client CA,
batches and ``/stats`` are accepted only from a client (the API server) that presented a certificate
signed by it; ``/healthz``,
``/readyz`` answer without one, for probes. Kubernetes documents the backend at
https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/#webhook-backend .
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from kubeharden.serve.metrics import CONTENT_TYPE, Counter, Gauge, Registry
from kubeharden.serve.server import HttpsServer, json_response
from kubeharden.serve.tls import has_client_certificate
from kubeharden.sources.audit import events_of
from kubeharden.sources.audit_webhook import AuditQueue

log = logging.getLogger("kubeharden.audit.serve")

MAX_BATCH_BYTES = 64 * 1024 * 1024
"""The API server's default batch is 400 events; even RequestResponse batches stay far below this."""

#: Why a well-formed request was refused, and its status: no client certificate (when ``--client-ca``
#: requires one), a body over :data:`MAX_BATCH_BYTES`, a full queue (503 with ``Retry-After``, which
#: the API server's webhook backend retries). Counted apart from malformed batches (400, 404, 411):
#: a refusal says the sender or the receiver's capacity needs attention, a malformed batch the sender.
REFUSALS = {"unauthenticated": 403, "too_large": 413, "queue_full": 503}


class AuditReceiver:
    """The HTTPS server plus its queue and worker. ``handle_events`` runs in the worker only.

    ``path``: accept batches only there (None: any path). ``timeout``: TLS handshake timeout in
    seconds. ``detect_in``: "thread" or "process" (see AuditQueue). ``shutdown_delay``: seconds it goes on
    accepting batches after SIGTERM (:meth:`HttpsServer.run`).
    """

    def __init__(self, address: tuple[str, int], tls: ssl.SSLContext,
                 handle_events: Callable[[list[dict[str, Any]]], int], queue_batches: int = 1000,
                 path: str | None = None, timeout: float = 30.0, max_connections: int = 256,
                 detect_in: str = "thread", shutdown_delay: float = 0.0) -> None:
        self.queue = AuditQueue(handle_events, queue_batches, detect_in)
        self.path = path
        self.tls_required = tls.verify_mode != ssl.CERT_NONE
        app = web.Application(client_max_size=MAX_BATCH_BYTES)
        app.router.add_get("/healthz", _ok)
        app.router.add_get("/readyz", _ok)
        app.router.add_get("/stats", self._stats)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_route("*", "/{tail:.*}", self._batch)
        self.metrics = Registry()
        self.refused = Counter("kubeharden_audit_refused_batches", "requests refused (unauthenticated 403, "
                               "too_large 413, queue_full 503), apart from malformed ones", ("reason",))
        for key, text in (("batches", "batches accepted"), ("events", "events accepted"),
                          ("malformed_batches", "requests refused as malformed (400, 404, 411)"),
                          ("rejected_batches", "batches refused with 503 because the queue was full"),
                          ("rejected_events", "events in batches refused with 503"),
                          ("processed_events", "events the rules ran over"), ("alerts", "alerts raised"),
                          ("queue_depth", "batches waiting for detection")):
            self.metrics.add(Gauge(f"kubeharden_audit_{key}", text, self._reader(key)))
        for reason in REFUSALS:
            self.refused.inc(reason, amount=0)  # every reason is exposed, 0 until it happens
        self.metrics.add(self.refused)
        self.server = HttpsServer(app, address[0], address[1], tls, max_connections=max_connections,
                                  handshake_timeout=timeout, shutdown_delay=shutdown_delay)

    def _reader(self, key: str) -> Callable[[], float]:
        return lambda: float(self.stats_dict()[key])

    @property
    def server_address(self) -> tuple[str, int]:
        return self.server.server_address

    def start(self) -> None:
        """Start the detection worker (before serving: a process worker forks from a quiet parent)."""
        self.queue.start()

    def serve(self) -> None:
        """Start the worker and serve from a thread of its own (tests, benchmarks); returns once listening."""
        self.start()
        self.server.start_in_thread()

    def run(self, on_started: Callable[[], None]) -> None:
        """Start the worker, serve in this thread until SIGTERM/SIGINT, then drain the queue.

        Raises OSError when the address cannot be bound (the worker is stopped first).
        """
        self.start()
        try:
            self.server.run(on_started)
        finally:
            self.queue.stop()

    def stop(self, drain_seconds: float = 5.0) -> None:
        """Stop accepting, let the worker finish the queue (up to ``drain_seconds``), close."""
        self.server.stop()
        self.queue.stop(drain_seconds)

    def stats_dict(self) -> dict[str, Any]:
        """Counters: ``batches``, ``events``, ``malformed_batches``, ``refused_unauthenticated``,
        ``refused_too_large``, ``refused_queue_full``, ``rejected_events``, the worker's, ``queue_depth``."""
        out = self.queue.stats_dict()
        out.update({f"refused_{reason}": int(self.refused.get(reason)) for reason in REFUSALS})
        return out

    def summary(self) -> str:
        """One line for the log when the receiver stops: what was accepted, refused and malformed."""
        s = self.stats_dict()
        return (f"{s['batches']} batch(es) with {s['events']} event(s) accepted, {s.get('processed_events', 0)} "
                f"processed, {s.get('alerts', 0)} alert(s); refused: {s['refused_unauthenticated']} without a "
                f"client certificate (403), {s['refused_too_large']} too large (413), {s['refused_queue_full']} "
                f"with the queue full (503, {s['rejected_events']} event(s), retried by the API server); "
                f"{s['malformed_batches']} malformed (400, 404, 411)")

    # -- handlers ---------------------------------------------------------------------

    def _bad(self, request: web.Request, code: int, message: str) -> web.Response:
        self.queue.malformed()
        log.warning("rejected request from %s: %s", request.remote, message)
        return json_response(code, {"error": message}, {"Connection": "close"})

    def _refuse(self, request: web.Request, reason: str, message: str) -> web.Response:
        """A well-formed request refused (:data:`REFUSALS`), counted by reason, not as malformed."""
        self.refused.inc(reason)
        log.warning("refused request from %s: %s", request.remote, message)
        return json_response(REFUSALS[reason], {"error": message}, {"Connection": "close"})

    def _authenticated(self, request: web.Request) -> bool:
        return not self.tls_required or has_client_certificate(request)

    async def _stats(self, request: web.Request) -> web.Response:
        if not self._authenticated(request):
            return self._refuse(request, "unauthenticated", "a client certificate signed by the configured CA is "
                                                            "required")
        return json_response(200, self.stats_dict())

    async def _metrics(self, request: web.Request) -> web.Response:
        if not self._authenticated(request):
            return self._refuse(request, "unauthenticated", "a client certificate signed by the configured CA is "
                                                            "required")
        return web.Response(text=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def _batch(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            return json_response(404, {"error": "POST audit EventList batches here; GET /healthz, /stats or /metrics"})
        if not self._authenticated(request):
            return self._refuse(request, "unauthenticated", "a client certificate signed by the configured CA is "
                                                            "required")
        if self.path and request.path != self.path:
            return self._bad(request, 404, f"unknown path {request.path[:100]!r}")
        if request.content_length is None:
            return self._bad(request, 411, "Content-Length is required")
        if request.content_length > MAX_BATCH_BYTES:
            return self._refuse(request, "too_large", f"batch of {request.content_length} bytes is over the "
                                                      f"{MAX_BATCH_BYTES} byte limit")
        try:
            body = await request.read()
        except (TimeoutError, OSError, web.HTTPException) as exc:
            return self._bad(request, 400, f"reading the batch failed: {exc}")
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return self._bad(request, 400, f"not JSON: {exc}")
        events = events_of(doc)
        if events is None:
            return self._bad(request, 400, "not an audit.k8s.io/v1 EventList (or Event)")
        if not self.queue.enqueue(events, body):  # counted and logged by the queue, at most every 5 s
            self.refused.inc("queue_full")
            return json_response(REFUSALS["queue_full"], {"error": "busy; retry"}, {"Retry-After": "1"})
        return json_response(200, {"accepted": len(events)})


async def _ok(request: web.Request) -> web.Response:
    return json_response(200, {"status": "ok"})
