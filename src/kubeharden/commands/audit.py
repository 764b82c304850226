"""``kubeharden audit scan|rules|serve``: threat detection over Kubernetes audit logs."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kubeharden.commands.common import (fail, number_between, output_stream, quiet_after_closed_pipe,
                                        severity_or_none, warn)
from kubeharden.commands.emit import say_problem, write_output
from kubeharden.commands.helptext import examples
from kubeharden.commands.own_output import report_files
from kubeharden.detect.alerts import Alert
from kubeharden.detect.engine import Detector
from kubeharden.detect.examples import check_examples
from kubeharden.detect.policy import PolicyError, coverage, parse_policy
from kubeharden.detect.rules import DetectionRule, RuleError, load_rules, parse_duration
from kubeharden.exitcodes import FINDINGS, INPUT_ERRORS, OK, USAGE
from kubeharden.model.findings import Problem, Severity
from kubeharden.report.alerts import ALERT_FORMATS, ALERT_WRITERS, RULE_WRITERS, AuditRun, write_lines
from kubeharden.sources.audit import AuditReadOptions, read_events


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="detect attacks in Kubernetes audit logs (files or live webhook)",
                       description="Threat detection over Kubernetes audit events (guide section 4).",
                       **examples("kubeharden audit scan /var/log/kubernetes/audit.log",
                                  "kubeharden audit rules --check --rules my-rules.yaml",
                                  "kubeharden audit serve --tls-cert tls.crt --tls-key tls.key --client-ca ca.crt"))
    asub = p.add_subparsers(dest="audit_command", metavar="ACTION", help="what to do (each has its own --help):")

    scan = asub.add_parser("scan", help="scan audit log files (JSON lines, EventList, gzip; - for stdin)",
                           description="Run the detection rules over audit log files, in time order across files.",
                           **examples("kubeharden audit scan audit.log audit.log.1.gz --fail-on high",
                                      "kubeharden audit scan audit.log -f jsonl | my-siem-forwarder",
                                      "kubeharden audit scan audit.log --policy /etc/kubernetes/audit-policy.yaml"))
    scan.add_argument("paths", nargs="+", metavar="FILE", help="audit log files or directories; - for stdin")
    scan.add_argument("-f", "--format", choices=ALERT_FORMATS, default="table",
                      help="table, jsonl (one ECS-shaped alert per line, for a SIEM) or json (summary + alerts)")
    scan.add_argument("-o", "--output", metavar="FILE", help="write the report here (atomically)")
    scan.add_argument("--fail-on", type=severity_or_none, default=Severity.LOW, metavar="SEVERITY",
                      help="exit 1 when an alert at or above this severity is raised "
                           "(critical, high, medium, low, info, or none; default low)")
    scan.add_argument("--policy", metavar="FILE", help="the audit Policy in use: report rules it leaves blind")
    scan.add_argument("--follow", action="store_true", help="keep reading as the files grow (tail -F)")
    _add_rule_options(scan)
    scan.set_defaults(func=run_scan)

    rules = asub.add_parser("rules", help="list the detection rules",
                            description="List the detection rules, or check that their examples behave.",
                            **examples("kubeharden audit rules",
                                       "kubeharden audit rules --rules my-rules.yaml --check",
                                       "kubeharden audit rules -f markdown -o docs/audit-rules.md"))
    rules.add_argument("-f", "--format", choices=tuple(RULE_WRITERS), default="table",
                       help="table (default), json (every field) or markdown (docs/audit-rules.md)")
    rules.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")
    rules.add_argument("--check", action="store_true",
                       help="run every rule's examples; print only the rules whose examples do not behave and "
                            "a verdict (exit 1 when any fails) instead of the table")
    _add_rule_options(rules)
    rules.set_defaults(func=run_rules)

    serve = asub.add_parser("serve", help="receive audit events from the API server's webhook backend",
                            description="An HTTPS endpoint for --audit-webhook-config-file; runs the rules live.",
                            **examples("kubeharden audit serve --tls-cert tls.crt --tls-key tls.key --client-ca ca.crt",
                                       "kubeharden audit serve --host 0.0.0.0 --path /audit --tls-cert tls.crt "
                                       "--tls-key tls.key --alerts-file alerts.jsonl --no-stdout"))
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    serve.add_argument("--port", type=int, default=8443, help="port (default %(default)s)")
    serve.add_argument("--path", default=None, help="accept batches only on this URL path (default: any)")
    serve.add_argument("--tls-cert", required=True, metavar="FILE", help="server certificate (PEM)")
    serve.add_argument("--tls-key", required=True, metavar="FILE", help="server private key (PEM)")
    serve.add_argument("--client-ca", metavar="FILE",
                       help="CA bundle: require the API server's client certificate to be signed by it")
    serve.add_argument("--alerts-file", metavar="FILE", help="append alerts (JSON lines) to this file")
    serve.add_argument("--alerts-webhook", metavar="URL", help="POST alerts (JSON array) to this URL")
    serve.add_argument("--no-stdout", action="store_true", help="do not print alerts on stdout")
    serve.add_argument("--min-severity", type=severity_or_none, default=Severity.INFO, metavar="SEVERITY",
                       help="send only alerts at or above this severity (default info)")
    serve.add_argument("--detect-in", choices=("thread", "process"), default="thread",
                       help="run detection in a thread (default) or a forked child process, so receiving and "
                            "detection each get a CPU core (Linux; worth it with 3 or more cores)")
    serve.add_argument("--queue", type=int, default=1000, metavar="BATCHES",
                       help="batches waiting for the worker before new ones get 503 (default %(default)s)")
    serve.add_argument("--shutdown-delay", type=number_between(float, 0, 3600, "seconds"), default=0.0,
                       metavar="SECONDS", help="after SIGTERM, go on accepting batches this long before closing, so "
                       "the API server stops sending here first (default %(default)g)")
    serve.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                       help="how much the receiver logs on stderr (default %(default)s)")
    _add_rule_options(serve)
    serve.set_defaults(func=run_serve)
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), USAGE)[1])


def _add_rule_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("rules")
    g.add_argument("--rules", action="append", default=[], metavar="FILE",
                   help="extra rule file (YAML; see docs/audit.md); repeatable; may redefine lists")
    g.add_argument("--no-builtin", action="store_true", help="do not load the built-in rule pack")
    g.add_argument("--rule", action="append", metavar="ID", help="run only these rules (repeatable)")
    g.add_argument("--baseline", default="1h", metavar="DURATION",
                   help="how long first-seen rules learn before alerting (default 1h; e.g. 30m, 1d)")
    g.add_argument("--pod-cidr", action="append", metavar="CIDR",
                   help="the cluster's pod network(s), for KH-AUDIT-012 (repeatable; replaces list pod_cidrs)")
    g.add_argument("--registry", action="append", metavar="PREFIX",
                   help="an approved image registry or repository prefix (repeatable); turns on KH-AUDIT-026")
    g.add_argument("--ci-identity", action="append", metavar="USER",
                   help="an identity that deploys legitimately, exempt from CI-only rules (repeatable)")


def _load(args: argparse.Namespace) -> tuple[list[DetectionRule], float] | None:
    overrides: dict[str, list[Any]] = {}
    if args.pod_cidr:
        for cidr in args.pod_cidr:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                fail(f"--pod-cidr: {exc}")
                return None
        overrides["pod_cidrs"] = list(args.pod_cidr)
    if args.registry:
        overrides["approved_registries"] = [r.strip().lower().rstrip("/") + "/" for r in args.registry if r.strip()]
    if args.ci_identity:
        overrides["ci_identities"] = list(args.ci_identity)
    try:
        baseline = parse_duration(args.baseline, "--baseline") if args.baseline not in ("0", "0s") else 0.0
        rules = load_rules(args.rules, builtin=not args.no_builtin, overrides=overrides)
    except RuleError as exc:
        fail(str(exc))
        return None
    if args.rule:
        unknown = set(args.rule) - {r.id for r in rules}
        if unknown:
            fail(f"unknown rule(s): {', '.join(sorted(unknown))} (see kubeharden audit rules)")
            return None
        rules = [r for r in rules if r.id in set(args.rule)]
    if not rules:
        fail("no rules to run")
        return None
    return rules, baseline


def run_rules(args: argparse.Namespace) -> int:
    loaded = _load(args)
    if loaded is None:
        return USAGE
    rules, _ = loaded
    if args.check:
        return _check_rules(rules, args.output)
    return write_output(args.output, lambda out: RULE_WRITERS[args.format](rules, out), ())


def _check_rules(rules: list[DetectionRule], output: str | None) -> int:
    """``audit rules --check``: the rules whose examples misbehave, then one verdict line (no table)."""
    active = [r for r in rules if r.inactive is None]
    problems = {r.id: found for r in active if (found := check_examples(r))}
    skipped = f"; {len(rules) - len(active)} inactive rule(s) not checked" if len(active) < len(rules) else ""
    lines = [p for found in problems.values() for p in found]
    if problems:
        lines.append(f"FAILED: {len(problems)} of {len(active)} rules have examples that do not behave "
                     f"({', '.join(problems)}){skipped}")
    else:
        lines.append(f"OK: the examples of all {len(active)} rules behave{skipped}")
    status = write_output(output, lambda out: out.write("\n".join(lines) + "\n"), ())
    return status if status != OK or not problems else FINDINGS


def run_scan(args: argparse.Namespace) -> int:
    if args.follow and args.output:
        fail("--follow streams alerts as they happen; write them to stdout (and redirect) instead of --output")
        return USAGE
    loaded = _load(args)
    if loaded is None:
        return USAGE
    rules, baseline = loaded
    problems: list[Problem] = []
    cov = []
    rules = [r for r in rules if r.inactive is None]
    if args.policy:
        try:
            policy = parse_policy(Path(args.policy).read_text(encoding="utf-8"), args.policy)
        except OSError as exc:
            fail(f"cannot read {args.policy}: {exc.strerror or exc}")
            return USAGE
        except PolicyError as exc:
            fail(str(exc))
            return USAGE
        cov = coverage(policy, rules)
    detector = Detector(rules, baseline_seconds=baseline)
    run = AuditRun(rules=rules, stats=detector.stats, problems=problems, coverage=cov)
    threshold = args.fail_on
    gate = [False]

    def report(problem: Problem) -> None:
        problems.append(problem)
        if args.follow or len(problems) <= 20:
            say_problem(problem)
        elif len(problems) == 21:
            print("kubeharden: more input problems follow in the report", file=sys.stderr)

    def watched() -> Iterator[Alert]:
        events = read_events(args.paths, report, AuditReadOptions(follow=args.follow,
                                                                  skip_files=report_files(args.output)))
        for alert in detector.run(events):
            if threshold is not None and alert.severity >= threshold:
                gate[0] = True
            yield alert

    writer = ALERT_WRITERS[args.format]
    if args.follow and args.format == "table":
        writer = write_lines
    try:
        with output_stream(args.output) as out:
            writer(watched(), run, out)
    except BrokenPipeError:
        quiet_after_closed_pipe()
        return FINDINGS if gate[0] else OK
    except OSError as exc:
        fail(f"cannot write {args.output or 'standard output'}: {exc.strerror or exc}")
        return USAGE
    if gate[0]:
        return FINDINGS
    if any(p.level == "error" for p in problems):
        return INPUT_ERRORS
    return OK


class AlertPipeline:
    """Detection and alert delivery for ``audit serve``, run by the receiver's worker.

    Sinks are opened on first use, in whichever thread or process does the detection (a forked
    detection process must own its files and webhook thread), and closed by :meth:`close`.
    """

    def __init__(self, detector: Detector, minimum: int, stdout: bool, alerts_file: str | None,
                 alerts_webhook: str | None) -> None:
        self.detector = detector
        self.minimum = minimum
        self.config = (stdout, alerts_file, alerts_webhook)
        self.sinks: list[Any] | None = None
        self.log = logging.getLogger("kubeharden.audit.serve")

    def open(self) -> list[Any]:
        from kubeharden.report.alert_sinks import FileSink, StreamSink, WebhookSink
        stdout, alerts_file, alerts_webhook = self.config
        sinks: list[Any] = []
        if stdout:
            sinks.append(StreamSink(sys.stdout))
        if alerts_file:
            sinks.append(FileSink(alerts_file))
        if alerts_webhook:
            sinks.append(WebhookSink(alerts_webhook))
        return sinks

    def __call__(self, events: list[dict[str, Any]]) -> int:
        if self.sinks is None:
            self.sinks = self.open()
        out: list[dict[str, Any]] = []
        for event in events:
            if not isinstance(event, dict):
                continue
            alerts = self.detector.process(event)
            if alerts:
                out.extend(a.to_siem() for a in alerts if a.severity >= self.minimum)
        if out:
            for sink in self.sinks:
                try:
                    sink.send(out)
                except OSError as exc:
                    self.log.warning("alert output failed: %s", exc)
        return len(out)

    def close(self) -> None:
        for sink in self.sinks or []:
            sink.close()


def run_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from kubeharden.serve.audit_app import AuditReceiver
    from kubeharden.serve.tls import server_tls_context

    loaded = _load(args)
    if loaded is None:
        return USAGE
    rules, baseline = loaded
    try:
        tls = server_tls_context(args.tls_cert, args.tls_key, args.client_ca)
    except (OSError, ValueError) as exc:
        fail(f"cannot load TLS files: {exc}")
        return USAGE
    if args.alerts_webhook and not args.alerts_webhook.startswith(("https://", "http://")):
        fail(f"--alerts-webhook must be an http(s) URL, not {args.alerts_webhook!r}")
        return USAGE
    if args.alerts_file:
        try:
            open(args.alerts_file, "a", encoding="utf-8").close()  # fail now, not in the worker
        except OSError as exc:
            fail(f"cannot write {args.alerts_file}: {exc.strerror or exc}")
            return USAGE
    if not args.client_ca:
        warn("running without client-certificate authentication (no --client-ca): anyone who can reach "
             f"{args.host}:{args.port} can post audit events and read /stats and /metrics; give the CA of the "
             "API server's client certificate with --client-ca (docs/audit.md shows how to make one)")
    detector = Detector(rules, baseline_seconds=baseline)
    minimum = args.min_severity if args.min_severity is not None else Severity.CRITICAL + 1
    pipeline = AlertPipeline(detector, minimum, not args.no_stdout, args.alerts_file, args.alerts_webhook)
    server = AuditReceiver((args.host, args.port), tls, pipeline, queue_batches=max(1, args.queue),
                           path=args.path, detect_in=args.detect_in, shutdown_delay=args.shutdown_delay)
    log = logging.getLogger("kubeharden.audit.serve")

    def started() -> None:
        log.info("listening on https://%s:%d%s with %d rules, detection in a %s%s", args.host,
                 server.server_address[1], args.path or "/", len(detector.rules), args.detect_in,
                 " (client certificates required)" if args.client_ca else "")

    try:
        server.run(started)  # the worker first: a detection process forks before the event loop exists
    except OSError as exc:
        fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
        return USAGE
    finally:
        if args.detect_in == "thread":
            pipeline.close()
    fail(f"stopped: {server.summary()}")  # whatever --log-level: the outcome of the run
    return OK
