"""AdminNetworkPolicy and BaselineAdminNetworkPolicy (``policy.networking.k8s.io/v1alpha1``).

Semantics follow the network-policy-api reference (https://network-policy-api.sigs.k8s.io/reference/spec/)
and KEP-2091 (kubernetes/enhancements, keps/sig-network/2091-admin-network-policy):

* Both are cluster-scoped. ``spec.subject`` is exactly one of ``namespaces`` (a label
  selector: every pod of the matching namespaces) or ``pods`` (``namespaceSelector`` and
  ``podSelector``). Host-networked pods are never subjects.
* An AdminNetworkPolicy has a ``priority`` 0-1000: lower values are evaluated first; inside
  one policy the rules are evaluated in the order written. The first matching rule decides:
  ``Allow`` (final, NetworkPolicies cannot block it), ``Deny`` (final) or ``Pass`` (skip the
  remaining AdminNetworkPolicy rules and let NetworkPolicies decide, then the baseline).
* A BaselineAdminNetworkPolicy (a singleton named ``default``) is evaluated only for traffic
  that no AdminNetworkPolicy decided and no NetworkPolicy applies to (the pod is not isolated
  for that direction); its actions are ``Allow`` and ``Deny``.
* ``ingress[].from`` peers: ``namespaces`` or ``pods``; ``egress[].to`` peers also ``nodes``
  (a node label selector) and ``networks`` (CIDRs). ``networks`` match cluster-internal
  addresses too ("if you Deny traffic to 0.0.0.0/0, that will deny all IPv4 pod-to-pod
  traffic as well").
* ``ports`` missing means every port; each entry is exactly one of ``portNumber``
  (``protocol``, ``port``), ``portRange`` (``protocol``, ``start`` < ``end``) or ``namedPort``
  (resolved against the destination pod's container ports).

An object the API server would reject raises :class:`PolicyError`. Experimental fields this
module does not evaluate (``domainNames``) are recorded in the rule's notes.
"""

from __future__ import annotations

from typing import Any

from kubeharden.analysis.external import address_peer
from kubeharden.analysis.policies import (
    ADMIN_LAYER,
    BASELINE_LAYER,
    Peer,
    Policy,
    PolicyError,
    PortRule,
    NetworkPolicyRule,
    api_group,
    cidr_of,
    port_name_ok,
    rule_action,
)
from kubeharden.analysis.ports import MAX_PORT, MIN_PORT, PROTOCOLS
from kubeharden.analysis.selectors import EVERYTHING, SelectorError, compile_selector
from kubeharden.model.objects import K8sObject

GROUP = "policy.networking.k8s.io"
ADMIN_KINDS = ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy")


def is_admin_policy(obj: K8sObject) -> bool:
    return obj.kind in ADMIN_KINDS and api_group(obj) == GROUP


def parse_admin_policy(obj: K8sObject) -> Policy:
    """Validate an AdminNetworkPolicy or BaselineAdminNetworkPolicy into a layered :class:`Policy`.

    Raises PolicyError (message starting with the field path) where the API server's
    validation would reject the object.
    """
    baseline = obj.kind == "BaselineAdminNetworkPolicy"
    if baseline and obj.name != "default":
        raise PolicyError(f"metadata.name is {obj.name!r}: a BaselineAdminNetworkPolicy is a singleton that must "
                          "be named 'default'")
    spec = obj.raw.get("spec")
    if not isinstance(spec, dict):
        raise PolicyError("spec is missing or not a mapping")
    order: Any = 0
    if not baseline:
        order = spec.get("priority")
        if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= 1000:
            raise PolicyError(f"spec.priority must be a number from 0 to 1000, not {order!r}")
    namespaces, pods = _subject(spec.get("subject"))
    for key in ("ingress", "egress"):
        value = spec.get(key)
        if value is not None and not isinstance(value, list):
            raise PolicyError(f"spec.{key} must be a list of rules")
        if value is not None and len(value) > 100:
            raise PolicyError(f"spec.{key} has {len(value)} rules; at most 100 are allowed")
    policy = Policy(obj, "", pods, bool(spec.get("ingress")), bool(spec.get("egress")),
                    kind=obj.kind, layer=obj.kind, layer_order=BASELINE_LAYER if baseline else ADMIN_LAYER,
                    layer_passes=True, order=float(order), cluster_wide=True, namespace_selector=namespaces)
    actions = ("Allow", "Deny") if baseline else ("Allow", "Deny", "Pass")
    policy.ingress = tuple(_rule(policy, "ingress", i, r, actions) for i, r in enumerate(spec.get("ingress") or []))
    policy.egress = tuple(_rule(policy, "egress", i, r, actions) for i, r in enumerate(spec.get("egress") or []))
    return policy


def _selector(raw: Any, where: str, required: bool = True) -> Any:
    if raw is None and required:
        raise PolicyError(f"{where} is required")
    try:
        return compile_selector(raw, where)
    except SelectorError as exc:
        raise PolicyError(str(exc)) from None


def _subject(raw: Any) -> tuple[Any, Any]:
    """(namespace selector, pod selector) of ``spec.subject``."""
    if not isinstance(raw, dict) or len(raw) != 1 or not set(raw) <= {"namespaces", "pods"}:
        raise PolicyError("spec.subject must set exactly one of namespaces or pods")
    if "namespaces" in raw:
        return _selector(raw["namespaces"], "spec.subject.namespaces"), EVERYTHING
    pods = raw["pods"]
    if not isinstance(pods, dict):
        raise PolicyError("spec.subject.pods must be a mapping with namespaceSelector and podSelector")
    return (_selector(pods.get("namespaceSelector"), "spec.subject.pods.namespaceSelector"),
            _selector(pods.get("podSelector"), "spec.subject.pods.podSelector"))


def _rule(policy: Policy, direction: str, index: int, raw: Any, actions: tuple[str, ...]) -> NetworkPolicyRule:
    where = f"spec.{direction}[{index}]"
    action = rule_action(raw, where, actions)
    key = "from" if direction == "ingress" else "to"
    peers_raw = raw.get(key)
    if not isinstance(peers_raw, list) or not peers_raw:
        raise PolicyError(f"{where}.{key} must be a non-empty list of peers")
    notes: list[str] = []
    peers: list[Peer] = []
    for i, p in enumerate(peers_raw):
        peers.extend(_peer(p, f"{where}.{key}[{i}]", direction, action, notes))
    ports_raw = raw.get("ports")
    if ports_raw is not None and (not isinstance(ports_raw, list) or not ports_raw):
        raise PolicyError(f"{where}.ports must be a non-empty list when set")
    ports = tuple(_port(p, f"{where}.ports[{i}]") for i, p in enumerate(ports_raw)) if ports_raw else None
    name = raw.get("name")
    policy.notes.extend(notes)
    return NetworkPolicyRule(policy, direction, index, tuple(peers), ports, policy.obj.line(raw), action=action,
                notes=tuple(notes), name=str(name) if name else None)


def _peer(raw: Any, where: str, direction: str, action: str, notes: list[str]) -> list[Peer]:
    allowed = {"namespaces", "pods"} | ({"nodes", "networks", "domainNames"} if direction == "egress" else set())
    if not isinstance(raw, dict) or len(raw) != 1 or not set(raw) <= allowed:
        raise PolicyError(f"{where} must set exactly one of {', '.join(sorted(allowed))}")
    if "namespaces" in raw:
        return [Peer(pod_selector=EVERYTHING, namespace_selector=_selector(raw["namespaces"], f"{where}.namespaces"))]
    if "pods" in raw:
        pods = raw["pods"]
        if not isinstance(pods, dict):
            raise PolicyError(f"{where}.pods must be a mapping with namespaceSelector and podSelector")
        return [Peer(pod_selector=_selector(pods.get("podSelector"), f"{where}.pods.podSelector"),
                     namespace_selector=_selector(pods.get("namespaceSelector"), f"{where}.pods.namespaceSelector"))]
    if "nodes" in raw:
        return [Peer(nodes=_selector(raw["nodes"], f"{where}.nodes"))]
    if "domainNames" in raw:
        notes.append(f"{where}.domainNames is not evaluated (names resolve at run time): the rule is treated "
                     "as matching no address")
        return []
    networks = raw["networks"]
    if not isinstance(networks, list) or not networks or len(networks) > 25:
        raise PolicyError(f"{where}.networks must list 1 to 25 CIDRs")
    return [address_peer(cidr_of(text, f"{where}.networks[{i}]"), action, f"{where}.networks[{i}]", notes)
            for i, text in enumerate(networks)]


def _protocol(raw: dict, where: str) -> str:
    protocol = raw.get("protocol") or "TCP"
    if protocol not in PROTOCOLS:
        raise PolicyError(f"{where}.protocol is {protocol!r}, not one of {', '.join(PROTOCOLS)}")
    return protocol


def _number(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_PORT <= value <= MAX_PORT:
        raise PolicyError(f"{where} must be a port number 1-65535, not {value!r}")
    return value


def _port(raw: Any, where: str) -> PortRule:
    if not isinstance(raw, dict) or len(raw) != 1 or not set(raw) <= {"portNumber", "portRange", "namedPort"}:
        raise PolicyError(f"{where} must set exactly one of portNumber, portRange or namedPort")
    if "namedPort" in raw:
        name = raw["namedPort"]
        if not isinstance(name, str) or not port_name_ok(name):
            raise PolicyError(f"{where}.namedPort {name!r} is not a valid port name")
        # A named port matches the container port of that name whatever its protocol;
        # PortRule resolves a name per protocol, so the three protocols are tried.
        return PortRule("ANY", name=name)
    if "portNumber" in raw:
        item = raw["portNumber"]
        if not isinstance(item, dict):
            raise PolicyError(f"{where}.portNumber must be a mapping with protocol and port")
        number = _number(item.get("port"), f"{where}.portNumber.port")
        return PortRule(_protocol(item, f"{where}.portNumber"), number, number)
    item = raw["portRange"]
    if not isinstance(item, dict):
        raise PolicyError(f"{where}.portRange must be a mapping with protocol, start and end")
    start = _number(item.get("start"), f"{where}.portRange.start")
    end = _number(item.get("end"), f"{where}.portRange.end")
    if start >= end:
        raise PolicyError(f"{where}.portRange: start ({start}) must be less than end ({end})")
    return PortRule(_protocol(item, f"{where}.portRange"), start, end)
