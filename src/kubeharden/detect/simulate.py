"""Realistic audit traffic: one event builder, and a generator of cluster noise with attacks mixed in.

:func:`make_event` writes events the way the API server does (``audit.k8s.io/v1`` Event with
``auditID``, ``stage``, ``requestURI``, ``user``, ``sourceIPs``, ``userAgent``, ``objectRef``,
``responseStatus``, the two timestamps and the authorization / Pod Security annotations), from a
few readable arguments. Rule examples in the YAML pack, the tests and the benchmarks all use it.

:func:`traffic` produces a busy cluster's log: kubelets renewing leases and patching node
status, controllers watching and updating, the scheduler binding pods, CI deploying, people
running kubectl, and (optionally) an attack script injected at random points.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)  # a Monday morning, working hours

_ID_RNG = random.Random()
_CORE = {"pods", "services", "configmaps", "secrets", "serviceaccounts", "namespaces", "nodes", "events",
         "persistentvolumes", "persistentvolumeclaims", "endpoints", "replicationcontrollers", "podtemplates"}
_VERB_METHOD = {"create": "POST", "update": "PUT", "patch": "PATCH", "delete": "DELETE", "deletecollection": "DELETE",
                "get": "GET", "list": "GET", "watch": "GET"}


def _group_of(resource: str) -> str:
    from kubeharden.detect.rules import RESOURCE_GROUPS
    return RESOURCE_GROUPS.get(resource, "" if resource in _CORE else "example.com")


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_event(verb: str = "get", resource: str | None = "pods", name: str | None = None,
               namespace: str | None = "default", subresource: str | None = None, apiGroup: str | None = None,
               user: str = "alice@example.com", groups: list[str] | None = None, sourceIP: str = "203.0.113.10",
               userAgent: str = "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350", code: int | None = None,
               decision: str | None = None, reason: str | None = None, body: Any = None, response: Any = None,
               stage: str = "ResponseComplete", at: float = 0.0, uri: str | None = None,
               annotations: dict[str, str] | None = None, impersonate: str | None = None,
               impersonateGroups: list[str] | None = None, sourceIPs: list[str] | None = None,
               auditID: str | None = None, level: str | None = None, start: datetime = T0) -> dict[str, Any]:
    """One audit event as the API server writes it. ``at`` is seconds after ``start``."""
    if groups is None:
        if user == "system:anonymous":
            groups = ["system:unauthenticated"]
        elif user.startswith("system:serviceaccount:"):
            ns = user.split(":")[2]
            groups = ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"]
        elif user.startswith("system:node:"):
            groups = ["system:nodes", "system:authenticated"]
        else:
            groups = ["system:authenticated"]
    if code is None:
        code = 201 if verb == "create" and not subresource else 200
        if subresource in ("exec", "attach", "portforward"):
            code = 101
    if decision is None:
        decision = "allow" if code not in (401, 403) else "forbid"
    when = start + timedelta(seconds=at)
    received = when - timedelta(milliseconds=3)
    group = apiGroup if apiGroup is not None else (_group_of(resource) if resource else "")
    event: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1",
        "level": level or ("RequestResponse" if body is not None or response is not None else "Metadata"),
        "auditID": auditID or str(uuid.UUID(int=_ID_RNG.getrandbits(128), version=4)),
        "stage": stage,
        "requestURI": uri or _uri(verb, group, resource, namespace, name, subresource),
        "verb": verb,
        "user": {"username": user, "groups": groups},
        "sourceIPs": sourceIPs or [sourceIP],
        "userAgent": userAgent,
    }
    if impersonate:
        event["impersonatedUser"] = {"username": impersonate, "groups": impersonateGroups or []}
    if resource:
        ref: dict[str, Any] = {"resource": resource}
        if namespace and resource not in ("nodes", "namespaces", "clusterroles", "clusterrolebindings",
                                          "persistentvolumes", "mutatingwebhookconfigurations",
                                          "validatingwebhookconfigurations", "certificatesigningrequests",
                                          "validatingadmissionpolicies", "validatingadmissionpolicybindings",
                                          "selfsubjectrulesreviews", "selfsubjectaccessreviews", "clusterpolicies"):
            ref["namespace"] = namespace
        if name:
            ref["name"] = name
        ref["apiGroup"] = group
        ref["apiVersion"] = "v1"
        if subresource:
            ref["subresource"] = subresource
        event["objectRef"] = ref
    event["responseStatus"] = {"metadata": {}, "code": code}
    if code >= 400:
        event["responseStatus"].update(status="Failure", reason="Forbidden" if code == 403 else "Unauthorized")
    if body is not None:
        event["requestObject"] = body
    if response is not None:
        event["responseObject"] = response
    event["requestReceivedTimestamp"] = _stamp(received)
    event["stageTimestamp"] = _stamp(when)
    ann = {"authorization.k8s.io/decision": decision,
           "authorization.k8s.io/reason": reason if reason is not None else (
               'RBAC: allowed by ClusterRoleBinding "admins" of ClusterRole "cluster-admin" to Group "admins"'
               if decision == "allow" else "")}
    if code == 401:
        ann = {}
    ann.update(annotations or {})
    if ann:
        event["annotations"] = ann
    return event


def _uri(verb: str, group: str, resource: str | None, namespace: str | None, name: str | None,
         subresource: str | None) -> str:
    if not resource:
        return "/version"
    base = "/api/v1" if group == "" else f"/apis/{group}/v1"
    if namespace and resource not in ("nodes", "namespaces") and not resource.startswith("cluster"):
        base += f"/namespaces/{namespace}"
    base += f"/{resource}"
    if name and verb not in ("create", "list", "watch") or (name and subresource):
        base += f"/{name}"
    if subresource:
        base += f"/{subresource}"
    if verb == "watch":
        base += "?watch=true"
    return base


def pod(name: str = "web", image: str = "registry.example.com/web:1.4", namespace: str = "default",
        spec: dict[str, Any] | None = None, container: dict[str, Any] | None = None,
        service_account: str | None = None) -> dict[str, Any]:
    """A Pod request body; ``spec`` and ``container`` are merged into the defaults."""
    c = {"name": "main", "image": image, **(container or {})}
    s: dict[str, Any] = {"containers": [c], **(spec or {})}
    if service_account:
        s["serviceAccountName"] = service_account
    return {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": namespace}, "spec": s}


# --------------------------------------------------------------------------------------------------------------
# Background traffic

_NODES = [f"ip-10-0-{i // 250}-{i % 250 + 4}.ec2.internal" for i in range(12)]
_NAMESPACES = ["shop", "payments", "search", "monitoring", "default"]


def _noise(rng: random.Random, at: float) -> dict[str, Any]:
    """One event of ordinary cluster life, drawn with realistic weights."""
    r = rng.random()
    n = rng.randrange(len(_NODES))
    node = _NODES[n]
    node_ip = f"10.0.{n // 250}.{n % 250 + 4}"
    ns = rng.choice(_NAMESPACES)
    kubelet_ua = "kubelet/v1.30.2 (linux/amd64) kubernetes/3968350"
    if r < 0.30:  # lease renewals
        return make_event("update", "leases", node, "kube-node-lease", apiGroup="coordination.k8s.io",
                          user=f"system:node:{node}", sourceIP=node_ip, userAgent=kubelet_ua, at=at)
    if r < 0.40:
        return make_event("patch", "nodes", node, None, subresource="status", user=f"system:node:{node}",
                          sourceIP=node_ip, userAgent=kubelet_ua, at=at,
                          body={"status": {"conditions": [{"type": "Ready", "status": "True"},
                                                          {"type": "DiskPressure", "status": "False"}]}})
    if r < 0.55:
        return make_event("get", "secrets", f"app-token-{rng.randint(1, 40)}", ns, user=f"system:node:{node}",
                          sourceIP=node_ip, userAgent=kubelet_ua, at=at)
    if r < 0.70:
        sa = rng.choice(["replicaset-controller", "deployment-controller", "endpointslice-controller",
                         "job-controller", "namespace-controller"])
        verb = rng.choice(["list", "watch", "get", "update"])
        res = rng.choice(["pods", "replicasets", "endpointslices", "deployments"])
        return make_event(verb, res, None if verb in ("list", "watch") else f"obj-{rng.randint(1, 500)}", ns,
                          user=f"system:serviceaccount:kube-system:{sa}", sourceIP="10.0.0.2",
                          userAgent=f"kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/3968350/{sa}", at=at)
    if r < 0.78:
        return make_event("create", "pods", f"web-{rng.randint(1, 9999)}", ns, subresource="binding",
                          user="system:kube-scheduler", sourceIP="10.0.0.2",
                          userAgent="kube-scheduler/v1.30.2 (linux/amd64) kubernetes/3968350", at=at)
    if r < 0.84:
        p = pod(f"web-{rng.randint(1, 99999)}", namespace=ns,
                container={"securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False}})
        return make_event("create", "pods", None, ns, user="system:serviceaccount:kube-system:replicaset-controller",
                          sourceIP="10.0.0.2", body=p, at=at,
                          annotations={"pod-security.kubernetes.io/enforce-policy": "baseline:latest"},
                          userAgent="kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/3968350/system:"
                                    "serviceaccount:kube-system:replicaset-controller")
    if r < 0.86:
        return make_event(rng.choice(["get", "list", "watch"]), rng.choice(["pods", "services", "configmaps"]),
                          None, ns, user="system:serviceaccount:monitoring:prometheus",
                          sourceIP=f"10.244.{rng.randint(0, 1)}.17",
                          userAgent="prometheus/2.51.0", at=at)
    if r < 0.93:
        user = rng.choice(["alice@example.com", "bob@example.com", "carol@example.com"])
        return make_event(rng.choice(["get", "list"]), rng.choice(["pods", "deployments", "services", "events"]),
                          None, ns, user=user, groups=["system:authenticated", "developers"],
                          sourceIP=f"198.51.100.{rng.randint(10, 12)}", at=at)
    if r < 0.97:
        body = {"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "web", "namespace": ns},
                "spec": {"replicas": 3, "template": {"spec": {"containers": [
                    {"name": "web", "image": f"registry.example.com/web:1.{rng.randint(1, 40)}"}]}}}}
        return make_event("patch", "deployments", "web", ns, user="system:serviceaccount:ci:deployer",
                          sourceIP="10.0.9.20", userAgent="argocd-application-controller/v2.11.0", body=body, at=at)
    return make_event("get", None, None, None, user="system:anonymous", uri="/healthz", sourceIP="10.0.0.1",
                      userAgent="kube-probe/1.30", at=at)


def _attacks(at: float) -> list[dict[str, Any]]:
    """A short intrusion: discovery, secret theft, a privileged hostPath pod, RBAC persistence."""
    ip = "192.0.2.66"
    ua = "python-requests/2.31.0"
    sa = "system:serviceaccount:shop:web"
    events = [make_event("create", "selfsubjectrulesreviews", None, None, user=sa, sourceIP="10.244.3.7",
                         userAgent=ua, at=at)]
    events += [make_event("get", "secrets", f"db-{i}", "payments", user=sa, sourceIP="10.244.3.7", userAgent=ua,
                          code=403, at=at + 1 + i) for i in range(6)]
    events.append(make_event("list", "secrets", None, "kube-system", user="mallory@example.com", sourceIP=ip,
                             userAgent=ua, at=at + 10))
    evil = pod("debug", "docker.io/library/alpine:3.19", "kube-system",
               spec={"hostPID": True, "volumes": [{"name": "host", "hostPath": {"path": "/"}}]},
               container={"securityContext": {"privileged": True}})
    events.append(make_event("create", "pods", None, "kube-system", user="mallory@example.com", sourceIP=ip,
                             userAgent=ua, body=evil, at=at + 20))
    events.append(make_event("create", "pods", "debug", "kube-system", subresource="exec", user="mallory@example.com",
                             sourceIP=ip, userAgent=ua, at=at + 30,
                             uri="/api/v1/namespaces/kube-system/pods/debug/exec?command=sh&command=-c&command="
                                 "curl%20http%3A%2F%2F169.254.169.254%2Flatest%2Fmeta-data%2F&container=main"))
    binding = {"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
               "metadata": {"name": "backup-admin"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
               "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": "shop"}]}
    events.append(make_event("create", "clusterrolebindings", None, None, user="mallory@example.com", sourceIP=ip,
                             userAgent=ua, body=binding, at=at + 40))
    return events


def traffic(count: int, seed: int = 7, attacks: int = 1, rate: float = 200.0,
            bodies: bool = False) -> Iterator[dict[str, Any]]:
    """``count`` background events at about ``rate`` per second, plus ``attacks`` intrusions.

    ``bodies``: record request and response bodies as an API server running the Kubernetes
    documentation's example audit policy does (see :mod:`kubeharden.detect.simulate_bodies`).
    """
    rng = random.Random(seed)
    _ID_RNG.seed(seed)
    dress = _dresser(seed, bodies)
    marks = sorted(rng.randrange(max(1, count)) for _ in range(attacks))
    pending: list[dict[str, Any]] = []
    for i in range(count):
        at = 4000 + i / rate  # after an hour-long baseline
        if marks and i == marks[0]:
            marks.pop(0)
            pending.extend(_attacks(at))
        while pending and pending[0]["stageTimestamp"] <= _stamp(T0 + timedelta(seconds=at)):
            yield dress(pending.pop(0))
        yield dress(_noise(rng, at))
    yield from map(dress, pending)


def baseline(seconds: float = 3600, rate: float = 2.0, seed: int = 3, bodies: bool = False) -> Iterator[dict[str, Any]]:
    """Quiet traffic for the first hour, so first-seen rules learn what normal looks like."""
    rng = random.Random(seed)
    dress = _dresser(seed, bodies)
    for i in range(int(seconds * rate)):
        yield dress(_noise(rng, i / rate))


def _dresser(seed: int, bodies: bool) -> Any:
    if not bodies:
        return lambda event: event
    from kubeharden.detect.simulate_bodies import record_bodies
    body_rng = random.Random(seed + 1)  # its own generator: the events are the same with or without bodies
    return lambda event: record_bodies(event, body_rng)
