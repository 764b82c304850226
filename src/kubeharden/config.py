"""``.kubeharden.yaml``: the profile, per-site settings, and exceptions with expiry.

Looked up from the working directory upwards (like ``.git``), or given with
``--config``. Every setting has a default that follows the guide, so the file is optional.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubeharden.model.apitypes import type_name
from kubeharden.catalogue.loader import canonical_profile, catalogue_names
from kubeharden.catalogue.selection import ControlNames, UnknownControl, matching, normalise, resolve, unknown_message
from kubeharden.model.controls import PROFILE_NAMES, PROFILES, REQUIRABLE_SETTINGS
from kubeharden.model.exceptions import ExceptionRule
from kubeharden.model.facts import SYSTEM_NAMESPACES
from kubeharden.model.findings import Severity
from kubeharden.model.network import IngressController, IPNetwork
from kubeharden.model.resources import COMPUTE_RESOURCES, parse_quantity

CONFIG_NAMES = (".kubeharden.yaml", ".kubeharden.yml")

DEFAULT_SYSTEM_NAMESPACES = SYSTEM_NAMESPACES  # Kubernetes' own namespaces: kubeharden.model.facts
#: The guide's list (NSA-POD-15), plus ``ephemeral``: a generic ephemeral volume is a PVC by template.
DEFAULT_VOLUME_TYPES = ("configMap", "emptyDir", "projected", "secret", "downwardAPI",
                        "persistentVolumeClaim", "ephemeral")


class ConfigError(ValueError):
    """The configuration file is unusable; the message names the file and the problem."""





@dataclass(slots=True)
class Config:
    path: str | None = None
    profile: str = "default"
    disabled: set[str] = field(default_factory=set)
    enabled: set[str] = field(default_factory=set)
    severity_overrides: dict[str, Severity] = field(default_factory=dict)
    allowed_registries: tuple[str, ...] = ()
    require_digest: bool | None = None  # None: only the strict profile requires digests
    system_namespaces: tuple[str, ...] = DEFAULT_SYSTEM_NAMESPACES
    system_workloads: tuple[str, ...] = ()  # "namespace/name" globs allowed in system namespaces
    allowed_host_paths: tuple[str, ...] = ()
    allowed_volume_types: tuple[str, ...] = DEFAULT_VOLUME_TYPES
    allow_annotation_suppressions: bool = True
    exceptions: list[ExceptionRule] = field(default_factory=list)
    #: Deprecation notes about how the configuration names things (former profile or control names).
    notes: list[str] = field(default_factory=list)
    #: The ingress controllers' pods (analysis.ingress_exposure); None: DEFAULT_CONTROLLERS.
    ingress_controllers: tuple[IngressController, ...] | None = None
    #: Where node addresses are (KH-NET-016, netpol's "nodes"); None: external.NODE_NETWORKS.
    node_networks: tuple[IPNetwork, ...] | None = None
    #: Which Dockerfile builds which image: image repository (globs) -> Dockerfile path (KH-IMG-010).
    dockerfiles: dict[str, str] = field(default_factory=dict)
    #: The resource profile of ``kubeharden fix`` (``fix: resources:``): part (requests|limits) ->
    #: resource (cpu, memory, ephemeral-storage) -> quantity as written. Its values make the fixes of
    #: KH-RES-001..005 safe (docs/fix.md); without one those fixes use kubeharden's sizes and need review.
    fix_resources: dict[str, dict[str, str]] = field(default_factory=dict)





def has_setting(cfg: Config, key: str) -> bool:
    """Whether setting ``key`` (a key of .kubeharden.yaml, e.g. ``registries``) is set and not empty."""
    return bool(getattr(cfg, REQUIRABLE_SETTINGS[key]))


def setting_value(cfg: Config, key: str) -> object:
    """The value of setting ``key`` (a key of .kubeharden.yaml), None when the file does not give it."""
    return getattr(cfg, REQUIRABLE_SETTINGS[key])


def find_config(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        for name in CONFIG_NAMES:
            candidate = folder / name
            if candidate.is_file():
                return candidate
    return None


def load_config(path: str | Path | None, *, search: bool = True) -> Config:
    """Load ``path``, or the nearest ``.kubeharden.yaml`` when ``path`` is None and ``search``."""
    if path is None:
        found = find_config() if search else None
        if found is None:
            return Config()
        path = found
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{at}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_config({} if data is None else data, str(path))


def parse_config(data: Any, origin: str = "<config>") -> Config:
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: the configuration must be a mapping")
    settings = {"profile", "controls", "registries", "require_digest", "system_namespaces", "system_workloads",
                "allowed_host_paths", "allowed_volume_types", "annotation_suppressions", "exceptions",
                "ingress_controllers", "node_networks", "dockerfiles", "fix"}
    unknown = sorted(str(key) for key in set(data) - settings)  # keys of any YAML type, said as text
    if unknown:
        raise ConfigError(f"{origin}: unknown settings {', '.join(unknown)} (known: {', '.join(sorted(settings))})")
    cfg = Config(path=origin)
    profile = data.get("profile", "default")
    if profile not in PROFILE_NAMES:
        raise ConfigError(f"{origin}: profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    cfg.profile = profile
    if canonical_profile(profile)[1]:
        cfg.notes.append(f"{origin}: profile: {canonical_profile(profile)[1]}")
    controls = data.get("controls") or {}
    if not isinstance(controls, dict):
        raise ConfigError(f"{origin}: 'controls' must be a mapping with disable/enable/severity")
    _no_unknown_keys(controls, ("disable", "enable", "severity"), f"{origin}: controls")
    names = catalogue_names()
    cfg.disabled = set(_control_ids(controls.get("disable"), names, origin, "controls.disable", cfg.notes))
    cfg.enabled = set(_control_ids(controls.get("enable"), names, origin, "controls.enable", cfg.notes))
    severities = controls.get("severity") or {}
    if not isinstance(severities, dict):
        raise ConfigError(f"{origin}: 'controls.severity' must be a mapping of control ID to severity")
    for cid, sev in severities.items():
        try:
            severity = Severity.parse(sev)
        except ValueError as exc:
            raise ConfigError(f"{origin}: controls.severity.{cid}: {exc}") from None
        for one in _control_ids([str(cid)], names, origin, "controls.severity", cfg.notes):
            cfg.severity_overrides[one] = severity
    cfg.allowed_registries = tuple(_str_list(data.get("registries"), origin, "registries"))
    if "require_digest" in data:
        cfg.require_digest = _bool(data, "require_digest", origin)
    if "system_namespaces" in data:
        cfg.system_namespaces = tuple(_str_list(data["system_namespaces"], origin, "system_namespaces"))
    cfg.system_workloads = tuple(_str_list(data.get("system_workloads"), origin, "system_workloads"))
    cfg.allowed_host_paths = tuple(_str_list(data.get("allowed_host_paths"), origin, "allowed_host_paths"))
    if "allowed_volume_types" in data:
        cfg.allowed_volume_types = tuple(_str_list(data["allowed_volume_types"], origin, "allowed_volume_types"))
    if "annotation_suppressions" in data:
        cfg.allow_annotation_suppressions = _bool(data, "annotation_suppressions", origin)
    if "ingress_controllers" in data:
        try:
            cfg.ingress_controllers = parse_controllers(data["ingress_controllers"], "ingress_controllers")
        except ValueError as exc:
            raise ConfigError(f"{origin}: {exc}") from None
    if "node_networks" in data:
        try:
            cfg.node_networks = tuple(ipaddress.ip_network(n, strict=False)
                                      for n in _str_list(data["node_networks"], origin, "node_networks"))
        except ValueError as exc:
            raise ConfigError(f"{origin}: node_networks: {exc}") from None
        if not cfg.node_networks:
            raise ConfigError(f"{origin}: node_networks must list at least one CIDR")
    dockerfiles = data.get("dockerfiles") or {}
    if not isinstance(dockerfiles, dict) or not all(isinstance(v, str) for v in dockerfiles.values()):
        raise ConfigError(f"{origin}: 'dockerfiles' must map image repositories (globs) to Dockerfile paths")
    cfg.dockerfiles = {str(k): v for k, v in dockerfiles.items()}
    cfg.fix_resources = _parse_fix_settings(data.get("fix"), origin)
    exceptions = data.get("exceptions") or []
    if not isinstance(exceptions, list):
        raise ConfigError(f"{origin}: 'exceptions' must be a list")
    for i, raw in enumerate(exceptions):
        cfg.exceptions.append(_parse_exception(raw, i, origin, names, cfg.notes))
    return cfg


def _parse_fix_settings(raw: Any, origin: str) -> dict[str, dict[str, str]]:
    """``fix: {resources: {requests: {cpu: 100m, …}, limits: {…}}}`` as part -> resource -> quantity.

    Raises ConfigError for unknown keys, resources other than cpu, memory and ephemeral-storage, values
    that are not Kubernetes quantities, and a request above the limit of the same resource (the API
    server refuses such a container: "Resource Management for Pods and Containers").
    """
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: 'fix' must be a mapping (resources: requests/limits)")
    _no_unknown_keys(raw, ("resources",), f"{origin}: fix")
    resources = raw.get("resources") or {}
    if not isinstance(resources, dict):
        raise ConfigError(f"{origin}: fix.resources must map requests and limits to resource quantities")
    _no_unknown_keys(resources, ("requests", "limits"), f"{origin}: fix.resources")
    out: dict[str, dict[str, str]] = {}
    for part, values in resources.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{origin}: fix.resources.{part} must map resources to quantities (cpu: 100m)")
        _no_unknown_keys(values, COMPUTE_RESOURCES, f"{origin}: fix.resources.{part}")
        for resource, value in values.items():
            try:
                parse_quantity(value)
            except ValueError as exc:
                raise ConfigError(f"{origin}: fix.resources.{part}.{resource}: {exc}") from None
        out[str(part)] = {str(k): str(v) for k, v in values.items()}
    for resource, request in out.get("requests", {}).items():
        limit = out.get("limits", {}).get(resource)
        if limit is not None and parse_quantity(request) > parse_quantity(limit):
            raise ConfigError(f"{origin}: fix.resources: the {resource} request {request} is above its limit {limit}")
    return out


#: The control whose findings list vulnerabilities, which exceptions may waive one by one.
PER_VULNERABILITY_CONTROL = "KH-IMG-011"
_MATCH_KEYS = ("kind", "namespace", "name", "container", "container_list", "vulnerability", "image")


def _no_unknown_keys(data: dict[Any, Any], known: tuple[str, ...], where: str) -> None:
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {', '.join(unknown)} (known: {', '.join(known)})")


def _control_ids(value: Any, known: ControlNames, origin: str, name: str, notes: list[str]) -> list[str]:
    """The control IDs a setting names (IDs in any case, slugs, former IDs, or globs); ConfigError for an
    unknown one."""
    try:
        return resolve(_str_list(value, origin, name), known, f"{origin}: {name}", notes)
    except UnknownControl as exc:
        raise ConfigError(str(exc)) from None


def _parse_exception(raw: Any, index: int, origin: str, known: ControlNames, notes: list[str]) -> ExceptionRule:
    where = f"{origin}: exceptions[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a mapping")
    if not raw.get("control"):
        raise ConfigError(f"{where}: 'control' is required")
    if not isinstance(raw["control"], str):
        raise ConfigError(f"{where}: 'control' must be a control ID, slug or glob (a string), not "
                          f"{type_name(raw['control'])}")
    if raw.get("reason") is not None and not isinstance(raw["reason"], str):
        raise ConfigError(f"{where}: 'reason' must be text, not {type_name(raw['reason'])}")
    reason = str(raw.get("reason") or "").strip()
    if not reason:
        raise ConfigError(f"{where}: 'reason' is required: say why the exception is acceptable")
    expires = raw.get("expires")
    if expires is not None and not isinstance(expires, dt.date):
        try:
            expires = dt.date.fromisoformat(str(expires))
        except ValueError:
            raise ConfigError(f"{where}: 'expires' must be a date (YYYY-MM-DD), not {expires!r}") from None
    found: list[str] = []
    # a slug or former ID stands for its ID; globs match IDs (the pattern is kept and matched per finding)
    control = known.exact(str(raw["control"]), found) or normalise(raw["control"])
    if not matching(control, known.ids):
        raise ConfigError(unknown_message(str(raw["control"]), known, f"{where}.control"))
    notes.extend(f"{where}.control: {note}" for note in found)
    # a misspelt key (`namespce:`) would leave its field at "*" and suppress far more than meant
    _no_unknown_keys(raw, ("control", "reason", "expires", "match", *_MATCH_KEYS), where)
    match = raw
    if "match" in raw:
        # a match that is not a mapping, or match keys beside it, would leave fields at "*" and widen it
        if not isinstance(raw["match"], dict):
            raise ConfigError(f"{where}: 'match' must be a mapping of {', '.join(_MATCH_KEYS)}")
        beside = [k for k in _MATCH_KEYS if k in raw]
        if beside:
            raise ConfigError(f"{where}: {', '.join(beside)} must go inside 'match' (or drop 'match')")
        match = raw["match"]
        _no_unknown_keys(match, _MATCH_KEYS, f"{where}.match")
    for key in _MATCH_KEYS:
        if key in match and not isinstance(match[key], str):
            raise ConfigError(f"{where}: '{key}' must be a string (globs allowed), not {match[key]!r}")
    if ("vulnerability" in match or "image" in match) and not fnmatch.fnmatchcase(PER_VULNERABILITY_CONTROL, control):
        raise ConfigError(f"{where}: 'vulnerability' and 'image' waive single vulnerabilities of "
                          f"{PER_VULNERABILITY_CONTROL} only, not of {raw['control']!r}")
    container = match.get("container")
    container_list = match.get("container_list")
    if container_list is not None and container_list not in ("containers", "initContainers", "ephemeralContainers"):
        raise ConfigError(f"{where}: 'container_list' must be containers, initContainers or ephemeralContainers, "
                          f"not {container_list!r}")
    return ExceptionRule(
        control=control,
        reason=reason,
        kind=str(match.get("kind", "*")),
        namespace=str(match.get("namespace", "*")),
        name=str(match.get("name", "*")),
        container=str(container) if container is not None else None,
        container_list=container_list,
        expires=expires,
        index=index,
        vulnerability=str(match["vulnerability"]) if "vulnerability" in match else None,
        image=str(match["image"]) if "image" in match else None,
    )


def _bool(data: dict[str, Any], key: str, origin: str) -> bool:
    """A true/false setting; anything else (``'false'``, ``n``, ``0``) is refused rather than guessed."""
    value = data[key]
    if not isinstance(value, bool):
        raise ConfigError(f"{origin}: '{key}' must be true or false, not {value!r}")
    return value


def _str_list(value: Any, origin: str, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise ConfigError(f"{origin}: '{name}' must be a list")
    return [str(v) for v in value]


def parse_controllers(raw: Any, where: str) -> tuple[IngressController, ...]:
    """``[{namespace, labels, class}]`` from the configuration; raises ValueError naming ``where``."""
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where} must be a non-empty list of {{namespace, labels, class}}")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("namespace"), str) or \
                not isinstance(item.get("labels"), dict) or not item["labels"]:
            raise ValueError(f"{where}[{i}] needs a namespace and a non-empty labels mapping")
        labels = tuple(sorted((str(k), str(v)) for k, v in item["labels"].items()))
        cls = item.get("class")
        out.append(IngressController(item["namespace"], labels, str(cls) if cls is not None else None))
    return tuple(out)
