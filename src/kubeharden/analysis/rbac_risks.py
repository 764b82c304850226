"""Risky permissions as data: which requests make a rule dangerous, and why.

The risks the RBAC controls report are written in the catalogue (``catalogue/controls/rbac.yaml``, ``rule:
{template: rbac-risk, grants: [...]}``) and built here by :func:`risk_from_grants`; the few kept
below serve controls whose logic is more than one rule. Each risk names the requests (verb, API
group, resource, subresource) that carry it. A rule has the risk when it authorises any of them,
using the model's exact matching. ``any_name`` says whether a rule limited by ``resourceNames``
still counts: a ``get secrets`` limited to named Secrets is the recommended least-privilege form,
while ``impersonate`` limited to ``system:masters`` is as bad as it gets. A ``create`` of an object
(not of a subresource) and a ``deletecollection`` never carry a name, so resourceNames never allow
them ("Using RBAC Authorization", Referring to resources).

Requests on cluster-scoped resources count only where the rule can apply cluster-wide: a Role, or a
ClusterRole bound only by RoleBindings, never authorises them (see
:mod:`kubeharden.analysis.rbac_resources`).

The sources of each risk are "RBAC Good Practices" (Kubernetes documentation, Privilege escalation
risks) unless the entry says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kubeharden.analysis.rbac import ALL, WORKLOAD_RESOURCES, RbacRule
from kubeharden.analysis.rbac_resources import is_cluster_scoped

Request = tuple[str, str, str, str]  # verb, group, resource, subresource


@dataclass(frozen=True, slots=True)
class Risk:
    key: str
    what: str  # a phrase: "can read Secrets"
    requests: tuple[Request, ...]
    any_name: bool = True

    #: each request with whether it is cluster-scoped and whether a rule must allow it for any name, worked out
    #: once (a scan asks every rule of every role)
    judged: tuple[tuple[Request, bool, bool], ...] = field(init=False, repr=False, compare=False)
    #: the verbs and the API groups of the requests: a rule naming none of either (and no ``*``) allows
    #: none of them, which settles most rules without matching request by request
    verbs: frozenset[str] = field(init=False, repr=False, compare=False)
    groups: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "judged", tuple(
            (r, is_cluster_scoped(r[1], r[2], r[0]), self.any_name and not _nameless(r)) for r in self.requests))
        object.__setattr__(self, "verbs", frozenset(r[0] for r in self.requests))
        object.__setattr__(self, "groups", frozenset(r[1] for r in self.requests))

    def matched(self, rule: RbacRule, cluster_scope: bool = True) -> list[Request]:
        """The requests of this risk ``rule`` allows; ``cluster_scope`` False: it applies in a namespace only."""
        if not self._may_match(rule):
            return []
        return [r for r, cluster_scoped, any_name in self.judged
                if (cluster_scope or not cluster_scoped) and rule.allows(*r, any_name=any_name)]

    def _may_match(self, rule: RbacRule) -> bool:
        """False when ``rule`` names none of the risk's verbs or none of its API groups (RuleAllows needs
        both: rbac/v1 VerbMatches, APIGroupMatches), so it allows no request of the risk."""
        verbs, groups = rule.verbs, rule.api_groups
        return (ALL in verbs or not verbs.isdisjoint(self.verbs)) and \
            (ALL in groups or not groups.isdisjoint(self.groups))


def _nameless(request: Request) -> bool:
    """Requests the API server authorises without an object name (resourceNames never allow them)."""
    verb, _, _, sub = request
    return verb == "deletecollection" or (verb == "create" and not sub)


def _each(verbs: tuple[str, ...], group: str, resources: tuple[str, ...], sub: str = "") -> tuple[Request, ...]:
    return tuple((v, group, r, sub) for r in resources for v in verbs)


#: Every verb that creates, changes or removes an object.
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
#: Named resource sets a risk may use instead of listing resources: name -> (API group, resource) pairs.
RESOURCE_SETS: dict[str, tuple[tuple[str, str], ...]] = {"workloads": WORKLOAD_RESOURCES}


class RiskError(ValueError):
    """A risk written as data (catalogue ``rule: {template: rbac-risk}``) that cannot be used."""


def risk_from_grants(key: str, what: str, grants: object, any_name: bool = True) -> Risk:
    """A Risk from PolicyRule-shaped entries: ``{apiGroups, resources, verbs}`` or ``{resource_set, verbs}``.

    ``resources`` use RBAC's own spelling (``pods/exec`` is the exec subresource of pods). The
    requests expand group by group, resource by resource, verb by verb, in the order written.
    Raises RiskError for anything else.
    """
    if not isinstance(grants, list) or not grants:
        raise RiskError(f"{key}: grants is a non-empty list of {{apiGroups, resources, verbs}}")
    requests: list[Request] = []
    for entry in grants:
        if not isinstance(entry, dict) or set(entry) - {"apiGroups", "resources", "verbs", "resource_set"}:
            raise RiskError(f"{key}: a grant has apiGroups, resources and verbs (or resource_set and verbs)")
        verbs = entry.get("verbs")
        if not isinstance(verbs, list) or not verbs:
            raise RiskError(f"{key}: a grant needs verbs")
        if "resource_set" in entry:
            pairs = RESOURCE_SETS.get(str(entry["resource_set"]))
            if pairs is None:
                raise RiskError(f"{key}: unknown resource_set {entry['resource_set']!r} "
                                f"(known: {', '.join(RESOURCE_SETS)})")
        else:
            groups, resources = entry.get("apiGroups"), entry.get("resources")
            if not isinstance(groups, list) or not isinstance(resources, list) or not groups or not resources:
                raise RiskError(f"{key}: a grant needs apiGroups and resources")
            pairs = tuple((str(g), str(r)) for g in groups for r in resources)
        for group, resource in pairs:
            name, _, sub = resource.partition("/")
            requests.extend((str(v), group, name, sub) for v in verbs)
    return Risk(key, what, tuple(requests), any_name=bool(any_name))


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


def risks_of(rule: RbacRule, risks: Iterable[Risk], cluster_scope: bool = True) -> list[Risk]:
    """Which of ``risks`` ``rule`` carries where it applies (cluster-wide, or in one namespace)."""
    return [risk for risk in risks if risk.matched(rule, cluster_scope)]


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
