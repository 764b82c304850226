#!/usr/bin/env python3
"""Benchmark a full scan of a large cluster snapshot (issue #11: 100,000 objects < 60 s, < 1 GB).

Prints numbers; never part of the test run. The objects of ``<repo>/../shared/corpus`` are
replicated to ``--objects`` (as ``snapshot_bench.py`` and ``scan_bench.py`` do: each copy renamed,
spread over namespaces, its ServiceAccount and RBAC references renamed alike, so RBAC and
NetworkPolicy analyses have real work), written as a folder of YAML files, and then:

1. ``kubeharden snapshot FOLDER -o cluster.json.gz``: the snapshot command saving them (as it saves
   a cluster's objects), in a fresh process;
2. ``kubeharden scan cluster.json.gz -f json``: the full default scan of the snapshot (per-object
   controls, Pod Security Standards, and the cross-object controls: ServiceAccounts, NetworkPolicy
   reachability, RBAC paths), in a fresh process, ``--repeat`` times (best wall time; the machine is
   shared).

Peak memory is the child's maximum RSS from ``/usr/bin/time -f %M`` (its largest process); "all
procs" sums the RSS of its process tree (the RBAC analysis runs in a forked child), sampled every
0.25 s. The report's object count, findings and how many RBAC and NetworkPolicy controls ran
(not ``not-applicable``) show that the analyses had something to do.

Usage: ``python benchmarks/cluster_snapshot_bench.py [--objects 100000] [--repeat 1] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import yaml

# run as a script, this folder is on sys.path
from scan_bench import DEFAULT_CORPUS, GNU_TIME, kubeharden_env, run_child
from snapshot_bench import build

TARGET_SECONDS, TARGET_MB = 60.0, 1024.0


def write_folder(objects: int, corpus: Path, folder: Path) -> int:
    folder.mkdir(parents=True)
    total = 0
    for i, group in enumerate(build(objects, corpus)):
        (folder / f"g{i:05d}.yaml").write_text(yaml.safe_dump_all(group, sort_keys=False))
        total += len(group)
    return total


def kubeharden(*args: str) -> list[str]:
    return [sys.executable, "-m", "kubeharden", *args]


def cpu_seconds(argv: list[str], env: dict[str, str]) -> float | None:
    """User + system CPU seconds of one run (GNU time; its waited-for children included), or None without it.

    On a shared machine the wall time grows with the other processes' load; the CPU time much less.
    """
    if not os.path.exists(GNU_TIME):
        return None
    fd, out = tempfile.mkstemp(prefix="kh-bench-cpu-")
    os.close(fd)
    try:
        subprocess.run([GNU_TIME, "-f", "%U %S", "-o", out, *argv], env=env, check=False, capture_output=True)
        user, system = (float(x) for x in Path(out).read_text().split()[-2:])
    finally:
        os.unlink(out)
    return user + system


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--keep", type=Path, help="write the inputs here and keep them (a folder already there "
                                                  "is used as it is)")
    parser.add_argument("--reuse-snapshot", action="store_true",
                        help="with --keep: scan the snapshot already there instead of saving it again")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="kh-cluster-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = kubeharden_env()
    try:
        folder = work / "manifests"
        if not folder.exists():
            written = write_folder(args.objects, args.corpus, folder)
            print(f"{written} objects from {args.corpus} in {folder}", flush=True)
        snap = work / "cluster.json.gz"
        if not (args.reuse_snapshot and snap.exists()):
            saved = run_child(kubeharden("snapshot", str(folder), "-o", str(snap), "--max-file-size", "1024"),
                              env=env)
            if saved["returncode"] not in (0, 3):
                print(saved["stderr"])
                return 1
            print(f"kubeharden snapshot: {saved['wall']:.1f} s, peak {saved['peak_mb']:.0f} MB, "
                  f"{snap.stat().st_size / 1e6:.1f} MB gzip ({os.cpu_count()} CPUs)", flush=True)
        report = work / "report.json"
        best = None
        for _ in range(args.repeat):
            run = run_child(kubeharden("scan", str(snap), "-f", "json", "-o", str(report), "--fail-on", "none",
                                       "--no-config", "--max-file-size", "1024"), env=env, tree=True)
            if run["returncode"] not in (0, 1, 3):
                print(run["stderr"])
                return 1
            if best is None or run["wall"] < best["wall"]:
                best = run
        assert best is not None
        cpu = cpu_seconds(kubeharden("scan", str(snap), "-f", "json", "-o", str(report), "--fail-on", "none",
                                     "--no-config", "--max-file-size", "1024"), env)
        summary = json.loads(report.read_text())["summary"]
        status = summary["control_status"]
        ran = Counter(cid.split("-")[1] for cid, s in status.items() if s not in ("not-applicable", "not-assessable"))
        print(f"kubeharden scan:     {best['wall']:.1f} s, peak {best['peak_mb']:.0f} MB (largest process), "
              f"{best['tree_peak_mb']:.0f} MB all procs; {summary['objects']} objects, {summary['findings']} "
              f"findings, {summary['errors']} input errors; controls that ran: RBAC {ran['RBAC']}, NET {ran['NET']}, "
              f"POD {ran['POD']} (best of {args.repeat}); CPU time of one more run: "
              f"{'n/a' if cpu is None else f'{cpu:.1f} s'}; load average {os.getloadavg()[0]:.1f}")
        fast, small = best["wall"] < TARGET_SECONDS, best["peak_mb"] < TARGET_MB
        print(f"targets: {'met ' if fast else 'MISS'} {best['wall']:.1f} s < {TARGET_SECONDS:.0f} s; "
              f"{'met ' if small else 'MISS'} {best['peak_mb']:.0f} MB < {TARGET_MB:.0f} MB")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
