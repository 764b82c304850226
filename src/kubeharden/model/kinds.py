"""Facts about kinds that do not depend on any one object.

Source: the Kubernetes API reference (each kind's "namespaced" scope), as listed by
``kubectl api-resources --namespaced=false`` on a current cluster, plus the cluster-wide
policy kinds of the network plugins and the network-policy API that kubeharden reads.
"""

from __future__ import annotations

#: The namespace kubectl gives a namespaced object without ``metadata.namespace`` when no
#: ``-n`` is given (a kubeconfig context may name another; kubeharden cannot know it).
DEFAULT_NAMESPACE = "default"

#: Kinds that exist outside any namespace: ``metadata.namespace`` is ignored for them.
CLUSTER_SCOPED_KINDS = frozenset({
    # core
    "Namespace", "Node", "PersistentVolume", "ComponentStatus",
    # RBAC, admission, API machinery
    "ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding", "CustomResourceDefinition", "APIService", "FlowSchema",
    "PriorityLevelConfiguration", "StorageVersion", "StorageVersionMigration",
    # authentication and authorisation reviews, certificates
    "TokenReview", "SelfSubjectReview", "SelfSubjectAccessReview", "SelfSubjectRulesReview", "SubjectAccessReview",
    "CertificateSigningRequest", "ClusterTrustBundle",
    # scheduling, nodes, storage, networking
    "PriorityClass", "RuntimeClass", "StorageClass", "VolumeAttachment", "CSIDriver", "CSINode",
    "VolumeAttributesClass", "IngressClass", "IPAddress", "ServiceCIDR", "DeviceClass", "ResourceSlice",
    "PodSecurityPolicy",
    # cluster-wide network policies of the network-policy API, Cilium and Calico
    "AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy",
    "CiliumClusterwideNetworkPolicy", "GlobalNetworkPolicy", "GlobalNetworkSet",
})


def is_namespaced(kind: str) -> bool:
    """Whether objects of ``kind`` live in a namespace (unknown kinds are taken as namespaced)."""
    return kind not in CLUSTER_SCOPED_KINDS
