"""Risky permissions as data: which requests make a rule dangerous, and why.

Each entry names a risk and the requests (verb, API group, resource, subresource) that
carry it. A rule has the risk when it authorises any of them, using the model's exact
matching. ``any_name`` says whether a rule limited by ``resourceNames`` still counts: a
``get secrets`` limited to named Secrets is the recommended least-privilege form, while
``impersonate`` limited to ``system:masters`` is as bad as it gets. A ``create`` of an object
(not of a subresource) and a ``deletecollection`` never carry a name, so resourceNames never
allow them ("Using RBAC Authorization", Referring to resources).

Requests on cluster-scoped resources count only where the rule can apply cluster-wide: a
Role, or a ClusterRole bound only by RoleBindings, never authorises them (see
:mod:`kubeharden.analysis.rbac_resources`).

The sources of each risk are "RBAC Good Practices" (Kubernetes documentation, Privilege
escalation risks) unless the entry says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeharden.analysis.rbac import RBAC_GROUP, WORKLOAD_RESOURCES, Rule
from kubeharden.analysis.rbac_resources import is_cluster_scoped

Request = tuple[str, str, str, str]  # verb, group, resource, subresource


@dataclass(frozen=True, slots=True)
class Risk:
    key: str
    what: str  # a phrase: "can read Secrets"
    requests: tuple[Request, ...]
    any_name: bool = True

    def matched(self, rule: Rule, cluster_scope: bool = True) -> list[Request]:
        """The requests of this risk ``rule`` allows; ``cluster_scope`` False: it applies in a namespace only."""
        return [r for r in self.requests
                if (cluster_scope or not is_cluster_scoped(r[1], r[2], r[0]))
                and rule.allows(*r, any_name=self.any_name and not _nameless(r))]


def _nameless(request: Request) -> bool:
    """Requests the API server authorises without an object name (resourceNames never allow them)."""
    verb, _, _, sub = request
    return verb == "deletecollection" or (verb == "create" and not sub)


def _each(verbs: tuple[str, ...], group: str, resources: tuple[str, ...], sub: str = "") -> tuple[Request, ...]:
    return tuple((v, group, r, sub) for r in resources for v in verbs)


_WRITE = ("create", "update", "patch", "delete")
#: Every verb that creates, changes or removes an object.
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")

RISKS: dict[str, Risk] = {r.key: r for r in (
    Risk("read-secrets", "can read Secrets", _each(("get", "list", "watch"), "", ("secrets",)), any_name=False),
    Risk("exec", "can run commands in or connect to running containers",
         _each(("create", "get"), "", ("pods",), "exec") + _each(("create", "get"), "", ("pods",), "attach")
         + _each(("create", "get"), "", ("pods",), "portforward")),
    # A changed pod template runs any image as any ServiceAccount of the namespace ("RBAC Good
    # Practices", Workload creation); update/patch of a pod changes its image; delete removes
    # workloads, security agents among them, and deletecollection all of them at once.
    Risk("workloads", "can create or change pods or pod-template workloads",
         tuple((v, g, r, "") for g, r in WORKLOAD_RESOURCES for v in WRITE_VERBS)),
    Risk("escalate-bind", "can escalate or bind roles",
         _each(("escalate", "bind"), RBAC_GROUP, ("roles", "clusterroles"))),
    Risk("impersonate", "can impersonate other identities",
         _each(("impersonate",), "", ("users", "groups", "serviceaccounts"))
         + _each(("impersonate",), "authentication.k8s.io", ("userextras", "uids"))),
    Risk("nodes-proxy", "can reach the kubelet API through nodes/proxy",
         _each(("create", "get"), "", ("nodes",), "proxy")),
    Risk("webhooks", "can change admission webhook configurations",
         _each(_WRITE, "admissionregistration.k8s.io",
               ("validatingwebhookconfigurations", "mutatingwebhookconfigurations")), any_name=False),
    Risk("sa-token", "can create ServiceAccount tokens",
         _each(("create",), "", ("serviceaccounts",), "token")),
    # "RBAC Good Practices", Persistent volume creation: hostPath volumes reach the node's files;
    # update/patch re-bind a volume (claimRef) to another claim, delete destroys its data.
    Risk("pv-writes", "can create or change PersistentVolumes", _each(WRITE_VERBS, "", ("persistentvolumes",))),
    # Events are the record of what happened; deleting them covers an attacker's tracks
    # (MITRE ATT&CK for containers, T1070 Indicator Removal).
    Risk("delete-events", "can delete Events", _each(("delete", "deletecollection"), "", ("events",))
         + _each(("delete", "deletecollection"), "events.k8s.io", ("events",))),
    # NetworkPolicies are the namespace's firewall ("Network Policies"): writing them opens any path.
    Risk("netpol-writes", "can create, change or delete NetworkPolicies",
         _each(WRITE_VERBS, "networking.k8s.io", ("networkpolicies",))),
    # status.loadBalancer.ingress of a Service redirects cluster traffic to any IP (CVE-2020-8554,
    # kubernetes/kubernetes#97076: "patch services/status" is the privilege to restrict).
    Risk("services-status", "can change the status (load-balancer addresses) of Services",
         _each(("update", "patch"), "", ("services",), "status")),
)}

#: The two halves of approving a CertificateSigningRequest ("Certificates and Certificate Signing
#: Requests", Authorization): update on the approval subresource and approve on the signer.
#: Only a subject holding both can approve.
CSR_APPROVAL = Risk("csr-approval", "can update the approval of CertificateSigningRequests",
                    _each(("update", "patch"), "certificates.k8s.io", ("certificatesigningrequests",), "approval"))
CSR_SIGNER = Risk("csr-signer", "can approve CertificateSigningRequests for a signer",
                  _each(("approve",), "certificates.k8s.io", ("signers",)))
#: Writing ConfigMaps of a system namespace changes cluster components (CoreDNS, kube-proxy,
#: kubeadm-config, EKS aws-auth); checked per binding scope, not per rule.
CONFIGMAP_WRITES = Risk("configmap-writes", "can create, change or delete ConfigMaps",
                        _each(WRITE_VERBS, "", ("configmaps",)))


def risks_of(rule: Rule, cluster_scope: bool = True) -> list[Risk]:
    """The risks ``rule`` carries where it applies (cluster-wide, or in one namespace)."""
    return [risk for risk in RISKS.values() if risk.matched(rule, cluster_scope)]


def verbs_phrase(requests: list[Request]) -> str:
    """``create,get pods/exec`` style summary of the matched requests."""
    by_target: dict[str, list[str]] = {}
    for verb, group, resource, sub in requests:
        target = f"{resource}/{sub}" if sub else resource
        if group:
            target += f" ({group})"
        by_target.setdefault(target, [])
        if verb not in by_target[target]:
            by_target[target].append(verb)
    return "; ".join(f"{','.join(v)} {t}" for t, v in by_target.items())
