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

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from kubeharden.model.apitypes import describe
from kubeharden.model.facts import has_backsteps, normalize_host_path
from kubeharden.model.fieldpath import relative_to, split
from kubeharden.model.kinds import BUILTIN_GROUPS, KINDS_WITHOUT_POD, api_group
from kubeharden.model.objects import K8sObject, as_dict, as_list, as_str_map

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

#: API groups that own the kinds above (a CRD reusing a name such as "Deployment" is not one of them).
_POD_GROUPS = {"", "apps", "extensions", "batch"}

#: The three container lists of a PodSpec: (ContainerView.kind, the PodSpec field). Names are unique
#: across all three (Kubernetes API reference, PodSpec; validation refuses a duplicate).
CONTAINER_LISTS: tuple[tuple[str, str], ...] = (
    ("container", "containers"), ("initContainer", "initContainers"), ("ephemeralContainer", "ephemeralContainers"),
)

#: Where custom resources keep a pod template, by convention of the Kubernetes workload kinds
#: (OpenShift DeploymentConfig, Argo Rollout, Knative Service: spec.template; CronJob-like
#: resources: spec.jobTemplate.spec.template).
CUSTOM_TEMPLATE_PATHS: tuple[tuple[str, ...], ...] = (("spec", "template"), ("spec", "jobTemplate", "spec", "template"))

#: Report kinds of the problems that say how a custom resource was handled.
TEMPLATE_EVALUATED = "pod-template"
NOT_EVALUATED = "not-evaluated"

#: How many nodes of a custom resource are searched for containers outside its pod template.
SEARCH_LIMIT = 50_000

INHERITED_FIELDS = frozenset(
    {"runAsUser", "runAsGroup", "runAsNonRoot", "seLinuxOptions", "seccompProfile", "appArmorProfile"}
)

# Fields a Windows pod must leave unset (Kubernetes API reference, PodSpec.os: "If the OS field is set to
# windows, following fields must be unset: spec.hostPID, spec.hostIPC, spec.hostUsers, spec.resources,
# spec.securityContext.appArmorProfile, …seLinuxOptions, …seccompProfile, …fsGroup, …fsGroupChangePolicy,
# …sysctls, spec.shareProcessNamespace, …runAsUser, …runAsGroup, …supplementalGroups,
# …supplementalGroupsPolicy, spec.containers[*].securityContext.appArmorProfile, …seLinuxOptions,
# …seccompProfile, …capabilities, …readOnlyRootFilesystem, …privileged, …allowPrivilegeEscalation,
# …procMount, …runAsUser, …runAsGroup"; the API server refuses them). A control that requires one of them,
# or whose fix sets one, cannot be met by a Windows pod: it skips Windows pods (``linux_only``, or
# ``PodView.is_windows`` in a Python check), and no fix setting one is offered there (:func:`windows_refuses`).
#: The values of PodSpec.os.name the API server accepts (Kubernetes API reference, PodOS: case-sensitive).
POD_OS_NAMES = ("linux", "windows")
#: PodSecurityContext fields that must be unset on a Windows pod.
WINDOWS_UNSET_POD_SECURITY_CONTEXT = frozenset({
    "appArmorProfile", "seLinuxOptions", "seccompProfile", "fsGroup", "fsGroupChangePolicy", "sysctls",
    "runAsUser", "runAsGroup", "supplementalGroups", "supplementalGroupsPolicy",
})
#: Container SecurityContext fields that must be unset on a Windows pod (all three container lists).
WINDOWS_UNSET_CONTAINER_SECURITY_CONTEXT = frozenset({
    "appArmorProfile", "seLinuxOptions", "seccompProfile", "capabilities", "readOnlyRootFilesystem",
    "privileged", "allowPrivilegeEscalation", "procMount", "runAsUser", "runAsGroup",
})
#: PodSpec fields that must be unset on a Windows pod. ``hostPID`` and ``hostIPC`` are plain booleans whose
#: ``false`` is their unset value (only ``true`` is refused); ``hostUsers`` and ``shareProcessNamespace`` are
#: optional booleans, refused with any value.
WINDOWS_UNSET_POD_SPEC = frozenset({"hostPID", "hostIPC", "hostUsers", "resources", "shareProcessNamespace"})
_WINDOWS_ZERO_VALUED = frozenset({"hostPID", "hostIPC"})

APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
#: Legacy seccomp annotations: the pod's (``seccomp.security.alpha.kubernetes.io/pod``) and one per container
#: (``container.seccomp.security.alpha.kubernetes.io/<name>``); Kubernetes docs, "Restrict a Container's
#: Syscalls with seccomp" (ignored by the kubelet since 1.27, read by KH-POD-016 and Pod Security Admission).
SECCOMP_ANNOTATION_PREFIXES = ("seccomp.security.alpha.kubernetes.io/",
                               "container.seccomp.security.alpha.kubernetes.io/")
#: Pod annotations that set a security profile and that pod controls read: a change to one changes what the
#: pod runs with (Pod Security Admission re-evaluates a pod update that changes the seccomp ones,
#: ``isSignificantPodUpdate`` in k8s.io/pod-security-admission/admission/admission.go).
POD_SECURITY_ANNOTATION_PREFIXES = (*SECCOMP_ANNOTATION_PREFIXES, APPARMOR_ANNOTATION_PREFIX)


class PodProblem(NamedTuple):
    """Something said about a pod view: ``level`` error|warning|note and the report ``kind``."""

    level: str
    message: str
    line: int | None
    kind: str


def _problem(level: str, message: str, line: int | None) -> PodProblem:
    return PodProblem(level, message, line, "invalid-object" if level == "error" else "partial")


class Setting(NamedTuple):
    """An effective value and where it was set (``holder[key]``), for line numbers."""

    value: Any
    holder: dict[str, Any] | None
    key: str | None
    level: str  # "container" | "pod" | "unset"


UNSET = Setting(None, None, None, "unset")


#: Beta AppArmor annotation values and the appArmorProfile type each stands for; ``localhost/<profile>``
#: stands for ``Localhost`` (Kubernetes docs, "Restrict a Container's Access to Resources with AppArmor").
APPARMOR_ANNOTATION_TYPES: dict[str, str] = {"runtime/default": "RuntimeDefault", "unconfined": "Unconfined"}
APPARMOR_LOCALHOST_PREFIX = "localhost/"
APPARMOR_LOCALHOST = "Localhost"


def apparmor_type(annotation: Any) -> str:
    """The appArmorProfile type a beta AppArmor annotation value stands for (``runtime/default`` ->
    ``RuntimeDefault``, ``localhost/<profile>`` -> ``Localhost``, ``unconfined`` -> ``Unconfined``; any
    other value as written). Kubernetes docs, "Restrict a Container's Access to Resources with AppArmor"."""
    value = str(annotation)
    if value in APPARMOR_ANNOTATION_TYPES:
        return APPARMOR_ANNOTATION_TYPES[value]
    if value.startswith(APPARMOR_LOCALHOST_PREFIX):
        return APPARMOR_LOCALHOST
    return value


@dataclass(slots=True)
class ContainerView:
    pod: PodView
    raw: dict[str, Any]
    name: str
    kind: str  # container | initContainer | ephemeralContainer
    index: int
    _sc: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)
    _path: str = field(default="", init=False, repr=False, compare=False)
    #: effective securityContext fields by dotted name, each worked out once for the controls that read it
    #: (checks.rules.effective_setting); the object does not change while it is judged
    settings: dict[str, Setting] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def sc(self) -> dict[str, Any]:
        """The container's securityContext ({} when absent or not a mapping); read once, as every control
        asks for it and the object does not change while it is judged."""
        if self._sc is None:
            self._sc = as_dict(self.raw.get("securityContext"))
        return self._sc

    @property
    def image(self) -> str:
        image = self.raw.get("image")
        return image if isinstance(image, str) else ""

    @property
    def path(self) -> str:
        if not self._path:
            self._path = f"{self.pod.spec_path}.{self.kind}s[{self.index}]"
        return self._path

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
        return Setting(apparmor_type(value), annotations, key, "annotation")

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
    #: "error" for wrong types, "note" for a partial object such as a patch or for a custom
    #: resource evaluated as a pod template, "warning" for containers that were not evaluated
    problems: list[PodProblem] = field(default_factory=list)
    #: True when the object is a custom resource whose pod template was found by its shape
    custom: bool = False
    _sc: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)
    _windows: bool | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def sc(self) -> dict[str, Any]:
        """The pod's securityContext ({} when absent or not a mapping), read once (see ContainerView.sc)."""
        if self._sc is None:
            self._sc = as_dict(self.spec.get("securityContext"))
        return self._sc

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
        if self._windows is None:
            self._windows = str(as_dict(self.spec.get("os")).get("name", "")).lower() == "windows"
        return self._windows

    @property
    def targets_windows(self) -> bool:
        """Whether the pod runs on Windows nodes: ``spec.os.name: windows``, or, with ``spec.os`` unset, a
        ``nodeSelector`` on the well-known label ``kubernetes.io/os: windows`` (Kubernetes docs, "Well-Known
        Labels, Annotations and Taints"). Only ``spec.os`` makes the API server enforce PodSpec.os's rules."""
        if self.is_windows:
            return True
        if as_dict(self.spec.get("os")):
            return False
        return str(as_dict(self.spec.get("nodeSelector")).get("kubernetes.io/os", "")).lower() == "windows"

    def volumes(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for i, vol in enumerate(as_list(self.spec.get("volumes"))):
            if isinstance(vol, dict):
                yield i, vol

    def line(self, holder: Any = None, key: str | None = None) -> int | None:
        return self.obj.line(holder if holder is not None else self.spec, key)


def may_carry_pod(kind: str) -> bool:
    """Whether objects of ``kind`` must be read whole: a pod kind, or any kind not known to carry none."""
    return kind in POD_TEMPLATE_PATHS or kind not in KINDS_WITHOUT_POD


def builtin_pod_path(api_version: str, kind: str) -> tuple[str, ...] | None:
    """The path to the pod template of a built-in pod kind (:data:`POD_TEMPLATE_PATHS`, ``()`` for a Pod) in
    one of its API groups; None for any other kind (a custom resource reusing the name included)."""
    path = POD_TEMPLATE_PATHS.get(kind)
    return path if path is not None and api_group(api_version) in _POD_GROUPS else None


def pod_view(obj: K8sObject) -> PodView | None:
    """Build the pod view of ``obj``, or None when it carries no pod.

    Built-in pod kinds are read at their known template path. A custom resource (a kind
    outside the built-in API groups) is evaluated when its ``spec.template`` (or
    ``spec.jobTemplate.spec.template``) has the shape of a pod template; the view then says so
    in a note. Containers found anywhere else in a custom resource are listed in a warning as
    not evaluated (the view then has no spec), so nothing is dropped silently.
    """
    group = api_group(obj.ref.api_version)
    path = builtin_pod_path(obj.ref.api_version, obj.kind)
    if path is not None:
        return _build(obj, path)
    if group in BUILTIN_GROUPS:
        return None
    return _custom_view(obj, group)


def is_pod_template(node: Any) -> bool:
    """A PodTemplateSpec shape: a mapping whose ``spec`` holds a non-empty ``containers`` list of mappings
    (PodSpec.containers is required; Kubernetes API reference, PodTemplateSpec and PodSpec)."""
    containers = as_dict(as_dict(node).get("spec")).get("containers")
    return isinstance(containers, list) and bool(containers) and all(isinstance(c, dict) for c in containers)


def _at(raw: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = raw
    for step in path:
        node = node.get(step) if isinstance(node, dict) else None
    return node


def _custom_view(obj: K8sObject, group: str) -> PodView | None:
    where = f"{obj.kind} ({obj.ref.api_version})"
    for path in CUSTOM_TEMPLATE_PATHS:
        if not is_pod_template(_at(obj.raw, path)):
            continue
        view = _build(obj, path)
        view.custom = True
        dotted = ".".join(path)
        parent = _at(obj.raw, path[:-1])
        view.problems.insert(0, PodProblem(
            "note", f"{where} is not a kind kubeharden knows; its {dotted} has the shape of a pod template and "
            "was evaluated as the pod it creates", obj.line(parent, path[-1]), TEMPLATE_EVALUATED))
        others, complete = find_containers(obj.raw, skip=path)
        if others or not complete:
            view.problems.append(_not_evaluated(obj, where, others, complete))
        return view
    found, complete = find_containers(obj.raw)
    if not found and complete:
        return None
    view = PodView(obj, {}, {}, "spec")
    view.problems.append(_not_evaluated(obj, where, found, complete))
    return view


def _not_evaluated(obj: K8sObject, where: str, paths: list[str], complete: bool) -> PodProblem:
    shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    if paths:
        message = (f"{where} carries containers outside a pod template kubeharden can read ({shown}); "
                   "they were not evaluated")
    else:
        message = f"{where} is too large to search for containers ({SEARCH_LIMIT} nodes); it was not evaluated"
    if paths and not complete:
        message += f" (search stopped after {SEARCH_LIMIT} nodes)"
    return PodProblem("warning", message, obj.line(), NOT_EVALUATED)


def find_containers(raw: dict[str, Any], skip: tuple[str, ...] | None = None) -> tuple[list[str], bool]:
    """Paths of container-like mappings in ``raw``, and whether the search was complete.

    Container-like: a mapping with a string ``image`` that is an item of a list (``containers``,
    ``initContainers``, Tekton ``steps`` …) or the value of a ``container`` key (Argo Workflows).
    A list is reported once, as ``path[*]``. ``skip`` is a pod-template path already evaluated.
    """
    skipped = skip + ("spec",) if skip else None
    found: list[str] = []
    stack: list[tuple[Any, tuple[str, ...]]] = [(raw, ())]
    seen = 0
    while stack:
        node, path = stack.pop()
        seen += 1
        if seen > SEARCH_LIMIT:
            return found, False
        if skipped is not None and path == skipped:
            continue
        if isinstance(node, dict):
            for key, value in node.items():
                key = str(key)
                if key == "container" and isinstance(value, dict) and isinstance(value.get("image"), str):
                    found.append(_dotted((*path, key)))
                stack.append((value, (*path, key)))
        elif isinstance(node, list):
            if any(isinstance(item, dict) and isinstance(item.get("image"), str) for item in node):
                found.append(_dotted(path) + "[*]")
            for i, item in enumerate(node):
                stack.append((item, (*path, str(i))))
    return sorted(found), True


def _dotted(path: tuple[str, ...]) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if step.isdigit() else (f".{step}" if out else step)
    return out


def _build(obj: K8sObject, path: tuple[str, ...]) -> PodView:
    problems: list[PodProblem] = []
    node: Any = obj.raw
    walked = ""
    for step in path:
        nxt = node.get(step) if isinstance(node, dict) else None
        walked = f"{walked}.{step}" if walked else step
        if not isinstance(nxt, dict):
            if nxt is None:  # a patch or partial object (e.g. a Kustomize `$patch: delete`)
                problems.append(_problem("note", f"{walked} is missing: a partial object or patch; no pod to check",
                                 obj.line(node, step) if isinstance(node, dict) else obj.line()))
            else:
                problems.append(_problem("error", f"{walked} is {_describe(nxt)}, expected a mapping; no pod to check",
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
        problems.append(_problem("error", f"{spec_path} is {_describe(spec)}, expected a mapping",
                                 obj.line(template, "spec")))
        spec = {}
    view = PodView(obj, spec, meta, spec_path)
    for kind, key in CONTAINER_LISTS:
        items = spec.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            problems.append(_problem("error", f"{spec_path}.{key} is {_describe(items)}, expected a list",
                                     obj.line(spec, key)))
            continue
        for i, raw in enumerate(items):
            if not isinstance(raw, dict):
                problems.append(_problem("error", f"{spec_path}.{key}[{i}] is {_describe(raw)}, expected a mapping",
                                 obj.line(items)))
                continue
            name = raw.get("name")
            view.containers.append(ContainerView(view, raw, str(name) if name else f"#{i}", kind, i))
    first_use: dict[str, ContainerView] = {}
    for c in view.containers:
        other = first_use.setdefault(c.name, c)
        if other is not c:
            problems.append(_problem(
                "error", f"container name {c.name!r} is used by {other.path} and {c.path}: names must be unique "
                "across containers, initContainers and ephemeralContainers, so the API server refuses the pod",
                obj.line(c.raw, "name")))
    for key in ("securityContext",):
        if key in spec and spec[key] is not None and not isinstance(spec[key], dict):
            problems.append(_problem("error", f"{spec_path}.{key} is {_describe(spec[key])}, expected a mapping",
                             obj.line(spec, key)))
    for c in view.containers:
        sc = c.raw.get("securityContext")
        if sc is not None and not isinstance(sc, dict):
            problems.append(_problem("error", f"{c.path}.securityContext is {_describe(sc)}, expected a mapping",
                             obj.line(c.raw, "securityContext")))
    for i, vol in view.volumes():
        host = vol.get("hostPath")
        if isinstance(host, dict) and has_backsteps(host.get("path")):
            problems.append(_problem(
                "error", f"{spec_path}.volumes[{i}].hostPath.path {host.get('path')!r} contains '..', which the API "
                f"server refuses; it is judged as {normalize_host_path(host.get('path'))}", obj.line(host, "path")))
    os_spec = spec.get("os")
    if isinstance(os_spec, dict) and os_spec.get("name") not in POD_OS_NAMES:
        problems.append(_problem(
            "error", f"{spec_path}.os.name is {os_spec.get('name')!r}: the API server accepts only "
            f"{' or '.join(POD_OS_NAMES)} (Kubernetes API reference, PodSpec.os); judged as "
            f"{'windows' if view.is_windows else 'linux'}", obj.line(os_spec, "name") or obj.line(spec, "os")))
    os_name = "windows" if view.is_windows else as_dict(os_spec).get("name")
    if os_name in _OS_UNSET:
        problems.extend(_os_refused(view, os_name))
    view.problems = problems
    return view


#: What PodSpec.os says a pod of each OS must leave unset (Kubernetes API reference): (PodSpec fields,
#: PodSecurityContext fields, container SecurityContext fields).
_OS_UNSET: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {
    "windows": (WINDOWS_UNSET_POD_SPEC, WINDOWS_UNSET_POD_SECURITY_CONTEXT, WINDOWS_UNSET_CONTAINER_SECURITY_CONTEXT),
    "linux": (frozenset(), frozenset({"windowsOptions"}), frozenset({"windowsOptions"})),
}


def _os_refused(view: PodView, os_name: str) -> Iterator[PodProblem]:
    """An error for each field the pod sets that PodSpec.os says a pod of ``os_name`` must leave unset
    (:data:`_OS_UNSET`): the API server refuses such a pod or template, so it never runs. The controls still
    judge what it says (its failures count, it passes nothing)."""
    spec, obj = view.spec, view.obj
    why = f"must be unset on a {os_name.capitalize()} pod (spec.os.name: {os_name}; Kubernetes API reference, " \
          "PodSpec.os), so the API server refuses the pod"
    pod_spec, pod_sc, container_sc = _OS_UNSET[os_name]
    holders = [(spec, view.spec_path, pod_spec),
               (as_dict(spec.get("securityContext")), f"{view.spec_path}.securityContext", pod_sc)]
    holders += [(c.sc, f"{c.path}.securityContext", container_sc) for c in view.containers]
    for holder, path, unset in holders:
        for key in sorted(unset & holder.keys()):
            value = holder[key]
            if value is None or (key in _WINDOWS_ZERO_VALUED and value is False):
                continue
            yield _problem("error", f"{path}.{key} {why}", obj.line(holder, key))


def _describe(value: Any) -> str:
    return "missing or null" if value is None else describe(value)


#: The PodSpec fields that hold containers (containers, initContainers, ephemeralContainers).
_CONTAINER_LIST_KEYS = frozenset(key for _, key in CONTAINER_LISTS)


def windows_refuses(spec_path: str, path: str, value: Any = None) -> bool:
    """Whether writing ``value`` at ``path`` (a field path from the object's root, :mod:`model.fieldpath`) in
    the pod spec at ``spec_path`` sets a field a Windows pod must leave unset (:data:`WINDOWS_UNSET_POD_SPEC`,
    the pod's :data:`WINDOWS_UNSET_POD_SECURITY_CONTEXT`, a container's
    :data:`WINDOWS_UNSET_CONTAINER_SECURITY_CONTEXT`; Kubernetes API reference, PodSpec.os). A path outside
    the pod spec is never refused. ``spec.hostPID: false`` is not refused (it is the field's unset value)."""
    rest = relative_to(path, spec_path)
    if rest is None or rest == "":
        return False
    try:
        steps = split(rest)
    except ValueError:
        return False
    head = steps[0]
    if head in WINDOWS_UNSET_POD_SPEC:
        return not (head in _WINDOWS_ZERO_VALUED and value is False)
    if head == "securityContext":
        return len(steps) > 1 and steps[1] in WINDOWS_UNSET_POD_SECURITY_CONTEXT
    return (head in _CONTAINER_LIST_KEYS and len(steps) > 3 and isinstance(steps[1], int)
            and steps[2] == "securityContext"
            and steps[3] in WINDOWS_UNSET_CONTAINER_SECURITY_CONTEXT)
