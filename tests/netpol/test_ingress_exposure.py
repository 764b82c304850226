"""Ingress controllers as the source of internet traffic: routes, Services, target ports, policies."""

from __future__ import annotations

import json

import pytest
from netpol_clusters import build, deploy, pairs, policy
from test_network_controls import run

from kubeharden.config import ConfigError, parse_config, parse_controllers
from kubeharden.model.network import IngressController

WEB = deploy("web", "shop", {"app": "web"}, ports=[{"name": "http", "containerPort": 8080},
                                                  {"name": "admin", "containerPort": 9000}])


def service(name: str, ns: str, selector: dict, ports: list[dict]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                       "spec": {"selector": selector, "ports": ports}})


def ingress(name: str, ns: str, svc: str, port: dict, cls: str | None = "nginx") -> str:
    spec: dict = {"rules": [{"host": "shop.example.com", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": svc, "port": port}}}]}}]}
    if cls:
        spec["ingressClassName"] = cls
    return json.dumps({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                       "metadata": {"name": name, "namespace": ns}, "spec": spec})


SVC = service("web", "shop", {"app": "web"}, [{"name": "web", "port": 80, "targetPort": "http"}])


def test_modelled_controller_appears_in_the_matrix_and_reaches_the_backend():
    net = build(WEB, SVC, ingress("web", "shop", "web", {"number": 80}))
    got = pairs(net)
    assert got[("ingress-nginx/ingress-nginx (modelled)", "shop/web")] == "all"
    exposures = list(net.exposures())
    assert [str(e.ports) for e in exposures] == ["TCP 8080"]  # the named targetPort, resolved in the pod


def test_policies_decide_what_the_controller_reaches():
    only_shop = policy("web", "shop", {"podSelector": {}, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}}]}]})
    assert list(build(WEB, SVC, ingress("web", "shop", "web", {"number": 80}), only_shop).exposures()) == []
    controller_in = policy("web", "shop", {"podSelector": {}, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
                   "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}}}],
         "ports": [{"port": 8080}]}]})
    found = list(build(WEB, SVC, ingress("web", "shop", "web", {"name": "web"}), controller_in).exposures())
    assert [str(e.ports) for e in found] == ["TCP 8080"]


def test_real_controller_pods_are_used_and_their_egress_counts():
    controller = deploy("ctrl", "ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx",
                                                  "app.kubernetes.io/component": "controller"})
    no_egress = policy("deny", "ingress-nginx", {"podSelector": {}, "policyTypes": ["Egress"]})
    twin = deploy("ctrl-2", "ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx",
                                              "app.kubernetes.io/component": "controller"})  # same class as ctrl
    other = deploy("other", "x", {"app": "other"})
    net = build(other, WEB, SVC, controller, twin, ingress("web", "shop", "web", {"number": 80}))
    assert not any(w.modelled for w in net.workloads)
    assert [e.source.ref.name for e in net.exposures()] == ["ctrl"]  # one class: its first workload
    assert list(build(WEB, SVC, controller, no_egress, ingress("web", "shop", "web", {"number": 80}))
                .exposures()) == []


def gateway(name: str, ns: str, cls: str, **spec) -> str:
    return json.dumps({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                       "metadata": {"name": name, "namespace": ns},
                       "spec": {"gatewayClassName": cls, "listeners": [], **spec}})


def http_route(*parents: tuple[str, str]) -> str:
    return json.dumps({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                       "metadata": {"name": "web", "namespace": "shop"},
                       "spec": {"parentRefs": [{"name": n, "namespace": ns} for ns, n in parents],
                                "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]}})


def test_http_route_uses_the_gateway_class():
    net = build(WEB, SVC, gateway("public", "gw", "traefik"), http_route(("gw", "public")))
    assert [(e.controller.namespace, str(e.ports)) for e in net.exposures()] == [("traefik", "TCP 8080")]


def test_istio_gateway_proxy_runs_in_the_gateway_namespace():
    """Istio automated deployment: <Gateway>-istio in the Gateway's namespace, pods labelled
    gateway.networking.k8s.io/gateway-name (istio.io, Kubernetes Gateway API task)."""
    net = build(WEB, SVC, gateway("public", "gw", "istio"), http_route(("gw", "public")))
    found = list(net.exposures())
    assert [(e.controller.namespace, e.source.label, str(e.ports)) for e in found] == [
        ("gw", "gw/IngressController/public-istio (modelled)", "TCP 8080")]
    assert dict(found[0].controller.labels) == {"gateway.networking.k8s.io/gateway-name": "public"}
    assert not any(w.namespace == "istio-system" for w in net.workloads)
    # a policy admitting only the Gateway's namespace lets it through; one admitting only istio-system does not
    def from_ns(ns: str) -> str:
        return policy("web", "shop", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {
            "matchLabels": {"kubernetes.io/metadata.name": ns}}}]}]})
    route = http_route(("gw", "public"))
    assert list(build(WEB, SVC, gateway("public", "gw", "istio"), route, from_ns("gw")).exposures())
    assert not list(build(WEB, SVC, gateway("public", "gw", "istio"), route, from_ns("istio-system")).exposures())


def test_istio_gateway_real_proxy_pods_and_manual_deployment():
    proxy = deploy("public-istio", "gw", {"gateway.networking.k8s.io/gateway-name": "public"})
    net = build(WEB, SVC, proxy, gateway("public", "gw", "istio"), http_route(("gw", "public")))
    assert [e.source.ref.name for e in net.exposures()] == ["public-istio"] and not any(
        w.modelled for w in net.workloads)
    manual = gateway("public", "gw", "istio", addresses=[
        {"type": "Hostname", "value": "istio-ingressgateway.istio-system.svc.cluster.local"}])
    net = build(WEB, SVC, manual, http_route(("gw", "public")))
    assert [e.controller.namespace for e in net.exposures()] == ["istio-system"]


def test_each_parent_gateway_is_a_source():
    net = build(WEB, SVC, gateway("a", "edge-a", "istio"), gateway("b", "edge-b", "istio"),
                http_route(("edge-a", "a"), ("edge-b", "b")))
    assert sorted(e.controller.namespace for e in net.exposures()) == ["edge-a", "edge-b"]


def test_service_without_selector_or_port_exposes_nothing():
    manual = service("web", "shop", {}, [{"port": 80}])
    assert list(build(WEB, manual, ingress("web", "shop", "web", {"number": 80})).exposures()) == []
    assert list(build(WEB, SVC, ingress("web", "shop", "web", {"number": 81})).exposures()) == []


def test_control_reports_the_route_and_the_controller():
    findings, _ = run("KH-NET-017", WEB, SVC, ingress("web", "shop", "web", {"number": 80}))
    assert len(findings) == 1
    message = findings[0].message
    assert "TCP 8080" in message and "Ingress shop/web (shop.example.com)" in message and "modelled" in message
    assert findings[0].resource.name == "web"
    # Modelled controllers are never reported as workloads themselves.
    assert all(f.resource.kind != "IngressController" for f in run("KH-NET-003", WEB, SVC,
                                                                    ingress("w", "shop", "web", {"number": 80}))[0])


def test_configured_controllers():
    config = {"ingress_controllers": [{"namespace": "edge", "labels": {"app": "proxy"}, "class": "edge"}]}
    findings, _ = run("KH-NET-017", WEB, SVC, ingress("web", "shop", "web", {"number": 80}, cls="edge"),
                      config=config)
    assert "edge ingress controller in namespace edge" in findings[0].message
    assert parse_controllers([{"namespace": "a", "labels": {"x": "y"}}], "c") == (
        IngressController("a", (("x", "y"),), None),)
    with pytest.raises(ConfigError, match="ingress_controllers"):
        parse_config({"ingress_controllers": [{"namespace": "a"}]})
