"""Namespace placement of workloads (NSA-NET-2) and Pod Security Admission labels (NSA-POD-8)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator

from kubeharden.checks.context import Context
from kubeharden.checks.registry import check
from kubeharden.model.cluster import system_component
from kubeharden.model.controls import Violation
from kubeharden.model.facts import PSA_LABEL_PREFIX, PSS_LEVELS
from kubeharden.model.fieldpath import join
from kubeharden.model.findings import Fix
from kubeharden.model.objects import K8sObject
from kubeharden.model.pods import PodView

PSA_LEVELS = PSS_LEVELS
PSA_ENFORCE = PSA_LABEL_PREFIX + "enforce"


def _ns_line(pod: PodView) -> int | None:
    meta = pod.obj.raw.get("metadata")
    return pod.obj.line(meta, "namespace")


@check("KH-NS-001")
def system_namespace(pod: PodView, ctx: Context) -> Iterator[Violation]:
    ns = pod.namespace
    if ns not in ctx.config.system_namespaces:
        return
    ident = f"{ns}/{pod.obj.name}"
    if system_component(pod.obj.raw) is not None:
        return  # a control-plane static Pod (kube-apiserver …) belongs in kube-system (model/cluster.py)
    if any(fnmatch.fnmatchcase(ident, pattern) for pattern in ctx.config.system_workloads):
        return
    yield Violation(f"workload runs in the system namespace {ns!r}, reserved for cluster components "
                    "(list real system components in system_workloads)", _ns_line(pod),
                    path=join("metadata", "namespace"))


@check("KH-NS-002")
def default_namespace(pod: PodView, ctx: Context) -> Iterator[Violation]:
    if pod.namespace == "default":
        how = (" (it sets no metadata.namespace, so kubectl applies it there unless -n names another; scan with "
               "-n NS if that is how it is applied)") if pod.obj.origin.namespace_defaulted else ""
        yield Violation("workload runs in the 'default' namespace, where RBAC and network policies rarely "
                        f"separate it from anything else{how}", _ns_line(pod), path=join("metadata", "namespace"))


@check("KH-NS-003")
def pod_security_admission(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if obj.name in ctx.config.system_namespaces:
        return
    labels = obj.labels
    meta = obj.metadata
    level = labels.get(PSA_ENFORCE)
    wanted = "restricted" if ctx.profile == "strict" else "baseline"
    line = obj.line(meta.get("labels"), PSA_ENFORCE) if level else obj.line(meta, "labels" if "labels" in meta
                                                                          else "name")
    # Enforcing makes the API server refuse new pods that violate the level, so a person decides.
    path = join("metadata", "labels", PSA_ENFORCE)
    fix = Fix("set", path, wanted)
    if level is None:
        yield Violation(f"namespace has no {PSA_ENFORCE} label: Pod Security Admission enforces nothing here",
                        line, path=path, fix=fix)
    elif level not in PSA_LEVELS:
        yield Violation(f"{PSA_ENFORCE} is {level!r}, not one of {', '.join(PSA_LEVELS)}", line, path=path, fix=fix)
    elif PSA_LEVELS.index(level) < PSA_LEVELS.index(wanted):
        yield Violation(f"{PSA_ENFORCE} is {level!r}; the {ctx.profile} profile wants at least {wanted!r}", line,
                        path=path, fix=fix)
