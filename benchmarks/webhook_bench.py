"""Load ``kubeharden webhook serve`` on loopback at fixed request rates and print latency percentiles.

    PYTHONPATH=src python3 benchmarks/webhook_bench.py [--rates 500,2000] [--seconds 10] [--connections 32]

The server runs as its own process (``python -m kubeharden webhook serve``, the command users run,
strict profile, enforce mode, TLS with a throwaway CA from tests/pki.py). The load generator runs
in another process: an open loop (requests are scheduled at ``rate`` per second whatever the
answers do; a late answer delays nothing else) over at most ``--connections`` keep-alive TLS
connections. Latency is measured from each request's *scheduled* time to its answer, so time a
request waits for a free connection counts (no coordinated omission). The traffic is a mix of
realistic reviews (Pods and Deployments from examples/insecure and examples/hardened, CREATE and
UPDATE) and 1 % malformed bodies, which must be answered 400. It reports, per rate: requests
sent, answered by status, dropped (connection errors or no answer within 10 s), p50/p90/p99/max.
"""

from __future__ import annotations

import argparse
import asyncio
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


MALFORMED = [(b"{not json", 400), (b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}', 400),
             (b"[]", 400)]


async def load(port: int, ca: str, rate: int, seconds: float, connections: int, mix: list[tuple[bytes, int]]) -> dict:
    import aiohttp

    ctx = ssl.create_default_context(cafile=ca)
    connector = aiohttp.TCPConnector(ssl=ctx, limit=connections, force_close=False)
    url = f"https://127.0.0.1:{port}/validate"
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    wrong: list[str] = []
    dropped = 0
    rng = random.Random(7)
    total = int(rate * seconds)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:
        # warm the connections and the server
        await asyncio.gather(*(session.post(url, data=mix[0][0]) for _ in range(connections)))
        start = time.perf_counter() + 0.05

        async def one(i: int) -> None:
            nonlocal dropped
            body, expected = MALFORMED[i % 3] if rng.random() < 0.01 else mix[i % len(mix)]
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                    if resp.status != expected:
                        wrong.append(f"{resp.status} for a body expecting {expected}")
            except (aiohttp.ClientError, TimeoutError) as exc:
                dropped += 1
                wrong.append(type(exc).__name__)
                return
            latencies.append(time.perf_counter() - due)

        await asyncio.gather(*(one(i) for i in range(total)))
        elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    return {"rate": rate, "sent": total, "elapsed": elapsed, "statuses": statuses, "dropped": dropped,
            "wrong": wrong[:5], "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99),
            "max": latencies[-1] * 1000 if latencies else float("nan"),
            "mean": statistics.fmean(latencies) * 1000 if latencies else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="500,2000", help="requests per second, comma-separated")
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each rate")
    ap.add_argument("--connections", type=int, default=32, help="keep-alive connections at most")
    ap.add_argument("--profile", default="strict")
    ap.add_argument("--workers", type=int, default=1, help="webhook serve --workers")
    args = ap.parse_args()
    from pki import make_pki

    mix = reviews()
    print(f"in-process, no HTTP: {review_cost(mix, args.profile):.2f} ms of CPU per review (mean over 1,000); "
          f"load average {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        pki = make_pki(Path(tmp))
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        port = _free_port()
        # INFO, as deployed: every refusal is logged (to /dev/null here)
        server = subprocess.Popen(
            [sys.executable, "-m", "kubeharden", "webhook", "serve", "--port", str(port), "--no-config",
             "--profile", args.profile, "--log-level", "INFO", "--workers", str(args.workers),
             "--tls-cert", pki["server"], "--tls-key", pki["server_key"]], env=env, stderr=subprocess.DEVNULL)
        try:
            _wait_ready(server, port, pki["ca"])
            print(f"webhook serve (profile {args.profile}, enforce, {args.workers} worker(s)) on 127.0.0.1:{port}; "
                  f"{len(mix)} distinct "
                  f"Pod/Deployment/StatefulSet/DaemonSet/CronJob reviews + 1 % malformed; {os.cpu_count()} CPUs; "
                  f"open loop over at most {args.connections} keep-alive TLS connections")
            for rate in (int(r) for r in args.rates.split(",")):
                cpu_before, hist_before = server_cpu(server.pid), server_histogram(port, pki["ca"])
                r = asyncio.run(load(port, pki["ca"], rate, args.seconds, args.connections, mix))
                cpu = server_cpu(server.pid) - cpu_before
                inside = within(hist_before, server_histogram(port, pki["ca"]))
                answered = sum(r["statuses"].values())
                print(f"  {rate:>5}/s for {args.seconds:g} s: sent {r['sent']}, answered {answered} "
                      f"{dict(sorted(r['statuses'].items()))}, dropped {r['dropped']}, achieved "
                      f"{answered / r['elapsed']:,.0f}/s; latency ms p50 {r['p50']:.2f}  p90 {r['p90']:.2f}  "
                      f"p99 {r['p99']:.2f}  max {r['max']:.2f}  mean {r['mean']:.2f}; server CPU "
                      f"{cpu / max(1, answered) * 1000:.2f} ms per answer (TLS, HTTP and review); "
                      f"server-side (body read to answer) {inside}; load average {load_average()}"
                      + (f"; unexpected: {r['wrong']}" if r["wrong"] else ""))
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
