"""``kubeharden guide``: the guide's requirements and the controls and audit rules behind each."""

from __future__ import annotations

import argparse

from kubeharden.commands.helptext import examples


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("guide", help="the guide's requirements and what implements each",
                       description="List the requirements of the NSA/CISA Kubernetes Hardening Guidance v1.2 "
                                   "that kubeharden knows: ID, section, a summary in kubeharden's words, and the "
                                   "controls and audit rules that implement it, or why nothing does.",
                       **examples("kubeharden guide                                # every requirement",
                                  "kubeharden guide NSA-POD-9 NSA-NET-6              # only these two",
                                  "kubeharden guide -f markdown -o docs/guide.md     # regenerate the page"))
    p.add_argument("ids", nargs="*", metavar="ID",
                   help="requirement IDs to show, e.g. NSA-POD-9 (default: all; case does not matter)")
    p.add_argument("-f", "--format", choices=("table", "json", "markdown"), default="table",
                   help="output format (default %(default)s); markdown is docs/guide.md")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kubeharden.commands.common import fail
    from kubeharden.commands.emit import write_output
    from kubeharden.exitcodes import USAGE
    from kubeharden.report.guide import WRITERS
    from kubeharden.report.guide_map import guide_map

    entries = guide_map()
    if args.ids:
        wanted = [i.upper() for i in args.ids]
        known = {e.requirement.id for e in entries}
        unknown = [i for i in wanted if i not in known]
        if unknown:
            fail(f"unknown requirement ID(s): {', '.join(unknown)} (kubeharden guide lists them all)")
            return USAGE
        entries = [e for e in entries if e.requirement.id in wanted]
    return write_output(args.output, lambda out: WRITERS[args.format](entries, out), ())
