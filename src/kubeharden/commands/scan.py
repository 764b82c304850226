"""``kubeharden scan PATH…``: check manifests against the guide's controls."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from dataclasses import replace

from kubeharden.catalogue.loader import catalogue_names, load_catalogue
from kubeharden.catalogue.selection import UnknownControl, is_glob, resolve
from kubeharden.commands.common import (
    ConfigError,
    add_config_options,
    add_input_options,
    add_output_options,
    fail,
    load_settings,
    input_paths,
    open_inputs,
    output_stream,
    quiet_after_closed_pipe,
    read_options,
    severity_or_none,
    warn,
)
from kubeharden.commands.emit import report_problems
from kubeharden.commands.empty_input import Counted, nothing_checked, problems_under, unrendered_folders
from kubeharden.commands.helptext import examples
from kubeharden.commands.store_options import add_store_option, url_of
from kubeharden.config import Config, has_setting
from kubeharden.engine.evaluator import Evaluator
from kubeharden.engine.parallel import default_jobs, scan_files
from kubeharden.exitcodes import FINDINGS, INPUT_ERRORS, OK, USAGE
from kubeharden.gctune import freezing
from kubeharden.model.findings import Finding, Severity
from kubeharden.model.history import ScanInfo
from kubeharden.model.objects import Provenance
from kubeharden.model.results import ScanResult
from kubeharden.report import FORMATS, get_reporter
from kubeharden.sources.registry import SOURCES, source_for, source_options
from kubeharden.report.display import GROUPINGS, Display
from kubeharden.report.summary import one_line
from kubeharden.sources.cluster import claims as is_cluster
from kubeharden.sources.node import claims as is_node


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scan", help="scan manifests, charts, overlays, Dockerfiles or a live cluster",
                       description="Scan Kubernetes manifests against the NSA/CISA hardening controls. Exit "
                                   "status: 0 clean, 1 findings at or above --fail-on, 2 usage, 3 unreadable "
                                   "input (docs/exit-codes.md).",
                       **examples("kubeharden scan k8s/ --fail-on high                      # gate CI on high+",
                                  "kubeharden scan chart/ --values-matrix chart/values.yaml prod.yaml  # each set",
                                  "kubeharden scan -f sarif -o k.sarif overlays/prod   # built with kubectl kustomize"))
    add_input_options(p)
    add_config_options(p)
    add_output_options(p, FORMATS, "table")
    add_gate_options(p)
    p.add_argument("--scope", choices=("all", "path"), default="all",
                   help="what cross-object controls (ServiceAccounts, NetworkPolicies, RBAC) see together: all "
                        "inputs as one cluster (default), or each PATH argument as its own (independent apps "
                        "or variants of one app in one repository)")
    p.add_argument("--values-matrix", action="extend", nargs="+", default=[], metavar="FILE",
                   help="scan each chart once per values file (each on top of --values), as separate scopes; every "
                        "finding names its values set (docs/helm-kustomize.md)")
    add_report_options(p)
    p.add_argument("--jobs", "-j", type=_jobs, default=None, metavar="N",
                   help="processes that read and check files in parallel (default: one per CPU, "
                        f"{default_jobs()} here; 1 checks everything in this process). Reports are the same "
                        "for any N; inputs under 1 MiB are always checked in this process")
    p.set_defaults(func=run)


def add_gate_options(p: argparse.ArgumentParser) -> None:
    """``--fail-on`` and ``--control``: shared by ``scan`` and ``node``."""
    p.add_argument("--fail-on", type=severity_or_none, default=Severity.LOW, metavar="SEVERITY",
                   help="exit 1 when a finding at or above this severity is not suppressed "
                        "(critical, high, medium, low, info, or none; default low)")
    p.add_argument("--control", action="append", metavar="ID",
                   help="run only these controls (repeatable; any case; globs such as 'KH-POD-*')")


def add_report_options(p: argparse.ArgumentParser) -> None:
    """What the table shows, ``--store`` and ``--baseline``: shared by ``scan`` and ``node``."""
    shown = p.add_argument_group("what the table report shows (display only: the exit code and the other formats "
                                 "keep every finding)")
    shown.add_argument("--severity", type=_severities, metavar="LEVEL[,LEVEL]",
                       help="show only findings of these severities (critical, high, medium, low, info)")
    shown.add_argument("--min-severity", type=Severity.parse, metavar="LEVEL",
                       help="show only findings at or above this severity")
    shown.add_argument("--compact", action="store_true", help="one line per finding")
    shown.add_argument("--quiet", "-q", action="store_true", help="the summary only")
    shown.add_argument("--group-by", choices=GROUPINGS, default="resource",
                       help="group findings by resource (default), control or namespace; groups come worst first")
    add_store_option(p, "store this scan and its findings in the history store (kubeharden history, "
                        "kubeharden diff)")
    p.add_argument("--baseline", metavar="FILE|SCAN",
                   help="report only findings not in this baseline, and set the exit code by those alone: a JSON "
                        "or SARIF report kubeharden wrote earlier, or a stored scan (an ID, latest, latest~N; "
                        "with --store URL for another store). Compared by fingerprint (docs/history.md)")


def _severities(text: str) -> frozenset[Severity]:
    try:
        return frozenset(Severity.parse(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _display(args: argparse.Namespace) -> Display:
    chosen: frozenset[Severity] | None = args.severity
    if args.min_severity is not None:
        floor = frozenset(s for s in Severity if s >= args.min_severity)
        chosen = floor if chosen is None else chosen & floor
    return Display(severities=chosen, compact=args.compact, quiet=args.quiet, group_by=args.group_by)


def _contradictory_filters(args: argparse.Namespace) -> str | None:
    """Why ``--severity`` and ``--min-severity`` together show nothing, or None.

    Together they mean both (the severities listed that are also at or above the floor,
    docs/terminal-report.md); a pair that leaves no severity is a mistake, not an empty report.
    """
    if args.severity is None or args.min_severity is None:
        return None
    if any(s >= args.min_severity for s in args.severity):
        return None
    listed = ", ".join(s.label for s in sorted(args.severity, reverse=True))
    return (f"--severity {listed} and --min-severity {args.min_severity.label} contradict each other: no "
            f"severity is both listed and at or above {args.min_severity.label} (use one of them, or list "
            f"severities at or above {args.min_severity.label})")


def _values_set(args: argparse.Namespace, file: str) -> argparse.Namespace:
    """The command line of one ``--values-matrix`` run: ``file`` after the ``--values`` files."""
    one = argparse.Namespace(**{**vars(args), "values": [*args.values, file], "values_set": file})
    one.source_options = source_options(one)[1]  # the Helm source reads its settings from here
    return one


def _has_chart(path: str, limit: int = 10000) -> bool:
    """The input is a Helm chart, or a folder with one inside (what ``--values`` and ``--values-matrix`` apply to)."""
    source = source_for(path) if path != "-" else None
    if source is not None:
        return source.name == "helm"
    if not os.path.isdir(path):
        return False
    for seen, (_, _, files) in enumerate(os.walk(path)):
        if "Chart.yaml" in files or "Chart.yml" in files:
            return True
        if seen > limit:
            return False
    return False


def _matrix_run(evaluator: Evaluator, scopes: list[tuple[str | None, list[Counted]]]) -> Iterator[Finding]:
    """``run_scopes`` over the values sets, each finding without a trace (a namespace-level one) given its set."""
    evaluator.begin_scopes()
    for file, counted in scopes:
        for finding in evaluator.run_scopes_one(freezing(item for c in counted for item in c)):
            trace = finding.trace
            if file is not None and trace is None:
                finding.trace = Provenance(file=None, line=None, source="helm", values_set=file)
            elif file is not None and trace is not None and trace.values_set is None:
                finding.trace = replace(trace, values_set=file)
            yield finding
    yield from evaluator.finish()


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
    contradiction = _contradictory_filters(args)
    if contradiction:
        fail(contradiction)
        return USAGE
    paths = input_paths(args)  # with --vuln-report and --image-archive inputs (docs/sources.md)
    option_schemes = tuple(source.scheme for source in SOURCES if source.option is not None)
    if args.scope == "path" and any(p.startswith(option_schemes) for p in paths):
        fail("--vuln-report and --image-archive are joined to the workloads of all inputs as one cluster; "
             "they cannot be used with --scope path (scan each application with its own reports instead)")
        return USAGE
    args.paths = paths
    given = [flag for flag, name in (("--values", "values"), ("--set", "set"), ("--set-string", "set_string"),
                                     ("--values-matrix", "values_matrix")) if getattr(args, name, None)]
    if given and not any(_has_chart(path) for path in paths):
        warn(f"{', '.join(given)} given but no Helm chart is in the input: the values change nothing")
    try:
        cfg = load_settings(args)
    except ConfigError as exc:
        fail(str(exc))
        return USAGE
    try:
        only = selected_controls(args.control, cfg, "--control")
        live = any(map(is_cluster, args.paths))
        node = any(map(is_node, args.paths))
        evaluator = Evaluator(cfg, only=only, input_kind="cluster" if live else "node" if node else "manifest")
    except (UnknownControl, ConfigError) as exc:
        fail(str(exc))
        return USAGE
    baseline: dict[str, object] = {}
    if args.baseline is not None:
        from kubeharden.store.baseline import load_findings  # the store's libraries load only when used
        from kubeharden.store.database import StoreError

        try:
            found, label = load_findings(args.baseline, url_of(args.store))
        except StoreError as exc:
            fail(f"--baseline: {exc}")
            return USAGE
        baseline = {k: f for k, f in found.items() if f.status == "fail"}  # suppressed ones are accepted already
        evaluator.result.baseline = label
    reporter = get_reporter(args.format)
    if args.format == "html":  # the page draws RBAC paths, reachability and, with a store, trends
        evaluator.keep_analyses = True
        evaluator.result.history = _history(args)
    gate: list[bool] = [False]
    threshold = args.fail_on
    kept: list[Finding] | None = [] if args.store is not None else None

    def watched() -> Iterator[Finding]:
        def shallow(kind: str) -> bool:
            return not evaluator.needs_full_object(kind)

        # a cluster is listed and a node read and checked in this process
        jobs = 1 if live or node else args.jobs or default_jobs()
        if args.values_matrix:
            # one scope per values set: the same chart under prod values is another cluster than under defaults;
            # inputs without a chart are read once, in a scope of their own
            charted = [_has_chart(path) for path in args.paths]
            sets = [[Counted(open_inputs(_values_set(args, file), [path], shallow)) if has else Counted(())
                     for path, has in zip(args.paths, charted, strict=True)] for file in args.values_matrix]
            plain = [Counted(()) if has else Counted(open_inputs(args, [path], shallow))
                     for path, has in zip(args.paths, charted, strict=True)]
            scopes = [(file, counted) for file, counted in zip(args.values_matrix, sets, strict=True)]
            if not all(charted):
                scopes.append((None, plain))
            stream = _matrix_run(evaluator, scopes)

            def objects_read() -> list[int]:
                return [sum(counted[n].objects for _, counted in scopes) for n in range(len(args.paths))]
        elif jobs > 1:
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
        result = evaluator.result
        for finding in stream:
            if kept is not None:
                kept.append(finding)
            if baseline and finding.status == "fail" and finding.fingerprint in baseline:
                result.in_baseline += 1  # known before: neither shown nor counted (the store keeps it)
                result.findings_by_severity[finding.severity.label] -= 1
                continue
            if threshold is not None and finding.status == "fail" and finding.severity >= threshold:
                gate[0] = True
            yield finding
        if result.objects == 0:
            result.problems.append(nothing_checked(args.paths, result.problems, "scan", args.allow_empty))
        else:
            for path, objects in zip(args.paths, objects_read(), strict=True):
                if not objects:
                    result.problems.append(nothing_checked([path], problems_under(path, result.problems), "scan",
                                                           args.allow_empty))
            result.problems.extend(unrendered_folders(args.paths, result.problems, "scan"))

    display_options = [name for name in ("severity", "min_severity") if getattr(args, name) is not None]
    display_options += [name for name in ("compact", "quiet") if getattr(args, name)]
    if args.group_by != "resource":
        display_options.append("group_by")
    if display_options and args.format != "table":
        fail(f"--{display_options[0].replace('_', '-')} shapes the table report only; with --format {args.format} "
             "every finding is written (filter the JSON or SARIF with your tools)")
        return USAGE
    try:
        with output_stream(args.output) as out:
            if args.format == "table":
                from kubeharden.report.table import write as write_table  # rich loads only for the table

                write_table(watched(), evaluator.result, out, _display(args))
            else:
                reporter(watched(), evaluator.result, out)
    except BrokenPipeError:
        quiet_after_closed_pipe()
        if kept is not None:  # half a scan is no record of the input: say so rather than store it
            fail("the report's reader closed before the end: the scan was not stored (--store)")
        return FINDINGS if gate[0] else OK
    except OSError as exc:
        where = args.output or "standard output"
        name = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        fail(f"cannot write the report to {where}{name}: {exc.strerror or exc}")
        return USAGE
    report_problems(evaluator.result.problems, in_report=True)  # on stderr as every command says them
    if args.output:
        fail(f"{args.output}: {one_line(evaluator.result)}")
    if kept is not None and not _store(args, evaluator.result, kept, set(baseline)):
        return USAGE
    if gate[0]:
        return FINDINGS
    if any(p.level == "error" for p in evaluator.result.problems):
        return INPUT_ERRORS
    return OK


def _history(args: argparse.Namespace) -> list[ScanInfo] | None:
    """Earlier stored scans of these inputs, oldest first, when the scan uses a store (``--store``, or a
    ``--baseline`` naming a stored scan); None without one. A store that cannot be read costs the trends
    only, with a warning (storing the scan later says whether the store works)."""
    if args.store is None and (args.baseline is None or os.path.isfile(args.baseline)):
        return None
    from kubeharden.store.database import StoreError, open_store
    from kubeharden.store.history import scans_of

    try:
        engine = open_store(url_of(args.store))
        try:
            return scans_of(engine, " ".join(args.paths))
        finally:
            engine.dispose()
    except StoreError as exc:
        warn(f"the HTML report shows no trends: {exc}")
        return None


def _store(args: argparse.Namespace, result: ScanResult, findings: list[Finding], known: set[str]) -> bool:
    """Save the scan in the history store; False (with a message) when the store refuses it.

    The full scan is stored, with a ``--baseline``: its findings and counts include those the baseline
    held (``known``, fingerprints), which the summary names (docs/history.md), so the stored scan, a
    later diff and ``history`` describe the input, and the reported (new) count is their difference.
    """
    from kubeharden import __version__
    from kubeharden.report.summary import full_summary
    from kubeharden.store.database import StoreError, open_store, shown
    from kubeharden.store.history import save_scan

    stored = full_summary(result, [f for f in findings if f.status == "fail" and f.fingerprint in known])
    try:
        engine = open_store(url_of(args.store))
        try:
            result.stored_as = save_scan(engine, result, findings, " ".join(args.paths), stored, __version__)
        finally:
            engine.dispose()
    except StoreError as exc:
        fail(f"--store: {exc}")
        return False
    held = f" (the full scan: {stored['findings']} findings, {result.in_baseline} of them known to the baseline " \
           "and not reported)" if result.baseline is not None else ""
    fail(f"stored as scan {result.stored_as} in {shown(str(engine.url))}{held}")
    return True
