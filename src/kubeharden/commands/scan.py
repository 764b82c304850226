"""``kubeharden scan PATH…``: check manifests against the guide's controls."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from kubeharden.catalogue.loader import catalogue_names, load_catalogue
from kubeharden.catalogue.selection import UnknownControl, is_glob, resolve
from kubeharden.commands.common import (
    ConfigError,
    add_config_options,
    add_input_options,
    add_output_options,
    fail,
    load_settings,
    open_inputs,
    output_stream,
    quiet_after_closed_pipe,
    read_options,
    severity_or_none,
    warn,
)
from kubeharden.commands.empty_input import Counted, nothing_checked, problems_under, unrendered_folders
from kubeharden.commands.helptext import examples
from kubeharden.config import Config, has_setting
from kubeharden.engine.evaluator import Evaluator
from kubeharden.engine.parallel import default_jobs, scan_files
from kubeharden.exitcodes import FINDINGS, INPUT_ERRORS, OK, USAGE
from kubeharden.gctune import freezing
from kubeharden.model.findings import Finding, Severity
from kubeharden.report import FORMATS, get_reporter


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scan", help="scan manifests (files, directories, stdin)",
                       description="Scan Kubernetes manifests against the NSA/CISA hardening controls. Exit "
                                   "status: 0 clean, 1 findings at or above --fail-on, 2 usage, 3 unreadable "
                                   "input (docs/exit-codes.md).",
                       **examples("kubeharden scan k8s/ --fail-on high                      # gate CI on high+",
                                  "kubectl kustomize overlays/prod | kubeharden scan -f sarif -o k.sarif -",
                                  "kubeharden scan --profile strict --control KH-POD-004 app.yaml"))
    add_input_options(p)
    add_config_options(p)
    add_output_options(p, FORMATS, "table")
    p.add_argument("--fail-on", type=severity_or_none, default=Severity.LOW, metavar="SEVERITY",
                   help="exit 1 when a finding at or above this severity is not suppressed "
                        "(critical, high, medium, low, info, or none; default low)")
    p.add_argument("--control", action="append", metavar="ID",
                   help="run only these controls (repeatable; any case; globs such as 'KH-POD-*')")
    p.add_argument("--scope", choices=("all", "path"), default="all",
                   help="what cross-object controls (ServiceAccounts, NetworkPolicies, RBAC) see together: all "
                        "inputs as one cluster (default), or each PATH argument as its own (independent apps "
                        "or variants of one app in one repository)")
    p.add_argument("--jobs", "-j", type=_jobs, default=None, metavar="N",
                   help="processes that read and check files in parallel (default: one per CPU, "
                        f"{default_jobs()} here; 1 checks everything in this process). Reports are the same "
                        "for any N; inputs under 1 MiB are always checked in this process")
    p.set_defaults(func=run)


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of processes: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _drop_unrunnable_glob_matches(patterns: list[str], only: list[str], cfg: Config) -> list[str]:
    """Controls matched only by a glob that need a setting the configuration lacks are left out, with a note.

    Named exactly, such a control is an error (the engine says which setting it needs); a glob such
    as ``KH-IMG-*`` is not a request for every control it happens to match.
    """
    exact = set(resolve([p for p in patterns if not is_glob(p)], catalogue_names(), "--control"))
    kept = []
    for control in load_catalogue():
        if control.id not in only:
            continue
        if control.id not in exact and control.requires_config and not has_setting(cfg, control.requires_config):
            fail(f"note: {control.id} (matched by a --control glob) is left out: it needs "
                 f"`{control.requires_config}:` "
                 "in .kubeharden.yaml")
            continue
        kept.append(control.id)
    return kept


def selected_controls(patterns: list[str] | None, cfg: Config, option: str) -> list[str] | None:
    """The control IDs ``patterns`` name (IDs, slugs, globs; notes printed), or None for the profile's.

    Raises UnknownControl for a name that matches nothing.
    """
    if not patterns:
        return None
    notes: list[str] = []
    only = resolve(patterns, catalogue_names(), option, notes)
    for note in notes:
        warn(note)
    return _drop_unrunnable_glob_matches(patterns, only, cfg)


def run(args: argparse.Namespace) -> int:
    try:
        cfg = load_settings(args)
    except ConfigError as exc:
        fail(str(exc))
        return USAGE
    try:
        only = selected_controls(args.control, cfg, "--control")
        evaluator = Evaluator(cfg, only=only)
    except (UnknownControl, ConfigError) as exc:
        fail(str(exc))
        return USAGE
    reporter = get_reporter(args.format)
    gate: list[bool] = [False]
    threshold = args.fail_on

    def watched() -> Iterator[Finding]:
        def shallow(kind: str) -> bool:
            return not evaluator.needs_full_object(kind)

        jobs = args.jobs or default_jobs()
        if jobs > 1:
            options = read_options(args)
            options.shallow_kind = shallow
            counts = [0] * len(args.paths)
            stream = scan_files(evaluator, list(args.paths), options, jobs, only, per_path=args.scope == "path",
                                counts=counts)

            def objects_read() -> list[int]:
                return counts
        else:
            # each PATH argument is counted on its own: one that yields nothing is said even beside others
            counted = [Counted(open_inputs(args, [path], shallow)) for path in args.paths]
            if args.scope == "path":
                stream = evaluator.run_scopes(freezing(c) for c in counted)
            else:
                stream = evaluator.run(freezing(item for c in counted for item in c))

            def objects_read() -> list[int]:
                return [c.objects for c in counted]
        for finding in stream:
            if threshold is not None and finding.status == "fail" and finding.severity >= threshold:
                gate[0] = True
            yield finding
        result = evaluator.result
        if result.objects == 0:
            result.problems.append(nothing_checked(args.paths, result.problems, "scan", args.allow_empty))
        else:
            for path, objects in zip(args.paths, objects_read(), strict=True):
                if not objects:
                    result.problems.append(nothing_checked([path], problems_under(path, result.problems), "scan",
                                                           args.allow_empty))
            result.problems.extend(unrendered_folders(args.paths, result.problems, "scan"))

    try:
        with output_stream(args.output) as out:
            reporter(watched(), evaluator.result, out)
    except BrokenPipeError:
        quiet_after_closed_pipe()
        return FINDINGS if gate[0] else OK
    except OSError as exc:
        where = args.output or "standard output"
        name = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        fail(f"cannot write the report to {where}{name}: {exc.strerror or exc}")
        return USAGE
    if gate[0]:
        return FINDINGS
    if any(p.level == "error" for p in evaluator.result.problems):
        return INPUT_ERRORS
    return OK
