"""What RBAC rules can name: the built-in API resources (:mod:`kubeharden.model.apiresources`,
the one table of them) judged for RBAC.

Two facts come from it:

* a resource is **cluster-scoped**: requests for it carry no namespace, so a Role, or a
  ClusterRole bound by a RoleBinding, never authorises it ("Using RBAC Authorization":
  "a RoleBinding ... grants the permissions within a specific namespace"; cluster-scoped
  resources need a ClusterRole *and* a ClusterRoleBinding);
* a resource **does not exist** in a group: a rule naming it (``pod`` for ``pods``, ``roles``
  under the core group) matches no request the API server ever authorises.

One exception: ``bind`` on ``clusterroles`` is checked with the namespace of the RoleBinding
being written (rbac registry, BindingAuthorized), so a Role or RoleBinding may grant it: "Using
RBAC Authorization", Restrictions on role binding creation, binds admin/edit/view that way.

API groups outside the table (CRDs, aggregated APIs such as ``metrics.k8s.io``) are not judged:
kubeharden cannot know their resources and says nothing about them.
"""

from __future__ import annotations

from kubeharden.model.apiresources import ANY_SUBRESOURCE, RESOURCES, ResourceInfo

#: Verbs on a cluster-scoped resource that the API server authorises with a namespace.
#: ``namespaces``: for a request on /api/v1/namespaces/{name} (and its status and finalize subresources)
#: the request's namespace *is* {name} (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go), so a Role
#: in namespace app authorises get, update, patch and delete of the Namespace app itself; list, watch
#: and create of namespaces carry no namespace and are never authorised by a Role.
NAMESPACED_VERBS: dict[tuple[str, str], frozenset[str]] = {
    ("rbac.authorization.k8s.io", "clusterroles"): frozenset({"bind"}),
    ("", "namespaces"): frozenset({"get", "update", "patch", "delete"}),
}
KNOWN_GROUPS: frozenset[str] = frozenset(g for g, _ in RESOURCES) | {"extensions"}
#: Groups whose resources were all removed, with the release that removed them.
REMOVED_GROUPS: dict[str, str] = {"extensions": "1.22"}
#: Removed resources of groups still served (Deprecated API Migration Guide).
REMOVED_RESOURCES: dict[tuple[str, str], str] = {("policy", "podsecuritypolicies"): "1.25"}
#: Subresources authorised on every resource: the OwnerReferencesPermissionEnforcement admission
#: plugin checks update on ``<resource>/finalizers`` of an owner before blockOwnerDeletion is set
#: ("Admission Control in Kubernetes", OwnerReferencesPermissionEnforcement).
ANY_RESOURCE_SUBRESOURCES: frozenset[str] = frozenset({"finalizers"})


def lookup(group: str, resource: str) -> ResourceInfo | None:
    """The resource ``resource`` (no subresource) of ``group``, or None if Kubernetes has none."""
    return RESOURCES.get((group, resource))


def is_cluster_scoped(group: str, resource: str, verb: str = "") -> bool:
    """Whether ``verb`` requests for ``group``/``resource`` carry no namespace (False when unknown)."""
    info = RESOURCES.get((group, resource))
    return info is not None and not info.namespaced and verb not in NAMESPACED_VERBS.get((group, resource), ())


def missing_reason(groups: frozenset[str], resource: str) -> str | None:
    """Why a rule's ``resource`` entry (``pods``, ``pods/exec``) matches nothing in ``groups``, or None.

    None also when it cannot be judged: ``*`` in the groups or the resource, or any group
    outside the table (a CRD or aggregated API could define it).
    """
    if not groups or "*" in groups or any(g not in KNOWN_GROUPS for g in groups) or resource == "*":
        return None
    base, _, sub = resource.partition("/")
    if base == "*":  # "*/scale": the subresource of anything
        return None
    found = [RESOURCES[(g, base)] for g in sorted(groups) if (g, base) in RESOURCES]
    where = ", ".join("core" if g == "" else g for g in sorted(groups))
    if not found:
        elsewhere = sorted(g or "core" for (g, name) in RESOURCES if name == base)
        hint = f"; it is in {', '.join(elsewhere)}" if elsewhere else _plural_hint(groups, base)
        removed = [f"{g} was removed in Kubernetes {REMOVED_GROUPS[g]}" for g in sorted(groups) if g in REMOVED_GROUPS]
        removed += [f"{base} was removed in Kubernetes {REMOVED_RESOURCES[(g, base)]}" for g in sorted(groups)
                    if (g, base) in REMOVED_RESOURCES]
        note = f" ({'; '.join(removed)})" if removed else ""
        return f"no resource {base!r} in API group {where}{note}{hint}"
    if not sub:
        return None
    if sub == "*":
        return f"'{resource}' is not a wildcard: RBAC matches it only against a subresource literally named '*', " \
               "which no resource has (list the subresources, or use '*/<subresource>')"
    if sub in ANY_RESOURCE_SUBRESOURCES or \
            any(sub in info.subresources or ANY_SUBRESOURCE in info.subresources for info in found):
        return None
    return f"{base} has no subresource {sub!r} in API group {where}"


def _plural_hint(groups: frozenset[str], base: str) -> str:
    for guess in (base + "s", base + "es", base[:-1] + "ies" if base.endswith("y") else ""):
        if guess and any((g, guess) in RESOURCES for g in groups):
            return f" (did you mean {guess!r}? RBAC resources are plural and lower-case)"
    return ""


def cluster_scoped_in(groups: frozenset[str], resource: str, verbs: frozenset[str] = frozenset()) -> bool:
    """Whether the rule entry ``resource`` names, in every listed group where it exists, a cluster-scoped resource.

    Such an entry grants nothing through a Role or a RoleBinding, unless one of ``verbs`` is
    authorised with a namespace there (``bind`` on clusterroles; get/update/patch/delete on
    namespaces; ``*`` includes them). ``*`` and unknown groups give False (they may name
    namespaced resources).
    """
    if not groups or "*" in groups or resource == "*" or any(g not in KNOWN_GROUPS for g in groups):
        return False
    base = resource.partition("/")[0]
    found = [RESOURCES[(g, base)] for g in groups if (g, base) in RESOURCES]
    if any(_namespaced_verbs(info.group, base, verbs) for info in found):
        return False
    return bool(found) and all(not info.namespaced for info in found)


def _namespaced_verbs(group: str, base: str, verbs: frozenset[str]) -> frozenset[str]:
    allowed = NAMESPACED_VERBS.get((group, base), frozenset())
    return allowed if "*" in verbs else verbs & allowed


def cluster_only_verbs(groups: frozenset[str], resource: str, verbs: frozenset[str]) -> frozenset[str]:
    """Of ``verbs`` (no ``*``), those a namespaced grant of ``resource`` never authorises, when others it does.

    ``namespaces`` with get and list in a Role: list is returned (only get applies, to the Namespace
    of the Role). Empty when the entry is wholly effective, wholly ineffective or not judged.
    """
    if "*" in verbs or not groups or "*" in groups or any(g not in KNOWN_GROUPS for g in groups):
        return frozenset()
    base = resource.partition("/")[0]
    found = [RESOURCES[(g, base)] for g in groups if (g, base) in RESOURCES]
    if not found or any(info.namespaced for info in found):
        return frozenset()
    allowed = frozenset().union(*(_namespaced_verbs(info.group, base, verbs) for info in found))
    return verbs - allowed if allowed else frozenset()


def ineffective_part(groups: frozenset[str], entry: str, verbs: frozenset[str], resource_names: frozenset[str],
                     namespaces: frozenset[str] | None) -> tuple[frozenset[str], frozenset[str], str] | None:
    """The part of one rule entry (``nodes/proxy``) that authorises nothing, or None when it is all effective.

    ``namespaces`` None: the rule applies cluster-wide; otherwise the namespaces it is granted in (a
    Role's own, or those of the RoleBindings of a ClusterRole). Returns (dead verbs, dead resourceNames,
    why): dead verbs equal to ``verbs`` with no dead names is the whole entry; dead names alone mean
    the entry applies to the other names only. A ``namespaces`` request's namespace is the Namespace's
    own name (requestinfo.go), so in a namespace ``app`` only the name ``app`` can match. Entries outside
    the table are not judged (None).
    """
    why = missing_reason(groups, entry)
    if why:
        return verbs, frozenset(), why
    if namespaces is None:
        return None
    if cluster_scoped_in(groups, entry, verbs):
        return verbs, frozenset(), "cluster-scoped, and a namespaced grant never authorises a request without a " \
            "namespace"
    named = entry.partition("/")[0] == "namespaces" and "" in groups and bool(resource_names) and \
        cluster_scoped_in(groups, entry, frozenset())
    dead_names = resource_names - namespaces if named else frozenset()
    if named and dead_names == resource_names:
        return verbs, frozenset(), f"names {','.join(sorted(resource_names))}: a Namespace request in a " \
            "namespaced grant can only name the grant's own namespace " \
            f"({','.join(sorted(namespaces))}), whose name is the request's namespace"
    dead = cluster_only_verbs(groups, entry, verbs)
    if dead:
        return dead, frozenset(), "cluster-wide requests, which a namespaced grant never authorises (the other " \
            "verbs apply to the object of the grant's own namespace only)"
    if dead_names:
        return frozenset(), dead_names, f"names {','.join(sorted(dead_names))}: only the grant's own " \
            f"namespace ({','.join(sorted(namespaces))}) can be named in a namespaced grant"
    return None


def ineffective_entries(groups: frozenset[str], resources: frozenset[str], non_resource_urls: frozenset[str],
                        namespaces: frozenset[str] | None, verbs: frozenset[str] = frozenset(),
                        resource_names: frozenset[str] = frozenset()) -> list[str]:
    """Why parts of one PolicyRule authorise nothing, one phrase per part (empty: all effective).

    ``namespaces`` None: the rule applies cluster-wide; otherwise the namespaces it is granted in (a
    Role, or a ClusterRole bound only by RoleBindings). Entries outside the table are not judged.
    """
    reasons = []
    for entry in sorted(resources):
        part = ineffective_part(groups, entry, verbs, resource_names, namespaces)
        if part is None:
            continue
        dead, _, why = part
        if dead and dead != verbs:
            reasons.append(f"{entry} with verbs {','.join(sorted(dead))}: {why}")
        else:
            reasons.append(f"{entry}: {why}")
    if non_resource_urls and namespaces is not None:
        reasons.append(f"nonResourceURLs {','.join(sorted(non_resource_urls))}: only a ClusterRole bound by a "
                       "ClusterRoleBinding grants them (the API server rejects them in a Role)")
    return reasons
