"""The command line: parse arguments, call the library, pick a reporter. Nothing else.

Each command lives in ``kubeharden/commands/<name>.py`` with ``register(subparsers)``;
add a new one to :data:`COMMANDS`. Only the module of the command being run is imported
(the others appear in ``--help`` by name), which keeps start-up short for CI loops.
Also installed as ``kubectl-harden``, so ``kubectl harden scan …`` works as a kubectl plugin.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys
import threading
from typing import NoReturn

from kubeharden import __version__
from kubeharden.exitcodes import USAGE
from kubeharden.gctune import tune_gc

#: command -> (module that registers it, one-line help shown in the command list)
COMMANDS: dict[str, tuple[str, str]] = {
    "scan": ("kubeharden.commands.scan", "scan manifests, charts, overlays, Dockerfiles or a live cluster"),
    "node": ("kubeharden.commands.node", "check a node's components, configuration and file permissions"),
    "snapshot": ("kubeharden.commands.snapshot", "save the objects of the input as one snapshot file"),
    "fix": ("kubeharden.commands.fix", "apply the mechanical fixes of findings to the manifests"),
    "controls": ("kubeharden.commands.controls", "list the control catalogue"),
    "guide": ("kubeharden.commands.guide", "the guide's requirements and what implements each"),
    "generate": ("kubeharden.commands.generate", "generate hardening artefacts (policies, configuration)"),
    "rbac": ("kubeharden.commands.rbac", "who can do what, and the privilege-escalation paths"),
    "netpol": ("kubeharden.commands.netpol", "NetworkPolicy reachability (matrix, can-reach)"),
    "audit": ("kubeharden.commands.audit", "detect attacks in Kubernetes audit logs (files or live webhook)"),
    "history": ("kubeharden.commands.history", "list stored scans (kubeharden scan --store), with trends"),
    "diff": ("kubeharden.commands.diff", "compare two scans: new, fixed and still-open findings"),
    "export": ("kubeharden.commands.export", "controls as admission policies (Kyverno, ValidatingAdmissionPolicy)"),
    "webhook": ("kubeharden.commands.webhook", "admission webhook enforcing the controls (serve, manifests)"),
    "etcd": ("kubeharden.commands.etcd", "read etcd itself: Secrets stored unencrypted, clients without certificates"),
}


class Parser(argparse.ArgumentParser):
    """argparse's parser, except that words left after the options of a command that reads PATH…
    are paths too: PATH… may be empty (``--cluster``), so argparse gives it nothing once a command's
    other positionals are matched (``rbac who-can get secrets -n shop k8s/``)."""

    def format_help(self) -> str:
        """The help as the user called the tool: ``kubectl harden …`` in its examples when run as the plugin."""
        text = super().format_help()
        return text.replace("kubeharden ", "kubectl harden ") if self.prog.startswith("kubectl harden") else text

    def parse_known_args(self, args=None, namespace=None):
        namespace, extra = super().parse_known_args(args, namespace)
        if extra and isinstance(getattr(namespace, "paths", None), list) \
                and not any(word.startswith("-") and word != "-" for word in extra):
            namespace.paths = [*namespace.paths, *extra]
            extra = []
        return namespace, extra


def build_parser(argv: list[str] | None = None, prog: str = "kubeharden") -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the command named there is fully registered."""
    from kubeharden.commands.helptext import examples

    parser = Parser(
        prog=prog,
        description="The NSA/CISA Kubernetes Hardening Guidance (v1.2), executable. "
                    "Run kubeharden COMMAND --help for the options of a command.",
        **examples("kubeharden scan k8s/                               # check manifests",
                   "helm template shop ./chart | kubeharden scan -     # check a chart's output",
                   "kubeharden guide NSA-POD-9                         # what a guide ID asks"),
    )
    parser.add_argument("--version", action="version", version=f"kubeharden {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", help="the command to run (each has its own --help):")
    wanted = _command_in(argv)
    for name, (module, summary) in COMMANDS.items():
        if argv is None or name == wanted:
            importlib.import_module(module).register(sub)
        else:
            sub.add_parser(name, help=summary, add_help=False)
    return parser


def _command_in(argv: list[str] | None) -> str | None:
    for arg in argv or ():
        if not arg.startswith("-"):
            return arg
    return None


def main(argv: list[str] | None = None, *, kubectl_plugin: bool = False) -> int:
    """Run one command; ``kubectl_plugin``: run as ``kubectl harden``, whose commands read the
    cluster of the current context when no input is named (docs/cluster.md)."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv, "kubectl harden" if kubectl_plugin else "kubeharden")
    args = parser.parse_args(argv)
    args.kubectl_plugin = kubectl_plugin
    finish = getattr(args, "finish_inputs", None)
    if finish is not None:
        finish(args, parser)
    tune_gc()
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return USAGE
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("kubeharden: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def run() -> NoReturn:
    """The ``kubeharden`` executable (and ``python -m kubeharden``): :func:`main`, then :func:`exit_now`."""
    exit_now(main())


def kubectl_main() -> NoReturn:
    """The ``kubectl-harden`` executable: kubectl runs it for ``kubectl harden …``
    (https://kubernetes.io/docs/tasks/extend-kubectl/kubectl-plugins/)."""
    exit_now(main(kubectl_plugin=True))


def exit_now(code: int) -> NoReturn:
    """End the process with ``code`` once the command is done, without tearing the interpreter down.

    A normal exit frees every object one by one: 30-40 ms after a scan of 5,000 objects, a tenth of
    a small scan's time (mypy ends the same way). Exit handlers still run and the standard streams
    are flushed first. The normal exit is taken with other threads still running, when a stream cannot
    be flushed (Python reports that), and under a profiler, tracer or debugger (``python -m cProfile
    -m kubeharden``, ``-m pdb``, coverage), which must get control back. Programs that embed kubeharden
    call :func:`main`, which returns.
    """
    if threading.active_count() > 1 or sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
