"""``kubeharden generate audit-webhook-config``: the kubeconfig-format file for the API server's
``--audit-webhook-config-file``, pointing at ``kubeharden audit serve`` over HTTPS.

The guide's v1.0 example used ``http://127.0.0.1:8080``; audit events carry request bodies and
identities, so this generator only writes https URLs, verifies the receiver with a CA, and has the
API server authenticate with a client certificate (NSA-LOG-12).
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit

import yaml

from kubeharden.commands.common import fail, output_stream
from kubeharden.commands.helptext import examples
from kubeharden.exitcodes import OK, USAGE


def register(gen: argparse._SubParsersAction) -> None:
    p = gen.add_parser("audit-webhook-config",
                       help="kubeconfig for the API server's audit webhook backend (to kubeharden audit serve)",
                       description="Write the --audit-webhook-config-file for kube-apiserver (NSA-LOG-12).",
                       **examples("kubeharden generate audit-webhook-config --server https://audit.internal:8443/audit",
                                  "kubeharden generate audit-webhook-config --server https://10.0.0.5:8443 "
                                  "--certificate-authority /etc/kubernetes/pki/audit-ca.crt -o webhook.yaml"))
    p.add_argument("--server", required=True, metavar="URL",
                   help="https URL of kubeharden audit serve, e.g. https://audit.example.internal:8443/audit")
    p.add_argument("--certificate-authority", default="/etc/kubernetes/pki/kubeharden-audit-ca.crt", metavar="FILE",
                   help="CA that signed the receiver's certificate (default %(default)s)")
    p.add_argument("--client-certificate", default="/etc/kubernetes/pki/audit-webhook-client.crt", metavar="FILE",
                   help="the API server's client certificate (default %(default)s)")
    p.add_argument("--client-key", default="/etc/kubernetes/pki/audit-webhook-client.key", metavar="FILE",
                   help="its private key (default %(default)s)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")
    p.set_defaults(func=run)


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
    doc = build(args.server, args.certificate_authority, args.client_certificate, args.client_key)
    text = HEADER + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    try:
        with output_stream(args.output) as out:
            out.write(text)
    except OSError as exc:
        fail(f"cannot write {args.output}: {exc.strerror or exc}")
        return USAGE
    if args.output:
        print(f"wrote {args.output}", file=sys.stderr)
    return OK
