"""Kubernetes objects as the checks see them: the raw mapping plus where it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from kubeharden.model.configfiles import config_file_name, is_config_file
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


class Tracer(Protocol):
    """Traces one field of a rendered object (Helm, Kustomize) back to what produced it."""

    def trace(self, origin: Provenance, line: int | None, path: str) -> Provenance:
        """The provenance of the field at ``path`` (a field path from the object's root), whose
        line in ``origin.file`` is ``line``; ``origin`` with the optional fields filled in."""
        ...


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where an object (or one of its fields) came from: a file and line, or a live object (``file`` is then None).

    The optional fields are filled for rendered inputs (docs/helm-kustomize.md): ``input`` is the
    chart or Kustomize folder named on the command line; for Helm, ``file``/``line`` are the
    template file and line that emitted the field, ``template`` its name in the chart,
    ``values_path`` the ``.Values`` path that drove it and ``values_file``/``values_line`` where
    that value is set (``--set`` for the command line), ``values_set`` the values set of a
    ``--values-matrix`` run; for Kustomize, ``file``/``line`` are the base resource's, and
    ``patch_file``/``patch_line`` the patch that set the field. ``tracer`` refines an object's
    provenance to one field's (None for plain manifests).
    """

    file: str | None
    line: int | None
    source: str = "file"  # file | stdin | cluster | admission | snapshot | helm | kustomize
    #: the object had no ``metadata.namespace``: its namespace is the one the scan was given (-n)
    namespace_defaulted: bool = False
    input: str | None = None
    template: str | None = None
    values_path: str | None = None
    values_file: str | None = None
    values_line: int | None = None
    values_set: str | None = None
    patch_file: str | None = None
    patch_line: int | None = None
    tracer: Tracer | None = field(default=None, compare=False, repr=False)
    #: a file read from a node tree (``kubeharden node --root DIR``): its path on the node
    #: (``/etc/kubernetes/admin.conf``), which messages name; ``file`` is the scanning host's (``DIR/etc/…``)
    node_path: str | None = None

    @property
    def named(self) -> str | None:
        """The file as a message names it: its path on the node for a node tree's file, else ``file``."""
        return self.node_path or self.file

    def at(self, line: int | None, path: str) -> Provenance:
        """The provenance of the field at ``path`` whose line is ``line`` (itself without a tracer)."""
        return self if self.tracer is None else self.tracer.trace(self, line, path)

    @property
    def traced(self) -> bool:
        """Whether it says more than a file and line (a rendered input)."""
        return self.input is not None

    def to_dict(self) -> dict[str, Any]:
        """The optional fields, for reports (docs/json-report.md, ``trace``)."""
        return {name: getattr(self, name) for name in TRACE_FIELDS}


#: The fields of a rendered object's provenance that reports show, in order.
TRACE_FIELDS = ("input", "template", "values_path", "values_file", "values_line", "values_set",
                "patch_file", "patch_line")


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


def make_ref(raw: dict[str, Any], default_namespace: str | None = None, file: str | None = None) -> ResourceRef:
    """The identity of ``raw``; a namespaced kind without a namespace gets ``default_namespace``.

    That is what ``kubectl apply -n NS -f`` does; cluster-scoped kinds never get one. A component's
    configuration file (``model/configfiles.py``: EncryptionConfiguration, an audit Policy, a
    kubeconfig …) lives in no namespace and, without ``metadata.name``, is named by ``file``.
    """
    meta = raw.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    kind = _scalar(raw.get("kind"))
    config_file = is_config_file(_scalar(raw.get("apiVersion")), kind)
    name = (_scalar(meta.get("name")) or _scalar(meta.get("generateName"))
            or (config_file_name(file) if config_file else "<unnamed>"))
    namespace = _scalar(meta.get("namespace"))
    if config_file or not is_namespaced(kind):
        namespace = ""  # the API server clears it for cluster-scoped kinds
    elif not namespace and default_namespace:
        namespace = default_namespace
    return ResourceRef(api_version=_scalar(raw.get("apiVersion")), kind=kind, namespace=namespace or None, name=name)


def _scalar(value: Any) -> str:
    """An identity field as text; a mapping, list or null (an object the API server refuses, said as an input
    problem by the type checks) is no text at all, never its Python rendering."""
    return str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""
