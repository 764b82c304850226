"""Least-privilege RBAC from what a ServiceAccount did: the requests of an audit log turned into roles.

Input: ``audit.k8s.io/v1`` events (:mod:`kubeharden.sources.audit`). Every request the ServiceAccount
made (``user.username`` ``system:serviceaccount:NS:NAME``, "Authenticating": service account tokens)
and the API server allowed becomes a rule granting that verb on that resource (subresources as
``pods/log``), and nothing else. Requests it refused (``authorization.k8s.io/decision: forbid`` or
a 401/403 response) are reported, never granted.

Where each grant goes ("Using RBAC Authorization"; scopes from :mod:`kubeharden.model.apiresources`):

- a namespaced resource requested in namespace N: a Role and RoleBinding in N (one per namespace);
- a cluster-scoped resource, or a namespaced one requested across all namespaces (``list pods``
  without a namespace): a ClusterRole and ClusterRoleBinding;
- a non-resource URL (``/healthz``): ``nonResourceURLs`` in the ClusterRole.

``resourceNames`` narrow ``get``, ``update``, ``patch`` and ``delete`` to the objects named in the log:
always for Secrets (KH-RBAC-003), for every resource with ``all_names``. RBAC cannot narrow
``create``, ``list``, ``watch`` or ``deletecollection`` by name, so those stay unnamed.
A resource missing from the table (a custom resource) is namespaced when its request named a namespace.

A request made with impersonation (the event's ``impersonatedUser``; "User impersonation" in
"Authenticating") is authorised as the impersonated user, not as the ServiceAccount: it is not granted
(the header lists it with the reason). The ServiceAccount is granted only ``impersonate`` on the users,
groups, ServiceAccounts, UIDs and user extras it impersonated, narrowed to those names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubeharden.model.apiresources import RESOURCES

#: Verbs RBAC can narrow by ``resourceNames`` for a single named object ("Using RBAC Authorization",
#: Referring to resources).
NAMEABLE_VERBS = frozenset({"get", "update", "patch", "delete"})
#: Resources whose grants are always narrowed to the names used.
ALWAYS_NAMED = frozenset({("", "secrets")})
SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True, slots=True, order=True)
class Request:
    """One kind of request: API group, resource (``pods/log``), verb, namespace ("" cluster-wide), name."""

    group: str
    resource: str
    verb: str
    namespace: str
    name: str


@dataclass(slots=True)
class Observed:
    allowed: set[Request] = field(default_factory=set)
    denied: set[Request] = field(default_factory=set)
    #: (path, verb) of non-resource requests allowed
    urls: set[tuple[str, str]] = field(default_factory=set)
    #: requests made as another user (authorised as that user, so not granted): one line each
    impersonated: set[str] = field(default_factory=set)
    events: int = 0


def username(namespace: str, name: str) -> str:
    return f"{SA_PREFIX}{namespace}:{name}"


def observe(events: Iterable[dict[str, Any]], namespace: str, name: str) -> Observed:
    """What the ServiceAccount ``namespace/name`` requested in ``events``; one entry per auditID."""
    who = username(namespace, name)
    seen: dict[str, dict[str, Any]] = {}
    for i, event in enumerate(events):
        user = event.get("user")
        if not isinstance(user, dict) or user.get("username") != who:
            continue
        key = str(event.get("auditID") or f"#{i}")
        if key not in seen or event.get("stage") == "ResponseComplete":
            seen[key] = event
    out = Observed(events=len(seen))
    for event in seen.values():
        _record(out, event)
    return out


def _record(out: Observed, event: dict[str, Any]) -> None:
    verb = str(event.get("verb") or "")
    if not verb:
        return
    as_user = event.get("impersonatedUser")
    if isinstance(as_user, dict) and as_user:
        _record_impersonation(out, event, verb, as_user)
        return
    ref = event.get("objectRef")
    if not isinstance(ref, dict) or not ref.get("resource"):
        uri = str(event.get("requestURI") or "").split("?", 1)[0]
        if uri and not _denied(event):
            out.urls.add((uri, verb))
        return
    resource = str(ref["resource"]) + (f"/{ref['subresource']}" if ref.get("subresource") else "")
    request = Request(str(ref.get("apiGroup") or ""), resource, verb, str(ref.get("namespace") or ""),
                      str(ref.get("name") or ""))
    (out.denied if _denied(event) else out.allowed).add(request)


def _record_impersonation(out: Observed, event: dict[str, Any], verb: str, as_user: dict[str, Any]) -> None:
    """A request made as ``as_user``: the ServiceAccount needs only ``impersonate`` on what it named
    ("User impersonation": users, groups, serviceaccounts, authentication.k8s.io uids and userextras/KEY)."""
    who = str(as_user.get("username") or "")
    ref = event.get("objectRef")
    if isinstance(ref, dict) and ref.get("resource"):
        what = str(ref["resource"]) + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        what = (f"{ref['apiGroup']}/" if ref.get("apiGroup") else "") + what
        where = f" in {ref['namespace']}" if ref.get("namespace") else " cluster-wide"
    else:
        what, where = str(event.get("requestURI") or "").split("?", 1)[0], ""
    out.impersonated.add(f"{verb} {what}{where} as {who or '?'}: authorised as the impersonated user, "
                         "so not granted (only impersonate is)")
    # The impersonation itself was allowed unless the request was refused before it was authorised
    # (a refusal of the impersonated request carries the authorizer's decision annotation).
    ann = event.get("annotations")
    decided = isinstance(ann, dict) and "authorization.k8s.io/decision" in ann
    target = out.denied if _denied(event) and not decided else out.allowed
    grants: list[Request] = []
    if who.startswith(SA_PREFIX) and who.count(":") == 3:
        ns, name = who[len(SA_PREFIX):].split(":", 1)
        grants.append(Request("", "serviceaccounts", "impersonate", ns, name))
    elif who:
        grants.append(Request("", "users", "impersonate", "", who))
    groups = as_user.get("groups")
    for group in groups if isinstance(groups, list) else []:
        grants.append(Request("", "groups", "impersonate", "", str(group)))
    if as_user.get("uid"):
        grants.append(Request("authentication.k8s.io", "uids", "impersonate", "", str(as_user["uid"])))
    extra = as_user.get("extra")
    for key, values in (extra.items() if isinstance(extra, dict) else ()):
        for value in values if isinstance(values, list) else [values]:
            grants.append(Request("authentication.k8s.io", f"userextras/{key}", "impersonate", "", str(value)))
    target.update(grants)


def _denied(event: dict[str, Any]) -> bool:
    ann = event.get("annotations")
    if isinstance(ann, dict) and ann.get("authorization.k8s.io/decision") == "forbid":
        return True
    status = event.get("responseStatus")
    return isinstance(status, dict) and status.get("code") in (401, 403)


def is_namespaced(request: Request) -> bool:
    info = RESOURCES.get((request.group, request.resource.split("/", 1)[0]))
    return info.namespaced if info is not None else bool(request.namespace)


def _rules(requests: Iterable[Request], all_names: bool) -> list[dict[str, Any]]:
    """PolicyRules granting exactly ``requests``: one per group, resource set, verb set and names."""
    grants: dict[tuple[str, str, tuple[str, ...]], set[str]] = {}
    named: dict[tuple[str, str, str], set[str]] = {}
    for r in requests:
        base = (r.group, r.resource.split("/", 1)[0])
        if r.verb == "impersonate" and r.name:  # always narrowed: impersonate on any user is admin
            named.setdefault((r.group, r.resource, r.verb), set()).add(r.name)
        elif r.verb in NAMEABLE_VERBS and r.name and (all_names or base in ALWAYS_NAMED):
            named.setdefault((r.group, r.resource, r.verb), set()).add(r.name)
        else:
            grants.setdefault((r.group, r.resource, ()), set()).add(r.verb)
    for (group, resource, verb), used in named.items():
        grants.setdefault((group, resource, tuple(sorted(used))), set()).add(verb)
    merged: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[str]] = {}
    for (group, resource, names), verbs in sorted(grants.items()):
        merged.setdefault((group, tuple(sorted(verbs)), names), []).append(resource)
    rules = []
    for (group, verb_list, name_list), resources in sorted(merged.items()):
        rule: dict[str, Any] = {"apiGroups": [group], "resources": sorted(resources), "verbs": list(verb_list)}
        if name_list:
            rule["resourceNames"] = list(name_list)
        rules.append(rule)
    return rules


def build(observed: Observed, namespace: str, name: str, all_names: bool = False) -> list[dict[str, Any]]:
    """Roles, ClusterRole and their bindings for ServiceAccount ``namespace/name`` (empty if it did nothing)."""
    subject = [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]
    role_name = f"{name}-observed"
    by_ns: dict[str, list[Request]] = {}
    cluster: list[Request] = []
    for r in sorted(observed.allowed):
        if is_namespaced(r) and r.namespace:
            by_ns.setdefault(r.namespace, []).append(r)
        else:
            cluster.append(r)
    docs: list[dict[str, Any]] = []
    for ns, requests in sorted(by_ns.items()):
        docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                     "metadata": {"name": role_name, "namespace": ns}, "rules": _rules(requests, all_names)})
        docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                     "metadata": {"name": role_name, "namespace": ns},
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
                     "subjects": subject})
    rules = _rules(cluster, all_names)
    urls: dict[str, list[str]] = {}
    for path, verb in sorted(observed.urls):
        urls.setdefault(verb, []).append(path)
    rules += [{"nonResourceURLs": paths, "verbs": [verb]} for verb, paths in sorted(urls.items())]
    if rules:
        cluster_name = f"{namespace}:{name}-observed"
        docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                     "metadata": {"name": cluster_name}, "rules": rules})
        docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                     "metadata": {"name": cluster_name},
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                 "name": cluster_name},
                     "subjects": subject})
    return docs


def describe_denied(observed: Observed) -> list[str]:
    """One line per refused request kind, for the output's header."""
    return sorted({f"{r.verb} {r.group + '/' if r.group else ''}{r.resource}"
                   + (f" in {r.namespace}" if r.namespace else " cluster-wide") for r in observed.denied})
