"""`kubeharden audit serve` end to end over real TLS on 127.0.0.1, and the receiver's back-pressure."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import orjson
import pytest
from pki import make_pki
from serving import read_until, serving

from kubeharden.detect.simulate import make_event, pod
from kubeharden.report.alert_sinks import WebhookSink
from kubeharden.serve.audit_app import AuditReceiver
from kubeharden.serve.tls import server_tls_context

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def client_ctx(pki, prefix=""):
    ctx = ssl.create_default_context(cafile=pki["ca"])
    if prefix is not None:
        ctx.load_cert_chain(pki[f"{prefix}client"], pki[f"{prefix}client_key"])
    return ctx


def post(port, ctx, body: bytes, path="/audit"):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def batch(events) -> bytes:
    return orjson.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": events})


@pytest.fixture(params=["thread", "process"])
def server(pki, tmp_path, request):
    alerts = tmp_path / "alerts.jsonl"
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubeharden", "audit", "serve", "--host", "127.0.0.1", "--port", "0",
         "--path", "/audit", "--tls-cert", pki["server"], "--tls-key", pki["server_key"], "--client-ca", pki["ca"],
         "--alerts-file", str(alerts), "--no-stdout", "--detect-in", request.param],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True)
    port = None
    deadline = time.monotonic() + 20
    lines = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        m = re.search(r"listening on https://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
        if proc.poll() is not None:
            break
    assert port, "server did not start: " + "".join(lines)
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    yield proc, port, alerts, log
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_serve_end_to_end(server, pki):
    proc, port, alerts, log = server
    ctx = client_ctx(pki)
    evil = make_event("create", "pods", None, "kube-system", body=pod(
        namespace="kube-system", container={"securityContext": {"privileged": True}}))
    status, body = post(port, ctx, batch([make_event("get", "pods"), evil]))
    assert (status, body) == (200, {"accepted": 2})
    assert wait_for(lambda: alerts.exists() and "KH-AUDIT-001" in alerts.read_text())
    rows = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert {r["rule"]["id"] for r in rows} >= {"KH-AUDIT-001", "KH-AUDIT-009"}
    assert all(r["kubernetes"]["audit"]["auditID"] == [evil["auditID"]] for r in rows)

    assert post(port, ctx, b"{not json")[0] == 400
    assert post(port, ctx, orjson.dumps({"kind": "Pod"}))[0] == 400
    assert post(port, ctx, batch([]), path="/elsewhere")[0] == 404
    assert post(port, ctx, batch([make_event("get", "pods")]))[0] == 200  # still serving after bad input

    def stats() -> dict:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
        conn.request("GET", "/stats")
        data = json.loads(conn.getresponse().read())
        conn.close()
        return data
    assert wait_for(lambda: stats()["processed_events"] == 3)
    assert stats()["malformed_batches"] == 3 and stats()["events"] == 3
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    conn.request("GET", "/metrics")
    metrics = conn.getresponse().read().decode()
    conn.close()
    assert "kubeharden_audit_events 3\n" in metrics and "kubeharden_audit_processed_events 3\n" in metrics
    assert any("rejected request" in line and "not JSON" in line for line in log)

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_client_certificate_is_required_and_verified(server, pki):
    _, port, _, _ = server
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):  # a certificate from another CA
        post(port, client_ctx(pki, prefix="rogue_"), batch([make_event("get", "pods")]))
    anonymous = client_ctx(pki, prefix=None)
    assert post(port, anonymous, batch([make_event("get", "pods")]))[0] == 403
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=anonymous, timeout=10)
    conn.request("GET", "/healthz")  # probes need no certificate
    assert conn.getresponse().status == 200
    conn.close()
    assert post(port, client_ctx(pki), batch([make_event("get", "pods")]))[0] == 200


def test_full_queue_answers_503_without_blocking(pki):
    release = threading.Event()

    def slow(events):
        release.wait(10)
        return 0

    srv = AuditReceiver(("127.0.0.1", 0), server_tls_context(pki["server"], pki["server_key"], None), slow,
                        queue_batches=1)
    srv.serve()
    try:
        port = srv.server_address[1]
        ctx = ssl.create_default_context(cafile=pki["ca"])
        body = batch([make_event("get", "pods")])
        codes = [post(port, ctx, body)[0]]
        assert wait_for(lambda: srv.queue.worker.depth() == 0)  # the worker holds the first batch
        codes += [post(port, ctx, body)[0] for _ in range(3)]  # one queued, the rest refused
        assert codes[:2] == [200, 200] and codes[2:] == [503, 503]
        assert srv.stats_dict()["rejected_batches"] == 2
    finally:
        release.set()
        srv.stop()
    assert srv.stats_dict()["processed_events"] == 2


def test_alert_webhook_sink_posts_and_survives_failures():
    got: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        sink = WebhookSink(f"http://127.0.0.1:{receiver.server_address[1]}/alerts", timeout=2)
        sink.send([{"rule": {"id": "KH-AUDIT-001"}}])
        sink.close()
        assert got == [[{"rule": {"id": "KH-AUDIT-001"}}]]
    finally:
        receiver.shutdown()
        receiver.server_close()
    dead = WebhookSink(f"http://127.0.0.1:{receiver.server_address[1]}/alerts", timeout=1)
    dead.send([{"rule": {"id": "x"}}])
    dead.close()
    assert dead.failed == 1


def test_connection_cap_closes_extra_connections(pki):
    srv = AuditReceiver(("127.0.0.1", 0), server_tls_context(pki["server"], pki["server_key"], None),
                        lambda events: 0, max_connections=1)
    srv.serve()
    try:
        port = srv.server_address[1]
        ctx = ssl.create_default_context(cafile=pki["ca"])
        held = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
        held.request("GET", "/healthz")
        assert held.getresponse().read() == b'{"status":"ok"}'  # keep-alive: this connection keeps its slot
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            post(port, ctx, batch([make_event("get", "pods")]))
        held.close()

        def accepted() -> bool:
            try:
                return post(port, ctx, batch([make_event("get", "pods")]))[0] == 200
            except (ssl.SSLError, ConnectionError, OSError):
                return False
        assert wait_for(accepted)  # the slot comes back once the held connection is gone
    finally:
        srv.stop()


def test_after_sigterm_the_receiver_accepts_batches_for_the_shutdown_delay(pki):
    """As `webhook serve`: the API server's audit webhook keeps posting until the endpoints drop the pod."""
    with serving("audit", "serve", "--host", "127.0.0.1", "--port", "0", "--tls-cert", pki["server"],
                 "--tls-key", pki["server_key"], "--no-stdout", "--shutdown-delay", "60") as (proc, port):
        proc.send_signal(signal.SIGTERM)
        read_until(proc, "still serving for 60 s")
        assert post(port, client_ctx(pki, prefix=None), batch([make_event("get", "pods")])) == (200, {"accepted": 1})
        proc.send_signal(signal.SIGTERM)  # a second signal stops it at once
        assert proc.wait(timeout=20) == 0
