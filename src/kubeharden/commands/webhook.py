"""``kubeharden webhook serve|manifests``: the admission webhook and what deploys it."""

from __future__ import annotations

import argparse
import logging
import sys

import orjson

from kubeharden.analysis.selectors import EVERYTHING, Selector, SelectorError, compile_selector
from kubeharden.catalogue.loader import catalogue_names
from kubeharden.catalogue.selection import UnknownControl, resolve
from kubeharden.commands.common import (ConfigError, add_config_options, fail, load_settings, output_stream,
                                        number_between, severity_or_none, unwritable_output)
from kubeharden.commands.helptext import examples
from kubeharden.exitcodes import OK, USAGE
from kubeharden.model.findings import Severity


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("webhook", help="admission webhook enforcing the controls (serve, manifests)",
                       description="Enforce the controls at admission: a validating (and optionally mutating) "
                                   "webhook speaking AdmissionReview v1 over TLS; docs/webhook.md.",
                       **examples("kubeharden webhook serve --tls-cert tls.crt --tls-key tls.key --mode warn",
                                  "kubeharden webhook manifests --image registry.example/kubeharden@sha256:… "
                                  "-o webhook.yaml"))
    wsub = p.add_subparsers(dest="webhook_command", required=True, metavar="COMMAND",
                            help="serve (the webhook) or manifests (its deployment)")
    serve = wsub.add_parser("serve", help="serve /validate (and /mutate), /healthz, /readyz, /metrics over HTTPS",
                            description="Review AdmissionReview v1 requests with the same controls, profiles "
                                        "and exceptions as scan.",
                            **examples("kubeharden webhook serve --tls-cert tls.crt --tls-key tls.key",
                                       "kubeharden webhook serve --tls-cert tls.crt --tls-key tls.key --mode dry-run "
                                       "--profile strict --exclude-namespace kube-system"))
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    serve.add_argument("--port", type=int, default=8443, help="port (default %(default)s; 0 picks a free one)")
    serve.add_argument("--tls-cert", required=True, metavar="FILE", help="server certificate (PEM)")
    serve.add_argument("--tls-key", required=True, metavar="FILE", help="server private key (PEM)")
    serve.add_argument("--client-ca", metavar="FILE",
                       help="CA bundle: reviews only from clients (the API server) with a certificate it signed")
    _add_policy_options(serve)
    serve.add_argument("--mutate", action="store_true",
                       help="also serve /mutate: the safe structured fixes as a JSON Patch")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="processes serving the port together (Linux SO_REUSEPORT; default 1; one per CPU "
                            "uses them all; each process keeps its own /metrics)")
    serve.add_argument("--max-connections", type=int, default=1024, help="open connections at most (%(default)s)")
    serve.add_argument("--shutdown-delay", type=number_between(float, 0, 3600, "seconds"), default=0.0,
                       metavar="SECONDS",
                       help="after SIGTERM, go on serving this long before closing, so the API server stops sending "
                            "here first (default %(default)g; webhook manifests use 5)")
    serve.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                       help="log level on stderr (default %(default)s; INFO logs every refusal)")
    serve.add_argument("--control", action="append", metavar="ID", help="run only these controls (repeatable)")
    add_config_options(serve)
    serve.set_defaults(func=run_serve)

    man = wsub.add_parser("manifests", help="hardened Deployment, Service, PDB, RBAC, NetworkPolicy and "
                                           "webhook configuration for webhook serve",
                          description="Write the objects that deploy webhook serve; they scan clean at the "
                                      "strict profile.",
                          **examples("kubeharden webhook manifests --image registry.example/kubeharden@sha256:… "
                                     "-o webhook.yaml",
                                     "kubeharden webhook manifests --image registry.example/kubeharden@sha256:… "
                                     "--certificates generated --mode warn --failure-policy Ignore -o webhook.yaml"))
    man.add_argument("--namespace", default="kubeharden", help="namespace of the webhook (default %(default)s)")
    man.add_argument("--image", required=True,
                     help="container image holding kubeharden, pinned by digest (name@sha256:…; a tag fails "
                          "KH-IMG-002 at the strict profile)")
    man.add_argument("--runtime-class", default="", metavar="NAME",
                     help="a sandboxed RuntimeClass the cluster has (gVisor, Kata); the strict profile asks for one")
    man.add_argument("--apiserver-cidr", action="append", default=None, metavar="CIDR",
                     help="the API server's addresses, the only source the NetworkPolicy lets in (repeatable; "
                          "default 0.0.0.0/0: any address outside the pod network)")
    man.add_argument("--replicas", type=int, default=2, help="replicas (default %(default)s)")
    man.add_argument("--certificates", choices=("cert-manager", "generated"), default="cert-manager",
                     help="cert-manager Issuer+Certificate with CA injection, or a CA generated now (default "
                          "%(default)s)")
    man.add_argument("--timeout-seconds", type=int, default=5, choices=range(1, 31), metavar="1-30",
                     help="how long the API server waits for an answer (default %(default)s)")
    _add_policy_options(man)
    man.add_argument("--mutate", action="store_true", help="add the MutatingWebhookConfiguration (safe fixes)")
    man.add_argument("--profile", choices=("minimal", "default", "strict"), default="default",
                     help="profile the webhook runs (default %(default)s)")
    man.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")
    man.set_defaults(func=run_manifests)


def _add_policy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", choices=("enforce", "warn", "dry-run"), default="enforce",
                   help="enforce refuses, warn admits with warnings kubectl prints, dry-run only logs and counts "
                        "(default %(default)s)")
    p.add_argument("--fail-on", type=severity_or_none, default=Severity.HIGH, metavar="SEVERITY",
                   help="refuse findings at or above this severity (default high)")
    p.add_argument("--failure-policy", choices=("Fail", "Ignore"), default="Fail",
                   help="on an internal error (and, in the configuration, when the webhook is unreachable): "
                        "refuse (Fail) or admit (Ignore) (default %(default)s)")
    p.add_argument("--object-selector", type=_selector, default=EVERYTHING, metavar="JSON",
                   help='judge only objects whose labels match this LabelSelector, e.g. '
                        '\'{"matchExpressions":[{"key":"kubeharden.io/skip","operator":"DoesNotExist"}]}\'')
    p.add_argument("--namespace-selector", type=_selector, default=EVERYTHING, metavar="JSON",
                   help="(manifests) namespaces whose labels match this LabelSelector are sent to the webhook")
    p.add_argument("--exclude-namespace", action="append", default=None, metavar="NS",
                   help="admit requests in this namespace unjudged (repeatable; manifests default: kube-system)")


def _selector(text: str) -> Selector:
    try:
        return compile_selector(orjson.loads(text), "selector")
    except (orjson.JSONDecodeError, SelectorError) as exc:
        raise argparse.ArgumentTypeError(f"not a LabelSelector in JSON: {exc}") from None


def run_serve(args: argparse.Namespace) -> int:
    from kubeharden.enforce.admission import AdmissionSettings
    from kubeharden.enforce.webhook_app import WebhookApp
    from kubeharden.serve.server import event_loop_name
    from kubeharden.serve.tls import server_tls_context

    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_settings(args)
        only = frozenset(resolve(args.control, catalogue_names(), "--control")) if args.control else None
        settings = AdmissionSettings(config=cfg, mode=args.mode, fail_on=args.fail_on,
                                     failure_policy=args.failure_policy, object_selector=args.object_selector,
                                     exclude_namespaces=frozenset(args.exclude_namespace or ()), only=only)
        tls = server_tls_context(args.tls_cert, args.tls_key, args.client_ca)
        app = WebhookApp(settings, tls, mutate=args.mutate)
    except (ConfigError, UnknownControl) as exc:
        fail(str(exc))
        return USAGE
    except (OSError, ValueError) as exc:
        fail(f"cannot load TLS files: {exc}")
        return USAGE
    server = app.server(args.host, args.port, max_connections=max(1, args.max_connections),
                        shutdown_delay=args.shutdown_delay)
    log = logging.getLogger("kubeharden.webhook")

    def started() -> None:
        log.info("listening on https://%s:%d (/validate%s) in %s mode, profile %s, %d controls, %d worker(s), "
                 "%s event loop%s", args.host, server.server_address[1], ", /mutate" if args.mutate else "", args.mode,
                 cfg.profile, len(app.validator.controls), max(1, args.workers), event_loop_name(),
                 " (client certificates required)" if args.client_ca else "")

    try:
        server.run(started, workers=max(1, args.workers))
    except OSError as exc:
        fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
        return USAGE
    log.info("stopped")
    return OK


def run_manifests(args: argparse.Namespace) -> int:
    from kubeharden.enforce.certificates import MissingCryptography, generate
    from kubeharden.enforce.manifests import NAME, WebhookLayout, build
    from kubeharden.generators.output import write_documents

    if (why := unwritable_output(args.output)) is not None:
        fail(why)
        return USAGE
    fail_on = args.fail_on.label if args.fail_on is not None else "none"
    layout = WebhookLayout(namespace=args.namespace, image=args.image, replicas=max(1, args.replicas),
                           failure_policy=args.failure_policy, mode=args.mode, profile=args.profile, fail_on=fail_on,
                           timeout_seconds=args.timeout_seconds, mutate=args.mutate,
                           namespace_selector=args.namespace_selector, object_selector=args.object_selector,
                           exclude_namespaces=tuple(args.exclude_namespace or ("kube-system",)),
                           certificates=args.certificates, runtime_class=args.runtime_class,
                           apiserver_cidrs=tuple(args.apiserver_cidr or ("0.0.0.0/0",)))
    if args.certificates == "generated":
        try:
            ca, cert, key = generate(layout.dns_names)
        except MissingCryptography as exc:
            fail(str(exc))
            return USAGE
        layout = WebhookLayout(**{**layout.__dict__, "ca_pem": ca, "cert_pem": cert, "key_pem": key})
    header = (f"kubeharden admission webhook ({NAME}) in namespace {args.namespace}, written by kubeharden webhook "
              f"manifests.\nMode {args.mode}, failure policy {args.failure_policy}, certificates from "
              f"{args.certificates}. docs/webhook.md")
    with output_stream(args.output) as out:
        write_documents(build(layout), out, header)
    return OK
