"""Pods in audit request bodies, judged as manifests are.

An audit event's ``requestObject`` of a pod or workload write is turned into the same
:class:`~kubeharden.model.pods.PodView` a manifest gets (``model/pods.py``: pod-template
locations, security-context inheritance), and the scan's own pod and container controls run
over it (``checks/``). Rules read the result through three virtual fields:

* ``podSpec``: every pod spec of the body (``spec`` of a Pod, ``spec.template.spec`` of a
  Deployment, ``spec.jobTemplate.spec.template.spec`` of a CronJob, … as ``POD_TEMPLATE_PATHS``);
* ``podContainer``: each container with its *effective* settings (``privileged``,
  ``runAsUser``, ``runAsNonRoot``, ``allowPrivilegeEscalation`` after pod-level inheritance,
  ``capabilities`` normalised);
* ``podViolation``: each scan-control violation, ``{control, container, message}``.

The kind comes from the body, or from ``objectRef.resource`` when a patch body has none
(Kubernetes "Auditing": ``objectRef`` names the resource of every request). Strategic-merge and
merge patches are partial: a field absent from a patch is unchanged, not unset, so only the
controls that judge a value that *is present* say something true about a patch (the built-in
rules use only those). JSON patches (a list body) have no pod view; KH-AUDIT-017 reads them.

Each event's answer is computed once, on first use, and kept for the other rules.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from kubeharden.model.objects import K8sObject, Provenance, make_ref
from kubeharden.model.pods import POD_TEMPLATE_PATHS, POD_TEMPLATE_RESOURCES, PodView, pod_view

#: Every distinct location of a pod spec, for bodies whose kind is not known.
_SPEC_PATHS = tuple(dict.fromkeys((*path, "spec") for path in POD_TEMPLATE_PATHS.values()))

_last_view: tuple[Any, PodView | None] = (None, None)
_last_violations: tuple[Any, list[dict[str, Any]]] = (None, [])
_last_containers: tuple[Any, list[dict[str, Any]]] = (None, [])


def body_kind(event: dict[str, Any]) -> str | None:
    """The pod-bearing kind of the event's request body: its ``kind``, else the kind of
    ``objectRef.resource`` (a patch body carries no kind); None when it is not such a write."""
    body = event.get("requestObject")
    if not isinstance(body, dict):
        return None
    kind = body.get("kind")
    if isinstance(kind, str) and kind in POD_TEMPLATE_PATHS:
        return kind
    ref = event.get("objectRef")
    resource = ref.get("resource") if isinstance(ref, dict) else None
    if kind is None and isinstance(resource, str) and not (ref or {}).get("subresource"):
        return POD_TEMPLATE_RESOURCES.get(resource)
    return None


def pod_specs(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Every pod spec in the request body (a list of mappings; empty when there is none)."""
    body = event.get("requestObject")
    if not isinstance(body, dict):
        return []
    kind = body_kind(event)
    paths = ((*POD_TEMPLATE_PATHS[kind], "spec"),) if kind else _SPEC_PATHS if body.get("kind") is None else ()
    out = []
    for path in paths:
        cur: Any = body
        for key in path:
            cur = cur.get(key) if isinstance(cur, dict) else None
        if isinstance(cur, dict) and (kind or len(path) > 1 or "containers" in cur):
            out.append(cur)  # without a kind, a bare ``spec`` is a pod's only when it has containers
    return out


def event_pod_view(event: dict[str, Any]) -> PodView | None:
    """The pod view of the request body, or None (no pod-bearing body). Kept for the last event."""
    global _last_view
    memo = _last_view
    if memo[0] is event:
        return memo[1]
    view = _build_view(event)
    _last_view = (event, view)
    return view


def _build_view(event: dict[str, Any]) -> PodView | None:
    kind = body_kind(event)
    if kind is None:
        return None
    body: dict[str, Any] = event["requestObject"]
    ref = event.get("objectRef") if isinstance(event.get("objectRef"), dict) else {}
    raw = body
    if body.get("kind") != kind or not isinstance(body.get("apiVersion"), str):
        group, version = ref.get("apiGroup") or "", ref.get("apiVersion") or "v1"
        raw = {**body, "kind": kind, "apiVersion": f"{group}/{version}" if group else str(version)}
    meta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
    if not meta.get("name") and ref.get("name"):
        raw = {**raw, "metadata": {**meta, "name": ref["name"]}}
    obj = K8sObject(raw, make_ref(raw, ref.get("namespace")), Provenance(None, None, "audit"))
    return pod_view(obj)


@lru_cache(maxsize=1)
def _judges() -> tuple[tuple[str, str, Any], ...]:
    """(control ID, scope, runner) for every pod- and container-scope control of the catalogue."""
    from kubeharden.checks.catalogue import load_catalogue
    from kubeharden.engine import control_runner
    return tuple((c.id, c.scope, control_runner(c)) for c in load_catalogue() if c.scope in ("pod", "container"))


@lru_cache(maxsize=1)
def _context() -> Any:
    from kubeharden.checks.context import Context
    from kubeharden.config import Config
    return Context(Config())  # the guide's defaults: no allowed host paths, the guide's volume types


def pod_violations(event: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{control, container, message}]``: what the scan's pod and container controls find in the
    request body's pod (default configuration). A control that fails on odd input is skipped."""
    global _last_violations
    memo = _last_violations
    if memo[0] is event:
        return memo[1]
    out: list[dict[str, Any]] = []
    view = event_pod_view(event)
    if view is not None and (view.containers or view.spec):
        ctx = _context()
        for control_id, scope, run in _judges():
            units = [view] if scope == "pod" else view.containers
            for unit in units:
                try:
                    for v in run(unit, ctx):
                        out.append({"control": control_id, "container": v.container or getattr(unit, "name", None),
                                    "message": v.message})
                except Exception:  # bad input must not stop detection: that control cannot judge it
                    continue
    _last_violations = (event, out)
    return out


def pod_containers(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Each container of the body's pod with its effective security settings (after inheritance)."""
    global _last_containers
    memo = _last_containers
    if memo[0] is event:
        return memo[1]
    from kubeharden.model.facts import capability_name
    out: list[dict[str, Any]] = []
    view = event_pod_view(event)
    for c in view.containers if view is not None else ():
        caps = c.sc.get("capabilities")
        added = caps.get("add") if isinstance(caps, dict) else None
        out.append({
            "name": c.name, "kind": c.kind, "image": c.image,
            **{k: c.effective(k).value for k in ("privileged", "runAsUser", "runAsGroup", "runAsNonRoot",
                                                  "allowPrivilegeEscalation", "readOnlyRootFilesystem")},
            "capabilitiesAdded": [capability_name(x) for x in added] if isinstance(added, list) else [],
        })
    _last_containers = (event, out)
    return out


__all__ = ["body_kind", "event_pod_view", "pod_containers", "pod_specs", "pod_violations"]
