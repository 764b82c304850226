"""NetworkPolicies for the guide's baseline (NSA-NET-6, Appendix E), derived from the input.

Per namespace:

* ``default-deny-all``: every pod isolated for Ingress and Egress;
* ``allow-dns-egress``: egress from every pod to kube-dns in kube-system on UDP and TCP 53;
* per Service with a selector, ``svc-<service>-ingress``: ingress to the Service's pods on its
  target ports from pods of the same namespace, and ``svc-<service>-egress``: egress from
  every pod of the namespace to those pods on those ports, so that the application keeps
  working. NodePort and LoadBalancer Services also admit their external clients (the
  ``loadBalancerSourceRanges``, or any address); Services behind an Ingress admit the
  ingress controller's namespace.

Objects that set no namespace count as in ``Options.unset_namespace`` (the namespace they will be
applied to; ``default`` unless the command says otherwise).

With the API server's addresses, every pod of the namespace may also call it on TCP 443
and 6443 (``allow-apiserver-egress``).

Clients in other namespaces cannot be known from manifests; add those flows by hand
(``kubeharden netpol can-reach`` shows what is missing). System namespaces need more
(upstream DNS, node addresses, NSA-NET-7); the command warns when asked for one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubeharden.analysis.reachability import DEFAULT_NAMESPACE, NAME_LABEL
from kubeharden.model.facts import SYSTEM_NAMESPACES
from kubeharden.model.inventory import Inventory
from kubeharden.model.objects import K8sObject, as_dict, as_list

GENERATED = "kubeharden.io/generated"


@dataclass(slots=True)
class Options:
    namespaces: tuple[str, ...] = ()  # empty: every non-system namespace of the input
    system_namespaces: tuple[str, ...] = SYSTEM_NAMESPACES
    ingress_namespace: str = "ingress-nginx"
    dns_namespace: str = "kube-system"
    dns_labels: tuple[tuple[str, str], ...] = (("k8s-app", "kube-dns"),)
    api_server: tuple[str, ...] = ()  # CIDRs of the API server: egress on 443 and 6443 when given
    unset_namespace: str = DEFAULT_NAMESPACE  # where objects that set no namespace are deployed


def namespace_of(obj: K8sObject, options: Options) -> str:
    """The namespace ``obj`` is deployed to (``options.unset_namespace`` when it sets none)."""
    return obj.namespace or options.unset_namespace


def workload_namespaces(inventory: Inventory, options: Options) -> set[str]:
    """The namespaces in which the input runs pods."""
    return {p.namespace or options.unset_namespace for p in inventory.pods}


def _policy(name: str, namespace: str, why: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace, "annotations": {GENERATED: why}},
            "spec": spec}


def target_namespaces(inventory: Inventory, options: Options) -> list[str]:
    if options.namespaces:
        return list(options.namespaces)
    names = {o.name for o in inventory.of_kind("Namespace")}
    names.update(workload_namespaces(inventory, options))
    return sorted(n for n in names if n not in options.system_namespaces)


def _service_ports(svc: K8sObject) -> list[dict[str, Any]]:
    out = []
    seen = set()
    for raw in as_list(as_dict(svc.raw.get("spec")).get("ports")):
        raw = as_dict(raw)
        target = raw.get("targetPort", raw.get("port"))
        if isinstance(target, bool) or not isinstance(target, (int, str)) or target in ("", None):
            continue
        if isinstance(target, str) and target.isdigit():
            target = int(target)
        protocol = str(raw.get("protocol") or "TCP")
        if (target, protocol) not in seen:
            seen.add((target, protocol))
            out.append({"protocol": protocol, "port": target})
    return out


def _ingress_backends(inventory: Inventory, namespace: str, options: Options) -> set[str]:
    """Names of the Services that Ingress objects of ``namespace`` route to."""
    names: set[str] = set()
    for ing in inventory.of_kind("Ingress"):
        if namespace_of(ing, options) != namespace:
            continue
        spec = as_dict(ing.raw.get("spec"))
        backends = [as_dict(spec.get("defaultBackend"))]
        for rule in as_list(spec.get("rules")):
            for path in as_list(as_dict(as_dict(rule).get("http")).get("paths")):
                backends.append(as_dict(as_dict(path).get("backend")))
        for backend in backends:
            name = as_dict(backend.get("service")).get("name") or backend.get("serviceName")
            if name:
                names.add(str(name))
    return names


def generate(inventory: Inventory, options: Options) -> list[dict[str, Any]]:
    """The policies for every target namespace, in a stable order."""
    out: list[dict[str, Any]] = []
    for ns in target_namespaces(inventory, options):
        out.append(_policy("default-deny-all", ns, "NSA-NET-6: isolate every pod in both directions",
                           {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}))
        out.append(_policy("allow-dns-egress", ns, "name resolution through the cluster DNS", {
            "podSelector": {}, "policyTypes": ["Egress"],
            "egress": [{"to": [{"namespaceSelector": {"matchLabels": {NAME_LABEL: options.dns_namespace}},
                                "podSelector": {"matchLabels": dict(options.dns_labels)}}],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]}))
        if options.api_server:
            out.append(_policy("allow-apiserver-egress", ns, "pods of the namespace calling the API server", {
                "podSelector": {}, "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": c}} for c in options.api_server],
                            "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]}]}))
        behind_ingress = _ingress_backends(inventory, ns, options)
        for svc in sorted(inventory.of_kind("Service"), key=lambda s: s.name):
            if namespace_of(svc, options) != ns:
                continue
            out.extend(_service_policies(svc, ns, svc.name in behind_ingress, options))
    return out


def _service_policies(svc: K8sObject, ns: str, behind_ingress: bool, options: Options) -> Iterable[dict[str, Any]]:
    spec = as_dict(svc.raw.get("spec"))
    selector = {str(k): str(v) for k, v in as_dict(spec.get("selector")).items()}
    ports = _service_ports(svc)
    if not selector or not ports:
        return  # no pods behind it (external name, manual endpoints) or nothing to open
    peers: list[dict[str, Any]] = [{"podSelector": {}}]
    if behind_ingress:
        peers.append({"namespaceSelector": {"matchLabels": {NAME_LABEL: options.ingress_namespace}}})
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        ranges = [str(r) for r in as_list(spec.get("loadBalancerSourceRanges"))] or ["0.0.0.0/0"]
        peers.extend({"ipBlock": {"cidr": r}} for r in ranges)
    yield _policy(f"svc-{svc.name}-ingress", ns, f"clients of Service {svc.name}", {
        "podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress"],
        "ingress": [{"from": peers, "ports": ports}]})
    yield _policy(f"svc-{svc.name}-egress", ns, f"pods of {ns} calling Service {svc.name}", {
        "podSelector": {}, "policyTypes": ["Egress"],
        "egress": [{"to": [{"podSelector": {"matchLabels": selector}}], "ports": ports}]})
