"""Risky permissions as data: which requests make a rule dangerous, and why.

Each entry names a risk and the requests (verb, API group, resource, subresource) that
carry it. A rule has the risk when it authorises any of them, using the model's exact
matching. ``any_name`` says whether a rule limited by ``resourceNames`` still counts: a
``get secrets`` limited to named Secrets is the recommended least-privilege form, while
``impersonate`` limited to ``system:masters`` is as bad as it gets.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeharden.analysis.rbac import RBAC_GROUP, WORKLOAD_RESOURCES, Rule

Request = tuple[str, str, str, str]  # verb, group, resource, subresource


@dataclass(frozen=True, slots=True)
class Risk:
    key: str
    what: str  # a phrase: "can read Secrets"
    requests: tuple[Request, ...]
    any_name: bool = True

    def matched(self, rule: Rule) -> list[Request]:
        return [r for r in self.requests if rule.allows(*r, any_name=self.any_name)]


def _each(verbs: tuple[str, ...], group: str, resources: tuple[str, ...], sub: str = "") -> tuple[Request, ...]:
    return tuple((v, group, r, sub) for r in resources for v in verbs)


_WRITE = ("create", "update", "patch", "delete")

RISKS: dict[str, Risk] = {r.key: r for r in (
    Risk("read-secrets", "can read Secrets", _each(("get", "list", "watch"), "", ("secrets",)), any_name=False),
    Risk("exec", "can run commands in or connect to running containers",
         _each(("create", "get"), "", ("pods",), "exec") + _each(("create", "get"), "", ("pods",), "attach")
         + _each(("create", "get"), "", ("pods",), "portforward")),
    Risk("create-workloads", "can create pods or pod-creating workloads",
         tuple(("create", g, r, "") for g, r in WORKLOAD_RESOURCES), any_name=False),
    Risk("escalate-bind", "can escalate or bind roles",
         _each(("escalate", "bind"), RBAC_GROUP, ("roles", "clusterroles"))),
    Risk("impersonate", "can impersonate other identities",
         _each(("impersonate",), "", ("users", "groups", "serviceaccounts"))
         + _each(("impersonate",), "authentication.k8s.io", ("userextras", "uids"))),
    Risk("nodes-proxy", "can reach the kubelet API through nodes/proxy",
         _each(("create", "get"), "", ("nodes",), "proxy")),
    Risk("approve-csr", "can approve CertificateSigningRequests",
         _each(("update", "patch"), "certificates.k8s.io", ("certificatesigningrequests",), "approval")
         + _each(("approve",), "certificates.k8s.io", ("signers",))),
    Risk("webhooks", "can change admission webhook configurations",
         _each(_WRITE, "admissionregistration.k8s.io",
               ("validatingwebhookconfigurations", "mutatingwebhookconfigurations")), any_name=False),
    Risk("sa-token", "can create ServiceAccount tokens",
         _each(("create",), "", ("serviceaccounts",), "token")),
    Risk("create-pv", "can create PersistentVolumes", _each(("create",), "", ("persistentvolumes",)),
         any_name=False),
)}


def risks_of(rule: Rule) -> list[Risk]:
    return [risk for risk in RISKS.values() if risk.matched(rule)]


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
