"""``kubeharden generate dockerfile-user``: a non-root Dockerfile snippet and its securityContext."""

from __future__ import annotations

import argparse

import yaml

from kubeharden.commands.common import fail, number_between
from kubeharden.commands.emit import write_output
from kubeharden.commands.helptext import examples
from kubeharden.exitcodes import USAGE
from kubeharden.generators.dockerfile import BASES, DISTROLESS_NONROOT, MIN_ID, security_context, snippet

DEFAULT_ID = 10001


def register(gen: argparse._SubParsersAction) -> None:
    p = gen.add_parser("dockerfile-user", help="Dockerfile lines that make an image run as a verifiable non-root user",
                       description="Print the Dockerfile lines that create a user with fixed numeric IDs and switch "
                                   "to it (USER UID:GID, which runAsNonRoot can verify), followed by the matching "
                                   "container securityContext as comments.",
                       **examples("kubeharden generate dockerfile-user -o Dockerfile.user",
                                  "kubeharden generate dockerfile-user --base alpine --uid 10001",
                                  "kubeharden generate dockerfile-user --base distroless"))
    p.add_argument("--base", choices=BASES, default="debian", help="the base image family (default %(default)s)")
    p.add_argument("--uid", type=number_between(int, MIN_ID, 2**31 - 1), default=None,
                   help=f"user ID (default {DEFAULT_ID}; not with --base distroless, "
                        f"whose user is {DISTROLESS_NONROOT})")
    p.add_argument("--gid", type=number_between(int, MIN_ID, 2**31 - 1), default=None,
                   help="group ID (default: the user ID; not with distroless)")
    p.add_argument("--security-context", action="store_true",
                   help="print only the matching container securityContext as YAML")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.base == "distroless" and (args.uid is not None or args.gid is not None):
        fail(f"--uid and --gid cannot be used with --base distroless: it has no shell to create a user, so the "
             f"snippet uses its nonroot user, {DISTROLESS_NONROOT}:{DISTROLESS_NONROOT}")
        return USAGE
    uid = args.uid if args.uid is not None else DEFAULT_ID
    gid = args.gid if args.gid is not None else uid
    sc = {"securityContext": security_context(args.base, uid, gid)}
    sc_yaml = yaml.safe_dump(sc, sort_keys=False)
    if args.security_context:
        text = sc_yaml
    else:
        text = snippet(args.base, uid, gid) + "# the matching container securityContext:\n" + "".join(
            f"#   {line}\n" for line in sc_yaml.splitlines())
    return write_output(args.output, lambda out: out.write(text), [])
