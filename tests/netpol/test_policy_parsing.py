"""Selectors, port sets and NetworkPolicy validation: what the API server accepts and rejects."""

from __future__ import annotations

import pytest
from netpol_clusters import policy

from kubeharden.analysis.policies import PolicyError, is_k8s_policy, other_engine, parse_policy
from kubeharden.analysis.ports import ALL_PORTS, NO_PORTS, PortSet, parse_port_query
from kubeharden.analysis.selectors import SelectorError, compile_selector
from kubeharden.sources.files import parse_text


def _obj(text: str):
    return next(parse_text(text, "p.yaml"))


def _parse(spec: dict):
    return parse_policy(_obj(policy("p", "ns", spec)))


def test_selector_semantics():
    sel = compile_selector({"matchLabels": {"a": "1"},
                            "matchExpressions": [{"key": "b", "operator": "NotIn", "values": ["x"]}]}, "s")
    assert sel.matches({"a": "1"}) and sel.matches({"a": "1", "b": "y"})
    assert not sel.matches({"a": "1", "b": "x"}) and not sel.matches({"a": "2"})
    assert compile_selector({}, "s").is_empty and compile_selector(None, "s").matches({"any": "thing"})
    assert compile_selector({"matchLabels": {"on": True}}, "s").matches({"on": "true"})


@pytest.mark.parametrize("raw, fragment", [
    ("not a map", "must be a mapping"),
    ({"matchLabels": ["a"]}, "matchLabels must be a mapping"),
    ({"matchExpressions": [{"key": "a", "operator": "In"}]}, "non-empty values"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, "must not have values"),
    ({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]}, "operator"),
    ({"matchExpressions": [{"operator": "Exists"}]}, "key is missing"),
    ({"matchLabel": {"a": "b"}}, "unknown field"),
])
def test_selector_errors_name_the_field(raw, fragment):
    with pytest.raises(SelectorError, match=fragment):
        compile_selector(raw, "spec.podSelector")


def test_port_sets():
    merged = PortSet.of("TCP", 80) | PortSet.of("TCP", 81, 90) | PortSet.of("UDP", 53)
    assert merged.labels() == ["TCP 80-90", "UDP 53"]
    assert (merged & PortSet.of("TCP", 85, 100)).labels() == ["TCP 85-90"]
    assert not (merged & PortSet.of("SCTP", 80))
    assert ALL_PORTS.to_json() == "all" and (ALL_PORTS & merged) == merged
    assert (PortSet.whole("TCP") | PortSet.whole("UDP") | PortSet.whole("SCTP")).is_all
    assert str(NO_PORTS) == "nothing"
    assert parse_port_query("53/udp") == PortSet.of("UDP", 53)
    assert parse_port_query("8000-8080") == PortSet.of("TCP", 8000, 8080)
    for bad in ("http", "0", "70000", "80/ICMP"):
        with pytest.raises(ValueError):
            parse_port_query(bad)


def test_policy_types_defaults():
    assert (_parse({"podSelector": {}}).isolates_ingress, _parse({"podSelector": {}}).isolates_egress) == \
        (True, False)
    p = _parse({"podSelector": {}, "egress": []})
    assert p.isolates_ingress and not p.isolates_egress
    p = _parse({"podSelector": {}, "egress": [{}]})
    assert p.isolates_ingress and p.isolates_egress and p.egress[0].peers is None
    p = _parse({"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{}]})
    assert not p.isolates_ingress and p.ingress == () and p.egress == ()


def test_empty_from_and_ports_mean_everything():
    rule = _parse({"podSelector": {}, "ingress": [{"from": [], "ports": []}]}).ingress[0]
    assert rule.peers is None and rule.ports is None and rule.resolve_ports({}) == ALL_PORTS


@pytest.mark.parametrize("spec, fragment", [
    ({"podSelector": {}, "policyTypes": ["ingress"]}, "policyTypes"),
    ({"podSelector": {}, "policyTypes": []}, "non-empty"),
    ({"podSelector": {}, "ingress": {"from": []}}, "must be a list"),
    ({"podSelector": {}, "ingress": [{"from": [{}]}]}, "must set podSelector"),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]},
     "cannot be combined"),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/8"]}}]}]},
     "strictly inside"),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8"]}}]}]},
     "strictly inside"),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.300/8"}}]}]}, "not a CIDR"),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.1"}}]}]}, "prefix-length"),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": [7]}}]}]},
     "except\\[0\\]"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 90, "endPort": 80}]}]}, "endPort"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": "http", "endPort": 90}]}]}, "named port"),
    ({"podSelector": {}, "ingress": [{"ports": [{"endPort": 90}]}]}, "needs a numeric port"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": "HTTP"}]}]}, "not a valid port name"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 0}]}]}, "outside"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 80, "protocol": "ICMP"}]}]}, "protocol"),
    ({"podSelector": {}, "ingress": [{"to": []}]}, "use 'from'"),
    ({"podSelector": {"matchLabels": "x"}}, "matchLabels"),
    ({"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{"from": [{}]}]}, "must set"),
])
def test_invalid_policies_are_rejected_with_the_field(spec, fragment):
    with pytest.raises(PolicyError, match=fragment):
        _parse(spec)


def test_missing_spec_is_invalid():
    with pytest.raises(PolicyError, match="spec"):
        parse_policy(_obj("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}\n"))


def test_engine_classification():
    k8s = _obj(policy("a", "n", {}))
    calico = _obj(policy("a", "n", {}, api_version="projectcalico.org/v3"))
    crd_calico = _obj(policy("a", "n", {}, api_version="crd.projectcalico.org/v1", kind="GlobalNetworkPolicy"))
    cilium = _obj(policy("a", "n", {}, api_version="cilium.io/v2", kind="CiliumClusterwideNetworkPolicy"))
    assert is_k8s_policy(k8s) and other_engine(k8s) is None
    assert not is_k8s_policy(calico) and other_engine(calico) == "Calico"
    assert other_engine(crd_calico) == "Calico" and other_engine(cilium) == "Cilium"
