"""``kubeharden diff BEFORE AFTER``: new, fixed and still-open findings between two scans.

Each side is a stored scan (an ID, ``latest``, ``latest~N``), a report kubeharden wrote (JSON or
SARIF), or an input scanned now with the same configuration and profile (a snapshot, a folder of
manifests, ``--cluster``). Findings are compared by fingerprint (docs/history.md).
"""

from __future__ import annotations

import argparse

from kubeharden.commands.common import (
    ConfigError,
    add_config_options,
    add_input_options,
    fail,
    load_settings,
    open_inputs,
    severity_or_none,
)
from kubeharden.commands.emit import report_problems, write_output
from kubeharden.commands.empty_input import Counted, nothing_checked
from kubeharden.commands.helptext import examples
from kubeharden.commands.store_options import add_store_option, url_of
from kubeharden.config import Config
from kubeharden.exitcodes import FINDINGS, INPUT_ERRORS, OK, USAGE
from kubeharden.model.findings import Problem, Severity
from kubeharden.model.history import StoredFinding


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="compare two scans: new, fixed and still-open findings",
                       description="Compare two scans by finding fingerprint (control, resource, container, field; "
                                   "never message, file or line). Each side is a stored scan (an ID, latest, "
                                   "latest~N), a JSON or SARIF report kubeharden wrote, or an input scanned now "
                                   "(a snapshot, manifests, --cluster) with the same configuration and profile. "
                                   "Exit status: 0 nothing new, 1 a new finding at or above --fail-on, 2 usage, "
                                   "3 an input could not be read (docs/history.md).",
                       **examples("kubeharden diff latest~1 latest                   # since the scan before",
                                  "kubeharden diff monday.json.gz friday.json.gz     # two cluster snapshots",
                                  "kubeharden diff main.json k8s/ -f json            # a report against today"))
    add_input_options(p)
    add_config_options(p)
    add_store_option(p, "the history store that holds stored scans")
    p.add_argument("--all", action="store_true", help="list still-open findings too (the table counts them)")
    p.add_argument("--fail-on", type=severity_or_none, default=Severity.LOW, metavar="SEVERITY",
                   help="exit 1 when AFTER has a finding BEFORE did not have at or above this severity "
                        "(critical, high, medium, low, info, or none; default low)")
    p.add_argument("-f", "--format", choices=("table", "json"), default="table", help="output format (default table)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")
    p.set_defaults(func=run)


def _side(args: argparse.Namespace, cfg: Config, ref: str,
          problems: list[Problem]) -> tuple[dict[str, StoredFinding] | None, str]:
    """The failing findings of one side by fingerprint (None when an input held nothing), and its label."""
    from kubeharden.store.baseline import is_report, load_findings

    if is_report(ref) or ref.isdigit() or ref == "latest" or ref.startswith("latest~"):
        return load_findings(ref, url_of(args.store))
    from kubeharden.engine.evaluator import Evaluator
    from kubeharden.model.history import stored

    evaluator = Evaluator(cfg)
    stream = Counted(open_inputs(args, [ref], lambda kind: not evaluator.needs_full_object(kind)))
    found = {f.fingerprint: stored(f) for f in evaluator.run(stream) if f.status in ("fail", "suppressed")}
    problems.extend(evaluator.result.problems)
    if not stream.objects:
        problems.append(nothing_checked([ref], evaluator.result.problems, "diff", args.allow_empty))
        return None, ref
    return found, ref


def run(args: argparse.Namespace) -> int:
    from kubeharden.model.history import diff
    from kubeharden.report.history import write_diff_json, write_diff_table
    from kubeharden.store.database import StoreError

    if len(args.paths) != 2:
        fail(f"diff compares two scans, BEFORE and AFTER; {len(args.paths)} given")
        return USAGE
    problems: list[Problem] = []
    try:
        cfg = load_settings(args)
        before, before_label = _side(args, cfg, args.paths[0], problems)
        after, after_label = _side(args, cfg, args.paths[1], problems)
    except (StoreError, ConfigError) as exc:
        report_problems(problems)  # what the other side said, first
        fail(str(exc))
        return USAGE
    report_problems(problems)
    errors = any(p.level == "error" for p in problems)
    if before is None or after is None:
        return INPUT_ERRORS if errors else OK
    changes = diff(before, after)
    if args.format == "json":
        status = write_output(args.output, lambda out: write_diff_json(changes, before_label, after_label, out), ())
    else:
        status = write_output(args.output, lambda out: write_diff_table(changes, before_label, after_label, out,
                                                                        still_open=args.all), ())
    if status != OK:
        return status
    if args.fail_on is not None and any(f.level is not None and f.level >= args.fail_on for f in changes.new):
        return FINDINGS
    return INPUT_ERRORS if errors else OK
