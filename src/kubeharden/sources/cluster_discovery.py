"""Which kinds a cluster serves, from the API server's discovery documents.

``GET /api/v1`` lists the core group's resources, ``GET /apis`` the other groups (``APIGroupList``,
each with its versions and ``preferredVersion``), and ``GET /apis/GROUP/VERSION`` each group
version's resources (``APIResourceList``: ``name``, ``kind``, ``namespaced``, ``verbs``; a name with
a ``/`` is a subresource). Kubernetes API concepts, "Discovery API":
https://kubernetes.io/docs/concepts/overview/kubernetes-api/#discovery-api
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kubeharden.sources.cluster_client import ApiError, ClusterError, Connection


@dataclass(frozen=True, slots=True)
class Resource:
    """One listable API resource: ``pods`` of ``v1``, ``deployments`` of ``apps/v1`` …"""

    group: str
    version: str
    name: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None) -> str:
        """The collection's URL path, in ``namespace`` or across all namespaces (api-concepts, "Resource URIs")."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{base}/namespaces/{namespace}/{self.name}" if namespace and self.namespaced else f"{base}/{self.name}"

    @property
    def kubectl_name(self) -> str:
        """The resource as kubectl names it unambiguously: ``pods``, ``deployments.apps``."""
        return f"{self.name}.{self.group}" if self.group else self.name


@dataclass(slots=True)
class Discovery:
    """The resources found for the wanted kinds, and the group versions whose discovery failed."""

    resources: list[Resource]
    failed: list[tuple[str, str]]  # (group/version path, why)


def discover(conn: Connection, wanted: Callable[[str, str], bool], workers: int = 8) -> Discovery:
    """The listable resources of kinds ``wanted(group, kind)``: one per (group, kind), in the
    group's preferred version when it serves the kind, else the first version that does.

    Raises ClusterError when the cluster does not answer at all, ApiError when even ``/api/v1``
    is refused; a failing group version (an aggregated API that is down answers 503) is recorded
    in ``failed`` and the others are used.
    """
    core = conn.get("/api/v1")
    groups = conn.get("/apis")
    paths: list[tuple[str, str, str]] = []  # (group, version, path), preferred version first
    for group in _list(groups, "groups"):
        name = group.get("name") if isinstance(group, dict) else None
        if not isinstance(name, str):
            continue
        preferred = (group.get("preferredVersion") or {}).get("version")
        versions = [v.get("version") for v in _list(group, "versions") if isinstance(v, dict)]
        ordered = [preferred] + [v for v in versions if v != preferred] if preferred in versions else versions
        paths.extend((name, v, f"/apis/{name}/{v}") for v in ordered if isinstance(v, str))
    failed: list[tuple[str, str]] = []

    def fetch(item: tuple[str, str, str]) -> Any:
        try:
            return conn.get(item[2])
        except (ApiError, ClusterError) as exc:
            failed.append((item[2], str(exc)))
            return None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        answers = list(pool.map(fetch, paths))
    found: dict[tuple[str, str], Resource] = {}
    for group, version, answer in [("", "v1", core)] + [(g, v, a) for (g, v, _), a in zip(paths, answers, strict=True)]:
        for item in _list(answer, "resources"):
            resource = _resource(group, version, item)
            if resource is not None and wanted(group, resource.kind):
                found.setdefault((group, resource.kind), resource)
    return Discovery(list(found.values()), sorted(failed))


def _resource(group: str, version: str, item: Any) -> Resource | None:
    if not isinstance(item, dict):
        return None
    name, kind, verbs = item.get("name"), item.get("kind"), item.get("verbs")
    if not isinstance(name, str) or "/" in name or not isinstance(kind, str) or not kind:
        return None
    if not isinstance(verbs, list) or "list" not in verbs:
        return None
    return Resource(group, version, name, kind, item.get("namespaced") is True)


def _list(doc: Any, key: str) -> list[Any]:
    value = doc.get(key) if isinstance(doc, dict) else None
    return value if isinstance(value, list) else []
