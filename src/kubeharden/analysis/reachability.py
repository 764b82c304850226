"""Who can reach whom: Kubernetes NetworkPolicy evaluated over the workloads of an inventory.

A connection from pod S to pod D on a port is allowed only when **both** sides allow it:

* D's ingress: D is not selected by any policy with ``Ingress`` in its types, or some
  ingress rule of such a policy admits S on that port (the union of all policies);
* S's egress: likewise with the policies isolating S for ``Egress``.

Workloads are represented by their pod templates (namespace, labels, container ports),
so the analysis runs on manifests before anything is deployed. Pods with identical
namespace, labels, named ports and host networking behave identically; they are
grouped into *classes* and the matrix is computed over classes with bitsets (one bit
per class), then expanded to workloads.

Things deliberately treated the way clusters do:

* Namespaces are matched by their labels, including the automatic
  ``kubernetes.io/metadata.name``; a namespace referenced by an object but without a
  Namespace object in the input exists with just that label.
* A manifest without a namespace is taken to be in ``default``.
* ``ipBlock`` peers describe addresses outside the cluster; pod IPs are not matched
  against them (they are ephemeral), so pod-to-pod traffic is decided by selectors.
* ``hostNetwork`` pods use the node's address: policies neither isolate them nor
  match them with pod selectors. Only rules open to every peer reach them.
* A named port opens nothing towards an ``ipBlock`` (there is no pod to resolve it in).
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass, field
from collections.abc import Iterator

from kubeharden.analysis.policies import (
    ANY_IPV4,
    ANY_IPV6,
    IPBlock,
    Policy,
    PolicyError,
    NetworkPolicyRule,
    error_line,
    is_k8s_policy,
    other_engine,
    parse_policy,
)
from kubeharden.analysis.ports import ALL_PORTS, NO_PORTS, PortSet
from kubeharden.analysis.selectors import Selector
from kubeharden.findings import Problem
from kubeharden.inventory import Inventory, PodRecord
from kubeharden.model.objects import K8sObject, ResourceRef

NAME_LABEL = "kubernetes.io/metadata.name"
DEFAULT_NAMESPACE = "default"

NamedPorts = dict[tuple[str, str], frozenset[int]]


@dataclass(eq=False, slots=True)
class Workload:
    """A workload (or bare pod) as the network sees it."""

    index: int
    ref: ResourceRef
    namespace: str
    labels: dict[str, str]
    named_ports: NamedPorts
    host_network: bool
    record: PodRecord | None = None
    klass: int = -1

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.ref.kind}/{self.ref.name}"

    def to_json(self) -> dict[str, str]:
        return {"namespace": self.namespace, "kind": self.ref.kind, "name": self.ref.name}


@dataclass(eq=False, slots=True)
class PodClass:
    """Workloads that no policy can tell apart."""

    index: int
    namespace: str
    labels: dict[str, str]
    named_ports: NamedPorts
    host_network: bool
    members: list[int] = field(default_factory=list)
    ingress_policies: list[Policy] = field(default_factory=list)
    egress_policies: list[Policy] = field(default_factory=list)
    ingress_rules: list[NetworkPolicyRule] = field(default_factory=list)
    egress_rules: list[NetworkPolicyRule] = field(default_factory=list)

    @property
    def ingress_isolated(self) -> bool:
        return bool(self.ingress_policies)

    @property
    def egress_isolated(self) -> bool:
        return bool(self.egress_policies)


@dataclass(slots=True)
class Connection:
    src: Workload | IPBlock
    dst: Workload | IPBlock
    ports: PortSet

    def to_json(self) -> dict[str, object]:
        return {"src": self.src.to_json(), "dst": self.dst.to_json(), "ports": self.ports.to_json()}


@dataclass(slots=True)
class SideVerdict:
    """One direction of a connection: what allows it, or why it is blocked."""

    direction: str  # "egress" of the source or "ingress" of the destination
    isolated: bool
    policies: list[Policy]
    allowing: list[tuple[NetworkPolicyRule, PortSet]]
    ports: PortSet
    note: str = ""


class Network:
    """The policies and workloads of an inventory, ready for reachability questions."""

    def __init__(self, inventory: Inventory) -> None:
        self.problems: list[Problem] = []
        self.policies: list[Policy] = []
        self.other_policies: list[K8sObject] = []
        self.namespaces: dict[str, dict[str, str]] = {}
        self.workloads: list[Workload] = []
        self.classes: list[PodClass] = []
        self._ns_classes: dict[str, list[int]] = defaultdict(list)
        self._ns_match: dict[Selector, tuple[str, ...]] = {}
        self._peer_cache: dict[tuple[str, Selector | None, Selector | None], int] = {}
        self._load_namespaces(inventory)
        self._load_workloads(inventory)
        self._load_policies(inventory)
        self.all_mask = (1 << len(self.classes)) - 1
        self.pod_mask = sum(1 << c.index for c in self.classes if not c.host_network)
        self._attach_rules()

    # -- loading ------------------------------------------------------------------------

    def _load_namespaces(self, inventory: Inventory) -> None:
        for obj in inventory.of_kind("Namespace"):
            labels = dict(obj.labels)
            labels[NAME_LABEL] = obj.name  # set by the API server, whatever the manifest says
            self.namespaces[obj.name] = labels
        names = set(inventory.namespaces_seen) | {p.namespace or DEFAULT_NAMESPACE for p in inventory.pods}
        for kind, objs in inventory.objects.items():
            if kind != "Namespace":
                names.update(o.namespace or DEFAULT_NAMESPACE for o in objs
                             if kind not in ("ClusterRole", "ClusterRoleBinding", "Node")
                             and not kind.startswith(("CiliumClusterwide", "GlobalNetwork")))
        for name in names:
            self.namespaces.setdefault(name, {NAME_LABEL: name})

    def _load_workloads(self, inventory: Inventory) -> None:
        keys: dict[tuple[object, ...], PodClass] = {}
        for record in inventory.pods:
            named: dict[tuple[str, str], set[int]] = defaultdict(set)
            for port in record.ports:
                if port.name:
                    named[(port.name, port.protocol)].add(port.port)
            frozen = {k: frozenset(v) for k, v in named.items()}
            ns = record.namespace or DEFAULT_NAMESPACE
            w = Workload(len(self.workloads), record.ref, ns, dict(record.labels), frozen, record.host_network,
                         record)
            self.workloads.append(w)
            key = (ns, tuple(sorted(w.labels.items())), tuple(sorted((k, tuple(sorted(v)))
                                                                     for k, v in frozen.items())), w.host_network)
            klass = keys.get(key)
            if klass is None:
                klass = PodClass(len(self.classes), ns, w.labels, frozen, w.host_network)
                keys[key] = klass
                self.classes.append(klass)
                self._ns_classes[ns].append(klass.index)
            klass.members.append(w.index)
            w.klass = klass.index

    def _load_policies(self, inventory: Inventory) -> None:
        for obj in inventory.of_kind("NetworkPolicy", "CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy",
                                     "GlobalNetworkPolicy"):
            if other_engine(obj):
                self.other_policies.append(obj)
                continue
            if not is_k8s_policy(obj):
                continue
            try:
                self.policies.append(parse_policy(obj, DEFAULT_NAMESPACE))
            except PolicyError as exc:
                self.problems.append(Problem("error", "invalid-policy", f"{exc}; the API server would reject this "
                                             "policy, so it is left out of the analysis", file=obj.origin.file,
                                             line=error_line(obj, exc), resource=obj.ref))

    def _attach_rules(self) -> None:
        for policy in self.policies:
            for ci in self._bits(self.selected_mask(policy)):
                klass = self.classes[ci]
                if policy.isolates_ingress:
                    klass.ingress_policies.append(policy)
                    klass.ingress_rules.extend(policy.ingress)
                if policy.isolates_egress:
                    klass.egress_policies.append(policy)
                    klass.egress_rules.extend(policy.egress)

    # -- selection ------------------------------------------------------------------------

    def namespaces_matching(self, selector: Selector) -> tuple[str, ...]:
        found = self._ns_match.get(selector)
        if found is None:
            found = tuple(n for n, labels in self.namespaces.items() if selector.matches(labels))
            self._ns_match[selector] = found
        return found

    def _classes_in(self, namespace: str, selector: Selector | None) -> int:
        mask = 0
        for ci in self._ns_classes.get(namespace, ()):
            klass = self.classes[ci]
            if not klass.host_network and (selector is None or selector.matches(klass.labels)):
                mask |= 1 << ci
        return mask

    def selected_mask(self, policy: Policy) -> int:
        """The classes a policy applies to (never hostNetwork pods)."""
        return self._classes_in(policy.namespace, policy.pod_selector)

    def peer_mask(self, rule: NetworkPolicyRule) -> int:
        """The classes a rule's peers match (every class for a rule open to all peers)."""
        if rule.peers is None:
            return self.all_mask
        mask = 0
        for peer in rule.peers:
            if peer.ip_block is not None:
                continue
            key = (rule.policy.namespace, peer.pod_selector, peer.namespace_selector)
            cached = self._peer_cache.get(key)
            if cached is None:
                if peer.namespace_selector is None:
                    cached = self._classes_in(rule.policy.namespace, peer.pod_selector)
                else:
                    cached = 0
                    for ns in self.namespaces_matching(peer.namespace_selector):
                        cached |= self._classes_in(ns, peer.pod_selector)
                self._peer_cache[key] = cached
            mask |= cached
        return mask

    def rule_blocks(self, rule: NetworkPolicyRule) -> list[IPBlock]:
        if rule.peers is None:
            return [ANY_IPV4, ANY_IPV6]
        return [p.ip_block for p in rule.peers if p.ip_block is not None]

    @staticmethod
    def _bits(mask: int) -> Iterator[int]:
        while mask:
            low = mask & -mask
            yield low.bit_length() - 1
            mask ^= low

    # -- one direction ----------------------------------------------------------------------

    def ingress_verdict(self, src: int, dst: int) -> SideVerdict:
        """What ``dst``'s ingress admits from class ``src``."""
        d = self.classes[dst]
        return self._verdict("ingress", d, d.ingress_policies, d.ingress_rules, src, d.named_ports)

    def egress_verdict(self, src: int, dst: int) -> SideVerdict:
        """What ``src``'s egress allows towards class ``dst`` (named ports resolve in ``dst``)."""
        s = self.classes[src]
        return self._verdict("egress", s, s.egress_policies, s.egress_rules, dst, self.classes[dst].named_ports)

    def _verdict(self, direction: str, own: PodClass, policies: list[Policy], rules: list[NetworkPolicyRule], peer: int,
                 named: NamedPorts) -> SideVerdict:
        if not policies:
            note = "hostNetwork pods are not isolated by NetworkPolicy" if own.host_network else \
                f"no NetworkPolicy selects it for {direction.capitalize()}"
            return SideVerdict(direction, False, [], [], ALL_PORTS, note)
        allowing = []
        ports = NO_PORTS
        for rule in rules:
            if self.peer_mask(rule) >> peer & 1:
                opened = rule.resolve_ports(named)
                if opened:
                    allowing.append((rule, opened))
                    ports = ports | opened
        return SideVerdict(direction, True, list(policies), allowing, ports)

    def egress_blocks(self, src: int) -> list[tuple[IPBlock, PortSet, list[NetworkPolicyRule]]]:
        """External address blocks class ``src`` may send to, with ports and the rules."""
        s = self.classes[src]
        if not s.egress_isolated:
            return [(ANY_IPV4, ALL_PORTS, []), (ANY_IPV6, ALL_PORTS, [])]
        return self._blocks(s.egress_rules)

    def ingress_blocks(self, dst: int) -> list[tuple[IPBlock, PortSet, list[NetworkPolicyRule]]]:
        """External address blocks that may connect to class ``dst``."""
        d = self.classes[dst]
        if not d.ingress_isolated:
            return [(ANY_IPV4, ALL_PORTS, []), (ANY_IPV6, ALL_PORTS, [])]
        return self._blocks(d.ingress_rules, d.named_ports)

    def _blocks(self, rules: list[NetworkPolicyRule], named: NamedPorts | None = None
                ) -> list[tuple[IPBlock, PortSet, list[NetworkPolicyRule]]]:
        found: dict[IPBlock, tuple[PortSet, list[NetworkPolicyRule]]] = {}
        for rule in rules:
            blocks = self.rule_blocks(rule)
            if not blocks:
                continue
            opened = rule.resolve_ports(named)
            if not opened:
                continue
            for block in blocks:
                ports, why = found.get(block, (NO_PORTS, []))
                found[block] = (ports | opened, [*why, rule])
        return [(b, p, r) for b, (p, r) in found.items()]

    def egress_to_address(self, src: int, address: ipaddress.IPv4Address | ipaddress.IPv6Address
                          ) -> tuple[PortSet, list[NetworkPolicyRule]]:
        """Ports class ``src`` may use towards one outside address, and the rules allowing them."""
        return self._address(self.egress_blocks(src), address)

    def ingress_from_address(self, dst: int, address: ipaddress.IPv4Address | ipaddress.IPv6Address
                             ) -> tuple[PortSet, list[NetworkPolicyRule]]:
        """Ports of class ``dst`` one outside address may connect to, and the rules allowing them."""
        return self._address(self.ingress_blocks(dst), address)

    @staticmethod
    def _address(blocks: list[tuple[IPBlock, PortSet, list[NetworkPolicyRule]]],
                 address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[PortSet, list[NetworkPolicyRule]]:
        ports, rules = NO_PORTS, []
        for block, opened, why in blocks:
            if block.contains(address):
                ports = ports | opened
                rules.extend(why)
        return ports, rules

    # -- the matrix -------------------------------------------------------------------------

    def class_pairs(self) -> Iterator[tuple[int, int, PortSet]]:
        """Every ordered pair of classes with the ports both sides allow (non-empty only)."""
        n = len(self.classes)
        # Which sources' egress can reach each destination at all (peers only, ports later).
        reach_in: list[int] = [0] * n
        open_egress = sum(1 << c.index for c in self.classes if not c.egress_isolated)
        for policy in self.policies:
            if not policy.isolates_egress or not policy.egress:
                continue
            sources = self.selected_mask(policy)
            if not sources:
                continue
            for rule in policy.egress:
                for d in self._bits(self.peer_mask(rule)):
                    reach_in[d] |= sources
        for d in range(n):
            klass = self.classes[d]
            if klass.ingress_isolated:
                admitted = 0
                for rule in klass.ingress_rules:
                    admitted |= self.peer_mask(rule)
            else:
                admitted = self.all_mask
            candidates = admitted & (reach_in[d] | open_egress)
            in_cache: dict[tuple[int, ...], PortSet] = {}
            for s in self._bits(candidates):
                ingress = self._side_ports(klass.ingress_isolated, klass.ingress_rules, s, klass.named_ports,
                                           in_cache)
                if not ingress:
                    continue
                src = self.classes[s]
                egress = self._side_ports(src.egress_isolated, src.egress_rules, d, klass.named_ports, None)
                ports = ingress & egress
                if ports:
                    yield s, d, ports

    def _side_ports(self, isolated: bool, rules: list[NetworkPolicyRule], peer: int, named: NamedPorts,
                    cache: dict[tuple[int, ...], PortSet] | None) -> PortSet:
        if not isolated:
            return ALL_PORTS
        hits = tuple(i for i, rule in enumerate(rules) if self.peer_mask(rule) >> peer & 1)
        if cache is not None and hits in cache:
            return cache[hits]
        ports = NO_PORTS
        for i in hits:
            ports = ports | rules[i].resolve_ports(named)
        if cache is not None:
            cache[hits] = ports
        return ports

    def connections(self, namespaces: set[str] | None = None, external: bool = True) -> Iterator[Connection]:
        """Allowed connections between workloads, then to and from external address blocks.

        With ``namespaces``, only connections with at least one end in them are listed.
        """
        def wanted(klass: PodClass) -> bool:
            return namespaces is None or klass.namespace in namespaces

        for s, d, ports in self.class_pairs():
            sk, dk = self.classes[s], self.classes[d]
            if not (wanted(sk) or wanted(dk)):
                continue
            for si in sk.members:
                for di in dk.members:
                    yield Connection(self.workloads[si], self.workloads[di], ports)
        if not external:
            return
        for klass in self.classes:
            if not wanted(klass):
                continue
            for block, ports, _ in self.egress_blocks(klass.index):
                for wi in klass.members:
                    yield Connection(self.workloads[wi], block, ports)
            for block, ports, _ in self.ingress_blocks(klass.index):
                for wi in klass.members:
                    yield Connection(block, self.workloads[wi], ports)

    # -- lookups -----------------------------------------------------------------------------

    def find_workloads(self, spec: str) -> list[Workload]:
        """Workloads named by ``NS/KIND/NAME``, ``NS/NAME``, ``KIND/NAME`` or ``NAME`` (any namespace)."""
        parts = spec.split("/")
        out = []
        for w in self.workloads:
            if len(parts) == 3:
                ok = (w.namespace, w.ref.kind.lower(), w.ref.name) == (parts[0], parts[1].lower(), parts[2])
            elif len(parts) == 2:
                ok = (w.namespace, w.ref.name) == (parts[0], parts[1]) or \
                     (w.ref.kind.lower(), w.ref.name) == (parts[0].lower(), parts[1])
            else:
                ok = w.ref.name == spec
            if ok:
                out.append(w)
        return out

    def covered_by_other_engines(self, namespace: str) -> list[K8sObject]:
        """Cilium/Calico policies that may apply to pods of ``namespace`` (not evaluated here)."""
        return [o for o in self.other_policies
                if o.kind in ("CiliumClusterwideNetworkPolicy", "GlobalNetworkPolicy")
                or (o.namespace or DEFAULT_NAMESPACE) == namespace]
