"""Container requests and limits for CPU, memory and ephemeral storage (NSA-NET-10/11's
workload-level companion).

A container is judged by what it will have once admitted, not by what its manifest spells
out: its own values, a limit standing in for the request, the ``default`` and
``defaultRequest`` of its namespace's LimitRanges, and pod-level ``spec.resources``
(the rules and their Kubernetes sources are in :mod:`kubeharden.model.resources`). These
controls therefore run once the whole input is read: a LimitRange may come after the
workloads it covers.
"""

from __future__ import annotations

from collections.abc import Iterator
from sys import intern
from typing import Any

from kubeharden.analysis.reachability import DEFAULT_NAMESPACE
from kubeharden.checks.context import Context
from kubeharden.catalogue.loader import CatalogueError
from kubeharden.checks.registry import template
from kubeharden.generators.quotas import FORMAT, Defaults, parse_quantity
from kubeharden.model.controls import Control, Violation
from kubeharden.model.fieldpath import join
from kubeharden.model.findings import Fix
from kubeharden.model.inventory import Inventory, PodRecord
from kubeharden.model.resources import POD_LEVEL_RESOURCES, ContainerResources, NamespaceDefaults, limit_range_defaults

_DEFAULTS = Defaults()

_WHY = {
    # A CPU request sets the container's CPU weight under contention; CPU is no eviction signal, memory is
    # ("Resource Management for Pods and Containers"; "Node-pressure Eviction": usage above requests goes first).
    ("requests", "cpu"): "the scheduler reserves no CPU for it, and under contention it gets the smallest CPU "
                         "share",
    ("requests", "memory"): "the scheduler reserves no memory for it, and under memory pressure the kubelet "
                            "evicts pods whose usage exceeds their requests first",
    ("requests", "ephemeral-storage"): "the scheduler reserves no node disk for its writable layer, logs "
                                       "and emptyDir volumes",
    ("limits", "cpu"): "one container can use every core of the node and starve its neighbours",
    ("limits", "memory"): "one container can exhaust the node's memory; the kernel then kills other workloads",
    ("limits", "ephemeral-storage"): "one container can fill the node's disk (writable layer, logs, emptyDir), "
                                     "and the kubelet evicts other pods to recover",
}

#: The sizes a fix proposes without a resource profile: the LimitRange defaults that ``kubeharden generate
#: quotas`` writes. A starting point for a person to adjust, never applied unreviewed (the fix is not safe).
_DEFAULTS = Defaults()
#: Why a fix sized by kubeharden is not safe; a profile of the user's (``fix: resources:``) makes it so.
_OUR_SIZES = ("not safe: the sizes are kubeharden's starting points, not yours (too small a memory limit gets "
              "the container OOM-killed, too large a request leaves it Pending); set fix.resources in "
              ".kubeharden.yaml to apply your own without review")


def _defaults_by_namespace(inventory: Inventory) -> dict[str, NamespaceDefaults]:
    """The container defaults of each namespace's LimitRanges (namespace -> defaults); a namespace without
    one is absent."""
    by_ns: dict[str, list] = {}
    for lr in inventory.of_kind("LimitRange"):
        by_ns.setdefault(lr.namespace or DEFAULT_NAMESPACE, []).append(lr)
    return {ns: limit_range_defaults(objs) for ns, objs in by_ns.items()}


#: What ``part`` (requests|limits) calls one value, and the LimitRange field that defaults it.
_NOUN = {"requests": "request", "limits": "limit"}
_RANGE_FIELD = {"requests": "defaultRequest", "limits": "default"}
#: The quota generator's default sizes as a fix writes them (``_DEFAULTS`` formatted once, not per finding).
_REQUEST_SIZES = {r: FORMAT[r](_DEFAULTS.request[r]) for r in FORMAT}
_LIMIT_SIZES = {r: FORMAT[r](_DEFAULTS.limit[r]) for r in FORMAT}


def _missing(inventory: Inventory, part: str, resources: tuple[str, ...],
             profile: dict[str, dict[str, str]], defaults: dict[str, NamespaceDefaults]) -> Iterator[Violation]:
    """One violation per container that ends up without ``part`` (requests|limits) for ``resources``.

    ``profile``: the user's resource profile (``fix.resources``); ``defaults``: :func:`_defaults_by_namespace`
    of ``inventory``.
    """
    none = NamespaceDefaults()
    texts = _Texts(part)
    for pod in inventory.pods:
        namespace = pod.namespace or DEFAULT_NAMESPACE
        ns_defaults = defaults.get(namespace, none)
        from_range = ns_defaults.requests if part == "requests" else ns_defaults.limits
        from_pod = pod.pod_requests if part == "requests" else pod.pod_limits
        for c in pod.resources:
            own = c.requests if part == "requests" else c.limits
            # the LimitRanger fills absent keys only: a written zero keeps its namespace's default out
            zeros = c.zero_requests if part == "requests" else c.zero_limits
            missing = [r for r in resources
                       if r not in own and (r in zeros or r not in from_range) and r not in from_pod]
            if missing:
                yield _violation(pod, c, part, missing, namespace, ns_defaults,
                                 c.requests_line if part == "requests" else c.limits_line, profile, texts)


class _Texts:
    """The message and remediation of one control's violations (one ``part``), each worked out once.

    They depend on the container's name, its namespace, the resources missing and which of those are
    written as 0, never on the pod, so they repeat from pod to pod (containers of one name across a
    namespace's workloads). Lives for one run of one control: no scan state outlives it.
    """

    __slots__ = ("part", "_known", "_paths")

    def __init__(self, part: str) -> None:
        self.part = part
        self._known: dict[tuple[Any, ...], tuple[str, str]] = {}
        self._paths: dict[tuple[str, str], str] = {}

    def of(self, container: str, namespace: str, has_range: bool, missing: list[str], zeros: list[str],
           from_limit: list[str]) -> tuple[str, str]:
        """(message, remediation); see :func:`_texts`."""
        key = (container, namespace, has_range, *missing, "|", *zeros, "|", *from_limit)
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = _texts(self.part, container, namespace, has_range, missing, zeros,
                                              from_limit)
        return known

    def path(self, container_path: str, step: str) -> str:
        """``resources.<part>`` (step "") or ``resources.<part>.<step>`` below the container's path."""
        key = (container_path, step)
        known = self._paths.get(key)
        if known is None:
            steps = ("resources", self.part, step) if step else ("resources", self.part)
            known = self._paths[key] = intern(join(container_path, *steps))
        return known


def _violation(pod: PodRecord, c: ContainerResources, part: str, missing: list[str], namespace: str,
               ns_defaults: NamespaceDefaults, line: int | None,
               profile: dict[str, dict[str, str]], texts: _Texts) -> Violation:
    """The violation of container ``c`` of ``pod``, without ``part`` for ``missing`` once admitted."""
    has_range = bool(ns_defaults.requests or ns_defaults.limits)
    zero_set = c.zero_requests if part == "requests" else c.zero_limits
    zeros = [r for r in missing if r in zero_set] if zero_set else []
    # a request absent beside a zero limit takes the limit's 0 (API defaulting): the limit is where it is written
    from_limit = [r for r in zeros if part == "requests" and r not in c.request_values]
    message, remediation = texts.of(c.name, namespace, has_range, missing, zeros, from_limit)
    path, fix = _fix(c, part, missing, profile.get(part, {}), texts)
    return Violation(message, line, container=c.name, remediation=remediation, obj=pod, path=path, fix=fix)


def _texts(part: str, container: str, namespace: str, has_range: bool, missing: list[str], zeros: list[str],
           from_limit: list[str]) -> tuple[str, str]:
    """(message, remediation) of a container ``container`` of ``namespace`` without ``part`` for ``missing``,
    of which ``zeros`` are written as 0 (``from_limit``: requests taking a limit written as 0); ``has_range``:
    the namespace has a LimitRange in the input."""
    noun, field = _NOUN[part], _RANGE_FIELD[part]
    scope = (f"and no LimitRange of namespace {namespace!r} gives a {field} for it" if has_range
             else f"and namespace {namespace!r} has no LimitRange in the input to default one")
    pod_level = [r for r in missing if r in POD_LEVEL_RESOURCES]
    fixes = [f"resources.{part}.{r}" for r in missing]
    written = [f"resources.{'limits' if r in from_limit else part}.{r}" for r in zeros]
    remediation = (f"Set {' and '.join(fixes)} on container {container!r}, or a LimitRange {field} "
                   f"for {', '.join(missing)} in namespace {namespace!r}"
                   + (f" (or pod-level spec.resources.{part} for {', '.join(pod_level)})" if pod_level else ""))
    own_zeros = [r for r in zeros if r not in from_limit]
    notes = ([f"{', '.join(own_zeros)} written as 0, which counts as no {noun}"] if own_zeros else []) + \
        ([f"{', '.join(from_limit)} taken from a limit written as 0"] if from_limit else [])
    zero_note = f" ({'; '.join(notes)})" if notes else ""
    if zeros:  # the LimitRanger fills absent fields only ("Limit Ranges"): a written 0 must itself be replaced
        remediation = (f"Replace the 0 of {' and '.join(written)} on container {container!r} with a real size: a "
                       "LimitRange default never replaces a value written in the container"
                       + (f"; and set {' and '.join(f'resources.{part}.{r}' for r in missing if r not in zeros)}"
                          if len(zeros) < len(missing) else ""))
        if zeros == missing:
            scope = "and no LimitRange default replaces a value written in the container"
    # These controls run over the whole inventory at once and their texts repeat from pod to pod (per namespace
    # and container name): one copy of each keeps a 100,000-object scan's peak memory down.
    message = intern(f"no {' or '.join(missing)} {noun}{zero_note} {scope}: "
                     f"{'; '.join(_WHY[(part, r)] for r in missing)}")
    return message, intern(remediation)


def _fix(c: ContainerResources, part: str, missing: list[str],
         profile: dict[str, str], texts: _Texts) -> tuple[str, Fix | None]:
    """The field path of the finding and a structured fix: from the user's resource profile
    (``fix.resources.<part>`` of .kubeharden.yaml, safe) where it sizes every missing resource, else from
    the quota generator's defaults (not safe: :data:`_OUR_SIZES`).

    None for ephemeral-storage without a profile value: it has no default size that would suit most
    workloads. A limit below the container's request is refused by the API server (Kubernetes API
    reference, ResourceRequirements; "Resource Management for Pods and Containers"): a default limit is
    raised to the request, and a profile limit below it makes the fix unsafe (raised the same way).
    """
    if part == "requests":
        path = texts.path(c.path, "")
        if any(r not in FORMAT and r not in profile for r in missing):
            return path, None
        sizes = {r: profile.get(r) or _REQUEST_SIZES[r] for r in missing}
        ours = all(r in profile for r in missing)
        because = (f"safe: the sizes are yours (fix.resources.requests: {_written(sizes)} in the configuration)"
                   if ours else _OUR_SIZES)
        capped = _capped_at_limits(sizes, c.limit_values or {})
        if capped:  # the API server refuses a request above its limit: the request takes the limit
            ours, because = False, (f"not safe: the container's limit is below the request proposed for "
                                    f"{', '.join(capped)}, so the request is set to that limit; choose the size")
        # "add" fills absent keys only; a request written as 0 is replaced, so the mapping is set (in place:
        # the other keys keep their text)
        if c.zero_requests & set(missing):
            return path, Fix("set", path, {**c.request_values, **sizes}, ours, because)
        return path, Fix("add", path, sizes, ours, because)
    resource = missing[0]
    path = texts.path(c.path, resource)
    if resource in profile:
        return path, _profile_limit(path, resource, profile[resource], c.request_values)
    if resource not in FORMAT:
        return path, None
    return path, Fix("set", path, _limit_value(resource, c.request_values), False, _OUR_SIZES)


def _capped_at_limits(sizes: dict[str, str], limits: dict[str, Any]) -> list[str]:
    """Lower each request size in ``sizes`` that exceeds the container's own limit to that limit (in place);
    the resources lowered. A limit that is no quantity, or zero (no limit), caps nothing."""
    capped = []
    for r, size in sizes.items():
        try:
            limit = parse_quantity(limits.get(r))
        except ValueError:
            continue
        if limit > 0 and parse_quantity(size) > limit:
            sizes[r] = str(limits[r])
            capped.append(r)
    return capped


def _limit_value(resource: str, requests: dict[str, Any]) -> str:
    """The default limit of ``resource``, raised to the container's request where that is larger."""
    if resource not in requests:
        return _LIMIT_SIZES[resource]  # the usual case: no request to compare with
    limit = _DEFAULTS.limit[resource]
    try:
        limit = max(limit, parse_quantity(requests.get(resource)))
    except ValueError:
        pass  # no request, or one the API server would refuse anyway
    return FORMAT[resource](limit)


def _written(sizes: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in sizes.items()) + "}"


def _profile_limit(path: str, resource: str, limit: str, requests: dict[str, Any]) -> Fix:
    """The profile's limit, safe unless the container requests more than it (then raised to the request)."""
    try:
        request = parse_quantity(requests.get(resource))
    except ValueError:
        request = None  # no request, or one the API server would refuse anyway
    if request is not None and request > parse_quantity(limit):
        return Fix("set", path, str(requests.get(resource)), False,
                   f"not safe: the container requests {resource} {requests.get(resource)}, above "
                   f"fix.resources.limits.{resource} {limit} (the API server refuses a limit below the request): "
                   "the fix raises the limit to the request; choose the size")
    return Fix("set", path, limit, True, f"safe: the size is yours (fix.resources.limits.{resource}: {limit} "
                                         "in the configuration)")


#: The rule template of KH-RES-001 to -005: ``rule: {template: container-resources, part: requests,
#: resources: [cpu, memory]}`` reports each container that ends up without those requests (or limits).
CONTAINER_RESOURCES = "container-resources"


def _resource_params(control: Control) -> tuple[str, tuple[str, ...]]:
    """(part, resources) of a ``container-resources`` control; CatalogueError naming it when unusable."""
    rule = control.rule
    part, resources = rule.get("part"), rule.get("resources")
    if part not in ("requests", "limits") or not isinstance(resources, list) or not resources:
        raise CatalogueError(f"{control.id}: rule: container-resources needs part: requests or limits and a "
                             "list of resources")
    unknown = [r for r in resources if (part, r) not in _WHY]
    if unknown:
        known = ", ".join(r for p, r in _WHY if p == part)
        raise CatalogueError(f"{control.id}: rule: resources {unknown} are not judged (known: {known})")
    if control.scope != "inventory":
        raise CatalogueError(f"{control.id}: rule: container-resources needs scope: inventory (LimitRanges may "
                             "come after the workloads they cover)")
    return part, tuple(resources)


@template(CONTAINER_RESOURCES, check_params=_resource_params)
def missing_resources(control: Control, inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    """One violation per container that ends up without the control's ``part`` for its ``resources``."""
    part, resources = _resource_params(control)
    # the five controls of this template read the same LimitRanges: their defaults are worked out once a scan
    defaults = ctx.scan.memo("limit-range-defaults", inventory, _defaults_by_namespace)
    return _missing(inventory, part, resources, ctx.config.fix_resources, defaults)
