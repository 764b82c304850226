"""Two questions to one etcd client endpoint: does it answer a TLS client that sends no certificate,
and does it answer plain HTTP?

etcd serves its client API (gRPC, the JSON gateway, ``/version``) on one port; with ``--client-cert-auth``
it refuses every TLS client without a certificate its ``--trusted-ca-file`` signed, and with an
``https://`` ``--listen-client-urls`` it speaks no plain HTTP ("Transport security model",
https://etcd.io/docs/v3.4/op-guide/security/). Each probe sends ``GET /version`` (read-only, no
credentials) and reads the answer. The server's own certificate is not verified here: the probe sends
nothing secret, and whether the server is who it claims is the main connection's question (``--cacert``).

Each probe returns ``{"accepted": True | False | None, "detail": str}``; None when it could not tell
(a timeout, a refused connection), which the source reports as an input problem.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Callable
from typing import Any

#: The most of an answer a probe reads.
_MAX_ANSWER = 65536


def _request(host: str) -> bytes:
    return f"GET /version HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: kubeharden\r\n\r\n".encode()


def _read_all(conn: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < _MAX_ANSWER:
        chunk = conn.recv(_MAX_ANSWER - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _answer(data: bytes) -> tuple[int | None, dict[str, Any] | None]:
    """The HTTP status and JSON body of ``data``, (None, None) when it is no HTTP answer."""
    if not data.startswith(b"HTTP/"):
        return None, None
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None, None
    if b"transfer-encoding: chunked" in head.lower():
        size, _, rest = body.partition(b"\r\n")
        try:
            body = rest[:int(size.strip() or b"0", 16)]
        except ValueError:
            pass
    try:
        parsed = json.loads(body)
    except ValueError:
        return status, None
    return status, parsed if isinstance(parsed, dict) else None


def _verdict(data: bytes, how: str) -> dict[str, Any]:
    status, body = _answer(data)
    if status is None:
        return {"accepted": False, "detail": f"{how}: the endpoint did not answer with HTTP"}
    if status == 200 and body is not None and "etcdserver" in body:
        return {"accepted": True, "detail": f"{how}: GET /version answered 200, etcd {body.get('etcdserver')}"}
    if status in (401, 403):
        return {"accepted": True, "detail": f"{how}: the connection was accepted and GET /version answered "
                                            f"{status} (etcd authentication, not transport security, refused it)"}
    return {"accepted": False, "detail": f"{how}: GET /version answered HTTP {status}, not etcd's version"}


def _ask(connect: Callable[[], socket.socket], host: str, how: str, timeout: float) -> dict[str, Any]:
    """Send ``GET /version`` on the connection ``connect`` opens and judge the answer."""
    try:
        with connect() as conn:
            conn.sendall(_request(host))
            data = _read_all(conn)
    except ssl.SSLError as exc:
        return {"accepted": False, "detail": f"{how}: refused during the TLS handshake ({exc.reason or exc})"}
    except (ConnectionResetError, BrokenPipeError) as exc:
        return {"accepted": False, "detail": f"{how}: the server closed the connection ({exc.strerror or exc})"}
    except TimeoutError:
        return {"accepted": None, "detail": f"{how}: no answer within {timeout:g} s"}
    except OSError as exc:
        return {"accepted": None, "detail": f"{how}: cannot connect ({exc.strerror or exc})"}
    if not data:
        return {"accepted": False, "detail": f"{how}: the server closed the connection without answering"}
    return _verdict(data, how)


def without_certificate(host: str, port: int, timeout: float) -> dict[str, Any]:
    """Connect with TLS and no client certificate, and ask ``GET /version``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    def connect() -> socket.socket:
        raw = socket.create_connection((host, port), timeout=timeout)
        try:
            return context.wrap_socket(raw, server_hostname=host)
        except BaseException:
            raw.close()
            raise

    return _ask(connect, host, "TLS without a client certificate", timeout)


def plain_http(host: str, port: int, timeout: float) -> dict[str, Any]:
    """Ask ``GET /version`` over plain HTTP on the same port."""
    return _ask(lambda: socket.create_connection((host, port), timeout=timeout), host, "plain HTTP", timeout)


__all__ = ["plain_http", "without_certificate"]
