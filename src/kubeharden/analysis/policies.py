"""Kubernetes NetworkPolicy objects, validated and turned into plain rules.

Semantics follow the ``networking.k8s.io/v1`` API reference:

* ``spec.podSelector`` selects pods of the policy's own namespace; ``{}`` selects all.
* ``policyTypes`` lists the directions the policy isolates. When omitted it is
  ``[Ingress]`` plus ``Egress`` if ``spec.egress`` has at least one rule.
* A direction in ``policyTypes`` with no rules (missing or ``[]``) allows nothing:
  the selected pods are isolated for that direction ("default deny").
* In a rule, ``from``/``to`` empty or missing means every peer, ``ports`` empty or
  missing means every port; ``ingress: [{}]`` therefore allows everything.
* A peer is ``podSelector`` (pods of the policy's namespace), ``namespaceSelector``
  (all pods of the matching namespaces), both (matching pods in matching namespaces)
  or ``ipBlock`` (``cidr`` minus ``except``) alone.
* A port is a number or a name (resolved against the destination pod's container
  ports), with protocol TCP (default), UDP or SCTP; ``endPort`` widens a numbered port
  to a range.

A policy the API server would reject raises :class:`PolicyError` naming the field; the
caller reports it and leaves the policy out, as the cluster would.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeharden.analysis.ports import ALL_PORTS, MAX_PORT, MIN_PORT, NO_PORTS, PROTOCOLS, PortSet
from kubeharden.analysis.selectors import Selector, SelectorError, compile_selector
from kubeharden.model.lines import line_of
from kubeharden.model.network import IPNetwork
from kubeharden.model.objects import K8sObject

K8S_POLICY_GROUPS = ("networking.k8s.io", "extensions")
CALICO_GROUPS = ("projectcalico.org", "crd.projectcalico.org")
_PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")


#: Layer orders, as Calico numbers its tiers: AdminNetworkPolicy, then NetworkPolicy (Calico's
#: default tier), then BaselineAdminNetworkPolicy (KEP-2091; Calico "Tiers" reference).
ADMIN_LAYER, NETWORK_POLICY_LAYER, BASELINE_LAYER = 1_000.0, 1_000_000.0, 10_000_000.0


class PolicyError(ValueError):
    """The policy is invalid; the message starts with the path of the field (``spec.ingress[0]…``)."""


_PATH = re.compile(r"^spec(?:\.[A-Za-z]+|\[\d+\])*")
_STEP = re.compile(r"\.([A-Za-z]+)|\[(\d+)\]")


def error_line(obj: K8sObject, error: PolicyError) -> int | None:
    """The line of the deepest field on the error's path that exists in the object."""
    match = _PATH.match(str(error))
    best = obj.origin.line
    if match is None:
        return best
    steps: list[str | int] = ["spec"]
    steps.extend(m.group(1) or int(m.group(2)) for m in _STEP.finditer(match.group(0)[len("spec"):]))
    node: Any = obj.raw
    for step in steps:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                break
            node = node[step]
            line = line_of(node)
        else:
            if not isinstance(node, dict) or step not in node:
                break
            line = line_of(node, step)
            node = node[step]
        if line is not None:
            best = line
    return best


@dataclass(frozen=True, slots=True)
class IPBlock:
    cidr: IPNetwork
    excepts: tuple[IPNetwork, ...] = ()

    def contains(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if address.version != self.cidr.version or address not in self.cidr:
            return False
        return not any(address in e for e in self.excepts)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cidr": str(self.cidr)}
        if self.excepts:
            out["except"] = [str(e) for e in self.excepts]
        return out

    def __str__(self) -> str:
        if not self.excepts:
            return str(self.cidr)
        return f"{self.cidr} except {', '.join(map(str, self.excepts))}"


ANY_IPV4 = IPBlock(ipaddress.ip_network("0.0.0.0/0"))
ANY_IPV6 = IPBlock(ipaddress.ip_network("::/0"))


@dataclass(frozen=True, slots=True)
class PortRule:
    """One entry of a rule's ``ports``: a number (range) or a name, with a protocol.

    ``protocol`` is TCP, UDP, SCTP or ``ANY`` (all three: Cilium's default, and named ports of
    AdminNetworkPolicy, which match a container port of that name whatever its protocol).
    """

    protocol: str
    low: int | None = None  # None with name None: every port of the protocol
    high: int | None = None
    name: str | None = None

    def resolve(self, named: Mapping[tuple[str, str], frozenset[int]] | None) -> PortSet:
        """The ports this entry opens on a destination with container ports ``named``.

        A name resolves per destination pod; for an address outside the cluster there
        is nothing to resolve it against (``named`` is None) and it opens nothing.
        """
        protocols = PROTOCOLS if self.protocol == "ANY" else (self.protocol,)
        out = NO_PORTS
        for protocol in protocols:
            if self.name is not None:
                for n in (named or {}).get((self.name, protocol), frozenset()):
                    out = out | PortSet.of(protocol, n)
            elif self.low is None:
                out = out | PortSet.whole(protocol)
            else:
                out = out | PortSet.of(protocol, self.low, self.high)
        return out

    def __str__(self) -> str:
        if self.name is not None:
            return f"{self.protocol} {self.name}"
        if self.low is None:
            return f"{self.protocol} (all ports)"
        return f"{self.protocol} {self.low}" if self.low == self.high else f"{self.protocol} {self.low}-{self.high}"


@dataclass(frozen=True, slots=True)
class Peer:
    """One alternative of a rule's ``from``/``to``.

    ``pod_selector`` alone means pods of the policy's namespace unless ``any_namespace``;
    ``namespace_selector`` adds matching namespaces; ``ip_block`` is an address range (which
    matches every pod too when ``ip_matches_pods``: see :func:`address_peer`, and node addresses unless
    ``ip_matches_nodes`` is False); ``nodes`` selects nodes (and so the
    hostNetwork pods on them). ``extended`` selectors see the engine's extra labels (namespace,
    service account); ``not_selector`` excludes pods it matches (Calico ``notSelector``).
    Selectors are anything with ``matches(labels)``: compiled label selectors or Calico
    selector expressions.
    """

    pod_selector: Any = None
    namespace_selector: Any = None
    ip_block: IPBlock | None = None
    nodes: Any = None
    any_namespace: bool = False
    extended: bool = False
    not_selector: Any = None
    ip_matches_pods: bool = False
    ip_matches_nodes: bool = True  # False for Cilium CIDR peers (node addresses have their own identities)


@dataclass(eq=False, slots=True)
class NetworkPolicyRule:
    """One NetworkPolicyIngressRule or NetworkPolicyEgressRule. ``peers`` None = every peer; ``ports`` None =
    every port."""

    policy: Policy
    direction: str  # "ingress" | "egress"
    index: int
    peers: tuple[Peer, ...] | None
    ports: tuple[PortRule, ...] | None
    line: int | None = None
    action: str = "Allow"  # Allow | Deny | Pass | Log (AdminNetworkPolicy, Cilium deny rules, Calico)
    notes: tuple[str, ...] = ()  # parts of the rule that are not evaluated, and how they were treated
    own_selector: Any = None  # Calico: the rule applies only to the policy's pods this matches
    name: str | None = None
    order: float | None = None  # precedence inside its layer when not the policy's (Cilium deny rules)
    #: :meth:`resolve_ports` once worked out, when no entry is a name (then every destination gets the same)
    _unnamed_ports: PortSet | None = field(default=None, init=False, repr=False)

    @property
    def sort_key(self) -> tuple[float, str, str, int]:
        """Evaluation order inside a layer: order, then policy name (Calico's tie-break), then position."""
        order = self.policy.order if self.order is None else self.order
        return (order, self.policy.namespace, self.policy.obj.name, self.index)

    def resolve_ports(self, named: Mapping[tuple[str, str], frozenset[int]] | None) -> PortSet:
        """The ports the rule opens on a destination with container ports ``named`` (see PortRule.resolve)."""
        if self.ports is None:
            return ALL_PORTS
        if self._unnamed_ports is not None:
            return self._unnamed_ports
        out = NO_PORTS
        for p in self.ports:
            out = out | p.resolve(named)
        # asked for every workload the rule applies to: without names the answer is the same for each
        if all(p.name is None for p in self.ports):
            self._unnamed_ports = out
        return out

    @property
    def label(self) -> str:
        named = f" ({self.name})" if self.name else ""
        return f"{self.policy.label} {self.direction}[{self.index}]{named}"

    @property
    def where(self) -> str:
        """``file:line`` of the rule (or the live object's name), for messages about other objects."""
        origin = self.policy.obj.origin
        if origin.file is None:
            return str(self.policy.obj.ref)
        return f"{origin.file}:{self.line}" if self.line else origin.file


@dataclass(eq=False, slots=True)
class Policy:
    obj: K8sObject
    namespace: str
    pod_selector: Selector
    isolates_ingress: bool
    isolates_egress: bool
    ingress: tuple[NetworkPolicyRule, ...] = ()
    egress: tuple[NetworkPolicyRule, ...] = ()
    kind: str = "NetworkPolicy"  # how messages name it, e.g. "CiliumNetworkPolicy", "NetworkPolicy (Calico)"
    layer: str = "NetworkPolicy"  # AdminNetworkPolicy | NetworkPolicy | BaselineAdminNetworkPolicy | Calico tier
    layer_order: float = NETWORK_POLICY_LAYER  # layers are evaluated in this order (lower first)
    layer_passes: bool = False  # nothing matched in the layer: True passes on, False denies if isolated
    order: float = 1000.0  # precedence inside the layer (lower first); Calico gives NetworkPolicies 1000
    cluster_wide: bool = False  # selects pods of every namespace (``namespace`` is then "")
    namespace_selector: Any = None  # for cluster-wide policies: which namespaces (None: all)
    extended: bool = False  # its pod selector sees the engine's extra labels
    notes: list[str] = field(default_factory=list)  # what of it is not evaluated

    @property
    def label(self) -> str:
        return f"{self.kind} {self.obj.name}" if self.cluster_wide else f"{self.kind} {self.namespace}/{self.obj.name}"

    def line_of(self, key: str) -> int | None:
        spec = self.obj.raw.get("spec")
        return self.obj.line(spec if isinstance(spec, dict) else None, key)


def api_group(obj: K8sObject) -> str:
    version = obj.ref.api_version
    return version.rpartition("/")[0] if "/" in version else ""


def is_k8s_policy(obj: K8sObject) -> bool:
    return obj.kind == "NetworkPolicy" and api_group(obj) in K8S_POLICY_GROUPS


def other_engine(obj: K8sObject) -> str | None:
    """``Cilium`` or ``Calico`` when ``obj`` is a policy of that engine, else None."""
    if obj.kind in ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"):
        return "Cilium"
    if obj.kind in ("NetworkPolicy", "GlobalNetworkPolicy") and api_group(obj) in CALICO_GROUPS:
        return "Calico"
    return None


def parse_policy(obj: K8sObject, default_namespace: str = "default") -> Policy:
    """Validate ``obj`` and return its rules; raises PolicyError like the API server would."""
    spec = obj.raw.get("spec")
    if not isinstance(spec, dict):
        raise PolicyError("spec is missing or not a mapping")
    namespace = obj.namespace or default_namespace
    try:
        pod_selector = compile_selector(spec.get("podSelector"), "spec.podSelector")
    except SelectorError as exc:
        raise PolicyError(str(exc)) from None
    types = spec.get("policyTypes")
    egress_raw, ingress_raw = spec.get("egress"), spec.get("ingress")
    for key, value in (("ingress", ingress_raw), ("egress", egress_raw)):
        if value is not None and not isinstance(value, list):
            raise PolicyError(f"spec.{key} must be a list of rules")
    if types is None:
        # The API server's default: Ingress always, Egress only when egress rules exist.
        kinds = {"Ingress"} | ({"Egress"} if egress_raw else set())
    else:
        if not isinstance(types, list) or not types:
            raise PolicyError("spec.policyTypes must be a non-empty list of Ingress and/or Egress")
        bad = [t for t in types if t not in ("Ingress", "Egress")]
        if bad:
            raise PolicyError(f"spec.policyTypes has {bad[0]!r}; only Ingress and Egress exist "
                              "(note the spelling: policyTypes, capitalised values)")
        kinds = set(types)
    policy = Policy(obj, namespace, pod_selector, "Ingress" in kinds, "Egress" in kinds)
    # Rules are validated even for a direction the policy does not isolate (the API server
    # does too), but only count for the directions in policyTypes.
    ingress = tuple(_rule(policy, "ingress", "from", i, r) for i, r in enumerate(ingress_raw or []))
    egress = tuple(_rule(policy, "egress", "to", i, r) for i, r in enumerate(egress_raw or []))
    policy.ingress = ingress if policy.isolates_ingress else ()
    policy.egress = egress if policy.isolates_egress else ()
    return policy


def _rule(policy: Policy, direction: str, peer_key: str, index: int, raw: Any) -> NetworkPolicyRule:
    where = f"spec.{direction}[{index}]"
    if raw is None:  # "- {}" written as "-": a rule with no restrictions
        raw = {}
    if not isinstance(raw, dict):
        raise PolicyError(f"{where} must be a mapping")
    peers_raw, ports_raw = raw.get(peer_key), raw.get("ports")
    other = "to" if peer_key == "from" else "from"
    if other in raw:
        raise PolicyError(f"{where} has {other!r}; {direction} rules use {peer_key!r}")
    if peers_raw is not None and not isinstance(peers_raw, list):
        raise PolicyError(f"{where}.{peer_key} must be a list")
    if ports_raw is not None and not isinstance(ports_raw, list):
        raise PolicyError(f"{where}.ports must be a list")
    peers = tuple(_peer(p, f"{where}.{peer_key}[{i}]") for i, p in enumerate(peers_raw)) if peers_raw else None
    ports = tuple(_port(p, f"{where}.ports[{i}]") for i, p in enumerate(ports_raw)) if ports_raw else None
    return NetworkPolicyRule(policy, direction, index, peers, ports, policy.obj.line(raw))


def _peer(raw: Any, where: str) -> Peer:
    if not isinstance(raw, dict):
        raise PolicyError(f"{where} must be a mapping")
    has_pod, has_ns, has_ip = "podSelector" in raw, "namespaceSelector" in raw, "ipBlock" in raw
    if has_ip and (has_pod or has_ns):
        raise PolicyError(f"{where}: ipBlock cannot be combined with podSelector or namespaceSelector")
    if not (has_pod or has_ns or has_ip):
        raise PolicyError(f"{where} must set podSelector, namespaceSelector or ipBlock")
    if has_ip:
        return Peer(ip_block=_ip_block(raw["ipBlock"], f"{where}.ipBlock"))
    try:
        pod = compile_selector(raw["podSelector"], f"{where}.podSelector") if has_pod else None
        ns = compile_selector(raw["namespaceSelector"], f"{where}.namespaceSelector") if has_ns else None
    except SelectorError as exc:
        raise PolicyError(str(exc)) from None
    return Peer(pod_selector=pod, namespace_selector=ns)


def rule_action(raw: Any, where: str, actions: tuple[str, ...]) -> str:
    """The ``action`` of the rule mapping ``raw`` at ``where``; raises PolicyError when the rule
    is not a mapping or the action is not one of ``actions`` (AdminNetworkPolicy, Calico)."""
    if not isinstance(raw, dict):
        raise PolicyError(f"{where} must be a mapping")
    action = raw.get("action")
    if action not in actions:
        raise PolicyError(f"{where}.action is {action!r}, not one of {', '.join(actions)}")
    return action


def port_name_ok(name: str) -> bool:
    """An IANA_SVC_NAME as the API validates container port names (k8s.io/apimachinery validation)."""
    return bool(_PORT_NAME.match(name))


def cidr_of(value: Any, where: str) -> IPNetwork:
    """``value`` as a CIDR; raises PolicyError naming ``where`` when it is not one."""
    return _cidr(value, where)


def _cidr(value: Any, where: str) -> IPNetwork:
    """A CIDR as the API server accepts it: prefix length required, host bits tolerated."""
    if not isinstance(value, str) or "/" not in value:
        raise PolicyError(f"{where} {value!r} is not a CIDR (address/prefix-length)")
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise PolicyError(f"{where} {value!r} is not a CIDR (address/prefix-length)") from None


def _ip_block(raw: Any, where: str) -> IPBlock:
    if not isinstance(raw, dict) or not raw.get("cidr"):
        raise PolicyError(f"{where} must be a mapping with a cidr")
    cidr = _cidr(raw["cidr"], f"{where}.cidr")
    excepts = []
    items = raw.get("except")
    if items is not None and not isinstance(items, list):
        raise PolicyError(f"{where}.except must be a list")
    for i, item in enumerate(items or []):
        net = _cidr(item, f"{where}.except[{i}]")
        if net.version != cidr.version or not net.subnet_of(cidr) or net == cidr:  # type: ignore[arg-type]
            raise PolicyError(f"{where}.except[{i}] {net} must lie strictly inside {cidr}")
        excepts.append(net)
    return IPBlock(cidr, tuple(excepts))


def _port(raw: Any, where: str) -> PortRule:
    if not isinstance(raw, dict):
        raise PolicyError(f"{where} must be a mapping")
    protocol = raw.get("protocol") or "TCP"
    if protocol not in PROTOCOLS:
        raise PolicyError(f"{where}.protocol is {protocol!r}, not one of {', '.join(PROTOCOLS)}")
    port, end = raw.get("port"), raw.get("endPort")
    if port is None:
        if end is not None:
            raise PolicyError(f"{where}.endPort needs a numeric port")
        return PortRule(protocol)
    if isinstance(port, bool) or not isinstance(port, (int, str)):
        raise PolicyError(f"{where}.port must be a number or a port name")
    if isinstance(port, str):
        if end is not None:
            raise PolicyError(f"{where}.endPort cannot be used with a named port")
        if not port_name_ok(port):
            raise PolicyError(f"{where}.port {port!r} is not a valid port name (lowercase letters, digits and "
                              "'-', at most 15 characters, at least one letter)")
        return PortRule(protocol, name=port)
    if not MIN_PORT <= port <= MAX_PORT:
        raise PolicyError(f"{where}.port {port} is outside 1-65535")
    if end is None:
        return PortRule(protocol, port, port)
    if isinstance(end, bool) or not isinstance(end, int) or not port <= end <= MAX_PORT:
        raise PolicyError(f"{where}.endPort {end!r} must be a number between port ({port}) and 65535")
    return PortRule(protocol, port, end)
