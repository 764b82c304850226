"""Controls whose logic is a Python check (``checks/``), written as CEL by hand for admission policies.

Each function mirrors one check and names it; ``tests/test_export_cel.py`` holds every one to the
scanner's verdict on every catalogue example, in every pod-bearing kind, and on adversarial cases.
The named value sets (safe sysctls, baseline capabilities, SELinux types, sensitive host paths,
runtime sockets, restricted volume types, Pod Security levels) are written out from the one place
they are defined, never retyped. Settings of ``.kubeharden.yaml`` a check reads (allowed host paths,
volume types, registries, system namespaces and workloads, the profile) are written into the
expression from the configuration the export runs with, as the scanner reads them.

The objects are as the API server hands them to admission: decoded into their types (no ``null``,
a list is a list), with what its validation refuses never arriving (a hostPath with ``..``, a volume
with two sources). ``request.namespace`` is the namespace of the request (Kubernetes "Validating
Admission Policy", variables ``object`` and ``request``; Kyverno CEL has the same).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from kubeharden.analysis.rbac_defaults import default_binding_names, default_binding_subjects
from kubeharden.checks.namespaces import PSA_ENFORCE, PSA_LEVELS
from kubeharden.checks.pods import SAFE_SYSCTLS, SELINUX_TYPES
from kubeharden.checks.resources import CONTAINER_RESOURCES
from kubeharden.checks.resources import _resource_params as resource_params
from kubeharden.checks.pss import (
    ADD_ALLOWED,
    CONFINED_PROFILES,
    DEFAULT_PROC_MOUNT,
    DROP_REQUIRED,
    RESTRICTED_VOLUMES,
    UNCONFINED,
)
from kubeharden.config import Config
from kubeharden.enforce.cel import LISTS, Inexpressible, effective, literal, select
from kubeharden.model.cluster import CONTROL_PLANE_COMPONENTS, MIRROR_ANNOTATION, upstream_image_pattern
from kubeharden.model.images import DOCKER_HUB, DOCKER_HUB_LEGACY, OFFICIAL_PREFIX, allowed_entry
from kubeharden.model.facts import (
    BASELINE_CAPABILITIES,
    RUNTIME_SOCKETS,
    SENSITIVE_DIRS,
    SENSITIVE_TREES,
    normalize_host_path,
)
from kubeharden.model.controls import Control
from kubeharden.model.resources import POD_LEVEL_RESOURCES, ZERO_QUANTITY
from kubeharden.model.pods import (
    APPARMOR_ANNOTATION_PREFIX,
    APPARMOR_ANNOTATION_TYPES,
    APPARMOR_LOCALHOST_PREFIX,
)

#: The pod spec's containers of all three lists (the scanner's pod view: mappings only).
CONTAINERS = " + ".join(f"variables.spec.?{n}.orValue([])" for n in LISTS)
#: The pod spec's volumes that are mappings (PodView.volumes).
VOLUMES = "variables.spec.?volumes.orValue([]).filter(v, type(v) == map)"


def each_container(predicate: str) -> str:
    """True when ``predicate`` (over the container ``c``) holds for some container of the pod."""
    return f"(({CONTAINERS}).exists(c, type(c) == map && {predicate}))"


def own(c: str, *fields: str) -> str:
    """The container's own securityContext field (no inheritance), null when missing."""
    return select(f"{c}.?securityContext", list(fields))


def pod_sc(*fields: str) -> str:
    """The pod's securityContext field, null when missing."""
    return select("variables.podSC", list(fields))


def _field_of(value: str, name: str) -> str:
    """``as_dict(value).get(name)``: the field of a mapping, null for anything else."""
    return f"(type({value}) == map ? dyn({value}.?{name}.orValue(null)) : dyn(null))"


def _any(parts: list[str]) -> str:
    return "(" + (" || ".join(parts) or "false") + ")"


# -- host paths (model/facts.py) ---------------------------------------------------------------------

def normalized_host_path(v: str) -> str:
    """model.facts.normalize_host_path of the volume ``v``'s hostPath.path: trimmed; absolute paths with
    empty and ``.`` elements removed (``..`` never arrives: the API server refuses it)."""
    path = _field_of(f"{v}.hostPath", "path")
    text = f"({path} == null ? '' : string({path})).trim()"
    return (f"(({text}) == '' ? '' : !({text}).startsWith('/') ? ({text}) : "
            f"'/' + ({text}).split('/').filter(s, s != '' && s != '.').join('/'))")


def path_under(p: str, prefix: str) -> str:
    """model.facts.path_under with a normalised ``prefix`` known at export time."""
    if prefix == "/":
        return f"{p} == '/'"
    return f"({p} == {json.dumps(prefix)} || {p}.startsWith({json.dumps(prefix.rstrip('/') + '/')}))"


def host_paths(predicate: str) -> str:
    """True when ``predicate`` holds for the normalised path ``p`` of some hostPath volume."""
    return (f"({VOLUMES}.filter(v, v.?hostPath.orValue(null) != null)"
            f".map(v, {normalized_host_path('v')}).exists(p, {predicate}))")


def _host_path_outside(config: Config) -> str:  # checks.pods.host_path_volumes (KH-POD-007)
    allowed = [path_under("p", normalize_host_path(a)) for a in config.allowed_host_paths]
    return host_paths(f"!(p != '' && {_any(allowed)})")


def _sensitive_host_path(config: Config) -> str:  # checks.pods.sensitive_host_path, model.facts.sensitive_reason
    parts = [f"p.endsWith({json.dumps(s)})" for s in RUNTIME_SOCKETS]
    parts.append(f"p in {literal(sorted(SENSITIVE_DIRS))}")
    parts += [path_under("p", tree) for tree in SENSITIVE_TREES]
    return host_paths(_any(parts))


#: The hostPath volumes' names (PodView.volumes).
HOST_PATH_NAMES = f"{VOLUMES}.filter(v, v.?hostPath.orValue(null) != null).map(v, string(v.?name.orValue('')))"
#: CEL over the mount ``m`` of a container: a mount of a hostPath volume that is not read-only.
WRITABLE_HOST_MOUNT = (f"type(m) == map && m.?name.orValue(null) != null && string(m.name) in {HOST_PATH_NAMES} && "
                       "m.?readOnly.orValue(null) != true")


def _writable_host_mount(config: Config) -> str:  # checks.pods.writable_host_path (KH-POD-008), per container
    return f"c.?volumeMounts.orValue([]).exists(m, {WRITABLE_HOST_MOUNT})"


def _writable_host_path(config: Config) -> str:  # checks.pods.writable_host_path (KH-POD-008)
    return each_container(_writable_host_mount(config))


# -- volumes, groups, SELinux ------------------------------------------------------------------------

def volume_types_outside(allowed: list[str] | frozenset[str]) -> str:
    """True when a volume's type (its key other than ``name``; the API server allows one source per
    volume) is neither hostPath (KH-POD-007's) nor in ``allowed``."""
    return f"{VOLUMES}.exists(v, v.exists(k, k != 'name' && k != 'hostPath' && !(k in {literal(sorted(allowed))})))"


def _volume_types(config: Config) -> str:  # checks.pods.volume_types (KH-POD-015)
    return f"({volume_types_outside(list(config.allowed_volume_types))})"


def _root_group_of(config: Config) -> str:  # checks.pods.run_as_non_root_group (KH-POD-002), per container
    group = effective("c", "runAsGroup")
    return f"({group} == null || {group} == 0)"


def _root_group_pod() -> list[tuple[str, str]]:
    """(CEL condition, field) of the pod's own root-group faults of KH-POD-002: fsGroup 0, a supplemental group 0."""
    groups = pod_sc("supplementalGroups")
    return [(f"{pod_sc('fsGroup')} == 0", "fsGroup"),
            (f"(type({groups}) == list && {groups}.exists(g, g == 0))", "supplementalGroups")]


def _root_group(config: Config) -> str:  # checks.pods.run_as_non_root_group (KH-POD-002)
    """Not on a Windows pod: runAsGroup, fsGroup and supplementalGroups must be unset there (Kubernetes API
    reference, PodSpec.os; model.pods.WINDOWS_UNSET_POD_SECURITY_CONTEXT), so the control does not apply."""
    pod = _any([cond for cond, _ in _root_group_pod()])
    return f"(!variables.windows && ({each_container(_root_group_of(config))} || {pod}))"


def selinux_problem(options: str) -> str:
    """checks.pods.selinux_problems is not empty: a type outside SELINUX_TYPES, or a user or role."""
    types = literal(sorted(SELINUX_TYPES))
    typ, user, role = (_field_of(options, k) for k in ("type", "user", "role"))
    return (f"(type({options}) == map && (!(({typ} == null ? '' : string({typ})) in {types}) || "
            f"({user} != null && {user} != '') || ({role} != null && {role} != '')))")


def _selinux_of(config: Config) -> str:  # checks.pods.selinux_custom (KH-POD-019), per container (own field)
    return selinux_problem(own("c", "seLinuxOptions"))


def _selinux_pod() -> list[tuple[str, str]]:
    """(CEL condition, field) of the pod's own fault of KH-POD-019: its seLinuxOptions."""
    return [(selinux_problem(pod_sc("seLinuxOptions")), "seLinuxOptions")]


def _selinux(config: Config) -> str:  # checks.pods.selinux_custom (KH-POD-019)
    return f"({_selinux_pod()[0][0]} || {each_container(_selinux_of(config))})"


def _root_user(config: Config) -> str:  # checks.pods.run_as_non_root (KH-POD-001), per container
    user, non_root = effective("c", "runAsUser"), effective("c", "runAsNonRoot")
    return f"({user} != null ? (type({user}) != int || {user} == 0) : {non_root} != true)"


def _run_as_root(config: Config) -> str:  # checks.pods.run_as_non_root (KH-POD-001)
    return each_container(_root_user(config))


# -- Pod Security Standards (checks/pss.py) -----------------------------------------------------------
# "Pod Security Standards", https://kubernetes.io/docs/concepts/security/pod-security-standards/: each
# function is one control of the page as checks/pss.py reads it (own fields, not inherited, unless said).

def _seccomp_type(profile: str) -> str:
    return _field_of(profile, "type")


def _caps(c: str, which: str) -> str:
    return f"{own(c, 'capabilities', which)}"


def _pss_baseline() -> str:
    """checks.pss.BASELINE_CHECKS: true when one of them reports the pod."""
    annotations = "variables.meta.?annotations.orValue({})"
    runtime_default = next(k for k, t in APPARMOR_ANNOTATION_TYPES.items() if t == "RuntimeDefault")
    apparmor_ok = literal(list(CONFINED_PROFILES))
    profile_bad = "({p} != null && !({t} in " + apparmor_ok + "))"
    c_profile, proc = own("c", "appArmorProfile"), own("c", "procMount")
    checks = [
        # HostProcess
        f"{pod_sc('windowsOptions', 'hostProcess')} == true",
        each_container(f"{own('c', 'windowsOptions', 'hostProcess')} == true"),
        # Host Namespaces
        *(f"{select('variables.spec', [k])} == true" for k in ("hostNetwork", "hostPID", "hostIPC")),
        # Privileged Containers
        each_container(f"{own('c', 'privileged')} == true"),
        # Capabilities: adds beyond the baseline set (names as written)
        each_container(f"type({_caps('c', 'add')}) == list && {_caps('c', 'add')}.exists(x, "
                       f"!(string(x) in {literal(BASELINE_CAPABILITIES)}))"),
        # HostPath Volumes
        f"{VOLUMES}.exists(v, 'hostPath' in v)",
        # Host Ports
        each_container("c.?ports.orValue([]).exists(p, type(p) == map && p.?hostPort.orValue(0) != 0)"),
        # AppArmor: annotations, then the pod's and each container's own appArmorProfile
        f"{annotations}.exists(k, string(k).startsWith({json.dumps(APPARMOR_ANNOTATION_PREFIX)}) && "
        f"!(string({annotations}[k]) in [{json.dumps(runtime_default)}, '']) && "
        f"!string({annotations}[k]).startsWith({json.dumps(APPARMOR_LOCALHOST_PREFIX)}))",
        profile_bad.format(p=pod_sc("appArmorProfile"), t=_field_of(pod_sc("appArmorProfile"), "type")),
        each_container(profile_bad.format(p=c_profile, t=_field_of(c_profile, "type"))),
        # SELinux
        selinux_problem(pod_sc("seLinuxOptions")),
        each_container(selinux_problem(own("c", "seLinuxOptions"))),
        # /proc Mount Type
        each_container(f"({proc} != null && {proc} != {literal(DEFAULT_PROC_MOUNT)})"),
        # Seccomp: Unconfined on the pod or a container
        f"{_seccomp_type(pod_sc('seccompProfile'))} == {literal(UNCONFINED)}",
        each_container(f"{_seccomp_type(own('c', 'seccompProfile'))} == {literal(UNCONFINED)}"),
        # Sysctls
        f"{pod_sc('sysctls')} != null && {pod_sc('sysctls')}.exists(i, "
        f"!({_field_of('i', 'name')} in {literal(SAFE_SYSCTLS)}))",
    ]
    return _any([f"({x})" for x in checks])


def _pss_restricted() -> str:
    """checks.pss.RESTRICTED_CHECKS: true when one of them reports the pod."""
    ok = literal(list(CONFINED_PROFILES))
    c_type, p_type = _seccomp_type(own("c", "seccompProfile")), _seccomp_type(pod_sc("seccompProfile"))
    own_non_root, drop, add = own("c", "runAsNonRoot"), _caps("c", "drop"), _caps("c", "add")
    checks = [
        # Volume Types
        volume_types_outside(RESTRICTED_VOLUMES),
        # Privilege Escalation (Linux pods)
        "!variables.windows && " + each_container(f"{own('c', 'allowPrivilegeEscalation')} != false"),
        # Running as Non-root
        f"{pod_sc('runAsNonRoot')} == false",
        each_container(f"({own_non_root} == false || ({own_non_root} == null && {pod_sc('runAsNonRoot')} != true))"),
        # Running as Non-root user
        f"{pod_sc('runAsUser')} == 0",
        each_container(f"{own('c', 'runAsUser')} == 0"),
        # Seccomp (Linux pods): the container's type, else the pod's
        "!variables.windows && " + each_container(f"!({c_type} == null && {p_type} in {ok}) && !({c_type} in {ok})"),
        # Capabilities (Linux pods): drop ALL, add nothing but NET_BIND_SERVICE (names as written)
        "!variables.windows && " + each_container(
            f"(!({drop} != null && {drop}.exists(x, string(x) == {literal(DROP_REQUIRED)}))"
            f" || ({add} != null && {add}.exists(x, string(x) != {literal(ADD_ALLOWED)})))"),
    ]
    return _any([f"({x})" for x in checks])


def _pss_001(config: Config) -> str:  # checks.pss.pss_baseline
    return _pss_baseline()


def _pss_002(config: Config) -> str:  # checks.pss.pss_restricted: meets baseline, fails restricted
    return f"(!{_pss_baseline()} && {_pss_restricted()})"


# -- namespaces (checks/namespaces.py) ----------------------------------------------------------------

def glob_regex(pattern: str) -> str:
    """An fnmatch glob (``*``, ``?``, ``[seq]``, ``[!seq]``; fnmatch.translate's reading) as anchored RE2."""
    out, i, n = "", 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            out += ".*"
        elif ch == "?":
            out += "."
        elif ch == "[":
            j = i + (pattern[i:i + 1] == "!")
            j += pattern[j:j + 1] == "]"
            end = pattern.find("]", j)
            if end < 0:
                out += re.escape(ch)
                continue
            body, i = pattern[i:end], end + 1
            negate = body.startswith("!")
            body = (body[1:] if negate else body).replace("\\", "\\\\").replace("^", "\\^").replace("[", "\\[")
            out += "[" + ("^" if negate else "") + body + "]"
        else:
            out += re.escape(ch)
    return f"^{out}$"


def _static_control_plane_pod() -> str:
    """model.cluster.system_component of a Pod: a mirror Pod of the control plane, or its kubeadm manifest."""
    meta = "object.?metadata"
    mirror = (f"({meta}.?annotations.orValue({{}}).exists(k, k == {json.dumps(MIRROR_ANNOTATION)}) || "
              f"{meta}.?ownerReferences.orValue([]).exists(o, type(o) == map && o.?kind.orValue(null) == 'Node'))")
    components = literal(sorted(CONTROL_PLANE_COMPONENTS))
    first = "object.?spec.?containers.orValue([])"
    command = f"{first}[0].?command.orValue([])"
    base = f"string({command}[0]).substring(string({command}[0]).lastIndexOf('/') + 1)"
    named = (f"(size({first}) > 0 && type({first}[0]) == map && ("
             f"(type({command}) == list && size({command}) > 0 ? {base} : '') in {components} || "
             f"string({first}[0].?name.orValue('')) in {components}))")
    label = f"{select('object', ['metadata', 'labels', 'component'])} in {components}"
    # model.cluster.system_component's second branch: a static Pod manifest as kubeadm writes it (host network,
    # first container running the component, labels component and tier: control-plane, the upstream image)
    labels = "object.?metadata.?labels.orValue({})"
    image = f"string({first}[0].?image.orValue(''))"
    manifest = " || ".join(
        f"(type({command}) == list && size({command}) > 0 && {base} == {json.dumps(c)} && "
        f"{labels}.?component.orValue('') == {json.dumps(c)} && "
        f"{image}.matches({json.dumps(upstream_image_pattern(c))}))"
        for c in sorted(CONTROL_PLANE_COMPONENTS))
    kubeadm = (f"(object.?spec.?hostNetwork.orValue(false) == true && size({first}) > 0 && type({first}[0]) == map "
               f"&& {labels}.?tier.orValue('') == 'control-plane' && ({manifest}))")
    return f"(object.kind == 'Pod' && (({mirror} && ({label} || {named})) || {kubeadm}))"


def _system_namespace(config: Config) -> str:  # checks.namespaces.system_namespace (KH-NS-001)
    # model.objects.make_ref: the name, else generateName, else <unnamed>
    name = "object.?metadata.?name.orValue(object.?metadata.?generateName.orValue('<unnamed>'))"
    ident = f"request.namespace + '/' + string({name})"
    allowed = [f"({ident}).matches({json.dumps(glob_regex(p))})" for p in config.system_workloads]
    return (f"(request.namespace in {literal(list(config.system_namespaces))} && "
            f"!{_static_control_plane_pod()} && !{_any(allowed)})")


def _default_namespace(config: Config) -> str:  # checks.namespaces.default_namespace (KH-NS-002)
    return "(request.namespace == 'default')"


def _pod_security_admission(config: Config) -> str:  # checks.namespaces.pod_security_admission (KH-NS-003)
    wanted = "restricted" if config.profile == "strict" else "baseline"
    level = select("object", ["metadata", "labels", PSA_ENFORCE])
    below = list(PSA_LEVELS[:PSA_LEVELS.index(wanted)])
    return (f"(!(string(object.?metadata.?name.orValue('')) in {literal(list(config.system_namespaces))}) && "
            f"({level} == null || !({level} in {literal(list(PSA_LEVELS))}) || {level} in {literal(below)}))")


# -- network and images ------------------------------------------------------------------------------

def _ingress_tls(config: Config) -> str:  # checks.network.ingress_tls (KH-NET-011) and _host_covered
    tls = "object.?spec.?tls.orValue([])"
    hosts_of = "(type(t) == map ? t.?hosts.orValue([]) : [])"
    covered = ("(string(p) == h || (string(p).startsWith('*.') && size(h.split('.')) == size(string(p).split('.')) "
               "&& h.endsWith(string(p).substring(1))))")
    hosts = ("object.?spec.?rules.orValue([]).filter(r, type(r) == map && r.?host.orValue('') != '')"
             ".map(r, string(r.host))")
    return (f"(size({tls}) == 0 || (!{tls}.exists(t, size({hosts_of}) == 0) && "
            f"{hosts}.exists(h, !{tls}.exists(t, {hosts_of}.exists(p, {covered})))))")


def image_full_name(img: str) -> str:
    """model.images.parse_image(img).full_name, lower-cased: registry/repository as distribution/reference
    normalises it (Docker Hub by default, index.docker.io is docker.io, ``library/`` for one-part names).
    Each step is bound once with a one-element ``map`` (the expression stays linear in size)."""
    hub, legacy, official = json.dumps(DOCKER_HUB), json.dumps(DOCKER_HUB_LEGACY), json.dumps(OFFICIAL_PREFIX)
    rest = f"({img}.contains('@') ? {img}.substring(0, {img}.indexOf('@')) : {img})"
    name = (f"[{rest}].map(r, r.lastIndexOf(':') > r.lastIndexOf('/') ? "
            "r.substring(0, r.lastIndexOf(':')) : r)[0]")
    first = "(n.contains('/') ? n.substring(0, n.indexOf('/')) : '')"
    is_registry = ("(n.contains('/') && (f.contains('.') || f.contains(':') || f == 'localhost' || "
                   "f.lowerAscii() != f))")
    parts = (f"[{first}].map(f, {is_registry} ? [f == {legacy} ? {hub} : f, n.substring(n.indexOf('/') + 1)] "
             f": [{hub}, n])[0]")
    full = (f"[{parts}].map(p, string(p[0]) == {hub} && !string(p[1]).contains('/') ? "
            f"string(p[0]) + '/' + {official} + string(p[1]) : string(p[0]) + '/' + string(p[1]))[0]")
    return f"[{name}].map(n, {full})[0].lowerAscii()"


def _untrusted_image(config: Config) -> str:  # checks.images.trusted_registry, per container
    entries = [allowed_entry(e) for e in config.allowed_registries]
    entries = [e for e in entries if e]
    if not entries:  # as the scanner: the control does not run without the setting
        raise Inexpressible("it compares with the registries setting of .kubeharden.yaml, which is empty")
    full = image_full_name("string(c.image)")
    allowed = _any([f"({full} == {json.dumps(e)} || {full}.startsWith({json.dumps(e + '/')}))" for e in entries])
    return f"type(c.?image.orValue(null)) == string && c.image != '' && !{allowed}"


def _trusted_registry(config: Config) -> str:  # checks.images.trusted_registry, model.images.registry_allowed
    return each_container(_untrusted_image(config))


# -- container resources (checks/resources.py, model/resources.py) ------------------------------------

#: The containers KH-RES-001 to -005 judge in an admitted Pod (model.resources.container_resources): the
#: regular and init containers (restartable sidecars and run-to-completion ones alike, as the scanner and the
#: LimitRanger, which defaults both); ephemeral containers cannot set resources (the API refuses them).
RESOURCE_LISTS = ("containers", "initContainers")
RESOURCE_CONTAINERS = " + ".join(f"object.?spec.?{key}.orValue([])" for key in RESOURCE_LISTS)


def resource_missing(part: str, resource: str, c: str = "c") -> str:
    """True when container ``c`` of the admitted Pod ends up without ``part`` (requests|limits) for
    ``resource`` (checks.resources._missing over model.resources): its own limit stands in for its request,
    pod-level ``spec.resources`` counts for cpu and memory (its limits for either part, its requests for
    requests). A quantity is judged present by its key unless it is zero (model.resources.ZERO_QUANTITY), as the
    scanner's ``_set``: an admitted object holds parsed quantities, never ``""`` or null. The LimitRange
    defaults are already in the Pod: the LimitRanger
    admission plugin mutates before validating admission runs ("Limit Ranges",
    https://kubernetes.io/docs/concepts/policy/limit-range/; "Admission Control in Kubernetes", LimitRanger)."""
    r, zero = json.dumps(resource), json.dumps(ZERO_QUANTITY)

    def missing_at(holder: str) -> str:  # the container's or the pod's own resources lack it
        requests, limits = f"{holder}.?resources.?requests.orValue({{}})", f"{holder}.?resources.?limits.orValue({{}})"
        no_limit = f"(!({r} in {limits}) || string({limits}[{r}]).matches({zero}))"
        if part == "limits":
            return no_limit
        # a limit stands in for an absent request only: a request written as zero stays zero
        return (f"((!({r} in {requests}) || string({requests}[{r}]).matches({zero})) && "
                f"({no_limit} || {r} in {requests}))")

    holders = [c] + (["object.?spec"] if resource in POD_LEVEL_RESOURCES else [])
    return "(" + " && ".join(missing_at(h) for h in holders) + ")"


def missing_resources(part: str, resources: tuple[str, ...], c: str = "c") -> str:
    """True when container ``c`` misses ``part`` for one of ``resources``."""
    return _any([resource_missing(part, r, c) for r in resources])


def _container_resources(part: str, resources: tuple[str, ...]) -> str:
    """checks.resources.missing_resources (KH-RES-001 to -005): some container misses ``part`` for one of
    ``resources``."""
    return f"(({RESOURCE_CONTAINERS}).exists(c, type(c) == map && {missing_resources(part, resources)}))"


# -- RBAC bindings (checks/rbac.py) ------------------------------------------------------------------

#: The subject of KH-RBAC-017 as the RBAC model reads a binding's subject (kind, name, no namespace).
MASTERS = ("Group", "system:masters", None)


def masters_default_bindings() -> dict[str, str]:
    """Default ClusterRoleBinding name -> its ClusterRole, for the bootstrap bindings that name system:masters
    (analysis.rbac_defaults.DEFAULT_BINDINGS: ``cluster-admin`` -> ``cluster-admin``)."""
    out = {}
    for name in default_binding_names():
        default = default_binding_subjects(name)
        if default is not None and MASTERS in default[1]:
            out[name] = default[0]
    return out


def _system_masters(config: Config) -> str:  # checks.rbac.system_masters (KH-RBAC-017)
    """A RoleBinding or ClusterRoleBinding naming the group system:masters, except the bootstrap binding.

    The scanner resolves the binding through the RBAC model (analysis/rbac.py): a ClusterRoleBinding of a
    default's name is exempt while its roleRef is the default ClusterRole (a role kubeharden carries, so it
    always resolves), reconciled or not; one naming another role grants what it says until the API server's
    next start recreates it (auto-reconciliation), so it is judged as written. A ClusterRoleBinding with a
    ServiceAccount subject without a namespace grants nothing (the API
    server refuses it). So the one binding object decides ("Using RBAC Authorization", Default roles and
    role bindings, auto-reconciliation).
    """
    subjects = "object.?subjects.orValue([])"
    names = "object.?metadata.?name.orValue('')"
    ref = "object.?roleRef"
    exempt = [f"({names} == {json.dumps(name)} && "
              f"{ref}.?kind.orValue('') == 'ClusterRole' && {ref}.?name.orValue('') == {json.dumps(role)})"
              for name, role in sorted(masters_default_bindings().items())]
    crb = "object.kind == 'ClusterRoleBinding'"
    unnamespaced_sa = (f"{subjects}.exists(s, type(s) == map && s.?kind.orValue('') == 'ServiceAccount' && "
                       "s.?namespace.orValue('') == '')")
    return (f"({subjects}.exists(s, type(s) == map && s.?kind.orValue('') == {json.dumps(MASTERS[0])} && "
            f"s.?name.orValue('') == {json.dumps(MASTERS[1])}) && "
            f"!({crb} && ({_any(exempt)} || {unnamespaced_sa})))")


#: control ID -> the CEL that is true when the admitted object violates it, for the export's configuration.
CHECKS: dict[str, Callable[[Config], str]] = {
    "KH-POD-001": _run_as_root,
    "KH-POD-002": _root_group,
    "KH-POD-007": _host_path_outside,
    "KH-POD-008": _writable_host_path,
    "KH-POD-009": _sensitive_host_path,
    "KH-POD-015": _volume_types,
    "KH-POD-019": _selinux,
    "KH-PSS-001": _pss_001,
    "KH-PSS-002": _pss_002,
    "KH-NS-001": _system_namespace,
    "KH-NS-002": _default_namespace,
    "KH-NS-003": _pod_security_admission,
    "KH-NET-011": _ingress_tls,
    "KH-IMG-003": _trusted_registry,
    "KH-RBAC-017": _system_masters,
}


#: Hand-written container checks: control ID -> CEL over the container ``c`` that is true when the check reports
#: it (with the export's configuration); their CHECKS entry is ``each_container`` of it (with the pod's own faults
#: of :data:`POD_FAULTS`, and KH-POD-002's Windows exemption). cel_messages names the containers with it.
CONTAINER_CHECKS: dict[str, Callable[[Config], str]] = {
    "KH-POD-001": _root_user,
    "KH-POD-002": _root_group_of,
    "KH-POD-008": _writable_host_mount,
    "KH-POD-019": _selinux_of,
    "KH-IMG-003": _untrusted_image,
}

#: Hand-written pod checks that report containers and the pod's own fields too: control ID -> (CEL condition over
#: the pod, its securityContext field) of each pod-level fault; cel_messages names them beside the containers.
POD_FAULTS: dict[str, Callable[[], list[tuple[str, str]]]] = {
    "KH-POD-002": _root_group_pod,
    "KH-POD-019": _selinux_pod,
}


#: rule template (checks/registry.py) -> the CEL of a control written with it, from the control's parameters.
TEMPLATES: dict[str, Callable[[Control, Config], str]] = {
    CONTAINER_RESOURCES: lambda control, config: _container_resources(*resource_params(control)),
}

_CREDENTIALS = ("its verdict uses the Shannon entropy of the value (log2), which Kubernetes' CEL libraries cannot "
                "compute, and regular expressions whose \\b and \\w are Unicode-aware in Python but ASCII in RE2, "
                "so a policy could not give the same verdict case by case")
#: Python checks that judge only the admitted object but are not written as CEL, with the precise reason.
NOT_WRITTEN: dict[str, str] = {
    "KH-SEC-001": _CREDENTIALS,
    "KH-SEC-002": _CREDENTIALS,
    "KH-SEC-003": "it applies to every kind; a policy over all resources is not exported (and its verdict uses "
                  "the Shannon entropy of the value, which CEL cannot compute)",
    "KH-NET-015": "it parses six policy kinds with their selector, CIDR and port semantics (analysis/network), "
                  "which is not written as CEL; for NetworkPolicy the API server's own validation refuses what it "
                  "reports before admission",
    "KH-UPG-001": "it compares versions with the Kubernetes release and CVE data bundled with kubeharden "
                  "(model/kubernetes_versions.json), which an admission policy would have to carry and track",
    "KH-UPG-002": "it compares image versions with the Kubernetes release and CVE data bundled with kubeharden "
                  "(model/kubernetes_versions.json), which an admission policy would have to carry and track",
    "KH-UPG-003": "it compares versions with the upstream end-of-life dates bundled with kubeharden "
                  "(model/kubernetes_versions.json), which an admission policy would have to carry and track",
    "KH-UPG-004": "it compares image versions with the upstream end-of-life dates bundled with kubeharden "
                  "(model/kubernetes_versions.json), which an admission policy would have to carry and track",
}
