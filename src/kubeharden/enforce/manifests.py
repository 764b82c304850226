"""``kubeharden webhook manifests``: what deploys ``webhook serve`` into a cluster, hardened.

Namespace (Pod Security ``restricted`` enforced), ServiceAccount without a token (the webhook
reads nothing from the API, so it is granted nothing: least privilege is no Role at all),
Deployment (two replicas spread over nodes, non-root, read-only root filesystem, all
capabilities dropped, RuntimeDefault seccomp, requests and limits, HTTPS probes), Service,
PodDisruptionBudget, NetworkPolicies (default deny; only the webhook port is reachable), and
the Validating (and optionally Mutating) WebhookConfiguration. Its certificate comes from
cert-manager (an Issuer and Certificate, and the ``cert-manager.io/inject-ca-from`` annotation
that fills ``caBundle``) or from a CA generated here (the Secret and ``caBundle`` written out).

Kubernetes sources: "Dynamic Admission Control"
(https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/):
``admissionReviewVersions: [v1]``, ``sideEffects: None``, ``timeoutSeconds`` (1-30, default 10),
``failurePolicy``, ``matchPolicy: Equivalent``, and "Avoiding deadlocks in self-hosted webhooks"
(the webhook's own namespace and kube-system are left out with a ``namespaceSelector`` on
``kubernetes.io/metadata.name``, a label every namespace has since 1.21); cert-manager's CA injector
(https://cert-manager.io/docs/concepts/ca-injector/).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from kubeharden.analysis.selectors import EVERYTHING, Selector
from kubeharden.engine.evaluator import Evaluator
from kubeharden.model.apiresources import RESOURCES
from kubeharden.model.pods import POD_TEMPLATE_PATHS

NAME = "kubeharden-webhook"
PORT = 8443
UID = 65532  # a non-root user with no entry in the image; any non-zero UID works


@dataclass(frozen=True)
class WebhookLayout:
    """Where and how the webhook runs. ``image`` should be pinned by digest (``name@sha256:…``)."""

    namespace: str = "kubeharden"
    image: str = "ghcr.io/kubeharden/kubeharden:0.1.0"
    #: a sandboxed RuntimeClass (gVisor, Kata) when the cluster has one; "" leaves the default runtime
    runtime_class: str = ""
    #: where the API server's requests come from (its nodes' addresses); the only source let in
    apiserver_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    replicas: int = 2
    failure_policy: str = "Fail"
    mode: str = "enforce"
    profile: str = "default"
    fail_on: str = "high"
    timeout_seconds: int = 5
    mutate: bool = False
    namespace_selector: Selector = EVERYTHING
    object_selector: Selector = EVERYTHING
    exclude_namespaces: tuple[str, ...] = ("kube-system",)
    #: "cert-manager", or "generated" with ``ca_pem``, ``cert_pem`` and ``key_pem`` set
    certificates: str = "cert-manager"
    ca_pem: bytes = b""
    cert_pem: bytes = b""
    key_pem: bytes = b""
    labels: dict[str, str] = field(default_factory=lambda: {"app.kubernetes.io/name": NAME})

    @property
    def dns_names(self) -> list[str]:
        return [f"{NAME}.{self.namespace}.svc", f"{NAME}.{self.namespace}.svc.cluster.local"]


def webhook_rules(profile: str = "default") -> list[dict[str, Any]]:
    """The admission rules: CREATE and UPDATE of every built-in resource a control of ``profile`` judges
    on admission (pod-bearing kinds, plus pods/ephemeralcontainers for ``kubectl debug``)."""
    from kubeharden.config import Config

    evaluator = Evaluator(Config(profile=profile), input_kind="admission")
    kinds = set(POD_TEMPLATE_PATHS)
    kinds |= {k for c in evaluator.controls if c.scope == "object" for k in c.kinds if k != "*"}
    by_group: dict[str, list[str]] = {}
    for info in RESOURCES.values():
        if info.kind in kinds:
            by_group.setdefault(info.group, []).append(info.name)
    by_group.setdefault("", []).append("pods/ephemeralcontainers")
    return [{"apiGroups": [group], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
             "resources": sorted(set(names)), "scope": "*"} for group, names in sorted(by_group.items())]


def _selector(selector: Selector, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if selector.labels:
        out["matchLabels"] = dict(selector.labels)
    expressions = [{"key": r.key, "operator": r.operator, **({"values": sorted(r.values)} if r.values else {})}
                   for r in selector.requirements] + (extra or [])
    if expressions:
        out["matchExpressions"] = expressions
    return out


def build(layout: WebhookLayout) -> list[dict[str, Any]]:
    """The objects, in the order to apply them."""
    ns = layout.namespace
    meta = {"name": NAME, "namespace": ns, "labels": dict(layout.labels)}
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": ns, "labels": {"pod-security.kubernetes.io/enforce": "restricted",
                                             "pod-security.kubernetes.io/audit": "restricted",
                                             "pod-security.kubernetes.io/warn": "restricted"}}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(meta), "automountServiceAccountToken": False},
    ]
    docs += _quotas(layout)
    docs += _certificates(layout, meta)
    docs += [_deployment(layout, meta), _service(meta), _pdb(layout, meta), *_network_policies(layout, meta)]
    docs += _pinned_images(ns)
    docs.append(_configuration(layout, "ValidatingWebhookConfiguration", "/validate"))
    if layout.mutate:
        docs.append(_configuration(layout, "MutatingWebhookConfiguration", "/mutate"))
    return docs


def _pinned_images(namespace: str) -> list[dict[str, Any]]:
    """A ValidatingAdmissionPolicy and its Deny binding: pods in the webhook's namespace run only images
    pinned by digest (NSA-POD-5, NSA-POD-7; KH-IMG-012), so its image changes only through a reviewed
    manifest. Not part of the webhook itself: the API server enforces it
    (https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/)."""
    name = f"{NAME}-pinned-images"
    pinned = "all(c, c.image.contains('@sha256:'))"
    return [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": name},
         "spec": {"failurePolicy": "Fail",
                  "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                          "operations": ["CREATE", "UPDATE"],
                                                          "resources": ["pods"]}]},
                  "validations": [{"expression": f"object.spec.containers.{pinned} && "
                                                 f"(!has(object.spec.initContainers) || "
                                                 f"object.spec.initContainers.{pinned})",
                                   "message": f"images in namespace {namespace} must be pinned by digest"}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
         "metadata": {"name": name},
         "spec": {"policyName": name, "validationActions": ["Deny"],
                  "matchResources": {"namespaceSelector": {"matchLabels": {
                      "kubernetes.io/metadata.name": namespace}}}}},
    ]


def _quotas(layout: WebhookLayout) -> list[dict[str, Any]]:
    """Bounds for the namespace: the webhook's pods (during a rolling update one more) and nothing else.

    ResourceQuota and LimitRange: https://kubernetes.io/docs/concepts/policy/resource-quotas/ ,
    https://kubernetes.io/docs/concepts/policy/limit-range/ .
    """
    pods = layout.replicas + 1
    meta = {"name": NAME, "namespace": layout.namespace}
    return [
        {"apiVersion": "v1", "kind": "LimitRange", "metadata": dict(meta),
         "spec": {"limits": [{"type": "Container", "default": {"cpu": "1", "memory": "256Mi"},
                              "defaultRequest": {"cpu": "250m", "memory": "128Mi"},
                              "max": {"cpu": "2", "memory": "512Mi"}}]}},
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": dict(meta),
         "spec": {"hard": {"pods": str(pods), "requests.cpu": f"{pods * 250}m", "requests.memory": f"{pods * 128}Mi",
                           "limits.cpu": str(pods), "limits.memory": f"{pods * 256}Mi",
                           "requests.ephemeral-storage": f"{pods * 64}Mi",
                           "limits.ephemeral-storage": f"{pods * 64}Mi"}}},
    ]


def _certificates(layout: WebhookLayout, meta: dict[str, Any]) -> list[dict[str, Any]]:
    secret = f"{NAME}-tls"
    if layout.certificates == "cert-manager":
        return [
            {"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
             "metadata": {**meta, "name": f"{NAME}-selfsigned"}, "spec": {"selfSigned": {}}},
            {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": dict(meta),
             "spec": {"secretName": secret, "dnsNames": layout.dns_names, "duration": "2160h",
                      "renewBefore": "360h",
                      "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                      "issuerRef": {"name": f"{NAME}-selfsigned", "kind": "Issuer"}}},
        ]
    return [{"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
             "metadata": {**meta, "name": secret},
             "data": {"tls.crt": base64.b64encode(layout.cert_pem).decode(),
                      "tls.key": base64.b64encode(layout.key_pem).decode(),
                      "ca.crt": base64.b64encode(layout.ca_pem).decode()}}]


#: Seconds a webhook pod goes on serving after SIGTERM (``webhook serve --shutdown-delay``).
SHUTDOWN_DELAY = 5


def _deployment(layout: WebhookLayout, meta: dict[str, Any]) -> dict[str, Any]:
    labels = dict(layout.labels)
    def probe(path: str) -> dict[str, Any]:
        return {"httpGet": {"scheme": "HTTPS", "port": PORT, "path": path}, "periodSeconds": 10, "timeoutSeconds": 2}

    args = ["webhook", "serve", "--host", "0.0.0.0", "--port", str(PORT), "--tls-cert", "/tls/tls.crt",
            "--tls-key", "/tls/tls.key", "--mode", layout.mode, "--profile", layout.profile,
            "--fail-on", layout.fail_on, "--failure-policy", layout.failure_policy,
            # keep serving while the endpoints drop the terminating pod (terminationGracePeriodSeconds 30 covers it)
            "--shutdown-delay", str(SHUTDOWN_DELAY)]
    args += [a for n in layout.exclude_namespaces for a in ("--exclude-namespace", n)]
    if layout.mutate:
        args.append("--mutate")
    container = {
        "name": "webhook", "image": layout.image, "imagePullPolicy": "Always", "args": args,
        "ports": [{"name": "https", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": probe("/readyz"),
        "livenessProbe": probe("/healthz"),
        "resources": {"requests": {"cpu": "250m", "memory": "128Mi", "ephemeral-storage": "64Mi"},
                      "limits": {"cpu": "1", "memory": "256Mi", "ephemeral-storage": "64Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "privileged": False,
                            "runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": [{"name": "tls", "mountPath": "/tls", "readOnly": True}],
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": dict(meta),
        "spec": {
            "replicas": layout.replicas, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "serviceAccountName": NAME, "automountServiceAccountToken": False,
                "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID, "fsGroup": UID,
                                    "seccompProfile": {"type": "RuntimeDefault"},
                                    "appArmorProfile": {"type": "RuntimeDefault"},
                                    "seLinuxOptions": {"type": "container_t"}},
                "containers": [container],
                **({"runtimeClassName": layout.runtime_class} if layout.runtime_class else {}),
                "volumes": [{"name": "tls", "secret": {"secretName": f"{NAME}-tls", "defaultMode": 0o440}}],
                "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                               "whenUnsatisfiable": "ScheduleAnyway",
                                               "labelSelector": {"matchLabels": labels}}],
            }},
        },
    }


def _service(meta: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": dict(meta),
            "spec": {"type": "ClusterIP", "selector": dict(meta["labels"]),
                     "ports": [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}]}}


def _pdb(layout: WebhookLayout, meta: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": dict(meta),
            "spec": {"minAvailable": 1 if layout.replicas > 1 else 0, "selector": {"matchLabels": dict(layout.labels)}}}


def _network_policies(layout: WebhookLayout, meta: dict[str, Any]) -> list[dict[str, Any]]:
    """Deny everything in the namespace, then admit TCP to the webhook port from the API server's
    addresses only (it usually runs on the host network, which no pod selector matches, so an
    ipBlock is the way to name it); egress stays denied: the webhook calls nothing."""
    return [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "default-deny", "namespace": layout.namespace},
         "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": dict(meta),
         "spec": {"podSelector": {"matchLabels": dict(layout.labels)}, "policyTypes": ["Ingress"],
                  "ingress": [{"from": [{"ipBlock": {"cidr": cidr}} for cidr in layout.apiserver_cidrs],
                               "ports": [{"protocol": "TCP", "port": PORT}]}]}},
    ]


def _configuration(layout: WebhookLayout, kind: str, path: str) -> dict[str, Any]:
    excluded = sorted({*layout.exclude_namespaces, layout.namespace})
    webhook: dict[str, Any] = {
        "name": f"{path.strip('/')}.kubeharden.io",
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "failurePolicy": layout.failure_policy,
        "matchPolicy": "Equivalent",
        "timeoutSeconds": layout.timeout_seconds,
        "clientConfig": {"service": {"namespace": layout.namespace, "name": NAME, "path": path, "port": 443}},
        "rules": webhook_rules(layout.profile),
        "namespaceSelector": _selector(layout.namespace_selector, [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": excluded}]),
        "objectSelector": _selector(layout.object_selector),
    }
    if kind == "MutatingWebhookConfiguration":
        webhook["reinvocationPolicy"] = "Never"
    metadata: dict[str, Any] = {"name": NAME, "labels": dict(layout.labels)}
    if layout.certificates == "cert-manager":
        metadata["annotations"] = {"cert-manager.io/inject-ca-from": f"{layout.namespace}/{NAME}"}
    else:
        webhook["clientConfig"]["caBundle"] = base64.b64encode(layout.ca_pem).decode()
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": metadata, "webhooks": [webhook]}
