"""A real etcd server for tests: Debian's ``etcd-server`` package, started on loopback.

``.ci/run`` installs the package. Each server gets a temporary data folder and free ports; with
``client_cert_auth`` it serves HTTPS with the certificates of ``tests/pki.py`` and requires a client
certificate signed by that CA (``--client-cert-auth --trusted-ca-file``, etcd's "Transport security
model" page, https://etcd.io/docs/v3.4/op-guide/security/); without it, it serves HTTPS but accepts
any client. ``plain_http`` serves plain HTTP instead. ``stop()`` ends it and removes its data.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests


def binary() -> str | None:
    """The etcd executable, or None when the Debian package etcd-server is not installed."""
    return shutil.which("etcd")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One throw-away etcd member; ``endpoint`` is its client URL."""

    def __init__(self, pki: dict[str, str] | None, *, client_cert_auth: bool = True, plain_http: bool = False) -> None:
        found = binary()
        if found is None:
            raise RuntimeError("etcd is not installed (Debian package etcd-server; .ci/run installs it)")
        self.root = Path(tempfile.mkdtemp(prefix="kh-etcd-"))
        self.pki = pki
        port, peer = _free_port(), _free_port()
        scheme = "http" if plain_http or pki is None else "https"
        self.endpoint = f"{scheme}://127.0.0.1:{port}"
        argv = [found, "--name", "kh", "--data-dir", str(self.root / "data"), "--logger", "zap",
                "--log-outputs", str(self.root / "etcd.log"),
                "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
                "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-cluster", f"kh=http://127.0.0.1:{peer}"]
        if scheme == "https" and pki is not None:
            argv += ["--cert-file", pki["server"], "--key-file", pki["server_key"]]
            if client_cert_auth:
                argv += ["--client-cert-auth", "--trusted-ca-file", pki["ca"]]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait()

    def _session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would replace session.verify
        if self.endpoint.startswith("https") and self.pki is not None:
            session.verify = self.pki["ca"]
            session.cert = (self.pki["client"], self.pki["client_key"])
        return session

    def _wait(self) -> None:
        deadline = time.monotonic() + 30
        with self._session() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError("etcd exited: " + self.log()[-2000:])
                try:
                    if session.get(self.endpoint + "/health", timeout=1).ok:
                        return
                except requests.RequestException:
                    pass
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("etcd did not become healthy in 30 s: " + self.log()[-2000:])

    def log(self) -> str:
        try:
            return (self.root / "etcd.log").read_text(errors="replace")
        except OSError:
            return ""

    def put(self, key: bytes, value: bytes) -> None:
        """Store ``value`` at ``key`` through the v3 gRPC gateway (``/v3/kv/put``, base64 fields)."""
        import base64

        with self._session() as session:
            reply = session.post(self.endpoint + "/v3/kv/put", timeout=10,
                                 json={"key": base64.b64encode(key).decode(), "value": base64.b64encode(value).decode()})
            reply.raise_for_status()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)
