"""What keeps a workload working beside a fix that can break it, where the manifest shows how.

- ``readOnlyRootFilesystem: true``: an ``emptyDir`` volume (Kubernetes docs, "Volumes", emptyDir)
  mounted at each path the container is known to write: ``/tmp`` (the Filesystem Hierarchy Standard
  3.0, section 3.18, gives every program a temporary directory there), the directory its ``TMPDIR``,
  ``TMP`` or ``TEMP`` variable names, and the paths its image's documentation lists
  (:data:`WRITABLE_PATHS`). A path already under a volume mount is left as it is.
- ``runAsNonRoot: true``: a ``runAsUser`` where the image's documentation names its non-root UID
  (:data:`NON_ROOT_UIDS`) and neither the container nor the pod sets one. Without a numeric user the
  kubelet cannot verify a named image user and refuses to start the container (Kubernetes API
  reference, SecurityContext.runAsNonRoot), which the note of the fix says.
"""

from __future__ import annotations

import re
from typing import Any

from kubeharden.model.fieldpath import join, split
from kubeharden.model.findings import Fix
from kubeharden.model.images import parse_image

#: Image repositories (registry/repository) -> paths their documentation says must be writable.
WRITABLE_PATHS: dict[str, tuple[str, ...]] = {
    # hub.docker.com/_/nginx, "Running nginx in read-only mode": /var/cache/nginx and /var/run
    "docker.io/library/nginx": ("/var/cache/nginx", "/var/run"),
}

#: (registry/repository prefix, tag pattern or "" for any) -> the non-root UID the image runs as.
NON_ROOT_UIDS: tuple[tuple[str, str, int], ...] = (
    # github.com/nginxinc/docker-nginx-unprivileged: runs as user nginx, UID 101
    ("docker.io/nginxinc/nginx-unprivileged", "", 101),
    # github.com/GoogleContainerTools/distroless: the :nonroot tags run as UID 65532
    ("gcr.io/distroless/", "nonroot", 65532),
    # Chainguard images run as the nonroot user, UID 65532, unless a -dev variant
    ("cgr.dev/chainguard/", "", 65532),
    # Bitnami's non-root container images run as UID 1001
    ("docker.io/bitnami/", "", 1001),
)

_TEMP_VARIABLES = ("TMPDIR", "TMP", "TEMP")


def _at(root: Any, path: str) -> Any:
    node = root
    for step in split(path):
        if isinstance(step, int):
            node = node[step] if isinstance(node, list) and step < len(node) else None
        else:
            node = node.get(step) if isinstance(node, dict) else None
        if node is None:
            return None
    return node


def _container_path(fix_path: str) -> str | None:
    """``….containers[0]`` of a fix path inside a container's securityContext, else None."""
    match = re.match(r"^(.*\.(?:containers|initContainers|ephemeralContainers)\[\d+\])\.securityContext\.", fix_path)
    return match.group(1) if match else None


def for_fix(obj: dict[str, Any], fix: Fix) -> list[Fix]:
    """The companion edits of ``fix`` applied to ``obj`` (its root), in the order to apply them."""
    container_path = _container_path(fix.path)
    if container_path is None or fix.op != "set" or fix.value is not True:
        return []
    container = _at(obj, container_path)
    if not isinstance(container, dict):
        return []
    if fix.path.endswith(".readOnlyRootFilesystem"):
        return _writable_volumes(obj, container_path, container)
    if fix.path.endswith(".runAsNonRoot"):
        return _run_as_user(obj, container_path, container)
    return []


def writable_paths(container: dict[str, Any]) -> list[str]:
    """The paths ``container`` is known to write to (see the module docstring), in a stable order."""
    paths = ["/tmp"]
    env = container.get("env")
    for var in env if isinstance(env, list) else []:
        if isinstance(var, dict) and var.get("name") in _TEMP_VARIABLES:
            value = var.get("value")
            if isinstance(value, str) and value.startswith("/") and value.rstrip("/") not in paths:
                paths.append(value.rstrip("/") or "/")
    image = container.get("image")
    if isinstance(image, str):
        for p in WRITABLE_PATHS.get(parse_image(image).full_name, ()):
            if p not in paths:
                paths.append(p)
    return [p for p in paths if p != "/"]


def _mounted(container: dict[str, Any]) -> list[str]:
    mounts = container.get("volumeMounts")
    return [str(m.get("mountPath")).rstrip("/") or "/" for m in (mounts if isinstance(mounts, list) else [])
            if isinstance(m, dict) and m.get("mountPath")]


def _volume_name(path: str, taken: set[str]) -> str:
    """A DNS-1123 label for the volume of ``path`` not yet used in the pod (Kubernetes "Object Names")."""
    base = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")[:50] or "scratch"
    name, n = f"{base}", 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def _writable_volumes(obj: dict[str, Any], container_path: str, container: dict[str, Any]) -> list[Fix]:
    spec_path = container_path.rsplit(".", 1)[0]
    spec = _at(obj, spec_path)
    volumes = spec.get("volumes") if isinstance(spec, dict) else None
    taken = {str(v.get("name")) for v in (volumes if isinstance(volumes, list) else []) if isinstance(v, dict)}
    mounted = _mounted(container)
    new_volumes, new_mounts = [], []
    for path in writable_paths(container):
        if any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounted):
            continue
        name = _volume_name(path, taken)
        taken.add(name)
        new_volumes.append({"name": name, "emptyDir": {}})
        new_mounts.append({"name": name, "mountPath": path})
    if not new_volumes:
        return []
    return [Fix("add", join(spec_path, "volumes"), new_volumes), Fix("add", join(container_path, "volumeMounts"),
                                                                     new_mounts)]


def non_root_uid(image: str) -> int | None:
    """The UID an image's documentation says it runs as (:data:`NON_ROOT_UIDS`), or None."""
    ref = parse_image(image)
    for prefix, tag, uid in NON_ROOT_UIDS:
        if ref.full_name.startswith(prefix) and (not tag or (ref.tag or "").startswith(tag) or
                                                 (ref.tag or "").endswith(tag)):
            return uid
    return None


def _run_as_user(obj: dict[str, Any], container_path: str, container: dict[str, Any]) -> list[Fix]:
    spec = _at(obj, container_path.rsplit(".", 1)[0])
    pod_sc = spec.get("securityContext") if isinstance(spec, dict) else None
    own_sc = container.get("securityContext")
    if any(isinstance(sc, dict) and sc.get("runAsUser") is not None for sc in (pod_sc, own_sc)):
        return []
    image = container.get("image")
    uid = non_root_uid(image) if isinstance(image, str) else None
    if uid is None:
        return []
    return [Fix("set", join(container_path, "securityContext", "runAsUser"), uid)]
