"""Listing a large cluster through the cluster source, from the API server test double.

Prints numbers; never part of the tests. The double (tests/clusterdouble, a test double, not an
API server) runs in a child process so that it does not share this process' interpreter lock; it
serves N objects (default 100,000) made from the real-world manifests of ../shared/corpus (every
object of a kind the double serves, copied with a new name into one of --namespaces namespaces),
plus the small cluster of tests/clusterdouble/cluster.yaml.

    python3 benchmarks/cluster_bench.py                      # 100,000 objects, pages of 500, 8 requests
    python3 benchmarks/cluster_bench.py --objects 20000 --chunk-size 1000 --requests 4 --scan

Measured: the wall time of listing every object through ``kubeharden.sources.cluster.read``
(connection, discovery, paged lists, the ClusterInfo) and this process' peak RSS; with ``--scan``
also ``kubeharden scan --cluster`` (listing and every control) in a fresh process.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from kubeharden.sources.cluster import ClusterOptions, read  # noqa: E402
from kubeharden.sources.files import ReadOptions  # noqa: E402
from tests.clusterdouble import RESOURCES, small_cluster  # noqa: E402

SERVED = {(g, kind) for g, _v, _r, kind, _ns in RESOURCES}
NAMESPACED = {kind for _g, _v, _r, kind, ns in RESOURCES if ns}


def corpus_objects(corpus: Path) -> list[dict]:
    found = []
    for path in sorted(corpus.rglob("*.y*ml")):
        try:
            docs = list(yaml.load_all(path.read_text(errors="replace"), Loader=yaml.CSafeLoader))
        except Exception:
            continue
        for doc in docs:
            if not (isinstance(doc, dict) and isinstance(doc.get("metadata"), dict)
                    and isinstance(doc.get("apiVersion"), str)):
                continue
            if (doc["apiVersion"].rpartition("/")[0], doc.get("kind")) in SERVED and doc["kind"] != "Namespace":
                found.append(doc)
    return found


def build(count: int, namespaces: int, corpus: Path) -> list[dict]:
    base = small_cluster()
    templates = corpus_objects(corpus) if corpus.is_dir() else []
    templates = templates or [o for o in base if o["kind"] != "Namespace"]
    out = base + [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bench-{n}"}}
                  for n in range(namespaces)]
    n = 0
    while len(out) < count:
        obj = copy.deepcopy(templates[n % len(templates)])
        meta = obj["metadata"]
        meta["name"] = f"{meta.get('name') or 'obj'}-b{n}"
        if obj["kind"] in NAMESPACED:
            meta["namespace"] = f"bench-{n % namespaces}"
        else:
            meta.pop("namespace", None)
        out.append(obj)
        n += 1
    return out


SERVE = """
import sys, pathlib
sys.path[:0] = [{root!r}, {src!r}]
from benchmarks.cluster_bench import build
from tests.clusterdouble import ClusterDouble
objects = build({count!r}, {namespaces!r}, pathlib.Path({corpus!r}))
double = ClusterDouble(objects).start(pathlib.Path({folder!r}))
print(len(objects), double.kubeconfig, flush=True)
sys.stdin.read()
"""


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # each figure as soon as it is known
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objects", type=int, default=100_000)
    p.add_argument("--namespaces", type=int, default=100)
    p.add_argument("--chunk-size", type=int, default=500)
    p.add_argument("--requests", type=int, default=8)
    p.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    p.add_argument("--scan", action="store_true", help="also time `kubeharden scan --cluster` in a fresh process")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as work:
        # the child builds and serves the objects: this process' memory is the source's alone
        code = SERVE.format(root=str(ROOT), src=str(ROOT / "src"), count=args.objects, namespaces=args.namespaces,
                            corpus=str(args.corpus), folder=work)
        server = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
        try:
            served, kubeconfig = server.stdout.readline().split()  # type: ignore[union-attr]
            print(f"double: {served} objects served (cpus: {os.cpu_count()}, load average "
                  f"{os.getloadavg()[0]:.1f})")
            cluster = ClusterOptions(kubeconfig=kubeconfig, chunk_size=args.chunk_size, requests=args.requests)
            options = ReadOptions(source_options={"cluster": cluster})
            start = time.perf_counter()
            listed, errors = 0, []
            for item in read("cluster://", options):  # counted, not kept, as the engine consumes them
                if hasattr(item, "ref"):
                    listed += 1
                elif item.level == "error":
                    errors.append(item.message)
            took = time.perf_counter() - start
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"listing: {listed} objects yielded in {took:.2f} s ({listed / took:,.0f} objects/s), "
                  f"pages of {args.chunk_size}, {args.requests} requests at a time; peak RSS of this process "
                  f"{peak:.0f} MiB; errors: {errors or 'none'}")
            if args.scan:
                rss = Path(work) / "rss"
                start = time.perf_counter()
                done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss), sys.executable, "-m", "kubeharden",
                                       "scan", "--cluster", "--kubeconfig", kubeconfig, "--no-config", "-f", "json",
                                       "-o", str(Path(work) / "r.json"), "--fail-on", "none"],
                                      env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
                took = time.perf_counter() - start
                peak = int(rss.read_text().split()[-1]) / 1024 if rss.exists() else float("nan")
                report = json.loads((Path(work) / "r.json").read_text())
                kinds: dict[str, int] = {}
                for problem in report.get("errors", []):
                    kinds[problem["kind"]] = kinds.get(problem["kind"], 0) + 1
                print(f"scan --cluster: {took:.2f} s wall, peak RSS {peak:.0f} MiB, exit {done.returncode}, "
                      f"{report['summary'].get('objects', '?')} objects judged, errors by kind: {kinds or 'none'} "
                      f"(load average now {os.getloadavg()[0]:.1f})")
        finally:
            server.stdin.close()  # type: ignore[union-attr]
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
