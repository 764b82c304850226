"""``kubeharden etcd check``: read etcd itself, judge how Secrets are stored and who etcd lets in."""

from __future__ import annotations

import argparse
import os
from collections import Counter
from collections.abc import Iterator

from kubeharden.catalogue.loader import load_catalogue
from kubeharden.commands.common import (
    ConfigError,
    add_config_options,
    add_output_options,
    fail,
    load_settings,
    output_stream,
    quiet_after_closed_pipe,
    severity_or_none,
)
from kubeharden.commands.helptext import examples
from kubeharden.engine.evaluator import Evaluator
from kubeharden.exitcodes import FINDINGS, INPUT_ERRORS, OK, USAGE
from kubeharden.model.etcd import DEFAULT_PREFIX, ENCRYPTED_PREFIX, STORED_SECRET, provider_label
from kubeharden.model.findings import Finding, Problem, Severity
from kubeharden.model.objects import K8sObject
from kubeharden.report import FORMATS, get_reporter
from kubeharden.report.table import Display
from kubeharden.report.table import write as write_table
from kubeharden.sources.etcd import EtcdOptions, input_for
from kubeharden.sources.files import ReadOptions
from kubeharden.sources.registry import read_inputs

#: The input kind of the etcd controls (model.controls.INPUTS).
INPUT = "etcd"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("etcd", help="read etcd itself: Secrets stored unencrypted, clients without certificates",
                       description="Read etcd directly (docs/etcd.md).",
                       **examples("kubeharden etcd check --endpoints https://10.0.0.10:2379 --cacert "
                                  "/etc/kubernetes/pki/etcd/ca.crt --cert "
                                  "/etc/kubernetes/pki/apiserver-etcd-client.crt "
                                  "--key /etc/kubernetes/pki/apiserver-etcd-client.key",
                                  "kubeharden etcd check --endpoints https://127.0.0.1:2379 --cacert ca.crt "
                                  "--cert client.crt --key client.key -f json -o etcd.json"))
    esub = p.add_subparsers(dest="etcd_command", required=True, metavar="COMMAND",
                            help="check (the only one: read etcd and judge it)")
    check = esub.add_parser(
        "check", help="how each Secret is stored in etcd, and whether etcd answers clients without a certificate",
        description="Connect to etcd with a client certificate (the API server's), list the keys under "
                    "PREFIX/secrets/ and read how each value starts: a Secret without the k8s:enc: prefix is stored "
                    "in plain text (KH-ETCD-007); the others name the provider and key that encrypted them "
                    "(KH-ETCD-008 unless KMS v2). Each endpoint is also asked GET /version with TLS but no client "
                    "certificate (KH-ETCD-009) and over plain HTTP (KH-ETCD-010). Values are never printed: only "
                    "their first bytes are kept. Exit status: 0 clean, 1 findings at or above --fail-on, 2 usage, "
                    "3 etcd could not be read (the unread part is not assessable, never passed; docs/exit-codes.md).",
        **examples("kubeharden etcd check --endpoints https://10.0.0.10:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt "
                   "--cert /etc/kubernetes/pki/apiserver-etcd-client.crt --key "
                   "/etc/kubernetes/pki/apiserver-etcd-client.key",
                   "kubeharden etcd check --endpoints https://10.0.0.10:2379,https://10.0.0.11:2379 --cacert ca.crt "
                   "--cert client.crt --key client.key -f json -o etcd.json   # every member probed",
                   "kubeharden etcd check --endpoints https://127.0.0.1:2379 --cacert ca.crt --cert client.crt "
                   "--key client.key --prefix /registry-prod   # the API server's --etcd-prefix"))
    check.add_argument("--endpoints", required=True, metavar="URL[,URL]",
                       help="etcd client URLs, comma-separated (https://HOST:PORT; port 2379 when absent); every "
                            "one is probed, Secrets are read from the first that answers")
    check.add_argument("--cacert", metavar="FILE", help="CA bundle (PEM) that signed etcd's serving certificate")
    check.add_argument("--cert", metavar="FILE", help="client certificate (PEM), such as the API server's "
                                                      "apiserver-etcd-client.crt")
    check.add_argument("--key", metavar="FILE", help="the client certificate's private key (PEM)")
    check.add_argument("--prefix", default=DEFAULT_PREFIX,
                       help="the API server's --etcd-prefix (default %(default)s); Secrets are under PREFIX/secrets/")
    check.add_argument("--timeout", type=_seconds, default=10.0, metavar="SECONDS",
                       help="per request and per probe (default %(default)s)")
    add_config_options(check, profile=False)
    add_output_options(check, FORMATS, "table")
    check.add_argument("--fail-on", type=severity_or_none, default=Severity.LOW, metavar="SEVERITY",
                       help="exit 1 when a finding at or above this severity is not suppressed "
                            "(critical, high, medium, low, info, or none; default low)")
    check.set_defaults(func=run_check)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError("must be more than 0 and at most 600")
    return value


def _files_problem(args: argparse.Namespace) -> str | None:
    if bool(args.cert) != bool(args.key):
        return "--cert and --key go together (the client certificate and its private key)"
    for flag in ("cacert", "cert", "key"):
        path = getattr(args, flag)
        if path is not None and not (os.path.isfile(path) and os.access(path, os.R_OK)):
            return f"--{flag} {path}: not a readable file"
    return None


def _tallied(items: Iterator[K8sObject | Problem], tally: Counter[str]) -> Iterator[K8sObject | Problem]:
    """``items`` unchanged; counts how the Secrets among them are stored, for the summary on stderr."""
    for item in items:
        if isinstance(item, K8sObject) and item.kind == STORED_SECRET:
            storage = item.raw.get("storage") or {}
            if not storage.get("encrypted"):
                tally["plain text"] += 1
            elif not storage.get("provider"):  # k8s:enc: without provider:version:key: (model.etcd.stored_format)
                tally[f"encrypted, with a {ENCRYPTED_PREFIX.decode()} prefix that names no provider, version and "
                      "key"] += 1
            else:
                tally[f"{provider_label(storage)} key {storage.get('keyName')!r}"] += 1
        yield item


def run_check(args: argparse.Namespace) -> int:
    problem = _files_problem(args)
    endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    if problem is None and not endpoints:
        problem = "--endpoints names no URL"
    if problem is not None:
        fail(problem)
        return USAGE
    try:
        cfg = load_settings(args)
        only = [c.id for c in load_catalogue() if INPUT in c.inputs and c.id not in cfg.disabled]
        evaluator = Evaluator(cfg, only=only, input_kind=INPUT)
    except ConfigError as exc:
        fail(str(exc))
        return USAGE
    options = ReadOptions(source_options={"etcd": EtcdOptions(cacert=args.cacert, cert=args.cert, key=args.key,
                                                              prefix=args.prefix, timeout=args.timeout)})
    tally: Counter[str] = Counter()
    gate = [False]

    def watched() -> Iterator[Finding]:
        for finding in evaluator.run(_tallied(read_inputs([input_for(endpoints)], options), tally)):
            if args.fail_on is not None and finding.status == "fail" and finding.severity >= args.fail_on:
                gate[0] = True
            yield finding

    try:
        with output_stream(args.output) as out:
            if args.format == "table":
                write_table(watched(), evaluator.result, out, Display())
            else:
                get_reporter(args.format)(watched(), evaluator.result, out)
    except BrokenPipeError:
        quiet_after_closed_pipe()
    except OSError as exc:
        fail(f"cannot write the report to {args.output or 'standard output'}: {exc.strerror or exc}")
        return USAGE
    stored = ", ".join(f"{n} {how}" for how, n in sorted(tally.items())) or "none read"
    fail(f"Secrets under {args.prefix.rstrip('/')}/secrets/: {sum(tally.values())} ({stored})")
    if gate[0]:
        return FINDINGS
    if any(p.level == "error" for p in evaluator.result.problems):
        return INPUT_ERRORS
    return OK
