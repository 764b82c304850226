"""``kubeharden controls``: the control catalogue, for people and machines."""

from __future__ import annotations

import argparse

from kubeharden.catalogue.loader import load_catalogue
from kubeharden.commands.emit import write_output
from kubeharden.commands.helptext import examples
from kubeharden.report.controls import write_json, write_markdown, write_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("controls", help="list the control catalogue",
                       description="List every control with its guide IDs, severity and mappings.",
                       **examples("kubeharden controls                                   # the table",
                                  "kubeharden controls -f json | jq '.[].id'             # IDs for scripts",
                                  "kubeharden controls -f markdown -o docs/controls.md   # regenerate the page"))
    p.add_argument("-f", "--format", choices=("table", "json", "markdown"), default="table",
                   help="table (default), json (every field, for scripts) or markdown (docs/controls.md)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    writer = {"table": write_table, "json": write_json, "markdown": write_markdown}[args.format]
    return write_output(args.output, lambda out: writer(load_catalogue(), out), ())
