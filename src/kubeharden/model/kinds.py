"""Facts about kinds that do not depend on any one object.

Which kinds the Kubernetes API server itself serves, and which of them carry no pod: a kind outside
these API groups is a custom resource, whose schema kubeharden does not know, so
:func:`kubeharden.model.pods.pod_view` looks for a pod template in it rather than assume there is none.
Which kinds are cluster-scoped (``kubectl api-resources --namespaced=false``). Source: the Kubernetes
API reference (https://kubernetes.io/docs/reference/kubernetes-api/), one group per API section, plus
the cluster-wide policy kinds of the network plugins and the network-policy API that kubeharden reads.
"""

from __future__ import annotations

from kubeharden.model.apiresources import RESOURCES

#: API groups served by kube-apiserver and kube-aggregator ("" is the core group).
BUILTIN_GROUPS = frozenset({
    "", "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io", "apps",
    "authentication.k8s.io", "authorization.k8s.io", "autoscaling", "batch", "certificates.k8s.io",
    "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io", "extensions", "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io", "networking.k8s.io", "node.k8s.io", "policy", "rbac.authorization.k8s.io",
    "resource.k8s.io", "scheduling.k8s.io", "storage.k8s.io", "storagemigration.k8s.io",
})

#: Built-in kinds that never carry a pod template. Sources may read objects of these kinds
#: shallowly (identity and metadata only); every other kind is read whole, because a custom
#: resource may carry a pod template. ControllerRevision holds a copy of a template as
#: history, not a workload, so it is listed here.
KINDS_WITHOUT_POD = frozenset({
    "APIService", "Binding", "CertificateSigningRequest", "ClusterRole", "ClusterRoleBinding",
    "ClusterTrustBundle", "ComponentStatus", "ConfigMap", "ControllerRevision", "CSIDriver", "CSINode",
    "CSIStorageCapacity", "CustomResourceDefinition", "DeviceClass", "Endpoints", "EndpointSlice", "Event",
    "FlowSchema", "HorizontalPodAutoscaler", "Ingress", "IngressClass", "IPAddress", "Lease", "LimitRange",
    "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "MutatingWebhookConfiguration", "Namespace",
    "NetworkPolicy", "Node", "PersistentVolume", "PersistentVolumeClaim", "PodDisruptionBudget",
    "PriorityClass", "PriorityLevelConfiguration", "ResourceClaim", "ResourceClaimTemplate", "ResourceQuota",
    "ResourceSlice", "Role", "RoleBinding", "RuntimeClass", "Secret", "ServiceAccount", "ServiceCIDR",
    "StorageClass", "StorageVersionMigration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration", "VolumeAttachment", "VolumeAttributesClass",
})


def api_group(api_version: str) -> str:
    """The group of an apiVersion: ``apps/v1`` -> ``apps``, ``v1`` -> ``""`` (core)."""
    return api_version.rpartition("/")[0] if "/" in api_version else ""

#: The namespace kubectl gives a namespaced object without ``metadata.namespace`` when no
#: ``-n`` is given (a kubeconfig context may name another; kubeharden cannot know it).
DEFAULT_NAMESPACE = "default"

#: Kinds that exist outside any namespace: ``metadata.namespace`` is ignored for them. The built-in
#: ones come from the API resource table; the others are custom resources whose definitions say
#: ``scope: Cluster`` (network-policy API, Cilium, Calico), PodSecurityPolicy (removed in 1.25,
#: still met in old manifests) and kubeharden's own ClusterInfo and ComponentFacts (kubeharden.io/v1).
CLUSTER_SCOPED_KINDS = frozenset(
    {info.kind for info in RESOURCES.values() if info.kind and not info.namespaced} | {
        "PodSecurityPolicy",
        "AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy",
        "CiliumClusterwideNetworkPolicy", "GlobalNetworkPolicy", "GlobalNetworkSet",
        # kubeharden's own: what a live source knows about its cluster
        "ClusterInfo", "ComponentFacts",
    })


def is_namespaced(kind: str) -> bool:
    """Whether objects of ``kind`` live in a namespace (unknown kinds are taken as namespaced)."""
    return kind not in CLUSTER_SCOPED_KINDS
