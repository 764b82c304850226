"""``kubeharden export kyverno|vap``: the controls as policies the cluster enforces itself (docs/export.md)."""

from __future__ import annotations

import argparse
import re
import sys

from kubeharden.catalogue.loader import catalogue_names
from kubeharden.catalogue.selection import UnknownControl, resolve
from kubeharden.commands.common import (ConfigError, add_config_options, fail, load_settings, output_stream,
                                        unwritable_output)
from kubeharden.commands.helptext import examples
from kubeharden.exitcodes import OK, USAGE


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="controls as admission policies (Kyverno, ValidatingAdmissionPolicy)",
                       description="Write every control of the profile that CEL can express as a Kyverno "
                                   "ClusterPolicy or a ValidatingAdmissionPolicy with its binding; the controls "
                                   "left out are listed on stderr with the reason. docs/export.md",
                       **examples("kubeharden export vap -o policies.yaml",
                                  "kubeharden export kyverno --profile strict --audit -o kyverno.yaml"))
    p.add_argument("target", choices=("kyverno", "vap"), help="kyverno: ClusterPolicy; vap: ValidatingAdmissionPolicy")
    p.add_argument("--audit", action="store_true",
                   help="do not refuse: Warn+Audit (vap) or failureAction Audit (kyverno)")
    p.add_argument("--exclude-namespace", action="append", default=[], metavar="NS",
                   help="a namespace the policies leave alone besides kube-system (repeatable)")
    p.add_argument("--include-kube-system", action="store_true",
                   help="do not leave kube-system out (only the --exclude-namespace ones)")
    p.add_argument("--control", action="append", metavar="ID", help="export only these controls (repeatable)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")
    add_config_options(p)
    p.set_defaults(func=run)


#: A namespace name is a DNS-1123 label ("Namespaces", Kubernetes documentation;
#: https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#dns-label-names).
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def excluded_namespaces(args: argparse.Namespace) -> tuple[str, ...]:
    """kube-system (unless --include-kube-system) and every --exclude-namespace, in order, without repeats.
    Raises ValueError for a name that is not a DNS-1123 label."""
    bad = [ns for ns in args.exclude_namespace if not DNS_LABEL.match(ns)]
    if bad:
        raise ValueError(f"--exclude-namespace {bad[0]!r} is not a namespace name (a DNS-1123 label: at most 63 "
                         "lower-case letters, digits and '-', starting and ending with a letter or digit)")
    names = ([] if args.include_kube_system else ["kube-system"]) + list(args.exclude_namespace)
    return tuple(dict.fromkeys(names))


def run(args: argparse.Namespace) -> int:
    from kubeharden.engine.evaluator import Evaluator
    from kubeharden.enforce.export import export
    from kubeharden.generators.output import write_documents

    try:
        exclude = excluded_namespaces(args)
    except ValueError as exc:
        fail(str(exc))
        return USAGE
    if (why := unwritable_output(args.output)) is not None:
        fail(why)
        return USAGE
    try:
        cfg = load_settings(args)
        only = resolve(args.control, catalogue_names(), "--control") if args.control else None
        evaluator = Evaluator(cfg, only=only, input_kind="admission")
    except (ConfigError, UnknownControl) as exc:
        fail(str(exc))
        return USAGE
    controls = evaluator.controls + evaluator.result.not_assessable
    result = export(sorted(controls, key=lambda c: c.id), args.target, enforce=not args.audit,
                    exclude=exclude, config=cfg)
    if only is not None and set(only) - set(result.exported):  # asked for by name: say why, write nothing
        reasons = dict(result.left_out)
        for control_id in sorted(set(only) - set(result.exported)):
            fail(f"cannot export {control_id}: "
                 f"{reasons.get(control_id, f'it is not a control of the profile {cfg.profile}')}")
        return USAGE
    header = (f"{len(result.exported)} kubeharden controls as {args.target} policies (profile {cfg.profile}), "
              f"written by kubeharden export.\nLeft out (see stderr or docs/export.md): "
              f"{', '.join(i for i, _ in result.left_out) or 'none'}")
    try:
        with output_stream(args.output) as out:
            write_documents(result.documents, out, header)
    except BrokenPipeError:
        raise
    except OSError as exc:
        fail(f"cannot write {args.output or 'standard output'}: {exc.strerror or exc}")
        return USAGE
    for control_id, why in result.left_out:
        print(f"kubeharden: not exported: {control_id}: {why}", file=sys.stderr)
    return OK
