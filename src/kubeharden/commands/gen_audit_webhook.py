"""``kubeharden generate audit-webhook-config``: the kubeconfig-format file for the API server's
``--audit-webhook-config-file``, pointing at ``kubeharden audit serve`` over HTTPS.

The guide's v1.0 example used ``http://127.0.0.1:8080``; audit events carry request bodies and
identities, so this generator only writes https URLs, verifies the receiver with a CA, and has the
API server authenticate with a client certificate (NSA-LOG-12).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from kubeharden.commands.common import fail, output_stream
from kubeharden.commands.helptext import examples
from kubeharden.exitcodes import OK, USAGE
from kubeharden.report.output import atomic_binary


def register(gen: argparse._SubParsersAction) -> None:
    p = gen.add_parser("audit-webhook-config",
                       help="kubeconfig for the API server's audit webhook backend (to kubeharden audit serve)",
                       description="Write the --audit-webhook-config-file for kube-apiserver (NSA-LOG-12).",
                       **examples("kubeharden generate audit-webhook-config --server https://audit.internal:8443/audit",
                                  "kubeharden generate audit-webhook-config --server https://10.0.0.5:8443 "
                                  "--certificate-authority /etc/kubernetes/pki/audit-ca.crt -o webhook.yaml",
                                  "kubeharden generate audit-webhook-config --server https://127.0.0.1:8443/audit "
                                  "--test-ca ./audit-pki   # a test CA, certificates and the kubeconfig"))
    p.add_argument("--server", required=True, metavar="URL",
                   help="https URL of kubeharden audit serve, e.g. https://audit.example.internal:8443/audit")
    p.add_argument("--certificate-authority", default=None, metavar="FILE",
                   help=f"CA that signed the receiver's certificate (default {DEFAULTS['certificate_authority']})")
    p.add_argument("--client-certificate", default=None, metavar="FILE",
                   help=f"the API server's client certificate (default {DEFAULTS['client_certificate']})")
    p.add_argument("--client-key", default=None, metavar="FILE",
                   help=f"its private key (default {DEFAULTS['client_key']})")
    p.add_argument("--test-ca", metavar="DIR",
                   help="also create, in DIR, a new CA (ca.crt; its key is not kept), the receiver's certificate for "
                        "the host of --server (server.crt, server.key) and the API server's client certificate "
                        "(client.crt, client.key), keys mode 0600, and write the kubeconfig pointing at them "
                        "(DIR/audit-webhook.yaml unless -o); for tests and trials, not production (docs/audit.md)")
    p.add_argument("--days", type=_days, default=365, metavar="N",
                   help="validity of the --test-ca certificates in days (default %(default)s)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")
    p.set_defaults(func=run)


#: Where the API server's files are expected when not named (kubeadm keeps its PKI in /etc/kubernetes/pki).
DEFAULTS = {"certificate_authority": "/etc/kubernetes/pki/kubeharden-audit-ca.crt",
            "client_certificate": "/etc/kubernetes/pki/audit-webhook-client.crt",
            "client_key": "/etc/kubernetes/pki/audit-webhook-client.key"}
#: The files --test-ca writes in its folder: (file name, MutualTLS field, private key).
TEST_CA_FILES = (("ca.crt", "ca", False), ("server.crt", "server_cert", False), ("server.key", "server_key", True),
                 ("client.crt", "client_cert", False), ("client.key", "client_key", True))


def _days(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 3650:
        raise argparse.ArgumentTypeError(f"not a number of days from 1 to 3650: {text!r}")
    return int(text)


def build(server: str, ca: str, cert: str, key: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kubeharden-audit", "cluster": {"server": server, "certificate-authority": ca}}],
        "users": [{"name": "kube-apiserver", "user": {"client-certificate": cert, "client-key": key}}],
        "contexts": [{"name": "kubeharden-audit",
                      "context": {"cluster": "kubeharden-audit", "user": "kube-apiserver"}}],
        "current-context": "kubeharden-audit",
    }


HEADER = """\
# Audit webhook backend configuration for kube-apiserver (kubeconfig format), written by kubeharden.
# Guide: NSA-LOG-12 (send audit events to a SIEM over TLS). Use it with:
#   --audit-policy-file=/etc/kubernetes/audit-policy.yaml
#   --audit-webhook-config-file=/etc/kubernetes/audit-webhook.yaml
#   --audit-webhook-mode=batch                 (never blocks requests; batches are buffered and retried)
#   --audit-webhook-batch-max-size=400  --audit-webhook-batch-max-wait=5s  --audit-webhook-initial-backoff=10s
# Keep --audit-log-path as well, so events survive when the receiver is down.
# Run the receiver with: kubeharden audit serve --tls-cert … --tls-key … --client-ca <CA of the client cert>
"""


def run(args: argparse.Namespace) -> int:
    url = urlsplit(args.server)
    if url.scheme != "https" or not url.hostname:
        fail("--server must be an https:// URL with a host: audit events carry secrets' metadata, request "
             "bodies and identities, and must not cross the network in clear text (NSA-LOG-7, NSA-LOG-12)")
        return USAGE
    files = {name: getattr(args, name) or default for name, default in DEFAULTS.items()}
    output = args.output
    if args.test_ca:
        given = [f"--{name.replace('_', '-')}" for name in DEFAULTS if getattr(args, name)]
        if given:
            fail(f"--test-ca makes the certificates the kubeconfig names; {', '.join(given)} cannot be given with it")
            return USAGE
        made = _make_test_ca(Path(args.test_ca), url.hostname, args.days)
        if made is None:
            return USAGE
        files = made
        output = output or str(Path(args.test_ca) / "audit-webhook.yaml")
    doc = build(args.server, files["certificate_authority"], files["client_certificate"], files["client_key"])
    text = HEADER + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    try:
        with output_stream(output) as out:
            out.write(text)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
        return USAGE
    if output:
        print(f"wrote {output}", file=sys.stderr)
    if args.test_ca:
        folder = Path(args.test_ca).resolve()
        path = f" --path {url.path}" if url.path not in ("", "/") else ""
        print(f"run the receiver with: kubeharden audit serve --port {url.port or 443}{path} --tls-cert "
              f"{folder}/server.crt --tls-key {folder}/server.key --client-ca {folder}/ca.crt", file=sys.stderr)
    return OK


def _make_test_ca(folder: Path, host: str, days: int) -> dict[str, str] | None:
    """Create the --test-ca files in ``folder`` (each written atomically, keys 0600); the kubeconfig's
    paths to them (absolute), or None after saying why not."""
    from kubeharden.enforce.certificates import MissingCryptography, generate_mutual

    try:
        pki = generate_mutual([host], days)
    except MissingCryptography as exc:
        fail(str(exc))
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, field, secret in TEST_CA_FILES:
            with atomic_binary(folder / name, 0o600 if secret else 0o644) as out:
                out.write(getattr(pki, field))
            if secret:
                os.chmod(folder / name, 0o600)  # a key file that existed keeps no wider mode
    except OSError as exc:
        fail(f"cannot write the test CA in {folder}: {exc.strerror or exc}")
        return None
    where = folder.resolve()
    print(f"wrote a test CA in {where}: ca.crt, server.crt, server.key, client.crt, client.key (keys mode 0600; "
          "the CA's key is not kept)", file=sys.stderr)
    return {"certificate_authority": str(where / "ca.crt"), "client_certificate": str(where / "client.crt"),
            "client_key": str(where / "client.key")}
