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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kubeharden.analysis import calico_policies, cilium_policies
from kubeharden.analysis.admin_policies import is_admin_policy, parse_admin_policy
from kubeharden.analysis.external import NODE_NETWORKS, block_overlaps, ranges_to_blocks
from kubeharden.analysis.ingress_exposure import DEFAULT_CONTROLLERS, Backend, backends, service_target
from kubeharden.analysis.policies import (
    ANY_IPV4,
    ANY_IPV6,
    IPBlock,
    NetworkPolicyRule,
    Peer,
    Policy,
    PolicyError,
    error_line,
    is_k8s_policy,
    other_engine,
    parse_policy,
)
from kubeharden.analysis.ports import ALL_PORTS, NO_PORTS, PortSet
from kubeharden.analysis.precedence import Decision, Layer, decide
from kubeharden.analysis.selectors import Selector
from kubeharden.model.findings import Problem
from kubeharden.model.inventory import Inventory, PodRecord
from kubeharden.model.kinds import DEFAULT_NAMESPACE
from kubeharden.model.network import IngressController, IPNetwork
from kubeharden.model.objects import K8sObject, ResourceRef

NAME_LABEL = "kubernetes.io/metadata.name"
#: Kinds of policy the engine reads (Kubernetes, AdminNetworkPolicy API, Cilium, Calico).
POLICY_KINDS = ("NetworkPolicy", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "CiliumNetworkPolicy",
                "CiliumClusterwideNetworkPolicy", "GlobalNetworkPolicy")

NamedPorts = dict[tuple[str, str], frozenset[int]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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
    modelled: bool = False  # a stand-in (an ingress controller the input routes to but does not hold)

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
    ingress_policies: list[Policy] = field(default_factory=list)  # every policy of any kind selecting it
    egress_policies: list[Policy] = field(default_factory=list)
    ingress_rules: list[NetworkPolicyRule] = field(default_factory=list)
    egress_rules: list[NetworkPolicyRule] = field(default_factory=list)
    extended_labels: dict[str, str] = field(default_factory=dict)  # as Cilium and Calico selectors see it
    ingress_layers: list[Layer] = field(default_factory=list)  # only when layered policies exist
    egress_layers: list[Layer] = field(default_factory=list)

    @property
    def ingress_isolated(self) -> bool:
        return bool(self.ingress_policies)

    @property
    def egress_isolated(self) -> bool:
        return bool(self.egress_policies)


@dataclass(slots=True)
class Exposure:
    """A backend's pods reachable from an ingress controller through a route, on ``ports``."""

    backend: Backend
    controller: IngressController
    source: Workload
    target: PodClass
    ports: PortSet


@dataclass(slots=True)
class Connection:
    """An allowed connection. With an address block as one end, ``nodes`` lists node addresses
    in it that the policies treat otherwise (blocks, and the ports allowed to or from them)."""

    src: Workload | IPBlock
    dst: Workload | IPBlock
    ports: PortSet
    nodes: list[tuple[list[IPBlock], PortSet]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"src": self.src.to_json(), "dst": self.dst.to_json(), "ports": self.ports.to_json()}
        if self.nodes:
            out["node_addresses"] = [{"blocks": [b.to_json() for b in blocks], "ports": ports.to_json()}
                                     for blocks, ports in self.nodes]
        return out

    @property
    def nodes_note(self) -> str:
        """``"except TCP 10250 to node addresses in 10.0.0.0/8"`` when node addresses get less,
        else ``"node addresses in 10.0.0.0/8: TCP 22"``; "" when nodes are decided alike."""
        parts = []
        for blocks, ports in self.nodes:
            where = ", ".join(str(b) for b in blocks)
            if not ports - self.ports and self.ports - ports:
                parts.append(f"except {self.ports - ports} to node addresses in {where}")
            else:
                parts.append(f"node addresses in {where}: {ports}")
        return "; ".join(parts)


@dataclass(slots=True)
class SideVerdict:
    """One direction of a connection: what allows it, or why it is blocked."""

    direction: str  # "egress" of the source or "ingress" of the destination
    isolated: bool
    policies: list[Policy]
    allowing: list[tuple[NetworkPolicyRule, PortSet]]
    ports: PortSet
    note: str = ""
    steps: list[tuple[NetworkPolicyRule, str, PortSet]] = field(default_factory=list)  # layered: every deciding rule
    decision: Decision | None = None  # layered: the whole decision (default_note explains it for some ports)


class Network:
    """The policies and workloads of an inventory, ready for reachability questions."""

    def __init__(self, inventory: Inventory,
                 ingress_controllers: tuple[IngressController, ...] = DEFAULT_CONTROLLERS) -> None:
        self.problems: list[Problem] = []
        self.policies: list[Policy] = []
        #: True when policies other than Kubernetes NetworkPolicies exist: connections are then
        #: decided layer by layer (analysis.precedence) instead of by the union of allows.
        self.layered = any(inventory.of_kind(*POLICY_KINDS[1:])) or any(
            other_engine(o) for o in inventory.of_kind("NetworkPolicy"))
        self.namespaces: dict[str, dict[str, str]] = {}
        self.workloads: list[Workload] = []
        self.classes: list[PodClass] = []
        self._ns_classes: dict[str, list[int]] = defaultdict(list)
        self._ns_match: dict[Selector, tuple[str, ...]] = {}
        #: per (namespace, extended labels or not): the classes carrying each label pair (see _candidates)
        self._by_label: dict[tuple[str, bool], tuple[int, dict[tuple[str, Any], list[int]]]] = {}
        self._peer_cache: dict[tuple[str, Peer], int] = {}
        self._rule_masks: dict[int, int] = {}
        self._named: list[int] | None = None
        self._blocks_cache: dict[tuple[str, int], list[tuple[IPBlock, PortSet, list[NetworkPolicyRule]]]] = {}
        #: decide_addresses results by what decides them (the layers' rules, named ports, addresses):
        #: classes under the same policies share them.
        self._address_cache: dict[tuple[object, ...], list[tuple[list[IPBlock], Decision]]] = {}
        self._node_cache: dict[tuple[object, ...], list[tuple[list[IPBlock], list[IPAddress], PortSet, PortSet]]] = {}
        self._load_namespaces(inventory)
        self._load_workloads(inventory)
        self.backends = backends(inventory)
        #: The classes of each ingress controller that routes of the input use (modelled
        #: stand-ins when the input has no matching pods).
        self.ingress_sources: dict[IngressController, list[int]] = {}
        self._load_ingress_controllers(ingress_controllers)
        self._services = {(o.namespace or DEFAULT_NAMESPACE, o.name): o for o in inventory.of_kind("Service")}
        self._load_policies(inventory)
        self._note_same_priorities()
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
                                                                     for k, v in frozen.items())), w.host_network,
                   record.service_account if self.layered else "")
            klass = keys.get(key)
            if klass is None:
                klass = PodClass(len(self.classes), ns, w.labels, frozen, w.host_network)
                if self.layered:
                    klass.extended_labels = self._extended(ns, w.labels, record.service_account)
                keys[key] = klass
                self.classes.append(klass)
                self._ns_classes[ns].append(klass.index)
            klass.members.append(w.index)
            w.klass = klass.index

    def controller_for(self, backend: Backend) -> IngressController | None:
        """The proxy serving ``backend``'s route: its Gateway's own proxy when the implementation
        deploys one per Gateway, else the configured controller of its class, else the first."""
        if backend.gateway_proxy is not None:
            return backend.gateway_proxy
        for controller in self._controllers:
            if backend.controller_class is not None and controller.ingress_class == backend.controller_class:
                return controller
        return self._controllers[0] if self._controllers else None

    def _load_ingress_controllers(self, controllers: tuple[IngressController, ...]) -> None:
        self._controllers = controllers
        for backend in self.backends:
            controller = self.controller_for(backend)
            if controller is None or controller in self.ingress_sources:
                continue
            wanted = dict(controller.labels)
            found = [c.index for c in self.classes if c.namespace == controller.namespace
                     and all(c.labels.get(k) == v for k, v in wanted.items())]
            if not found:
                found = [self._stand_in(controller)]
            self.ingress_sources[controller] = found

    def _stand_in(self, controller: IngressController) -> int:
        """A modelled pod of ``controller``: it is not in the input but routes use it."""
        ns = controller.namespace
        self.namespaces.setdefault(ns, {NAME_LABEL: ns})
        labels = dict(controller.labels)
        ref = ResourceRef("v1", "IngressController", ns, f"{controller.name} (modelled)")
        w = Workload(len(self.workloads), ref, ns, labels, {}, False, None, modelled=True)
        self.workloads.append(w)
        klass = PodClass(len(self.classes), ns, labels, {}, False)
        if self.layered:
            klass.extended_labels = self._extended(ns, labels, "default")
        klass.members.append(w.index)
        w.klass = klass.index
        self.classes.append(klass)
        self._ns_classes[ns].append(klass.index)
        return klass.index

    def exposures(self) -> Iterator[Exposure]:
        """Each backend workload an ingress controller may reach through a route, with the ports."""
        for backend in self.backends:
            controller = self.controller_for(backend)
            service = self._services.get((backend.namespace, backend.service))
            target = service_target(service, backend.port) if service is not None and controller else None
            if controller is None or target is None:
                continue
            selector, port = target
            for klass in self.classes:
                if klass.namespace != backend.namespace or \
                        not all(klass.labels.get(k) == v for k, v in selector.items()):
                    continue
                if isinstance(port, int):
                    ports = PortSet.of("TCP", port) if 0 < port < 65536 else NO_PORTS
                else:
                    ports = NO_PORTS
                    for number in klass.named_ports.get((port, "TCP"), ()):
                        ports = ports | PortSet.of("TCP", number)
                for source in self.ingress_sources.get(controller, ()):
                    allowed = ports & self.egress_verdict(source, klass.index).ports & \
                        self.ingress_verdict(source, klass.index).ports
                    if allowed:
                        yield Exposure(backend, controller, self.workloads[self.classes[source].members[0]],
                                       klass, allowed)

    def extended_labels_of(self, namespace: str, labels: dict[str, str], service_account: str) -> dict[str, str]:
        """A pod's labels as Cilium and Calico selectors see them (with namespace and service account)."""
        return self._extended(namespace, labels, service_account)

    def _extended(self, namespace: str, labels: dict[str, str], service_account: str) -> dict[str, str]:
        ns_labels = self.namespaces.get(namespace, {NAME_LABEL: namespace})
        out = cilium_policies.extended_labels(labels, namespace, ns_labels, service_account)
        out.update(calico_policies.extended_labels(namespace, service_account))
        return out

    def _load_policies(self, inventory: Inventory) -> None:
        tiers = calico_policies.tier_orders(inventory.of_kind("Tier"))
        for obj in inventory.of_kind(*POLICY_KINDS):
            try:
                self.policies.extend(parse_any_policy(obj, tiers))
            except PolicyError as exc:
                self.problems.append(Problem("error", "invalid-policy", f"{exc}; the API server would reject this "
                                             "policy, so it is left out of the analysis", file=obj.origin.file,
                                             line=error_line(obj, exc), resource=obj.ref))

    def _note_same_priorities(self) -> None:
        """AdminNetworkPolicies sharing a priority have no defined order (the API reference: "the
        implementation can apply any of the matching policies"); they are evaluated by name."""
        by_priority: dict[float, list[Policy]] = defaultdict(list)
        for policy in self.policies:
            if policy.layer == "AdminNetworkPolicy":
                by_priority[policy.order].append(policy)
        for priority, same in by_priority.items():
            if len(same) > 1:
                names = ", ".join(sorted(p.obj.name for p in same))
                for policy in same:
                    policy.notes.append(f"spec.priority {int(priority)} is shared by {names}: their order is "
                                        "undefined in a cluster; kubeharden evaluates them by name")

    def _attach_rules(self) -> None:
        for policy in self.policies:
            for ci in self._bits(self.selected_mask(policy)):
                klass = self.classes[ci]
                for direction, isolates, rules in (("ingress", policy.isolates_ingress, policy.ingress),
                                                   ("egress", policy.isolates_egress, policy.egress)):
                    if not (isolates or rules):
                        continue
                    mine = [r for r in rules if r.own_selector is None
                            or r.own_selector.matches(klass.extended_labels)]
                    if direction == "ingress":
                        klass.ingress_policies.append(policy)
                        klass.ingress_rules.extend(mine)
                    else:
                        klass.egress_policies.append(policy)
                        klass.egress_rules.extend(mine)
                    if self.layered:
                        self._add_to_layer(klass, direction, policy, isolates, mine)
        if self.layered:
            for klass in self.classes:
                for layers in (klass.ingress_layers, klass.egress_layers):
                    layers.sort(key=lambda layer: layer.order)
                    for layer in layers:
                        layer.rules.sort(key=lambda r: r.sort_key)

    @staticmethod
    def _add_to_layer(klass: PodClass, direction: str, policy: Policy, isolates: bool,
                      rules: list[NetworkPolicyRule]) -> None:
        layers = klass.ingress_layers if direction == "ingress" else klass.egress_layers
        for layer in layers:
            if layer.name == policy.layer:
                break
        else:
            layer = Layer(policy.layer, policy.layer_order, policy.layer_passes)
            layers.append(layer)
        layer.isolated |= isolates
        layer.rules.extend(rules)

    # -- selection ------------------------------------------------------------------------

    def namespaces_matching(self, selector: Selector) -> tuple[str, ...]:
        found = self._ns_match.get(selector)
        if found is None:
            found = tuple(n for n, labels in self.namespaces.items() if selector.matches(labels))
            self._ns_match[selector] = found
        return found

    def _classes_in(self, namespace: str, selector: Selector | None, extended: bool = False,
                    excluded: object = None) -> int:
        mask = 0
        for ci in self._candidates(namespace, selector, extended):
            klass = self.classes[ci]
            labels = klass.extended_labels if extended else klass.labels
            if not klass.host_network and (selector is None or selector.matches(labels)) and \
                    (excluded is None or not excluded.matches(labels)):  # type: ignore[attr-defined]
                mask |= 1 << ci
        return mask

    def _candidates(self, namespace: str, selector: Selector | None, extended: bool) -> Iterable[int]:
        """The classes of ``namespace`` that may match ``selector``: those carrying its first matchLabels pair
        (a selector requires every pair), else all of them (Calico's selectors are expressions: all of them too).
        Every policy and peer asks: an index per namespace spares matching each selector against each class."""
        every = self._ns_classes.get(namespace, ())
        if not isinstance(selector, Selector) or not selector.labels:
            return every
        known = self._by_label.get((namespace, extended))
        if known is None or known[0] != len(every):  # built before a class was added: build it again
            known = self._by_label[(namespace, extended)] = (len(every), self._label_index(every, extended))
        return known[1].get(selector.labels[0], ())

    def _label_index(self, classes: Iterable[int], extended: bool) -> dict[tuple[str, Any], list[int]]:
        """``classes`` by each (key, value) of their labels (or extended labels), in order."""
        index: dict[tuple[str, Any], list[int]] = defaultdict(list)
        for ci in classes:
            klass = self.classes[ci]
            for pair in (klass.extended_labels if extended else klass.labels).items():
                try:
                    index[pair].append(ci)
                except TypeError:  # a value no selector can equal (selectors hold strings)
                    continue
        return index

    def _namespaces_of(self, own: str, cluster_wide: bool, selector: object) -> tuple[str, ...]:
        if selector is not None:
            return self.namespaces_matching(selector)  # type: ignore[arg-type]
        return tuple(self.namespaces) if cluster_wide else (own,)

    def selected_mask(self, policy: Policy) -> int:
        """The classes a policy applies to (never hostNetwork pods)."""
        if not policy.cluster_wide and policy.namespace_selector is None and not policy.extended:
            return self._classes_in(policy.namespace, policy.pod_selector)
        mask = 0
        for ns in self._namespaces_of(policy.namespace, policy.cluster_wide, policy.namespace_selector):
            mask |= self._classes_in(ns, policy.pod_selector, policy.extended)
        return mask

    def peer_mask(self, rule: NetworkPolicyRule) -> int:
        """The classes a rule's peers match (every class for a rule open to all peers).

        An address peer matches pods only when it is marked so (AdminNetworkPolicy networks,
        Calico nets covering a whole address family); a ``nodes`` peer matches the hostNetwork
        pods, which use their node's address.
        """
        found = self._rule_masks.get(id(rule))
        if found is not None:
            return found
        if rule.peers is None:
            return self.all_mask
        mask = 0
        for peer in rule.peers:
            key = (rule.policy.namespace, peer)
            cached = self._peer_cache.get(key)
            if cached is None:
                cached = self._peer_classes(rule.policy.namespace, peer)
                self._peer_cache[key] = cached
            mask |= cached
        self._rule_masks[id(rule)] = mask  # rules live as long as the network
        return mask

    def _peer_classes(self, own: str, peer: Peer) -> int:
        if peer.ip_block is not None:
            return self.pod_mask if peer.ip_matches_pods else 0
        if peer.nodes is not None:
            return self.all_mask & ~self.pod_mask
        mask = 0
        for ns in self._namespaces_of(own, peer.any_namespace, peer.namespace_selector):
            mask |= self._classes_in(ns, peer.pod_selector, peer.extended, peer.not_selector)
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
                f"no policy of any kind selects it for {direction.capitalize()}"
            return SideVerdict(direction, False, [], [], ALL_PORTS, note)
        if self.layered:
            layers = own.ingress_layers if direction == "ingress" else own.egress_layers
            found = decide(layers, lambda r: bool(self.peer_mask(r) >> peer & 1), named)
            note = default_note(found, direction)
            return SideVerdict(direction, True, list(policies), [(r, p) for r, a, p in found.steps if a == "Allow"],
                               found.allowed, note, found.steps, found)
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
        return self._side_blocks("egress", src)

    def ingress_blocks(self, dst: int) -> list[tuple[IPBlock, PortSet, list[NetworkPolicyRule]]]:
        """External address blocks that may connect to class ``dst``."""
        return self._side_blocks("ingress", dst)

    def _side_blocks(self, direction: str, index: int) -> list[tuple[IPBlock, PortSet, list[NetworkPolicyRule]]]:
        klass = self.classes[index]
        egress = direction == "egress"
        named = None if egress else klass.named_ports  # named ports resolve in the destination pod
        if not (klass.egress_isolated if egress else klass.ingress_isolated):
            return [(ANY_IPV4, ALL_PORTS, []), (ANY_IPV6, ALL_PORTS, [])]
        # worked out once per class and direction: KH-NET-006, -007 and -016 each ask for every workload
        found = self._blocks_cache.get((direction, index))
        if found is None:
            if self.layered:
                layers = klass.egress_layers if egress else klass.ingress_layers
                found = self._layered_blocks(layers, named)
            else:
                found = self._blocks(klass.egress_rules if egress else klass.ingress_rules, named)
            self._blocks_cache[(direction, index)] = found
        return found

    def _decide_addresses(self, layers: list[Layer], named: NamedPorts | None,
                          within: tuple[IPNetwork, ...] | None = None, nodes: bool = False
                          ) -> list[tuple[list[IPBlock], Decision]]:
        """:func:`decide_addresses`, computed once per distinct set of layers, named ports and addresses."""
        key = (self._layers_key(layers), None if named is None else tuple(sorted(named.items())), within, nodes)
        found = self._address_cache.get(key)
        if found is None:
            found = self._address_cache[key] = decide_addresses(layers, named, within, nodes)
        return found

    @staticmethod
    def _layers_key(layers: list[Layer]) -> tuple[object, ...]:
        return tuple((layer.name, layer.isolated, layer.passes, tuple(id(r) for r in layer.rules)) for layer in layers)

    def _layered_blocks(self, layers: list[Layer], named: NamedPorts | None
                        ) -> list[tuple[IPBlock, PortSet, list[NetworkPolicyRule]]]:
        """Outside addresses as the layers decide them (see :func:`decide_addresses`), the
        allowed ones with the rules that allowed them."""
        out: list[tuple[IPBlock, PortSet, list[NetworkPolicyRule]]] = []
        for blocks, found in self._decide_addresses(layers, named):
            if found.allowed:
                why = [r for r, a, _ in found.steps if a == "Allow"]
                out.extend((block, found.allowed, why) for block in blocks)
        return out

    def undecided_reason(self, index: int, direction: str) -> str:
        """Why class ``index`` may use, in ``direction``, ports that no rule allowed: e.g. "no policy
        isolates the pod for egress; AdminNetworkPolicy a does not decide it". AdminNetworkPolicy and
        BaselineAdminNetworkPolicy select pods without isolating them (network-policy-api v1alpha1:
        traffic they leave undecided falls through to NetworkPolicy, then is allowed)."""
        klass = self.classes[index]
        policies = klass.egress_policies if direction == "egress" else klass.ingress_policies
        why = f"no policy isolates the pod for {direction}"
        if not policies:
            return why
        names = ", ".join(p.label for p in policies[:3]) + (f" and {len(policies) - 3} more"
                                                            if len(policies) > 3 else "")
        return f"{why}; {names} {'does' if len(policies) == 1 else 'do'} not decide it"

    def address_decisions(self, index: int, direction: str, within: tuple[IPNetwork, ...], nodes: bool = False
                          ) -> list[tuple[list[IPBlock], Decision]] | None:
        """How the layers of class ``index`` decide traffic to (egress) or from (ingress) the
        addresses ``within``, as groups of blocks decided alike; with ``nodes`` the addresses are
        node addresses (see :func:`node_hit`). None when the class is not isolated for the
        direction or only Kubernetes NetworkPolicies exist (then :meth:`egress_blocks` says it)."""
        klass = self.classes[index]
        layers = klass.egress_layers if direction == "egress" else klass.ingress_layers
        if not self.layered or not layers:
            return None
        return self._decide_addresses(layers, None if direction == "egress" else klass.named_ports, within, nodes)

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

    def class_pairs(self, within: int | None = None) -> Iterator[tuple[int, int, PortSet]]:
        """Every ordered pair of classes with the ports both sides allow (non-empty only); with ``within``
        (a bitmask of classes), only the pairs whose both ends are in it (a capped matrix pays for its part)."""
        wanted = self.all_mask if within is None else within & self.all_mask
        if self.layered:
            yield from self._layered_pairs(wanted)
            return
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
        for d in self._bits(wanted):
            klass = self.classes[d]
            if klass.ingress_isolated:
                admitted = 0
                for rule in klass.ingress_rules:
                    admitted |= self.peer_mask(rule)
            else:
                admitted = self.all_mask
            candidates = admitted & (reach_in[d] | open_egress) & wanted
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

    def _layered_pairs(self, wanted: int) -> Iterator[tuple[int, int, PortSet]]:
        """class_pairs when layers decide.

        Peers are grouped by which rules match them (bitsets split rule by rule), so each
        group is decided once per class and direction; a source is tried only when its egress
        can reach the destination at all.
        """
        n = len(self.classes)
        egress_groups: list[list[tuple[int, PortSet]] | None] = [None] * n
        reach_in = [0] * n
        open_egress = 0
        for s, src in enumerate(self.classes):
            if not wanted >> s & 1:
                continue
            if not src.egress_layers:
                open_egress |= 1 << s
                continue
            groups = self._groups(src.egress_layers, self.all_mask, by_named=True)
            egress_groups[s] = groups
            for mask, _ in groups:
                for d in self._bits(mask):
                    reach_in[d] |= 1 << s
        for d in self._bits(wanted):
            klass = self.classes[d]
            sources = open_egress | reach_in[d]
            if not klass.ingress_layers:
                ingress_groups = [(self.all_mask, ALL_PORTS)]
            else:
                ingress_groups = self._groups(klass.ingress_layers, sources, named=klass.named_ports)
            for mask, ingress in ingress_groups:
                for s in self._bits(mask & sources):
                    groups_of_s = egress_groups[s]
                    if groups_of_s is None:
                        yield s, d, ingress
                        continue
                    for dests, egress in groups_of_s:
                        if dests >> d & 1:
                            ports = ingress & egress
                            if ports:
                                yield s, d, ports
                            break

    def _groups(self, layers: list[Layer], peers: int, named: NamedPorts | None = None,
                by_named: bool = False) -> list[tuple[int, PortSet]]:
        """``peers`` split into groups that the same rules match, each with the ports the layers
        allow it (groups allowing nothing are dropped). With ``by_named`` the peers are
        destinations and named ports resolve in each of them."""
        rules = [r for layer in layers for r in layer.rules]
        groups: list[tuple[int, frozenset[int]]] = [(peers, frozenset())]
        for rule in rules:
            mask = self.peer_mask(rule)
            split: list[tuple[int, frozenset[int]]] = []
            for members, hits in groups:
                inside, outside = members & mask, members & ~mask
                if inside:
                    split.append((inside, hits | {id(rule)}))
                if outside:
                    split.append((outside, hits))
            groups = split
        if by_named and any(p.name is not None for r in rules for p in r.ports or ()):
            groups = [(members & m, hits) for members, hits in groups for m in self._named_masks() if members & m]
        out: list[tuple[int, PortSet]] = []
        for members, hits in groups:
            resolve = self.classes[(members & -members).bit_length() - 1].named_ports if by_named else named
            allowed = decide(layers, lambda r, hits=hits: id(r) in hits, resolve).allowed  # type: ignore[misc]
            if allowed:
                out.append((members, allowed))
        return out

    def _named_masks(self) -> list[int]:
        """Classes grouped by their named container ports."""
        if self._named is None:
            by_key: dict[tuple[object, ...], int] = defaultdict(int)
            for klass in self.classes:
                by_key[tuple(sorted((k, tuple(sorted(v))) for k, v in klass.named_ports.items()))] |= 1 << klass.index
            self._named = list(by_key.values())
        return self._named

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

    def connections(self, namespaces: set[str] | None = None, external: bool = True,
                    node_networks: tuple[IPNetwork, ...] = NODE_NETWORKS) -> Iterator[Connection]:
        """Allowed connections between workloads, then to and from external address blocks.

        With ``namespaces``, only connections with at least one end in them are listed. Where
        policies decide node addresses (taken to be in ``node_networks``) otherwise than other
        addresses of a block, the block's connection says so in ``Connection.nodes``; a block
        allowed only to node addresses is listed with no ports and its ``nodes``.
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
            for direction in ("egress", "ingress"):
                for block, ports, nodes in self._external_rows(klass, direction, node_networks):
                    for wi in klass.members:
                        w = self.workloads[wi]
                        yield Connection(w, block, ports, nodes) if direction == "egress" else \
                            Connection(block, w, ports, nodes)

    def _external_rows(self, klass: PodClass, direction: str, node_networks: tuple[IPNetwork, ...]
                       ) -> list[tuple[IPBlock, PortSet, list[tuple[list[IPBlock], PortSet]]]]:
        """The matrix's address blocks for one class and direction, each with the node addresses
        in it decided otherwise (see :func:`node_differences`)."""
        blocks = self._side_blocks(direction, klass.index)
        layers = klass.egress_layers if direction == "egress" else klass.ingress_layers
        if not layers:
            return [(b, p, []) for b, p, _ in blocks]
        named = None if direction == "egress" else klass.named_ports
        key = (self._layers_key(layers), None if named is None else tuple(sorted(named.items())), node_networks)
        differences = self._node_cache.get(key)
        if differences is None:  # classes under the same policies share them
            differences = self._node_cache[key] = node_differences(layers, named, node_networks)
        rows = []
        claimed: set[int] = set()
        for block, ports, _ in blocks:
            nodes = []
            for i, (pieces, firsts, _, node_ports) in enumerate(differences):
                if any(block.contains(a) for a in firsts):
                    nodes.append(([p for p in pieces if p.cidr.version == block.cidr.version
                                   and block_overlaps(block, p.cidr)], node_ports))
                    claimed.add(i)
            rows.append((block, ports, nodes))
        for i, (pieces, _, _, node_ports) in enumerate(differences):
            if i not in claimed and node_ports:  # allowed only to node addresses
                rows.extend((piece, NO_PORTS, [([piece], node_ports)]) for piece in pieces)
        return rows

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

    def not_evaluated(self) -> list[tuple[Policy, list[str]]]:
        """Policies with parts that are not evaluated (L7, FQDN, some entities, service accounts…)."""
        return [(p, p.notes) for p in self.policies if p.notes]


def is_namespace_key(key: str) -> bool:
    """Whether a label key Cilium or Calico selectors read describes the pod's namespace."""
    return key in (cilium_policies.NAMESPACE_KEY, calico_policies.NAMESPACE_KEY) or \
        key.startswith(cilium_policies.NAMESPACE_LABEL_PREFIX)


def parse_any_policy(obj: K8sObject, tiers: dict[str, tuple[float, bool]] | None = None) -> list[Policy]:
    """The policies ``obj`` holds, whatever its engine; [] when it is not a policy kind.

    ``tiers`` are Calico's tier orders (see calico_policies.tier_orders). Raises PolicyError
    when the object would be rejected.
    """
    if is_k8s_policy(obj):
        return [parse_policy(obj, DEFAULT_NAMESPACE)]
    if is_admin_policy(obj):
        return [parse_admin_policy(obj)]
    engine = other_engine(obj)
    if engine == "Cilium":
        return cilium_policies.parse_cilium_specs(obj, DEFAULT_NAMESPACE)
    if engine == "Calico":
        return [calico_policies.parse_calico_policy(obj, tiers or calico_policies.tier_orders([]),
                                                    DEFAULT_NAMESPACE)]
    return []


def default_note(found: Decision, direction: str, wanted: PortSet = ALL_PORTS) -> str:
    """What the layers did with the ports of ``wanted`` that no rule decided (denied by a
    layer's isolation, or allowed because nothing isolates the pod), or ""."""
    parts = []
    denied = [(name, ports & wanted) for name, ports in found.isolated_by if ports & wanted]
    if denied:
        parts.append("; ".join(f"{ports} not allowed by any rule and so denied by the isolation of {name}"
                               for name, ports in denied))
    if found.by_default & wanted:
        parts.append(f"{found.by_default & wanted} not decided by any rule and so allowed (nothing isolates "
                     f"it for {direction})")
    return "; ".join(parts)


def node_hit(rule: NetworkPolicyRule, address: IPAddress) -> bool:
    """Whether ``rule`` matches a node whose address is ``address``.

    Rules open to every peer do; so do ``nodes`` peers (AdminNetworkPolicy ``nodes``, Cilium
    ``host``/``remote-node``/``toNodes``) with an Allow, and with any action when the node
    selector is empty (every node): node labels are not in manifests, so a Deny or Pass for
    some nodes leaves the others reachable. Address peers match when they cover ``address``,
    except Cilium CIDR peers (Cilium: CIDR rules do not select node identities by default).
    """
    if rule.peers is None:
        return True
    for peer in rule.peers:
        if peer.nodes is not None and (rule.action == "Allow" or getattr(peer.nodes, "is_empty", False)):
            return True
        if peer.ip_block is not None and peer.ip_matches_nodes and peer.ip_block.contains(address):
            return True
    return False


def address_hit(rule: NetworkPolicyRule, address: IPAddress) -> bool:
    """Whether ``rule`` matches the outside address ``address`` (open to every peer, or an address peer covering it)."""
    return rule.peers is None or any(p.ip_block is not None and p.ip_block.contains(address) for p in rule.peers)


def decide_addresses(layers: list[Layer], named: NamedPorts | None, within: tuple[IPNetwork, ...] | None = None,
                     nodes: bool = False) -> list[tuple[list[IPBlock], Decision]]:
    """The address space (or the networks ``within``) as ``layers`` decide it.

    It is cut at every boundary of every address block the rules name (and of ``within``),
    each piece is decided once with :func:`decide` (``node_hit`` when ``nodes``, else
    ``address_hit``), and pieces decided alike (same ports, by the same rules) are joined
    again into blocks (as ``cidr`` minus ``except`` where that is shorter). Returns
    ``[(blocks, decision)]``, allowed or not.
    """
    hit_of = node_hit if nodes else address_hit
    groups: dict[tuple[object, ...], tuple[dict[int, list[tuple[int, int]]], Decision]] = {}
    for version, low, high, address in _pieces(layers, within):
        found = decide(layers, lambda rule, a=address: hit_of(rule, a), named)  # type: ignore[misc]
        key = (found.allowed, tuple((id(r), a, p) for r, a, p in found.steps))
        groups.setdefault(key, ({4: [], 6: []}, found))[0][version].append((low, high))
    return [(_joined(ranges), found) for ranges, found in groups.values()]


def _pieces(layers: list[Layer], within: tuple[IPNetwork, ...] | None
            ) -> Iterator[tuple[int, int, int, IPAddress]]:
    """The address space (or ``within``) cut at every boundary of the rules' address blocks:
    ``(version, first, last, first address)`` per piece, in order."""
    nets = [n for layer in layers for r in layer.rules for p in r.peers or () if p.ip_block is not None
            for n in (p.ip_block.cidr, *p.ip_block.excepts)]
    for version, top in ((4, 2 ** 32), (6, 2 ** 128)):
        inside = [n for n in within if n.version == version] if within is not None else None
        if inside is not None and not inside:
            continue
        cuts = {0, top}
        for net in [*nets, *(inside or ())]:
            if net.version == version:
                cuts.add(int(net.network_address))
                cuts.add(int(net.broadcast_address) + 1)
        points = sorted(cuts)
        for low, high in zip(points, points[1:], strict=False):
            address = ipaddress.IPv4Address(low) if version == 4 else ipaddress.IPv6Address(low)
            if inside is not None and not any(address in n for n in inside):
                continue
            yield version, low, high - 1, address


def _joined(ranges: dict[int, list[tuple[int, int]]]) -> list[IPBlock]:
    return [b for version in (4, 6) if ranges[version] for b in ranges_to_blocks(tuple(ranges[version]), version)]


def node_differences(layers: list[Layer], named: NamedPorts | None, node_networks: tuple[IPNetwork, ...]
                     ) -> list[tuple[list[IPBlock], list[IPAddress], PortSet, PortSet]]:
    """Where, inside ``node_networks``, the layers decide a node address differently from any
    other address (a ``nodes`` peer, an AdminNetworkPolicy Deny to nodes on TCP 10250…):
    ``[(blocks, an address of each piece, ports to other addresses, ports to node addresses)]``,
    empty when they agree. Each piece is decided alike for every non-node address in it."""
    groups: dict[tuple[PortSet, PortSet], dict[int, list[tuple[int, int]]]] = {}
    firsts: dict[tuple[PortSet, PortSet], list[IPAddress]] = defaultdict(list)
    for version, low, high, address in _pieces(layers, node_networks):
        plain = decide(layers, lambda rule, a=address: address_hit(rule, a), named).allowed  # type: ignore[misc]
        node = decide(layers, lambda rule, a=address: node_hit(rule, a), named).allowed  # type: ignore[misc]
        if plain != node:
            groups.setdefault((plain, node), {4: [], 6: []})[version].append((low, high))
            firsts[(plain, node)].append(address)
    return [(_joined(ranges), firsts[key], *key) for key, ranges in groups.items()]
