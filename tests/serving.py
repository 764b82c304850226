"""A kubeharden server command (`webhook serve`, `audit serve`) started as its own process for a test."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


@contextlib.contextmanager
def serving(*argv: str) -> Iterator[tuple[subprocess.Popen, int]]:
    """``python -m kubeharden ARGV`` (which must listen on ``--port 0`` on 127.0.0.1): (the process, its port)
    once it logs that it listens; killed at the end if it is still running."""
    proc = subprocess.Popen([sys.executable, "-m", "kubeharden", *argv], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": SRC}, text=True)
    try:
        line = read_until(proc, "listening on https://")
        match = re.search(r"listening on https://127\.0\.0\.1:(\d+)", line)
        assert match, line
        yield proc, int(match.group(1))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def read_until(proc: subprocess.Popen, text: str) -> str:
    """The first line the process writes on stderr that holds ``text``; fails if it stops before."""
    while text not in (line := proc.stderr.readline()):
        assert line, f"the process ended before saying {text!r}"
    return line
