"""``--store [URL]`` and ``--baseline REF``: the history store's options, shared by the commands."""

from __future__ import annotations

import argparse

#: What ``--store`` alone means: the default store (KUBEHARDEN_STORE, else a file in the user's data folder).
DEFAULT_STORE = "default"


def store_url(text: str) -> str:
    """argparse type of ``--store``: a URL (``sqlite:///FILE``, ``postgresql://…``) or ``default``."""
    if text == DEFAULT_STORE or "://" in text:
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a store URL (sqlite:///FILE or postgresql://USER@HOST/DB); for the default store "
        "write --store alone after the paths, or --store=default")


def add_store_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--store", nargs="?", const=DEFAULT_STORE, default=None, type=store_url, metavar="URL",
                        help=help_text + " (default store: $KUBEHARDEN_STORE, else history.sqlite3 in the user's "
                                         "data folder; postgresql://USER@HOST/DB for a team; docs/history.md)")


def url_of(value: str | None) -> str | None:
    """The URL to open for an ``--store`` value (None: the default store)."""
    return None if value in (None, DEFAULT_STORE) else value
