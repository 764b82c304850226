"""``kubeharden generate KIND``: write the artefacts the guide asks for (policies, configs).

Each generator is a module with ``register(subparsers)``; list it in :data:`GENERATORS`.
"""

from __future__ import annotations

import argparse
import importlib

from kubeharden.commands.helptext import examples

GENERATORS: tuple[str, ...] = (
    "kubeharden.commands.gen_netpol",
    "kubeharden.commands.gen_quotas",
    "kubeharden.commands.gen_audit_webhook",
    "kubeharden.commands.gen_role",
    "kubeharden.commands.gen_dockerfile",
    "kubeharden.commands.gen_audit_policy",
    "kubeharden.commands.gen_encryption_config",
    "kubeharden.commands.gen_psa_labels",
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate hardening artefacts (policies, configuration)",
                       description="Generate the artefacts the guide asks for. Run kubeharden generate KIND "
                                   "--help for the options of each.",
                       **examples("kubeharden generate netpol k8s/ -o netpol.yaml",
                                  "kubeharden generate quotas k8s/ -n shop -o quotas.yaml",
                                  "kubeharden generate audit-webhook-config --server https://audit.internal:8443"))
    gen = p.add_subparsers(dest="generator", metavar="KIND", help="what to generate (each has its own --help):")
    for name in GENERATORS:
        importlib.import_module(name).register(gen)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
