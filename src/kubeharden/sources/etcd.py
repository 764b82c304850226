"""The etcd source: Secrets as the API server stored them, and who each etcd endpoint lets in.

An input ``etcd://URL[,URL…]`` (``kubeharden etcd check --endpoints`` builds it, with its settings in
``ReadOptions.source_options["etcd"]``, an :class:`EtcdOptions`) yields:

* one ``EtcdEndpoint`` per endpoint, with the two probes of ``etcd_probe.py`` (a TLS client without a
  certificate; plain HTTP on the same port);
* one ``StoredSecret`` per key under ``<prefix>/secrets/``, read from the first endpoint that answers,
  with how its value is stored (``model/etcd.py``: the ``k8s:enc:`` prefix, provider and key name);
* a Problem of kind ``unlisted`` naming the endpoint whenever etcd cannot be read (refused, 403,
  timeout, bad certificate): the controls that need those objects are then not assessable, never passed.

It never judges: ``checks/etcd.py`` does. Shapes: ``model/etcd.py``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

from kubeharden.model.etcd import (
    DEFAULT_PREFIX,
    ETCD_ENDPOINT,
    STORED_SECRET,
    etcd_endpoint,
    secret_name,
    secrets_prefix,
    stored_format,
    stored_secret,
)
from kubeharden.model.findings import UNLISTED, Problem
from kubeharden.model.objects import K8sObject, Provenance, ResourceRef
from kubeharden.model.supply import API_VERSION
from kubeharden.sources.etcd_client import Connection, EtcdError, Reader
from kubeharden.sources.files import ReadOptions

SOURCE = "etcd"
SCHEME = "etcd://"
#: etcd's client port ("Ports and Protocols" of the Kubernetes documentation: 2379-2380, etcd server client API).
DEFAULT_PORT = 2379


@dataclass(frozen=True, slots=True)
class EtcdOptions:
    """What ``etcd check`` was given: PEM files, the API server's ``--etcd-prefix``, a timeout in seconds,
    and how many keys one request lists (``page``) and how many values one request reads (``value_page``)."""

    cacert: str | None = None
    cert: str | None = None
    key: str | None = None
    prefix: str = DEFAULT_PREFIX
    timeout: float = 10.0
    page: int = 500
    value_page: int = 50


def claims(path: str) -> bool:
    """``etcd://…`` inputs."""
    return path.startswith(SCHEME)


def input_for(endpoints: list[str]) -> str:
    """The input that stands for ``endpoints`` (``etcd://https://10.0.0.1:2379,https://10.0.0.2:2379``)."""
    return SCHEME + ",".join(endpoints)


def parse_endpoint(text: str, options: EtcdOptions) -> Connection:
    """A :class:`Connection` for ``https://host:port`` or ``http://host:port`` (port 2379 when absent).
    Raises ValueError naming what is wrong."""
    parsed = urllib.parse.urlsplit(text.strip())
    if parsed.scheme not in ("https", "http"):
        raise ValueError(f"{text!r} is not an https:// or http:// URL")
    if not parsed.hostname:
        raise ValueError(f"{text!r} names no host")
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment or parsed.username:
        raise ValueError(f"{text!r}: give scheme, host and port only")
    port = parsed.port or DEFAULT_PORT
    return Connection(parsed.scheme, parsed.hostname, port, options.cacert, options.cert, options.key,
                      options.timeout)


def read(path: str, options: ReadOptions) -> Iterator[K8sObject | Problem]:
    """The objects of input ``etcd://URL[,URL…]`` (module docstring); never raises for bad input."""
    settings = options.source_options.get(SOURCE)
    if not isinstance(settings, EtcdOptions):
        yield Problem("error", "read", "etcd:// inputs are read by `kubeharden etcd check`, which takes the client "
                      "certificate (docs/etcd.md)", file=path)
        return
    connections: list[Connection] = []
    for text in path[len(SCHEME):].split(","):
        try:
            connections.append(parse_endpoint(text, settings))
        except ValueError as exc:
            yield Problem("error", "read", f"--endpoints: {exc}", file=path)
    for connection in connections:
        yield from _endpoint(connection, settings)
    yield from _secrets(connections, settings)


def _endpoint(connection: Connection, settings: EtcdOptions) -> Iterator[K8sObject | Problem]:
    from kubeharden.sources import etcd_probe  # sockets and TLS load only when an endpoint is probed

    name = f"{connection.host}:{connection.port}"
    plain = etcd_probe.plain_http(connection.host, connection.port, settings.timeout)
    if connection.scheme == "http":
        without = {"accepted": plain["accepted"],
                   "detail": f"the endpoint is plain HTTP, which has no client certificates; {plain['detail']}"}
    else:
        without = etcd_probe.without_certificate(connection.host, connection.port, settings.timeout)
    ref = ResourceRef(API_VERSION, ETCD_ENDPOINT, None, name)
    for probe in (without, plain):
        if probe["accepted"] is None:
            yield Problem("error", UNLISTED, f"etcd at {connection.url}: {probe['detail']}; whether it accepts "
                          "such clients is not known", file=connection.url, resource=ref)
    raw = etcd_endpoint(name, connection.url, connection.scheme, without, plain)
    yield K8sObject(raw=raw, ref=ref, origin=Provenance(connection.url, None, SOURCE))


def _secrets(connections: list[Connection], settings: EtcdOptions) -> Iterator[K8sObject | Problem]:
    prefix = secrets_prefix(settings.prefix)
    unlisted = ResourceRef(API_VERSION, STORED_SECRET, None, prefix)
    failed: list[tuple[Connection, EtcdError]] = []
    for connection in connections:
        try:
            reader = Reader(connection)
            keys = list(reader.keys(prefix.encode(), settings.page))
            read = dict(reader.prefixes(keys, settings.value_page))
            elsewhere = not keys and reader.holds_any(settings.prefix.rstrip("/").encode() + b"/")
        except EtcdError as exc:
            failed.append((connection, exc))
            continue
        # members share one keyspace: Secrets read from this one are all of them, so a member that failed
        # before is an input error, not a reason to call the Secrets' controls not assessable
        for other, error in failed:
            yield Problem("error", "read", f"cannot read the Secrets under {prefix} from this member (they were read "
                          f"from {connection.url}): {error}", file=other.url)
        if not keys:
            # nothing checked is no pass: a wrong --prefix reads nothing (docs/exit-codes.md)
            why = (f"etcd holds keys under {settings.prefix} but none under {prefix}" if elsewhere else
                   f"etcd holds no key under {settings.prefix}: is it the API server's --etcd-prefix?")
            yield Problem("error", UNLISTED, f"no Secret was read: {why}", file=connection.url, resource=unlisted)
        for key in keys:
            text = key.decode("utf-8", "replace")
            where = f"{connection.url} {text}"
            named = secret_name(text, settings.prefix)
            if named is None:
                yield Problem("warning", "read", f"etcd key {text} under {prefix} is not <namespace>/<name>; "
                              "not judged", file=where)
                continue
            if key not in read:
                yield Problem("error", UNLISTED, f"etcd key {text}: its value could not be read", file=where,
                              resource=unlisted)
                continue
            raw = stored_secret(named[0], named[1], connection.url, text, stored_format(read[key]))
            yield K8sObject(raw=raw, ref=ResourceRef(API_VERSION, STORED_SECRET, named[0], named[1]),
                            origin=Provenance(where, None, SOURCE))
        return
    for other, error in failed:  # no endpoint could be read
        yield Problem("error", UNLISTED, f"cannot read the Secrets under {prefix}: {error}", file=other.url,
                      resource=unlisted)


__all__ = ["EtcdOptions", "SCHEME", "SOURCE", "claims", "input_for", "parse_endpoint", "read"]
