"""``kubeharden node [--root DIR] [--node-name N]``: check a node's components and files (docs/node.md)."""

from __future__ import annotations

import argparse

from kubeharden.commands import scan
from kubeharden.commands.common import add_config_options, add_output_options
from kubeharden.commands.helptext import examples
from kubeharden.report import FORMATS
from kubeharden.sources.files import DEFAULT_MAX_FILE_BYTES
from kubeharden.sources.node import SOURCE, node_input


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "node", help="check a node: control-plane and kubelet flags, configuration and file permissions",
        description="Check the Kubernetes components of a node (kube-apiserver, controller-manager, scheduler, "
                    "etcd, kubelet, kube-proxy; kubeadm or k3s) from its files: processes, static Pod manifests, "
                    "the kubelet's systemd unit and configuration file, kubeconfigs and the PKI folder, with file "
                    "owners and modes. Same formats, profiles, exceptions and exit codes as scan: 0 clean, 1 "
                    "findings at or above --fail-on, 2 usage, 3 unreadable input (docs/node.md).",
        **examples("kubeharden node                                       # this node (as root)",
                   "kubeharden node --root /host --node-name \"$NODE_NAME\"  # from a DaemonSet's host mount",
                   "kubeharden node --root examples/node -f json          # a copied node tree"))
    p.add_argument("--root", default="/", metavar="DIR",
                   help="the node's root folder (default /); paths in flags are resolved below it, never outside")
    p.add_argument("--node-name", metavar="NAME",
                   help="the node's name in findings (default: DIR/etc/hostname)")
    add_config_options(p)
    add_output_options(p, FORMATS, "table")
    scan.add_gate_options(p)
    scan.add_report_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``scan`` over the input ``node://DIR``: the node source reads it (sources/node.py)."""
    args.paths = [node_input(args.root)]
    args.source_options = {SOURCE: {"node_name": args.node_name}}
    for name, value in (("scope", "all"), ("values", []), ("set", []), ("set_string", []), ("values_matrix", []),
                        ("jobs", 1), ("max_file_size", DEFAULT_MAX_FILE_BYTES), ("allow_empty", False),
                        ("namespace", None)):
        setattr(args, name, value)
    return scan.run(args)
