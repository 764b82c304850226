"""``kubeharden diff OLD NEW``: what is new and what was resolved between two inputs (two snapshots)."""

from __future__ import annotations

import argparse
from typing import IO

import orjson

from kubeharden.commands.common import (ConfigError, add_config_options, add_input_options, fail, load_settings,
                                        open_inputs, output_stream, severity_or_none)
from kubeharden.commands.emit import report_problems
from kubeharden.commands.empty_input import Counted, nothing_checked
from kubeharden.commands.helptext import examples
from kubeharden.config import Config
from kubeharden.engine import Evaluator
from kubeharden.exitcodes import FINDINGS, INPUT_ERRORS, OK, USAGE
from kubeharden.findings import Finding, Problem, Severity

FORMATS = ("table", "json")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="compare the findings of two inputs (two snapshots): new and resolved",
                       description="Scan OLD and NEW with the same configuration and profile and compare their "
                                   "findings by fingerprint (control, resource, container, field; not message, "
                                   "file or line). Suppressed findings are left out. Exit status: 0 nothing new, "
                                   "1 a new finding at or above --fail-on, 2 usage, 3 an input could not be read.",
                       **examples("kubeharden diff monday.json.gz friday.json.gz",
                                  "kubeharden diff before.json.gz k8s/ -f json -o changes.json",
                                  "kubeharden diff old.json.gz new.json.gz --fail-on high --profile strict"))
    add_input_options(p)
    add_config_options(p)
    p.add_argument("-f", "--format", choices=FORMATS, default="table", help="output format (default table)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the comparison here (atomically)")
    p.add_argument("--fail-on", type=severity_or_none, default=Severity.LOW, metavar="SEVERITY",
                   help="exit 1 when NEW has a finding OLD did not have at or above this severity "
                        "(critical, high, medium, low, info, or none; default low)")
    p.set_defaults(func=run)


def _findings(args: argparse.Namespace, cfg: Config, path: str,
              problems: list[Problem]) -> dict[str, Finding] | None:
    """The unsuppressed findings of one input by fingerprint (the first of equal ones), or None if it held nothing."""
    evaluator = Evaluator(cfg)
    stream = Counted(open_inputs(args, [path], lambda kind: not evaluator.needs_full_object(kind)))
    found: dict[str, Finding] = {}
    for finding in evaluator.run(stream):
        if finding.status == "fail":
            found.setdefault(finding.fingerprint, finding)
    problems.extend(evaluator.result.problems)
    if not stream.objects:
        problems.append(nothing_checked([path], evaluator.result.problems, "diff", args.allow_empty))
        return None
    return found


def run(args: argparse.Namespace) -> int:
    if len(args.paths) != 2:
        fail(f"diff compares two inputs, OLD and NEW; {len(args.paths)} given")
        return USAGE
    problems: list[Problem] = []
    try:
        cfg = load_settings(args)
        old = _findings(args, cfg, args.paths[0], problems)
        new = _findings(args, cfg, args.paths[1], problems)
    except ConfigError as exc:
        fail(str(exc))
        return USAGE
    report_problems(problems)
    if old is None or new is None:
        return INPUT_ERRORS if any(p.level == "error" for p in problems) else OK
    added = [f for key, f in new.items() if key not in old]
    resolved = [f for key, f in old.items() if key not in new]
    unchanged = len(new) - len(added)
    try:
        with output_stream(args.output) as out:
            (_json if args.format == "json" else _table)(args.paths, added, resolved, unchanged, out)
    except OSError as exc:
        fail(f"cannot write {args.output or 'standard output'}: {exc.strerror or exc}")
        return USAGE
    if args.fail_on is not None and any(f.severity >= args.fail_on for f in added):
        return FINDINGS
    return INPUT_ERRORS if any(p.level == "error" for p in problems) else OK


def _order(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-f.severity, f.control.id, str(f.resource), f.container or ""))


def _line(f: Finding) -> str:
    where = f"{f.file}:{f.line}" if f.file else "live object"
    container = f" [{f.container}]" if f.container else ""
    return f"  {f.severity.label.upper():8} {f.control.id:12} {f.resource}{container}: {f.message} ({where})"


def _table(paths: list[str], added: list[Finding], resolved: list[Finding], unchanged: int, out: IO[str]) -> None:
    out.write(f"new in {paths[1]} ({len(added)}):\n")
    out.writelines(_line(f) + "\n" for f in _order(added))
    out.write(f"resolved since {paths[0]} ({len(resolved)}):\n")
    out.writelines(_line(f) + "\n" for f in _order(resolved))
    out.write(f"unchanged: {unchanged}\n")


def _json(paths: list[str], added: list[Finding], resolved: list[Finding], unchanged: int, out: IO[str]) -> None:
    doc = {"old": paths[0], "new": paths[1], "added": [f.to_dict() for f in _order(added)],
           "resolved": [f.to_dict() for f in _order(resolved)], "unchanged": unchanged}
    out.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
