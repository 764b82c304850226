#!/usr/bin/env python3
"""Fuzz the scan with YAML 1.1 spellings of the same values; print how many agree with the canonical verdict.

Each mutation rewrites one plain boolean or integer of a bundled example or a catalogue example
into another spelling that kubectl (go-yaml v2) reads as the same value (``y``/``on``/``Yes`` for
true, ``0o17``/``017``/``0xf``/``1_000`` for integers), or quotes a boolean. The verdict (findings
by control, resource, container and line, and Pod Security levels) must equal the canonical one,
or the object must be reported invalid. Not part of the test run; tests/test_spellings.py runs a
small seeded subset.

    python3 benchmarks/spellings_bench.py [--mutations 10000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from spellings import mutate  # noqa: E402  (tests/spellings.py)
from test_spellings import corpus, verdict  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutations", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    texts = [(name, text) for name, text in corpus() if mutate(text, random.Random(0)) is not None]
    canonical = {name: verdict(text) for name, text in texts}
    outcome: Counter[str] = Counter()
    spellings: Counter[str] = Counter()
    failures: list[str] = []
    started = time.perf_counter()
    while sum(outcome.values()) < args.mutations:
        name, text = rng.choice(texts)
        mutation = mutate(text, rng)
        if mutation is None:
            continue
        found, levels, invalid = verdict(mutation.text)
        spellings[mutation.spelling] += 1
        if (found, levels) == canonical[name][:2]:
            outcome["same verdict"] += 1
        elif mutation.quoted and invalid:
            outcome["reported invalid (quoted boolean)"] += 1
        else:
            outcome["DIFFERENT VERDICT"] += 1
            if len(failures) < 20:
                failures.append(f"{name}: {mutation.original} -> {mutation.spelling}")
    elapsed = time.perf_counter() - started
    total = sum(outcome.values())
    print(f"{total} mutations of {len(texts)} documents in {elapsed:.1f} s ({total / elapsed:.0f}/s), seed {args.seed}")
    for label, count in outcome.most_common():
        print(f"  {label:36} {count:6}")
    print(f"  distinct spellings used: {len(spellings)}")
    for line in failures:
        print(f"  ! {line}")
    return 1 if outcome["DIFFERENT VERDICT"] else 0


if __name__ == "__main__":
    sys.exit(main())
