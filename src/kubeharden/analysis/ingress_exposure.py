"""What the internet reaches through Ingress and Gateway API HTTPRoute objects.

An Ingress (``networking.k8s.io/v1``) or an HTTPRoute (``gateway.networking.k8s.io``) does not
open anything by itself: its controller's pods proxy requests to the pods behind the backend
Service, as ordinary pod-to-pod connections that NetworkPolicies decide (Kubernetes
"Ingress" and "Ingress Controllers" concepts; Gateway API "HTTPRoute" reference). So the
source to model is the controller's pods: a namespace and labels, configurable
(``ingress_controllers`` in ``.kubeharden.yaml``), by default those the common controllers'
own manifests use. When the input has pods that match, they are the source; otherwise one
stand-in pod is modelled for the controller the route names (``ingressClassName``, or the
Gateway's ``gatewayClassName``; the first configured controller when none matches).

Backends: ``spec.defaultBackend`` and ``spec.rules[].http.paths[].backend.service`` (name and
``port.number`` or ``port.name``) of an Ingress; ``spec.rules[].backendRefs[]`` of kind Service
(``name``, ``namespace`` defaulting to the route's, ``port``) of an HTTPRoute. The Service
port resolves to its ``targetPort`` (a number, or a name resolved in each pod; the port
itself when unset), and the Service ``selector`` picks the pods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeharden.inventory import Inventory
from kubeharden.model.objects import K8sObject, as_dict, as_list

DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True, slots=True)
class IngressController:
    """Where an ingress controller's pods run: namespace, labels, and the class it serves."""

    namespace: str
    labels: tuple[tuple[str, str], ...]
    ingress_class: str | None = None

    @property
    def name(self) -> str:
        return dict(self.labels).get("app.kubernetes.io/name") or self.ingress_class or self.namespace


#: The labels the controllers' own installation manifests put on their pods (ingress-nginx
#: "deploy" manifests, the Traefik, Kong and Istio Helm charts).
DEFAULT_CONTROLLERS = (
    IngressController("ingress-nginx", (("app.kubernetes.io/component", "controller"),
                                        ("app.kubernetes.io/name", "ingress-nginx")), "nginx"),
    IngressController("traefik", (("app.kubernetes.io/name", "traefik"),), "traefik"),
    IngressController("kong", (("app.kubernetes.io/name", "kong"),), "kong"),
    IngressController("istio-system", (("istio", "ingressgateway"),), "istio"),
)


def parse_controllers(raw: Any, where: str) -> tuple[IngressController, ...]:
    """``[{namespace, labels, class}]`` from the configuration; raises ValueError naming ``where``."""
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where} must be a non-empty list of {{namespace, labels, class}}")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("namespace"), str) or \
                not isinstance(item.get("labels"), dict) or not item["labels"]:
            raise ValueError(f"{where}[{i}] needs a namespace and a non-empty labels mapping")
        labels = tuple(sorted((str(k), str(v)) for k, v in item["labels"].items()))
        cls = item.get("class")
        out.append(IngressController(item["namespace"], labels, str(cls) if cls is not None else None))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Backend:
    """One route to a Service port: the routing object, the Service and the port asked for."""

    route: K8sObject
    namespace: str
    service: str
    port: int | str | None  # the Service port (number or name); None: its only port
    line: int | None
    controller_class: str | None

    @property
    def label(self) -> str:
        return f"{self.route.kind} {self.route.namespace or DEFAULT_NAMESPACE}/{self.route.name}"


def backends(inventory: Inventory) -> list[Backend]:
    """Every Service port that an Ingress or HTTPRoute of the input sends traffic to."""
    out: list[Backend] = []
    gateways = {(g.namespace or DEFAULT_NAMESPACE, g.name): as_dict(g.raw.get("spec")).get("gatewayClassName")
                for g in inventory.of_kind("Gateway")}
    for obj in inventory.of_kind("Ingress"):
        spec = as_dict(obj.raw.get("spec"))
        ns = obj.namespace or DEFAULT_NAMESPACE
        cls = spec.get("ingressClassName") or obj.annotations.get("kubernetes.io/ingress.class")
        found = [as_dict(spec.get("defaultBackend"))] if spec.get("defaultBackend") else []
        for rule in as_list(spec.get("rules")):
            for path in as_list(as_dict(as_dict(rule).get("http")).get("paths")):
                found.append(as_dict(as_dict(path).get("backend")))
        for backend in found:
            service = as_dict(backend.get("service"))
            if not isinstance(service.get("name"), str):
                continue
            port = as_dict(service.get("port"))
            wanted = port.get("number") if isinstance(port.get("number"), int) else port.get("name")
            out.append(Backend(obj, ns, service["name"], wanted if isinstance(wanted, (int, str)) else None,
                               obj.line(backend), str(cls) if cls else None))
    for obj in inventory.of_kind("HTTPRoute"):
        spec = as_dict(obj.raw.get("spec"))
        ns = obj.namespace or DEFAULT_NAMESPACE
        cls = None
        for parent in as_list(spec.get("parentRefs")):
            parent = as_dict(parent)
            cls = cls or gateways.get((str(parent.get("namespace") or ns), str(parent.get("name"))))
        for rule in as_list(spec.get("rules")):
            for ref in as_list(as_dict(rule).get("backendRefs")):
                ref = as_dict(ref)
                if ref.get("kind", "Service") != "Service" or ref.get("group", "") not in ("", None) or \
                        not isinstance(ref.get("name"), str):
                    continue
                number = ref.get("port")
                out.append(Backend(obj, str(ref.get("namespace") or ns), ref["name"],
                                   number if isinstance(number, int) else None, obj.line(ref),
                                   str(cls) if cls else None))
    return out


def service_target(service: K8sObject, wanted: int | str | None) -> tuple[dict[str, str], int | str] | None:
    """The Service's pod selector and the target port (number or name) for ``wanted``; None when
    the Service has no selector (its endpoints are managed by hand) or no such port."""
    spec = as_dict(service.raw.get("spec"))
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not selector:
        return None
    ports = [as_dict(p) for p in as_list(spec.get("ports"))]
    for port in ports:
        if wanted is None and len(ports) == 1 or port.get("port") == wanted or \
                (isinstance(wanted, str) and port.get("name") == wanted):
            target = port.get("targetPort", port.get("port"))
            if isinstance(target, (int, str)) and not isinstance(target, bool):
                return {str(k): str(v) for k, v in selector.items()}, target
    return None
