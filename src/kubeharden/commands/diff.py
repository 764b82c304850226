"""``kubeharden diff BEFORE AFTER``: new, fixed and still-open findings between two scans."""

from __future__ import annotations

import argparse

from kubeharden.commands.common import fail
from kubeharden.commands.emit import write_output
from kubeharden.commands.helptext import examples
from kubeharden.commands.store_options import add_store_option, url_of
from kubeharden.exitcodes import FINDINGS, OK, USAGE


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="compare two scans: new, fixed and still-open findings",
                       description="Compare two scans by finding fingerprint (control, resource, container, field; "
                                   "never message, file or line). Each side is a stored scan (an ID, latest, "
                                   "latest~N) or a JSON or SARIF report kubeharden wrote. Exit 1 when the later scan "
                                   "has new findings (docs/history.md).",
                       **examples("kubeharden diff latest~1 latest                   # since the scan before",
                                  "kubeharden diff main.json branch.json             # two report files",
                                  "kubeharden diff 12 latest -f json --store postgresql://kh@db/kh"))
    p.add_argument("before", metavar="BEFORE", help="the earlier scan: ID, latest~N, or a report file")
    p.add_argument("after", metavar="AFTER", help="the later scan: ID, latest, or a report file")
    add_store_option(p, "the history store that holds stored scans")
    p.add_argument("--all", action="store_true", help="list still-open findings too (the table counts them)")
    p.add_argument("-f", "--format", choices=("table", "json"), default="table", help="output format (default table)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kubeharden.model.history import diff
    from kubeharden.report.history import write_diff_json, write_diff_table
    from kubeharden.store.baseline import load_findings
    from kubeharden.store.database import StoreError

    try:
        before, before_label = load_findings(args.before, url_of(args.store))
        after, after_label = load_findings(args.after, url_of(args.store))
    except StoreError as exc:
        fail(str(exc))
        return USAGE
    changes = diff(before, after)
    if args.format == "json":
        status = write_output(args.output, lambda out: write_diff_json(changes, before_label, after_label, out), ())
    else:
        status = write_output(args.output, lambda out: write_diff_table(changes, before_label, after_label, out,
                                                                        still_open=args.all), ())
    if status != OK:
        return status
    return FINDINGS if changes.new else OK
