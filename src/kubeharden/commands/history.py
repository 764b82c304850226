"""``kubeharden history``: the scans kept in the history store, with trends per guide section."""

from __future__ import annotations

import argparse

from kubeharden.commands.common import fail
from kubeharden.commands.emit import write_output
from kubeharden.commands.helptext import examples
from kubeharden.commands.store_options import add_store_option, url_of
from kubeharden.exitcodes import USAGE


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("history", help="list stored scans (kubeharden scan --store), with trends",
                       description="List the scans kept in the history store, newest first, with their counts by "
                                   "severity; --trend adds compliance per guide section over time (docs/history.md).",
                       **examples("kubeharden history                                   # the default store",
                                  "kubeharden history --trend --limit 10                # how posture moves",
                                  "kubeharden history --store postgresql://kh@db/kh -f json"))
    add_store_option(p, "the history store to read")
    p.add_argument("--limit", type=_positive, default=20, metavar="N", help="at most N scans (default 20)")
    p.add_argument("--trend", action="store_true", help="add compliance per guide section, oldest to newest")
    p.add_argument("--delete", metavar="SCAN", help="remove one stored scan (an ID, latest or latest~N) and its "
                                                    "findings")
    p.add_argument("-f", "--format", choices=("table", "json"), default="table", help="output format (default table)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")
    p.set_defaults(func=run)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    from kubeharden.report.history import write_scans_json, write_scans_table
    from kubeharden.store.database import StoreError, open_store
    from kubeharden.store.history import delete_scan, list_scans, resolve_scan

    try:
        engine = open_store(url_of(args.store))
    except StoreError as exc:
        fail(str(exc))
        return USAGE
    try:
        if args.delete:
            scan_id = resolve_scan(engine, args.delete)
            delete_scan(engine, scan_id)
            fail(f"scan {scan_id} removed")
            return 0
        scans = list_scans(engine, args.limit)
    except StoreError as exc:
        fail(str(exc))
        return USAGE
    finally:
        engine.dispose()
    if args.format == "json":
        return write_output(args.output, lambda out: write_scans_json(scans, out), ())
    return write_output(args.output, lambda out: write_scans_table(scans, out, trend=args.trend), ())
