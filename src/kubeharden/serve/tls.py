"""TLS for kubeharden's servers: the server context and the client certificate of a request."""

from __future__ import annotations

import ssl
from typing import Any

from aiohttp import web


def server_tls_context(cert: str, key: str, client_ca: str | None) -> ssl.SSLContext:
    """A TLS 1.2+ server context for ``cert``/``key`` (PEM files).

    With ``client_ca``, a client certificate, when presented, must verify against it (else the
    handshake fails). It is optional at the TLS layer only so that probes can reach ``/healthz``;
    handlers that need it call :func:`has_client_certificate`. Raises OSError / ssl.SSLError on
    unreadable or mismatched files.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(client_ca)
    return ctx


def requires_client_certificate(tls: ssl.SSLContext) -> bool:
    return tls.verify_mode != ssl.CERT_NONE


def has_client_certificate(request: web.Request) -> bool:
    """Whether the peer presented a certificate the context verified (always True without a client CA)."""
    transport = request.transport
    ssl_object: Any = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return False
    if ssl_object.context.verify_mode == ssl.CERT_NONE:
        return True
    return bool(ssl_object.getpeercert())
