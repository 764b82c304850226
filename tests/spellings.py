"""Rewrite plain YAML scalars into other spellings of the same value, as kubectl reads them.

Used by the seeded test (tests/test_spellings.py) and the benchmark
(benchmarks/spellings_bench.py). Every spelling here means the same value to go-yaml v2
(kubectl, sigs.k8s.io/yaml); a *quoted* boolean is a string and so an invalid value for a
boolean field, which the scan must report rather than judge.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

TRUE = ("true", "True", "TRUE", "y", "Y", "yes", "Yes", "YES", "on", "On", "ON")
FALSE = ("false", "False", "FALSE", "n", "N", "no", "No", "NO", "off", "Off", "OFF")

#: a plain scalar value after "key: " (block or flow style), ending the line or the flow item
_VALUE = re.compile(r"(?P<head>(?:^|[{,])\s*[A-Za-z][\w.-]*:[ \t]+)(?P<value>true|false|[0-9]+)(?=[ \t]*(?:$|[,}\]]))",
                    re.MULTILINE)


@dataclass(frozen=True)
class Mutation:
    text: str
    original: str
    spelling: str
    quoted: bool  # a quoted boolean: the value is now a string, so the object is invalid


def int_spellings(value: int) -> list[str]:
    out = [f"{value:_}".replace(",", "_"), f"+{value}", f"0o{value:o}", f"0x{value:x}", f"0b{value:b}"]
    if value > 0:
        out.append(f"0{value:o}")  # YAML 1.1 octal, as go-yaml v2 reads it
    if value >= 1000:
        out.append(f"{str(value)[:-3]}_{str(value)[-3:]}")
    return out


def mutate(text: str, rng: random.Random) -> Mutation | None:
    """``text`` with one plain boolean or integer rewritten into another spelling (or quoted)."""
    sites = list(_VALUE.finditer(text))
    if not sites:
        return None
    site = rng.choice(sites)
    value = site.group("value")
    quoted = False
    if value in ("true", "false"):
        choices = [s for s in (TRUE if value == "true" else FALSE) if s != value]
        if rng.random() < 0.1:
            spelling, quoted = f'"{value}"', True
        else:
            spelling = rng.choice(choices)
    else:
        spelling = rng.choice(int_spellings(int(value)))
    mutated = text[: site.start("value")] + spelling + text[site.end("value"):]
    return Mutation(mutated, value, spelling, quoted)
