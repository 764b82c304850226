"""The built-in API resources: group, resource name, kind, whether namespaced, subresources.

One table, read from the Kubernetes API reference (https://kubernetes.io/docs/reference/kubernetes-api/,
Kubernetes 1.29-1.33, the output of ``kubectl api-resources``) plus the *virtual* resources that
exist only for authorization checks and are documented in "Using RBAC Authorization" and
"Authenticating" (impersonation: ``users``, ``groups``, ``userextras/<key>``, ``uids``; CSR
approval and signing: ``signers``) and the kubelet's authorization subresources of ``nodes``
("Kubelet authentication/authorization": ``proxy``, ``stats``, ``metrics``, ``log``, ``spec``,
``pods``, ``checkpoint``, ``configz``, ``healthz``).

Whether a kind is cluster-scoped (:mod:`kubeharden.model.kinds`), which RBAC resources exist and
which requests carry no namespace (:mod:`kubeharden.analysis.rbac_resources`), and the resource an
audit event names (:mod:`kubeharden.detect.policy`) are all read from here.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Subresource names of nodes the kubelet authorises (Kubelet authentication/authorization).
_KUBELET = ("proxy", "stats", "metrics", "log", "spec", "pods", "checkpoint", "configz", "healthz")
ANY_SUBRESOURCE = "<any>"


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    group: str
    name: str
    #: the kind of its objects ("" for the virtual resources that exist only for authorization)
    kind: str
    namespaced: bool
    subresources: tuple[str, ...] = ()


def _table() -> dict[tuple[str, str], ResourceInfo]:
    ns, cluster = True, False
    spec: dict[str, list[tuple[str, str, bool, tuple[str, ...]]]] = {
        "": [
            ("pods", "Pod", ns, ("attach", "binding", "ephemeralcontainers", "eviction", "exec", "log", "portforward",
                          "proxy", "resize", "status")),
            ("nodes", "Node", cluster, ("status",) + _KUBELET),
            ("namespaces", "Namespace", cluster, ("finalize", "status")),
            ("services", "Service", ns, ("proxy", "status")),
            ("replicationcontrollers", "ReplicationController", ns, ("scale", "status")),
            ("persistentvolumes", "PersistentVolume", cluster, ("status",)),
            ("persistentvolumeclaims", "PersistentVolumeClaim", ns, ("status",)),
            ("resourcequotas", "ResourceQuota", ns, ("status",)),
            ("serviceaccounts", "ServiceAccount", ns, ("token",)),
            ("configmaps", "ConfigMap", ns, ()), ("secrets", "Secret", ns, ()), ("endpoints", "Endpoints", ns, ()), ("events", "Event", ns, ()),
            ("limitranges", "LimitRange", ns, ()), ("podtemplates", "PodTemplate", ns, ()), ("bindings", "Binding", ns, ()),
            ("componentstatuses", "ComponentStatus", cluster, ()),
            # impersonation only ("Authenticating", User impersonation)
            ("users", "", cluster, ()), ("groups", "", cluster, ()),
        ],
        "apps": [
            ("deployments", "Deployment", ns, ("scale", "status")), ("statefulsets", "StatefulSet", ns, ("scale", "status")),
            ("replicasets", "ReplicaSet", ns, ("scale", "status")), ("daemonsets", "DaemonSet", ns, ("status",)),
            ("controllerrevisions", "ControllerRevision", ns, ()),
        ],
        "batch": [("jobs", "Job", ns, ("status",)), ("cronjobs", "CronJob", ns, ("status",))],
        "autoscaling": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", ns, ("status",))],
        "policy": [("poddisruptionbudgets", "PodDisruptionBudget", ns, ("status",))],
        "networking.k8s.io": [
            ("networkpolicies", "NetworkPolicy", ns, ()), ("ingresses", "Ingress", ns, ("status",)), ("ingressclasses", "IngressClass", cluster, ()),
            ("ipaddresses", "IPAddress", cluster, ()), ("servicecidrs", "ServiceCIDR", cluster, ("status",)),
        ],
        "rbac.authorization.k8s.io": [
            ("roles", "Role", ns, ()), ("rolebindings", "RoleBinding", ns, ()), ("clusterroles", "ClusterRole", cluster, ()),
            ("clusterrolebindings", "ClusterRoleBinding", cluster, ()),
        ],
        "storage.k8s.io": [
            ("storageclasses", "StorageClass", cluster, ()), ("csidrivers", "CSIDriver", cluster, ()), ("csinodes", "CSINode", cluster, ()),
            ("volumeattachments", "VolumeAttachment", cluster, ("status",)), ("volumeattributesclasses", "VolumeAttributesClass", cluster, ()),
            ("csistoragecapacities", "CSIStorageCapacity", ns, ()),
        ],
        "scheduling.k8s.io": [("priorityclasses", "PriorityClass", cluster, ())],
        "node.k8s.io": [("runtimeclasses", "RuntimeClass", cluster, ())],
        "coordination.k8s.io": [("leases", "Lease", ns, ()), ("leasecandidates", "LeaseCandidate", ns, ())],
        "discovery.k8s.io": [("endpointslices", "EndpointSlice", ns, ())],
        "events.k8s.io": [("events", "Event", ns, ())],
        "flowcontrol.apiserver.k8s.io": [
            ("flowschemas", "FlowSchema", cluster, ("status",)), ("prioritylevelconfigurations", "PriorityLevelConfiguration", cluster, ("status",)),
        ],
        "apiregistration.k8s.io": [("apiservices", "APIService", cluster, ("status",))],
        "apiextensions.k8s.io": [("customresourcedefinitions", "CustomResourceDefinition", cluster, ("status",))],
        "admissionregistration.k8s.io": [
            ("mutatingwebhookconfigurations", "MutatingWebhookConfiguration", cluster, ()), ("validatingwebhookconfigurations", "ValidatingWebhookConfiguration", cluster, ()),
            ("validatingadmissionpolicies", "ValidatingAdmissionPolicy", cluster, ("status",)), ("validatingadmissionpolicybindings", "ValidatingAdmissionPolicyBinding", cluster, ()),
            ("mutatingadmissionpolicies", "MutatingAdmissionPolicy", cluster, ()), ("mutatingadmissionpolicybindings", "MutatingAdmissionPolicyBinding", cluster, ()),
        ],
        "authentication.k8s.io": [
            ("tokenreviews", "TokenReview", cluster, ()), ("selfsubjectreviews", "SelfSubjectReview", cluster, ()),
            # impersonation of extra fields and UIDs: userextras/<extra key>, uids
            ("userextras", "", cluster, (ANY_SUBRESOURCE,)), ("uids", "", cluster, ()),
        ],
        "authorization.k8s.io": [
            ("subjectaccessreviews", "SubjectAccessReview", cluster, ()), ("selfsubjectaccessreviews", "SelfSubjectAccessReview", cluster, ()),
            ("selfsubjectrulesreviews", "SelfSubjectRulesReview", cluster, ()), ("localsubjectaccessreviews", "LocalSubjectAccessReview", ns, ()),
        ],
        "certificates.k8s.io": [
            ("certificatesigningrequests", "CertificateSigningRequest", cluster, ("approval", "status")), ("clustertrustbundles", "ClusterTrustBundle", cluster, ()),
            # CSR approval and signing check verbs approve/sign on signers/<signerName> ("Certificates and
            # Certificate Signing Requests", Authorization)
            ("signers", "", cluster, ()),
        ],
        "resource.k8s.io": [
            ("resourceclaims", "ResourceClaim", ns, ("status",)), ("resourceclaimtemplates", "ResourceClaimTemplate", ns, ()),
            ("deviceclasses", "DeviceClass", cluster, ()), ("resourceslices", "ResourceSlice", cluster, ()),
        ],
        "internal.apiserver.k8s.io": [("storageversions", "StorageVersion", cluster, ("status",))],
        "storagemigration.k8s.io": [("storageversionmigrations", "StorageVersionMigration", cluster, ("status",))],
        # served nothing since Kubernetes 1.22 (Deprecated API Migration Guide); kept so rules naming it are judged
        "extensions": [],
    }
    return {(group, name): ResourceInfo(group, name, kind, namespaced, subs)
            for group, items in spec.items() for name, kind, namespaced, subs in items}


RESOURCES: dict[tuple[str, str], ResourceInfo] = _table()


#: kubectl's short names of built-in resources (``kubectl api-resources``, SHORTNAMES column).
SHORT_NAMES: dict[str, tuple[str, str]] = {
    "cs": ("", "componentstatuses"), "cm": ("", "configmaps"), "ep": ("", "endpoints"), "ev": ("", "events"),
    "limits": ("", "limitranges"), "ns": ("", "namespaces"), "no": ("", "nodes"),
    "pvc": ("", "persistentvolumeclaims"), "pv": ("", "persistentvolumes"), "po": ("", "pods"),
    "rc": ("", "replicationcontrollers"), "quota": ("", "resourcequotas"), "sa": ("", "serviceaccounts"),
    "svc": ("", "services"), "crd": ("apiextensions.k8s.io", "customresourcedefinitions"),
    "crds": ("apiextensions.k8s.io", "customresourcedefinitions"), "ds": ("apps", "daemonsets"),
    "deploy": ("apps", "deployments"), "rs": ("apps", "replicasets"), "sts": ("apps", "statefulsets"),
    "hpa": ("autoscaling", "horizontalpodautoscalers"), "cj": ("batch", "cronjobs"),
    "csr": ("certificates.k8s.io", "certificatesigningrequests"), "ing": ("networking.k8s.io", "ingresses"),
    "netpol": ("networking.k8s.io", "networkpolicies"), "pdb": ("policy", "poddisruptionbudgets"),
    "pc": ("scheduling.k8s.io", "priorityclasses"), "sc": ("storage.k8s.io", "storageclasses"),
}


def resolve_resource(name: str, group: str | None = None) -> tuple[str, str] | None:
    """(group, plural resource) for what a user typed, as kubectl reads it: the plural (``secrets``), the
    singular or kind (``secret``, ``Deployment``) or a short name (``po``, ``deploy``); ``group`` narrows
    the search (None: any group, the core group first). None when no built-in resource has that name."""
    key = name.lower()
    candidates = [(g, n) for (g, n) in RESOURCES if group is None or g == group]
    candidates.sort(key=lambda gn: (gn[0] != "", gn[0]))  # core first, then by group, as kubectl prefers
    for g, n in candidates:
        if n == key:
            return g, n
    if key in SHORT_NAMES and (group is None or SHORT_NAMES[key][0] == group):
        return SHORT_NAMES[key]
    for g, n in candidates:
        if RESOURCES[(g, n)].kind.lower() == key:
            return g, n
    return None
