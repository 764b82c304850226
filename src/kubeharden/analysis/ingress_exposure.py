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

Some Gateway API implementations deploy one proxy per Gateway instead of one controller
for the cluster. Istio's "automated deployment" (Istio "Kubernetes Gateway API" task,
https://istio.io/latest/docs/tasks/traffic-management/ingress/gateway-api/#automated-deployment)
creates for each Gateway of class ``istio`` a Deployment and Service named
``<Gateway>-istio`` **in the Gateway's namespace**, whose pods carry
``gateway.networking.k8s.io/gateway-name: <Gateway>`` (the label Gateway API GEP-1762 "In
Cluster Gateway Deployments" standardises). So an HTTPRoute attached to such a Gateway is
served from that namespace and those labels, not from ``istio-system``; a Gateway that sets
``spec.addresses`` (Istio's "manual deployment": it binds to an existing Service) keeps the
configured controller. Each parent Gateway of a route is a source of its own.

Backends: ``spec.defaultBackend`` and ``spec.rules[].http.paths[].backend.service`` (name and
``port.number`` or ``port.name``) of an Ingress; ``spec.rules[].backendRefs[]`` of kind Service
(``name``, ``namespace`` defaulting to the route's, ``port``) of an HTTPRoute. The Service
port resolves to its ``targetPort`` (a number, or a name resolved in each pod; the port
itself when unset), and the Service ``selector`` picks the pods.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeharden.model.inventory import Inventory
from kubeharden.model.kinds import DEFAULT_NAMESPACE
from kubeharden.model.network import IngressController
from kubeharden.model.objects import K8sObject, as_dict, as_list

#: The labels the controllers' own installation manifests put on their pods (ingress-nginx
#: "deploy" manifests, the Traefik, Kong and Istio Helm charts).
DEFAULT_CONTROLLERS = (
    IngressController("ingress-nginx", (("app.kubernetes.io/component", "controller"),
                                        ("app.kubernetes.io/name", "ingress-nginx")), "nginx"),
    IngressController("traefik", (("app.kubernetes.io/name", "traefik"),), "traefik"),
    IngressController("kong", (("app.kubernetes.io/name", "kong"),), "kong"),
    IngressController("istio-system", (("istio", "ingressgateway"),), "istio"),
)


#: GatewayClasses whose implementation deploys a proxy per Gateway in the Gateway's namespace
#: (Istio automated deployment, see the module docstring), and the label its pods carry.
PER_GATEWAY_CLASSES = ("istio",)
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"


def gateway_proxy(gateway: K8sObject) -> IngressController | None:
    """The proxy an implementation deploys for ``gateway`` (namespace, pod labels, Deployment
    name), or None when the Gateway is served by a cluster-wide controller (another class, or
    ``spec.addresses`` set: Istio's manual deployment onto an existing Service)."""
    spec = as_dict(gateway.raw.get("spec"))
    cls = spec.get("gatewayClassName")
    if cls not in PER_GATEWAY_CLASSES or spec.get("addresses"):
        return None
    return IngressController(gateway.namespace or DEFAULT_NAMESPACE, ((GATEWAY_NAME_LABEL, gateway.name),),
                             str(cls), f"{gateway.name}-{cls}")


@dataclass(frozen=True, slots=True)
class Backend:
    """One route to a Service port: the routing object, the Service and the port asked for."""

    route: K8sObject
    namespace: str
    service: str
    port: int | str | None  # the Service port (number or name); None: its only port
    line: int | None
    controller_class: str | None
    gateway_proxy: IngressController | None = None  # the per-Gateway proxy serving it (see gateway_proxy)

    @property
    def label(self) -> str:
        return f"{self.route.kind} {self.route.namespace or DEFAULT_NAMESPACE}/{self.route.name}"


def backends(inventory: Inventory) -> list[Backend]:
    """Every Service port that an Ingress or HTTPRoute of the input sends traffic to."""
    out: list[Backend] = []
    gateways = {(g.namespace or DEFAULT_NAMESPACE, g.name): g for g in inventory.of_kind("Gateway")}
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
        parents = _route_parents(spec, ns, gateways)
        for rule in as_list(spec.get("rules")):
            for ref in as_list(as_dict(rule).get("backendRefs")):
                ref = as_dict(ref)
                if ref.get("kind", "Service") != "Service" or ref.get("group", "") not in ("", None) or \
                        not isinstance(ref.get("name"), str):
                    continue
                number = ref.get("port")
                for cls, proxy in parents:
                    out.append(Backend(obj, str(ref.get("namespace") or ns), ref["name"],
                                       number if isinstance(number, int) else None, obj.line(ref), cls, proxy))
    return out


def _route_parents(spec: dict, namespace: str, gateways: dict[tuple[str, str], K8sObject]
                   ) -> list[tuple[str | None, IngressController | None]]:
    """(class, per-Gateway proxy) of each Gateway of the input a route's ``parentRefs`` name, in
    order and without repeats; ``[(None, None)]`` when none is in the input."""
    out: list[tuple[str | None, IngressController | None]] = []
    for parent in as_list(spec.get("parentRefs")):
        parent = as_dict(parent)
        if parent.get("kind", "Gateway") != "Gateway":
            continue
        gateway = gateways.get((str(parent.get("namespace") or namespace), str(parent.get("name"))))
        if gateway is None:
            continue
        cls = as_dict(gateway.raw.get("spec")).get("gatewayClassName")
        found = (str(cls) if cls else None, gateway_proxy(gateway))
        if found not in out:
            out.append(found)
    return out or [(None, None)]


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
