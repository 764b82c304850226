"""``kubeharden generate encryption-config``: the EncryptionConfiguration for ``--encryption-provider-config``
(NSA-NET-30), with a fresh random key where the provider needs one.

The file holds key material (aescbc, secretbox): it is written atomically with mode 0600 whatever the
umask or an existing file's mode, and printed on standard output only when asked (``--stdout``).
"""

from __future__ import annotations

import argparse
import sys

import yaml

from kubeharden.commands.common import fail
from kubeharden.commands.helptext import examples
from kubeharden.exitcodes import OK, USAGE
from kubeharden.generators.encryption_config import PROVIDERS, build, new_key
from kubeharden.report.output import atomic_secret_text

HEADER = """\
# EncryptionConfiguration for kube-apiserver, written by kubeharden (NSA-NET-30).
# Use it with --encryption-provider-config=/etc/kubernetes/enc/encryption-config.yaml (mount the folder
# read-only into the kube-apiserver static Pod), restart every API server, then rewrite every Secret:
#   kubectl get secrets --all-namespaces -o json | kubectl replace -f -
# identity comes last only so that Secrets written before stay readable; remove it once all are rewritten.
"""
LOCAL_KEY_NOTE = """\
# The key below is the only copy: back it up somewhere safe. It sits on the control-plane host beside the
# data it protects (KH-ENC-003 reports it); a kms provider keeps the key outside (--provider kms).
"""


def register(gen: argparse._SubParsersAction) -> None:
    p = gen.add_parser("encryption-config", help="EncryptionConfiguration for Secrets at rest (kms v2, aescbc, "
                                                 "secretbox), written with mode 0600",
                       description="Write the --encryption-provider-config file that encrypts Secrets at rest "
                                   "(NSA-NET-30). aescbc and secretbox get a fresh random 32-byte key.",
                       **examples("kubeharden generate encryption-config --provider kms --kms-name vault "
                                  "--kms-endpoint unix:///var/run/kms-plugin/socket.sock -o encryption-config.yaml",
                                  "kubeharden generate encryption-config --provider secretbox -o enc.yaml",
                                  "kubeharden generate encryption-config --provider aescbc --stdout"))
    p.add_argument("--provider", choices=PROVIDERS, default="kms",
                   help="kms (v2, an external KMS holds the key; preferred), aescbc or secretbox (key in the "
                        "file); default %(default)s")
    p.add_argument("--kms-name", metavar="NAME", help="name of the KMS plugin (kms only; unique per API server)")
    p.add_argument("--kms-endpoint", metavar="unix:///PATH",
                   help="the KMS plugin's unix socket, e.g. unix:///var/run/kms-plugin/socket.sock (kms only)")
    p.add_argument("--key-name", default="key1", metavar="NAME",
                   help="name of the generated key (aescbc, secretbox; default %(default)s)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("-o", "--output", metavar="FILE", help="write here, atomically, with mode 0600")
    where.add_argument("--stdout", action="store_true",
                       help="print to standard output instead (the key then passes through your terminal and logs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    kms = args.provider == "kms"
    if kms and not (args.kms_name and args.kms_endpoint):
        fail("--provider kms needs --kms-name and --kms-endpoint (the plugin's unix:/// socket)")
        return USAGE
    if not kms and (args.kms_name or args.kms_endpoint):
        fail(f"--kms-name and --kms-endpoint are for --provider kms, not {args.provider}")
        return USAGE
    try:
        doc = build(args.provider, key=None if kms else new_key(), key_name=args.key_name,
                    kms_name=args.kms_name or "", kms_endpoint=args.kms_endpoint or "")
    except ValueError as exc:
        fail(str(exc))
        return USAGE
    text = HEADER + ("" if kms else LOCAL_KEY_NOTE) + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    if args.stdout:
        if not kms:
            print("kubeharden: warning: the encryption key is printed on standard output; keep it out of shell "
                  "history, terminal logs and CI output, and store the file with mode 0600", file=sys.stderr)
        sys.stdout.write(text)
        return OK
    try:
        with atomic_secret_text(args.output) as out:
            out.write(text)
    except OSError as exc:
        fail(f"cannot write {args.output}: {exc.strerror or exc}")
        return USAGE
    print(f"wrote {args.output} (mode 0600)", file=sys.stderr)
    return OK
