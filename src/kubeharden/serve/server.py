"""One HTTPS server for kubeharden's endpoints: an aiohttp application under TLS.

aiohttp (https://docs.aiohttp.org/en/stable/web_reference.html) parses HTTP; this module adds
what every endpoint here needs around it: TLS on the listening socket with a handshake timeout
(a stalled client holds up nobody), a cap on open connections (beyond it a new connection is
closed at once, so a flood cannot exhaust memory), no access log per request, and a clean stop
on SIGTERM/SIGINT (Kubernetes sends SIGTERM before it kills a pod). It runs either in the main
thread (:meth:`HttpsServer.run`, for commands) or in a thread of its own
(:meth:`HttpsServer.start_in_thread`, for tests and benchmarks).

The event loop is uvloop's (libuv, https://uvloop.readthedocs.io/) where it is installed (every
platform but Windows): it drives the sockets and TLS with about a sixth less CPU per answer than
asyncio's own loop, which keeps the webhook's tail latency down when the CPUs are busy
(benchmarks/README.md, ``webhook_bench.py --floor``). Without it, asyncio's loop serves the same.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from aiohttp import web

log = logging.getLogger("kubeharden.serve")

try:
    import uvloop
except ImportError:  # not built for Windows: asyncio's own loop
    uvloop = None  # type: ignore[assignment]


def event_loop_name() -> str:
    """The event loop :func:`run_loop` uses: ``uvloop`` or ``asyncio``."""
    return "uvloop" if uvloop is not None else "asyncio"


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` to its end on a new event loop (uvloop's when installed), then close the loop."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop if uvloop is not None else None) as runner:
        runner.run(main)


class _Refused(asyncio.Protocol):
    """What a connection over the cap gets: closed as soon as it is made."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class HttpsServer:
    """``app`` served on ``host``:``port`` (0 picks a free port) under ``tls``.

    ``server_address`` is the bound (host, port) once started. ``max_connections`` caps open
    connections; ``handshake_timeout`` bounds the TLS handshake, in seconds.
    """

    def __init__(self, app: web.Application, host: str, port: int, tls: ssl.SSLContext, *,
                 max_connections: int = 256, handshake_timeout: float = 10.0, backlog: int = 256,
                 keepalive_timeout: float = 75.0, shutdown_delay: float = 0.0) -> None:
        self.app, self.host, self.port, self.tls = app, host, port, tls
        self.max_connections = max_connections
        #: seconds :meth:`run` keeps serving after SIGTERM before it stops listening (see :meth:`run`)
        self.shutdown_delay = shutdown_delay
        self.handshake_timeout = handshake_timeout
        self.backlog = backlog
        self.keepalive_timeout = keepalive_timeout
        self.server_address: tuple[str, int] = (host, port)
        self._runner: web.AppRunner | None = None
        self._server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    async def start(self, sock: socket.socket | None = None, reuse_port: bool = False) -> None:
        """Bind and listen (or listen on ``sock``, already bound). Raises OSError when the address is
        taken or not available."""
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False,
                               keepalive_timeout=self.keepalive_timeout)
        await runner.setup()
        handlers = runner.server
        assert handlers is not None

        def protocol() -> asyncio.BaseProtocol:
            if len(handlers.connections) >= self.max_connections:
                log.warning("too many connections (%d); closing a new one", self.max_connections)
                return _Refused()
            return handlers()

        loop = asyncio.get_running_loop()
        if sock is not None:
            self._server = await loop.create_server(protocol, sock=sock, ssl=self.tls, backlog=self.backlog,
                                                    ssl_handshake_timeout=self.handshake_timeout)
        else:
            self._server = await loop.create_server(protocol, self.host, self.port, ssl=self.tls, backlog=self.backlog,
                                                    ssl_handshake_timeout=self.handshake_timeout, reuse_address=True,
                                                    reuse_port=reuse_port or None)
        self._runner = runner
        self.server_address = self._server.sockets[0].getsockname()[:2]

    async def close(self) -> None:
        """Stop accepting, let requests in progress finish (up to a few seconds), release everything."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._runner is not None:
            await self._runner.shutdown()
            await self._runner.cleanup()

    def run(self, on_started: Callable[[], None] = lambda: None, workers: int = 1) -> None:
        """Serve in the calling (main) thread until SIGTERM or SIGINT; ``on_started`` runs once listening.

        ``workers`` > 1 forks that many processes in all (Linux ``SO_REUSEPORT``: the kernel spreads
        new connections over them), so reviews use every CPU; each process keeps its own metrics; a
        SIGTERM or SIGINT to the first is passed on to the others at once.
        Call it before any thread exists (the fork copies only the calling thread).

        After SIGTERM it goes on serving for ``shutdown_delay`` seconds (a second signal cuts it short),
        then stops listening and lets the requests in progress finish. Kubernetes removes a terminating
        pod from its Service's endpoints while it sends SIGTERM, not before ("Pod Lifecycle", termination
        of Pods), so for a few seconds the API server may still open connections to it; connections the
        kernel has accepted but the server not yet taken when it stops listening are reset.
        """
        if workers <= 1:
            self._serve_here(on_started)
            return
        first = socket.create_server((self.host, self.port), reuse_port=True, backlog=self.backlog)
        self.port = first.getsockname()[1]
        children = []
        for _ in range(workers - 1):
            pid = os.fork()
            if pid == 0:  # a worker: its own socket on the same port
                status = 1
                try:
                    first.close()
                    self._serve_here(lambda: None, reuse_port=True)
                    status = 0
                finally:
                    os._exit(status)
            children.append(pid)

        def stop_children() -> None:  # they drain alongside, not after, this process
            for pid in children:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

        try:
            self._serve_here(on_started, sock=first, on_stop=stop_children)
        finally:
            for pid in children:
                try:
                    os.kill(pid, signal.SIGTERM)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass

    def _serve_here(self, on_started: Callable[[], None], sock: socket.socket | None = None,
                    reuse_port: bool = False, on_stop: Callable[[], None] = lambda: None) -> None:
        async def main() -> None:
            stopped, now = asyncio.Event(), asyncio.Event()
            self._stopped = stopped
            loop = asyncio.get_running_loop()

            def on_signal() -> None:  # the first stops (after the delay), any later one stops at once
                (now if stopped.is_set() else stopped).set()

            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, on_signal)
            await self.start(sock, reuse_port)
            on_started()
            await stopped.wait()
            on_stop()
            if self.shutdown_delay > 0:
                log.info("stopping: still serving for %g s so that clients stop sending here first",
                         self.shutdown_delay)
                try:
                    await asyncio.wait_for(now.wait(), self.shutdown_delay)
                except TimeoutError:
                    pass
            await self.close()
        run_loop(main())

    def start_in_thread(self, timeout: float = 10.0) -> None:
        """Serve from a daemon thread; returns once listening. Raises the start's error, if any."""
        ready = threading.Event()
        error: list[BaseException] = []

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopped = asyncio.Event()
            try:
                await self.start()
            except BaseException as exc:
                error.append(exc)
                ready.set()
                return
            ready.set()
            await self._stopped.wait()
            await self.close()

        self._thread = threading.Thread(target=run_loop, args=(main(),), name="kubeharden-https", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("the server did not start")
        if error:
            raise error[0]

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a server started by :meth:`start_in_thread` (does nothing otherwise)."""
        if self._thread is None or self._loop is None or self._stopped is None:
            return
        self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(timeout)
        self._thread = None


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer serialised with orjson (several times faster than ``json`` on dumps)."""
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)
