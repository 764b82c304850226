"""Container compute requests (NSA-NET-11's workload-level companion); the limits are rules in the catalogue."""

from __future__ import annotations

from typing import Any
from collections.abc import Iterator

from kubeharden.checks.catalogue import Violation, check
from kubeharden.checks.context import Context
from kubeharden.model.objects import as_dict
from kubeharden.model.pods import ContainerView


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
        yield Violation(f"no {' or '.join(missing)} request: the scheduler cannot place the pod fairly and it "
                        "is first to be evicted", c.line(res or None, "requests"))
