"""Kubernetes facts that several parts of kubeharden judge by, each defined once.

The scan controls (``checks/``), the Pod Security Standards evaluation (``checks/pss.py``) and
the audit-log rules (``detect/``) all read these, so a pod gets the same verdict whether it
arrives as a manifest or in an audit event's request body.

* :data:`SYSTEM_NAMESPACES`: the namespaces Kubernetes creates for itself. Source: Kubernetes
  documentation, "Namespaces", section "Initial namespaces" (``default`` is created too but is
  meant for users; ``kube-node-lease`` holds the nodes' heartbeat Leases).
* :data:`BASELINE_CAPABILITIES` and :func:`dangerous_capabilities`: the capabilities the Pod
  Security Standards' *baseline* profile lets a container add ("Capabilities" control of the
  "Pod Security Standards" page); anything else breaks isolation.
* :func:`normalize_host_path` and :func:`sensitive_reason`: whether a ``hostPath`` volume hands
  the pod part of the node (Kubernetes documentation, "Volumes", ``hostPath``: "HostPath
  volumes present many security risks"; the runtime sockets and kubelet/etcd directories are
  the ones the guide names). ``sensitive_reason`` is the single comparison function.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Namespaces Kubernetes creates and uses itself ("Namespaces" > "Initial namespaces").
SYSTEM_NAMESPACES: tuple[str, ...] = ("kube-system", "kube-public", "kube-node-lease")

#: Capabilities the Pod Security Standards' baseline profile allows to be added.
BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})


def capability_name(value: Any) -> str:
    """``cap_sys_admin`` / ``CAP_SYS_ADMIN`` / ``SYS_ADMIN`` → ``SYS_ADMIN``: the name the runtime
    uses (container runtimes accept the ``CAP_`` prefix and any case)."""
    return str(value).upper().removeprefix("CAP_")


def dangerous_capabilities(added: Iterable[Any]) -> list[str]:
    """The capabilities of ``added`` beyond the baseline set (``ALL`` included), normalised names."""
    names = [capability_name(cap) for cap in added]
    return [cap for cap in names if cap not in BASELINE_CAPABILITIES]


#: Node directories whose whole mount exposes the node (the directory itself, not every file below it).
SENSITIVE_DIRS: dict[str, str] = {
    "/": "the node's whole filesystem, including kubelet credentials and every pod's data",
    "/etc": "the node's configuration, including /etc/kubernetes credentials and /etc/shadow",
    "/var": "the node's state, including kubelet credentials and container storage",
    "/usr": "the node's binaries, which a writer can replace",
    "/bin": "the node's binaries, which a writer can replace",
    "/sbin": "the node's binaries, which a writer can replace",
    "/lib": "the node's libraries and kernel modules",
    "/boot": "the node's kernel and boot loader",
    "/root": "root's home on the node (SSH keys, cloud credentials)",
    "/home": "users' homes on the node (SSH keys, kubeconfigs)",
    "/dev": "every device of the node",
    "/run": "runtime sockets and state of the node's daemons",
    "/var/run": "runtime sockets and state of the node's daemons",
    "/var/log": "the node's logs; writable, it enables the kubelet log symlink escape",
    "/lib/modules": "kernel modules that a writer can load into the node's kernel",
}
#: Node trees that are sensitive wherever one mounts into them.
SENSITIVE_TREES: dict[str, str] = {
    "/proc": "kernel and process interfaces of the whole node",
    "/sys": "kernel interfaces of the node (cgroups release_agent, kernel parameters)",
    "/etc/kubernetes": "control-plane and kubelet credentials and static pod manifests",
    "/var/lib/kubelet": "kubelet credentials and every pod's volumes and tokens",
    "/var/lib/docker": "container storage of every pod on the node",
    "/var/lib/containerd": "container storage of every pod on the node",
    "/var/lib/etcd": "the cluster's whole database, Secrets included",
    "/run/containerd": "the containerd socket and state: control of every container",
    "/var/run/containerd": "the containerd socket and state: control of every container",
    "/run/crio": "the CRI-O socket: control of every container",
    "/var/run/crio": "the CRI-O socket: control of every container",
    "/dev/mem": "physical memory of the node",
    "/dev/kmem": "kernel memory of the node",
    "/etc/shadow": "password hashes of the node's users",
}
RUNTIME_SOCKETS = ("docker.sock", "containerd.sock", "crio.sock", "cri-dockerd.sock", "podman.sock")


def normalize_host_path(path: Any) -> str:
    """A ``hostPath.path`` as the node resolves it: stripped and normalised (``//etc/./`` → ``/etc``);
    relative or empty values are returned as they are (the API rejects them)."""
    text = str(path or "").strip()
    if not text:
        return ""
    if not text.startswith("/"):
        return text
    # normpath keeps a leading "//" (POSIX leaves it implementation-defined); Linux treats it as "/".
    return posixpath.normpath("/" + text.lstrip("/"))


def has_backsteps(path: Any) -> bool:
    """Whether ``path`` has a ``..`` element, which the API server refuses in a hostPath.

    Kubernetes: pkg/apis/core/validation (``validatePathNoBacksteps``): "must not contain '..'".
    """
    return ".." in str(path or "").split("/")


def path_under(path: str, prefix: str) -> bool:
    """``path`` is ``prefix`` or inside it (both normalised)."""
    if prefix == "/":
        return path == "/"
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def sensitive_reason(path: str) -> str | None:
    """Why mounting ``path`` from the host is dangerous, or None. The one comparison used by the
    scan controls and the audit rules; ``path`` is normalised here too, so callers may pass raw values."""
    path = normalize_host_path(path)
    if path.endswith(RUNTIME_SOCKETS):
        return "the container runtime socket gives full control of every container on the node"
    if path in SENSITIVE_DIRS:
        return SENSITIVE_DIRS[path]
    for prefix, reason in SENSITIVE_TREES.items():
        if path_under(path, prefix):
            return reason
    return None


#: The Pod Security Standards levels, weakest first ("Pod Security Standards"), and the namespace labels
#: Pod Security Admission reads: ``pod-security.kubernetes.io/<mode>`` and ``<mode>-version`` for each
#: mode ("Pod Security Admission", "Pod Security Admission labels for namespaces").
PSS_LEVELS: tuple[str, ...] = ("privileged", "baseline", "restricted")
PSA_MODES: tuple[str, ...] = ("enforce", "audit", "warn")
PSA_LABEL_PREFIX = "pod-security.kubernetes.io/"


#: Audit levels, least first ("Auditing", audit.k8s.io/v1 ``Level``): a request is logged at the level of
#: the first policy rule that matches it.
AUDIT_LEVELS: tuple[str, ...] = ("None", "Metadata", "Request", "RequestResponse")


#: The components a node or control-plane host runs ("Kubernetes Components" in the Kubernetes documentation).
COMPONENTS: tuple[str, ...] = ("kubelet", "kube-proxy", "kube-apiserver", "kube-controller-manager",
                               "kube-scheduler", "etcd")


@dataclass(frozen=True, slots=True)
class ComponentFacts:
    """Typed facts about one component (:data:`COMPONENTS`) on one node, as a node source reads them.

    * ``settings``: the component's **effective** configuration, named as its configuration API names
      it (``authentication.anonymous.enabled`` of KubeletConfiguration, kubelet.config.k8s.io/v1beta1):
      the configuration file, overridden by the flags that override it, with the defaults the
      component applies filled in. Merging is the source's job, because the defaults differ between
      flag and file (the kubelet's ``--anonymous-auth`` defaults to true, the configuration file's
      ``authentication.anonymous.enabled`` to false), so a rule reads one value that is the truth.
    * ``flags``: the command line as given, by flag name without dashes (``{"anonymous-auth": "false"}``);
      for components configured by flags only (kube-apiserver), this is where their settings are.
    * ``files``: the files the component depends on, by absolute path:
      ``{"/var/lib/kubelet/config.yaml": {"mode": "0600", "owner": "root", "group": "root"}}``.
      Each entry may also carry ``"role"`` (what the file is to the component: ``config``,
      ``kubeconfig``, ``manifest``, ``service``, ``pki-dir``, ``pki-cert``, ``pki-key``, ``client-ca``,
      ``data-dir``, ``encryption-config``, ``audit-policy``, ``audit-webhook-config``, ``admission-config``)
      and ``"exists": False`` for a file a flag names that is not there.
    * ``version``: the component's version (``"1.29.3"``) when the source can tell, else None; rules
      that depend on it (a flag removed in 1.20) read it as ``version``.
    * ``file`` and ``first_line``: where the facts were read (a configuration file, a static pod
      manifest, a snapshot of the node); ``settings`` loaded from YAML keep each key's line.

    Rules see :meth:`view`: ``{"component", "node", "version", "settings", "flags", "files"}``.
    """

    component: str
    node: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    flags: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    version: str | None = None
    file: str | None = None
    first_line: int | None = None

    def view(self) -> dict[str, Any]:
        """The mapping rule paths start at (``settings.authentication.anonymous.enabled``)."""
        return {"component": self.component, "node": self.node, "version": self.version,
                "settings": self.settings, "flags": self.flags, "files": self.files}

    def line(self, holder: Any = None, key: Any = None) -> int | None:
        """Line of ``holder[key]`` when ``holder`` was loaded with key lines, else of ``holder``, else
        the first line of the facts."""
        key_line = getattr(holder, "key_line", None)
        found = key_line(key) if key_line is not None and key is not None else None
        if found is None:
            found = getattr(holder, "line", None)
        return found if isinstance(found, int) else self.first_line


__all__ = ["BASELINE_CAPABILITIES", "COMPONENTS", "ComponentFacts", "RUNTIME_SOCKETS",
           "SENSITIVE_DIRS", "SENSITIVE_TREES", "SYSTEM_NAMESPACES",
           "capability_name", "dangerous_capabilities", "has_backsteps", "normalize_host_path", "path_under",
           "sensitive_reason"]
