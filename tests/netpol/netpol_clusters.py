"""Helpers that build small clusters from YAML written in the tests."""

from __future__ import annotations

import json
import textwrap

from kubeharden.analysis.reachability import Network
from kubeharden.engine.evaluator import build_inventory
from kubeharden.sources.files import parse_text


def deploy(name: str, ns: str | None, labels: dict[str, str], ports: list[dict] | None = None,
           kind: str = "Deployment", host_network: bool = False) -> str:
    """A workload manifest (flow style) with the given pod labels and container ports."""
    container = {"name": "c", "image": "registry.example.com/x:1"}
    if ports:
        container["ports"] = ports
    spec: dict = {"containers": [container]}
    if host_network:
        spec["hostNetwork"] = True
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    if kind == "Pod":
        doc = {"apiVersion": "v1", "kind": "Pod", "metadata": {**meta, "labels": labels}, "spec": spec}
    else:
        doc = {"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
               "spec": {"template": {"metadata": {"labels": labels}, "spec": spec}}}
    return json.dumps(doc)


def build(*docs: str) -> Network:
    text = "\n---\n".join(textwrap.dedent(d).strip() for d in docs)
    inventory, problems = build_inventory(parse_text(text, "test.yaml"))
    assert not problems, problems
    return Network(inventory)


def pairs(network: Network, external: bool = False) -> dict[tuple[str, str], object]:
    """Allowed connections as {(src, dst): "all" | [port labels]} with short names."""
    def name(end) -> str:
        return f"{end.namespace}/{end.ref.name}" if hasattr(end, "ref") else str(end)
    return {(name(c.src), name(c.dst)): c.ports.to_json() for c in network.connections(external=external)}



def policy(name: str, ns: str, spec: dict, api_version: str = "networking.k8s.io/v1",
           kind: str = "NetworkPolicy") -> str:
    return json.dumps({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": ns},
                       "spec": spec})


def namespace(name: str, labels: dict[str, str] | None = None) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": name, **({"labels": labels} if labels else {})}})


DENY_ALL = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
