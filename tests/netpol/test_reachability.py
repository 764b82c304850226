"""NetworkPolicy semantics, one rule per test, on clusters whose answers are worked out by hand."""

from __future__ import annotations

import ipaddress

from netpol_clusters import DENY_ALL, build, deploy, namespace, pairs, policy

from kubeharden.analysis.policies import ANY_IPV4

A = deploy("a", "ns1", {"app": "a"})
B = deploy("b", "ns1", {"app": "b"})


def test_no_policy_means_everything_is_allowed_both_ways():
    net = build(A, B)
    assert pairs(net) == {("ns1/a", "ns1/a"): "all", ("ns1/a", "ns1/b"): "all",
                          ("ns1/b", "ns1/a"): "all", ("ns1/b", "ns1/b"): "all"}
    external = pairs(net, external=True)
    assert external[("ns1/a", "0.0.0.0/0")] == "all" and external[("::/0", "ns1/b")] == "all"


def test_default_deny_blocks_every_pair_and_every_address():
    net = build(A, B, policy("deny", "ns1", DENY_ALL))
    assert pairs(net, external=True) == {}


def test_empty_rule_allows_all_but_missing_rules_deny():
    allow_all = policy("allow", "ns1", {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [{}]})
    deny_in = policy("deny", "ns1", {"podSelector": {"matchLabels": {"app": "b"}}, "policyTypes": ["Ingress"]})
    empty_list = policy("deny2", "ns1", {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": []})
    assert pairs(build(A, B, allow_all))[("ns1/a", "ns1/b")] == "all"
    assert ("ns1/a", "ns1/b") not in pairs(build(A, B, deny_in))
    # No policyTypes and "ingress: []": the policy isolates Ingress (always defaulted) and allows nothing.
    assert ("ns1/a", "ns1/b") not in pairs(build(A, B, empty_list))
    assert ("ns1/b", "ns1/a") in pairs(build(A, B, empty_list))  # egress of b untouched


def test_policy_types_egress_without_rules_denies_egress_only():
    """The trap: policyTypes [Egress] and no egress rules isolates egress and leaves ingress open."""
    net = build(A, B, policy("p", "ns1", {"podSelector": {"matchLabels": {"app": "a"}},
                                          "policyTypes": ["Egress"],
                                          "ingress": [{"from": [{"podSelector": {"matchLabels": {"x": "y"}}}]}]}))
    got = pairs(net)
    assert ("ns1/a", "ns1/b") not in got and ("ns1/a", "ns1/a") not in got
    assert got[("ns1/b", "ns1/a")] == "all"  # the ingress rules are ignored: Ingress is not in policyTypes


def test_omitted_policy_types_adds_egress_only_when_egress_rules_exist():
    with_egress = policy("p", "ns1", {"podSelector": {"matchLabels": {"app": "a"}},
                                      "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "b"}}}]}]})
    net = build(A, B, with_egress)
    klass = net.classes[net.find_workloads("ns1/a")[0].klass]
    assert klass.ingress_isolated and klass.egress_isolated
    got = pairs(net)
    assert got[("ns1/a", "ns1/b")] == "all"
    assert ("ns1/a", "ns1/a") not in got  # a's egress only to b, and a's ingress is denied (no ingress rules)
    assert ("ns1/b", "ns1/a") not in got


def test_namespace_selector_empty_vs_missing():
    server = deploy("srv", "ns1", {"app": "srv"})
    local = deploy("local", "ns1", {"role": "client"})
    remote = deploy("remote", "ns2", {"role": "client"})
    only_own = policy("p", "ns1", {"podSelector": {"matchLabels": {"app": "srv"}},
                                   "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}]})
    any_ns = policy("p", "ns1", {"podSelector": {"matchLabels": {"app": "srv"}},
                                 "ingress": [{"from": [{"namespaceSelector": {},
                                                        "podSelector": {"matchLabels": {"role": "client"}}}]}]})
    got = pairs(build(server, local, remote, only_own))
    assert ("ns1/local", "ns1/srv") in got and ("ns2/remote", "ns1/srv") not in got
    got = pairs(build(server, local, remote, any_ns))
    assert ("ns1/local", "ns1/srv") in got and ("ns2/remote", "ns1/srv") in got


def test_selectors_in_one_peer_are_anded_in_two_peers_ored():
    server = deploy("srv", "ns1", {"app": "srv"})
    web2 = deploy("web2", "ns2", {"app": "web"})
    db2 = deploy("db2", "ns2", {"app": "db"})
    web3 = deploy("web3", "ns3", {"app": "web"})
    ns2 = namespace("ns2", {"team": "blue"})
    ns3 = namespace("ns3", {"team": "red"})
    peer_and = [{"namespaceSelector": {"matchLabels": {"team": "blue"}},
                 "podSelector": {"matchLabels": {"app": "web"}}}]
    peer_or = [{"namespaceSelector": {"matchLabels": {"team": "blue"}}},
               {"podSelector": {"matchLabels": {"app": "web"}}}]
    sel = {"matchLabels": {"app": "srv"}}
    got = pairs(build(server, web2, db2, web3, ns2, ns3,
                      policy("p", "ns1", {"podSelector": sel, "ingress": [{"from": peer_and}]})))
    assert {s for s, d in got if d == "ns1/srv"} == {"ns2/web2"}
    got = pairs(build(server, web2, db2, web3, ns2, ns3,
                      policy("p", "ns1", {"podSelector": sel, "ingress": [{"from": peer_or}]})))
    # Every pod of the blue namespace, or app=web pods of ns1 itself (there are none).
    assert {s for s, d in got if d == "ns1/srv"} == {"ns2/web2", "ns2/db2"}


def test_namespaces_match_by_automatic_name_label_even_without_namespace_object():
    server = deploy("srv", "ns1", {"app": "srv"})
    client = deploy("c", "tools", {"app": "c"})
    other = deploy("o", "misc", {"app": "c"})
    rule = {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "tools"}}}]}
    got = pairs(build(server, client, other,
                      policy("p", "ns1", {"podSelector": {"matchLabels": {"app": "srv"}}, "ingress": [rule]})))
    assert ("tools/c", "ns1/srv") in got and ("misc/o", "ns1/srv") not in got


def test_match_expressions_all_operators():
    server = deploy("srv", "ns1", {"app": "srv"})
    c1 = deploy("c1", "ns1", {"tier": "web", "env": "prod"})
    c2 = deploy("c2", "ns1", {"tier": "api"})
    c3 = deploy("c3", "ns1", {"tier": "db", "env": "dev"})
    exprs = [{"key": "tier", "operator": "In", "values": ["web", "db"]},
             {"key": "env", "operator": "NotIn", "values": ["dev"]},
             {"key": "env", "operator": "Exists"},
             {"key": "legacy", "operator": "DoesNotExist"}]
    got = pairs(build(server, c1, c2, c3, policy("p", "ns1", {
        "podSelector": {"matchLabels": {"app": "srv"}},
        "ingress": [{"from": [{"podSelector": {"matchExpressions": exprs}}]}]})))
    assert {s for s, d in got if d == "ns1/srv"} == {"ns1/c1"}


def test_named_ports_resolve_per_destination_pod():
    api1 = deploy("api1", "ns1", {"tier": "api"}, [{"name": "http", "containerPort": 8080}])
    api2 = deploy("api2", "ns1", {"tier": "api"}, [{"name": "http", "containerPort": 9090},
                                                   {"name": "dns", "containerPort": 5353, "protocol": "UDP"}])
    api3 = deploy("api3", "ns1", {"tier": "api"}, [{"name": "admin", "containerPort": 7000}])
    client = deploy("cl", "ns1", {"tier": "web"})
    got = pairs(build(api1, api2, api3, client, policy("p", "ns1", {
        "podSelector": {"matchLabels": {"tier": "api"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"tier": "web"}}}],
                     "ports": [{"port": "http"}, {"port": "dns", "protocol": "UDP"}, {"port": "dns"}]}]})))
    assert got[("ns1/cl", "ns1/api1")] == ["TCP 8080"]
    assert got[("ns1/cl", "ns1/api2")] == ["TCP 9090", "UDP 5353"]  # "dns" over TCP matches nothing
    assert ("ns1/cl", "ns1/api3") not in got  # no container port named http: nothing opens


def test_named_port_in_egress_resolves_against_the_destination():
    src = deploy("src", "ns1", {"app": "src"}, [{"name": "http", "containerPort": 1111}])
    dst = deploy("dst", "ns1", {"app": "dst"}, [{"name": "http", "containerPort": 2222}])
    got = pairs(build(src, dst, policy("p", "ns1", {
        "podSelector": {"matchLabels": {"app": "src"}}, "policyTypes": ["Egress"],
        "egress": [{"ports": [{"port": "http"}]}]})))
    assert got[("ns1/src", "ns1/dst")] == ["TCP 2222"]
    assert got[("ns1/src", "ns1/src")] == ["TCP 1111"]


def test_end_port_ranges_merge_and_protocols_stay_apart():
    got = pairs(build(A, B, policy("p", "ns1", {
        "podSelector": {"matchLabels": {"app": "b"}},
        "ingress": [{"ports": [{"port": 8000, "endPort": 8080}, {"port": 8081},
                               {"protocol": "UDP", "port": 53}, {"protocol": "SCTP", "port": 3868}]},
                    {"ports": [{"port": 7999}]}]})))
    assert got[("ns1/a", "ns1/b")] == ["TCP 7999-8081", "UDP 53", "SCTP 3868"]


def test_protocol_without_port_opens_the_whole_protocol():
    got = pairs(build(A, B, policy("p", "ns1", {"podSelector": {"matchLabels": {"app": "b"}},
                                                "ingress": [{"ports": [{"protocol": "UDP"}]}]})))
    assert got[("ns1/a", "ns1/b")] == ["UDP 1-65535"]


def test_union_of_policies_selecting_a_pod():
    c1 = deploy("c1", "ns1", {"app": "c1"})
    c2 = deploy("c2", "ns1", {"app": "c2"})
    p1 = policy("p1", "ns1", {"podSelector": {"matchLabels": {"app": "b"}},
                              "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "c1"}}}],
                                           "ports": [{"port": 80}]}]})
    p2 = policy("p2", "ns1", {"podSelector": {}, "policyTypes": ["Ingress"],
                              "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "c2"}}}],
                                           "ports": [{"port": 443}]},
                                          {"from": [{"podSelector": {"matchLabels": {"app": "c1"}}}],
                                           "ports": [{"port": 443}]}]})
    got = pairs(build(B, c1, c2, p1, p2))
    assert got[("ns1/c1", "ns1/b")] == ["TCP 80", "TCP 443"]
    assert got[("ns1/c2", "ns1/b")] == ["TCP 443"]


def test_connection_needs_egress_of_source_and_ingress_of_destination():
    egress_80 = policy("e", "ns1", {"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"],
                                    "egress": [{"ports": [{"port": 80}, {"port": 8080}]}]})
    ingress_80_443 = policy("i", "ns1", {"podSelector": {"matchLabels": {"app": "b"}},
                                         "ingress": [{"ports": [{"port": 80}, {"port": 443}]}]})
    got = pairs(build(A, B, egress_80, ingress_80_443))
    assert got[("ns1/a", "ns1/b")] == ["TCP 80"]
    assert got[("ns1/b", "ns1/a")] == "all"  # b's egress is open and a's ingress is not isolated


def test_ip_block_except_and_named_addresses():
    net = build(A, policy("e", "ns1", {
        "podSelector": {}, "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32", "10.0.0.0/8"]}}],
                    "ports": [{"port": 443}]}]}))
    klass = net.find_workloads("ns1/a")[0].klass
    assert not net.egress_to_address(klass, ipaddress.ip_address("169.254.169.254"))[0]
    assert not net.egress_to_address(klass, ipaddress.ip_address("10.1.2.3"))[0]
    assert net.egress_to_address(klass, ipaddress.ip_address("8.8.8.8"))[0].labels() == ["TCP 443"]
    assert not net.egress_to_address(klass, ipaddress.ip_address("2001:db8::1"))[0]
    ext = pairs(net, external=True)
    # Ingress is not isolated (policyTypes [Egress]), so every address may still connect in.
    assert ext == {("ns1/a", "0.0.0.0/0 except 169.254.169.254/32, 10.0.0.0/8"): ["TCP 443"],
                   ("0.0.0.0/0", "ns1/a"): "all", ("::/0", "ns1/a"): "all"}


def test_ip_blocks_do_not_match_pods_and_named_ports_do_not_open_addresses():
    net = build(A, B, policy("e", "ns1", {
        "podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": "http"}, {"port": 53}]}]}))
    got = pairs(net, external=True)
    assert ("ns1/a", "ns1/b") not in got
    assert got[("ns1/a", "0.0.0.0/0")] == ["TCP 53"]


def test_rule_without_peers_reaches_every_address():
    net = build(A, policy("e", "ns1", {"podSelector": {}, "policyTypes": ["Egress"],
                                       "egress": [{"ports": [{"port": 443}]}]}))
    blocks = {str(b) for b, _, _ in net.egress_blocks(0)}
    assert blocks == {"0.0.0.0/0", "::/0"}


def test_host_network_pods_are_neither_isolated_nor_matched():
    host = deploy("agent", "ns1", {"app": "agent"}, host_network=True)
    net = build(A, host, policy("deny", "ns1", DENY_ALL),
                policy("allow", "ns1", {"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"],
                                        "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "agent"}}}]}]}))
    got = pairs(net)
    assert got[("ns1/agent", "ns1/agent")] == "all"  # its own traffic is not governed by policies
    assert ("ns1/a", "ns1/agent") not in got  # the pod selector does not match a host-network pod
    assert ("ns1/agent", "ns1/a") not in got  # a's ingress is denied


def test_bare_pod_is_its_own_workload_and_no_namespace_means_default():
    pod = deploy("solo", None, {"app": "solo"}, kind="Pod")
    net = build(pod, policy("deny", "default", DENY_ALL))
    assert [w.label for w in net.workloads] == ["default/Pod/solo"]
    assert pairs(net) == {}


def test_identical_pods_share_a_class_and_all_members_are_listed():
    a2 = deploy("a2", "ns1", {"app": "a"})
    net = build(A, a2, B)
    assert len(net.classes) == 2
    assert len(pairs(net)) == 9


def test_invalid_policy_is_reported_and_left_out():
    bad = policy("bad", "ns1", {"podSelector": {}, "policyTypes": ["ingress"]})
    net = build(A, B, bad, policy("ok", "ns1", {"podSelector": {"matchLabels": {"app": "b"}},
                                                "policyTypes": ["Ingress"]}))
    assert len(net.problems) == 1 and "policyTypes" in net.problems[0].message
    assert net.problems[0].file == "test.yaml" and net.problems[0].line is not None
    got = pairs(net)
    assert ("ns1/a", "ns1/b") not in got and ("ns1/b", "ns1/a") in got


def test_cilium_and_calico_policies_are_evaluated_not_ignored():
    """A policy without rules selecting pods isolates nothing (Cilium: only a non-empty ingress
    or egress section enables default deny; Calico: types defaults to Ingress)."""
    cnp = policy("c", "ns1", {"endpointSelector": {}}, api_version="cilium.io/v2", kind="CiliumNetworkPolicy")
    calico = policy("k", "ns1", {"selector": "all()"}, api_version="projectcalico.org/v3")
    net = build(A, B, cnp)
    assert net.layered and [p.kind for p in net.policies] == ["CiliumNetworkPolicy"]
    assert pairs(net)[("ns1/a", "ns1/b")] == "all"  # no ingress/egress section: nothing enforced
    net = build(A, B, calico)
    assert ("ns1/a", "ns1/b") not in pairs(net)  # Calico: types defaults to [Ingress], no rule: denied


def test_find_workloads_forms():
    net = build(A, B, deploy("a", "ns2", {"app": "a"}, kind="StatefulSet"))
    assert len(net.find_workloads("a")) == 2
    assert [w.label for w in net.find_workloads("ns2/a")] == ["ns2/StatefulSet/a"]
    assert [w.label for w in net.find_workloads("ns1/deployment/a")] == ["ns1/Deployment/a"]
    assert [w.label for w in net.find_workloads("statefulset/a")] == ["ns2/StatefulSet/a"]


def test_connections_filtered_by_namespace_keep_pairs_touching_it():
    c = deploy("c", "ns2", {"app": "c"})
    net = build(A, c)
    got = {(x.src.label, x.dst.label) for x in net.connections({"ns2"}, external=False)}
    assert got == {("ns1/Deployment/a", "ns2/Deployment/c"), ("ns2/Deployment/c", "ns1/Deployment/a"),
                   ("ns2/Deployment/c", "ns2/Deployment/c")}
    assert ANY_IPV4.to_json() == {"cidr": "0.0.0.0/0"}
