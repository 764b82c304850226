"""Pod Security Admission labels per namespace (NSA-POD-8; the guide's PSA labelling, APPX-PSA-NAMESPACE).

For each namespace, ``enforce`` is the strictest Pod Security Standards level that every pod of the
input in it meets today (so enforcing it rejects none of them), and ``audit`` and ``warn`` are
``restricted``, so the API server reports what still stands in the way of enforcing it. Each mode
gets its ``-version`` label. Source: Kubernetes documentation, "Pod Security Admission" (labels
``pod-security.kubernetes.io/<mode>`` and ``<mode>-version``) and "Enforce Pod Security Standards
with Namespace Labels". A namespace without pods in the input gets ``restricted``: nothing there
would be rejected, and the output says so. A Namespace of the input whose ``enforce`` label is already
stricter keeps it: the output never lowers a level, and its comment names the workloads that violate it.
Every name written into a comment has its control characters escaped (``model/names.py``), so a
name can never end the comment line and run as a command.

The levels of the pods are given by the caller (the Pod Security Standards evaluation of the scan,
``checks/pss.py``); this module only plans and writes.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from kubeharden.model.facts import PSA_LABEL_PREFIX, PSA_MODES, PSS_LEVELS
from kubeharden.model.names import one_line

#: The mode labels kept at ``restricted`` whatever ``enforce`` is.
REPORTING_MODES = ("audit", "warn")


@dataclass(frozen=True, slots=True)
class PodLevel:
    """One workload's verdict: ``what`` names it (``Deployment/shop/web``), ``level`` is its strongest
    level, ``reasons`` what keeps it from the next one."""

    what: str
    level: str
    reasons: tuple[str, ...] = ()


@dataclass(slots=True)
class NamespacePlan:
    name: str
    pods: list[PodLevel] = field(default_factory=list)
    #: labels the input's Namespace object already has (None: the input has no Namespace object for it)
    labels: dict[str, str] | None = None

    @property
    def met(self) -> str:
        """The strictest level every pod meets (``restricted`` without pods)."""
        return min((p.level for p in self.pods), key=PSS_LEVELS.index, default=PSS_LEVELS[-1])

    @property
    def existing(self) -> str | None:
        """The ``enforce`` level the input's Namespace already has, when it is a valid level, else None."""
        value = (self.labels or {}).get(PSA_LABEL_PREFIX + "enforce")
        return value if value in PSS_LEVELS else None

    @property
    def level(self) -> str:
        """The ``enforce`` level written: what every pod meets, or the existing label when it is stricter
        (never lowered: lowering it would admit pods the cluster rejects today)."""
        existing = self.existing
        if existing is not None and PSS_LEVELS.index(existing) > PSS_LEVELS.index(self.met):
            return existing
        return self.met

    def held_back_by(self) -> list[PodLevel]:
        """The pods at the level all pods meet, when that is below restricted: what a stricter level would reject."""
        return [p for p in self.pods if p.level == self.met] if self.met != PSS_LEVELS[-1] else []

    def violating(self) -> list[PodLevel]:
        """The pods below the written ``enforce`` level (only when an existing stricter label is kept)."""
        return [p for p in self.pods if PSS_LEVELS.index(p.level) < PSS_LEVELS.index(self.level)]

    def psa_labels(self, version: str) -> dict[str, str]:
        labels = {}
        for mode in PSA_MODES:
            labels[PSA_LABEL_PREFIX + mode] = self.level if mode not in REPORTING_MODES else PSS_LEVELS[-1]
            labels[f"{PSA_LABEL_PREFIX}{mode}-version"] = version
        return labels


def plan(namespaces: dict[str, dict[str, str] | None], pods: Iterable[tuple[str, PodLevel]],
         only: Iterable[str] = ()) -> list[NamespacePlan]:
    """One plan per namespace: the input's Namespace objects (name -> labels) and the namespaces its pods
    use; ``only`` (when given) limits the plans to those names. Sorted by name."""
    plans: dict[str, NamespacePlan] = {name: NamespacePlan(name, labels=dict(labels or {}))
                                       for name, labels in namespaces.items()}
    for ns, pod in pods:
        plans.setdefault(ns, NamespacePlan(ns)).pods.append(pod)
    wanted = set(only)
    for name in wanted - set(plans):
        plans[name] = NamespacePlan(name)
    return [plans[n] for n in sorted(plans) if not wanted or n in wanted]


def _comment(p: NamespacePlan) -> list[str]:
    """The comment lines above one namespace, each free of control characters."""
    if not p.pods:
        lines = [f"{p.name}: no pods in the input; restricted rejects nothing here today"]
    elif p.level != p.met:
        lines = [f"{p.name}: {len(p.pods)} workload(s); keeps its existing enforce {p.level}, stricter than "
                 f"{p.met}, the level all of them meet; these workloads violate it and are rejected:"]
        lines += [f"  {pod.what} is {pod.level} ({'; '.join(pod.reasons) or 'see scan'})" for pod in p.violating()]
    else:
        lines = [f"{p.name}: {len(p.pods)} workload(s); enforce {p.level}, the strictest level all of them meet"]
        for pod in p.held_back_by():
            nxt = PSS_LEVELS[PSS_LEVELS.index(pod.level) + 1]
            lines.append(f"  held at {pod.level} by {pod.what} ({nxt}: {'; '.join(pod.reasons) or 'see scan'})")
    return [one_line(line) for line in lines]


def manifests(plans: list[NamespacePlan], version: str) -> str:
    """Namespace manifests with the labels (existing labels kept), each after a comment on its level."""
    out: list[str] = []
    for p in plans:
        out.extend(f"# {line}" for line in _comment(p))
        doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": p.name, "labels": {**(p.labels or {}), **p.psa_labels(version)}}}
        out.append("---")
        out.append(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False).rstrip("\n"))
    return "\n".join(out) + "\n"


def kubectl_lines(plans: list[NamespacePlan], version: str) -> str:
    """``kubectl label --overwrite namespace NAME …`` lines, each after a comment on its level."""
    out: list[str] = []
    for p in plans:
        out.extend(f"# {line}" for line in _comment(p))
        pairs = " ".join(shlex.quote(f"{k}={v}") for k, v in p.psa_labels(version).items())
        out.append(f"kubectl label --overwrite namespace {shlex.quote(p.name)} {pairs}")
    return "\n".join(out) + "\n"
