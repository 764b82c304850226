"""Network separation (NSA-NET-6, -7, -9, -31) and resource policies (NSA-NET-10, -11).

The NetworkPolicy controls ask the reachability engine what traffic is really allowed
instead of asking "does some policy exist". Cilium, Calico and AdminNetworkPolicy rules are
evaluated in the same engine, layer by layer (analysis.precedence); the parts of them that
are not evaluated are listed by KH-NET-014.

Namespaces considered are those with workloads or a Namespace object in the input;
the configured ``system_namespaces`` are left to KH-NET-005 (reachability of system
components) instead of the per-namespace and per-workload controls.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from functools import partial
from dataclasses import dataclass

from kubeharden.analysis.external import METADATA, NODE_NETWORKS, block_internet_open, block_overlaps
from kubeharden.analysis.ingress_exposure import DEFAULT_CONTROLLERS
from kubeharden.analysis.policies import IPBlock, NetworkPolicyRule, Policy, PolicyError, error_line
from kubeharden.analysis.ports import NO_PORTS, PortSet
from kubeharden.analysis.precedence import Decision, Layer, decide
from kubeharden.analysis.reachability import (
    DEFAULT_NAMESPACE,
    NAME_LABEL,
    Network,
    PodClass,
    Workload,
    default_note,
    is_namespace_key,
    parse_any_policy,
)
from kubeharden.checks.context import Context
from kubeharden.checks.registry import check
from kubeharden.model.controls import Violation
from kubeharden.model.fieldpath import join
from kubeharden.model.inventory import Inventory, PodRecord
from kubeharden.model.memo import IdentityMemo
from kubeharden.model.network import IngressController, IPNetwork
from kubeharden.model.objects import K8sObject, Provenance, as_dict, as_list, make_ref

DNS_PORTS = PortSet.of("UDP", 53) | PortSet.of("TCP", 53)
#: The kubelet API (10250) and its deprecated read-only port (10255): Kubernetes "Ports and Protocols".
KUBELET_PORTS = PortSet.of("TCP", 10250) | PortSet.of("TCP", 10255)
_FRESH_NAMESPACE = "kubeharden-any-future-namespace"


# -- shared plumbing ---------------------------------------------------------------------------

def network_of(inventory: Inventory, ctx: Context) -> Network:
    """One engine per inventory and ingress-controller setting, shared by the controls of a scan
    (memo in ``ctx.scan``, never in a module variable)."""
    controllers = ctx.config.ingress_controllers or DEFAULT_CONTROLLERS
    engines: dict[tuple[IngressController, ...], Network] = ctx.scan.memo("network", inventory, lambda _: {})
    if controllers not in engines:
        engines.clear()
        engines[controllers] = Network(inventory, controllers)
    return engines[controllers]


@dataclass(slots=True)
class NamespaceUnit:
    name: str
    obj: K8sObject  # the Namespace object, or a stand-in placed at its first workload
    declared: bool


def user_namespaces(inventory: Inventory, ctx: Context) -> list[NamespaceUnit]:
    """Namespaces with workloads or a Namespace object, minus the configured system ones."""
    units: dict[str, NamespaceUnit] = {}
    for obj in inventory.of_kind("Namespace"):
        units.setdefault(obj.name, NamespaceUnit(obj.name, obj, True))
    for pod in inventory.pods:
        ns = pod.namespace or DEFAULT_NAMESPACE
        if ns not in units:
            raw = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            units[ns] = NamespaceUnit(ns, K8sObject(raw, make_ref(raw), Provenance(pod.origin.file, pod.origin.line,
                                                                                 pod.origin.source)), False)
    return [u for name, u in sorted(units.items()) if name not in ctx.config.system_namespaces]


def _where(unit: NamespaceUnit) -> str:
    return "" if unit.declared else " (no Namespace object in the input; shown at its first workload)"


def _user_workloads(network: Network, ctx: Context) -> Iterator[tuple[Workload, PodClass]]:
    for w in network.workloads:
        if w.namespace in ctx.config.system_namespaces or w.modelled:
            continue
        yield w, network.classes[w.klass]


def _record(w: Workload) -> PodRecord:
    assert w.record is not None
    return w.record


# -- default deny (NSA-NET-6) --------------------------------------------------------------------

def _default_deny(inventory: Inventory, ctx: Context, direction: str) -> Iterator[Violation]:
    network = network_of(inventory, ctx)
    types = "Ingress" if direction == "ingress" else "Egress"
    by_namespace: dict[str, list[Policy]] = defaultdict(list)
    for policy in network.policies:
        by_namespace[policy.namespace].append(policy)
    cluster_wide = [p for p in network.policies if p.cluster_wide]
    for unit in user_namespaces(inventory, ctx):
        mine = by_namespace.get(unit.name, [])
        whole = [p for p in [*mine, *cluster_wide] if _selects_whole_namespace(network, p, unit.name)]
        layers = _namespace_layers(whole, direction)
        found = decide(layers, lambda r: _admits_every_namespace(network, r), {})
        if layers and not found.allowed.is_all:
            continue
        open_rules = [r for r, action, _ in found.steps if action == "Allow"]
        if open_rules:
            why = (f"{open_rules[0].label} applies to every pod but allows all {direction} from everywhere "
                   f"(an empty rule {{}} or a peer matching every namespace), so nothing is denied")
        elif whole:
            why = (f"the policies applying to every pod ({', '.join(p.label for p in whole[:3])}) do not isolate "
                   f"{types}")
        elif mine:
            why = (f"its policies ({_count_kinds(mine)}) select only some pods or do not isolate {types}; "
                   "pods they do not select accept all " + direction)
        else:
            why = f"no NetworkPolicy in namespace {unit.name!r}: every pod accepts all {direction}"
        yield Violation(f"namespace {unit.name!r} has no default-deny {types} policy: {why}{_where(unit)}",
                        unit.obj.origin.line, obj=unit.obj,
                        remediation=f"Add a policy selecting every pod (or run `kubeharden generate netpol -n "
                                    f"{unit.name}`):\n" + _deny_yaml(unit.name, types))


def _count_kinds(policies: list[Policy]) -> str:
    """``"1 CiliumNetworkPolicy, 2 NetworkPolicies"``: the policy objects by kind (a Cilium object
    with several ``specs`` counts once)."""
    objects = {id(p.obj): p.kind for p in policies}
    counts: dict[str, int] = defaultdict(int)
    for kind in objects.values():
        counts[kind] += 1
    parts = []
    for kind, n in sorted(counts.items()):
        at = kind.rfind("Policy")
        plural = kind[:at] + "Policies" + kind[at + len("Policy"):] if at >= 0 else kind
        parts.append(f"{n} {kind if n == 1 else plural}")
    return ", ".join(parts)


def _selects_whole_namespace(network: Network, policy: Policy, namespace: str) -> bool:
    """True when the policy applies to every pod of ``namespace``, including pods added later."""
    if policy.cluster_wide:
        if policy.namespace_selector is not None and namespace not in network.namespaces_matching(
                policy.namespace_selector):
            return False
    elif policy.namespace != namespace:
        return False
    selector = policy.pod_selector
    if getattr(selector, "is_empty", False):
        return True
    if not policy.extended or not hasattr(selector, "keys"):
        return False
    # Cilium and Calico select namespaces through pod selectors too (io.kubernetes.pod.namespace,
    # projectcalico.org/namespace): such a selector covers every pod when it reads nothing else.
    return all(is_namespace_key(k) for k in selector.keys()) and \
        selector.matches(network.extended_labels_of(namespace, {}, "default"))


def _namespace_layers(policies: list[Policy], direction: str) -> list[Layer]:
    """The layers formed by ``policies`` alone, for one direction of a pod they all select."""
    layers: dict[str, Layer] = {}
    for p in policies:
        rules = p.ingress if direction == "ingress" else p.egress
        isolates = p.isolates_ingress if direction == "ingress" else p.isolates_egress
        if not (rules or isolates):
            continue
        layer = layers.setdefault(p.layer, Layer(p.layer, p.layer_order, p.layer_passes))
        layer.isolated |= isolates
        layer.rules.extend(r for r in rules if r.own_selector is None)
    out = sorted(layers.values(), key=lambda layer: layer.order)
    for layer in out:
        layer.rules.sort(key=lambda r: r.sort_key)
    return out


def _deny_yaml(namespace: str, types: str) -> str:
    return (f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: default-deny-"
            f"{types.lower()}\n  namespace: {namespace}\nspec:\n  podSelector: {{}}\n  policyTypes: [{types}]\n")


@check("KH-NET-001")
def default_deny_ingress(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    return _default_deny(inventory, ctx, "ingress")


@check("KH-NET-002")
def default_deny_egress(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    return _default_deny(inventory, ctx, "egress")


@check("KH-NET-003")
def workload_not_isolated(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    network = network_of(inventory, ctx)
    for w, klass in _user_workloads(network, ctx):
        record = _record(w)
        if w.host_network:
            yield Violation("the pod uses the host network: NetworkPolicy neither isolates it nor recognises it "
                            "as a pod, so its traffic is not separated", record.spec_line, obj=record)
            continue
        missing = [t for t, isolated in (("Ingress", klass.ingress_isolated), ("Egress", klass.egress_isolated))
                   if not isolated]
        if missing:
            yield Violation(f"no NetworkPolicy (nor AdminNetworkPolicy, Cilium or Calico policy) selects this "
                            f"workload for {' or '.join(missing)}: its pods accept all "
                            f"{' and '.join(m.lower() for m in missing)} traffic", record.spec_line, obj=record)


# -- what the policies open ------------------------------------------------------------------------

def _admits_every_namespace(network: Network, rule: NetworkPolicyRule) -> bool:
    """True when the rule admits any pod of every namespace, including ones created later."""
    if rule.peers is None:
        return True
    for peer in rule.peers:
        if peer.ip_block is not None:
            if peer.ip_matches_pods and peer.ip_block.cidr.prefixlen == 0:
                return True
            continue
        if peer.nodes is not None or peer.not_selector is not None:
            continue
        if peer.pod_selector is not None and not peer.pod_selector.is_empty:
            continue
        if peer.namespace_selector is None:
            if peer.any_namespace:
                return True
            continue
        fresh = {NAME_LABEL: _FRESH_NAMESPACE}
        if peer.namespace_selector.matches(fresh) and \
                len(network.namespaces_matching(peer.namespace_selector)) == len(network.namespaces):
            return True
    return False


def _per_rule(test: Callable[[NetworkPolicyRule], bool]) -> Callable[[NetworkPolicyRule], bool]:
    """``test`` asked once per rule: a rule applies to every workload its policy selects, so one control
    run asks about it once per workload. The answers live as long as the function returned."""
    known: IdentityMemo[bool] = IdentityMemo()
    return lambda rule: known.get(rule, None, partial(test, rule))


@check("KH-NET-004")
def reachable_from_every_namespace(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    network = network_of(inventory, ctx)
    admits_every_namespace = _per_rule(lambda r: _admits_every_namespace(network, r))
    for w, klass in _user_workloads(network, ctx):
        if not klass.ingress_isolated:
            continue  # KH-NET-003 reports unisolated workloads
        if network.layered:
            found = decide(klass.ingress_layers, admits_every_namespace, klass.named_ports)
            wide: list[tuple[NetworkPolicyRule | None, PortSet]] = [(r, p) for r, action, p in found.steps
                                                                    if action == "Allow"]
            if found.by_default and klass.ingress_layers:
                wide.append((None, found.by_default))
        else:
            wide = [(r, r.resolve_ports(klass.named_ports)) for r in klass.ingress_rules
                    if admits_every_namespace(r)]
            wide = [(r, p) for r, p in wide if p]
        if wide:
            ports = NO_PORTS
            for _, p in wide:
                ports = ports | p
            rules = ", ".join(f"{r.label} ({r.where})" if r is not None else
                              f"no rule deciding {p} (left open by every layer)" for r, p in wide)
            yield Violation(f"any pod of any namespace (including namespaces created later) may connect on "
                            f"{ports}: allowed by {rules}", _record(w).spec_line, obj=_record(w),
                            remediation="Name the client namespaces (namespaceSelector on kubernetes.io/"
                                        "metadata.name) and client pods (podSelector) in the same peer, e.g. "
                                        "from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: "
                                        "frontend}}, podSelector: {matchLabels: {app: web}}}]")


def _is_dns(klass: PodClass) -> bool:
    return klass.labels.get("k8s-app") == "kube-dns" or any(name in ("dns", "dns-tcp")
                                                           for name, _ in klass.named_ports)


@check("KH-NET-005")
def system_reachable(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    network = network_of(inventory, ctx)
    system = set(ctx.config.system_namespaces)
    user_classes = [c for c in network.classes if c.namespace not in system]
    user_namespaces_ = [n for n in network.namespaces if n not in system]
    for w in network.workloads:
        if w.namespace not in system or w.host_network or w.modelled:
            continue
        klass = network.classes[w.klass]
        expected = DNS_PORTS if _is_dns(klass) else NO_PORTS
        if not klass.ingress_isolated:
            yield Violation(f"no NetworkPolicy isolates this {w.namespace} workload: pods of every namespace "
                            f"({', '.join(sorted(user_namespaces_)[:5]) or 'any user namespace'}"
                            f"{', …' if len(user_namespaces_) > 5 else ''}) may connect on any port",
                            _record(w).spec_line, obj=_record(w))
            continue
        if network.layered:
            openings = _layered_openings(network, klass, user_classes, expected)
        else:
            openings = _openings(network, klass, user_classes, expected)
        if openings:
            yield Violation(f"user namespaces can reach this {w.namespace} workload: {'; '.join(openings)}",
                            _record(w).spec_line, obj=_record(w))


def _layered_openings(network: Network, klass: PodClass, clients: list[PodClass], expected: PortSet) -> list[str]:
    """What each user class may open on ``klass`` as the layers decide, grouped by ports and rules."""
    grouped: dict[tuple[PortSet, str], list[str]] = defaultdict(list)
    for client in clients:
        verdict = network.ingress_verdict(client.index, klass.index)
        ports = verdict.ports - expected
        if not ports:
            continue
        rules = ", ".join(sorted({f"{r.label} ({r.where})" for r, p in verdict.allowing if p & ports}))
        if verdict.decision is not None:  # the rules that allowed these ports, and what allowed the rest
            why = "; ".join(x for x in (rules, default_note(verdict.decision, "ingress", ports)) if x)
        else:
            why = rules or verdict.note
        grouped[(ports, why)].append(network.workloads[client.members[0]].label)
    out = []
    for (ports, why), names in grouped.items():
        more = " …" if len(names) > 3 else ""
        out.append(f"{', '.join(sorted(names)[:3])}{more} on {ports} ({why})")
    return out


def _openings(network: Network, klass: PodClass, user_classes: list[PodClass], expected: PortSet) -> list[str]:
    """What the NetworkPolicy rules of ``klass`` open to user classes (union of allows)."""
    openings: list[str] = []
    for rule in klass.ingress_rules:
        ports = rule.resolve_ports(klass.named_ports)
        ports = ports - expected
        if not ports:
            continue
        clients = [c for c in user_classes if network.peer_mask(rule) >> c.index & 1]
        if rule.peers is None or _admits_every_namespace(network, rule):
            openings.append(f"{rule.label} ({rule.where}) admits every namespace on {ports}")
        elif clients:
            names = sorted({network.workloads[c.members[0]].label for c in clients})
            more = " …" if len(names) > 3 else ""
            openings.append(f"{rule.label} ({rule.where}) admits {', '.join(names[:3])}{more} on {ports}")
    return openings


def _why_open(w: Workload) -> str:
    return "it uses the host network" if w.host_network else "no NetworkPolicy restricts its egress"


@check("KH-NET-006")
def internet_egress(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    network = network_of(inventory, ctx)
    for w, klass in _user_workloads(network, ctx):
        record = _record(w)
        if not klass.egress_isolated:
            yield Violation(f"egress to the internet is open: {_why_open(w)}", record.spec_line, obj=record)
            continue
        wide = [(b, p, r) for b, p, r in network.egress_blocks(klass.index) if block_internet_open(b)]
        if wide:
            reason = network.undecided_reason(klass.index, "egress")
            detail = "; ".join(f"{b} on {p} " + (f"by {', '.join(f'{x.label} ({x.where})' for x in r)}" if r
                                                 else f"({reason})") for b, p, r in wide)
            yield Violation(f"egress to the internet is allowed: {detail}", record.spec_line, obj=record,
                            remediation="Allow only the external addresses the workload needs (ipBlock with "
                                        "narrow CIDRs), or route it through an egress proxy")


@check("KH-NET-007")
def metadata_egress(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    network = network_of(inventory, ctx)
    for w, klass in _user_workloads(network, ctx):
        record = _record(w)
        if not klass.egress_isolated:
            yield Violation(f"the cloud metadata service ({METADATA[0].network_address}) is reachable: "
                            f"{_why_open(w)}", record.spec_line, obj=record)
            continue
        for net in METADATA:
            ports, rules = network.egress_to_address(klass.index, net.network_address)
            if not ports:
                continue
            explicit = [r for r in rules for p in r.peers or () if p.ip_block and p.ip_block.cidr.prefixlen >=
                        (16 if net.version == 4 else 64) and p.ip_block.contains(net.network_address)]
            if not rules:
                how = network.undecided_reason(klass.index, "egress")
            elif explicit:
                how = f"explicitly allowed by {', '.join(sorted({f'{r.label} ({r.where})' for r in explicit}))}"
            elif any(r.peers is None for r in rules):
                how = (f"allowed by {', '.join(sorted({f'{r.label} ({r.where})' for r in rules}))}, which has no "
                       "'to' and so allows every destination")
            else:
                how = (f"allowed by {', '.join(sorted({f'{r.label} ({r.where})' for r in rules}))}, whose address "
                       f"block does not except {net}")
            yield Violation(f"the cloud metadata service {net.network_address} is reachable on {ports}: {how}",
                            record.spec_line, obj=record,
                            remediation=f"Add `except: [{net}]` to every wide ipBlock in egress rules and remove "
                                        "rules that allow the metadata address; workloads that need cloud "
                                        "credentials should use workload identity instead")
            break


@check("KH-NET-014")
def not_evaluated(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    network = network_of(inventory, ctx)
    for policy, notes in network.not_evaluated():
        shown = "; ".join(notes[:6]) + (f"; and {len(notes) - 6} more" if len(notes) > 6 else "")
        yield Violation(f"{policy.label}: parts not evaluated by kubeharden: {shown}", policy.obj.origin.line,
                        obj=policy.obj)


@check("KH-NET-015")
def invalid_policy(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    try:
        parse_any_policy(obj)
    except PolicyError as exc:
        yield Violation(f"invalid {obj.kind}: {exc}; the API server rejects it, so it protects nothing",
                        error_line(obj, exc))


@check("KH-NET-016")
def kubelet_egress(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    network = network_of(inventory, ctx)
    for w, klass in _user_workloads(network, ctx):
        record = _record(w)
        if w.host_network:
            continue  # KH-NET-003 reports it; its traffic is the node's own
        if not klass.egress_isolated:
            yield Violation(f"the kubelet API ({KUBELET_PORTS}) of every node is reachable: "
                            f"{_why_open(w)}", record.spec_line, obj=record)
            continue
        node_networks = ctx.config.node_networks or NODE_NETWORKS
        decisions = network.address_decisions(klass.index, "egress", node_networks, nodes=True)
        if decisions is not None:
            ports, reasons = _kubelet_decided(decisions)
        else:
            ports, reasons = _kubelet_blocks(network.egress_blocks(klass.index), node_networks)
        if reasons:
            yield Violation(f"egress reaches the kubelet API on node addresses ({ports}): {'; '.join(reasons)}",
                            record.spec_line, obj=record,
                            remediation="Except the node subnets from wide ipBlocks (except: [NODE_CIDR]) and do "
                                        "not allow nodes or host entities on TCP 10250/10255; pods never need the "
                                        "kubelet API")


def _kubelet_blocks(blocks: list[tuple[IPBlock, PortSet, list[NetworkPolicyRule]]],
                    node_networks: tuple[IPNetwork, ...]) -> tuple[PortSet, list[str]]:
    """Kubelet ports allowed towards node address space when only NetworkPolicies decide (the
    union of the allowed blocks overlapping ``node_networks``), with a reason per block."""
    reasons: list[str] = []
    ports = NO_PORTS
    for block, opened, rules in blocks:
        hit = opened & KUBELET_PORTS
        nodes = [str(n) for n in node_networks if block_overlaps(block, n)]
        if hit and nodes:
            ports = ports | hit
            by = ", ".join(f"{r.label} ({r.where})" for r in rules) or "no rule (not isolated)"
            reasons.append(f"{block} on {hit} ({by}) covers node address space {', '.join(nodes[:3])}")
    return ports, reasons


def _kubelet_decided(decisions: list[tuple[list[IPBlock], Decision]]) -> tuple[PortSet, list[str]]:
    """Kubelet ports the layers allow towards node addresses (AdminNetworkPolicy Deny and
    Allow come first, then NetworkPolicies, then the baseline: analysis.precedence), with a reason
    per group of node address blocks decided alike."""
    reasons: list[str] = []
    ports = NO_PORTS
    for blocks, found in decisions:
        hit = found.allowed & KUBELET_PORTS
        if not hit:
            continue
        ports = ports | hit
        by = sorted({f"{r.label} ({r.where})" for r, a, p in found.steps if a == "Allow" and p & hit})
        if found.by_default & hit:
            by.append(f"{found.by_default & hit} decided by no rule and nothing isolates the pod for egress")
        where = ", ".join(str(b) for b in blocks[:3]) + (" …" if len(blocks) > 3 else "")
        reasons.append(f"node addresses in {where} on {hit} ({'; '.join(by)})")
    return ports, reasons


# -- exposure (NSA-NET-9) ---------------------------------------------------------------------------

@check("KH-NET-017")
def exposed_through_ingress(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    network = network_of(inventory, ctx)
    seen: set[tuple[int, str, str, str]] = set()
    for exposure in network.exposures():
        for wi in exposure.target.members:
            w = network.workloads[wi]
            key = (wi, exposure.backend.label, exposure.backend.service, str(exposure.ports))
            if w.modelled or key in seen:
                continue  # the same route written twice in the input
            seen.add(key)
            source = exposure.source
            how = "modelled: no pod of it is in the input" if source.modelled else f"pods of {source.label}"
            hosts = sorted({str(as_dict(r).get("host")) for r in as_list(_spec(exposure.backend.route).get("rules"))
                            if as_dict(r).get("host")})
            yield Violation(f"reachable from the internet on {exposure.ports} through {exposure.backend.label}"
                            f"{' (' + ', '.join(hosts[:3]) + ')' if hosts else ''} -> Service "
                            f"{exposure.backend.namespace}/{exposure.backend.service}, proxied by the "
                            f"{exposure.controller.name} ingress controller in namespace "
                            f"{exposure.controller.namespace} ({how})", _record(w).spec_line, obj=_record(w),
                            remediation="Make sure the exposure is intended: serve it over TLS, authenticate "
                                        "at the controller, and let the workload's ingress policy admit only the "
                                        "controller's pods on the target port")


def _spec(obj: K8sObject) -> dict:
    return as_dict(obj.raw.get("spec"))


def _host_covered(host: str, tls_hosts: list[str]) -> bool:
    for pattern in tls_hosts:
        if pattern == host:
            return True
        if pattern.startswith("*.") and host.count(".") == pattern.count(".") and host.endswith(pattern[1:]):
            return True
    return False


@check("KH-NET-011")
def ingress_tls(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    spec = _spec(obj)
    tls = [as_dict(t) for t in as_list(spec.get("tls"))]
    if not tls:
        yield Violation("Ingress has no tls section: its hosts are served over plain HTTP",
                        obj.line(spec or None, "rules"), path=join("spec", "tls"))
        return
    if any(not as_list(t.get("hosts")) for t in tls):
        return  # a tls entry without hosts covers every host with the controller's certificate
    tls_hosts = [str(h) for t in tls for h in as_list(t.get("hosts"))]
    hosts = [str(as_dict(r).get("host")) for r in as_list(spec.get("rules")) if as_dict(r).get("host")]
    uncovered = [h for h in hosts if not _host_covered(h, tls_hosts)]
    if uncovered:
        yield Violation(f"Ingress hosts without TLS: {', '.join(uncovered)}", obj.line(spec, "tls"),
                        path=join("spec", "tls"))


# -- resource policies (NSA-NET-10, -11) -----------------------------------------------------------

LIMIT_FIELDS = ("default", "defaultRequest", "max")


def _by_namespace(inventory: Inventory, kind: str) -> dict[str, list[K8sObject]]:
    by_ns: dict[str, list[K8sObject]] = {}
    for obj in inventory.of_kind(kind):
        by_ns.setdefault(obj.namespace or DEFAULT_NAMESPACE, []).append(obj)
    return by_ns


def _limit_gaps(objs: list[K8sObject]) -> list[str]:
    """What the namespace's LimitRanges leave unset for containers (empty when complete)."""
    have: dict[str, set[str]] = {f: set() for f in LIMIT_FIELDS}
    for obj in objs:
        for item in as_list(_spec(obj).get("limits")):
            item = as_dict(item)
            if item.get("type") != "Container":
                continue
            for f in LIMIT_FIELDS:
                have[f].update(str(k) for k in as_dict(item.get(f)))
    return [f"{f}.{r}" for f in LIMIT_FIELDS for r in ("cpu", "memory") if r not in have[f]]


@check("KH-NET-012")
def limit_range(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    by_ns = _by_namespace(inventory, "LimitRange")
    for unit in user_namespaces(inventory, ctx):
        objs = by_ns.get(unit.name, [])
        if not objs:
            yield Violation(f"namespace {unit.name!r} has no LimitRange: containers without requests and limits "
                            f"run unbounded{_where(unit)}", unit.obj.origin.line, obj=unit.obj,
                            remediation=f"Add a LimitRange (see `kubeharden generate quotas`) to {unit.name}")
            continue
        gaps = _limit_gaps(objs)
        if gaps:
            yield Violation(f"the LimitRange of namespace {unit.name!r} sets no Container {', '.join(gaps)}",
                            objs[0].origin.line, obj=objs[0])


QUOTA_KEYS = {"requests.cpu": ("requests.cpu", "cpu"), "requests.memory": ("requests.memory", "memory"),
              "limits.cpu": ("limits.cpu",), "limits.memory": ("limits.memory",)}


@check("KH-NET-013")
def resource_quota(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    by_ns = _by_namespace(inventory, "ResourceQuota")
    for unit in user_namespaces(inventory, ctx):
        quotas = by_ns.get(unit.name, [])
        # Scoped quotas (scopes / scopeSelector) cap only some pods, so they do not count.
        unscoped = [q for q in quotas if not _spec(q).get("scopes") and not _spec(q).get("scopeSelector")]
        hard: set[str] = set()
        for q in unscoped:
            hard.update(str(k) for k in as_dict(_spec(q).get("hard")))
        missing = [key for key, names in QUOTA_KEYS.items() if not hard.intersection(names)]
        if not missing:
            continue
        if not quotas:
            what = "has no ResourceQuota"
        elif not unscoped:
            what = "has only scoped ResourceQuotas, which cap some pods only"
        else:
            what = "has ResourceQuotas that do not cap"
        target = unscoped[0] if unscoped else unit.obj
        yield Violation(f"namespace {unit.name!r} {what}: {', '.join(missing)} unbounded{_where(unit)}",
                        target.origin.line, obj=target,
                        remediation=f"Add a ResourceQuota with hard {', '.join(QUOTA_KEYS)} to {unit.name} "
                                    "(see `kubeharden generate quotas`)")
