"""Pod Security admission defaults and exemptions (NSA-POD-8): the ``PodSecurity`` plugin's
configuration given to kube-apiserver with ``--admission-control-config-file``.

Source: Kubernetes documentation, "Enforce Pod Security Standards by Configuring the Built-in
Admission Controller" (https://kubernetes.io/docs/tasks/configure-pod-container/enforce-standards-admission-controller/)
and "Pod Security Admission" (https://kubernetes.io/docs/concepts/security/pod-security-admission/):

* ``PodSecurityConfiguration`` (``pod-security.admission.config.k8s.io/v1``) sits in an
  ``AdmissionConfiguration``'s ``plugins[]`` entry named ``PodSecurity`` (``configuration:``), or in
  a file of its own that the entry's ``path:`` names; kubeharden judges it wherever it is scanned;
* ``defaults`` apply to namespaces without ``pod-security.kubernetes.io/*`` labels: ``enforce``,
  ``audit`` and ``warn`` are ``privileged`` (allow everything) unless set; levels are
  ``privileged``, ``baseline`` and ``restricted``;
* ``exemptions`` (``usernames``, ``runtimeClasses``, ``namespaces``) skip the checks entirely:
  "exempting ... namespaces other than kube-system" and any user or runtime class lets pods
  bypass every level;
* ``defaults.<mode>-version`` is ``latest`` (the default) or a Kubernetes minor version (``v1.22``): a
  pinned version applies the Pod Security Standards as that release defined them, so checks added
  later are not applied ("Pod Security Admission", "Pod Security Admission labels for namespaces"
  and "Pod Security Standards" version notes); ``latest`` is preferred, a pin below the newest release
  kubeharden knows is reported, and a value of neither form is refused by the API server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from kubeharden.checks.configfiles import judged
from kubeharden.checks.context import Context
from kubeharden.checks.registry import check
from kubeharden.model.configfiles import ADMISSION, POD_SECURITY
from kubeharden.model.controls import NOTHING_TO_JUDGE, Violation
from kubeharden.model.facts import PSS_LEVELS
from kubeharden.model.fieldpath import join
from kubeharden.model.objects import K8sObject, as_dict, as_list
from kubeharden.model.versions import version_data

LEVELS = PSS_LEVELS
#: Namespaces whose exemption the documentation itself shows (the cluster's own components).
EXEMPTABLE_NAMESPACES = frozenset({"kube-system"})
PLUGIN = "PodSecurity"


def pod_security_configs(obj: K8sObject) -> list[tuple[str, dict[str, Any]]]:
    """Each ``PodSecurityConfiguration`` in ``obj`` with its field path: the object itself, or the
    ``configuration`` of an AdmissionConfiguration's ``PodSecurity`` plugin (none when it uses ``path:``)."""
    if judged(obj, POD_SECURITY):
        return [("", obj.raw)]
    if not judged(obj, ADMISSION):
        return []
    found = []
    for i, plugin in enumerate(as_list(obj.raw.get("plugins"))):
        plugin = as_dict(plugin)
        config = as_dict(plugin.get("configuration"))
        if plugin.get("name") == PLUGIN and config:
            found.append((join("plugins", i, "configuration"), config))
    return found


#: The PodSecurityConfigurations of one object: ``[(field path, configuration, its defaults)]``.
Configs = list[tuple[str, dict[str, Any], dict[str, Any]]]
#: A check of them: ``fn(obj, configs)``.
PsaCheck = Callable[[K8sObject, Configs], Iterator[Violation]]


def psa_check(control_id: str) -> Callable[[PsaCheck], PsaCheck]:
    """Register ``fn`` for ``control_id``, called with the object's PodSecurityConfigurations; an object
    with none (another plugin's AdmissionConfiguration, one whose PodSecurity entry has ``path:``) has
    nothing to judge."""
    def register(fn: PsaCheck) -> PsaCheck:
        def run(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
            configs = [(path, config, as_dict(config.get("defaults"))) for path, config in pod_security_configs(obj)]
            if not configs:
                yield NOTHING_TO_JUDGE
                return
            yield from fn(obj, configs)

        check(control_id)(run)
        return fn

    return register


def _level(value: Any) -> str:
    return str(value) if value is not None else "privileged"


def _mode_violation(obj: K8sObject, path: str, config: dict[str, Any], defaults: dict[str, Any],
                    mode: str, minimum: str) -> Violation | None:
    level = _level(defaults.get(mode))
    where = join(path, "defaults", mode) if path else join("defaults", mode)
    line = obj.line(defaults, mode) if mode in defaults else obj.line(config, "defaults")
    if level not in LEVELS:
        return Violation(f"defaults.{mode} is {level!r}, not one of {', '.join(LEVELS)}: the API server refuses "
                         "the file", line, path=where)
    if LEVELS.index(level) < LEVELS.index(minimum):
        said = f"is {level}" if mode in defaults else f"is not set, so it is {level}"
        return Violation(f"defaults.{mode} {said}: namespaces without pod-security labels "
                         f"{'admit' if mode == 'enforce' else 'are not checked against'} pods below {minimum}",
                         line, path=where)
    return None


_MINOR = re.compile(r"^v(\d+)\.(\d+)$")


def _version_violation(obj: K8sObject, path: str, defaults: dict[str, Any], mode: str) -> Violation | None:
    """The problem of ``defaults.<mode>-version``: not ``latest`` nor a minor version, or pinned below the
    newest Kubernetes release kubeharden knows (its rules are then those of that older release)."""
    field = f"{mode}-version"
    value = defaults.get(field)
    if value is None or value == "latest":
        return None
    where = join(path, "defaults", field) if path else join("defaults", field)
    line = obj.line(defaults, field)
    found = _MINOR.match(str(value))
    if found is None:
        return Violation(f"defaults.{field} is {value!r}, neither latest nor a minor version such as v1.30: "
                         "the API server refuses the file", line, path=where)
    newest = version_data().newest_minor().lstrip("v")
    newest_pair = tuple(int(x) for x in newest.split(".")[:2])
    if (int(found.group(1)), int(found.group(2))) < newest_pair:
        return Violation(f"defaults.{field} pins the Pod Security Standards of {value}: checks added in later "
                         f"releases (up to v{newest}) are not applied to namespaces without labels; use latest",
                         line, path=where)
    return None


@psa_check("KH-PSA-001")
def enforce_baseline(obj: K8sObject, configs: Configs) -> Iterator[Violation]:
    for path, config, defaults in configs:
        for v in (_mode_violation(obj, path, config, defaults, "enforce", "baseline"),
                  _version_violation(obj, path, defaults, "enforce")):
            if v:
                yield v


@psa_check("KH-PSA-002")
def enforce_restricted(obj: K8sObject, configs: Configs) -> Iterator[Violation]:
    for path, config, defaults in configs:
        if _level(defaults.get("enforce")) == "baseline":
            v = _mode_violation(obj, path, config, defaults, "enforce", "restricted")
            if v:
                yield v


@psa_check("KH-PSA-003")
def audit_and_warn(obj: K8sObject, configs: Configs) -> Iterator[Violation]:
    for path, config, defaults in configs:
        for mode in ("audit", "warn"):
            for v in (_mode_violation(obj, path, config, defaults, mode, "restricted"),
                      _version_violation(obj, path, defaults, mode)):
                if v:
                    yield v


@psa_check("KH-PSA-004")
def exemptions(obj: K8sObject, configs: Configs) -> Iterator[Violation]:
    for path, config, _ in configs:
        exempt = as_dict(config.get("exemptions"))
        base = join(path, "exemptions") if path else "exemptions"
        for field, what in (("usernames", "requests by user"), ("runtimeClasses", "pods of runtime class"),
                            ("namespaces", "namespace")):
            values = as_list(exempt.get(field))
            judged_values = [str(v) for v in values if field != "namespaces" or str(v) not in EXEMPTABLE_NAMESPACES]
            if judged_values:
                yield Violation(f"exemptions.{field} skips every Pod Security check for {what} "
                                f"{', '.join(judged_values)}: pods there may run privileged whatever the labels say",
                                obj.line(exempt, field), path=join(base, field))
