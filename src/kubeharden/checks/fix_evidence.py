"""Safety by evidence: whether a container's own manifest shows that a fix cannot break it.

A catalogue ``fix:`` that names an evidence rule (``evidence:``, :data:`kubeharden.model.controls.FIX_EVIDENCE`)
is safe on a container exactly when its rule holds there; :func:`weigh` returns the fix with ``safe`` and
``because`` (the evidence found, or the evidence missing) set. ``kubeharden fix`` and the mutating
webhook both read ``safe`` from the finding, so they apply the same rule (docs/fix.md).

The Kubernetes facts behind the rules:

- A process whose user is not root has no effective capabilities unless it executes a file that carries
  file capabilities or is set-user-ID root (capabilities(7), "Capabilities and execution of programs by
  root"; container runtimes give non-root processes no ambient capabilities). For a non-root container,
  ``capabilities.drop: [ALL]`` only takes away what such a binary could gain; an explicit ``add`` stays.
- ``allowPrivilegeEscalation: false`` sets the process's ``no_new_privs`` flag, which only stops
  set-user-ID / set-group-ID bits and file capabilities from granting privileges at ``execve``
  (Kubernetes docs, "Configure a Security Context for a Pod or Container"; the kernel's
  no_new_privs documentation). The API server refuses ``false`` beside ``privileged: true`` or an added
  ``CAP_SYS_ADMIN`` (Kubernetes API reference, SecurityContext.allowPrivilegeEscalation), so those
  containers are never fixed this way.
- A non-root process binds a port below 1024 only with CAP_NET_BIND_SERVICE (ip(7)), which it can get only
  from a file capability on its binary: a container that declares such a port (``containerPort``) loses it
  to either fix, unless the pod's sysctl ``net.ipv4.ip_unprivileged_port_start`` lowers the limit (or, for
  the capability drop, it adds NET_BIND_SERVICE explicitly).
- Whether a container runs as root: ``runAsUser`` (the container's, else the pod's) names the UID; unset,
  ``runAsNonRoot: true`` makes the kubelet start it only when the image's user is a non-zero UID
  (Kubernetes API reference, SecurityContext.runAsNonRoot). ``runAsUser: 0`` is root whatever
  ``runAsNonRoot`` says (the kubelet then refuses to start it).
- ``imagePullPolicy: Always`` has no evidence rule: set or defaulted (``IfNotPresent`` for a tag other than
  ``latest``), the policy may be what runs images loaded into the nodes (kind load, air-gapped imports,
  pre-pulled images: Kubernetes "Images"), and no manifest shows that every node reaches the registry.
- RBAC is additive: that a ServiceAccount is granted nothing shows only in every binding of its cluster
  (:func:`bindings_incomplete`, :func:`token_unused`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from kubeharden.analysis.rbac import RbacModel, Subject
from kubeharden.checks.rbac import HARMLESS_ROLES, harmless_role
from kubeharden.model.cluster import INFO_API_VERSION, INFO_KIND
from kubeharden.model.controls import FIX_EVIDENCE
from kubeharden.model.facts import capability_name
from kubeharden.model.findings import Fix
from kubeharden.model.inventory import TOKEN_MOUNT_PATH, Inventory, PodRecord
from kubeharden.model.objects import as_list
from kubeharden.model.pods import ContainerView, Setting


def _where(setting: Setting) -> str:
    return "on the container" if setting.level == "container" else "on the pod"


def non_root(c: ContainerView) -> tuple[bool, str]:
    """(True, the evidence) when the container runs as a non-root user, else (False, what is missing)."""
    user = c.effective("runAsUser")
    if user.level != "unset":
        if isinstance(user.value, int) and not isinstance(user.value, bool):
            if user.value != 0:
                return True, f"it runs as UID {user.value} (runAsUser {_where(user)})"
            return False, f"it runs as root (runAsUser: 0 {_where(user)})"
        return False, f"runAsUser is {user.value!r}, not a UID"
    flag = c.effective("runAsNonRoot")
    if flag.value is True:
        return True, f"runAsNonRoot: true {_where(flag)} (the kubelet starts it only as a non-zero UID)"
    return False, ("nothing shows it runs as a non-root user (no runAsNonRoot: true and no non-zero runAsUser "
                   "on the container or pod): as root it may rely on the capabilities or setuid binaries it loses")


#: The first port a process may bind without CAP_NET_BIND_SERVICE, unless the pod's sysctl
#: ``net.ipv4.ip_unprivileged_port_start`` (a safe, namespaced sysctl: "Using sysctls in a Kubernetes
#: Cluster") lowers it; ip(7).
PRIVILEGED_PORTS_END = 1024
UNPRIVILEGED_PORT_START = "net.ipv4.ip_unprivileged_port_start"


def _added(c: ContainerView) -> list[str]:
    caps = c.sc.get("capabilities")
    adds = caps.get("add") if isinstance(caps, dict) else None
    return [capability_name(a) for a in adds] if isinstance(adds, list) else []


#: The probes the kubelet sends to a container ("Configure Liveness, Readiness and Startup Probes"), and the
#: handlers that name the container's port (``httpGet``, ``tcpSocket``, ``grpc``; Kubernetes API reference, Probe).
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
PROBE_HANDLERS = ("httpGet", "tcpSocket", "grpc")
#: Lifecycle hooks whose ``httpGet`` / ``tcpSocket`` handler the kubelet sends to the container's port
#: (Kubernetes API reference, Lifecycle and LifecycleHandler).
LIFECYCLE_HOOKS = ("postStart", "preStop")


def listened_ports(c: ContainerView) -> list[int]:
    """The port numbers the manifest shows the container listens on: its ``ports[].containerPort`` (informational
    for the API, but written by whoever knows the program) and the ports its own probes and lifecycle hooks
    (postStart, preStop) connect to (the kubelet connects to the pod's IP there, so the program must listen on
    them). A named port resolves through ``ports[].name``; a handler with its own ``host`` connects elsewhere
    and is left out."""
    named: dict[str, int] = {}
    out: list[int] = []
    for p in as_list(c.raw.get("ports")):
        if isinstance(p, dict) and isinstance(p.get("containerPort"), int) and not isinstance(p["containerPort"], bool):
            out.append(p["containerPort"])
            if isinstance(p.get("name"), str):
                named[p["name"]] = p["containerPort"]
    lifecycle = c.raw.get("lifecycle")
    hooks = [lifecycle.get(h) for h in LIFECYCLE_HOOKS] if isinstance(lifecycle, dict) else []
    for spec in [c.raw.get(probe) for probe in PROBES] + hooks:
        for handler in PROBE_HANDLERS:
            action = spec.get(handler) if isinstance(spec, dict) else None
            if not isinstance(action, dict) or action.get("host"):
                continue
            port = action.get("port")
            if isinstance(port, str):
                port = int(port) if port.isdigit() else named.get(port)
            if isinstance(port, int) and not isinstance(port, bool):
                out.append(port)
    return out


def privileged_port(c: ContainerView) -> int | None:
    """The lowest port below 1024 the container listens on (:func:`listened_ports`: declared or probed) and may
    bind only with CAP_NET_BIND_SERVICE, else None (none, or the pod's sysctl lets any process bind it).

    A non-root process gets that capability only from a file capability on its binary (``setcap
    cap_net_bind_service``), which both ``no_new_privs`` and dropping it from the bounding set take away.
    """
    ports = listened_ports(c)
    low = [p for p in ports if 0 < p < PRIVILEGED_PORTS_END]
    if not low:
        return None
    start = PRIVILEGED_PORTS_END
    sysctls = c.pod.sc.get("sysctls")
    for sysctl in sysctls if isinstance(sysctls, list) else []:
        if isinstance(sysctl, dict) and sysctl.get("name") == UNPRIVILEGED_PORT_START:
            try:
                start = int(str(sysctl.get("value")))
            except ValueError:
                pass
    return min(low) if min(low) < start else None


def non_root_keeping_ports(c: ContainerView) -> tuple[bool, str]:
    """Non-root (:func:`non_root`) and binding no privileged port it would lose with the capabilities."""
    ok, why = non_root(c)
    if not ok:
        return ok, why
    port = privileged_port(c)
    if port is not None and "NET_BIND_SERVICE" not in _added(c):
        return False, (f"it listens on port {port} (its ports or probes), which a non-root process binds only "
                       "with CAP_NET_BIND_SERVICE "
                       "from a file capability on its binary; add NET_BIND_SERVICE to keep it")
    return ok, why


def non_root_unprivileged(c: ContainerView) -> tuple[bool, str]:
    """Non-root (:func:`non_root`), not privileged, no added ``CAP_SYS_ADMIN``, and no privileged port
    (no_new_privs ignores the file capability that would let it bind one)."""
    if c.sc.get("privileged") is True:
        return False, "the container is privileged"
    if any(cap in ("SYS_ADMIN", "ALL") for cap in _added(c)):
        return False, "the container adds CAP_SYS_ADMIN"
    ok, why = non_root(c)
    if ok and _added(c):
        # a non-root process holds an added capability only through a file capability on its binary, which
        # no_new_privs ignores (capabilities(7); the kernel's no_new_privs documentation)
        return False, (f"it adds {', '.join(_added(c))}, which a non-root process gets only from a file capability "
                       "on its binary, and no_new_privs ignores file capabilities")
    if not ok:
        return ok, why
    port = privileged_port(c)
    if port is not None:
        return False, (f"it listens on port {port} (its ports or probes), which a non-root process binds only "
                       "with CAP_NET_BIND_SERVICE "
                       "from a file capability on its binary, and no_new_privs ignores file capabilities")
    return ok, f"{why}, is not privileged and adds no capability"


#: evidence name (catalogue ``fix: evidence:``) -> its rule
RULES: dict[str, Callable[[ContainerView], tuple[bool, str]]] = {
    "non-root": non_root_keeping_ports,
    "non-root-unprivileged": non_root_unprivileged,
}
#: Evidence names a check decides itself when it builds the violation's fix (it needs the inventory).
CHECK_DECIDED = frozenset({"service-account-unbound"})
assert set(RULES) | CHECK_DECIDED == set(FIX_EVIDENCE), "every evidence name of the catalogue has its rule"

#: What the safe fixes of each rule take away, said once for the ``because`` of a safe fix.
_SAFE_BECAUSE = {
    "non-root": "a non-root process holds no capabilities unless a setuid or file-capability binary grants "
                "them (capabilities(7)), and explicit adds are kept",
    "non-root-unprivileged": "no_new_privs only stops setuid and file-capability binaries from raising "
                             "privileges (Kubernetes \"Configure a Security Context\")",
}


def weigh(evidence: str, fix: Fix, unit: object) -> Fix:
    """``fix`` with ``safe`` and ``because`` decided by evidence rule ``evidence`` on ``unit``.

    ``unit`` is the container the finding is about; any other unit (a pod, an object) shows no
    evidence, so the fix stays unsafe, as does a fix whose check should have decided
    (:data:`CHECK_DECIDED`) but did not. Raises KeyError for an unknown evidence name (the catalogue
    loader refuses those).
    """
    if evidence in CHECK_DECIDED:
        return dataclasses.replace(fix, safe=False, because=fix.because or "not safe: no evidence was read")
    rule = RULES[evidence]
    if not isinstance(unit, ContainerView):
        return dataclasses.replace(fix, safe=False, because="no container to read evidence from")
    try:
        ok, why = rule(unit)
    except Exception as exc:  # an input nobody foresaw: no evidence, never a crash (the finding stays)
        return dataclasses.replace(fix, safe=False, because=f"not safe: its evidence could not be read "
                                                            f"({type(exc).__name__})")
    if ok:
        return dataclasses.replace(fix, safe=True, because=f"safe: {why}; {_SAFE_BECAUSE[evidence]}")
    return dataclasses.replace(fix, safe=False, because=f"not safe: {why}")


# -- the ServiceAccount token (KH-POD-024) ---------------------------------------------------------

#: The RBAC kinds a listing must hold whole before "no binding grants it anything" is evidence.
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
#: The sources whose ClusterInfo object records how a live cluster was listed (sources/cluster.py, snapshot.py).
LISTING_SOURCES = ("cluster", "snapshot")
#: A pod annotation that makes a Vault agent log in with the pod's mounted token (Vault's Kubernetes auth
#: method has Vault, not the pod, call TokenReview, so the pod's account needs no RBAC grant to use it).
VAULT_INJECT = "vault.hashicorp.com/agent-inject"


def bindings_incomplete(inventory: Inventory) -> str | None:
    """Why the input may not hold every RoleBinding and ClusterRoleBinding of its cluster, or None when it does.

    RBAC permissions are purely additive and a RoleBinding in any namespace may name a ServiceAccount of
    another ("Using RBAC Authorization": "there are no deny rules"; RoleBinding subjects), so that an account is
    granted nothing can only be read from *all* the bindings of the cluster. The input holds them when it holds
    a ClusterInfo object (kubeharden.io/v1) from a live cluster scan or its snapshot (:data:`LISTING_SOURCES`),
    each such listing covered every namespace (its ``scope`` names no ``-n`` and no ``--exclude-namespace``),
    none of :data:`RBAC_KINDS` was refused or stopped part way (``inventory.unlisted``) and no part of the input
    failed to be read (``inventory.input_errors``: a snapshot cut short loses objects). A manifest folder never
    does: the account's bindings may live in another repository or only in the cluster.
    """
    infos = [o for o in inventory.of_kind(INFO_KIND)
             if o.ref.api_version == INFO_API_VERSION and o.origin.source in LISTING_SOURCES]
    if not infos:
        return ("the input is not a listing of a whole cluster, so the account's bindings may live outside it "
                "(another repository, the cluster): RBAC is additive")
    for info in infos:
        scope = info.raw.get("scope")
        if not isinstance(scope, dict):
            return f"the listing of {info.name or 'the cluster'} does not record which namespaces it covered"
        only, excluded = as_list(scope.get("namespaces")), as_list(scope.get("excluded"))
        if only or excluded:
            how = (f"only namespaces {', '.join(map(str, only))}" if only
                   else f"without namespaces {', '.join(map(str, excluded))}")
            return f"the cluster was listed {how}, and a RoleBinding elsewhere may grant it"
    refused = sorted(k for k in RBAC_KINDS if k in inventory.unlisted)
    if refused:
        return f"{', '.join(refused)} could not be listed whole (refused or stopped part way)"
    if inventory.input_errors:
        return f"part of the input could not be read ({inventory.input_errors} error(s)), so a binding may be missing"
    return None


def token_unused(pod: PodRecord, inventory: Inventory, model: Callable[[], RbacModel],
                 accounts: dict[tuple[str | None, str], tuple[bool, str]]) -> tuple[bool, str]:
    """Whether the input shows that no program of ``pod`` uses its mounted API token, with why (not).

    Safe only when all hold: the pod does not ask for the token itself, nothing in the pod reads the token (a
    Vault agent, a command or variable naming the token's path), its ServiceAccount is in the input, no binding
    of the input grants the account (or its groups ``system:serviceaccounts``, ``system:serviceaccounts:NS``,
    ``system:authenticated``) anything beyond the discovery roles every authenticated user holds, and the
    input holds every binding of the cluster (:func:`bindings_incomplete`: a complete live-cluster listing or
    its snapshot, alone or beside the manifests being fixed). A manifest folder alone is never evidence that
    an account is granted nothing: RBAC is additive and its bindings may live elsewhere. No manifest-side rule
    can stand in: a binding in the input that names the account proves a grant (unsafe), never the absence of
    others. ``model`` builds the RBAC model on demand.
    Kubernetes docs: "Configure Service Accounts for Pods" (opt out of API credential automounting),
    "Using RBAC Authorization" (default roles: system:discovery, system:basic-user, system:public-info-viewer).
    What the evidence cannot see: authorizers beside RBAC (a Webhook or ABAC authorizer) and services other than
    the API server that accept the token (they check it by TokenReview; Vault is recognised by its annotation).

    ``accounts``: the answers of the account part, by (namespace, ServiceAccount name), kept by the caller
    for the pods of one inventory (pods share accounts; the part reads every binding).
    """
    account = f"ServiceAccount {pod.namespace or 'default'}/{pod.service_account}"
    if pod.automount is True:
        return False, "not safe: the pod asks for the token itself (automountServiceAccountToken: true)"
    if str(pod.annotations.get(VAULT_INJECT, "")).lower() == "true":
        return False, f"not safe: {VAULT_INJECT} is true: the Vault agent logs in with the pod's token"
    if pod.token_reader is not None:
        return False, f"not safe: container {pod.token_reader} names the token's path {TOKEN_MOUNT_PATH}"
    if inventory.service_account(pod.namespace, pod.service_account) is None:
        return False, f"not safe: {account} is not in the input, so what it is granted is unknown"
    key = (pod.namespace, pod.service_account)
    found = accounts.get(key)
    if found is None:
        found = accounts[key] = _account_unused(pod, account, inventory, model())
    return found


def _account_unused(pod: PodRecord, account: str, inventory: Inventory, rbac: RbacModel) -> tuple[bool, str]:
    """The account part of :func:`token_unused`: nothing the input grants ``pod``'s ServiceAccount (named
    ``account``) but discovery, and the input holds every binding. Depends on the pod's namespace and
    ServiceAccount only."""
    subject = Subject("ServiceAccount", pod.service_account, rbac.namespace_of(pod))
    names = {subject, *(Subject("Group", g) for g in subject.groups())}
    for grant in rbac.grants_of(subject):
        if not harmless_role(grant.role):
            return False, f"not safe: {grant.via()} grants {account} {grant.rule.describe()}"
    for binding, role_name, _ in rbac.unassessed_of(subject):
        if role_name not in HARMLESS_ROLES:
            return False, (f"not safe: {binding.kind}/{binding.name} grants {account} {role_name}, "
                           "whose rules are not known")
    for binding, role, subjects in rbac.bindings:
        if role is None and names.intersection(subjects):
            return False, f"not safe: {binding.kind}/{binding.name} names {account}; its role is not in the input"
    missing = bindings_incomplete(inventory)
    if missing is not None:
        return False, (f"not safe: no binding in the input grants {account} anything, but {missing}; scan the "
                       "cluster (cluster:// or its snapshot) beside the manifests for evidence, or pass --unsafe if "
                       "no program of the pod calls the API with its token")
    return True, (f"safe: {account} is in the input, which lists every binding of the cluster, none grants it "
                  "anything beyond discovery, and nothing in the pod reads the token")
