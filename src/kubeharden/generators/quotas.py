"""LimitRange and ResourceQuota per namespace (NSA-NET-10/11, Appendix F/G), sized from the input.

For every namespace the workloads' requests and limits are added up, pod by pod
(containers summed; an init container counts when it asks for more than the
containers together, as the scheduler does) and times the replicas. A container that
sets nothing gets the LimitRange defaults, which are counted too. The quota is that
total times ``headroom`` (rolling updates surge above the replica count).

The LimitRange is built so that every container of the input is admitted: ``max`` is
at least the largest value seen, ``min`` at most the smallest, and ``default`` at least
any request that a container makes without a limit (a defaulted limit below the
request would get the pod rejected).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from kubeharden.analysis.reachability import DEFAULT_NAMESPACE
from kubeharden.model.findings import Problem
from kubeharden.model.objects import K8sObject, as_dict
from kubeharden.model.pods import pod_view
from kubeharden.model.resources import parse_quantity

RESOURCES = ("cpu", "memory")
MI = 2**20


def format_cpu(cores: Fraction) -> str:
    millis = math.ceil(cores * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def format_memory(size: Fraction) -> str:
    mebis = max(1, math.ceil(size / MI))
    return f"{mebis // 1024}Gi" if mebis % 1024 == 0 else f"{mebis}Mi"


FORMAT = {"cpu": format_cpu, "memory": format_memory}


@dataclass(slots=True)
class Defaults:
    """Values for containers that set nothing (LimitRange default / defaultRequest)."""

    request: dict[str, Fraction] = field(default_factory=lambda: {"cpu": Fraction(1, 10), "memory": Fraction(128 * MI)})
    limit: dict[str, Fraction] = field(default_factory=lambda: {"cpu": Fraction(1, 2), "memory": Fraction(512 * MI)})
    floor: dict[str, Fraction] = field(default_factory=lambda: {"cpu": Fraction(1, 100), "memory": Fraction(16 * MI)})


@dataclass(slots=True)
class ContainerNeeds:
    requests: dict[str, Fraction | None]
    limits: dict[str, Fraction | None]


@dataclass(slots=True)
class PodNeeds:
    replicas: int
    containers: list[ContainerNeeds]
    init: list[ContainerNeeds]


def _replicas(obj: K8sObject, daemonset_nodes: int) -> int:
    spec = as_dict(obj.raw.get("spec"))
    if obj.kind == "DaemonSet":
        return daemonset_nodes
    if obj.kind in ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"):
        n = spec.get("replicas", 1)
    elif obj.kind == "Job":
        n = spec.get("parallelism", 1)
    elif obj.kind == "CronJob":
        n = as_dict(as_dict(spec.get("jobTemplate")).get("spec")).get("parallelism", 1)
    else:
        n = 1
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else 1


def collect(objects: Iterable[K8sObject | Problem], daemonset_nodes: int = 3,
            unset_namespace: str = DEFAULT_NAMESPACE) -> tuple[dict[str, list[PodNeeds]], set[str], list[Problem]]:
    """Per namespace, the pods' needs; also the namespaces declared and the problems met.

    Workloads that set no namespace count in ``unset_namespace``, where they will be applied.
    """
    by_ns: dict[str, list[PodNeeds]] = defaultdict(list)
    declared: set[str] = set()
    problems: list[Problem] = []
    for obj in objects:
        if isinstance(obj, Problem):
            problems.append(obj)
            continue
        if obj.kind == "Namespace" and obj.ref.api_version == "v1":
            declared.add(obj.name)
            continue
        pod = pod_view(obj)
        if pod is None or not pod.containers:
            continue
        needs = PodNeeds(_replicas(obj, daemonset_nodes), [], [])
        for c in pod.containers:
            if c.kind == "ephemeralContainer":
                continue
            res = as_dict(c.raw.get("resources"))
            item = ContainerNeeds({}, {})
            for part, target in (("requests", item.requests), ("limits", item.limits)):
                values = as_dict(res.get(part))
                for r in RESOURCES:
                    target[r] = None
                    if values.get(r) in (None, ""):
                        continue
                    try:
                        target[r] = parse_quantity(values[r])
                    except ValueError as exc:
                        problems.append(Problem("warning", "invalid-object", f"{c.path}.resources.{part}.{r}: "
                                                f"{exc}; ignored for sizing", obj.origin.file,
                                                c.line(values, r), obj.ref))
            (needs.init if c.kind == "initContainer" else needs.containers).append(item)
        by_ns[obj.namespace or unset_namespace].append(needs)
    return by_ns, declared, problems


def _effective(c: ContainerNeeds, r: str, defaults: Defaults, limit_default: Fraction) -> tuple[Fraction, Fraction]:
    """(request, limit) after LimitRange defaulting, as the API server would apply it."""
    req, lim = c.requests.get(r), c.limits.get(r)
    if lim is None:
        lim = limit_default
    if req is None:
        given = c.limits.get(r)
        req = given if given is not None else min(defaults.request[r], lim)
    return req, lim


def build(namespace: str, pods: list[PodNeeds], headroom: float, defaults: Defaults | None = None
          ) -> list[dict[str, Any]]:
    """The LimitRange and ResourceQuota of one namespace."""
    defaults = defaults or Defaults()
    every = [c for p in pods for c in (*p.containers, *p.init)]
    limit_range: dict[str, dict[str, str]] = {"default": {}, "defaultRequest": {}, "max": {}, "min": {}}
    quota: dict[str, str] = {}
    for r in RESOURCES:
        # default must cover any request made without a limit, or defaulting would reject the pod.
        unlimited_requests = [q for c in every if c.limits.get(r) is None and (q := c.requests.get(r))]
        default_limit = max([defaults.limit[r], *unlimited_requests])
        values = [v for c in every for v in (c.requests.get(r), c.limits.get(r)) if v is not None]
        eff = [_effective(c, r, defaults, default_limit) for c in every]
        biggest = max([default_limit, *values, *(lim for _, lim in eff)])
        smallest = min([defaults.floor[r], *(v for v in values if v > 0)])
        limit_range["default"][r] = FORMAT[r](default_limit)
        limit_range["defaultRequest"][r] = FORMAT[r](min(defaults.request[r], default_limit))
        limit_range["max"][r] = FORMAT[r](biggest)
        limit_range["min"][r] = FORMAT[r](smallest)
        total_req = total_lim = Fraction(0)
        for p in pods:
            conts = [_effective(c, r, defaults, default_limit) for c in p.containers]
            inits = [_effective(c, r, defaults, default_limit) for c in p.init]
            pod_req = max([sum((q for q, _ in conts), Fraction(0)), *(q for q, _ in inits)])
            pod_lim = max([sum((lim for _, lim in conts), Fraction(0)), *(lim for _, lim in inits)])
            total_req += pod_req * p.replicas
            total_lim += pod_lim * p.replicas
        factor = Fraction(headroom).limit_denominator(1000)
        # With no workloads, leave room for one pod of the default size.
        quota[f"requests.{r}"] = FORMAT[r](max(total_req * factor, defaults.request[r]))
        quota[f"limits.{r}"] = FORMAT[r](max(total_lim * factor, default_limit))
    pod_count = sum(p.replicas for p in pods)
    quota["pods"] = str(max(1, math.ceil(pod_count * headroom)))
    return [
        {"apiVersion": "v1", "kind": "LimitRange",
         "metadata": {"name": "default-limits", "namespace": namespace},
         "spec": {"limits": [{"type": "Container", **limit_range}]}},
        {"apiVersion": "v1", "kind": "ResourceQuota",
         "metadata": {"name": "compute", "namespace": namespace},
         "spec": {"hard": quota}},
    ]
