"""Ingress controllers as the source of internet traffic: routes, Services, target ports, policies."""

from __future__ import annotations

import json

import pytest
from netpol_clusters import build, deploy, pairs, policy
from test_network_controls import run

from kubeharden.analysis.ingress_exposure import IngressController, parse_controllers
from kubeharden.config import ConfigError, parse_config

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


def test_http_route_uses_the_gateway_class():
    gateway = json.dumps({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                          "metadata": {"name": "public", "namespace": "gw"},
                          "spec": {"gatewayClassName": "istio", "listeners": []}})
    route = json.dumps({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                        "metadata": {"name": "web", "namespace": "shop"},
                        "spec": {"parentRefs": [{"name": "public", "namespace": "gw"}],
                                 "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]}})
    net = build(WEB, SVC, gateway, route)
    found = list(net.exposures())
    assert [(e.controller.namespace, str(e.ports)) for e in found] == [("istio-system", "TCP 8080")]


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
