"""One pod view for every kind that carries a pod template.

Controls never care whether a container came from a Deployment, a CronJob or a bare
Pod: they receive a :class:`PodView`, whose containers know their *effective*
security context computed with Kubernetes' own rules:

* ``runAsUser``, ``runAsGroup``, ``runAsNonRoot``, ``seLinuxOptions``, ``seccompProfile``,
  ``appArmorProfile`` are set on the pod and may be overridden per container (the
  container's value wins, ``seLinuxOptions`` as a whole struct);
* ``windowsOptions`` is merged field by field;
* ``privileged``, ``allowPrivilegeEscalation``, ``capabilities``, ``readOnlyRootFilesystem``
  and ``procMount`` exist only on containers and do not inherit;
* ``fsGroup``, ``supplementalGroups`` and ``sysctls`` exist only on the pod.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple
from collections.abc import Iterator

from kubeharden.model.objects import K8sObject, as_dict, as_list, as_str_map
from kubeharden.model.facts import has_backsteps, normalize_host_path

#: kind -> path from the object root to the pod template (``None`` = the object is the pod).
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "PodTemplate": ("template",),
}

#: The API resource (as in an audit event's ``objectRef.resource``) of each kind above.
POD_TEMPLATE_RESOURCES: dict[str, str] = {
    "pods": "Pod", "deployments": "Deployment", "statefulsets": "StatefulSet", "daemonsets": "DaemonSet",
    "replicasets": "ReplicaSet", "replicationcontrollers": "ReplicationController", "jobs": "Job",
    "cronjobs": "CronJob", "podtemplates": "PodTemplate",
}

#: API groups that own the kinds above (a CRD reusing a name such as "Deployment" is not a pod).
_POD_GROUPS = {"", "apps", "extensions", "batch"}

#: The three container lists of a PodSpec: (ContainerView.kind, the PodSpec field). Names are unique
#: across all three (Kubernetes API reference, PodSpec; validation refuses a duplicate).
CONTAINER_LISTS: tuple[tuple[str, str], ...] = (
    ("container", "containers"), ("initContainer", "initContainers"), ("ephemeralContainer", "ephemeralContainers"),
)

INHERITED_FIELDS = frozenset(
    {"runAsUser", "runAsGroup", "runAsNonRoot", "seLinuxOptions", "seccompProfile", "appArmorProfile"}
)

APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


class Setting(NamedTuple):
    """An effective value and where it was set (``holder[key]``), for line numbers."""

    value: Any
    holder: dict[str, Any] | None
    key: str | None
    level: str  # "container" | "pod" | "unset"


UNSET = Setting(None, None, None, "unset")


@dataclass(slots=True)
class ContainerView:
    pod: PodView
    raw: dict[str, Any]
    name: str
    kind: str  # container | initContainer | ephemeralContainer
    index: int

    @property
    def sc(self) -> dict[str, Any]:
        return as_dict(self.raw.get("securityContext"))

    @property
    def image(self) -> str:
        image = self.raw.get("image")
        return image if isinstance(image, str) else ""

    @property
    def path(self) -> str:
        return f"{self.pod.spec_path}.{self.kind}s[{self.index}]"

    @property
    def list_name(self) -> str:
        """The PodSpec field holding this container: containers, initContainers or ephemeralContainers."""
        return f"{self.kind}s"

    def effective(self, name: str) -> Setting:
        """The value the kubelet would use for security-context field ``name``."""
        sc = self.sc
        if name in sc and sc[name] is not None:
            return Setting(sc[name], sc, name, "container")
        if name in INHERITED_FIELDS:
            psc = self.pod.sc
            if name in psc and psc[name] is not None:
                return Setting(psc[name], psc, name, "pod")
        return UNSET

    def windows_option(self, name: str) -> Setting:
        """``windowsOptions`` merge per field, container first."""
        for holder, level in ((as_dict(self.sc.get("windowsOptions")), "container"),
                              (as_dict(self.pod.sc.get("windowsOptions")), "pod")):
            if holder.get(name) is not None:
                return Setting(holder[name], holder, name, level)
        return UNSET

    def apparmor(self) -> Setting:
        """Effective AppArmor profile type: the field wins, then the legacy annotation.

        Returns the profile as a field-style type (``RuntimeDefault``, ``Localhost``,
        ``Unconfined``); the annotation values are translated.
        """
        field_setting = self.effective("appArmorProfile")
        if field_setting.value is not None:
            return Setting(as_dict(field_setting.value).get("type"), field_setting.holder,
                           field_setting.key, field_setting.level)
        key = APPARMOR_ANNOTATION_PREFIX + self.name
        annotations = self.pod.annotations_raw
        value = annotations.get(key)
        if value is None:
            return UNSET
        value = str(value)
        if value == "runtime/default":
            kind = "RuntimeDefault"
        elif value.startswith("localhost/"):
            kind = "Localhost"
        elif value == "unconfined":
            kind = "Unconfined"
        else:
            kind = value
        return Setting(kind, annotations, key, "annotation")

    def line(self, holder: Any = None, key: str | None = None) -> int | None:
        """Line of ``holder[key]`` or, failing that, of this container."""
        return self.pod.obj.line(holder if holder is not None else self.raw, key)


@dataclass(slots=True)
class PodView:
    """The pod that a workload would create, normalised."""

    obj: K8sObject
    spec: dict[str, Any]
    template_meta: dict[str, Any]
    spec_path: str
    containers: list[ContainerView] = field(default_factory=list)
    #: (level, message, line): "error" for wrong types, "note" for a partial object such as a patch
    problems: list[tuple[str, str, int | None]] = field(default_factory=list)

    @property
    def sc(self) -> dict[str, Any]:
        return as_dict(self.spec.get("securityContext"))

    @property
    def namespace(self) -> str | None:
        return self.obj.namespace

    @property
    def labels(self) -> dict[str, str]:
        return as_str_map(self.template_meta.get("labels"))

    @property
    def annotations_raw(self) -> dict[str, Any]:
        return as_dict(self.template_meta.get("annotations"))

    @property
    def service_account(self) -> str:
        name = self.spec.get("serviceAccountName") or self.spec.get("serviceAccount")
        return str(name) if name else "default"

    @property
    def is_windows(self) -> bool:
        return str(as_dict(self.spec.get("os")).get("name", "")).lower() == "windows"

    def volumes(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for i, vol in enumerate(as_list(self.spec.get("volumes"))):
            if isinstance(vol, dict):
                yield i, vol

    def line(self, holder: Any = None, key: str | None = None) -> int | None:
        return self.obj.line(holder if holder is not None else self.spec, key)


def pod_view(obj: K8sObject) -> PodView | None:
    """Build the pod view of ``obj``, or None when the kind carries no pod."""
    path = POD_TEMPLATE_PATHS.get(obj.kind)
    if path is None:
        return None
    group = obj.ref.api_version.rpartition("/")[0] if "/" in obj.ref.api_version else ""
    if group not in _POD_GROUPS:
        return None
    problems: list[tuple[str, str, int | None]] = []
    node: Any = obj.raw
    walked = ""
    for step in path:
        nxt = node.get(step) if isinstance(node, dict) else None
        walked = f"{walked}.{step}" if walked else step
        if not isinstance(nxt, dict):
            if nxt is None:  # a patch or partial object (e.g. a Kustomize `$patch: delete`)
                problems.append(("note", f"{walked} is missing: a partial object or patch; no pod to check",
                                 obj.line(node, step) if isinstance(node, dict) else obj.line()))
            else:
                problems.append(("error", f"{walked} is {_describe(nxt)}, expected a mapping; no pod to check",
                                 obj.line(node, step)))
            view = PodView(obj, {}, {}, walked or "spec")
            view.problems = problems
            return view
        node = nxt
    template = node
    meta = as_dict(template.get("metadata")) if path else obj.metadata
    spec = template.get("spec")
    spec_path = ".".join((*path, "spec"))
    if not isinstance(spec, dict):
        problems.append(("error", f"{spec_path} is {_describe(spec)}, expected a mapping", obj.line(template, "spec")))
        spec = {}
    view = PodView(obj, spec, meta, spec_path)
    for kind, key in CONTAINER_LISTS:
        items = spec.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            problems.append(("error", f"{spec_path}.{key} is {_describe(items)}, expected a list", obj.line(spec, key)))
            continue
        for i, raw in enumerate(items):
            if not isinstance(raw, dict):
                problems.append(("error", f"{spec_path}.{key}[{i}] is {_describe(raw)}, expected a mapping",
                                 obj.line(items)))
                continue
            name = raw.get("name")
            view.containers.append(ContainerView(view, raw, str(name) if name else f"#{i}", kind, i))
    first_use: dict[str, ContainerView] = {}
    for c in view.containers:
        other = first_use.setdefault(c.name, c)
        if other is not c:
            problems.append(("error", f"container name {c.name!r} is used by {other.path} and {c.path}: names must be "
                             "unique across containers, initContainers and ephemeralContainers, so the API server "
                             "refuses the pod", obj.line(c.raw, "name")))
    for key in ("securityContext",):
        if key in spec and spec[key] is not None and not isinstance(spec[key], dict):
            problems.append(("error", f"{spec_path}.{key} is {_describe(spec[key])}, expected a mapping",
                             obj.line(spec, key)))
    for c in view.containers:
        sc = c.raw.get("securityContext")
        if sc is not None and not isinstance(sc, dict):
            problems.append(("error", f"{c.path}.securityContext is {_describe(sc)}, expected a mapping",
                             obj.line(c.raw, "securityContext")))
    for i, vol in view.volumes():
        host = vol.get("hostPath")
        if isinstance(host, dict) and has_backsteps(host.get("path")):
            problems.append(("error", f"{spec_path}.volumes[{i}].hostPath.path {host.get('path')!r} contains '..', "
                             "which the API server refuses; it is judged as "
                             f"{normalize_host_path(host.get('path'))}", obj.line(host, "path")))
    view.problems = problems
    return view


def _describe(value: Any) -> str:
    if value is None:
        return "missing or null"
    kind = ("a mapping" if isinstance(value, dict) else "a list" if isinstance(value, list)
            else "a boolean" if isinstance(value, bool) else "a number" if isinstance(value, (int, float))
            else "a string" if isinstance(value, str) else f"a {type(value).__name__}")
    return f"{kind} ({str(value)[:40]!r})"
