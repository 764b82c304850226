"""Plumbing shared by the commands that print an analysis or generated objects (netpol, generate)."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from typing import IO

from kubeharden.commands.common import ConfigError, fail, load_settings, output_stream
from kubeharden.config import Config
from kubeharden.exitcodes import INPUT_ERRORS, OK, USAGE
from kubeharden.model.findings import SHOWN_NOTES, Problem
from kubeharden.model.pods import TEMPLATE_EVALUATED


def add_generator_options(parser: argparse.ArgumentParser) -> None:
    """``-n`` and ``-o``, common to the generators that work per namespace."""
    parser.add_argument("-n", "--namespace", action="append", metavar="NS",
                        help="only this namespace (repeatable; default: every non-system namespace of the input); "
                             "objects without metadata.namespace are placed in the first, as kubectl apply -n")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")


def warn_empty_namespaces(namespaces: Iterable[str], with_workloads: Collection[str], consequence: str) -> None:
    """Say which generated namespaces have no workloads in the input (a typo in -n, or manifests elsewhere)."""
    for ns in namespaces:
        if ns in with_workloads:
            continue
        near = difflib.get_close_matches(ns, sorted(with_workloads), n=1)
        hint = (f"did you mean {near[0]}? " if near else "") + \
            (f"namespaces with workloads: {', '.join(sorted(with_workloads))}" if with_workloads
             else "the input has no workloads")
        print(f"kubeharden: warning: namespace {ns} has no workloads in the input ({hint}); {consequence}",
              file=sys.stderr)


def settings(args: argparse.Namespace) -> Config | None:
    """The configuration, or None after saying why it is unusable."""
    try:
        return load_settings(args)
    except ConfigError as exc:
        fail(str(exc))
        return None


def say_problem(problem: Problem) -> None:
    """One input problem on stderr: ``kubeharden: LEVEL: WHERE: MESSAGE`` (the one form every command uses)."""
    print(f"kubeharden: {problem.level}: {problem.where()}: {problem.message}", file=sys.stderr)


#: Warnings of one kind said on stderr one line each; the rest are counted in one line (errors never are).
WARNINGS_SHOWN = 20


def report_problems(problems: Iterable[Problem], in_report: bool = False) -> None:
    """The input problems of a command on stderr, as every command says them (docs/input.md): errors,
    warnings and the notes of :data:`SHOWN_NOTES` one line each. Other notes (documents skipped as not
    Kubernetes objects, custom resources evaluated through their pod template) are counted in one line,
    or, with ``in_report`` (the command's report lists every problem: ``scan``), left to the report."""
    skipped = 0
    warned: Counter[str] = Counter()
    for problem in problems:
        if problem.level == "note" and problem.kind not in SHOWN_NOTES:
            skipped += problem.kind != TEMPLATE_EVALUATED
            continue
        if problem.level == "warning":
            warned[problem.kind] += 1
            if warned[problem.kind] > WARNINGS_SHOWN:
                continue
        say_problem(problem)
    for kind, count in sorted(warned.items()):
        if count > WARNINGS_SHOWN:
            print(f"kubeharden: warning: … and {count - WARNINGS_SHOWN} more {kind} warning(s) like these "
                  "(kubeharden scan --format json lists every one)", file=sys.stderr)
    if skipped and not in_report:
        print(f"kubeharden: note: {skipped} document(s) skipped (not Kubernetes objects or templates)",
              file=sys.stderr)


def write_output(path: str | None, write: Callable[[IO[str]], object], problems: Iterable[Problem]) -> int:
    """Write to ``path`` (atomically) or stdout; the exit status for the command."""
    try:
        with output_stream(path) as out:
            write(out)
    except BrokenPipeError:
        raise
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")
        return USAGE
    return INPUT_ERRORS if any(p.level == "error" for p in problems) else OK
