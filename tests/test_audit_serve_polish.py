"""`audit serve` refusals, its warning without client certificates, and `generate audit-webhook-config
--test-ca`: the API server's side it writes, accepted by `audit serve` over a real mutual-TLS handshake."""

from __future__ import annotations

import http.client
import os
import re
import signal
import ssl
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import yaml

from kubeharden.cli import main
from kubeharden.detect.simulate import make_event
from kubeharden.serve.audit_app import MAX_BATCH_BYTES, AuditReceiver
from kubeharden.serve.tls import server_tls_context

SRC = str(Path(__file__).resolve().parents[1] / "src")
BATCH = orjson.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {},
                      "items": [make_event("get", "pods")]})


def _api_server_context(kubeconfig: dict) -> ssl.SSLContext:
    """The TLS client the API server makes from --audit-webhook-config-file: the cluster's CA verifies the
    receiver (its name too), the user's certificate and key authenticate the API server."""
    cluster = kubeconfig["clusters"][0]["cluster"]
    user = kubeconfig["users"][0]["user"]
    ctx = ssl.create_default_context(cafile=cluster["certificate-authority"])
    ctx.load_cert_chain(user["client-certificate"], user["client-key"])
    return ctx


def _request(port: int, ctx: ssl.SSLContext, method: str = "POST", path: str = "/audit", body: bytes = BATCH,
             length: int | None = None) -> int:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    try:
        conn.putrequest(method, path)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body) if length is None else length))
        conn.endheaders()
        if length is None:
            conn.send(body)
        return conn.getresponse().status
    finally:
        conn.close()


def test_test_ca_writes_keys_0600_and_a_kubeconfig_audit_serve_accepts_over_mutual_tls(tmp_path, capsys):
    folder = tmp_path / "pki"
    assert main(["generate", "audit-webhook-config", "--server", "https://127.0.0.1:8443/audit",
                 "--test-ca", str(folder)]) == 0
    err = capsys.readouterr().err
    assert "--client-ca" in err and str(folder.resolve() / "ca.crt") in err
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["audit-webhook.yaml", "ca.crt", "client.crt", "client.key", "server.crt", "server.key"]
    for key in ("server.key", "client.key"):
        assert stat.S_IMODE((folder / key).stat().st_mode) == 0o600
    assert not any("PRIVATE KEY" in (folder / n).read_text() for n in names if not n.endswith(".key"))
    kubeconfig = yaml.safe_load((folder / "audit-webhook.yaml").read_text())
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:8443/audit"

    tls = server_tls_context(str(folder / "server.crt"), str(folder / "server.key"), str(folder / "ca.crt"))
    srv = AuditReceiver(("127.0.0.1", 0), tls, lambda events: 0, path="/audit")
    srv.serve()
    try:
        port = srv.server_address[1]
        # the API server's side, exactly as the kubeconfig says: verified both ways, hostname included
        assert _request(port, _api_server_context(kubeconfig)) == 200
        anonymous = ssl.create_default_context(cafile=str(folder / "ca.crt"))
        assert _request(port, anonymous) == 403
        assert _request(port, _api_server_context(kubeconfig), length=MAX_BATCH_BYTES + 1) == 413
        assert _request(port, _api_server_context(kubeconfig), body=b"{not json") == 400
        stats = srv.stats_dict()
        assert (stats["batches"], stats["refused_unauthenticated"], stats["refused_too_large"],
                stats["malformed_batches"]) == (1, 1, 1, 1)
        metrics = srv.metrics.render()
        assert 'kubeharden_audit_refused_batches{reason="unauthenticated"} 1\n' in metrics
        assert 'kubeharden_audit_refused_batches{reason="queue_full"} 0\n' in metrics
        assert "kubeharden_audit_malformed_batches 1\n" in metrics
    finally:
        srv.stop()
    assert "1 without a client certificate (403), 1 too large (413)" in srv.summary()
    assert srv.summary().endswith("1 malformed (400, 404, 411)")


def test_test_ca_refuses_paths_it_would_not_write(tmp_path, capsys):
    assert main(["generate", "audit-webhook-config", "--server", "https://127.0.0.1:8443", "--test-ca",
                 str(tmp_path), "--client-key", "/etc/k.key"]) == 2
    assert "--client-key cannot be given with it" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_full_queue_is_a_refusal_not_a_malformed_batch(tmp_path, capsys):
    folder = tmp_path / "pki"
    main(["generate", "audit-webhook-config", "--server", "https://127.0.0.1:8443", "--test-ca", str(folder)])
    capsys.readouterr()
    release = threading.Event()
    tls = server_tls_context(str(folder / "server.crt"), str(folder / "server.key"), None)
    srv = AuditReceiver(("127.0.0.1", 0), tls, lambda events: release.wait(10) and 0, queue_batches=1)
    srv.serve()
    try:
        ctx = ssl.create_default_context(cafile=str(folder / "ca.crt"))
        port = srv.server_address[1]
        codes = [_request(port, ctx)]
        deadline = time.monotonic() + 10
        while srv.queue.worker.depth() and time.monotonic() < deadline:
            time.sleep(0.02)
        codes += [_request(port, ctx) for _ in range(3)]
        assert codes == [200, 200, 503, 503]
        stats = srv.stats_dict()
        assert stats["refused_queue_full"] == 2 and stats["malformed_batches"] == 0
    finally:
        release.set()
        srv.stop()


def test_serve_warns_without_client_certificates_and_sums_up_on_stop(tmp_path, capsys):
    folder = tmp_path / "pki"
    main(["generate", "audit-webhook-config", "--server", "https://127.0.0.1:8443", "--test-ca", str(folder)])
    capsys.readouterr()
    proc = subprocess.Popen([sys.executable, "-m", "kubeharden", "audit", "serve", "--port", "0", "--tls-cert",
                             str(folder / "server.crt"), "--tls-key", str(folder / "server.key"), "--no-stdout"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPATH": SRC})
    lines = []
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any("listening on" in line for line in lines):
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
        port = int(re.search(r"listening on https://127\.0\.0\.1:(\d+)", "".join(lines)).group(1))
        assert any("warning: running without client-certificate authentication (no --client-ca)" in line
                   for line in lines)
        ctx = ssl.create_default_context(cafile=str(folder / "ca.crt"))
        assert _request(port, ctx) == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=20)[1]
    assert proc.returncode == 0
    summary = re.search(r"kubeharden: stopped: (.*)", rest).group(1)
    assert summary.startswith("1 batch(es) with 1 event(s) accepted")
    assert "refused: 0 without a client certificate (403), 0 too large (413), 0 with the queue full" in summary
