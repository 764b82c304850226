"""Calico NetworkPolicy and GlobalNetworkPolicy (``projectcalico.org/v3``, ``crd.projectcalico.org/v1``).

Semantics follow Calico's resource reference (https://docs.tigera.io/calico/latest/reference/resources/
networkpolicy, globalnetworkpolicy, tier) and "Get started with policy tiers":

* ``spec.selector`` (a Calico selector expression, ``all()`` when empty) selects pods of the
  policy's namespace; for a GlobalNetworkPolicy, of every namespace ``spec.namespaceSelector``
  matches (all when absent). Selectors also see ``projectcalico.org/namespace`` and
  ``projectcalico.org/serviceaccount``.
* ``types`` defaults to Ingress when there are no egress rules, Egress when there are egress
  rules but no ingress rules, and both when there are both.
* Policies are ordered by ``order`` (missing = after every ordered policy; ties by name); a
  Kubernetes NetworkPolicy has order 1000 in the default tier. Rules are evaluated in order and
  the first that matches decides: ``Allow``, ``Deny``, ``Pass`` (go to the next tier) or
  ``Log`` (go on). When a policy of the tier selects the pod and no rule decides, the tier's
  ``defaultAction`` applies (``Deny`` unless the Tier says ``Pass``).
* Tiers run in their ``order`` (the ``default`` tier is 1,000,000; AdminNetworkPolicy and
  BaselineAdminNetworkPolicy are tiers 1,000 and 10,000,000).
* In an ingress rule ``source`` is the peer and ``destination`` narrows the policy's own pods
  and gives the ports; in an egress rule it is the other way round. An entity rule's
  ``selector``/``namespaceSelector`` match pods (of the policy's namespace unless
  ``namespaceSelector`` is given; of every namespace in a GlobalNetworkPolicy), ``notSelector``
  excludes, ``nets`` are addresses (they match pod addresses too: a net covering a whole
  address family is taken to match every pod), ``ports`` are numbers, ``"low:high"`` ranges or
  names, with ``protocol`` TCP, UDP or SCTP.

Not evaluated, and said in the rule's notes (an allow rule drops the condition, a deny or pass
rule that depends on it is left out, so the analysis allows at least what the cluster allows):
``serviceAccounts``, ``services``, ``notNets``, ``notPorts``, ``notProtocol``, source ports,
``http`` (L7) matches, ``icmp``, ``ipVersion``; ``nets`` together with a selector (pod
addresses are unknown); ``serviceAccountSelector`` on the policy (the policy is then taken to
select no pod); host endpoints (``preDNAT``, ``doNotTrack``, ``applyOnForward``).
"""

from __future__ import annotations

from typing import Any

from kubeharden.analysis.calico_selectors import compile_calico
from kubeharden.analysis.external import address_peer
from kubeharden.analysis.policies import (
    NETWORK_POLICY_LAYER,
    Peer,
    Policy,
    PolicyError,
    PortRule,
    NetworkPolicyRule,
    cidr_of,
    port_name_ok,
    rule_action,
)
from kubeharden.analysis.ports import MAX_PORT, MIN_PORT
from kubeharden.analysis.selectors import SelectorError
from kubeharden.model.objects import K8sObject

NAMESPACE_KEY = "projectcalico.org/namespace"
SERVICE_ACCOUNT_KEY = "projectcalico.org/serviceaccount"
DEFAULT_TIER = "default"
ACTIONS = ("Allow", "Deny", "Pass", "Log")
_PROTOCOL_NUMBERS = {6: "TCP", 17: "UDP", 132: "SCTP"}
_UNMODELLED_PROTOCOLS = ("ICMP", "ICMPv6", "UDPLite")


def extended_labels(namespace: str, service_account: str) -> dict[str, str]:
    """The labels Calico adds to every pod for its selectors."""
    return {NAMESPACE_KEY: namespace, SERVICE_ACCOUNT_KEY: service_account}


def tier_orders(tiers: list[K8sObject]) -> dict[str, tuple[float, bool]]:
    """``{tier name: (order, default action is Pass)}`` from Tier objects (default tier built in)."""
    out: dict[str, tuple[float, bool]] = {DEFAULT_TIER: (NETWORK_POLICY_LAYER, False)}
    for tier in tiers:
        spec = tier.raw["spec"] if isinstance(tier.raw.get("spec"), dict) else {}
        order = spec.get("order")
        value = float(order) if isinstance(order, (int, float)) and not isinstance(order, bool) else float("inf")
        out[tier.name] = (value, spec.get("defaultAction") == "Pass")
    return out


def _compile(text: Any, where: str) -> Any:
    try:
        return compile_calico(text, where)
    except SelectorError as exc:
        raise PolicyError(str(exc)) from None


def parse_calico_policy(obj: K8sObject, tiers: dict[str, tuple[float, bool]],
                        default_namespace: str = "default") -> Policy:
    """A Calico (Global)NetworkPolicy as a :class:`Policy` of its tier's layer; raises PolicyError."""
    spec = obj.raw.get("spec")
    if not isinstance(spec, dict):
        raise PolicyError("spec is missing or not a mapping")
    global_ = obj.kind == "GlobalNetworkPolicy"
    notes: list[str] = []
    selector = _compile(spec.get("selector"), "spec.selector")
    if spec.get("serviceAccountSelector"):
        notes.append("spec.serviceAccountSelector is not evaluated: the policy is taken to select no pod")
        selector = compile_calico("!all()", "spec.selector")
    for key in ("preDNAT", "doNotTrack", "applyOnForward"):
        if spec.get(key):
            notes.append(f"spec.{key}: host endpoint policy is not evaluated")
    ns_selector = _compile(spec.get("namespaceSelector"), "spec.namespaceSelector") \
        if global_ and spec.get("namespaceSelector") is not None else None
    for key in ("ingress", "egress"):
        if spec.get(key) is not None and not isinstance(spec.get(key), list):
            raise PolicyError(f"spec.{key} must be a list of rules")
    types = spec.get("types")
    ingress_raw, egress_raw = spec.get("ingress") or [], spec.get("egress") or []
    if types is None:
        kinds = {"Egress"} if egress_raw and not ingress_raw else \
            ({"Ingress", "Egress"} if egress_raw else {"Ingress"})
    else:
        if not isinstance(types, list) or any(t not in ("Ingress", "Egress") for t in types):
            raise PolicyError("spec.types must list Ingress and/or Egress")
        kinds = set(types)
    tier = str(spec.get("tier") or (obj.name.split(".", 1)[0] if "." in obj.name else DEFAULT_TIER))
    if tier not in tiers:
        notes.append(f"spec.tier {tier!r} has no Tier object in the input: its order is unknown, so it is "
                     "evaluated after every known tier")
    layer_order, passes = tiers.get(tier, (float("inf"), False))
    order_raw = spec.get("order")
    order = float(order_raw) if isinstance(order_raw, (int, float)) and not isinstance(order_raw, bool) \
        else float("inf")
    policy = Policy(obj, "" if global_ else (obj.namespace or default_namespace), selector,
                    "Ingress" in kinds, "Egress" in kinds, kind=f"{obj.kind} (Calico)",
                    layer="NetworkPolicy" if tier == DEFAULT_TIER else f"Calico tier {tier}",
                    layer_order=layer_order, layer_passes=passes, order=order, cluster_wide=global_,
                    namespace_selector=ns_selector, extended=True, notes=notes)
    ingress = [_rule(policy, "ingress", i, r, global_) for i, r in enumerate(ingress_raw)]
    egress = [_rule(policy, "egress", i, r, global_) for i, r in enumerate(egress_raw)]
    policy.ingress = tuple(r for r in ingress if r is not None) if policy.isolates_ingress else ()
    policy.egress = tuple(r for r in egress if r is not None) if policy.isolates_egress else ()
    return policy


def _rule(policy: Policy, direction: str, index: int, raw: Any, global_: bool) -> NetworkPolicyRule | None:
    where = f"spec.{direction}[{index}]"
    action = rule_action(raw, where, ACTIONS)
    notes: list[str] = []
    conditions = False  # AND-conditions that are not evaluated
    peer_key, own_key = ("source", "destination") if direction == "ingress" else ("destination", "source")
    peer_raw, own_raw = raw.get(peer_key) or {}, raw.get(own_key) or {}
    if not isinstance(peer_raw, dict) or not isinstance(own_raw, dict):
        raise PolicyError(f"{where}.source and .destination must be mappings")
    protocol = _protocol(raw.get("protocol"), f"{where}.protocol")
    if protocol in _UNMODELLED_PROTOCOLS:
        notes.append(f"{where}: protocol {protocol} is not modelled (only TCP, UDP and SCTP ports are); "
                     "the rule is left out")
        policy.notes.extend(notes)
        return None
    for key in ("notProtocol", "icmp", "notICMP", "ipVersion", "http"):
        if raw.get(key) is not None:
            conditions = True
            notes.append(f"{where}.{key} is not evaluated")
    dest = raw.get("destination") or {}
    ports = _ports(dest.get("ports") if isinstance(dest, dict) else None, protocol, f"{where}.destination.ports")
    for side, entity in ((own_key, own_raw), (peer_key, peer_raw)):
        for key in ("notNets", "notPorts", "serviceAccounts", "services"):
            if entity.get(key):
                conditions = True
                notes.append(f"{where}.{side}.{key} is not evaluated")
    if raw.get("source", {}).get("ports") if isinstance(raw.get("source"), dict) else False:
        conditions = True
        notes.append(f"{where}.source.ports (source ports) is not evaluated")
    own_selector = None
    if own_raw.get("selector") is not None or own_raw.get("notSelector") is not None:
        own_selector = _and_not(_compile(own_raw.get("selector"), f"{where}.{own_key}.selector"),
                                _compile(own_raw.get("notSelector"), f"{where}.{own_key}.notSelector")
                                if own_raw.get("notSelector") is not None else None)
    if own_raw.get("nets"):
        conditions = True
        notes.append(f"{where}.{own_key}.nets (the policy's own pod addresses) is not evaluated")
    peers, peer_conditions = _peers(peer_raw, f"{where}.{peer_key}", global_, action, notes)
    conditions |= peer_conditions
    if conditions and action != "Allow":
        notes.append(f"{where}: this {action} rule depends on a condition that is not evaluated, so it is left "
                     "out (the analysis may show more traffic than the cluster allows)")
        policy.notes.extend(notes)
        return None
    policy.notes.extend(notes)
    return NetworkPolicyRule(policy, direction, index, peers, ports, policy.obj.line(raw), action=action,
                             notes=tuple(notes), own_selector=own_selector)


class _AndNot:
    """``selector && !not_selector`` for a rule's own-side condition."""

    __slots__ = ("selector", "excluded")

    def __init__(self, selector: Any, excluded: Any) -> None:
        self.selector, self.excluded = selector, excluded

    def matches(self, labels: dict[str, str]) -> bool:
        return self.selector.matches(labels) and not (self.excluded is not None and self.excluded.matches(labels))


def _and_not(selector: Any, excluded: Any) -> Any:
    return selector if excluded is None else _AndNot(selector, excluded)


def _peers(raw: dict, where: str, global_: bool, action: str, notes: list[str]
           ) -> tuple[tuple[Peer, ...] | None, bool]:
    """The peers of an entity rule (None: every peer) and whether a condition was dropped."""
    selector, not_selector, ns = raw.get("selector"), raw.get("notSelector"), raw.get("namespaceSelector")
    nets = raw.get("nets")
    if nets is not None and not isinstance(nets, list):
        raise PolicyError(f"{where}.nets must be a list")
    blocks = [cidr_of(n, f"{where}.nets[{i}]") for i, n in enumerate(nets or [])]
    has_pods = selector is not None or not_selector is not None or ns is not None
    if raw.get("services"):
        notes.append(f"{where}.services: Kubernetes Services as peers are not evaluated; that peer is left out")
        return (), False
    if not has_pods and not blocks:
        return None, False
    if blocks and has_pods:
        notes.append(f"{where}: nets together with a selector is not evaluated exactly (pod addresses are "
                     "unknown): only the selector is used")
        return (_pod_peer(selector, not_selector, ns, where, global_),), True
    if blocks:
        return tuple(address_peer(b, action, f"{where}.nets", notes) for b in blocks), False
    return (_pod_peer(selector, not_selector, ns, where, global_),), False


def _pod_peer(selector: Any, not_selector: Any, ns: Any, where: str, global_: bool) -> Peer:
    pods = _compile(selector, f"{where}.selector")
    excluded = _compile(not_selector, f"{where}.notSelector") if not_selector is not None else None
    namespaces = _compile(ns, f"{where}.namespaceSelector") if ns is not None else None
    return Peer(pod_selector=pods, namespace_selector=namespaces, any_namespace=global_ and namespaces is None,
                extended=True, not_selector=excluded)


def _protocol(raw: Any, where: str) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        if raw in _PROTOCOL_NUMBERS:
            return _PROTOCOL_NUMBERS[raw]
        return "ICMP" if raw in (1, 58) else "UDPLite"  # other numbers: not modelled either way
    text = str(raw)
    for name in ("TCP", "UDP", "SCTP", *_UNMODELLED_PROTOCOLS):
        if text.upper() == name.upper():
            return name
    raise PolicyError(f"{where} {raw!r} is not a protocol Calico knows")


def _ports(raw: Any, protocol: str | None, where: str) -> tuple[PortRule, ...] | None:
    protocols = (protocol,) if protocol else ("TCP", "UDP", "SCTP")
    if raw is None:
        return None if protocol is None else (PortRule(protocol),)
    if not isinstance(raw, list):
        raise PolicyError(f"{where} must be a list")
    if protocol is None:
        raise PolicyError(f"{where} needs protocol TCP, UDP or SCTP on the rule")
    out: list[PortRule] = []
    for i, item in enumerate(raw):
        for proto in protocols:
            out.append(_port(item, proto, f"{where}[{i}]"))
    return tuple(out)


def _port(item: Any, protocol: str, where: str) -> PortRule:
    if isinstance(item, int) and not isinstance(item, bool):
        if not MIN_PORT <= item <= MAX_PORT:
            raise PolicyError(f"{where} {item} is outside 1-65535")
        return PortRule(protocol, item, item)
    text = str(item)
    if ":" in text:
        low_text, _, high_text = text.partition(":")
        if not (low_text.isdigit() and high_text.isdigit()) or \
                not MIN_PORT <= int(low_text) <= int(high_text) <= MAX_PORT:
            raise PolicyError(f"{where} {text!r} is not a port range low:high within 1-65535")
        return PortRule(protocol, int(low_text), int(high_text))
    if text.isdigit():
        return _port(int(text), protocol, where)
    if not port_name_ok(text):
        raise PolicyError(f"{where} {text!r} is neither a port, a range nor a valid port name")
    return PortRule(protocol, name=text)
