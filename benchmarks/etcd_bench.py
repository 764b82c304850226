"""`kubeharden etcd check` against a real etcd holding many Secrets: time and memory of a whole check.

Starts a throw-away etcd on loopback with TLS and client-certificate auth (tests/etcd_server.py, Debian
etcd-server), writes ``--secrets`` Secrets of ``--value-bytes`` each (a tenth in plain protobuf, the rest
aescbc-encrypted as the API server writes them: tests/test_etcd.py), then runs the command line's check in a
fresh process and prints its wall time, the Secrets it judged and its peak memory (ru_maxrss).

    python3 benchmarks/etcd_bench.py                      # 5,000 Secrets of 2 KiB
    python3 benchmarks/etcd_bench.py --secrets 20000 --value-bytes 8192
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets", type=int, default=5000)
    parser.add_argument("--value-bytes", type=int, default=2048)
    args = parser.parse_args()
    from etcd_server import Server, binary
    from pki import make_pki
    from test_etcd import aescbc, protobuf_secret

    if binary() is None:
        sys.exit("etcd is not installed (Debian package etcd-server)")
    with tempfile.TemporaryDirectory() as tmp:
        pki = make_pki(Path(tmp))
        server = Server(pki)
        try:
            key = os.urandom(32)
            payload = os.urandom(args.value_bytes)

            def put(n: int) -> None:
                name = f"s{n:06d}"
                value = protobuf_secret(f"ns-{n % 50}", name, {"data": payload})
                server.put(f"/registry/secrets/ns-{n % 50}/{name}".encode(),
                           value if n % 10 == 0 else aescbc("key1", key, value))

            start = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(put, range(args.secrets)))
            print(f"wrote {args.secrets} Secrets of {args.value_bytes} B in {time.perf_counter() - start:.1f} s")
            code = (
                "import json, resource, sys, time\n"
                "from kubeharden.cli import main\n"
                "t = time.perf_counter(); rc = main(sys.argv[1:]); took = time.perf_counter() - t\n"
                "print(json.dumps({'rc': rc, 'seconds': took, "
                "'max_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), file=sys.stderr)\n")
            out = Path(tmp) / "etcd.json"
            argv = [sys.executable, "-c", code, "etcd", "check", "--no-config", "--endpoints", server.endpoint,
                    "--cacert", pki["ca"], "--cert", pki["client"], "--key", pki["client_key"], "-f", "json",
                    "-o", str(out), "--fail-on", "none"]
            env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
            start = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
            wall = time.perf_counter() - start
            stats = json.loads(done.stderr.strip().splitlines()[-1])
            report = json.loads(out.read_text())
            kinds = report["summary"]["kinds"]
            print(f"etcd check: {kinds.get('StoredSecret', 0)} Secrets judged, "
                  f"{len(report['findings'])} findings, exit {stats['rc']}")
            print(f"  wall {wall:.2f} s (in-process {stats['seconds']:.2f} s), "
                  f"peak RSS {stats['max_rss_mib']:.0f} MiB, "
                  f"{kinds.get('StoredSecret', 0) / stats['seconds']:.0f} Secrets/s")
            assert base64.b64encode(payload[:30]).decode() not in out.read_text()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
