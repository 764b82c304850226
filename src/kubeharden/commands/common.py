"""Options and plumbing shared by the commands that read manifests."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

from kubeharden.catalogue.loader import canonical_profile
from kubeharden.commands.own_output import report_files
from kubeharden.config import Config, ConfigError, load_config
from kubeharden.model.controls import PROFILE_NAMES
from kubeharden.model.findings import Problem, Severity
from kubeharden.model.kinds import DEFAULT_NAMESPACE
from kubeharden.model.objects import K8sObject
from kubeharden.report.output import atomic_text
from kubeharden.sources.files import DEFAULT_MAX_FILE_BYTES, MIB, ReadOptions, mebibytes
from kubeharden.sources.registry import SOURCES, add_source_options, option_input, read_inputs, source_options


def add_input_options(parser: argparse.ArgumentParser, namespace_option: bool = True) -> None:
    """PATH… and the options of reading manifests.

    ``namespace_option=False`` for commands whose own ``-n`` also names the namespace of
    objects without one (its first value; see :func:`read_options`).
    """
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="files or directories (.yaml, .yml, .json, recursive); - for stdin; "
                             "snapshots (.json.gz, .jsonl, .ndjson; docs/input.md); Helm charts (a folder with "
                             "Chart.yaml, a .tgz) and Kustomize folders, rendered (docs/helm-kustomize.md); "
                             "cluster://[CONTEXT] or --cluster for a live cluster (docs/cluster.md)")
    parser.set_defaults(finish_inputs=finish_inputs)
    if namespace_option:
        parser.set_defaults(namespace_is_apply=True)
        parser.add_argument("-n", "--namespace", metavar="NS", default=None,
                            help="namespace of objects without metadata.namespace, as kubectl apply -n "
                                 f"(default {DEFAULT_NAMESPACE})")
    parser.add_argument("--max-file-size", type=_mebibytes, default=DEFAULT_MAX_FILE_BYTES, metavar="MiB",
                        help=f"skip files larger than this many MiB (default {mebibytes(DEFAULT_MAX_FILE_BYTES)})")
    parser.add_argument("--allow-empty", action="store_true",
                        help="an input without any Kubernetes object is not an input problem (exit 3) "
                             "but a note")
    parser.add_argument("--no-render", action="store_true",
                        help="read Kustomize folders as plain manifest files and leave Helm charts out (each "
                             "named in a warning) instead of rendering them: faster, as tools that do not render "
                             "read a repository, but what is applied is not what is judged")
    add_source_options(parser)
    for source in SOURCES:  # inputs given by an option of their own (--vuln-report …), docs/sources.md
        if source.option is not None:
            flag, metavar, text = source.option
            parser.add_argument(flag, dest=_option_dest(flag), action="extend", nargs="+", default=[],
                                metavar=metavar, help=text)


def _option_dest(flag: str) -> str:
    return "source_" + flag.lstrip("-").replace("-", "_")


def input_paths(args: argparse.Namespace) -> list[str]:
    """The command's inputs: its PATH arguments, then each value of a source's own option as that
    source's input (``--vuln-report r.json`` -> ``vuln-report://r.json``)."""
    extra = [option_input(source, value) for source in SOURCES if source.option is not None
             for value in getattr(args, _option_dest(source.option[0]), None) or ()]
    return [*args.paths, *(p for p in extra if p not in args.paths)]


def finish_inputs(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """After parsing: add the inputs that sources' options stand for (``--cluster``) to ``args.paths``.

    Without any input, ``kubectl harden`` (``args.kubectl_plugin``) reads the cluster of the current
    context, as kubectl plugins do; ``kubeharden`` itself stops with a usage error.
    """
    implied, options = source_options(args)
    args.source_options = options
    given = list(args.paths) + list(getattr(args, "file_paths", []))  # PATH… and kubectl-style -f FILE
    args.paths = given + [p for p in implied if p not in given]
    args.paths = input_paths(args)  # with the inputs given by a source's option (--vuln-report …)
    if not args.paths:
        if getattr(args, "kubectl_plugin", False):
            args.cluster = True
            args.paths, args.source_options = source_options(args)
        else:
            parser.error("the following arguments are required: PATH (or --cluster for a live cluster)")


def add_config_options(parser: argparse.ArgumentParser, profile: bool = True) -> None:
    """``--config``, ``--no-config`` and, for commands that run controls, ``--profile``."""
    parser.add_argument("--config", metavar="FILE", help="configuration file (default: nearest .kubeharden.yaml)")
    parser.add_argument("--no-config", action="store_true", help="ignore .kubeharden.yaml files")
    if profile:
        parser.add_argument("--profile", choices=PROFILE_NAMES,
                            help="which controls run: minimal, default or strict, each adding controls to the "
                                 "one before (docs/controls.md; overrides the configuration file; baseline is the "
                                 "former name of minimal)")


def add_output_options(parser: argparse.ArgumentParser, formats: tuple[str, ...], default: str) -> None:
    """``-f/--format`` and ``-o/--output``. As in kubectl, ``-f FILE`` also names an input: a value that is
    not a format but an existing file (or ``-``) is read as a PATH (``kubectl harden scan -f app.yaml``)."""
    parser.add_argument("-f", "--format", action=_FormatOrFile, formats=formats, default=default,
                        metavar="{" + ",".join(formats) + "}",
                        help=f"output format (default {default}); -f FILE reads FILE, as kubectl -f does")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the report here (atomically)")


class _FormatOrFile(argparse.Action):
    """``-f``: a format name, or (kubectl's meaning) a file to read, kept in ``file_paths``."""

    def __init__(self, *args: Any, formats: tuple[str, ...] = (), **kwargs: Any) -> None:
        self.formats = formats
        super().__init__(*args, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if values in self.formats:
            setattr(namespace, self.dest, values)
        elif option_string == "-f" and (values == "-" or os.path.isfile(values)):
            namespace.file_paths = [*getattr(namespace, "file_paths", []), values]
        else:
            parser.error(f"argument {option_string}: {values!r} is not a format ({', '.join(self.formats)})"
                         + (" nor a file" if option_string == "-f" else ""))


def _mebibytes(text: str) -> int:
    """``--max-file-size``: a positive number of MiB (``64``, ``0.5``; a ``MiB`` suffix is allowed) -> bytes."""
    number = text.strip().removesuffix("MiB").strip()
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of MiB: {text!r} (e.g. 64 or 0.5)") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number of MiB")
    return max(1, int(value * MIB))


def number_between(convert: Callable[[str], Any], low: float, high: float, unit: str = "") -> Callable[[str], Any]:
    """An argparse ``type``: ``convert(text)`` (``int`` or ``float``) when it lies in [low, high], else
    argparse.ArgumentTypeError saying why (``unit`` names what is counted, e.g. "seconds")."""
    what = f" {unit}" if unit else ""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number{' of' + what if unit else ''}: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}{what}")
        return value

    return parse


def severity_or_none(text: str) -> Severity | None:
    if text.lower() == "none":
        return None
    try:
        return Severity.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def read_options(args: argparse.Namespace) -> ReadOptions:
    """How to read the inputs; the report this run writes (``-o`` or redirected stdout) is skipped."""
    return ReadOptions(max_file_bytes=args.max_file_size, namespace=_given_namespace(args),
                       namespace_strict=getattr(args, "namespace_is_apply", False),
                       skip_files=report_files(getattr(args, "output", None)),
                       source_options=dict(getattr(args, "source_options", None) or {}),
                       render=not getattr(args, "no_render", False))


def open_inputs(args: argparse.Namespace, paths: Sequence[str] | None = None,
                shallow_kind: Callable[[str], bool] | None = None) -> Iterator[K8sObject | Problem]:
    """The objects (and problems) of the command's inputs, through the source registry.

    The one way a command reads its PATH arguments (``paths`` instead for a subset, as
    ``scan --scope path`` reads them one by one), with the options :func:`add_input_options`
    added; ``shallow_kind`` as in ``ReadOptions``. Never raises for bad input.
    """
    options = read_options(args)
    options.shallow_kind = shallow_kind
    return read_inputs(input_paths(args) if paths is None else paths, options)


def target_namespace(args: argparse.Namespace) -> str:
    """The namespace objects without one are placed in: ``-n`` (the first, if repeated) or ``default``."""
    return _given_namespace(args) or DEFAULT_NAMESPACE


def _given_namespace(args: argparse.Namespace) -> str | None:
    """The ``-n`` given (the first, where it is repeatable), or None."""
    value = getattr(args, "namespace", None)
    if isinstance(value, list):
        return value[0] if value else None
    return value or None


def load_settings(args: argparse.Namespace) -> Config:
    """The configuration, with command-line overrides; raises ConfigError."""
    cfg = load_config(args.config, search=not args.no_config) if (args.config or not args.no_config) \
        else Config()
    if getattr(args, "profile", None):
        cfg.profile = args.profile
        note = canonical_profile(args.profile)[1]
        if note:
            cfg.notes.append(f"--profile: {note}")
    for note in cfg.notes:
        warn(note)
    return cfg


@contextlib.contextmanager
def output_stream(path: str | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    with atomic_text(path) as fh:
        yield fh


def unwritable_output(path: str | None) -> str | None:
    """Why ``-o path`` cannot be written (its folder is missing, not a folder, or not writable), or None
    (also for stdout). Checked before the work, so the command ends with exit 2 and this message instead
    of a traceback from the atomic write (report/output.py)."""
    if path is None:
        return None
    folder = os.path.dirname(path) or "."
    if os.path.isdir(path):
        return f"cannot write {path}: it is a directory"
    if not os.path.isdir(folder):
        return f"cannot write {path}: the folder {folder} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write {path}: the folder {folder} is not writable"
    return None


def quiet_after_closed_pipe() -> None:
    """The reader of standard output went away (``| head``): end quietly, as a command killed by
    SIGPIPE would, without the interpreter's own complaint when it flushes stdout at exit."""
    try:
        sys.stdout = open(os.devnull, "w")
    except OSError:
        pass


def fail(message: str) -> None:
    print(f"kubeharden: {message}", file=sys.stderr)


def warn(message: str) -> None:
    """A deprecation or other warning that changes nothing of the result, on stderr."""
    print(f"kubeharden: warning: {message}", file=sys.stderr)


__all__ = ["ConfigError", "add_config_options", "add_input_options", "add_output_options", "fail", "input_paths",
           "load_settings", "open_inputs", "output_stream", "read_options", "severity_or_none", "warn"]
