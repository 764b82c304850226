"""``kubeharden fix PATH…``: apply the structured fixes of findings to the manifests (docs/fix.md)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from typing import IO

from kubeharden.catalogue.selection import UnknownControl
from kubeharden.commands.common import (
    ConfigError,
    add_config_options,
    add_input_options,
    fail,
    open_inputs,
    read_options,
)
from kubeharden.commands.scan import selected_controls
from kubeharden.commands.emit import report_problems, settings
from kubeharden.commands.helptext import examples
from kubeharden.engine.evaluator import Evaluator
from kubeharden.exitcodes import FINDINGS, INPUT_ERRORS, OK, USAGE
from kubeharden.fix.apply import APPLIED, FAILED, SKIPPED, Consent
from kubeharden.fix.files import EditableFiles, editable_files, write_path
from kubeharden.fix.plan import UNSAFE, Change
from kubeharden.fix.session import Session, fix_rounds
from kubeharden.fix.write import output_paths, unified_diff, write_atomic
from kubeharden.model.findings import Finding, Fix, Problem
from kubeharden.model.objects import K8sObject
from kubeharden.sources.files import iter_paths, parse_bytes


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fix", help="apply the mechanical fixes of findings to the manifests",
                       description="Rewrite manifests so the findings with a structured fix go away, keeping "
                                   "comments, key order and quoting. Safe fixes are applied; fixes that can break "
                                   "an application only with --unsafe or when accepted with --interactive. "
                                   "Exit status: 0 done, 1 --diff or --dry-run would change something, 2 usage, "
                                   "3 a file could not be read, parsed or written (docs/fix.md).",
                       **examples("kubeharden fix k8s/ --diff                       # show what would change",
                                  "kubeharden fix k8s/ --unsafe --only run-as-root KH-POD-012",
                                  "kubeharden fix k8s/app.yaml --interactive --output fixed/"))
    add_input_options(p)
    add_config_options(p)
    p.add_argument("--only", nargs="+", action="extend", metavar="CONTROL",
                   help="fix only these controls (IDs, slugs or globs, as scan --control); put PATH first, "
                        "or end the list with --")
    p.add_argument("--unsafe", action="store_true",
                   help="also apply fixes that can break an application (each says what to test)")
    p.add_argument("--interactive", "-i", action="store_true",
                   help="ask before each fix (y yes, n no, a all remaining, q quit); answers are read from stdin")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--diff", action="store_true", help="print a unified diff instead of writing")
    mode.add_argument("--dry-run", action="store_true", help="list the fixes instead of writing")
    mode.add_argument("--output", metavar="DIR", help="write fixed files under DIR instead of in place")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if "-" in args.paths:
        fail("fix edits files; standard input has none to write back (scan it instead)")
        return USAGE
    cfg = settings(args)
    if cfg is None:
        return USAGE
    try:
        only = selected_controls(args.only, cfg, "--only")
        Evaluator(cfg, only=only)  # a control that cannot run is a usage error before anything is read
    except (UnknownControl, ConfigError) as exc:
        fail(str(exc))
        return USAGE
    input_errors: list[bool] = []
    inputs = [p for p in iter_paths(args.paths) if isinstance(p, str)]
    files = editable_files(args.paths, inputs)

    def scan(overlay: dict[str, str]) -> list[Finding]:
        evaluator = Evaluator(cfg, only=only)
        findings = list(evaluator.run(_inputs(args, overlay, files)))
        if not overlay:  # the problems of the input as read (files that cannot be parsed are not fixed)
            report_problems(evaluator.result.problems)
            input_errors.append(any(p.level == "error" for p in evaluator.result.problems))
        return findings

    consent = _ask(sys.stdin, sys.stderr) if args.interactive else None
    session = fix_rounds(scan, set(only) if only else None, unsafe=args.unsafe, consent=consent, files=files)
    errors = _deliver(session, args, files, inputs)
    # --dry-run's plan is its output (stdout, to pipe or keep); otherwise the summary goes beside it on stderr
    _summary(session, sys.stdout if args.dry_run else sys.stderr, would=args.diff or args.dry_run)
    if errors or any(input_errors):
        return INPUT_ERRORS
    return FINDINGS if session.changed_files() and (args.diff or args.dry_run) else OK


def _inputs(args: argparse.Namespace, overlay: dict[str, str], files: EditableFiles) -> Iterator[K8sObject | Problem]:
    """The objects of the inputs, those of the files in ``overlay`` parsed from its text instead; a file
    reached by several names (a symbolic link beside its target) is read under one (fix/files.py)."""
    for item in open_inputs(args):
        file = item.origin.file if isinstance(item, K8sObject) else item.file
        from_file = not isinstance(item, K8sObject) or item.origin.source == "file"
        if file not in overlay and not (from_file and file in files.alias_of):
            yield item
    options = read_options(args)
    for path, text in overlay.items():
        yield from parse_bytes(text.encode("utf-8"), path, namespace=options.namespace,
                               namespace_strict=options.namespace_strict)


def _deliver(session: Session, args: argparse.Namespace, files: EditableFiles, inputs: list[str]) -> int:
    """Print or write each changed file (``inputs``: every file read, none overwritten by ``--output``);
    the number of files left alone for an error."""
    for path, error in session.errors.items():
        print(f"kubeharden: error: {path}: left alone: {error}", file=sys.stderr)
    errors = len(session.errors)
    for path, warnings in session.warnings.items():
        for warning in warnings:
            print(f"kubeharden: warning: {path}: {warning}", file=sys.stderr)
    changed = session.changed_files()
    targets, collisions = output_paths(changed, args.output, inputs) if args.output else ({}, {})
    for path in changed:
        before, after = session.original[path], session.current[path]
        if args.diff:
            sys.stdout.write(unified_diff(path, before, after))
        elif args.dry_run:
            continue
        elif path in collisions:  # writing both would silently keep only the last (docs/fix.md, Modes)
            print(f"kubeharden: error: {path}: not written: its place under --output, {targets[path]}, is "
                  f"{' and '.join(collisions[path])} (choose another DIR, or run from a folder that holds every "
                  "input)", file=sys.stderr)
            errors += 1
        else:
            target = targets.get(path, path)
            try:
                write_atomic(target, after, like=path)
            except OSError as exc:
                print(f"kubeharden: error: {target}: cannot write: {exc.strerror or exc}", file=sys.stderr)
                errors += 1
                continue
            print(f"wrote {_written(str(target), path, files)}", file=sys.stderr)
    return errors


def _written(target: str, path: str, files: EditableFiles) -> str:
    """The file written for ``target`` (the name fixed, ``path`` of the input), with the links on the way."""
    real = write_path(target)
    said = target if os.path.abspath(target) == real else f"{real} (through the link {target})"
    others = files.aliases.get(path, [])
    return said + (f" (also reached as {', '.join(others)})" if others else "")


def _summary(session: Session, out: IO[str], would: bool) -> None:
    """What was done and what was not, so nothing passes for fixed that was not."""
    verb = "would fix" if would else "fixed"
    tests: dict[str, list[str]] = {}
    for o in session.outcomes:
        if o.status == FAILED:
            print(f"kubeharden: warning: not fixed: {o.change.describe()}: {o.detail}", file=out)
        elif o.status == SKIPPED:
            print(f"not fixed (declined): {o.change.describe()}", file=out)
        elif o.status == APPLIED:
            extra = "".join(f"; and {f.op} {f.path} {json.dumps(f.value)}" for f in o.companions)
            mark = "" if o.change.safe else " [unsafe]"
            because = f" ({o.change.fix.because})" if o.change.fix.because else ""
            print(f"{verb}{mark} {o.change.describe()}{extra}{because}", file=out)
            if o.change.note:
                tests.setdefault(o.change.note, []).append(o.change.finding.control_id)
    for change in session.unresolved:
        print(f"kubeharden: warning: still reported after its fix: {change.describe()}", file=out)
    if tests:
        print("what to test after the unsafe fixes:", file=out)
        for note, ids in tests.items():
            print(f"  - {', '.join(sorted(set(ids)))}: {note}", file=out)
    applied = sum(o.status == APPLIED for o in session.outcomes)
    skipped = sum(o.status == SKIPPED for o in session.outcomes)
    files = len(session.changed_files())
    tail = (" (nothing written)" if would else "") + (f", {skipped} declined" if skipped else "")
    print(f"{applied} fix(es) in {files} file(s){tail}", file=out)
    for reason, findings in session.final.left.items():
        ids = sorted({f.control_id for f in findings})
        print(f"{len(findings)} finding(s) not fixed, {reason}: {', '.join(ids)}", file=out)
        if reason == UNSAFE:
            _why_unsafe(findings, out)
    if session.final.proposals:
        print("proposed changes for charts and overlays (not applied; edit the source, then render again):", file=out)
        for finding, text in session.final.proposals:
            print(f"  {finding.control_id} {finding.resource}: {text}", file=out)


def _why_unsafe(findings: list[Finding], out: IO[str]) -> None:
    """Why each unsafe fix was not applied (its missing evidence, else what it changes at run time), one line
    per reason, with the findings it holds for (docs/fix.md, safety by evidence)."""
    by_reason: dict[str, list[str]] = {}
    for f in findings:
        if f.fix is not None:
            container = f" container {f.container_id}" if f.container else ""
            by_reason.setdefault(f.fix.reason, []).append(f"{f.control_id} {f.resource}{container}")
    for because, where in by_reason.items():
        print(f"  - {because}: {'; '.join(where)}", file=out)


def _ask(answers: IO[str], out: IO[str]) -> Consent:
    """Consent read from ``answers`` one line per fix: y, n, a (all remaining), q (none remaining)."""
    state = {"all": False, "none": False}

    def consent(change: Change, extra: list[Fix]) -> bool:
        if state["all"] or state["none"]:
            return state["all"]
        print(f"{'unsafe' if not change.safe else 'safe'} fix: {change.describe()}", file=out)
        if change.fix.because:
            print(f"  {change.fix.because}", file=out)
        for f in extra:
            print(f"  and {f.op} {f.path} {json.dumps(f.value)}", file=out)
        if change.note:
            print(f"  test: {change.note}", file=out)
        while True:
            print("apply? [y]es [n]o [a]ll [q]uit: ", end="", file=out, flush=True)
            line = answers.readline()
            if not line:  # end of input: nothing more is accepted
                state["none"] = True
                return False
            answer = line.strip().lower()[:1]
            if answer in ("y", "n"):
                return answer == "y"
            if answer in ("a", "q"):
                state["all" if answer == "a" else "none"] = True
                return answer == "a"
    return consent
