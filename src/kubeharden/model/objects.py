"""Kubernetes objects as the checks see them: the raw mapping plus where it came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeharden.model.kinds import is_namespaced
from kubeharden.model.lines import line_of


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """The identity of an object: enough to find it again in a cluster or a repository."""

    api_version: str
    kind: str
    namespace: str | None
    name: str

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{ns}{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where an object came from: a file and line, or a live object (``file`` is then None)."""

    file: str | None
    line: int | None
    source: str = "file"  # file | stdin | cluster | admission
    #: the object had no ``metadata.namespace``: its namespace is the one the scan was given (-n)
    namespace_defaulted: bool = False


@dataclass(slots=True)
class K8sObject:
    """One Kubernetes object: its raw data, identity and provenance.

    ``raw`` keeps the loaded mapping untouched (a LineMap when it came from YAML), so
    checks can ask for the line of any field with :meth:`line`.
    """

    raw: dict[str, Any]
    ref: ResourceRef
    origin: Provenance

    @property
    def kind(self) -> str:
        return self.ref.kind

    @property
    def namespace(self) -> str | None:
        return self.ref.namespace

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def metadata(self) -> dict[str, Any]:
        meta = self.raw.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def labels(self) -> dict[str, str]:
        return as_str_map(self.metadata.get("labels"))

    @property
    def annotations(self) -> dict[str, str]:
        return as_str_map(self.metadata.get("annotations"))

    def line(self, container: Any = None, key: Any = None) -> int | None:
        """Line of ``container[key]``, falling back to the object's own first line."""
        if container is not None:
            found = line_of(container, key)
            if found is not None:
                return found
        return self.origin.line


def as_str_map(value: Any) -> dict[str, str]:
    """Labels and annotations as a str->str mapping, whatever the input held."""
    if not isinstance(value, dict):
        return {}
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def make_ref(raw: dict[str, Any], default_namespace: str | None = None) -> ResourceRef:
    """The identity of ``raw``; a namespaced kind without a namespace gets ``default_namespace``.

    That is what ``kubectl apply -n NS -f`` does; cluster-scoped kinds never get one.
    """
    meta = raw.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name = meta.get("name") or meta.get("generateName") or "<unnamed>"
    namespace = meta.get("namespace")
    if not is_namespaced(str(raw.get("kind") or "")):
        namespace = None  # the API server clears it for cluster-scoped kinds
    elif not namespace and default_namespace:
        namespace = default_namespace
    return ResourceRef(
        api_version=str(raw.get("apiVersion") or ""),
        kind=str(raw.get("kind") or ""),
        namespace=str(namespace) if namespace else None,
        name=str(name),
    )
