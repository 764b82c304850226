"""Reachability benchmark: 2,000 workloads, 500 policies, 100 namespaces; full matrix.

Run: ``PYTHONPATH=src python3 benchmarks/netpol_bench.py [--workloads N --policies N --namespaces N]``;
``--admin-policies N`` adds N AdminNetworkPolicies and a BaselineAdminNetworkPolicy, which switches the
engine to layer-by-layer evaluation (analysis/precedence.py).
Prints the time to parse, to build the engine, to compute every allowed connection,
the number of connections and the peak memory (tracemalloc and process RSS).
Target (issue #4): the full matrix in under 10 seconds.

The synthetic cluster is shaped like real ones: every namespace has a default deny and a
DNS allow; the other policies mix same-namespace and cross-namespace peers, label
expressions, named ports, port ranges, UDP/SCTP and ipBlocks with except.
"""

from __future__ import annotations

import argparse
import random
import resource
import time
import tracemalloc

import yaml

from kubeharden.analysis.reachability import Network
from kubeharden.config import parse_config
from kubeharden.engine.evaluator import Evaluator, build_inventory
from kubeharden.sources.files import parse_text

TIERS = ("web", "api", "worker", "db", "cache")


def workload(ns: str, i: int, rng: random.Random) -> dict:
    tier = TIERS[i % len(TIERS)]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"app-{i}", "namespace": ns},
            "spec": {"replicas": 2, "template": {
                "metadata": {"labels": {"app": f"app-{i}", "tier": tier, "team": f"t{rng.randint(0, 9)}"}},
                "spec": {"containers": [{"name": "main", "image": "registry.example.com/app:1",
                                         "ports": [{"name": "http", "containerPort": 8000 + i % 50},
                                                   {"name": "metrics", "containerPort": 9090}]}]}}}}


def policies(ns: str, count: int, namespaces: list[str], rng: random.Random, offset: int,
             open_namespace: bool) -> list[dict]:
    def pol(name: str, spec: dict) -> dict:
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": name, "namespace": ns}, "spec": spec}

    deny = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    if open_namespace:  # a namespace that only isolates its databases: most pods stay open
        deny = {"podSelector": {"matchLabels": {"tier": "db"}}, "policyTypes": ["Ingress"]}
    out = [pol("default-deny", deny),
           pol("dns", {"podSelector": {"matchLabels": {"tier": "db"}} if open_namespace else {},
                       "policyTypes": ["Egress"], "egress": [{
               "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                       "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
               "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]})]
    for k in range(count - 2):
        tier = TIERS[k % len(TIERS)]
        other = rng.choice(namespaces)
        shape = (k + offset) % 4
        if shape == 0:  # same-namespace clients on a named port
            spec = {"podSelector": {"matchLabels": {"tier": tier}},
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"tier": TIERS[k % 4]}}}],
                                 "ports": [{"port": "http"}]}]}
        elif shape == 1:  # clients from labelled namespaces, with expressions
            spec = {"podSelector": {"matchExpressions": [{"key": "tier", "operator": "In",
                                                          "values": [tier, "api"]}]},
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"env": "prod"}},
                                           "podSelector": {"matchLabels": {"tier": "web"}}}],
                                 "ports": [{"port": 8000, "endPort": 8040}, {"protocol": "UDP", "port": 5000}]}]}
        elif shape == 2:  # egress to another namespace and to the outside
            spec = {"podSelector": {"matchLabels": {"tier": tier}}, "policyTypes": ["Egress"],
                    "egress": [{"to": [{"namespaceSelector": {"matchLabels": {
                        "kubernetes.io/metadata.name": other}}}], "ports": [{"port": "http"}]},
                               {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32",
                                                                                   "10.0.0.0/8"]}}],
                                "ports": [{"port": 443}]}]}
        else:  # egress within the namespace, SCTP and metrics scraping from monitoring
            spec = {"podSelector": {"matchLabels": {"team": f"t{k % 10}"}}, "policyTypes": ["Ingress", "Egress"],
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                        "kubernetes.io/metadata.name": "monitoring"}}}], "ports": [{"port": "metrics"}]}],
                    "egress": [{"to": [{"podSelector": {}}], "ports": [{"protocol": "SCTP", "port": 3868},
                                                                       {"port": "http"}]}]}
        out.append(pol(f"p{k}", spec))
    return out


def admin_policies(count: int, namespaces: list[str]) -> list[dict]:
    """AdminNetworkPolicies (Pass, Deny, Allow with named ports and networks) and a baseline: with
    them the engine decides layer by layer instead of by the union of allows."""
    out: list[dict] = [{"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "BaselineAdminNetworkPolicy",
                        "metadata": {"name": "default"},
                        "spec": {"subject": {"namespaces": {}},
                                 "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}],
                                 "egress": [{"action": "Deny", "to": [{"networks": ["169.254.169.254/32"]}]}]}}]
    for k in range(count):
        action = ("Pass", "Deny", "Allow")[k % 3]
        out.append({"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
                    "metadata": {"name": f"anp-{k}"},
                    "spec": {"priority": k % 1000, "subject": {"pods": {
                        "namespaceSelector": {"matchLabels": {"env": "prod" if k % 2 else "dev"}},
                        "podSelector": {"matchLabels": {"tier": TIERS[k % len(TIERS)]}}}},
                        "ingress": [{"action": action, "from": [{"namespaces": {"matchLabels": {
                            "kubernetes.io/metadata.name": namespaces[k % len(namespaces)]}}}],
                            "ports": [{"namedPort": "metrics"}, {"portRange": {"protocol": "TCP", "start": 8000,
                                                                              "end": 8020}}]}],
                        "egress": [{"action": "Deny", "to": [{"networks": ["10.0.0.0/8"]}]}]}})
    return out


def build_yaml(n_workloads: int, n_policies: int, n_namespaces: int, open_share: float, seed: int = 4,
               n_admin: int = 0) -> str:
    rng = random.Random(seed)
    namespaces = [f"ns-{i}" for i in range(n_namespaces)]
    docs: list[dict] = []
    for i, ns in enumerate(namespaces):
        docs.append({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": ns, "labels": {"env": "prod" if i % 2 else "dev"}}})
    docs.append({"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": "coredns", "namespace": "kube-system"},
                 "spec": {"template": {"metadata": {"labels": {"k8s-app": "kube-dns"}},
                                       "spec": {"containers": [{"name": "coredns", "image": "x"}]}}}})
    for i in range(n_workloads):
        docs.append(workload(namespaces[i % n_namespaces], i, rng))
    per_ns, extra = divmod(n_policies, n_namespaces)
    for i, ns in enumerate(namespaces):
        docs.extend(policies(ns, per_ns + (1 if i < extra else 0), namespaces, rng, i,
                             i < open_share * n_namespaces))
    if n_admin:
        docs.extend(admin_policies(n_admin, namespaces))
    return yaml.safe_dump_all(docs, sort_keys=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workloads", type=int, default=2000)
    ap.add_argument("--policies", type=int, default=500)
    ap.add_argument("--namespaces", type=int, default=100)
    ap.add_argument("--open-share", type=float, default=0.5,
                    help="share of namespaces without a default deny (their pods reach each other freely)")
    ap.add_argument("--admin-policies", type=int, default=0,
                    help="add this many AdminNetworkPolicies and a BaselineAdminNetworkPolicy (layered evaluation)")
    ap.add_argument("--tracemalloc", action="store_true", help="also measure Python allocations (slower)")
    args = ap.parse_args()
    text = build_yaml(args.workloads, args.policies, args.namespaces, args.open_share, n_admin=args.admin_policies)
    if args.tracemalloc:
        tracemalloc.start()
    t0 = time.perf_counter()
    inventory, problems = build_inventory(parse_text(text, "bench.yaml"))
    t1 = time.perf_counter()
    network = Network(inventory)
    t2 = time.perf_counter()
    internal = external = 0
    for conn in network.connections():
        if hasattr(conn.dst, "cidr") or hasattr(conn.src, "cidr"):
            external += 1
        else:
            internal += 1
    t3 = time.perf_counter()
    print(f"input: {len(inventory.pods)} workloads, {len(network.policies)} policies, "
          f"{len(network.namespaces)} namespaces, {len(network.classes)} classes, {len(problems)} problems")
    print(f"parse + inventory: {t1 - t0:6.2f} s")
    print(f"engine set-up:     {t2 - t1:6.2f} s")
    print(f"full matrix:       {t3 - t2:6.2f} s  ({internal} workload pairs, {external} external connections)")
    print(f"engine + matrix:   {t3 - t1:6.2f} s  (target < 10 s)")
    if args.tracemalloc:
        _, peak = tracemalloc.get_traced_memory()
        print(f"peak traced memory: {peak / 2**20:.1f} MiB")
    controls = [f"KH-NET-{i:03d}" for i in range(1, 18)]
    objects = list(parse_text(text, "bench.yaml"))
    t4 = time.perf_counter()
    evaluator = Evaluator(parse_config({}), only=controls)
    findings = sum(1 for _ in evaluator.run(objects))
    t5 = time.perf_counter()
    print(f"KH-NET controls:   {t5 - t4:6.2f} s  ({findings} findings, scan of the parsed objects)")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
