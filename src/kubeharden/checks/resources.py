"""Container compute requests and limits (NSA-NET-11's workload-level companion)."""

from __future__ import annotations

from typing import Any
from collections.abc import Iterator

from kubeharden.checks.catalogue import Violation, check
from kubeharden.checks.context import Context
from kubeharden.findings import Fix
from kubeharden.generators.quotas import FORMAT, Defaults, parse_quantity
from kubeharden.model.fieldpath import join
from kubeharden.model.objects import as_dict
from kubeharden.model.pods import ContainerView

#: The sizes a fix proposes: the LimitRange defaults that ``kubeharden generate quotas`` writes.
#: A starting point for a person to adjust, never applied unreviewed (the fix is not safe).
_DEFAULTS = Defaults()


def _resources(c: ContainerView) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    res = as_dict(c.raw.get("resources"))
    return res, as_dict(res.get("requests")), as_dict(res.get("limits"))


def _applies(c: ContainerView) -> bool:
    return c.kind != "ephemeralContainer"  # ephemeral containers cannot have resources


@check("KH-RES-001")
def requests_set(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    if not _applies(c):
        return
    res, requests, limits = _resources(c)
    # A limit without a request makes Kubernetes default the request to the limit.
    missing = [r for r in ("cpu", "memory") if requests.get(r) in (None, "") and limits.get(r) in (None, "")]
    if missing:
        path = join(c.path, "resources", "requests")
        value = {r: FORMAT[r](_DEFAULTS.request[r]) for r in missing}
        yield Violation(f"no {' or '.join(missing)} request: the scheduler cannot place the pod fairly and it "
                        "is first to be evicted", c.line(res or None, "requests"), path=path,
                        fix=Fix("add", path, value))


def _limit(c: ContainerView, resource: str) -> Iterator[Violation]:
    if not _applies(c):
        return
    res, requests, limits = _resources(c)
    if limits.get(resource) in (None, ""):
        path = join(c.path, "resources", "limits", resource)
        yield Violation(f"no {resource} limit: one container can starve the node and its neighbours",
                        c.line(res or None, "limits"), path=path,
                        fix=Fix("set", path, _limit_value(resource, requests)))


def _limit_value(resource: str, requests: dict[str, Any]) -> str:
    """The default limit, raised to the request: the API server refuses a limit below the request
    (Kubernetes API reference, ResourceRequirements; "Resource Management for Pods and Containers")."""
    limit = _DEFAULTS.limit[resource]
    try:
        limit = max(limit, parse_quantity(requests.get(resource)))
    except ValueError:
        pass  # no request, or one the API server would refuse anyway
    return FORMAT[resource](limit)


@check("KH-RES-002")
def cpu_limit(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    return _limit(c, "cpu")


@check("KH-RES-003")
def memory_limit(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    return _limit(c, "memory")
