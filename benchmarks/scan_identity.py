#!/usr/bin/env python3
"""Check that a performance change leaves the scan's output as it was.

Runs ``kubeharden scan PATH --no-render --format json --fail-on none --no-config`` with this
checkout's ``src/`` (once per ``--jobs`` value) and compares the JSON report with a saved one:
findings (every field, in order), the summary (objects, kinds, counts, compliance), errors and
notes (problems, in order), Pod Security verdicts and exceptions. Prints the first difference of
each part and exits 1 when any part differs.

    python3 benchmarks/scan_identity.py --save /tmp/before.json            # on the old code
    python3 benchmarks/scan_identity.py --against /tmp/before.json         # on the new code
    python3 benchmarks/scan_identity.py --against /tmp/before.json --path /tmp/khc/synthetic-5k --jobs 1,2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"
PARTS = ("findings", "summary", "errors", "notes", "pss", "exceptions")


def scan(path: str, jobs: int | None) -> dict[str, Any]:
    """The JSON report of one scan of ``path`` in a fresh process."""
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "report.json")
        command = [sys.executable, "-m", "kubeharden", "scan", path, "--no-render", "--format", "json",
                   "--fail-on", "none", "--no-config", "--output", out]
        if jobs is not None:
            command += ["--jobs", str(jobs)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
        # the exit status says whether the input had errors (the corpus has one): the report is what counts
        done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if not os.path.exists(out):
            raise SystemExit(f"the scan wrote no report (exit status {done.returncode}):\n{done.stderr[-2000:]}")
        with open(out, encoding="utf-8") as handle:
            return json.load(handle)


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """One line per part of the report that differs, naming its first differing item."""
    found = []
    for part in PARTS:
        old, new = before.get(part), after.get(part)
        if old == new:
            continue
        if isinstance(old, list) and isinstance(new, list):
            index = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), min(len(old), len(new)))
            found.append(f"{part}: {len(old)} before, {len(new)} after; first difference at item {index}: "
                         f"{json.dumps(old[index] if index < len(old) else None)[:400]} -> "
                         f"{json.dumps(new[index] if index < len(new) else None)[:400]}")
        elif isinstance(old, dict) and isinstance(new, dict):
            keys = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
            found.append(f"{part}: differs in {', '.join(keys)}: "
                         + "; ".join(f"{k}: {json.dumps(old.get(k))[:200]} -> {json.dumps(new.get(k))[:200]}"
                                     for k in keys[:3]))
        else:
            found.append(f"{part}: {json.dumps(old)[:200]} -> {json.dumps(new)[:200]}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default=str(DEFAULT_CORPUS), help="what to scan (default: the shared corpus)")
    parser.add_argument("--jobs", default="", help="comma-separated --jobs values (default: the scan's own)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--save", metavar="FILE", help="write the report to FILE (run on the code before the change)")
    what.add_argument("--against", metavar="FILE", help="compare with the report in FILE")
    args = parser.parse_args()
    jobs = [int(j) for j in args.jobs.split(",") if j] or [None]
    if args.save:
        report = scan(args.path, jobs[0])
        Path(args.save).write_text(json.dumps(report), encoding="utf-8")
        print(f"saved {len(report['findings'])} findings, {report['summary']['objects']} objects to {args.save}")
        return 0
    before = json.loads(Path(args.against).read_text(encoding="utf-8"))
    status = 0
    for job in jobs:
        found = differences(before, scan(args.path, job))
        label = f"--jobs {job}" if job is not None else "default --jobs"
        if found:
            status = 1
            print(f"{label}: DIFFERENT")
            for line in found:
                print(f"  {line}")
        else:
            print(f"{label}: identical ({len(before['findings'])} findings, {before['summary']['objects']} objects, "
                  f"{len(before['errors'])} errors, {len(before['notes'])} notes)")
    return status


if __name__ == "__main__":
    sys.exit(main())
