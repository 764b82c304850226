"""``kubeharden webhook serve``: the admission webhook's HTTPS endpoints on the shared server.

``POST /validate`` (ValidatingWebhookConfiguration) and, with mutation on, ``POST /mutate``
(MutatingWebhookConfiguration) take AdmissionReview v1 bodies; a body that is not one gets 400
and is counted, and the server keeps serving. ``GET /healthz`` (alive), ``/readyz`` (the
controls are compiled and a first review ran) and ``/metrics`` (Prometheus) need no client
certificate, so kubelet probes and scrapers reach them; with a client CA the review paths need
one signed by it (the API server presents it when its AdmissionConfiguration gives one:
https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#authenticate-apiservers).
"""

from __future__ import annotations

import gc
import logging
import ssl
import time

from aiohttp import web

from kubeharden.enforce.admission import AdmissionSettings, BadReview, Reviewer, parse_review, with_settings
from kubeharden.serve.metrics import CONTENT_TYPE, Counter, Histogram, Registry
from kubeharden.serve.server import HttpsServer, json_response
from kubeharden.serve.tls import has_client_certificate, requires_client_certificate

log = logging.getLogger("kubeharden.webhook")

#: An AdmissionReview carries the object and, on UPDATE, the old one; the API server refuses
#: objects over 3 MiB (etcd's request limit is 1.5 MiB), so 8 MiB is room for both with slack.
MAX_REVIEW_BYTES = 8 * 1024 * 1024

WARM_UP = {"uid": "warm-up", "operation": "CREATE", "kind": {"group": "", "version": "v1", "kind": "Pod"},
           "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "default",
           "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "warm-up"},
                      "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}


def tune_gc_after_warm_up() -> None:
    """Freeze what the server keeps for its lifetime (modules, compiled controls, the application) once
    warmed up, so no later collection walks it again (``gc.freeze``: Python docs, "gc" module).

    The collector's thresholds stay those of :func:`kubeharden.gctune.tune_gc`: a review's objects are
    acyclic and freed by reference counting, so young collections are rare (benchmarks/webhook_stages.py
    counts them), and with the long-lived objects frozen each one only walks what is young.
    """
    gc.collect()
    gc.freeze()


class WebhookApp:
    """The aiohttp application of the webhook and its metrics."""

    def __init__(self, settings: AdmissionSettings, tls: ssl.SSLContext, mutate: bool = False) -> None:
        self.validator = Reviewer(settings)
        self.mutator = Reviewer(with_settings(settings, mutate=True)) if mutate else None
        self.tls = tls
        #: with a client CA, the review endpoints answer only clients with a certificate it signed
        self.client_certificates = requires_client_certificate(tls)
        self.ready = False
        self.metrics = Registry()
        self.reviews = self.metrics.add(Counter(
            "kubeharden_admission_reviews_total", "admission reviews answered, by endpoint, outcome "
            "(allowed, denied, would-deny, skipped, error) and kind", ("endpoint", "outcome", "kind")))
        self.findings = self.metrics.add(Counter(
            "kubeharden_admission_findings_total", "failing findings in reviewed objects, by control", ("control",)))
        self.malformed = self.metrics.add(Counter(
            "kubeharden_admission_malformed_total", "requests answered 400 (not an AdmissionReview v1) or 403"))
        self.latency = self.metrics.add(Histogram(
            "kubeharden_admission_review_duration_seconds", "time from the body read to the answer"))
        app = web.Application(client_max_size=MAX_REVIEW_BYTES)
        app.router.add_post("/validate", self._validate)
        if self.mutator is not None:
            app.router.add_post("/mutate", self._mutate)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        app.on_startup.append(self._warm_up)
        self.app = app

    def server(self, host: str, port: int, max_connections: int = 1024, shutdown_delay: float = 0.0) -> HttpsServer:
        """The HTTPS server of this application (:class:`HttpsServer`; ``shutdown_delay`` in seconds)."""
        return HttpsServer(self.app, host, port, self.tls, max_connections=max_connections,
                           shutdown_delay=shutdown_delay)

    async def _warm_up(self, app: web.Application) -> None:
        """Compile the controls before the first real review (it would otherwise pay for it), then freeze what
        the server keeps (:func:`tune_gc_after_warm_up`)."""
        self.validator.review(WARM_UP)
        if self.mutator is not None:
            self.mutator.review(WARM_UP)
        tune_gc_after_warm_up()
        self.ready = True

    async def _validate(self, request: web.Request) -> web.Response:
        return await self._answer(request, self.validator, "validate")

    async def _mutate(self, request: web.Request) -> web.Response:
        assert self.mutator is not None
        return await self._answer(request, self.mutator, "mutate")

    async def _answer(self, request: web.Request, reviewer: Reviewer, endpoint: str) -> web.Response:
        if self.client_certificates and not has_client_certificate(request):
            self.malformed.inc()
            return json_response(403, {"error": "a client certificate signed by the configured CA is required"})
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self.malformed.inc()
            return json_response(413, {"error": f"an AdmissionReview is at most {MAX_REVIEW_BYTES} bytes"})
        started = time.perf_counter()
        try:
            review = parse_review(body)
        except BadReview as exc:
            self.malformed.inc()
            log.warning("rejected request from %s: %s", request.remote, exc)
            return json_response(400, {"error": str(exc)})
        verdict = reviewer.review(review)
        if verdict.outcome == "malformed":  # an object the API server would have refused: not from it
            self.malformed.inc()
            log.warning("rejected request from %s: %s", request.remote, verdict.message)
            return json_response(400, {"error": verdict.message})
        self.reviews.inc(endpoint, verdict.outcome, verdict.kind)
        for f in verdict.findings:
            self.findings.inc(f.control.id)
        if verdict.outcome in ("denied", "would-deny", "error"):
            log.info("%s %s %s: %s", endpoint, verdict.outcome, verdict.kind,
                     verdict.message.splitlines()[0] if verdict.message else "")
        response = json_response(200, verdict.response())
        self.latency.observe(time.perf_counter() - started)
        return response

    async def _healthz(self, request: web.Request) -> web.Response:
        return json_response(200, {"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        return json_response(200 if self.ready else 503, {"status": "ok" if self.ready else "starting"})

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})
