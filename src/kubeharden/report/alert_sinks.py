"""Where ``kubeharden audit serve`` sends alerts: stdout, an append-only file, an HTTP webhook.

Every sink takes ECS-shaped alert dicts (see :meth:`Alert.to_siem`). The HTTP sink posts from
its own thread through a bounded queue, so a slow or dead receiver never stalls detection; what
it cannot deliver is counted and logged, never raised.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import urllib.error
import urllib.request
from typing import IO, Any

import orjson

log = logging.getLogger("kubeharden.audit.sinks")


class StreamSink:
    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self.lock = threading.Lock()

    def send(self, alerts: list[dict[str, Any]]) -> None:
        data = "".join(orjson.dumps(a).decode() + "\n" for a in alerts)
        with self.lock:
            self.stream.write(data)
            self.stream.flush()

    def close(self) -> None:
        pass


class FileSink(StreamSink):
    """Appends JSON lines; each batch is one write, so readers never see half a line."""

    def __init__(self, path: str) -> None:
        super().__init__(open(path, "a", encoding="utf-8"))

    def close(self) -> None:
        self.stream.close()


class WebhookSink:
    def __init__(self, url: str, timeout: float = 5.0, max_pending: int = 10_000,
                 headers: dict[str, str] | None = None) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"alert webhook must be an http(s) URL, not {url!r}")
        self.url = url
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.queue: queue.Queue[list[dict[str, Any]] | None] = queue.Queue(maxsize=max_pending)
        self.dropped = 0
        self.failed = 0
        self.thread = threading.Thread(target=self._run, name="kubeharden-alert-webhook", daemon=True)
        self.thread.start()

    def send(self, alerts: list[dict[str, Any]]) -> None:
        try:
            self.queue.put_nowait(alerts)
        except queue.Full:
            self.dropped += len(alerts)
            log.warning("alert webhook backlog full: %d alerts dropped so far", self.dropped)

    def _run(self) -> None:
        while True:
            batch = self.queue.get()
            if batch is None:
                return
            req = urllib.request.Request(self.url, data=orjson.dumps(batch), headers=self.headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    resp.read()
            except (urllib.error.URLError, OSError, ValueError) as exc:
                self.failed += len(batch)
                log.warning("alert webhook %s failed (%s); %d alerts undelivered so far", self.url, exc, self.failed)

    def close(self) -> None:
        try:
            self.queue.put(None, timeout=1)
        except queue.Full:
            return
        self.thread.join(timeout=self.timeout + 1)
