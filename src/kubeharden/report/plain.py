"""Text for files and pipes: no line ends in padding.

rich pads every table cell to its column's width, so the last column of a row ends in spaces; on a
terminal nobody sees them, in a file or a pipe they are noise that breaks ``diff`` and review tools.
Every renderer of a table writes through :func:`console` (or :func:`trimmed` for plain text).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import IO

from rich.console import Console


class _Trimmed(io.TextIOBase):
    """A text stream that writes each complete line to ``out`` without its trailing whitespace."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._tail = ""

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        lines = (self._tail + text).split("\n")
        self._tail = lines.pop()
        if lines:
            self._out.write("".join(line.rstrip() + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        self._out.flush()

    def finish(self) -> None:
        """Write what is left of an unfinished last line."""
        if self._tail.rstrip():
            self._out.write(self._tail.rstrip())
        self._tail = ""


@contextlib.contextmanager
def trimmed(out: IO[str]) -> Iterator[IO[str]]:
    """``out`` itself on a terminal; elsewhere a stream onto it whose lines lose their trailing spaces."""
    if out.isatty():
        yield out
        return
    stream = _Trimmed(out)
    yield stream
    stream.finish()


@contextlib.contextmanager
def console(out: IO[str], width: int) -> Iterator[Console]:
    """A rich console on ``out``: the terminal's width on a terminal, else ``width`` columns with no
    trailing padding on any line."""
    if out.isatty():
        yield Console(file=out, highlight=False, soft_wrap=False)
        return
    with trimmed(out) as stream:
        yield Console(file=stream, highlight=False, soft_wrap=False, width=width)
