"""Reading Secret keys and the first bytes of their values from etcd, through etcd's v3 JSON gateway.

Uses ``etcd3gw`` (PyPI; the client of etcd's gRPC gateway, https://etcd.io/docs/v3.4/dev-guide/api_grpc_gateway/,
maintained by OpenStack): HTTPS with a client certificate, ``/v3/kv/range`` with ``keys_only``, ``limit`` and
``revision``. The gRPC client ``etcd3`` on PyPI has had no release since 2020 and was not used.

Every read happens at one revision (the one ``/v3/maintenance/status`` reports first), so keys listed
and values read belong to the same moment. Keys are listed first, ``page`` at a time, with ``keys_only``;
then values are read in pages of the same ranges. etcd cannot return part of a value, so each value
arrives whole; only its first :data:`~kubeharden.model.etcd.PREFIX_BYTES` bytes are kept, and the rest
(the ciphertext, or the Secret's data when it is stored in plain text) is dropped at once, never
decoded further, logged or reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kubeharden.model.etcd import PREFIX_BYTES


class EtcdError(Exception):
    """etcd could not be read: the message names the endpoint and why."""


@dataclass(frozen=True, slots=True)
class Connection:
    """How to reach one endpoint: ``scheme`` https or http, and the PEM files of ``--cacert``, ``--cert`` and
    ``--key`` (None when not given)."""

    scheme: str
    host: str
    port: int
    cacert: str | None = None
    cert: str | None = None
    key: str | None = None
    timeout: float = 10.0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def _range_end(prefix: bytes) -> bytes:
    """The first key after every key starting with ``prefix`` (etcd's prefix range: last byte plus one)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


def _why(exc: BaseException) -> str:
    """The most telling message of ``exc`` and the exceptions it was raised from (etcd3gw wraps the
    requests error, sometimes with an empty message)."""
    seen: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < 6:
        # OSError's args are (errno, reason): the reason alone reads as the message ("Connection refused")
        args = getattr(current, "args", ())
        if isinstance(current, OSError) and current.strerror:
            args = (current.strerror,)
        text = " ".join(str(a) for a in args if a).strip() or str(current).strip()
        if text:
            seen.append(text)
        current = current.__cause__ or current.__context__
    deepest = seen[-1] if seen else type(exc).__name__
    return deepest if len(deepest) < 400 else deepest[:400] + "…"


class Reader:
    """One etcd endpoint, read at one revision. Raises EtcdError for every failure."""

    def __init__(self, connection: Connection) -> None:
        from etcd3gw.client import Etcd3Client  # only ``etcd check`` pays for the import

        self.connection = connection
        self.client = Etcd3Client(host=connection.host, port=connection.port, protocol=connection.scheme,
                                  ca_cert=connection.cacert, cert_key=connection.key, cert_cert=connection.cert,
                                  timeout=connection.timeout)
        # requests lets REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE replace the session's CA (``--cacert``) and
        # sends through HTTPS_PROXY; etcd is reached directly, trusting only the CA given.
        self.client.session.trust_env = False
        self.revision = int(self._call(lambda: self.client.status()).get("header", {}).get("revision", 0))

    def _call(self, fn: Callable[[], Any]) -> Any:
        from etcd3gw.exceptions import Etcd3Exception
        from requests import RequestException

        try:
            return fn()
        except (Etcd3Exception, RequestException, ValueError, OSError) as exc:
            raise EtcdError(f"etcd at {self.connection.url}: {_why(exc)}") from exc

    def _range(self, start: bytes, end: bytes, limit: int, keys_only: bool) -> list[tuple[bytes, bytes]]:
        get: Any = self.client.get  # its stubs type range_end as str; the gateway takes any bytes (base64)
        found = self._call(lambda: get(start, metadata=True, range_end=end, limit=limit,
                                       revision=self.revision or None, keys_only=keys_only))
        return [(meta["key"], value[:PREFIX_BYTES]) for value, meta in found]

    def keys(self, prefix: bytes, page: int) -> Iterator[bytes]:
        """Every key under ``prefix``, in key order, ``page`` per request."""
        start, end = prefix, _range_end(prefix)
        while True:
            found = self._range(start, end, page, keys_only=True)
            yield from (key for key, _ in found)
            if len(found) < page:
                return
            start = found[-1][0] + b"\0"

    def holds_any(self, prefix: bytes) -> bool:
        """Whether etcd holds at least one key under ``prefix``."""
        return bool(self._range(prefix, _range_end(prefix), 1, keys_only=True))

    def prefixes(self, keys: list[bytes], page: int) -> Iterator[tuple[bytes, bytes]]:
        """``(key, first bytes of its value)`` for ``keys`` (sorted, as :meth:`keys` gives them), read in
        ranges of ``page`` keys; a key gone meanwhile is left out (the revision is fixed, so none is)."""
        wanted = set(keys)
        for n in range(0, len(keys), page):
            chunk = keys[n:n + page]
            for key, value in self._range(chunk[0], chunk[-1] + b"\0", len(chunk), keys_only=False):
                if key in wanted:
                    yield key, value


__all__ = ["Connection", "EtcdError", "Reader"]
