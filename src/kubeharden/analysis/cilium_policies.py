"""CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy (``cilium.io/v2``), their L3/L4 part.

Semantics follow Cilium's policy documentation (https://docs.cilium.io/en/stable/security/policy/,
"Policy Enforcement Modes", "Layer 3 Examples", "Layer 4 Examples", "Deny Policies") and the
``cilium.io/v2`` Rule reference:

* ``endpointSelector`` selects pods: of the policy's namespace for a CiliumNetworkPolicy, of
  every namespace for a CiliumClusterwideNetworkPolicy. Label keys may carry the ``k8s:`` or
  ``any:`` source prefix. Selectors also see ``io.kubernetes.pod.namespace``, the namespace's
  labels as ``io.cilium.k8s.namespace.labels.KEY`` and the pod's service account as
  ``io.cilium.k8s.policy.serviceaccount``. ``nodeSelector`` (host policies) is not evaluated.
* A policy with a non-empty ``ingress`` or ``ingressDeny`` puts the selected pods in default
  deny for ingress (likewise egress) unless ``enableDefaultDeny.ingress`` is false.
* ``ingressDeny``/``egressDeny`` rules take precedence over every allow, including those of
  Kubernetes NetworkPolicies.
* In one rule the L3 peers (``fromEndpoints``, ``fromCIDR``, ``fromCIDRSet``, ``fromEntities``
  …) are alternatives and ``toPorts`` restricts them. A rule with ``toPorts`` and no L3 peer
  applies to every peer; an empty rule ``{}`` allows nothing. ``fromEndpoints`` of a namespaced
  policy stay in its namespace unless they name ``io.kubernetes.pod.namespace``. CIDR peers
  never match pods managed by Cilium, and by default not node addresses either: Cilium gives
  node IPs the ``host``/``remote-node`` identities, which CIDR selectors (and ``world``) do not
  select unless the agent runs with ``policy-cidr-match-mode: nodes`` ("Layer 3 Examples",
  "Selecting nodes with CIDR / ipBlock"). kubeharden follows that default: only ``host``,
  ``remote-node``, ``cluster``, ``all`` and ``toNodes`` peers reach node addresses.
* ``toPorts[].ports[]``: ``port`` is a number or a name, ``endPort`` widens it, ``protocol``
  is TCP, UDP, SCTP or ANY (the default).

Not evaluated, and said in the rule's notes (treated so that the analysis allows at least what
the cluster allows: an allow rule drops the condition it cannot evaluate, a deny rule that
depends on one is left out): L7 rules (``toPorts[].rules``: HTTP, DNS, Kafka; the port counts
as open to every request), ``toFQDNs``, ``toServices``, ``fromGroups``/``toGroups``,
``cidrGroupRef``, ``fromRequires``/``toRequires``, ``icmps``, ``authentication`` and the
entities ``kube-apiserver``, ``ingress``, ``health``, ``init`` and ``unmanaged``. The
entities ``all``, ``world``, ``cluster``, ``host`` and ``remote-node`` are evaluated.
"""

from __future__ import annotations

from typing import Any, cast

from kubeharden.analysis.policies import (
    ANY_IPV4,
    ANY_IPV6,
    IPBlock,
    Peer,
    Policy,
    PolicyError,
    PortRule,
    NetworkPolicyRule,
    cidr_of,
    port_name_ok,
)
from kubeharden.analysis.ports import MAX_PORT, MIN_PORT, PROTOCOLS
from kubeharden.analysis.selectors import EVERYTHING, Selector, SelectorError, compile_selector
from kubeharden.model.objects import K8sObject

CILIUM_KINDS = ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy")
NAMESPACE_KEY = "io.kubernetes.pod.namespace"
NAMESPACE_LABEL_PREFIX = "io.cilium.k8s.namespace.labels."
SERVICE_ACCOUNT_KEY = "io.cilium.k8s.policy.serviceaccount"
#: Deny rules are evaluated before every allow of the NetworkPolicy layer.
DENY_ORDER = float("-inf")

_PEER_KEYS = {"ingress": ("fromEndpoints", "fromCIDR", "fromCIDRSet", "fromEntities", "fromGroups", "fromNodes"),
              "egress": ("toEndpoints", "toCIDR", "toCIDRSet", "toEntities", "toServices", "toFQDNs", "toGroups",
                         "toNodes")}
_NOT_EVALUATED = {"fromGroups": "cloud provider groups", "toGroups": "cloud provider groups",
                  "toServices": "Kubernetes Services as peers", "toFQDNs": "DNS names (FQDN)"}
_ENTITIES_NOT_EVALUATED = ("kube-apiserver", "ingress", "health", "init", "unmanaged")


def is_cilium_policy(obj: K8sObject) -> bool:
    return obj.kind in CILIUM_KINDS


def extended_labels(labels: dict[str, str], namespace: str, namespace_labels: dict[str, str],
                    service_account: str) -> dict[str, str]:
    """A pod's labels as Cilium's selectors see them (namespace, its labels, service account)."""
    out = dict(labels)
    out[NAMESPACE_KEY] = namespace
    for key, value in namespace_labels.items():
        out[NAMESPACE_LABEL_PREFIX + key] = value
    out[SERVICE_ACCOUNT_KEY] = service_account
    return out


def _strip(raw: Any, where: str, notes: list[str]) -> Any:
    """The selector with ``k8s:``/``any:`` prefixes removed; other label sources are noted."""
    if not isinstance(raw, dict):
        return raw
    out = dict(raw)
    labels = raw.get("matchLabels")
    if isinstance(labels, dict):
        out["matchLabels"] = {_key(k, where, notes): v for k, v in labels.items()}
    exprs = raw.get("matchExpressions")
    if isinstance(exprs, list):
        out["matchExpressions"] = [{**e, "key": _key(e.get("key"), where, notes)} if isinstance(e, dict) else e
                                   for e in exprs]
    return out


def _key(key: Any, where: str, notes: list[str]) -> Any:
    if not isinstance(key, str) or ":" not in key:
        return key
    source, _, rest = key.partition(":")
    if source in ("k8s", "any"):
        return rest
    notes.append(f"{where}: label source {source!r} in {key!r} is not evaluated")
    return key


def _selector(raw: Any, where: str, notes: list[str]) -> Any:
    try:
        return compile_selector(_strip(raw, where, notes), where)
    except SelectorError as exc:
        raise PolicyError(str(exc)) from None


def _names_namespace(selector: Any) -> bool:
    return any(k == NAMESPACE_KEY for k, _ in selector.labels) or \
        any(r.key == NAMESPACE_KEY for r in selector.requirements)


def parse_cilium_specs(obj: K8sObject, default_namespace: str = "default") -> list[Policy]:
    """One Policy per entry of ``spec`` / ``specs``; raises PolicyError."""
    spec, specs = obj.raw.get("spec"), obj.raw.get("specs")
    items: list[tuple[str, Any]] = []
    if spec is not None:
        items.append(("spec", spec))
    if specs is not None:
        if not isinstance(specs, list):
            raise PolicyError("specs must be a list")
        items.extend((f"specs[{i}]", s) for i, s in enumerate(specs))
    if not items:
        raise PolicyError("spec is missing (a Cilium policy needs spec or specs)")
    return [_one(obj, where, raw, default_namespace) for where, raw in items]


def _one(obj: K8sObject, where: str, spec: Any, default_namespace: str) -> Policy:
    if not isinstance(spec, dict):
        raise PolicyError(f"{where} must be a mapping")
    clusterwide = obj.kind == "CiliumClusterwideNetworkPolicy"
    notes: list[str] = []
    if "endpointSelector" not in spec:
        if "nodeSelector" in spec:
            notes.append(f"{where}.nodeSelector: host policies (for nodes) are not evaluated")
        else:
            raise PolicyError(f"{where} must set endpointSelector or nodeSelector")
        selector = None
    else:
        selector = _selector(spec.get("endpointSelector"), f"{where}.endpointSelector", notes)
    default_deny = spec["enableDefaultDeny"] if isinstance(spec.get("enableDefaultDeny"), dict) else {}
    isolates = {}
    for direction in ("ingress", "egress"):
        for key in (direction, direction + "Deny"):
            if spec.get(key) is not None and not isinstance(spec.get(key), list):
                raise PolicyError(f"{where}.{key} must be a list of rules")
        has_rules = bool(spec.get(direction)) or bool(spec.get(direction + "Deny"))
        isolates[direction] = has_rules and default_deny.get(direction) is not False
    namespace = "" if clusterwide else (obj.namespace or default_namespace)
    policy = Policy(obj, namespace, selector if selector is not None else _NOTHING, isolates["ingress"],
                    isolates["egress"], kind=obj.kind, layer="NetworkPolicy", cluster_wide=clusterwide,
                    extended=True, notes=notes)
    for direction in ("ingress", "egress"):
        rules: list[NetworkPolicyRule] = []
        for action, key in (("Deny", direction + "Deny"), ("Allow", direction)):
            for i, raw in enumerate(spec.get(key) or []):
                rule = _rule(policy, direction, f"{where}.{key}[{i}]", len(rules), raw, action, clusterwide)
                if rule is not None and action == "Deny":
                    rule.order = DENY_ORDER
                if rule is not None:
                    rules.append(rule)
        if direction == "ingress":
            policy.ingress = tuple(rules)
        else:
            policy.egress = tuple(rules)
    return policy


class _Nothing:
    """A selector that matches no pod (host policies select nodes, not pods)."""

    is_empty = False

    def matches(self, labels: dict[str, str]) -> bool:
        return False

    def describe(self) -> str:
        return "(nodes only)"


_NOTHING = cast(Selector, _Nothing())  # used where a Selector is: it has the methods policies call


def _rule(policy: Policy, direction: str, where: str, index: int, raw: Any, action: str,
          clusterwide: bool) -> NetworkPolicyRule | None:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PolicyError(f"{where} must be a mapping")
    notes: list[str] = []
    peers: list[Peer] = []
    everyone = False
    l3 = [k for k in _PEER_KEYS[direction] if raw.get(k) is not None]
    unevaluable_and = False
    for key in l3:
        value = raw[key]
        if not isinstance(value, list):
            raise PolicyError(f"{where}.{key} must be a list")
        if key in ("fromEndpoints", "toEndpoints"):
            for i, sel in enumerate(value):
                compiled = _selector(sel, f"{where}.{key}[{i}]", notes)
                peers.append(Peer(pod_selector=compiled, extended=True,
                                  any_namespace=clusterwide or _names_namespace(compiled)))
        elif key in ("fromCIDR", "toCIDR"):
            peers.extend(Peer(ip_block=IPBlock(cidr_of(c, f"{where}.{key}[{i}]")), ip_matches_nodes=False)
                         for i, c in enumerate(value))
        elif key in ("fromCIDRSet", "toCIDRSet"):
            for i, item in enumerate(value):
                peers.extend(_cidr_set(item, f"{where}.{key}[{i}]", notes))
        elif key in ("fromEntities", "toEntities"):
            for entity in value:
                found = _entity(str(entity), f"{where}.{key}", notes)
                if found is None:
                    everyone = True
                else:
                    peers.extend(found)
        elif key in ("fromNodes", "toNodes"):
            for i, sel in enumerate(value):
                peers.append(Peer(nodes=_selector(sel, f"{where}.{key}[{i}]", notes)))
        else:
            notes.append(f"{where}.{key} ({_NOT_EVALUATED[key]}) is not evaluated: those peers are left out")
    for key in ("fromRequires", "toRequires"):
        if raw.get(key):
            unevaluable_and = True
            notes.append(f"{where}.{key} (an extra condition on peers) is not evaluated")
    if raw.get("icmps"):
        notes.append(f"{where}.icmps: ICMP is not modelled (only TCP, UDP and SCTP ports are)")
    if raw.get("authentication"):
        unevaluable_and = True
        notes.append(f"{where}.authentication (mutual authentication) is not evaluated")
    ports, port_notes, port_conditions = _ports(raw.get("toPorts"), f"{where}.toPorts")
    notes.extend(port_notes)
    if action == "Deny" and (unevaluable_and or port_conditions):
        notes.append(f"{where}: this deny rule depends on a condition that is not evaluated, so it is left out "
                     "(the analysis may show more traffic than the cluster allows)")
        policy.notes.extend(notes)
        return None
    if everyone:
        peer_tuple: tuple[Peer, ...] | None = None
    elif not l3:
        # toPorts alone applies to every peer; a rule with neither peers nor ports allows nothing.
        peer_tuple = None if raw.get("toPorts") else ()
    else:
        peer_tuple = tuple(peers)
    policy.notes.extend(notes)
    return NetworkPolicyRule(policy, direction, index, peer_tuple, ports, policy.obj.line(raw), action=action,
                             notes=tuple(notes))


def _cidr_set(item: Any, where: str, notes: list[str]) -> list[Peer]:
    if not isinstance(item, dict):
        raise PolicyError(f"{where} must be a mapping with cidr (and except)")
    if "cidrGroupRef" in item or "cidrGroupSelector" in item:
        notes.append(f"{where}: CiliumCIDRGroup references are not evaluated: the peer is left out")
        return []
    if "cidr" not in item:
        raise PolicyError(f"{where} must set cidr")
    cidr = cidr_of(item["cidr"], f"{where}.cidr")
    excepts = item.get("except") or []
    if not isinstance(excepts, list):
        raise PolicyError(f"{where}.except must be a list")
    holes = []
    for i, text in enumerate(excepts):
        net = cidr_of(text, f"{where}.except[{i}]")
        if net.version == cidr.version and net.subnet_of(cidr):  # type: ignore[arg-type]
            holes.append(net)
    return [Peer(ip_block=IPBlock(cidr, tuple(holes)), ip_matches_nodes=False)]


def _entity(name: str, where: str, notes: list[str]) -> list[Peer] | None:
    """Peers of one entity; None for ``all`` (every peer)."""
    if name == "all":
        return None
    if name == "world":
        return [Peer(ip_block=ANY_IPV4, ip_matches_nodes=False), Peer(ip_block=ANY_IPV6, ip_matches_nodes=False)]
    if name == "cluster":
        return [Peer(pod_selector=EVERYTHING, any_namespace=True), Peer(nodes=EVERYTHING)]
    if name in ("host", "remote-node"):
        return [Peer(nodes=EVERYTHING)]
    if name in _ENTITIES_NOT_EVALUATED:
        notes.append(f"{where}: entity {name!r} is not evaluated: that peer is left out")
        return []
    raise PolicyError(f"{where}: unknown entity {name!r}")


def _ports(raw: Any, where: str) -> tuple[tuple[PortRule, ...] | None, list[str], bool]:
    """(ports, notes, has conditions that cannot be evaluated) of ``toPorts``."""
    if raw is None:
        return None, [], False
    if not isinstance(raw, list):
        raise PolicyError(f"{where} must be a list")
    notes: list[str] = []
    conditions = False
    out: list[PortRule] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise PolicyError(f"{where}[{i}] must be a mapping")
        if item.get("rules"):
            conditions = True
            kinds = sorted(map(str, item["rules"])) if isinstance(item["rules"], dict) else ["?"]
            notes.append(f"{where}[{i}].rules: L7 rules ({', '.join(kinds)}) are not evaluated: the ports count "
                         "as open to every request")
        for key in ("serverNames", "terminatingTLS", "originatingTLS", "listener"):
            if item.get(key):
                conditions = True
                notes.append(f"{where}[{i}].{key} is not evaluated: the ports count as open")
        ports = item.get("ports")
        if ports is None:
            out.extend(PortRule(p) for p in PROTOCOLS)
            continue
        if not isinstance(ports, list):
            raise PolicyError(f"{where}[{i}].ports must be a list")
        for j, port in enumerate(ports):
            out.append(_port(port, f"{where}[{i}].ports[{j}]"))
    return tuple(out), notes, conditions


def _port(raw: Any, where: str) -> PortRule:
    if not isinstance(raw, dict):
        raise PolicyError(f"{where} must be a mapping with port and protocol")
    protocol = str(raw.get("protocol") or "ANY").upper()
    if protocol not in (*PROTOCOLS, "ANY"):
        raise PolicyError(f"{where}.protocol is {protocol!r}, not one of TCP, UDP, SCTP, ANY")
    port = raw.get("port")
    if port is None or str(port) == "0":
        return PortRule(protocol)
    text = str(port)
    if text.isdigit():
        number = int(text)
        end = raw.get("endPort")
        high = number
        if end is not None:
            if isinstance(end, bool) or not isinstance(end, int) or not number <= end <= MAX_PORT:
                raise PolicyError(f"{where}.endPort {end!r} must be between port ({number}) and 65535")
            high = end
        if not MIN_PORT <= number <= MAX_PORT:
            raise PolicyError(f"{where}.port {number} is outside 1-65535")
        return PortRule(protocol, number, high)
    if not port_name_ok(text):
        raise PolicyError(f"{where}.port {text!r} is neither a port number nor a valid port name")
    return PortRule(protocol, name=text)
