"""History store benchmark: store a 10,000-finding scan and diff two such scans (issue #14 targets:
storing under 2 s in either database, a diff under 1 s).

    python3 benchmarks/store_bench.py                 # SQLite, and PostgreSQL when it is installed
    python3 benchmarks/store_bench.py --findings 50000 --no-postgres

The findings are real: the insecure example is scanned once, and its findings are replicated over
renamed resources (the resource name is part of the fingerprint, so each copy is a distinct finding).
PostgreSQL is the same throw-away server the tests start (tests/postgres.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from kubeharden.config import Config  # noqa: E402
from kubeharden.engine.evaluator import Evaluator  # noqa: E402
from kubeharden.model.history import diff  # noqa: E402
from kubeharden.report.summary import summary  # noqa: E402
from kubeharden.sources.files import read_objects  # noqa: E402
from kubeharden.store.database import open_store  # noqa: E402
from kubeharden.store.history import findings_of, resolve_scan, save_scan  # noqa: E402


def findings(count: int) -> tuple[list, object]:
    evaluator = Evaluator(Config())
    base = [f for f in evaluator.run(read_objects([str(ROOT / "examples" / "insecure")])) if f.status == "fail"]
    out = []
    copy = 0
    while len(out) < count:
        for f in base:
            renamed = dataclasses.replace(f.resource, name=f"{f.resource.name}-{copy}")
            out.append(dataclasses.replace(f, resource=renamed))
            if len(out) == count:
                break
        copy += 1
    return out, evaluator.result


def measure(url: str, count: int) -> dict[str, float]:
    rows, result = findings(count)
    engine = open_store(url)
    t0 = time.perf_counter()
    save_scan(engine, result, rows, "bench", summary(result), "bench")
    stored = time.perf_counter() - t0
    # the second scan: a tenth fixed, a tenth new
    tenth = count // 10
    renamed = [dataclasses.replace(f, resource=dataclasses.replace(f.resource, name=f"{f.resource.name}-new"))
               for f in rows[:tenth]]
    later = rows[tenth:] + renamed
    save_scan(engine, result, later, "bench", summary(result), "bench")
    t0 = time.perf_counter()
    before = findings_of(engine, resolve_scan(engine, "latest~1"))
    changes = diff(before, findings_of(engine, resolve_scan(engine, "latest")))
    diffed = time.perf_counter() - t0
    engine.dispose()
    assert len(changes.new) == tenth and len(changes.fixed) == tenth, (len(changes.new), len(changes.fixed))
    return {"store_s": stored, "diff_s": diffed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        r = measure(f"sqlite:///{tmp}/bench.sqlite3", args.findings)
        print(f"sqlite      {args.findings} findings: store {r['store_s']:.3f} s (target < 2 s), "
              f"diff {r['diff_s']:.3f} s (target < 1 s)")
    if not args.no_postgres:
        from postgres import Server, binaries

        if binaries() is None:
            print("postgresql  not installed: skipped (Debian package postgresql)")
            return
        server = Server()
        try:
            r = measure(server.base_url("kh"), args.findings)
            print(f"postgresql  {args.findings} findings: store {r['store_s']:.3f} s (target < 2 s), "
                  f"diff {r['diff_s']:.3f} s (target < 1 s)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
