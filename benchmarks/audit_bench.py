"""Audit detection throughput: file scanning (events/s on one core, full rule pack) and the webhook
receiver's sustained events/s under a load generator on loopback.

    PYTHONPATH=src python3 benchmarks/audit_bench.py [--events 200000] [--serve-seconds 10]

Prints numbers; never part of the test run. The server part listens on 127.0.0.1 only, uses a
throwaway CA (tests/pki.py, needs ``cryptography``) and stops after ``--serve-seconds`` or ``--serve-batches``.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import multiprocessing
import os
import ssl
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from kubeharden.detect.engine import Detector  # noqa: E402
from kubeharden.detect.rules import load_rules  # noqa: E402
from kubeharden.detect.simulate import baseline, traffic  # noqa: E402
from kubeharden.sources.audit import read_events  # noqa: E402


def write_log(path: Path, count: int, bodies: bool) -> int:
    n = 0
    with open(path, "wb") as fh:
        for e in baseline(3600, 1.0, bodies=bodies):
            fh.write(orjson.dumps(e) + b"\n")
            n += 1
        for e in traffic(count, attacks=max(1, count // 50_000), bodies=bodies):
            fh.write(orjson.dumps(e) + b"\n")
            n += 1
    return n


def bench_files(count: int, bodies: bool) -> None:
    """Parse + detect against parse alone, best of three each, on the same log file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.log"
        total = write_log(path, count, bodies)
        size = path.stat().st_size
        rules = load_rules()
        gc.freeze()  # as the CLI does (commands/audit.py _tune_gc)
        gc.set_threshold(50_000, 20, 20)
        full = parse = float("inf")
        alerts = 0
        for _ in range(3):
            problems: list = []
            start = time.perf_counter()
            n = sum(1 for _ in read_events([str(path)], problems.append))
            parse = min(parse, time.perf_counter() - start)
            detector = Detector(rules)
            start = time.perf_counter()
            alerts = sum(1 for _ in detector.run(read_events([str(path)], problems.append)))
            full = min(full, time.perf_counter() - start)
        label = "with request/response bodies" if bodies else "metadata-mostly"
        print(f"file scan, {label}: {total} events ({size / 1e6:.1f} MB, {size / total:.0f} B/event), "
              f"{len(Detector(rules).rules)} rules, {alerts} alerts")
        print(f"  parse + detect: {total / full:,.0f} events/s; reading/parsing alone: {n / parse:,.0f} events/s "
              f"(best of 3, one core)")
        print(f"  detection costs {(full - parse) / parse:.2f}x the time of reading and parsing "
              f"(whole scan {full / parse:.2f}x)")


def _client(job: tuple) -> tuple[int, int]:
    """One load-generator process: POST batches over one keep-alive TLS connection."""
    port, pki, bodies, idx, count, seconds = job
    ctx = ssl.create_default_context(cafile=pki["ca"])
    ctx.load_cert_chain(pki["client"], pki["client_key"])
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
    ok = busy = 0
    stop_at = time.monotonic() + seconds
    for i in range(count):
        if time.monotonic() > stop_at:
            break
        conn.request("POST", "/", body=bodies[(idx + i) % len(bodies)], headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        if resp.status == 200:
            ok += 1
        elif resp.status == 503:
            busy += 1
    conn.close()
    return ok, busy


def bench_server(seconds: float, max_batches: int, batch_size: int, clients: int, detect_in: str) -> None:
    from pki import make_pki  # the tests' throwaway CA

    from kubeharden.serve.audit_app import AuditReceiver
    from kubeharden.serve.tls import server_tls_context
    events = list(traffic(batch_size * 50, attacks=1, bodies=True))
    bodies = [orjson.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1",
                            "items": events[i:i + batch_size]}) for i in range(0, len(events), batch_size)]
    detector = Detector(load_rules())

    def handle(batch):
        if os.environ.get("NO_DETECT"):
            return 0
        n = 0
        for e in batch:
            a = detector.process(e)
            if a:
                n += len(a)
        return n

    with tempfile.TemporaryDirectory() as tmp:
        pki = make_pki(Path(tmp))
        sys.setswitchinterval(float(os.environ.get("SWITCH", "0.005")))
        server = AuditReceiver(("127.0.0.1", 0), server_tls_context(pki["server"], pki["server_key"], pki["ca"]),
                               handle, queue_batches=200, detect_in=detect_in)
        server.serve()
        port = server.server_address[1]
        per_client = max(1, max_batches // clients)
        jobs = [(port, pki, bodies, k, per_client, seconds) for k in range(clients)]
        ctx_mp = multiprocessing.get_context("fork")
        start = time.perf_counter()
        with ctx_mp.Pool(clients) as pool:  # the load generator runs in other processes: no shared GIL
            results = pool.map(_client, jobs)
        received = time.perf_counter() - start
        sent = [sum(r[0] for r in results) * batch_size, sum(r[0] + r[1] for r in results),
                sum(r[1] for r in results)]
        while server.queue.worker.depth() and time.perf_counter() - start < seconds + 60:
            time.sleep(0.01)
        processed_at = time.perf_counter() - start
        server.stop()
        stats = server.stats_dict()
        print(f"webhook receiver (detection in a {detect_in}): {clients} client process(es), batches of "
              f"{batch_size} over TLS with client certs on 127.0.0.1")
        print(f"  accepted {sent[0]:,} events in {received:.1f} s = {sent[0] / received:,.0f} events/s "
              f"({stats['batches'] / received:,.0f} batches/s); 503 busy replies: {sent[2]}")
        print(f"  processed by the detection worker: {stats['processed_events']:,} events, all done after "
              f"{processed_at:.1f} s = {stats['processed_events'] / processed_at:,.0f} events/s sustained; "
              f"alerts {stats['alerts']}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--serve-seconds", type=float, default=10.0)
    ap.add_argument("--serve-batches", type=int, default=5000)
    ap.add_argument("--batch-size", type=int, default=400,
                    help="the API server's default --audit-webhook-batch-max-size")
    ap.add_argument("--clients", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                    help="load-generator processes (default: one less than the CPUs, so the server keeps one)")
    ap.add_argument("--skip-server", action="store_true")
    ap.add_argument("--bodies-only", action="store_true", help="only the traffic with request/response bodies")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]} on {os.uname().machine}, {os.cpu_count()} CPUs")
    bench_files(args.events, bodies=True)
    if not args.bodies_only:
        bench_files(args.events, bodies=False)
    if not args.skip_server:
        for mode in ("process", "thread"):
            bench_server(args.serve_seconds, args.serve_batches, args.batch_size, args.clients, mode)


if __name__ == "__main__":
    main()
