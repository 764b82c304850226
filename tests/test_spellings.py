"""Seeded fuzz: every YAML 1.1 spelling of a value gives the canonical verdict, or an invalid-type error.

The benchmark benchmarks/spellings_bench.py runs the same check over 10,000+ mutations.
"""

from __future__ import annotations

import random
from pathlib import Path

from conftest import scan
from spellings import mutate

from kubeharden.catalogue.loader import load_catalogue

ROOT = Path(__file__).resolve().parents[1]


def corpus() -> list[tuple[str, str]]:
    texts = [(str(p), p.read_text()) for p in sorted((ROOT / "examples").rglob("*.yaml"))]
    for control in load_catalogue():
        for label, text in (("fail", control.example_fail), ("pass", control.example_pass)):
            if text:
                texts.append((f"{control.id} {label}", text))
    return texts


def verdict(text: str):
    findings, result = scan(text, config={})
    found = sorted((f.control.id, str(f.resource), f.container_id or "", f.line or 0) for f in findings)
    levels = sorted((str(p.ref), p.level) for p in result.pss)
    invalid = any(p.kind == "invalid-object" for p in result.problems)
    return found, levels, invalid


def test_spellings_keep_the_verdict():
    rng = random.Random(20261130)
    texts = [(name, text) for name, text in corpus() if mutate(text, random.Random(0)) is not None]
    canonical = {name: verdict(text) for name, text in texts}
    checked = 0
    for _ in range(300):
        name, text = rng.choice(texts)
        mutation = mutate(text, rng)
        if mutation is None:
            continue
        found, levels, invalid = verdict(mutation.text)
        if mutation.quoted and not canonical[name][2]:
            # a quoted boolean is a string: if the field is a boolean, the object must be reported invalid;
            # otherwise (a string field) nothing may change
            assert invalid or (found, levels) == canonical[name][:2], (name, mutation)
        else:
            assert (found, levels) == canonical[name][:2], (name, mutation.original, mutation.spelling)
        checked += 1
    assert checked >= 250
