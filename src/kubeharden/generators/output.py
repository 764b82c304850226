"""Writing generated objects as one multi-document YAML stream."""

from __future__ import annotations

from typing import IO, Any
from collections.abc import Iterable

import yaml


def write_documents(docs: Iterable[dict[str, Any]], out: IO[str], header: str) -> int:
    """Write ``docs`` separated by ``---`` after a comment ``header``; returns how many."""
    count = 0
    for line in header.strip().splitlines():
        out.write(f"# {line}\n".replace("# \n", "#\n"))
    for doc in docs:
        out.write("---\n")
        out.write(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))
        count += 1
    return count
