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
* ``podViolation``: each violation of the scan controls in :data:`JUDGED_CONTROLS`,
  ``{control, container, message}``.

The kind comes from the body, or from ``objectRef.resource`` when a patch body has none
(Kubernetes "Auditing": ``objectRef`` names the resource of every request). Strategic-merge and
merge patches are partial: a field absent from a patch is unchanged, not unset, so only the
controls that judge a value that *is present* say something true about a patch; those are the
ones judged here. JSON patches (a list body) have no pod view; KH-AUDIT-017 reads them.

Each event's answer is computed once, on first use, and kept for the other rules; answers are
also kept by pod-template content, since a controller creates many pods from one template.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

import orjson

from kubeharden.model.facts import capability_name
from kubeharden.model.objects import K8sObject, Provenance, make_ref
from kubeharden.model.pods import POD_TEMPLATE_PATHS, POD_TEMPLATE_RESOURCES, PodView, pod_view

#: Every distinct location of a pod spec, for bodies whose kind is not known.
_SPEC_PATHS = tuple(dict.fromkeys((*path, "spec") for path in POD_TEMPLATE_PATHS.values()))

_last_view: tuple[Any, PodView | None] = (None, None)


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
    ref = event["objectRef"] if isinstance(event.get("objectRef"), dict) else {}
    raw = body
    if body.get("kind") != kind or not isinstance(body.get("apiVersion"), str):
        group, version = ref.get("apiGroup") or "", ref.get("apiVersion") or "v1"
        raw = {**body, "kind": kind, "apiVersion": f"{group}/{version}" if group else str(version)}
    meta = raw["metadata"] if isinstance(raw.get("metadata"), dict) else {}
    if not meta.get("name") and ref.get("name"):
        raw = {**raw, "metadata": {**meta, "name": ref["name"]}}
    obj = K8sObject(raw, make_ref(raw, ref.get("namespace")), Provenance(None, None, "audit"))
    return pod_view(obj)


#: The scan controls judged on request bodies: those that find a value that *is present* (a privileged
#: flag, a host namespace, a hostPath, a hostPort, an added capability, an Unconfined AppArmor profile,
#: an unmasked /proc, an unsafe sysctl, a HostProcess container). Their verdict is true of a create, an
#: update and a partial patch alike. Controls that fault a missing setting (runAsNonRoot, seccomp, …)
#: would be wrong on a patch, where a missing field is unchanged, and are left to the manifest scan.
JUDGED_CONTROLS = ("KH-POD-004", "KH-POD-005", "KH-POD-006", "KH-POD-007", "KH-POD-009", "KH-POD-010",
                   "KH-POD-013", "KH-POD-017", "KH-POD-021", "KH-POD-022", "KH-POD-023")


@lru_cache(maxsize=1)
def _judges() -> tuple[tuple[str, str, Any], ...]:
    """(control ID, scope, runner) for each of JUDGED_CONTROLS, from the catalogue."""
    from kubeharden.catalogue.loader import controls_by_id
    from kubeharden.checks.registry import control_runner
    catalogue = controls_by_id()
    return tuple((cid, catalogue[cid].scope, control_runner(catalogue[cid])) for cid in JUDGED_CONTROLS)


@lru_cache(maxsize=1)
def _context() -> Any:
    from kubeharden.checks.context import Context
    from kubeharden.config import Config
    return Context(Config())  # the guide's defaults: no allowed host paths, the guide's volume types


class _Verdict(NamedTuple):
    violations: list[dict[str, Any]]
    containers: list[dict[str, Any]]


_NO_VERDICT = _Verdict([], [])
#: Verdicts by pod template content: controllers create many pods from one template, so most pods
#: of a busy cluster were judged before. Bounded; the oldest entries go first.
_verdicts: dict[tuple[str, bytes], _Verdict] = {}
_VERDICT_CACHE_SIZE = 4096
_last_verdict: tuple[Any, _Verdict] = (None, _NO_VERDICT)


def _template_key(event: dict[str, Any], kind: str) -> tuple[str, bytes] | None:
    """What the verdict depends on: the pod template (a Pod's spec and annotations), as bytes."""
    node: Any = event["requestObject"]
    for step in POD_TEMPLATE_PATHS[kind]:
        node = node.get(step) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return None
    meta = node.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    try:
        return kind, orjson.dumps([node.get("spec"), annotations])
    except TypeError:  # keys that are not strings, numbers beyond 64 bits: judge it without the cache
        return None


def _verdict(event: dict[str, Any]) -> _Verdict:
    global _last_verdict
    memo = _last_verdict
    if memo[0] is event:
        return memo[1]
    kind = body_kind(event)
    key = _template_key(event, kind) if kind else None
    verdict = _verdicts.get(key) if key is not None else None
    if verdict is None:
        verdict = _judge(event_pod_view(event)) if kind else _NO_VERDICT
        if key is not None:
            if len(_verdicts) >= _VERDICT_CACHE_SIZE:
                try:
                    del _verdicts[next(iter(_verdicts))]
                except (KeyError, RuntimeError, StopIteration):  # another detector thread evicted first
                    pass
            _verdicts[key] = verdict
    _last_verdict = (event, verdict)
    return verdict


def _judge(view: PodView | None) -> _Verdict:
    if view is None or not (view.containers or view.spec):
        return _NO_VERDICT
    ctx = _context()
    violations: list[dict[str, Any]] = []
    for control_id, scope, run in _judges():
        units = [view] if scope == "pod" else view.containers
        for unit in units:
            try:
                for v in run(unit, ctx):
                    violations.append({"control": control_id,
                                       "container": v.container or getattr(unit, "name", None),
                                       "message": v.message})
            except Exception:  # bad input must not stop detection: that control cannot judge it
                continue
    containers = []
    for c in view.containers:
        caps = c.sc.get("capabilities")
        added = caps.get("add") if isinstance(caps, dict) else None
        containers.append({
            "name": c.name, "kind": c.kind, "image": c.image,
            **{k: c.effective(k).value for k in ("privileged", "runAsUser", "runAsGroup", "runAsNonRoot",
                                                  "allowPrivilegeEscalation", "readOnlyRootFilesystem")},
            "capabilitiesAdded": [capability_name(x) for x in added] if isinstance(added, list) else [],
        })
    return _Verdict(violations, containers)


def pod_violations(event: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{control, container, message}]``: what the controls of JUDGED_CONTROLS find in the request
    body's pod (default configuration). A control that fails on odd input is skipped."""
    return _verdict(event).violations


def pod_containers(event: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{name, kind, image, privileged, runAsUser, runAsGroup, runAsNonRoot, allowPrivilegeEscalation,
    readOnlyRootFilesystem, capabilitiesAdded}]``: each container of the body's pod with its effective
    security settings (pod-level values inherited as the kubelet applies them; None when unset)."""
    return _verdict(event).containers


__all__ = ["JUDGED_CONTROLS", "body_kind", "event_pod_view", "pod_containers", "pod_specs", "pod_violations"]
