"""Facts about live clusters that do not depend on any one object.

- ``ClusterInfo``: the object the cluster source adds to what it lists (``kubeharden.io/v1``), holding
  what no Kubernetes object says: the API server's ``/version`` answer, the kubeconfig context, the
  managed-Kubernetes provider, and the flags of the control-plane components that run as static Pods.
- Static Pods: the kubelet creates a *mirror Pod* for each, annotated ``kubernetes.io/config.mirror``
  and owned by its Node ("Create static Pods",
  https://kubernetes.io/docs/tasks/configure-pod-container/static-pod/); kubeadm labels its control-plane
  Pods ``component: <name>`` and ``tier: control-plane``
  (https://kubernetes.io/docs/reference/setup-tools/kubeadm/implementation-details/).
- Version skew: a kubelet (and kube-proxy) must not be newer than kube-apiserver and may be up to
  three minor versions older; a kubelet or kube-proxy older than 1.25 only two ("Version Skew
  Policy", https://kubernetes.io/releases/version-skew-policy/#kubelet).
- Managed providers: the control plane of EKS, GKE and AKS runs outside the cluster, so no static
  Pod shows its flags. Recognised from the ``gitVersion`` the provider builds (``v1.30.4-eks-a737599``,
  ``v1.30.5-gke.1014001``) or, for AKS, the ``kubernetes.azure.com/cluster`` label AKS puts on its Nodes
  (https://learn.microsoft.com/azure/aks/use-labels).
- Network plugins and whether they enforce NetworkPolicy ("Network Plugins",
  https://kubernetes.io/docs/concepts/extend-kubernetes/compute-storage-net/network-plugins/ and
  "Declare Network Policy": *you need a networking solution which supports NetworkPolicy*), recognised by
  the name of the DaemonSet each project's install manifest creates.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from kubeharden.model.objects import as_dict, as_list

#: The kind of the facts object the cluster source adds, in kubeharden's own API group.
INFO_API_VERSION = "kubeharden.io/v1"
INFO_KIND = "ClusterInfo"

#: The annotation the kubelet puts on mirror Pods of static Pods.
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
#: Control-plane components that kubeadm (and most self-managed installers) run as static Pods.
CONTROL_PLANE_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")

def is_mirror_pod(raw: dict[str, Any]) -> bool:
    """Whether ``raw`` (a Pod) is the mirror of a static Pod: annotated by the kubelet, or owned by a Node."""
    meta = as_dict(raw.get("metadata"))
    if MIRROR_ANNOTATION in as_dict(meta.get("annotations")):
        return True
    return any(as_dict(o).get("kind") == "Node" for o in as_list(meta.get("ownerReferences")))


def control_plane_component(raw: dict[str, Any]) -> str | None:
    """The control-plane component a Pod runs as a static Pod, or None: the one place that recognises them.

    A mirror Pod (:func:`is_mirror_pod`) of a component (:func:`component_of`) in a live cluster, or a Pod
    manifest as kubeadm writes it to /etc/kubernetes/manifests (and a copy of it in a repository): host
    network, and its first container runs the component's binary (``command: [kube-apiserver, …]``). A Pod
    that is merely named or labelled like a component is not one.
    """
    if str(raw.get("kind") or "") != "Pod":
        return None
    if is_mirror_pod(raw):
        return component_of(raw)
    spec = as_dict(raw.get("spec"))
    if spec.get("hostNetwork") is not True:
        return None
    for container in as_list(spec.get("containers"))[:1]:
        command = as_list(as_dict(container).get("command"))
        first = str(command[0]).rsplit("/", 1)[-1] if command else ""
        if first in CONTROL_PLANE_COMPONENTS:
            return first
    return None


#: Where the upstream control-plane images come from (kubeadm's default image repository, and the one before
#: it): "Kubernetes container image registry", https://kubernetes.io/blog/2022/11/28/registry-k8s-io-faster-cheaper-ga/
UPSTREAM_IMAGE_REGISTRIES: tuple[str, ...] = ("registry.k8s.io", "k8s.gcr.io")


def upstream_image_pattern(component: str) -> str:
    """The regular expression an upstream image of ``component`` matches (``registry.k8s.io/etcd:3.5.12-0``)."""
    registries = "|".join(re.escape(r) for r in UPSTREAM_IMAGE_REGISTRIES)
    return f"^({registries})/{component}([:@].*)?$"


def system_component(raw: dict[str, Any]) -> str | None:
    """The control-plane component a Pod is, for a Pod that may therefore live in kube-system, or None.

    Stricter than :func:`control_plane_component`, because it exempts the Pod from "workload in a system
    namespace" (KH-NS-001): a mirror Pod (only the kubelet makes those, from a static Pod file), or a static
    Pod manifest as kubeadm writes it: host network, its first container running the component, labelled
    ``component: <it>`` and ``tier: control-plane``, and the component's upstream image. Any Pod can run a
    binary called kube-apiserver on the host network; that alone must not buy an exemption.
    """
    if str(raw.get("kind") or "") != "Pod":
        return None
    if is_mirror_pod(raw):
        return component_of(raw)
    component = control_plane_component(raw)
    if component is None:
        return None
    labels = as_dict(as_dict(raw.get("metadata")).get("labels"))
    image = as_dict((as_list(as_dict(raw.get("spec")).get("containers")) or [None])[0]).get("image")
    if labels.get("component") != component or labels.get("tier") != "control-plane" or not isinstance(image, str):
        return None
    return component if re.match(upstream_image_pattern(component), image) else None


def component_of(raw: dict[str, Any]) -> str | None:
    """The control-plane component a kube-system mirror Pod runs (its ``component`` label, else its
    first container's command or name), or None."""
    meta = as_dict(raw.get("metadata"))
    label = as_dict(meta.get("labels")).get("component")
    if label in CONTROL_PLANE_COMPONENTS:
        return str(label)
    for container in as_list(as_dict(raw.get("spec")).get("containers"))[:1]:
        container = as_dict(container)
        command = as_list(container.get("command"))
        first = str(command[0]).rsplit("/", 1)[-1] if command else ""
        for name in (first, str(container.get("name") or "")):
            if name in CONTROL_PLANE_COMPONENTS:
                return name
    return None


#: How many minor versions a kubelet or kube-proxy may lag kube-apiserver: 3, and 2 for one older than 1.25.
KUBELET_MAX_LAG = 3
KUBELET_MAX_LAG_BEFORE_1_25 = 2


def kubelet_max_lag(kubelet_minor: int) -> int:
    """Minor versions a kubelet (or kube-proxy) 1.``kubelet_minor`` may be older than kube-apiserver."""
    return KUBELET_MAX_LAG if kubelet_minor >= 25 else KUBELET_MAX_LAG_BEFORE_1_25


_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def minor_version(text: object) -> tuple[int, int] | None:
    """``(major, minor)`` of a Kubernetes version string (``v1.30.4-eks-a737599`` -> ``(1, 30)``), else None."""
    if not isinstance(text, str):
        return None
    m = _VERSION.match(text.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


class Provider(NamedTuple):
    key: str
    name: str
    #: a marker in the API server's gitVersion, or "" when the provider is recognised by a Node label
    version_marker: str
    node_label: str


PROVIDERS = (
    Provider("eks", "Amazon EKS", "-eks-", ""),
    Provider("gke", "Google GKE", "-gke.", ""),
    Provider("aks", "Azure AKS", "", "kubernetes.azure.com/cluster"),
)


class NetworkPlugin(NamedTuple):
    name: str
    #: True: enforces NetworkPolicy; False: does not; None: depends on how it is configured
    enforces: bool | None
    note: str


#: DaemonSet name -> the plugin it runs (the names of each project's install manifests).
NETWORK_PLUGINS: dict[str, NetworkPlugin] = {
    "calico-node": NetworkPlugin("Calico", True, "Calico enforces NetworkPolicy"),
    "canal": NetworkPlugin("Canal (Flannel with Calico policy)", True, "Calico enforces NetworkPolicy"),
    "cilium": NetworkPlugin("Cilium", True, "Cilium enforces NetworkPolicy"),
    "anetd": NetworkPlugin("GKE Dataplane V2 (Cilium)", True, "Dataplane V2 enforces NetworkPolicy"),
    "antrea-agent": NetworkPlugin("Antrea", True, "Antrea enforces NetworkPolicy"),
    "weave-net": NetworkPlugin("Weave Net", True, "Weave Net enforces NetworkPolicy"),
    "kube-router": NetworkPlugin("kube-router", True, "kube-router enforces NetworkPolicy unless its firewall "
                                 "is turned off (--run-firewall=false)"),
    "azure-npm": NetworkPlugin("Azure Network Policy Manager", True, "Azure NPM enforces NetworkPolicy"),
    "kube-ovn-cni": NetworkPlugin("Kube-OVN", True, "Kube-OVN enforces NetworkPolicy"),
    "kube-flannel-ds": NetworkPlugin("Flannel", False, "Flannel provides networking only, no NetworkPolicy"),
    "kube-flannel": NetworkPlugin("Flannel", False, "Flannel provides networking only, no NetworkPolicy"),
    "aws-node": NetworkPlugin("Amazon VPC CNI", None, "the Amazon VPC CNI enforces NetworkPolicy only with its "
                              "network policy agent enabled (enableNetworkPolicy)"),
    "kindnet": NetworkPlugin("kindnet", None, "kindnet enforces NetworkPolicy only in recent releases"),
}
