"""``kubeharden netpol matrix|can-reach``: what traffic the NetworkPolicies actually allow."""

from __future__ import annotations

import argparse
import io
import ipaddress
import json
import re
import sys
from collections.abc import Iterable
from typing import IO

from kubeharden.analysis.external import NODE_NETWORKS, block_overlaps, endpoints, internet_open
from kubeharden.analysis.ingress_exposure import DEFAULT_CONTROLLERS
from kubeharden.analysis.policies import IPBlock
from kubeharden.analysis.ports import ALL_PORTS, PortSet, parse_port_query
from kubeharden.analysis.precedence import Decision
from kubeharden.analysis.reachability import Network, SideVerdict, Workload, default_note
from kubeharden.commands.common import (
    ConfigError,
    add_input_options,
    add_output_options,
    fail,
    load_settings,
    open_inputs,
)
from kubeharden.commands.emit import report_problems, write_output
from kubeharden.commands.empty_input import Counted, check_read, nothing_checked
from kubeharden.commands.helptext import examples
from kubeharden.engine.evaluator import build_inventory
from kubeharden.exitcodes import FINDINGS, INPUT_ERRORS, OK, USAGE
from kubeharden.model.findings import NOTHING_CHECKED, Problem
from kubeharden.report import netpol as netpol_render

MATRIX_FORMATS = ("table", "json", "dot", "mermaid")
_PORT_SUFFIX = re.compile(r"^(.*):(\d+(?:-\d+)?(?:/[A-Za-z]+)?)$")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("netpol", help="NetworkPolicy reachability (matrix, can-reach)",
                       description="Compute what traffic the NetworkPolicies in the input allow.",
                       **examples("kubeharden netpol matrix -n shop k8s/",
                                  "kubeharden netpol can-reach shop/web shop/db:5432 k8s/",
                                  "kubeharden netpol can-reach shop/web metadata k8s/"))
    q = p.add_subparsers(dest="netpol_command", metavar="QUERY", help="the query to answer (each has its own --help):")

    m = q.add_parser("matrix", help="every allowed connection between workloads and external blocks",
                     description="List the allowed connections (pairs with nothing allowed are absent).",
                     **examples("kubeharden netpol matrix k8s/",
                                "kubeharden netpol matrix -n shop --no-external -f mermaid k8s/",
                                "kubeharden netpol matrix -f dot k8s/ | dot -Tsvg > flows.svg"))
    m.add_argument("-n", "--namespace", action="append", metavar="NS",
                   help="only connections with an end in this namespace (repeatable); objects without "
                        "metadata.namespace are placed in the first, as kubectl apply -n")
    m.add_argument("--no-external", action="store_true", help="leave out external address blocks")
    add_input_options(m, namespace_option=False)
    _add_config(m)
    add_output_options(m, MATRIX_FORMATS, "table")
    m.set_defaults(func=run_matrix)

    c = q.add_parser("can-reach", help="can SRC open a connection to DST (and on which ports)?",
                     description="Explain which policies allow or block SRC -> DST, for both directions. "
                                 "SRC and DST are workloads (NS/KIND/NAME, NS/NAME, KIND/NAME or NAME), "
                                 "the named endpoints internet, metadata, nodes (private address space, "
                                 "where node addresses are taken to be) and apiserver (with --api-server), "
                                 "or an IP address. DST may end in :PORT or :PORT/PROTO (default TCP). "
                                 "Exit status 0 when allowed, 1 when blocked.",
                     **examples("kubeharden netpol can-reach shop/web shop/db:5432 k8s/",
                                "kubeharden netpol can-reach shop/Deployment/web internet:443 k8s/",
                                "kubeharden netpol can-reach shop/web apiserver:6443 --api-server 10.0.0.1 k8s/"))
    c.add_argument("src", metavar="SRC",
                   help="where the connection starts: a workload (NS/KIND/NAME, NS/NAME, KIND/NAME or NAME), "
                        "internet, metadata, apiserver, or an IP address")
    c.add_argument("dst", metavar="DST[:PORT[/PROTO]]",
                   help="where it goes, in the same forms as SRC, optionally with :PORT or :PORT/PROTO "
                        "(TCP, UDP or SCTP; default TCP), e.g. shop/db:5432 or 10.0.0.5:53/UDP")
    c.add_argument("--api-server", action="append", default=[], metavar="CIDR",
                   help="address(es) of the API server, for the apiserver endpoint")
    c.add_argument("-f", "--format", choices=("table", "json"), default="table",
                   help="table (default: the explanation as text) or json (the verdict per direction, the "
                        "isolating policies and the explanation's lines)")
    add_input_options(c)
    _add_config(c)
    c.set_defaults(func=run_can_reach)
    p.set_defaults(func=lambda args: (p.print_help(), USAGE)[1])


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="configuration file for ingress_controllers and node_networks "
                             "(default: nearest .kubeharden.yaml)")
    parser.add_argument("--no-config", action="store_true", help="ignore .kubeharden.yaml files")


def _load(args: argparse.Namespace, command: str) -> tuple[Network, list[Problem]]:
    settings = load_settings(args)
    stream = Counted(open_inputs(args))
    inventory, problems = build_inventory(stream)
    if not check_read(args.paths, stream, problems, command, args.allow_empty) and not inventory.pods:
        problems.append(nothing_checked(
            args.paths, problems, command, args.allow_empty, what="no workload was read",
            why=f"{stream.objects} object(s) read, no Pod or pod template among them, so there is no "
                "connection to show"))
    network = Network(inventory, settings.ingress_controllers or DEFAULT_CONTROLLERS)
    problems = [*problems, *network.problems]
    report_problems(problems)
    for policy, notes in network.not_evaluated():
        for note in notes:
            print(f"kubeharden: note: {policy.label}: {note}", file=sys.stderr)
    return network, problems


def run_matrix(args: argparse.Namespace) -> int:
    try:
        network, problems = _load(args, "netpol matrix")
    except ConfigError as exc:
        fail(str(exc))
        return USAGE
    namespaces = set(args.namespace) if args.namespace else None
    node_networks = load_settings(args).node_networks or NODE_NETWORKS
    connections = network.connections(namespaces, external=not args.no_external, node_networks=node_networks)
    return write_output(args.output, lambda out: netpol_render.RENDERERS[args.format](connections, out), problems)


# -- can-reach ------------------------------------------------------------------------------

class Endpoint:
    """One end of a query: workloads or a set of addresses."""

    def __init__(self, text: str, workloads: list[Workload], networks: tuple | None, name: str) -> None:
        self.text, self.workloads, self.networks, self.name = text, workloads, networks, name


def _endpoint(network: Network, text: str, named: dict) -> Endpoint:
    if text in named:
        return Endpoint(text, [], named[text], text)
    try:
        return Endpoint(text, [], (ipaddress.ip_network(text, strict=False),), text)
    except ValueError:
        pass
    found = network.find_workloads(text)
    if not found:
        raise ValueError(f"no workload or endpoint {text!r} in the input (workloads are NS/KIND/NAME, NS/NAME, "
                         f"KIND/NAME or NAME; endpoints: {', '.join(named)} or an IP address)")
    if len(found) > 1:
        raise ValueError(f"{text!r} is ambiguous: {', '.join(w.label for w in found[:5])}; "
                         "name it as NS/KIND/NAME")
    return Endpoint(text, found, None, found[0].label)


def split_port(text: str) -> tuple[str, PortSet]:
    """``DST[:PORT[/PROTO]]``; an IPv6 address or CIDR on its own is never split."""
    try:
        ipaddress.ip_network(text, strict=False)
        return text, ALL_PORTS
    except ValueError:
        pass
    match = _PORT_SUFFIX.match(text)
    if not match:
        return text, ALL_PORTS
    return match.group(1), parse_port_query(match.group(2))


def run_can_reach(args: argparse.Namespace) -> int:
    try:
        named = endpoints(args.api_server, load_settings(args).node_networks or NODE_NETWORKS)
        dst_text, wanted = split_port(args.dst)
    except (ValueError, ConfigError) as exc:
        fail(str(exc))
        return USAGE
    try:
        network, problems = _load(args, "netpol can-reach SRC DST")
    except ConfigError as exc:
        fail(str(exc))
        return USAGE
    report_problems(problems)
    if any(p.kind == NOTHING_CHECKED and p.level == "error" for p in problems):
        return INPUT_ERRORS
    try:
        src = _endpoint(network, args.src, named)
        dst = _endpoint(network, dst_text, named)
    except ValueError as exc:
        fail(str(exc))
        return USAGE
    if not src.workloads and not dst.workloads:
        fail("at least one of SRC and DST must be a workload: traffic between outside addresses is not "
             "governed by NetworkPolicy")
        return USAGE
    if args.format == "json":
        text = io.StringIO()
        allowed = explain(network, src, dst, wanted, text)
        answer = {"source": src.name, "destination": dst.name, "ports": str(wanted), "allowed": bool(allowed),
                  "allowed_ports": str(allowed) if allowed else "", "directions": _directions(network, src, dst),
                  "explanation": [line.strip() for line in text.getvalue().splitlines()[1:-1]]}
        sys.stdout.write(json.dumps(answer, indent=2) + "\n")
    else:
        allowed = explain(network, src, dst, wanted, sys.stdout)
    return OK if allowed else FINDINGS


def _directions(network: Network, src: Endpoint, dst: Endpoint) -> list[dict[str, object]]:
    """Per workload side: whether a policy isolates it in that direction, and every policy that does."""
    out: list[dict[str, object]] = []
    for endpoint, direction in ((src, "egress"), (dst, "ingress")):
        if not endpoint.workloads:
            continue
        klass = network.classes[endpoint.workloads[0].klass]
        policies = klass.egress_policies if direction == "egress" else klass.ingress_policies
        out.append({"workload": endpoint.name, "direction": direction, "isolated": bool(policies),
                    "isolating_policies": [p.label for p in policies]})
    return out


def explain(network: Network, src: Endpoint, dst: Endpoint, wanted: PortSet, out: IO[str]) -> PortSet:
    """Write the explanation; the wanted ports that are allowed (empty, so false, when blocked)."""
    query = "" if wanted is ALL_PORTS else f" on {wanted}"
    print(f"{src.name} -> {dst.name}{query}", file=out)
    if src.workloads and dst.workloads:
        s, d = src.workloads[0].klass, dst.workloads[0].klass
        egress = network.egress_verdict(s, d)
        ingress = network.ingress_verdict(s, d)
        _side(out, f"egress of {src.name}", egress, wanted)
        _side(out, f"ingress of {dst.name}", ingress, wanted)
        result = egress.ports & ingress.ports & wanted
    elif src.workloads:
        result = _external(out, network, src.workloads[0], dst, wanted, egress=True)
    else:
        result = _external(out, network, dst.workloads[0], src, wanted, egress=False)
    verdict = f"ALLOWED on {result}" if result else "BLOCKED"
    print(f"result: {verdict}", file=out)
    return result


def _side(out: IO[str], title: str, verdict: SideVerdict, wanted: PortSet) -> None:
    if not verdict.isolated:
        print(f"  {title}: open ({verdict.note})", file=out)
        return
    names = ", ".join(p.label for p in verdict.policies)  # every isolating policy: each is a place to look
    ports = verdict.ports & wanted
    if verdict.steps:  # layered policies: every rule that decided something, in evaluation order
        print(f"  {title}: {'allows ' + str(ports) if ports else 'BLOCKED'} (selected by {names})", file=out)
        for rule, action, decided in verdict.steps:
            if decided & wanted:
                print(f"    - {rule.label} ({rule.where}): {action} {decided & wanted}", file=out)
        note = default_note(verdict.decision, verdict.direction, wanted) if verdict.decision else verdict.note
        if note:
            print(f"    - {note}", file=out)
        return
    if ports:
        print(f"  {title}: allows {ports} (isolated by {names})", file=out)
        for rule, opened in verdict.allowing:  # only the rules that allow some port asked about
            if opened & wanted:
                print(f"    - {rule.label} ({rule.where}) allows {opened & wanted}", file=out)
        if verdict.note:
            print(f"    - {verdict.note}", file=out)
    else:
        extra = f"; rules admit only {verdict.ports}" if verdict.ports else "; no rule admits this peer"
        print(f"  {title}: BLOCKED (isolated by {names}{extra})", file=out)


def _external(out: IO[str], network: Network, workload: Workload, other: Endpoint, wanted: PortSet,
              egress: bool) -> PortSet:
    klass = network.classes[workload.klass]
    blocks = network.egress_blocks(klass.index) if egress else network.ingress_blocks(klass.index)
    title = f"egress of {workload.label}" if egress else f"ingress of {workload.label}"
    isolated = klass.egress_isolated if egress else klass.ingress_isolated
    if not isolated:
        why = "hostNetwork pods are not isolated" if klass.host_network else "no policy isolates it"
        print(f"  {title}: open ({why})", file=out)
    direction = "egress" if egress else "ingress"
    if other.name == "internet":
        relevant = [(b, p, r) for b, p, r in blocks if internet_open([b]) and p & wanted]
        result = PortSet()
        for block, ports, rules in relevant:
            result = result | (ports & wanted)
            _block_line(out, block, ports & wanted, _deciding(rules, wanted, None if egress else klass.named_ports),
                        network.undecided_reason(klass.index, direction))
        if not relevant:
            narrow = [str(b) for b, _, _ in blocks]
            print(f"  {title}: no broad public address block allowed"
                  + (f" (only {', '.join(narrow)})" if narrow else ""), file=out)
        return result
    decisions = network.address_decisions(klass.index, direction, other.networks or (),
                                          nodes=other.name == "nodes") if isolated else None
    if decisions is not None:
        return _decided(out, title, other.name, decisions, wanted, direction)
    result = PortSet()
    if other.name == "nodes":
        # Node addresses are unknown: any allowed block overlapping the private ranges counts.
        for block, ports, rules in blocks:
            if any(block_overlaps(block, n) for n in other.networks or ()) and ports & wanted:
                result = result | (ports & wanted)
                _block_line(out, block, ports & wanted, _deciding(rules, wanted, None if egress else klass.named_ports))
        if not result and isolated:
            print(f"  {title}: BLOCKED (no rule admits node addresses)", file=out)
        return result
    addresses = [n.network_address for n in (other.networks or ())]
    elsewhere = PortSet()  # what the blocks holding the address allow on ports not asked about
    for block, ports, rules in blocks:
        if not any(block.contains(a) for a in addresses):
            continue
        elsewhere = elsewhere | ports
        if ports & wanted:
            result = result | (ports & wanted)
            _block_line(out, block, ports & wanted, _deciding(rules, wanted, None if egress else klass.named_ports))
    if not result and isolated:
        query = "" if wanted is ALL_PORTS else f" on {wanted}"
        extra = f"; rules admit it only on {elsewhere}" if elsewhere else ""
        print(f"  {title}: BLOCKED (no rule admits {other.name}{query}{extra})", file=out)
    return result


def _deciding(rules: list, wanted: PortSet, named: dict | None) -> list:
    """The rules of ``rules`` that open some port of ``wanted`` (named ports resolve in ``named``,
    the destination pod; towards an address they open nothing)."""
    return [r for r in rules if r.resolve_ports(named) & wanted]


def _decided(out: IO[str], title: str, what: str, decisions: list[tuple[list[IPBlock], Decision]], wanted: PortSet,
             direction: str) -> PortSet:
    """Explain how the layers decide the addresses of ``what`` on the ports ``wanted``: per group of
    blocks decided alike, each rule that decided some wanted port and what no rule decided."""
    result = PortSet()
    lines = []
    for blocks, found in decisions:
        allowed = found.allowed & wanted
        result = result | allowed
        where = ", ".join(str(b) for b in blocks[:4]) + (f" and {len(blocks) - 4} more" if len(blocks) > 4 else "")
        lines.append(f"    - {where}: {'allows ' + str(allowed) if allowed else 'BLOCKED'}")
        for rule, action, decided in found.steps:
            if decided & wanted:
                lines.append(f"      - {rule.label} ({rule.where}): {action} {decided & wanted}")
        note = default_note(found, direction, wanted)
        if note:
            lines.append(f"      - {note}")
    print(f"  {title} ({what}): {'allows ' + str(result) if result else 'BLOCKED'}", file=out)
    for line in lines:
        print(line, file=out)
    return result


def _block_line(out: IO[str], block: IPBlock, ports: PortSet, rules: Iterable,
                reason: str = "no rule decides it and nothing isolates the pod for it") -> None:
    why = ", ".join(r.label for r in rules) or reason
    print(f"    - {block}: {ports} ({why})", file=out)


__all__ = ["MATRIX_FORMATS", "explain", "register", "split_port"]
