"""Load ``kubeharden webhook serve`` on loopback at fixed request rates and print latency percentiles.

    PYTHONPATH=src python3 benchmarks/webhook_bench.py [--rates 500,2000] [--seconds 10] [--connections 8] [--pin]

The server runs as its own process (``python -m kubeharden webhook serve``, the command users run,
strict profile, enforce mode, TLS with a throwaway CA from tests/pki.py). The load generator runs
in another process, light and bounded: one asyncio loop, every request serialised before the clock
starts, ``--connections`` keep-alive TLS connections opened and warmed before it (one request at a
time on each, no pipelining, as the API server's client), no HTTP client library. It is an open loop:
request i is due at ``start + i / rate`` whatever the answers do, due requests wait in one queue for a
free connection, and latency runs from the due time to the end of the answer, so time waiting for a
connection counts (no coordinated omission). The traffic is a mix of realistic reviews (Pods and
Deployments from examples/insecure and examples/hardened, CREATE and UPDATE) and 1 % malformed bodies,
which must be answered 400. It reports, per rate: requests sent, answered by status, dropped (connection
errors or no answer within 10 s of being sent), answered more than 10 s after their due time (queued
behind a saturated server), p50/p90/p99/max, the server's CPU per answer, its own latency histogram,
the generator's CPU per request and the share of CPU time the hypervisor took from this virtual machine
(steal, ``/proc/stat``). ``--pin`` puts the server and the generator on different CPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import random
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]


def reviews() -> list[tuple[bytes, int]]:
    """(body, expected status) for the mix: every Pod-bearing object of the examples, CREATE and UPDATE."""
    from kubeharden.sources.files import parse_text

    bodies: list[tuple[bytes, int]] = []
    for path in sorted((ROOT / "examples").glob("*/*.yaml")):
        for obj in parse_text(path.read_text(), str(path)):
            raw = getattr(obj, "raw", None)
            if not raw or raw.get("kind") not in ("Pod", "Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job"):
                continue
            plain = orjson.loads(orjson.dumps(raw))
            group, _, version = plain["apiVersion"].rpartition("/")
            for i, op in enumerate(("CREATE", "UPDATE")):
                request = {"uid": f"{path.stem}-{plain['metadata'].get('name')}-{i}", "operation": op,
                           "kind": {"group": group, "version": version, "kind": plain["kind"]},
                           "resource": {"group": group, "version": version, "resource": plain["kind"].lower() + "s"},
                           "namespace": plain["metadata"].get("namespace", "default"), "object": plain,
                           "userInfo": {"username": "system:serviceaccount:kube-system:deployment-controller"}}
                if op == "UPDATE":
                    request["oldObject"] = plain
                bodies.append((orjson.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                             "request": request}), 200))
    return bodies


def review_cost(mix: list[tuple[bytes, int]], profile: str) -> float:
    """Mean CPU milliseconds of one review in this process (parse, evaluate, answer), the server's floor."""
    from kubeharden.config import Config
    from kubeharden.enforce.admission import AdmissionSettings, Reviewer, parse_review

    reviewer = Reviewer(AdmissionSettings(config=Config(profile=profile)))
    reviewer.review(parse_review(mix[0][0]))
    start = time.process_time()
    for i in range(1000):
        orjson.dumps(reviewer.review(parse_review(mix[i % len(mix)][0])).response())
    return (time.process_time() - start)


def _review(request: dict) -> bytes:
    return orjson.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})


_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad", "namespace": "default"}}
_REQUEST = {"uid": "bad", "operation": "CREATE", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "default"}
#: Bodies the API server never sends, each to be answered 400: not JSON, not an AdmissionReview, no request,
#: a uid that is not a string, a container list that is not a list.
MALFORMED = [(b"{not json", 400), (b"[]", 400),
             (b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}', 400),
             (_review({**_REQUEST, "uid": 5, "object": {**_POD, "spec": {"containers": []}}}), 400),
             (_review({**_REQUEST, "object": {**_POD, "spec": {"containers": "oops"}}}), 400)]


def http_request(body: bytes, port: int) -> bytes:
    """One pre-serialised HTTP/1.1 POST of ``body`` to /validate (keep-alive, the default of HTTP/1.1)."""
    return (f"POST /validate HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _answer(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 answer (status line, headers, a Content-Length body); its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def load(port: int, ca: str, rate: int, seconds: float, connections: int, mix: list[tuple[bytes, int]]) -> dict:
    """An open-loop load: request i is due at ``start + i / rate`` whatever the answers do; due requests wait in
    one FIFO for the first free connection of at most ``connections`` keep-alive TLS connections (one request
    at a time on each: no pipelining, as the API server's client). Latency runs from the due time to the end of
    the answer, so time spent waiting for a connection counts (no coordinated omission). Requests are
    serialised before the clock starts; a 10 s timeout counts as dropped and opens a new connection."""
    ctx = ssl.create_default_context(cafile=ca)
    rng = random.Random(7)
    total = int(rate * seconds)
    plan = [MALFORMED[i % len(MALFORMED)] if rng.random() < 0.01 else mix[i % len(mix)] for i in range(total)]
    wire = {body: http_request(body, port) for body, _ in plan}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    wrong: list[str] = []
    dropped = 0
    queue: asyncio.Queue[tuple[float, bytes, int] | None] = asyncio.Queue()

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", port, ssl=ctx)

    async def worker() -> None:
        nonlocal dropped
        reader, writer = await connect()
        # warm the connection (TLS handshake, the server's first request on it) before the clock runs
        writer.write(wire[plan[0][0]])
        await _answer(reader)
        ready.release()
        while (item := await queue.get()) is not None:
            due, body, expected = item
            try:
                writer.write(wire[body])
                status = await asyncio.wait_for(_answer(reader), 10)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                dropped += 1
                wrong.append(type(exc).__name__)
                writer.close()
                reader, writer = await connect()
                continue
            latencies.append(time.perf_counter() - due)
            statuses[status] = statuses.get(status, 0) + 1
            if status != expected:
                wrong.append(f"{status} for a body expecting {expected}")
        writer.close()

    ready = asyncio.Semaphore(0)
    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    for _ in range(connections):
        await ready.acquire()
    start = time.perf_counter() + 0.05
    for i, (body, expected) in enumerate(plan):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0.0005:  # asyncio's sleep is ~1 ms accurate; the latency still runs from ``due``
            await asyncio.sleep(delay)
        queue.put_nowait((due, body, expected))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    late = len(latencies) - bisect.bisect_right(latencies, 10.0)
    return {"rate": rate, "sent": total, "elapsed": elapsed, "statuses": statuses, "dropped": dropped, "late": late,
            "wrong": wrong[:5], "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99),
            "max": latencies[-1] * 1000 if latencies else float("nan"),
            "mean": statistics.fmean(latencies) * 1000 if latencies else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="500,2000", help="requests per second, comma-separated")
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each rate")
    ap.add_argument("--connections", type=int, default=8, help="keep-alive TLS connections (default 8)")
    ap.add_argument("--profile", default="strict")
    ap.add_argument("--workers", type=int, default=1, help="webhook serve --workers")
    ap.add_argument("--floor", action="store_true",
                    help="also load a server that answers every review with a fixed answer without judging it (the "
                         "same HTTPS server, aiohttp and TLS): the cost of HTTP and TLS alone")
    ap.add_argument("--serve-floor", nargs=3, metavar=("PORT", "CERT", "KEY"), help=argparse.SUPPRESS)
    ap.add_argument("--pin", action="store_true",
                    help="run the server on CPU 0 and the load generator on CPU 1 (Linux affinity; one worker), so "
                         "they do not take turns on one CPU")
    args = ap.parse_args()
    if args.serve_floor:
        serve_floor(int(args.serve_floor[0]), args.serve_floor[1], args.serve_floor[2])
        return
    from pki import make_pki

    mix = reviews()
    print(f"in-process, no HTTP: {review_cost(mix, args.profile):.2f} ms of CPU per review (mean over 1,000); "
          f"load average {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        pki = make_pki(Path(tmp))
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        port = _free_port()
        # INFO, as deployed: every refusal is logged (to /dev/null here)
        pin = args.pin and args.workers == 1 and len(os.sched_getaffinity(0)) >= 2
        cpus = sorted(os.sched_getaffinity(0))
        server = subprocess.Popen(
            [sys.executable, "-m", "kubeharden", "webhook", "serve", "--port", str(port), "--no-config",
             "--profile", args.profile, "--log-level", "INFO", "--workers", str(args.workers),
             "--tls-cert", pki["server"], "--tls-key", pki["server_key"]], env=env, stderr=subprocess.DEVNULL,
            preexec_fn=(lambda: os.sched_setaffinity(0, {cpus[0]})) if pin else None)
        if pin:
            os.sched_setaffinity(0, {cpus[1]})
        try:
            _wait_ready(server, port, pki["ca"])
            print(f"webhook serve (profile {args.profile}, enforce, {args.workers} worker(s)) on 127.0.0.1:{port}; "
                  f"{len(mix)} distinct "
                  f"Pod/Deployment/StatefulSet/DaemonSet/CronJob reviews + 1 % malformed; {os.cpu_count()} CPUs; "
                  f"open loop over at most {args.connections} keep-alive TLS connections"
                  + (f"; server pinned to CPU {cpus[0]}, load generator to CPU {cpus[1]}" if pin else ""))
            for rate in (int(r) for r in args.rates.split(",")):
                cpu_before, hist_before = server_cpu(server.pid), server_histogram(port, pki["ca"])
                stolen_before = cpu_ticks()
                generator_before = time.process_time()
                r = asyncio.run(load(port, pki["ca"], rate, args.seconds, args.connections, mix))
                generator = time.process_time() - generator_before
                stolen = steal_share(stolen_before, cpu_ticks())
                cpu = server_cpu(server.pid) - cpu_before
                inside = within(hist_before, server_histogram(port, pki["ca"]))
                answered = sum(r["statuses"].values())
                print(f"  {rate:>5}/s for {args.seconds:g} s: sent {r['sent']}, answered {answered} "
                      f"{dict(sorted(r['statuses'].items()))}, dropped {r['dropped']}, "
                      f"answered over 10 s after due {r['late']}, achieved "
                      f"{answered / r['elapsed']:,.0f}/s; latency ms p50 {r['p50']:.2f}  p90 {r['p90']:.2f}  "
                      f"p99 {r['p99']:.2f}  max {r['max']:.2f}  mean {r['mean']:.2f}; server CPU "
                      f"{cpu / max(1, answered) * 1000:.2f} ms per answer (TLS, HTTP and review); "
                      f"server-side (body read to answer) {inside}; load generator CPU "
                      f"{generator / max(1, r['sent']) * 1000:.2f} ms per request; load average {load_average()}; "
                      f"steal {stolen:.1f} % of CPU time" + (f"; unexpected: {r['wrong']}" if r["wrong"] else ""))
        finally:
            server.terminate()
            server.wait(timeout=10)
        if args.floor:
            floor(pki, int(args.rates.split(",")[0]), args, mix, env, {cpus[0]} if pin else set(cpus))


def serve_floor(port: int, cert: str, key: str) -> None:
    """The floor server: ``kubeharden.serve``'s HTTPS server and aiohttp, /validate reads the body and answers a
    fixed AdmissionReview without parsing or judging it; /readyz for the start-up wait."""
    from aiohttp import web

    from kubeharden.serve.server import HttpsServer, json_response
    from kubeharden.serve.tls import server_tls_context

    answer = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"uid": "", "allowed": True}}

    async def validate(request: web.Request) -> web.Response:
        await request.read()
        return json_response(200, answer)

    async def ready(request: web.Request) -> web.Response:
        return json_response(200, {"status": "ok"})

    app = web.Application()
    app.router.add_post("/validate", validate)
    app.router.add_get("/readyz", ready)
    HttpsServer(app, "127.0.0.1", port, server_tls_context(cert, key, None)).run()


def floor(pki: dict, rate: int, args: argparse.Namespace, mix: list[tuple[bytes, int]], env: dict,
          cpus: set[int]) -> None:
    """Load the floor server (:func:`serve_floor`, on ``cpus``) at ``rate``; print its CPU per answer and the
    latencies."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve-floor", str(port), pki["server"], pki["server_key"]],
                              env=env, stderr=subprocess.DEVNULL, preexec_fn=lambda: os.sched_setaffinity(0, cpus))
    try:
        _wait_ready(server, port, pki["ca"])
        before = server_cpu(server.pid)
        r = asyncio.run(load(port, pki["ca"], rate, args.seconds, args.connections, [(b, 200) for b, _ in mix]))
        answered = sum(r["statuses"].values())
        print(f"  floor (HTTPS server, aiohttp and TLS; a fixed answer, no review) at {rate}/s: answered {answered}, "
              f"dropped {r['dropped']}; latency ms p50 {r['p50']:.2f}  p90 {r['p90']:.2f}  p99 {r['p99']:.2f}  "
              f"max {r['max']:.2f}; server CPU {(server_cpu(server.pid) - before) / max(1, answered) * 1000:.2f} ms "
              f"per answer; load average {load_average()}")
    finally:
        server.terminate()
        server.wait(timeout=10)


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its worker processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command: state, ppid, … utime is field 14 and stime 15 of stat(5), 12 and 13 here
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def server_histogram(port: int, ca: str) -> dict[str, int]:
    """The cumulative buckets (``le`` -> count) of the server's review-duration histogram, from /metrics
    (with --workers N, those of the worker that answers the scrape)."""
    import http.client

    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ssl.create_default_context(cafile=ca))
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("kubeharden_admission_review_duration_seconds_bucket{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            out[bound] = int(line.rsplit(" ", 1)[1])
    return out


def within(before: dict[str, int], after: dict[str, int]) -> str:
    """Share of the reviews answered between two scrapes within 5 and 10 ms of their body being read."""
    total = after.get("+Inf", 0) - before.get("+Inf", 0)
    if not total:
        return "no reviews"
    share = {b: (after.get(b, 0) - before.get(b, 0)) / total * 100 for b in ("0.005", "0.01")}
    return f"{share['0.005']:.1f} % within 5 ms, {share['0.01']:.1f} % within 10 ms"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as uptime prints them (the machine may be shared)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_ticks() -> tuple[int, int]:
    """(steal, total) clock ticks of all CPUs so far (Linux ``/proc/stat``, first line): time the hypervisor
    gave this virtual machine's CPUs to others, and all time."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def steal_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Percent of the CPU time between two :func:`cpu_ticks` readings that the hypervisor took (steal)."""
    return 100 * (after[0] - before[0]) / max(1, after[1] - before[1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(server: subprocess.Popen, port: int, ca: str) -> None:
    import http.client

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited")
        try:
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=2,
                                               context=ssl.create_default_context(cafile=ca))
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not become ready")


if __name__ == "__main__":
    main()
