"""Pod Security Standards (baseline and restricted, current Kubernetes release).

Evaluates a pod exactly as the Pod Security Admission controller's ``latest`` policy
version would, so the answer to "would ``enforce: restricted`` admit this?" is direct.
Each PSS check is listed with the fields it reads; the strongest level met is reported
per workload (``privileged`` when baseline fails).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from kubeharden.checks.context import Context
from kubeharden.checks.pods import SAFE_SYSCTLS, selinux_problems
from kubeharden.checks.registry import check
from kubeharden.model.controls import Violation
from kubeharden.model.facts import BASELINE_CAPABILITIES
from kubeharden.model.objects import as_dict, as_list
from kubeharden.model.pods import ContainerView, PodView

#: Profile types the AppArmor and Seccomp controls allow (baseline AppArmor; restricted Seccomp).
CONFINED_PROFILES = ("RuntimeDefault", "Localhost")
#: The profile type the baseline Seccomp control forbids.
UNCONFINED = "Unconfined"
#: The only /proc mount type the baseline allows (besides unset).
DEFAULT_PROC_MOUNT = "Default"
#: What the restricted Capabilities control requires dropped, and the one capability it lets a container add.
DROP_REQUIRED = "ALL"
ADD_ALLOWED = "NET_BIND_SERVICE"
#: Volume types the restricted profile allows.
RESTRICTED_VOLUMES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                                "persistentVolumeClaim", "projected", "secret", "image"})


@dataclass(slots=True)
class PssResult:
    level: str  # privileged | baseline | restricted
    baseline: list[str] = field(default_factory=list)
    restricted: list[str] = field(default_factory=list)


def _caps(c: ContainerView, which: str) -> list[str]:
    return [str(x) for x in as_list(as_dict(c.sc.get("capabilities")).get(which))]


# --- baseline ------------------------------------------------------------------------------

def _host_process(pod: PodView) -> Iterator[str]:
    if as_dict(pod.sc.get("windowsOptions")).get("hostProcess") is True:
        yield "HostProcess: pod windowsOptions.hostProcess=true"
    for c in pod.containers:
        if as_dict(c.sc.get("windowsOptions")).get("hostProcess") is True:
            yield f"HostProcess: container {c.name} windowsOptions.hostProcess=true"


def _host_namespaces(pod: PodView) -> Iterator[str]:
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.spec.get(key) is True:
            yield f"Host Namespaces: {key}=true"


def _privileged(pod: PodView) -> Iterator[str]:
    for c in pod.containers:
        if c.sc.get("privileged") is True:
            yield f"Privileged Containers: container {c.name} privileged=true"


def _capabilities_baseline(pod: PodView) -> Iterator[str]:
    for c in pod.containers:
        bad = [cap for cap in _caps(c, "add") if cap not in BASELINE_CAPABILITIES]
        if bad:
            yield f"Capabilities: container {c.name} adds {', '.join(bad)}"


def _host_path(pod: PodView) -> Iterator[str]:
    for _, vol in pod.volumes():
        if "hostPath" in vol:
            yield f"HostPath Volumes: volume {vol.get('name')}"


def _host_ports(pod: PodView) -> Iterator[str]:
    for c in pod.containers:
        for p in as_list(c.raw.get("ports")):
            if as_dict(p).get("hostPort") not in (None, 0):
                yield f"Host Ports: container {c.name} hostPort={as_dict(p).get('hostPort')}"


def _apparmor(pod: PodView) -> Iterator[str]:
    for key, value in pod.annotations_raw.items():
        if str(key).startswith("container.apparmor.security.beta.kubernetes.io/"):
            v = str(value)
            if v not in ("runtime/default", "") and not v.startswith("localhost/"):
                yield f"AppArmor: annotation {key}={v}"
    profiles = [("pod", pod.sc.get("appArmorProfile"))] + [
        (f"container {c.name}", c.sc.get("appArmorProfile")) for c in pod.containers]
    for who, prof in profiles:
        kind = as_dict(prof).get("type")
        if prof is not None and kind not in CONFINED_PROFILES:
            yield f"AppArmor: {who} appArmorProfile.type={kind}"


def _selinux(pod: PodView) -> Iterator[str]:
    bad = selinux_problems(pod.sc.get("seLinuxOptions"))
    if bad:
        yield f"SELinux: pod seLinuxOptions {', '.join(bad)}"
    for c in pod.containers:
        bad = selinux_problems(c.sc.get("seLinuxOptions"))
        if bad:
            yield f"SELinux: container {c.name} seLinuxOptions {', '.join(bad)}"


def _proc_mount(pod: PodView) -> Iterator[str]:
    for c in pod.containers:
        if c.sc.get("procMount") not in (None, DEFAULT_PROC_MOUNT):
            yield f"/proc Mount Type: container {c.name} procMount={c.sc.get('procMount')}"


def _seccomp_baseline(pod: PodView) -> Iterator[str]:
    if as_dict(pod.sc.get("seccompProfile")).get("type") == UNCONFINED:
        yield "Seccomp: pod seccompProfile.type=Unconfined"
    for c in pod.containers:
        if as_dict(c.sc.get("seccompProfile")).get("type") == UNCONFINED:
            yield f"Seccomp: container {c.name} seccompProfile.type=Unconfined"


def _sysctls(pod: PodView) -> Iterator[str]:
    for item in as_list(pod.sc.get("sysctls")):
        name = as_dict(item).get("name")
        if name not in SAFE_SYSCTLS:
            yield f"Sysctls: {name}"


BASELINE_CHECKS: tuple[Callable[[PodView], Iterator[str]], ...] = (
    _host_process, _host_namespaces, _privileged, _capabilities_baseline, _host_path, _host_ports,
    _apparmor, _selinux, _proc_mount, _seccomp_baseline, _sysctls,
)

# --- restricted ----------------------------------------------------------------------------


def _volume_types(pod: PodView) -> Iterator[str]:
    for _, vol in pod.volumes():
        kinds = [k for k in vol if k != "name"]
        if kinds and kinds[0] not in RESTRICTED_VOLUMES and kinds[0] != "hostPath":
            yield f"Volume Types: volume {vol.get('name')} is {kinds[0]}"


def _privilege_escalation(pod: PodView) -> Iterator[str]:
    if pod.is_windows:
        return
    for c in pod.containers:
        if c.sc.get("allowPrivilegeEscalation") is not False:
            yield f"Privilege Escalation: container {c.name} allowPrivilegeEscalation is not false"


def _non_root(pod: PodView) -> Iterator[str]:
    pod_value = pod.sc.get("runAsNonRoot")
    if pod_value is False:
        yield "Running as Non-root: pod runAsNonRoot=false"
    for c in pod.containers:
        value = c.sc.get("runAsNonRoot")
        if value is False or (value is None and pod_value is not True):
            yield f"Running as Non-root: container {c.name} does not set runAsNonRoot=true"


def _non_root_user(pod: PodView) -> Iterator[str]:
    if pod.sc.get("runAsUser") == 0:
        yield "Running as Non-root user: pod runAsUser=0"
    for c in pod.containers:
        if c.sc.get("runAsUser") == 0:
            yield f"Running as Non-root user: container {c.name} runAsUser=0"


def _seccomp_restricted(pod: PodView) -> Iterator[str]:
    if pod.is_windows:
        return
    ok = CONFINED_PROFILES
    pod_type = as_dict(pod.sc.get("seccompProfile")).get("type")
    for c in pod.containers:
        c_type = as_dict(c.sc.get("seccompProfile")).get("type")
        if c_type is None and pod_type in ok:
            continue
        if c_type not in ok:
            yield f"Seccomp: container {c.name} seccompProfile is not RuntimeDefault or Localhost"


def _capabilities_restricted(pod: PodView) -> Iterator[str]:
    if pod.is_windows:
        return
    for c in pod.containers:
        if DROP_REQUIRED not in _caps(c, "drop"):
            yield f"Capabilities: container {c.name} does not drop ALL"
        extra = [cap for cap in _caps(c, "add") if cap != ADD_ALLOWED]
        if extra:
            yield f"Capabilities: container {c.name} adds {', '.join(extra)}"


RESTRICTED_CHECKS: tuple[Callable[[PodView], Iterator[str]], ...] = (
    _volume_types, _privilege_escalation, _non_root, _non_root_user, _seccomp_restricted,
    _capabilities_restricted,
)


def evaluate(pod: PodView) -> PssResult:
    """The strongest Pod Security Standards level ``pod`` meets, with every violation (a pure function)."""
    baseline = [msg for fn in BASELINE_CHECKS for msg in fn(pod)]
    restricted = [msg for fn in RESTRICTED_CHECKS for msg in fn(pod)]
    level = "privileged" if baseline else ("baseline" if restricted else "restricted")
    return PssResult(level, baseline, restricted)


def evaluate_once(pod: PodView, ctx: Context) -> PssResult:
    """:func:`evaluate`, once per pod per scan: the engine records every pod's level and, in the
    strict profile, KH-PSS-001/002 ask again for the same pod right after (memo in ``ctx.scan``)."""
    return ctx.scan.memo("pss", pod, evaluate)


@check("KH-PSS-001")
def pss_baseline(pod: PodView, ctx: Context) -> Iterator[Violation]:
    result = evaluate_once(pod, ctx)
    if result.baseline:
        yield Violation("PSA enforce=baseline would reject this pod: " + "; ".join(result.baseline), pod.line())


@check("KH-PSS-002")
def pss_restricted(pod: PodView, ctx: Context) -> Iterator[Violation]:
    result = evaluate_once(pod, ctx)
    if result.restricted and not result.baseline:
        yield Violation("PSA enforce=restricted would reject this pod: " + "; ".join(result.restricted),
                        pod.line())
