"""Field paths over audit events, compiled once into small getter functions.

A path is dotted keys with optional brackets: ``objectRef.resource``,
``annotations["authorization.k8s.io/decision"]``, ``sourceIPs[0]``,
``requestObject.spec.containers[*].securityContext.privileged`` (``[*]`` fans out over a
list or the values of a mapping). Short aliases (``verb``, ``resource``, ``user`` …) and
virtual roots that know Kubernetes shapes (``podSpec``, ``container``, ``execCommand`` …)
keep rules readable and make one rule cover a Pod, a Deployment and a CronJob alike.

A getter returns ``MISSING`` when the field is absent. A path with ``[*]`` (or a virtual
root that can yield several values) is "multi": its getter returns a list of the values found.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubeharden.detect.podview import pod_containers, pod_specs, pod_violations
from kubeharden.model.images import parse_image

MISSING: Any = object()

ALIASES: dict[str, str] = {
    "user": "user.username",
    "username": "user.username",
    "groups": "user.groups",
    "uid": "user.uid",
    "resource": "objectRef.resource",
    "subresource": "objectRef.subresource",
    "namespace": "objectRef.namespace",
    "name": "objectRef.name",
    "apiGroup": "objectRef.apiGroup",
    "code": "responseStatus.code",
    "decision": 'annotations["authorization.k8s.io/decision"]',
    "reason": 'annotations["authorization.k8s.io/reason"]',
    "sourceIP": "sourceIPs[0]",
    "impersonatedUser": "impersonatedUser.username",
}

_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_last_containers: tuple[Any, list[dict[str, Any]]] = (None, [])


def containers(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Every container (regular, init, ephemeral) of every pod spec in the request body."""
    global _last_containers
    memo = _last_containers
    if memo[0] is event:
        return memo[1]
    out: list[dict[str, Any]] = []
    for spec in pod_specs(event):
        for key in _CONTAINER_LISTS:
            items = spec.get(key)
            if isinstance(items, list):
                out.extend(c for c in items if isinstance(c, dict))
    _last_containers = (event, out)
    return out


def image_repositories(event: dict[str, Any]) -> list[str]:
    """Each container's image as the runtime resolves it, without tag or digest: ``nginx:1.25`` →
    ``docker.io/library/nginx``, ``registry.example.com/a/b@sha256:…`` → ``registry.example.com/a/b``."""
    return [parse_image(c["image"]).full_name.lower() for c in containers(event) if isinstance(c.get("image"), str)]


def exec_command(event: dict[str, Any]) -> Any:
    """The command of an exec request, words joined with spaces: the URL-decoded ``command=``
    parameters of the request URI (how kubectl sends it), else the ``command`` of the request body.

    The body form is what API servers that log connect requests at level Request record: the
    parameters decoded into a ``PodExecOptions`` object (``requestObject.command``, a list of
    strings; Kubernetes API reference, "PodExecOptions v1 core"), as managed clusters' audit logs show.
    """
    uri = event.get("requestURI")
    if isinstance(uri, str) and "command=" in uri:
        parts = parse_qs(urlsplit(uri).query).get("command")
        if parts:
            return " ".join(parts)
    body = event.get("requestObject")
    command = body.get("command") if isinstance(body, dict) else None
    if isinstance(command, str) and command:
        return command
    if isinstance(command, list):
        words = [w for w in command if isinstance(w, str)]
        if words:
            return " ".join(words)
    return MISSING


def role_key(event: dict[str, Any]) -> Any:
    """Which role an RBAC event is about, as one string: ``ClusterRole/NAME`` or ``Role/NAMESPACE/NAME``.

    For a Role or ClusterRole write, the object itself; for a RoleBinding or ClusterRoleBinding,
    the role of its ``roleRef`` (a RoleBinding's Role is in the binding's own namespace; Kubernetes
    "Using RBAC Authorization", "RoleBinding and ClusterRoleBinding"). Missing without a body.
    """
    ref = event.get("objectRef")
    if not isinstance(ref, dict):
        return MISSING
    resource = ref.get("resource")
    namespace = ref.get("namespace")
    body = event.get("requestObject")
    body = body if isinstance(body, dict) else {}
    if resource in ("roles", "clusterroles"):
        meta = body.get("metadata")
        name = ref.get("name") or (meta.get("name") if isinstance(meta, dict) else None)
        if not isinstance(name, str) or not name:
            return MISSING
        return f"ClusterRole/{name}" if resource == "clusterroles" else f"Role/{namespace}/{name}"
    if resource in ("rolebindings", "clusterrolebindings"):
        role = body.get("roleRef")
        if not isinstance(role, dict) or not isinstance(role.get("name"), str):
            return MISSING
        if role.get("kind") == "Role":
            return f"Role/{namespace}/{role['name']}"
        return f"ClusterRole/{role['name']}"
    return MISSING


def request_path(event: dict[str, Any]) -> Any:
    uri = event.get("requestURI")
    return urlsplit(uri).path if isinstance(uri, str) else MISSING


def hour_utc(event: dict[str, Any]) -> Any:
    ts = event.get("requestReceivedTimestamp") or event.get("stageTimestamp")
    if isinstance(ts, str) and len(ts) >= 13 and ts[10] == "T" and ts[11:13].isdigit():
        return int(ts[11:13])
    return MISSING


def weekday_utc(event: dict[str, Any]) -> Any:
    ts = event.get("requestReceivedTimestamp") or event.get("stageTimestamp")
    if isinstance(ts, str) and len(ts) >= 10:
        try:
            return time.strptime(ts[:10], "%Y-%m-%d").tm_wday  # 0 = Monday
        except ValueError:
            return MISSING
    return MISSING


def user_agent_product(event: dict[str, Any]) -> Any:
    """``kubectl/v1.29.1 (linux/amd64) kubernetes/abc`` → ``kubectl``: the tool, not its version."""
    ua = event.get("userAgent")
    if not isinstance(ua, str):
        return MISSING
    return ua.split("/", 1)[0].split(" ", 1)[0]


@dataclass(frozen=True, slots=True)
class Virtual:
    fn: Callable[[dict[str, Any]], Any]
    multi: bool
    level: str  # the audit level an event needs for this field to be there


VIRTUAL_ROOTS: dict[str, Virtual] = {
    "podSpec": Virtual(pod_specs, True, "Request"),
    "podContainer": Virtual(pod_containers, True, "Request"),
    "podViolation": Virtual(pod_violations, True, "Request"),
    "container": Virtual(containers, True, "Request"),
    "imageRepository": Virtual(image_repositories, True, "Request"),
    "execCommand": Virtual(exec_command, False, "Metadata"),  # the body form needs Request; the URI suffices
    "requestPath": Virtual(request_path, False, "Metadata"),
    "roleKey": Virtual(role_key, False, "Request"),
    "hourUTC": Virtual(hour_utc, False, "Metadata"),
    "weekdayUTC": Virtual(weekday_utc, False, "Metadata"),
    "userAgentProduct": Virtual(user_agent_product, False, "Metadata"),
}

_TOKEN = re.compile(r"""\s*(?:\.?([A-Za-z0-9_\-$@:]+)|\[\s*(\*|-?\d+|"[^"]*"|'[^']*')\s*\])""")
STAR = object()


class PathError(ValueError):
    pass


def parse_path(path: str) -> list[Any]:
    """``a.b["c.d"][0][*]`` → ``["a", "b", "c.d", 0, STAR]``."""
    path = ALIASES.get(path, path)
    out: list[Any] = []
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m or m.end() == pos:
            raise PathError(f"bad field path {path!r} at character {pos + 1}")
        pos = m.end()
        if m.group(1) is not None:
            out.append(m.group(1))
        else:
            tok = m.group(2)
            if tok == "*":
                out.append(STAR)
            elif tok[0] in "\"'":
                out.append(tok[1:-1])
            else:
                out.append(int(tok))
    if not out:
        raise PathError("empty field path")
    return out


@dataclass(frozen=True, slots=True)
class Getter:
    path: str
    fn: Callable[[Any], Any]
    multi: bool
    level: str  # Metadata | Request | RequestResponse


def compile_path(path: str) -> Getter:
    """A getter for ``path``; relative paths (inside ``some``) work on any value, not only events."""
    segments = parse_path(path)
    level = "Metadata"
    head = segments[0]
    root: Virtual | None = VIRTUAL_ROOTS.get(head) if isinstance(head, str) else None
    if root is not None:
        segments = segments[1:]
        level = root.level
    elif head == "requestObject":
        level = "Request"
    elif head == "responseObject":
        level = "RequestResponse"
    multi = STAR in segments or (root is not None and root.multi)
    walk = _compile_segments(segments)
    if root is None:
        fn = walk
    elif root.multi:
        def fn(event: Any, _root: Callable = root.fn, _walk: Callable = walk) -> Any:
            return _gather([], _root(event), _walk)
    else:
        def fn(event: Any, _root: Callable = root.fn, _walk: Callable = walk) -> Any:
            value = _root(event)
            return MISSING if value is MISSING else _walk(value)
    if multi and root is None:
        def fanned(event: Any, _inner: Callable = fn) -> Any:
            value = _inner(event)
            if value is MISSING:
                return []
            return list(value) if isinstance(value, _Fan) else [value]
        return Getter(path, fanned, True, level)
    return Getter(path, fn, multi, level)


class _Fan(list):
    """Values collected by a ``[*]``: kept apart from list-valued fields."""


def _compile_segments(segments: list[Any]) -> Callable[[Any], Any]:
    if STAR not in segments:
        keys = tuple(segments)
        if len(keys) == 1 and isinstance(keys[0], str):
            k0 = keys[0]
            return lambda obj: obj.get(k0, MISSING) if isinstance(obj, dict) else MISSING
        if len(keys) == 2 and all(isinstance(k, str) for k in keys):
            k0, k1 = keys

            def two(obj: Any) -> Any:
                if isinstance(obj, dict):
                    sub = obj.get(k0)
                    if isinstance(sub, dict):
                        return sub.get(k1, MISSING)
                return MISSING
            return two
        return lambda obj: _walk_plain(obj, keys)
    return lambda obj: _walk_star(obj, segments, 0)


def _gather(out: list[Any], items: Any, walk: Callable[[Any], Any]) -> list[Any]:
    """Walk each item; collect what was found, flattening values that a ``[*]`` fanned out."""
    for item in items:
        value = walk(item)
        if value is MISSING:
            continue
        if isinstance(value, _Fan):
            out.extend(value)
        else:
            out.append(value)
    return out


def _walk_plain(obj: Any, keys: tuple[Any, ...]) -> Any:
    for key in keys:
        if isinstance(key, str):
            if not isinstance(obj, dict):
                return MISSING
            obj = obj.get(key, MISSING)
        else:
            if not isinstance(obj, list) or not -len(obj) <= key < len(obj):
                return MISSING
            obj = obj[key]
        if obj is MISSING:
            return MISSING
    return obj


def _walk_star(obj: Any, segments: list[Any], start: int) -> Any:
    for i in range(start, len(segments)):
        key = segments[i]
        if key is STAR:
            if isinstance(obj, list):
                items = obj
            elif isinstance(obj, dict):
                items = list(obj.values())
            else:
                return MISSING
            return _gather(_Fan(), items, lambda item, _i=i + 1: _walk_star(item, segments, _i))  # type: ignore[misc]
        obj = _walk_plain(obj, (key,))
        if obj is MISSING:
            return MISSING
    return obj
