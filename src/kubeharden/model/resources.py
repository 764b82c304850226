"""Container compute resources as the API server leaves them after defaulting and admission.

Three Kubernetes rules decide whether a container ends up with a request or a limit for a
resource, and each is implemented here once:

1. **A limit implies the request.** When a container sets a limit but no request for a
   resource, the API server sets the request to the limit (``SetDefaults_Pod`` in
   kubernetes/kubernetes ``pkg/apis/core/v1/defaults.go``; "Resource Management for Pods and
   Containers", https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/).
2. **LimitRange defaults are applied at admission.** In a namespace with a LimitRange, the
   LimitRanger admission plugin gives every container (and init container) that leaves a
   request or limit unset the ``defaultRequest`` or ``default`` of each ``type: Container``
   item ("Limit Ranges", https://kubernetes.io/docs/concepts/policy/limit-range/). The item is
   itself defaulted when it is stored (``SetDefaults_LimitRangeItem``): a missing ``default``
   takes ``max``, a missing ``defaultRequest`` takes ``default`` and then ``min``. So a LimitRange
   with only ``max: {memory: 1Gi}`` still gives every container a 1Gi memory limit.
3. **Pod-level resources bound the whole pod.** ``spec.resources`` (pod-level requests and
   limits, KEP-2837, beta since Kubernetes 1.34) caps the containers together, for ``cpu`` and
   ``memory`` only ("Resource Management for Pods and Containers", pod-level resource
   specification); a container without its own limit is then bounded by the pod's.

Ephemeral containers cannot set resources (the API rejects them), so they are never judged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from kubeharden.model.objects import K8sObject, as_dict, as_list
from kubeharden.model.pods import ContainerView

#: The resources whose requests and limits the guide's resource policies cover (NSA-NET-10/11):
#: CPU, memory and node-local ephemeral storage (container writable layer, logs, emptyDir).
COMPUTE_RESOURCES = ("cpu", "memory", "ephemeral-storage")

#: Resources that pod-level ``spec.resources`` may set (KEP-2837: cpu and memory; hugepages aside).
POD_LEVEL_RESOURCES = frozenset({"cpu", "memory"})


#: A Kubernetes quantity (k8s.io/apimachinery resource.Quantity): a number and a decimal or binary suffix.
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_SUFFIX: dict[str | None, int | Fraction]
_SUFFIX = {None: 1, "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "k": 10**3,
           "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "Ki": 2**10, "Mi": 2**20,
           "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def parse_quantity(value: Any) -> Fraction:
    """A Kubernetes quantity (``500m``, ``1.5``, ``128Mi``, ``1e9``) as an exact number."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a quantity: {value!r}")
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise ValueError(f"not a quantity: {value!r}")
    number = Fraction(match.group(1)) if "e" not in match.group(1).lower() else Fraction(float(match.group(1)))
    result = number * _SUFFIX[match.group(2)]
    if result < 0:
        raise ValueError(f"negative quantity: {value!r}")
    return result


#: A zero quantity as written (``0``, ``0m``, ``0.0Gi``, ``0e3``), for the scanner and for CEL's ``matches``
#: (RE2). The kubelet sets no CPU quota and no memory limit for a zero limit, and a zero request reserves
#: nothing; the Pod QoS class counts only non-zero quantities ("Pod Quality of Service Classes",
#: https://kubernetes.io/docs/concepts/workloads/pods/pod-qos/; ``GetPodQOS`` in kubernetes/kubernetes
#: ``pkg/apis/core/v1/helper/qos``). The LimitRanger defaults only absent keys, so a written zero also escapes
#: a LimitRange's default. A zero therefore counts as no request or limit at all.
ZERO_QUANTITY = r"^[+-]?(0+\.?0*|\.0+)([eE][+-]?[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$"
_ZERO = re.compile(ZERO_QUANTITY)


def is_zero_quantity(value: Any) -> bool:
    """Whether ``value`` is a quantity equal to zero (:data:`ZERO_QUANTITY`); False for anything else."""
    return not isinstance(value, bool) and value is not None and _ZERO.match(str(value).strip()) is not None


#: One empty set for every container without one (a set made from an empty generator is a new 216-byte
#: object each time: at 100,000 objects that is tens of MB kept in the inventory).
_NONE: frozenset[str] = frozenset()


def _shared(names: frozenset[str]) -> frozenset[str]:
    return names or _NONE


def _split(values: Any) -> tuple[frozenset[str], frozenset[str]]:
    """(names whose value counts, names written as a zero quantity) of a ResourceList; ``cpu: ""`` and null are
    in neither, a zero quantity counts as unset (:data:`ZERO_QUANTITY`)."""
    counted: list[str] = []
    zero: list[str] = []
    for k, v in as_dict(values).items():
        if v in (None, ""):
            continue
        (zero if is_zero_quantity(v) else counted).append(str(k))
    return _shared(frozenset(counted)), _shared(frozenset(zero))


def _set(values: Any) -> frozenset[str]:
    """The resource names of a ResourceList with a value that counts (:func:`_split`)."""
    return _split(values)[0]


@dataclass(frozen=True, slots=True)
class ContainerResources:
    """What one container sets itself: resource names with a request and with a limit.

    ``requests`` already includes the limits (rule 1) but where a request is written as zero: the API server
    defaults only an absent request, so that container requests nothing. Lines point at ``resources.requests``,
    ``resources.limits`` or, failing those, at the container.
    """

    name: str
    kind: str  # container | initContainer
    requests: frozenset[str]
    limits: frozenset[str]
    requests_line: int | None
    limits_line: int | None
    #: the container's field path (``spec.containers[0]``) and its own request values, for structured fixes
    path: str = ""
    request_values: dict[str, Any] = field(default_factory=dict)
    #: the container's own limit values as written, for a request fix that must not exceed them; kept only
    #: when a request is a written zero (the one case a request fix meets a limit), else None
    limit_values: dict[str, Any] | None = None
    #: resource names whose request / limit is a written zero (a zero limit becomes the absent request's value):
    #: unset, and present for the LimitRanger, which fills only absent keys
    zero_requests: frozenset[str] = frozenset()
    zero_limits: frozenset[str] = frozenset()


def container_resources(c: ContainerView) -> ContainerResources | None:
    """The declared resources of ``c``; None for an ephemeral container (it cannot have any)."""
    if c.kind == "ephemeralContainer":
        return None
    res = as_dict(c.raw.get("resources"))
    written_requests, written_limits = as_dict(res.get("requests")), as_dict(res.get("limits"))
    limits, zero_limits = _split(written_limits)
    counted_requests, zero_written = _split(written_requests)
    requests = _shared(counted_requests | (limits - zero_written))
    # an absent request takes the limit's value, zero included
    zero_requests = _shared(zero_written | zero_limits.difference(written_requests))
    line = c.line(res or None, "requests") if "requests" in res else c.line(res or None)
    return ContainerResources(c.name, c.kind, requests, limits, line,
                              c.line(res, "limits") if "limits" in res else line, c.path,
                              {str(k): v for k, v in written_requests.items()},
                              {str(k): v for k, v in written_limits.items()} if zero_requests else None,
                              zero_requests, zero_limits)


def pod_level_resources(spec: dict[str, Any]) -> tuple[frozenset[str], frozenset[str]]:
    """(requests, limits) set by a pod spec's own ``resources`` (rule 3), cpu and memory only."""
    res = as_dict(spec.get("resources"))
    limits = _shared(_set(res.get("limits")) & POD_LEVEL_RESOURCES)
    counted_requests, zero_requests = _split(res.get("requests"))
    return _shared((counted_requests & POD_LEVEL_RESOURCES) | (limits - zero_requests)), limits


@dataclass(slots=True)
class NamespaceDefaults:
    """What the LimitRanges of one namespace default for containers (rule 2).

    ``requests`` and ``limits`` map a resource name to the LimitRange that supplies it.
    """

    requests: dict[str, K8sObject] = field(default_factory=dict)
    limits: dict[str, K8sObject] = field(default_factory=dict)


def limit_range_defaults(limit_ranges: Iterable[K8sObject]) -> NamespaceDefaults:
    """The container defaults of ``limit_ranges`` (all of one namespace), after API defaulting.

    Items whose ``type`` is not ``Container`` default nothing (``Pod`` and
    ``PersistentVolumeClaim`` items only constrain). Malformed items are skipped; they never
    raise.
    """
    out = NamespaceDefaults()
    for lr in limit_ranges:
        for item in as_list(as_dict(lr.raw.get("spec")).get("limits")):
            item = as_dict(item)
            if item.get("type") != "Container":
                continue
            default = _set(item.get("default")) | _set(item.get("max"))
            default_request = _set(item.get("defaultRequest")) | default | _set(item.get("min"))
            for r in default:
                out.limits.setdefault(r, lr)
            for r in default_request:
                out.requests.setdefault(r, lr)
    return out
