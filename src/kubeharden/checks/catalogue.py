"""The control catalogue: every control's metadata, loaded from ``catalogue/*.yaml``.

Metadata (ID, title, severity, guide IDs, rationale, remediation, mappings to other
tools, a failing and a passing example) lives in YAML so that it is reviewed as data
and rendered into ``docs/controls.md`` and ``kubeharden controls``. The logic is either
a declarative ``rule:`` (see :mod:`kubeharden.checks.rules`) or a Python function
registered with :func:`check` under the same ID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, NamedTuple
from collections.abc import Callable, Iterable

import yaml

from kubeharden.checks.selection import ControlNames
from kubeharden.findings import FIX_OPERATIONS, Fix, Severity
from kubeharden.guide import GUIDE_DOC_URL, REQUIREMENTS, section_of
from kubeharden.model.fieldpath import join

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAPPING_KEYS = ("cis", "pss", "kubescape", "checkov", "trivy", "polaris", "kube-score", "kubeaudit", "kubesec", "mitre")
#: How a mapped peer ID relates to the control (docs/mappings.md): the same rule, or an overlapping one.
RELATIONS = ("equivalent", "related")
#: The relation of IDs listed without one (the shape before relations existed); tests reject it.
UNREVIEWED = "unreviewed"
SCOPES = ("container", "pod", "object", "inventory")
#: Profiles, each running the controls of the one before it and more. ``minimal`` was called
#: ``baseline``, which is also a Pod Security Standards level that means something else.
PROFILES = ("minimal", "default", "strict")
#: Former profile names -> current ones; they keep working with a deprecation note.
PROFILE_ALIASES = {"baseline": "minimal"}
#: Every name ``--profile`` and ``profile:`` accept.
PROFILE_NAMES = (*PROFILES, *PROFILE_ALIASES)
STATUSES = ("stable", "preview", "deprecated")
#: docs/controls.md on the web, beside docs/guide.md; each control has a section whose anchor is its ID.
CONTROLS_DOC_URL = GUIDE_DOC_URL.rsplit("/", 1)[0] + "/controls.md"
_SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_ID = re.compile(r"^[A-Z]+-[A-Z]+-\d{3}$")
#: Where objects can come from, as far as a control is concerned: manifests (files, stdin), a live
#: cluster, node files, and one admission request (a single object, without the rest of the cluster).
INPUTS = ("manifest", "cluster", "node", "admission")
#: The inputs a control can see when its entry does not say: a pod or object control judges one
#: object, which every input but node files carries; a cross-object (inventory) control needs the
#: other objects too, which one admission request does not hold.
DEFAULT_INPUTS = {"container": ("manifest", "cluster", "admission"), "pod": ("manifest", "cluster", "admission"),
                  "object": ("manifest", "cluster", "admission"), "inventory": ("manifest", "cluster")}


class Violation(NamedTuple):
    """What a check reports; the engine turns it into a Finding with the control's metadata.

    ``path``: the field path of the offending or missing field from the object's root
    (:func:`kubeharden.model.fieldpath.join`); None lets the engine use the container's or the
    object's path. ``fix``: None applies the control's catalogue ``fix:`` (if any) at the
    violation; a :class:`~kubeharden.findings.Fix` replaces it; False says this violation has no
    mechanical fix although the control's others do.
    """

    message: str
    line: int | None = None
    container: str | None = None
    remediation: str | None = None
    obj: Any = None  # the K8sObject at fault, for inventory-scope checks
    path: str | None = None
    fix: Fix | bool | None = None


#: What a container- or object-scope check yields, alone, for a unit that holds nothing it can judge
#: (a container that runs no Kubernetes component, a Node whose status states no version): the unit
#: is not counted as evaluated, so a control that judged nothing is not-applicable, never a pass.
NOTHING_TO_JUDGE = Violation("nothing to judge")


@dataclass(frozen=True, slots=True)
class FixTemplate:
    """A control's structured fix (``fix:`` in the catalogue), resolved against each violation.

    ``field`` is relative to the violation's unit: the container (container-scope controls and
    violations naming a container) or the pod spec (pod scope); without ``field`` the fix
    applies at the violation's own path.
    """

    op: str
    value: Any = None
    safe: bool = False
    field: str = ""

    def resolve(self, path: str, unit_path: str) -> Fix:
        """The fix for a violation at ``path`` found in the unit (container or pod spec) at ``unit_path``."""
        target = join(unit_path, *self.field.split(".")) if self.field else path
        return Fix(self.op, target, self.value, self.safe)


@dataclass(frozen=True, slots=True)
class Control:
    """One control of the catalogue: metadata, lifecycle (slug, since, status, former IDs) and its rule."""

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
    requires_config: str = ""
    #: A boolean setting of .kubeharden.yaml that, when given, turns the control on or off whatever the profile.
    enabled_by_config: str = ""
    #: A human name beside the stable ID (``privileged-container``), accepted wherever an ID is.
    slug: str = ""
    #: The kubeharden version that introduced the control.
    since: str = ""
    #: stable, preview (its verdicts may still change) or deprecated (to be removed).
    status: str = "stable"
    #: IDs the control had before a rename; naming them still works, with a deprecation note.
    formerly: tuple[str, ...] = ()
    #: Further failing examples (``examples: fail:`` may be a list); tests run every one.
    more_fail_examples: tuple[str, ...] = ()
    #: The inputs that can show what the control needs (INPUTS); on others it is not assessable.
    inputs: tuple[str, ...] = ("manifest", "cluster", "admission")
    fix: FixTemplate | None = None

    @property
    def fail_examples(self) -> tuple[str, ...]:
        return (self.example_fail, *self.more_fail_examples)

    @property
    def anchor(self) -> str:
        """The anchor of the control's section in docs/controls.md (``kh-pod-004``)."""
        return self.id.lower()

    @property
    def doc_url(self) -> str:
        """The web address of the control's section in docs/controls.md."""
        return f"{CONTROLS_DOC_URL}#{self.anchor}"

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
            "slug": self.slug,
            "since": self.since,
            "status": self.status,
            "formerly": list(self.formerly),
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
            "inputs": list(self.inputs),
            "fix": None if self.fix is None else {"op": self.fix.op, "field": self.fix.field or None,
                                                  "value": self.fix.value, "safe": self.fix.safe},
        }


CheckFn = Callable[..., Iterable[Violation]]
_FUNCTIONS: dict[str, CheckFn] = {}
#: A rule template's logic, called as fn(control, unit, ctx) with the control's ``rule:`` as parameters.
TemplateFn = Callable[..., Iterable[Violation]]
_TEMPLATES: dict[str, TemplateFn] = {}
#: Per template, a function that raises CatalogueError when a control's parameters are not usable.
_TEMPLATE_CHECKS: dict[str, Callable[[Any], object]] = {}


def _registrar(table: dict[str, CheckFn], key: str, what: str) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        if key in table:
            raise ValueError(f"two functions registered for {what}")
        table[key] = fn
        return fn

    return register


def check(control_id: str) -> Callable[[CheckFn], CheckFn]:
    """Register the Python logic of catalogue entry ``control_id``."""
    return _registrar(_FUNCTIONS, control_id, control_id)


def template(name: str, check_params: Callable[[Any], object]) -> Callable[[TemplateFn], TemplateFn]:
    """Register a rule template: ``rule: {template: name, ...parameters}`` runs ``fn(control, unit, ctx)``.

    ``check_params(control)`` raises CatalogueError for parameters the template cannot use; the
    catalogue calls it when it loads, so a mistake never waits for a scan to show.
    """
    _TEMPLATE_CHECKS[name] = check_params
    return _registrar(_TEMPLATES, name, f"template {name}")


def template_for(name: str) -> TemplateFn:
    """The function of rule template ``name``; raises CatalogueError when none is registered."""
    _import_check_modules()
    if name not in _TEMPLATES:
        raise CatalogueError(f"unknown rule template {name!r} (known: {', '.join(sorted(_TEMPLATES))})")
    return _TEMPLATES[name]


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
    names: set[str] = set()
    folder = resources.files("kubeharden.checks") / "catalogue"
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".yaml"):
            continue
        data = yaml.load(entry.read_text(encoding="utf-8"), Loader=_SAFE_LOADER) or {}
        for raw in data.get("controls", []):
            control = _parse_control(raw, entry.name)
            if control.id in seen:
                raise CatalogueError(f"{entry.name}: duplicate control id {control.id}")
            taken = {control.slug, *control.formerly} & names
            if taken:
                raise CatalogueError(f"{entry.name}: {control.id}: {', '.join(sorted(taken))} already names a control")
            seen.add(control.id)
            names.update({control.slug, *control.formerly})
            controls.append(control)
    for control in controls:
        if isinstance(control.rule, dict) and "template" in control.rule:
            template_for(control.rule["template"])  # registered?
            _TEMPLATE_CHECKS[control.rule["template"]](control)
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
        slug, since, status = str(raw.get("slug") or ""), str(raw.get("since") or ""), raw.get("status", "stable")
        if not _SLUG.match(slug):
            raise CatalogueError(f"{where}: slug must be lower-case words joined by '-' (privileged-container)")
        if not _VERSION.match(since):
            raise CatalogueError(f"{where}: since must be the version that introduced it (0.1.0)")
        if status not in STATUSES:
            raise CatalogueError(f"{where}: status must be one of {STATUSES}")
        formerly = tuple(str(x) for x in raw.get("formerly") or ())
        if not all(_ID.match(x) for x in formerly):
            raise CatalogueError(f"{where}: formerly lists former control IDs (KH-POD-099)")
        mappings = raw.get("mappings") or {}
        unknown = set(mappings) - set(MAPPING_KEYS)
        if unknown:
            raise CatalogueError(f"{where}: unknown mapping keys {sorted(unknown)}")
        relations = tuple((k, _relations(mappings.get(k), f"{where}: mappings.{k}")) for k in MAPPING_KEYS)
        examples = raw.get("examples") or {}
        if raw.get("rule") is not None:
            from kubeharden.checks.rules import problems  # the rule language imports this module

            bad = problems(raw["rule"], scope)
            if bad:
                raise CatalogueError(f"{where}: rule: {'; '.join(bad)}")
        fails = examples.get("fail", "")
        fails = [str(f) for f in fails] if isinstance(fails, list) else [str(fails)]
        inputs = tuple(DEFAULT_INPUTS[scope] if raw.get("inputs") is None else raw["inputs"])
        if not inputs or set(inputs) - set(INPUTS):
            raise CatalogueError(f"{where}: inputs must be a list of {INPUTS}")
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
            example_fail=fails[0] if fails else "",
            example_pass=str(examples.get("pass", "")),
            config_note=" ".join(str(raw.get("config", "")).split()),
            requires_config=_setting_name(raw, "requires_config", where),
            enabled_by_config=_setting_name(raw, "enabled_by_config", where),
            slug=slug,
            since=since,
            status=status,
            formerly=formerly,
            more_fail_examples=tuple(fails[1:]),
            inputs=inputs,
            fix=_parse_fix(raw.get("fix"), where),
        )
    except KeyError as exc:
        raise CatalogueError(f"{where}: missing field {exc}") from None


def _setting_name(raw: dict[str, Any], key: str, where: str) -> str:
    from kubeharden.config import REQUIRABLE_SETTINGS

    name = str(raw.get(key) or "")
    if name and name not in REQUIRABLE_SETTINGS:
        raise CatalogueError(f"{where}: {key}: {name!r} is not one of {', '.join(sorted(REQUIRABLE_SETTINGS))}")
    return name


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


def _parse_fix(raw: Any, where: str) -> FixTemplate | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("op") not in FIX_OPERATIONS:
        raise CatalogueError(f"{where}: fix needs op: one of {FIX_OPERATIONS}")
    unknown = set(raw) - {"op", "field", "value", "safe"}
    if unknown:
        raise CatalogueError(f"{where}: unknown fix keys {sorted(unknown)}")
    return FixTemplate(op=raw["op"], value=raw.get("value"), safe=raw.get("safe") is True,
                       field=str(raw.get("field") or ""))


def controls_by_id() -> dict[str, Control]:
    return {c.id: c for c in load_catalogue()}


def catalogue_names() -> ControlNames:
    """Every name the catalogue's controls answer to: IDs, slugs, former IDs (see :mod:`.selection`).

    Raises CatalogueError when a former ID is also a current one (the redirect would hide a control).
    """
    controls = load_catalogue()
    ids = tuple(c.id for c in controls)
    redirects = {old: c.id for c in controls for old in c.formerly}
    clash = sorted(set(redirects) & set(ids))
    if clash:
        raise CatalogueError(f"former IDs {', '.join(clash)} are current IDs too")
    return ControlNames(ids, {c.slug: c.id for c in controls}, redirects,
                        frozenset(c.id for c in controls if c.status == "deprecated"))


def canonical_profile(name: str) -> tuple[str, str | None]:
    """(the profile ``name`` means, a deprecation note when it is a former name, else None)."""
    new = PROFILE_ALIASES.get(name)
    if new is None:
        return name, None
    return new, (f"profile {name!r} is now called {new!r} (it is not the Pod Security Standards level of that "
                 f"name); {name!r} keeps working for now")


def profile_includes(profile: str, control: Control) -> bool:
    """Whether ``profile`` (a current or former name) runs ``control``."""
    return PROFILES.index(control.profile) <= PROFILES.index(canonical_profile(profile)[0])
