"""The order in which policy layers decide one direction of a connection.

For one pod and one direction the layers are evaluated in ``layer_order``
(KEP-2091 "AdminNetworkPolicy"; Calico "Tiers"):

1. AdminNetworkPolicy: rules by priority, then as written. The first rule that matches a
   port decides it: ``Allow`` and ``Deny`` are final, ``Pass`` hands it to the next layer.
2. NetworkPolicy (with Cilium's policies and Calico's default tier): Cilium deny rules first,
   then ordered rules (Kubernetes NetworkPolicies have only allows, so their order does not
   matter). When some policy isolates the pod for the direction, a port no rule decided is
   denied; otherwise it goes on.
3. Further Calico tiers, in their order, the same way (a Tier whose ``defaultAction`` is
   ``Pass`` passes instead of denying).
4. BaselineAdminNetworkPolicy: ``Allow`` or ``Deny`` by the first matching rule.

A port that no layer decides is allowed (a pod nothing isolates accepts everything).
``Log`` rules decide nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from kubeharden.analysis.policies import NetworkPolicyRule
from kubeharden.analysis.ports import ALL_PORTS, NO_PORTS, PortSet

NamedPorts = Mapping[tuple[str, str], frozenset[int]]


@dataclass(slots=True)
class Layer:
    """The rules of one layer that apply to one pod class in one direction, in evaluation order."""

    name: str
    order: float
    passes: bool  # nothing matched: pass on (True) or deny when isolated (False)
    isolated: bool = False
    rules: list[NetworkPolicyRule] = field(default_factory=list)


@dataclass(slots=True)
class Decision:
    """What the layers allow for one peer: the ports, and each rule that decided some of them."""

    allowed: PortSet
    steps: list[tuple[NetworkPolicyRule, str, PortSet]]  # (rule, action taken, ports it decided)
    by_default: PortSet  # allowed because nothing isolates the pod for those ports
    isolated_by: list[tuple[str, PortSet]]  # each layer whose isolation denied what no rule decided, and those ports

    def denied_by_isolation(self, wanted: PortSet = ALL_PORTS) -> list[str]:
        """The layers whose isolation denied some of ``wanted`` (a port no rule decided)."""
        return [name for name, ports in self.isolated_by if ports & wanted]


def decide(layers: list[Layer], hit: Callable[[NetworkPolicyRule], bool], named: NamedPorts | None) -> Decision:
    """Evaluate ``layers`` for a peer; ``hit(rule)`` says whether the rule's peers match it.

    ``named`` are the destination's container ports (None towards an address outside the
    cluster, where named ports open nothing).
    """
    undecided = ALL_PORTS
    allowed = NO_PORTS
    steps: list[tuple[NetworkPolicyRule, str, PortSet]] = []
    isolated_by: list[tuple[str, PortSet]] = []
    for layer in layers:
        passed = NO_PORTS
        for rule in layer.rules:
            if not undecided:
                break
            if rule.action == "Log" or not hit(rule):
                continue
            ports = rule.resolve_ports(named) & undecided
            if not ports:
                continue
            steps.append((rule, rule.action, ports))
            undecided = undecided - ports
            if rule.action == "Allow":
                allowed = allowed | ports
            elif rule.action == "Pass":
                passed = passed | ports
        if layer.isolated and not layer.passes:
            if undecided:
                isolated_by.append((layer.name, undecided))
            undecided = passed
        else:
            undecided = undecided | passed
        if not undecided:
            break
    return Decision(allowed | undecided, steps, undecided, isolated_by)
