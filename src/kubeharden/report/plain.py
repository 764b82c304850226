"""Text for files and pipes: no line ends in padding.

rich pads every table cell to its column's width, so the last column of a row ends in spaces; on a
terminal nobody sees them, in a file or a pipe they are noise that breaks ``diff`` and review tools.
Every renderer of a table writes through :func:`console` (or :func:`trimmed` for plain text).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from typing import IO, cast

from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


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
    yield cast(IO[str], stream)  # a TextIOBase: write, flush and isatty are all a renderer uses
    stream.finish()


@contextlib.contextmanager
def console(out: IO[str], width: int) -> Iterator[Console]:
    """A rich console on ``out``: the terminal's width on a terminal, else ``COLUMNS``, else ``width``
    columns, with no trailing padding on any line."""
    if out.isatty():
        yield Console(file=out, highlight=False, soft_wrap=False)
        return
    with trimmed(out) as stream:
        yield Console(file=stream, highlight=False, soft_wrap=False, width=columns_from_env() or width)


def columns_from_env() -> int | None:
    """``COLUMNS`` when it names a usable width (40 or more), else None."""
    text = os.environ.get("COLUMNS", "")
    return int(text) if text.isdigit() and int(text) >= 40 else None


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` on ``console`` without cutting a word: its columns wrap between words
    (:func:`unclipped`), and a table whose longest words cannot sit side by side in the console's width
    (a narrow terminal, ``COLUMNS=60``) is printed as records instead, one ``column: value`` line per
    cell, the values wrapped between words."""
    unclipped(table)
    if Measurement.get(console, console.options.update_width(100_000), table).minimum <= console.width:
        console.print(table)
        return
    console.print(records(table))


def records(table: Table) -> Group:
    """The rows of ``table`` one below the other, each cell as ``column: value`` (values wrap between words)."""
    names = [column.header if isinstance(column.header, str) else "" for column in table.columns]
    cells = [list(column.cells) for column in table.columns]
    parts: list[RenderableType] = []
    if table.title:
        parts.append(Text(str(table.title), style="bold") if isinstance(table.title, str) else table.title)
    for row in range(table.row_count):
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        for name, column in zip(names, cells, strict=True):
            value = column[row] if row < len(column) else ""
            if value not in ("", None):
                grid.add_row(f"{name}:" if name else "", value)
        parts.append(grid)
        parts.append(Text(""))
    return Group(*parts)


def unclipped(table: Table) -> Table:
    """``table`` with every column wrapping at word boundaries and never cutting a word with an ellipsis.

    rich shortens a cell that does not fit (``no_wrap``, or a word wider than its column) to ``…``:
    a narrow terminal (``COLUMNS=60``) would then lose the ends of names, verbs and field paths. Here
    cells wrap between words, and only a word wider than its whole column is continued on the next line.
    """
    for column in table.columns:
        column.overflow = "fold"
        column.no_wrap = False
    return table
