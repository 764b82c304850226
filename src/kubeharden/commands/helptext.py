"""Help texts that end with examples: the formatter and the ``add_parser`` keywords every command uses.

Kept free of kubeharden imports: ``cli.py`` builds the top-level parser with it before any command
module is loaded.
"""

from __future__ import annotations

import argparse
import textwrap
from typing import Any


class ExamplesFormatter(argparse.RawDescriptionHelpFormatter):
    """Wraps the description like argparse does, but prints the ``examples:`` epilog as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return super()._fill_text(text, width, indent)
        return "\n".join(textwrap.fill(part, width, initial_indent=indent, subsequent_indent=indent)
                         for part in text.split("\n"))


def examples(*lines: str) -> dict[str, Any]:
    """``add_parser`` keywords for a help that ends with these example command lines (two or three).

    Each line is a command, optionally followed by ``#`` and what it does; the test suite parses
    every example, so they stay valid as options change.
    """
    return {"epilog": "examples:\n" + "\n".join(f"  {line}" for line in lines),
            "formatter_class": ExamplesFormatter}
