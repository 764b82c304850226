"""Pod-security controls whose logic is more than one field (guide section "Pod security").

The simple one-field controls (privileged, host namespaces, read-only root filesystem)
are declarative rules in ``catalogue/controls/pods.yaml``; what needs judgement lives here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubeharden.checks.context import Context
from kubeharden.checks.fix_evidence import token_unused
from kubeharden.checks.rbac import model_for
from kubeharden.checks.registry import check
from kubeharden.model.controls import NOTHING_TO_JUDGE, Violation
from kubeharden.model.facts import (
    normalize_host_path,
    path_under,
    sensitive_reason,
)
from kubeharden.model.fieldpath import join
from kubeharden.model.findings import Fix
from kubeharden.model.objects import as_dict, as_list
from kubeharden.model.pods import ContainerView, PodView, Setting

# --- users and groups -------------------------------------------------------------------


@check("KH-POD-001")
def run_as_non_root(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    user = c.effective("runAsUser")
    non_root = c.effective("runAsNonRoot")
    if user.level != "unset":
        # runAsNonRoot: true beside runAsUser 0 makes the kubelet refuse to start the container (Kubernetes API
        # reference, SecurityContext.runAsNonRoot), and which UID the image can run as is the author's call.
        if not isinstance(user.value, int) or isinstance(user.value, bool):
            yield Violation(f"runAsUser is {user.value!r}, not an integer UID", c.line(user.holder, user.key),
                            path=_sc_path(c, user), fix=False)
            return
        if user.value == 0:
            where = "on the container" if user.level == "container" else "inherited from the pod"
            yield Violation(f"runAsUser is 0 (root), {where}", c.line(user.holder, user.key),
                            path=_sc_path(c, user), fix=False)
            return
    if non_root.value is True:
        return
    if user.level != "unset":  # a non-zero UID is non-root even without runAsNonRoot
        return
    user_name = c.windows_option("runAsUserName")  # a Windows container's user, however Windows was chosen
    if c.pod.targets_windows and isinstance(user_name.value, str) and \
            user_name.value.casefold() == WINDOWS_ADMINISTRATOR.casefold():
        # runAsNonRoot: true beside it makes the kubelet refuse to start the container: no fix, the user must change
        yield Violation(f"runAsUserName is {user_name.value}, the container's administrator",
                        c.line(user_name.holder, user_name.key),
                        path=join(c.pod.spec_path if user_name.level == "pod" else c.path, "securityContext",
                                  "windowsOptions", "runAsUserName"),
                        fix=False, remediation=WINDOWS_NON_ROOT)
        return
    if c.pod.is_windows:  # runAsUser must be unset on a Windows pod (Kubernetes API reference, PodSpec.os)
        who = (f"runAsUserName {user_name.value} is written but nothing makes the kubelet refuse an administrator"
               if user_name.level != "unset" else "the image's user decides, which may be ContainerAdministrator")
        if non_root.value is False:
            yield Violation(f"runAsNonRoot is false: {who}", c.line(non_root.holder, non_root.key),
                            path=_sc_path(c, non_root), remediation=WINDOWS_NON_ROOT)
            return
        yield Violation(f"runAsNonRoot: true is not set (pod or container): {who}", c.line(c.sc or None),
                        path=join(c.path, "securityContext", "runAsNonRoot"), remediation=WINDOWS_NON_ROOT)
        return
    if non_root.value is False:
        yield Violation("runAsNonRoot is false and no non-zero runAsUser is set: the image's USER decides, "
                        "and that is root in most images", c.line(non_root.holder, non_root.key),
                        path=_sc_path(c, non_root))
        return
    yield Violation("neither runAsNonRoot: true nor a non-zero runAsUser is set (pod or container): "
                    "the image's USER decides, and that is root in most images", c.line(c.sc or None),
                    path=join(c.path, "securityContext", "runAsNonRoot"))


#: The administrator account of a Windows container (Windows user names are case-insensitive).
WINDOWS_ADMINISTRATOR = "ContainerAdministrator"
#: KH-POD-001's remedy on a Windows pod, which must leave runAsUser unset (Kubernetes API reference, PodSpec.os);
#: with runAsNonRoot the kubelet refuses to start a container whose user is ContainerAdministrator
#: (SecurityContext.runAsNonRoot; "Configure RunAsUserName for Windows pods and containers").
WINDOWS_NON_ROOT = ("Set securityContext.runAsNonRoot: true on the pod or each container, and name a non-administrator "
                    "user with securityContext.windowsOptions.runAsUserName (e.g. ContainerUser); a Windows pod "
                    "cannot set runAsUser.")


def _sc_path(c: ContainerView, setting: Setting) -> str:
    """Path of an effective security-context field: where it is set (pod or container), else the container's."""
    base = c.pod.spec_path if setting.level == "pod" else c.path
    return join(base, "securityContext", setting.key or "")


@check("KH-POD-002")
def run_as_non_root_group(pod: PodView, ctx: Context) -> Iterator[Violation]:
    """Each container's effective runAsGroup set and non-zero, the pod's fsGroup and supplementalGroups without 0.

    A Windows pod is not judged (NOTHING_TO_JUDGE: not applicable, never a pass): runAsGroup, fsGroup and
    supplementalGroups must be unset there (Kubernetes API reference, PodSpec.os;
    model.pods.WINDOWS_UNSET_POD_SECURITY_CONTEXT), so the rule cannot be met and no fix can set them.
    """
    if pod.is_windows:
        yield NOTHING_TO_JUDGE
        return
    for c in pod.containers:
        group = c.effective("runAsGroup")
        if group.level == "unset":
            yield Violation("runAsGroup is not set: the image's group applies, which is root (GID 0) in most images",
                            c.line(c.sc or None), container=c.name, path=join(c.path, "securityContext", "runAsGroup"))
        elif group.value == 0:
            where = "on the container" if group.level == "container" else "inherited from the pod"
            yield Violation(f"runAsGroup is 0 (root group), {where}", c.line(group.holder, group.key),
                            container=c.name, path=_sc_path(c, group))
    psc = pod.sc
    if psc.get("fsGroup") == 0:
        yield Violation("fsGroup is 0: mounted volumes become owned by the root group", pod.line(psc, "fsGroup"),
                        path=join(pod.spec_path, "securityContext", "fsGroup"))
    groups = psc.get("supplementalGroups")
    if isinstance(groups, list) and 0 in groups:
        yield Violation("supplementalGroups contains 0 (root group)", pod.line(psc, "supplementalGroups"),
                        path=join(pod.spec_path, "securityContext", "supplementalGroups", groups.index(0)))


# --- host access ------------------------------------------------------------------------

# The sensitive node paths, the path normalisation and the comparison are Kubernetes facts shared
# with the audit rules: kubeharden.model.facts.
_norm = normalize_host_path
_under = path_under


def _allowed(path: str, ctx: Context) -> bool:
    return any(_under(path, _norm(p)) for p in ctx.config.allowed_host_paths)


def _host_path_volumes(pod: PodView) -> Iterator[tuple[dict[str, Any], str, str]]:
    for _, vol, name, path in _indexed_host_path_volumes(pod):
        yield vol, name, path


def _indexed_host_path_volumes(pod: PodView) -> Iterator[tuple[int, dict[str, Any], str, str]]:
    """(index in spec.volumes, volume, name, normalised host path) of every hostPath volume."""
    for i, vol in pod.volumes():
        host = vol.get("hostPath")
        if host is not None:
            yield i, vol, str(vol.get("name", "")), _norm(as_dict(host).get("path"))


def _mounts_of(pod: PodView, volume: str) -> list[tuple[ContainerView, dict[str, Any]]]:
    out = []
    for c in pod.containers:
        for m in as_list(c.raw.get("volumeMounts")):
            if isinstance(m, dict) and m.get("name") == volume:
                out.append((c, m))
    return out


@check("KH-POD-007")
def host_path_volumes(pod: PodView, ctx: Context) -> Iterator[Violation]:
    for i, vol, name, path in _indexed_host_path_volumes(pod):
        if path and _allowed(path, ctx):
            continue
        users = ", ".join(sorted({c.name for c, _ in _mounts_of(pod, name)})) or "no container"
        yield Violation(f"volume {name!r} mounts host path {path or '<empty>'} (used by {users}); "
                        "it is not in allowed_host_paths", pod.line(vol, "hostPath"),
                        path=join(pod.spec_path, "volumes", i, "hostPath", "path"))


@check("KH-POD-008")
def writable_host_path(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    host_volumes = {name: path for _, name, path in _host_path_volumes(c.pod)}
    if not host_volumes:
        return
    for i, m in enumerate(as_list(c.raw.get("volumeMounts"))):
        if not isinstance(m, dict) or str(m.get("name")) not in host_volumes:
            continue
        if m.get("readOnly") is not True:
            yield Violation(f"host path {host_volumes[str(m['name'])]} is mounted writable at {m.get('mountPath')}",
                            c.line(m, "readOnly" if "readOnly" in m else "name"),
                            path=join(c.path, "volumeMounts", i, "readOnly"))


@check("KH-POD-009")
def sensitive_host_path(pod: PodView, ctx: Context) -> Iterator[Violation]:
    for i, vol, name, path in _indexed_host_path_volumes(pod):
        reason = sensitive_reason(path)
        if reason:
            yield Violation(f"volume {name!r} mounts {path} from the host: {reason}", pod.line(vol, "hostPath"),
                            path=join(pod.spec_path, "volumes", i, "hostPath", "path"))


# --- privileges and capabilities ------------------------------------------------------------


# --- volumes --------------------------------------------------------------------------------


def volume_type(vol: dict[str, Any]) -> str | None:
    for key in vol:
        if key != "name":
            return str(key)
    return None


@check("KH-POD-015")
def volume_types(pod: PodView, ctx: Context) -> Iterator[Violation]:
    allowed = set(ctx.config.allowed_volume_types)
    for i, vol in pod.volumes():
        kind = volume_type(vol)
        if kind is None or kind == "hostPath" or kind in allowed:  # hostPath: KH-POD-007
            continue
        yield Violation(f"volume {vol.get('name')!r} is of type {kind}, which is not in the allowed list "
                        f"({', '.join(sorted(allowed))})", pod.line(vol, kind), path=join(pod.spec_path, "volumes", i))


# --- kernel isolation: seccomp, AppArmor, SELinux, procMount, sysctls ------------------------


SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})


def selinux_problems(options: Any) -> list[str]:
    opts = as_dict(options)
    out = []
    if str(opts.get("type") or "") not in SELINUX_TYPES:
        out.append(f"type {opts.get('type')}")
    for key in ("user", "role"):
        if opts.get(key):
            out.append(f"{key} {opts[key]}")
    return out


@check("KH-POD-019")
def selinux_custom(pod: PodView, ctx: Context) -> Iterator[Violation]:
    psc = pod.sc
    bad = selinux_problems(psc.get("seLinuxOptions"))
    if bad:
        yield Violation(f"pod seLinuxOptions set {', '.join(bad)}", pod.line(psc, "seLinuxOptions"),
                        path=join(pod.spec_path, "securityContext", "seLinuxOptions"))
    for c in pod.containers:
        bad = selinux_problems(c.sc.get("seLinuxOptions"))
        if bad:
            yield Violation(f"seLinuxOptions set {', '.join(bad)}", c.line(c.sc, "seLinuxOptions"),
                            container=c.name, path=join(c.path, "securityContext", "seLinuxOptions"))


#: Sysctls the Pod Security Standards baseline allows (namespaced and isolated per pod).
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
})


@check("KH-POD-024")
def service_account_token(inventory: Any, ctx: Context) -> Iterator[Violation]:
    """Pods that get their ServiceAccount's API token; each fix is safe only by the evidence of
    :func:`kubeharden.checks.fix_evidence.token_unused` (the input's RBAC bindings and the pod itself)."""
    accounts: dict[tuple[str | None, str], tuple[bool, str]] = {}  # pods share accounts: each judged once

    def token_fix(pod: Any) -> Fix:
        safe, because = token_unused(pod, inventory, lambda: model_for(inventory, ctx), accounts)
        return Fix("set", join(pod.spec_path, "automountServiceAccountToken"), False, safe, because)

    for pod in inventory.pods:
        if pod.automount is False or pod.token_not_projected:
            continue
        if pod.automount is True:
            yield Violation("automountServiceAccountToken is true on the pod: every container gets an API token",
                            pod.automount_line, obj=pod, path=join(pod.spec_path, "automountServiceAccountToken"),
                            fix=token_fix(pod))
            continue
        sa = inventory.service_account(pod.namespace, pod.service_account)
        if sa is not None and sa.raw.get("automountServiceAccountToken") is False:
            continue
        if sa is None:
            why = f"ServiceAccount {pod.service_account!r} is not in the scanned input"
        else:
            why = (f"ServiceAccount {pod.service_account!r} ({sa.origin.file}:{sa.origin.line}) "
                   "does not set automountServiceAccountToken: false")
        yield Violation(f"the API token is mounted: the pod does not set automountServiceAccountToken and {why}",
                        pod.spec_line, obj=pod, path=join(pod.spec_path, "automountServiceAccountToken"),
                        fix=token_fix(pod))
