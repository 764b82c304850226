"""What a scan keeps across objects: compact pod records and the kinds analyses need.

Workloads are checked as they stream past and then dropped; only a small record of
each pod (identity, namespace, labels, service account, token mounting, ports) is
kept, plus the full objects of the kinds that cross-object checks read (service
accounts, namespaces, RBAC, network policies, services, quotas). Memory therefore
grows with the number of pods, not with the size of the manifests.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from kubeharden.model.cluster import is_mirror_pod
from kubeharden.model.lines import LineMap
from kubeharden.model.objects import K8sObject, Provenance, ResourceRef, as_dict, as_list
from kubeharden.model.pods import PodView
from kubeharden.model.resources import ContainerResources, container_resources, pod_level_resources
from kubeharden.model.supply import CONTROLLER_KINDS, SUPPLY_KINDS, digest_of_image_id

#: Kinds kept whole for cross-object checks and analyses (RBAC, network, quotas).
INDEXED_KINDS = frozenset({
    "Namespace", "ServiceAccount", "Secret",
    "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding",
    "NetworkPolicy", "CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy", "GlobalNetworkPolicy",
    "AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "Tier",
    "Service", "Ingress", "HTTPRoute", "Gateway", "LimitRange", "ResourceQuota", "RuntimeClass", "Node",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
    # the supply chain (model/supply.py) and image admission policies (checks/admission.py)
    *SUPPLY_KINDS, "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ClusterPolicy", "Policy",
    "ClusterImagePolicy", "ClusterInfo",
})
#: The API group of Gatekeeper's constraints, whose kinds are defined by each ConstraintTemplate.
GATEKEEPER_CONSTRAINTS = "constraints.gatekeeper.sh"


def _only(raw: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``raw`` with only ``keys``, keeping the line of each (for findings)."""
    out = LineMap((k, raw[k]) for k in keys if k in raw)
    if isinstance(raw, LineMap):
        out.line = raw.line
        out.lines = {k: raw.lines[k] for k in out if k in raw.lines}
    return out


@dataclass(slots=True)
class ContainerPort:
    name: str | None
    port: int
    protocol: str


@dataclass(slots=True)
class ContainerImage:
    """A container's image as the supply-chain controls join it (checks/supply.py, vulnerabilities.py).

    ``image_id`` is the digest the node resolved (``status.containerStatuses[].imageID`` of a Pod
    read with its status; Kubernetes API reference, ContainerStatus), else None. ``run_as_user``
    is the effective ``runAsUser`` (container, else pod), ``run_as_non_root`` likewise.
    """

    name: str
    list_name: str
    image: str
    path: str
    line: int | None
    image_id: str | None = None
    run_as_user: object = None
    run_as_non_root: object = None


@dataclass(slots=True)
class PodRecord:
    """The part of a workload that other objects' checks need."""

    ref: ResourceRef
    origin: Provenance
    namespace: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    service_account: str
    automount: bool | None  # the pod's own automountServiceAccountToken, None when unset
    automount_line: int | None
    ports: list[ContainerPort]
    containers: list[str]
    spec_line: int | None = None
    host_network: bool = False
    #: each container's own requests and limits, and the pod-level ones (see model.resources)
    resources: list[ContainerResources] = field(default_factory=list)
    pod_requests: frozenset[str] = frozenset()
    pod_limits: frozenset[str] = frozenset()
    #: field path of the pod spec in the object (``spec.template.spec`` …), for findings
    spec_path: str = ""
    images: list[ContainerImage] = field(default_factory=list)
    #: the controller ownerReference (kind, name) of a workload controller, else None
    owner: tuple[str, str] | None = None
    #: the first container whose command, args or env value names the token's mount path
    #: (TOKEN_MOUNT_PATH), else None: the manifest shows a program reading the mounted token
    token_reader: str | None = None
    #: why the ServiceAccount admission plugin gives this pod no API token whatever its ServiceAccount says
    #: (:func:`token_not_projected`), else None
    token_not_projected: str | None = None


#: Where the kubelet mounts a pod's ServiceAccount token (Kubernetes docs, "Configure Service Accounts
#: for Pods" / "Accessing the Kubernetes API from a Pod": /var/run/secrets/kubernetes.io/serviceaccount).
TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def token_not_projected(pod: PodView) -> str | None:
    """Why the ServiceAccount admission plugin adds no API token to ``pod`` whatever its ServiceAccount's
    ``automountServiceAccountToken`` says, else None.

    The plugin leaves mirror Pods of static Pods alone (they may not reference a ServiceAccount), and it mounts
    the token only into the containers and init containers that have no volumeMount of their own at
    :data:`TOKEN_MOUNT_PATH`; when none is left it adds no token volume (Kubernetes source
    plugin/pkg/admission/serviceaccount/admission.go, ``mountServiceAccountToken``; docs "Managing Service
    Accounts", "ServiceAccount admission controller"). A pod whose own volume at that path projects a
    ``serviceAccountToken`` mounts a token itself, so it is not exempt.
    """
    if pod.obj.kind == "Pod" and is_mirror_pod(pod.obj.raw):
        return "it is the mirror Pod of a static Pod, which the ServiceAccount admission plugin gives no token"
    judged = [c for c in pod.containers if c.kind != "ephemeralContainer"]
    if not judged:
        return None
    own: set[object] = set()
    for c in judged:
        names = [as_dict(m).get("name") for m in as_list(c.raw.get("volumeMounts"))
                 if as_dict(m).get("mountPath") == TOKEN_MOUNT_PATH]
        if not names:
            return None
        own.update(names)
    for _, volume in pod.volumes():
        if volume.get("name") in own and any(
                "serviceAccountToken" in as_dict(source)
                for source in as_list(as_dict(volume.get("projected")).get("sources"))):
            return None
    return (f"every container mounts a volume of its own at {TOKEN_MOUNT_PATH}, so the ServiceAccount admission "
            "plugin adds no token volume")


def token_reader(pod: PodView) -> str | None:
    """The first container of ``pod`` whose command, args or env values name :data:`TOKEN_MOUNT_PATH`."""
    for c in pod.containers:
        words = [*as_list(c.raw.get("command")), *as_list(c.raw.get("args")),
                 *(as_dict(e).get("value") for e in as_list(c.raw.get("env")))]
        if any(isinstance(w, str) and TOKEN_MOUNT_PATH in w for w in words):
            return c.name
    return None


@dataclass(slots=True)
class Inventory:
    pods: list[PodRecord] = field(default_factory=list)
    objects: dict[str, list[K8sObject]] = field(default_factory=lambda: defaultdict(list))
    namespaces_seen: set[str] = field(default_factory=set)
    #: Kinds a cluster (or the snapshot of one) could not list whole in this scope: refused (403, 404) or stopped
    #: part way (the engine records each ``unlisted`` problem here).
    unlisted: set[str] = field(default_factory=set)
    #: Error-level problems of this scope's input: a file or snapshot not read, or not read whole.
    input_errors: int = 0
    _sa_index: dict[tuple[str | None, str], K8sObject] | None = None

    def add_object(self, obj: K8sObject) -> None:
        if obj.namespace:
            self.namespaces_seen.add(obj.namespace)
        if obj.kind in INDEXED_KINDS or obj.ref.api_version.startswith(GATEKEEPER_CONSTRAINTS + "/"):
            if obj.kind == "Secret":  # analyses need its type and metadata; never keep secret values around
                obj = K8sObject(raw=_only(obj.raw, ("apiVersion", "kind", "metadata", "type")), ref=obj.ref,
                                origin=obj.origin)
            self.objects[obj.kind].append(obj)
            self._sa_index = None

    def add_pod(self, pod: PodView) -> None:
        spec = pod.spec
        automount = spec.get("automountServiceAccountToken")
        ports: list[ContainerPort] = []
        for c in pod.containers:
            for p in as_list(c.raw.get("ports")):
                p = as_dict(p)
                number = p.get("containerPort")
                if isinstance(number, int):
                    name = p.get("name")
                    ports.append(ContainerPort(str(name) if name else None, number,
                                               str(p.get("protocol") or "TCP").upper()))
        pod_requests, pod_limits = pod_level_resources(spec)
        self.pods.append(PodRecord(
            ref=pod.obj.ref,
            origin=pod.obj.origin,
            namespace=pod.namespace,
            labels=pod.labels,
            annotations={**pod.obj.annotations, **{str(k): str(v) for k, v in pod.annotations_raw.items()}},
            service_account=pod.service_account,
            automount=automount if isinstance(automount, bool) else None,
            automount_line=pod.line(spec, "automountServiceAccountToken") if "automountServiceAccountToken" in spec
            else None,
            ports=ports,
            containers=[c.name for c in pod.containers],
            spec_line=pod.line(),
            host_network=spec.get("hostNetwork") is True,
            resources=[r for r in map(container_resources, pod.containers) if r is not None],
            pod_requests=pod_requests,
            pod_limits=pod_limits,
            spec_path=pod.spec_path,
            images=container_images(pod),
            owner=controller_owner(pod.obj.raw),
            token_reader=token_reader(pod),
            token_not_projected=token_not_projected(pod),
        ))

    def of_kind(self, *kinds: str) -> list[K8sObject]:
        out: list[K8sObject] = []
        for kind in kinds:
            out.extend(self.objects.get(kind, ()))
        return out

    def service_account(self, namespace: str | None, name: str) -> K8sObject | None:
        """The ServiceAccount ``name`` in ``namespace`` (an unspecified namespace matches itself)."""
        if self._sa_index is None:
            self._sa_index = {(sa.namespace or None, sa.name): sa for sa in self.objects.get("ServiceAccount", ())}
        return self._sa_index.get((namespace or None, name))


def controller_owner(raw: dict[str, Any]) -> tuple[str, str] | None:
    """The (kind, name) of the workload controller an ownerReference with ``controller: true`` names."""
    for ref in as_list(as_dict(raw.get("metadata")).get("ownerReferences")):
        ref = as_dict(ref)
        if ref.get("controller") is True and ref.get("kind") in CONTROLLER_KINDS and isinstance(ref.get("name"), str):
            return str(ref["kind"]), ref["name"]
    return None


def container_images(pod: PodView) -> list[ContainerImage]:
    """Each container's image, with the digest a Pod's status says the node runs (when present)."""
    status = as_dict(pod.obj.raw.get("status")) if pod.obj.kind == "Pod" else {}
    running: dict[tuple[str, str], str] = {}
    for key, list_name in (("containerStatuses", "containers"), ("initContainerStatuses", "initContainers"),
                           ("ephemeralContainerStatuses", "ephemeralContainers")):
        for entry in as_list(status.get(key)):
            entry = as_dict(entry)
            digest = digest_of_image_id(str(entry.get("imageID") or ""))
            if digest and entry.get("name"):
                running[(list_name, str(entry["name"]))] = digest
    return [ContainerImage(c.name, c.list_name, c.image, c.path, c.line(c.raw, "image"),
                           running.get((c.list_name, c.name)), c.effective("runAsUser").value,
                           c.effective("runAsNonRoot").value) for c in pod.containers]
