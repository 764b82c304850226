"""Paged lists of many resources, a bounded number of requests at a time, streamed in a fixed order.

Each resource is listed in pages (``limit``/``continue``, "Retrieving large results sets in chunks",
https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks).
:func:`open_lists` first fetches the first page of every resource (so every refusal, 403 or 404, is
known before any object is used), then :meth:`Listing.objects` streams each resource in turn while
the next ones are fetched in the background, at most ``requests`` requests at a time and a few pages
ahead per resource, so memory holds pages, not the cluster.

A ``continue`` token that expires (410 Gone, "the provided continue parameter is too old") restarts
that list once from the start, skipping the objects already given.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubeharden.model.objects import as_dict, as_list
from kubeharden.sources.cluster_client import ApiError, ClusterError, Connection
from kubeharden.sources.cluster_discovery import Resource

#: Pages fetched ahead of the reader, per resource.
AHEAD = 4
_END = object()

Page = list[dict[str, Any]]


class Listing:
    """The list of one resource: its first page (or the error that refused it), then the rest."""

    def __init__(self, resource: Resource, fetch: Callable[[str | None, str | None], dict[str, Any]],
                 namespaces: tuple[str | None, ...], stop: threading.Event) -> None:
        self.resource, self._fetch, self._namespaces, self._stop = resource, fetch, namespaces, stop
        self.error: str | None = None
        self._first: dict[str, Any] | None = None
        self._pages: queue.Queue[Any] = queue.Queue(maxsize=AHEAD)

    def open(self) -> Listing:
        """Fetch the first page; a refusal is kept in ``error``."""
        try:
            self._first = self._fetch(self._namespaces[0], None)
        except (ApiError, ClusterError) as exc:
            self.error = str(exc)
        return self

    def fill(self) -> None:
        """Fetch every further page into the queue (a worker's task); an error ends it as a string."""
        seen: set[tuple[Any, Any]] = set()
        try:
            for n, namespace in enumerate(self._namespaces):
                page = self._first if n == 0 else self._fetch(namespace, None)
                restarted = False
                while page is not None:
                    items = [i for i in as_list(page.get("items")) if isinstance(i, dict)]
                    if restarted:
                        items = [i for i in items if _key(i) not in seen]
                    seen.update(_key(i) for i in items)
                    if not self._put(items):
                        return
                    token = as_dict(page.get("metadata")).get("continue")
                    if not isinstance(token, str) or not token:
                        break
                    try:
                        page = self._fetch(namespace, token)
                    except ApiError as exc:
                        if exc.status != 410 or restarted:
                            raise
                        restarted, page = True, self._fetch(namespace, None)
        except (ApiError, ClusterError) as exc:
            self._put(str(exc))
        self._put(_END)

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._pages.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def objects(self) -> Iterator[dict[str, Any] | str]:
        """The objects in list order, each with its apiVersion and kind set (lists omit them); a
        string is the error that stopped the list part way."""
        resource = self.resource
        while True:
            page = self._pages.get()
            if page is _END:
                return
            if isinstance(page, str):
                yield page
                return
            for item in page:
                item["apiVersion"], item["kind"] = resource.api_version, resource.kind
                yield item


def _key(item: dict[str, Any]) -> tuple[Any, Any]:
    meta = as_dict(item.get("metadata"))
    return meta.get("namespace"), meta.get("name")


def open_lists(conn: Connection, resources: list[Resource], requests: int,
               query: Callable[[Resource], tuple[list[tuple[str, Any]], str]],
               namespaces: tuple[str, ...] = (), on_page: Callable[[str, int], None] | None = None,
               ) -> Generator[list[Listing], None, None]:
    """A generator that yields once: the Listings of ``resources`` (first pages fetched, errors
    known), whose further pages are then fetched in the background; closing it stops the workers.

    ``query(resource)`` gives the extra query parameters and the Accept header of its list;
    ``namespaces`` limits namespaced resources to those namespaces; ``on_page(kind, n)`` is told of
    every page fetched (the progress display).
    """
    stop = threading.Event()

    def fetcher(resource: Resource) -> Callable[[str | None, str | None], dict[str, Any]]:
        extra, accept = query(resource)

        def fetch(namespace: str | None, token: str | None) -> dict[str, Any]:
            params = extra + ([("continue", token)] if token else [])
            path = resource.path(namespace)
            page = conn.get(path, params, accept=accept)
            if not isinstance(page, dict) or not isinstance(page.get("items", []), list | None):
                raise ApiError(200, f"the answer is not a {resource.kind}List", path)
            if on_page is not None:
                on_page(resource.kind, len(as_list(page.get("items"))))
            return page

        return fetch

    listings = [Listing(r, fetcher(r), namespaces if r.namespaced and namespaces else (None,), stop)
                for r in resources]
    pool = ThreadPoolExecutor(max_workers=max(1, requests))
    try:
        list(pool.map(Listing.open, listings))
        for listing in listings:
            if listing.error is None:
                pool.submit(listing.fill)
        yield listings
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
