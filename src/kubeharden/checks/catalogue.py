"""The control catalogue: every control's metadata, loaded from ``catalogue/*.yaml``.

Metadata (ID, title, severity, guide IDs, rationale, remediation, mappings to other
tools, a failing and a passing example) lives in YAML so that it is reviewed as data
and rendered into ``docs/controls.md`` and ``kubeharden controls``. The logic is either
a declarative ``rule:`` (see :mod:`kubeharden.checks.rules`) or a Python function
registered with :func:`check` under the same ID.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, NamedTuple
from collections.abc import Callable, Iterable

import yaml

from kubeharden.findings import Severity
from kubeharden.guide import REQUIREMENTS, section_of

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAPPING_KEYS = ("cis", "pss", "kubescape", "checkov", "trivy", "polaris", "kube-score", "kubeaudit", "kubesec", "mitre")
#: How a mapped peer ID relates to the control (docs/mappings.md): the same rule, or an overlapping one.
RELATIONS = ("equivalent", "related")
#: The relation of IDs listed without one (the shape before relations existed); tests reject it.
UNREVIEWED = "unreviewed"
SCOPES = ("container", "pod", "object", "inventory")
PROFILES = ("baseline", "default", "strict")


class Violation(NamedTuple):
    """What a check reports; the engine turns it into a Finding with the control's metadata."""

    message: str
    line: int | None = None
    container: str | None = None
    remediation: str | None = None
    obj: Any = None  # the K8sObject at fault, for inventory-scope checks


@dataclass(frozen=True, slots=True)
class Control:
    id: str
    title: str
    severity: Severity
    nsa: tuple[str, ...]
    description: str
    remediation: str
    scope: str
    profile: str
    kinds: tuple[str, ...] = ()
    mappings: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: (mapping key, ((peer ID, relation), ...)) in the order of ``mappings``
    relations: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    rule: Any = None  # a declarative rule (dict) when the logic is simple
    example_fail: str = ""
    example_pass: str = ""
    config_note: str = ""
    #: A setting of .kubeharden.yaml the control compares with; it cannot run while that setting is empty.
    requires: str = ""

    @property
    def section(self) -> str:
        return section_of(self.nsa[0]) if self.nsa else "Other"

    def mappings_dict(self) -> dict[str, list[str]]:
        found = dict(self.mappings)
        return {key: list(found.get(key, ())) for key in MAPPING_KEYS}

    def mapping_relations_dict(self) -> dict[str, dict[str, str]]:
        """``{mapping key: {peer ID: "equivalent" | "related"}}``, every key present."""
        found = dict(self.relations)
        return {key: dict(found.get(key, ())) for key in MAPPING_KEYS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity.label,
            "nsa": list(self.nsa),
            "section": self.section,
            "scope": self.scope,
            "profile": self.profile,
            "description": self.description,
            "remediation": self.remediation,
            "mappings": self.mappings_dict(),
            "mapping_relations": self.mapping_relations_dict(),
            "examples": {"fail": self.example_fail, "pass": self.example_pass},
        }


CheckFn = Callable[..., Iterable[Violation]]
_FUNCTIONS: dict[str, CheckFn] = {}


def check(control_id: str) -> Callable[[CheckFn], CheckFn]:
    """Register the Python logic of catalogue entry ``control_id``."""

    def register(fn: CheckFn) -> CheckFn:
        if control_id in _FUNCTIONS:
            raise ValueError(f"two functions registered for {control_id}")
        _FUNCTIONS[control_id] = fn
        return fn

    return register


def function_for(control_id: str) -> CheckFn | None:
    _import_check_modules()
    return _FUNCTIONS.get(control_id)


def registered_ids() -> set[str]:
    _import_check_modules()
    return set(_FUNCTIONS)


@lru_cache(maxsize=1)
def _import_check_modules() -> None:
    # Importing a module registers its functions; the list is explicit so a newcomer sees it.
    import importlib

    from kubeharden.checks import CHECK_MODULES

    for name in CHECK_MODULES:
        importlib.import_module(name)


class CatalogueError(ValueError):
    pass


@lru_cache(maxsize=1)
def load_catalogue() -> tuple[Control, ...]:
    """All controls of the catalogue files, in file and then ID order."""
    controls: list[Control] = []
    seen: set[str] = set()
    folder = resources.files("kubeharden.checks") / "catalogue"
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".yaml"):
            continue
        data = yaml.load(entry.read_text(encoding="utf-8"), Loader=_SAFE_LOADER) or {}
        for raw in data.get("controls", []):
            control = _parse_control(raw, entry.name)
            if control.id in seen:
                raise CatalogueError(f"{entry.name}: duplicate control id {control.id}")
            seen.add(control.id)
            controls.append(control)
    return tuple(controls)


def _parse_control(raw: dict[str, Any], origin: str) -> Control:
    where = f"{origin}: {raw.get('id', '<no id>')}"
    try:
        nsa = tuple(raw.get("nsa") or ())
        for nsa_id in nsa:
            if nsa_id not in REQUIREMENTS:
                raise CatalogueError(f"{where}: unknown guide ID {nsa_id}")
        scope = raw.get("scope", "container")
        if scope not in SCOPES:
            raise CatalogueError(f"{where}: scope must be one of {SCOPES}")
        profile = raw.get("profile", "default")
        if profile not in PROFILES:
            raise CatalogueError(f"{where}: profile must be one of {PROFILES}")
        mappings = raw.get("mappings") or {}
        unknown = set(mappings) - set(MAPPING_KEYS)
        if unknown:
            raise CatalogueError(f"{where}: unknown mapping keys {sorted(unknown)}")
        relations = tuple((k, _relations(mappings.get(k), f"{where}: mappings.{k}")) for k in MAPPING_KEYS)
        examples = raw.get("examples") or {}
        return Control(
            id=str(raw["id"]),
            title=str(raw["title"]).strip(),
            severity=Severity.parse(raw["severity"]),
            nsa=nsa,
            description=" ".join(str(raw["description"]).split()),
            remediation=" ".join(str(raw["remediation"]).split()),
            scope=scope,
            profile=profile,
            kinds=tuple(raw.get("kinds") or ()),
            mappings=tuple((k, tuple(i for i, _ in pairs)) for k, pairs in relations),
            relations=relations,
            rule=raw.get("rule"),
            example_fail=str(examples.get("fail", "")),
            example_pass=str(examples.get("pass", "")),
            config_note=" ".join(str(raw.get("config", "")).split()),
            requires=str(raw.get("requires") or ""),
        )
    except KeyError as exc:
        raise CatalogueError(f"{where}: missing field {exc}") from None


def _relations(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    """Peer IDs with their relation from ``{equivalent: [...], related: [...]}``.

    A bare list (IDs without a relation) is read as ``unreviewed``; the test suite rejects it.
    Raises CatalogueError for any other shape or an ID listed twice.
    """
    if value is None:
        return ()
    if isinstance(value, list):
        pairs = [(str(v), UNREVIEWED) for v in value]
    elif isinstance(value, dict):
        unknown = set(value) - set(RELATIONS)
        if unknown:
            raise CatalogueError(f"{where}: relations are {', '.join(RELATIONS)}, not {sorted(unknown)}")
        pairs = [(str(v), rel) for rel in RELATIONS for v in (value.get(rel) or ())]
    else:
        raise CatalogueError(f"{where}: expected {{equivalent: [...], related: [...]}}")
    ids = [i for i, _ in pairs]
    if len(set(ids)) != len(ids):
        raise CatalogueError(f"{where}: an ID is listed twice")
    return tuple(pairs)


def controls_by_id() -> dict[str, Control]:
    return {c.id: c for c in load_catalogue()}


def profile_includes(profile: str, control: Control) -> bool:
    return PROFILES.index(control.profile) <= PROFILES.index(profile)
