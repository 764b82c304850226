"""``kubeharden export kyverno|vap``: the controls as policies the cluster enforces itself (docs/export.md)."""

from __future__ import annotations

import argparse
import sys

from kubeharden.catalogue.loader import catalogue_names
from kubeharden.catalogue.selection import UnknownControl, resolve
from kubeharden.commands.common import ConfigError, add_config_options, fail, load_settings, output_stream
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
    p.add_argument("--exclude-namespace", action="append", default=None, metavar="NS",
                   help="namespaces the policies leave alone (repeatable; default kube-system)")
    p.add_argument("--control", action="append", metavar="ID", help="export only these controls (repeatable)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")
    add_config_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kubeharden.engine.evaluator import Evaluator
    from kubeharden.enforce.export import export
    from kubeharden.generators.output import write_documents

    try:
        cfg = load_settings(args)
        only = resolve(args.control, catalogue_names(), "--control") if args.control else None
        evaluator = Evaluator(cfg, only=only, input_kind="admission")
    except (ConfigError, UnknownControl) as exc:
        fail(str(exc))
        return USAGE
    controls = evaluator.controls + evaluator.result.not_assessable
    result = export(sorted(controls, key=lambda c: c.id), args.target, enforce=not args.audit,
                    exclude=tuple(args.exclude_namespace or ("kube-system",)), config=cfg)
    header = (f"{len(result.exported)} kubeharden controls as {args.target} policies (profile {cfg.profile}), "
              f"written by kubeharden export.\nLeft out (see stderr or docs/export.md): "
              f"{', '.join(i for i, _ in result.left_out) or 'none'}")
    with output_stream(args.output) as out:
        write_documents(result.documents, out, header)
    for control_id, why in result.left_out:
        print(f"kubeharden: not exported: {control_id}: {why}", file=sys.stderr)
    return OK
