#!/usr/bin/env python3
"""Benchmark reading the same objects as manifests and as snapshots (the snapshot source).

Prints numbers; it is never part of the test run. The objects of ``<repo>/../shared/corpus``
(replicated as ``scan_bench.py`` does, to ``--objects``) are written four ways: one YAML file per
object group in a folder, and three snapshots: a gzip-compressed ``List`` as ``kubectl get -A -o
json`` writes it (sorted keys, indented), the same without gzip (``.json``, read by the files source
with the envelope unpacked), and gzip-compressed JSON lines. Each is scanned in a fresh subprocess
(``python -m kubeharden scan PATH -f json -o FILE --fail-on none --no-config``), ``--repeat`` times;
the best wall time counts (the machine is shared). Objects and findings are read from each report,
so a row that checked different objects or found different things shows it.

Usage: ``python benchmarks/snapshot_bench.py [--objects 5000] [--repeat 3] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

# run as a script, this folder is on sys.path
from scan_bench import DEFAULT_CORPUS, kubeharden_env, replica, source_documents


def build(objects: int, corpus: Path) -> list[list[dict[str, Any]]]:
    """Groups of objects (one group per source file copy), ``objects`` in all (the last group cut)."""
    groups = source_documents(corpus)
    out: list[list[dict[str, Any]]] = []
    total, copy = 0, 0
    while total < objects:
        for group in groups:
            batch = [replica(o, copy, 50) for o in group][: objects - total]
            out.append(batch)
            total += len(batch)
            if total >= objects:
                break
        copy += 1
    return out


def write_inputs(groups: list[list[dict[str, Any]]], work: Path) -> dict[str, Path]:
    folder = work / "manifests"
    folder.mkdir()
    for i, group in enumerate(groups):
        (folder / f"g{i:05d}.yaml").write_text(yaml.safe_dump_all(group, sort_keys=False))
    items = [o for group in groups for o in group]
    listed = json.dumps({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}},
                        indent=4, sort_keys=True)
    (work / "cluster.json.gz").write_bytes(gzip.compress(listed.encode(), compresslevel=6))
    envelope = {"apiVersion": "kubeharden.io/v1", "kind": "Snapshot", "metadata": {"name": "bench"}, "items": items}
    (work / "cluster.json").write_text(json.dumps(envelope, indent=2))
    lines = "".join(json.dumps(o, separators=(",", ":")) + "\n" for o in items)
    (work / "cluster.jsonl.gz").write_bytes(gzip.compress(lines.encode(), compresslevel=6))
    return {"YAML folder (files)": folder, "kubectl List, .json.gz": work / "cluster.json.gz",
            "Snapshot envelope, .json": work / "cluster.json", "JSON lines, .jsonl.gz": work / "cluster.jsonl.gz"}


def scan(path: Path, out: Path, repeat: int) -> tuple[float, dict[str, Any]]:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kubeharden", "scan", str(path), "-f", "json", "-o", str(out),
                        "--fail-on", "none", "--no-config", "--max-file-size", "1024"],
                       env=kubeharden_env(), check=False, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best, json.loads(out.read_text())["summary"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--keep", type=Path, help="write the inputs here and keep them")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="kh-snapshot-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        inputs = write_inputs(build(args.objects, args.corpus), work)
        print(f"{args.objects} objects from {args.corpus}; best of {args.repeat} runs each (wall time, CLI)")
        print(f"{'input':28} {'size MB':>8} {'seconds':>8} {'objects/s':>10} {'objects':>8} {'findings':>9}")
        for name, path in inputs.items():
            size = sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size
            seconds, summary = scan(path, work / "report.json", args.repeat)
            print(f"{name:28} {size / 1e6:8.1f} {seconds:8.2f} {summary['objects'] / seconds:10.0f} "
                  f"{summary['objects']:8} {summary['findings']:9}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
