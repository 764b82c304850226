"""The control catalogue: every control's metadata, loaded from ``catalogue/controls/*.yaml``.

Metadata (ID, title, severity, guide IDs, rationale, remediation, mappings to other
tools, a failing and a passing example) lives in YAML so that it is reviewed as data
and rendered into ``docs/controls.md`` and ``kubeharden controls``. The logic is either
a declarative ``rule:`` (see :mod:`kubeharden.checks.rules`) or a Python function
registered with :func:`kubeharden.checks.registry.check` under the same ID; this loader
knows nothing of the logic (the catalogue sits below the checks).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from kubeharden.catalogue.cache import parsed
from kubeharden.catalogue.selection import ControlNames
from kubeharden.model.controls import (
    DEFAULT_INPUTS,
    EXAMPLE_INPUTS,
    FIX_EVIDENCE,
    INPUTS,
    MAPPING_KEYS,
    PROFILE_ALIASES,
    PROFILES,
    RELATIONS,
    REQUIRABLE_SETTINGS,
    SCOPES,
    STATUSES,
    UNREVIEWED,
    Control,
    FixTemplate,
)
from kubeharden.model.findings import FIX_OPERATIONS, Severity
from kubeharden.model.guide import REQUIREMENTS

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: What the cached data depends on besides the texts (another PyYAML may load them differently).
_LOADER_NAME = f"PyYAML {yaml.__version__} {_SAFE_LOADER.__name__}"
_SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_ID = re.compile(r"^[A-Z]+-[A-Z]+-\d{3}$")


class CatalogueError(ValueError):
    pass


@lru_cache(maxsize=1)
def load_catalogue() -> tuple[Control, ...]:
    """All controls of the catalogue files, in file and then ID order."""
    controls: list[Control] = []
    seen: set[str] = set()
    names: set[str] = set()
    # next to this module, as model/apitypes.py reads its table (importlib.resources costs ~10 ms to import)
    folder = Path(__file__).with_name("controls")
    texts = [(entry.name, entry.read_text(encoding="utf-8"))
             for entry in sorted(folder.iterdir(), key=lambda p: p.name) if entry.name.endswith(".yaml")]
    # parsed once per catalogue (catalogue/cache.py: JSON data, used only for these very texts)
    loaded = parsed(texts, lambda text: yaml.load(text, Loader=_SAFE_LOADER), _LOADER_NAME)
    for (name, _), data in zip(texts, loaded, strict=True):
        for raw in (data or {}).get("controls", []):
            control = _parse_control(raw, name)
            if control.id in seen:
                raise CatalogueError(f"{name}: duplicate control id {control.id}")
            taken = {control.slug, *control.formerly} & names
            if taken:
                raise CatalogueError(f"{name}: {control.id}: {', '.join(sorted(taken))} already names a control")
            seen.add(control.id)
            names.update({control.slug, *control.formerly})
            controls.append(control)
    return tuple(controls)


#: The keys a catalogue entry may have (the header of controls/pods.yaml explains them); any other key is a
#: typo that would silently change nothing (a misspelt ``inputs:`` would let a control pass where it is blind).
CONTROL_KEYS = frozenset({"id", "slug", "since", "status", "formerly", "title", "severity", "nsa", "description",
                          "remediation", "scope", "profile", "kinds", "reads", "mappings", "rule", "examples",
                          "config", "requires_config", "enabled_by_config", "inputs", "fix"})


def _parse_control(raw: dict[str, Any], origin: str) -> Control:
    where = f"{origin}: {raw.get('id', '<no id>')}"
    misspelt = sorted(set(raw) - CONTROL_KEYS) if isinstance(raw, dict) else []
    if misspelt:
        raise CatalogueError(f"{where}: unknown keys {misspelt} (known: {', '.join(sorted(CONTROL_KEYS))})")
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
        fails = examples.get("fail", "")
        fails = [str(f) for f in fails] if isinstance(fails, list) else [str(fails)]
        example_input = str(examples.get("input") or "manifest")
        if example_input not in EXAMPLE_INPUTS:
            raise CatalogueError(f"{where}: examples.input must be one of {', '.join(EXAMPLE_INPUTS)}")
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
            example_input=example_input,
            example_with=str(examples.get("with") or ""),
            reads=tuple(str(k) for k in raw.get("reads") or ()),
        )
    except KeyError as exc:
        raise CatalogueError(f"{where}: missing field {exc}") from None


def _setting_name(raw: dict[str, Any], key: str, where: str) -> str:
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
    unknown = set(raw) - {"op", "field", "value", "safe", "evidence", "because"}
    if unknown:
        raise CatalogueError(f"{where}: unknown fix keys {sorted(unknown)}")
    evidence = str(raw.get("evidence") or "")
    if evidence and evidence not in FIX_EVIDENCE:
        raise CatalogueError(f"{where}: fix evidence {evidence!r} is not one of {', '.join(FIX_EVIDENCE)}")
    if evidence and raw.get("safe") is True:
        raise CatalogueError(f"{where}: a fix is either always safe or safe by evidence, not both")
    return FixTemplate(op=raw["op"], value=raw.get("value"), safe=raw.get("safe") is True,
                       field=str(raw.get("field") or ""), evidence=evidence,
                       because=" ".join(str(raw.get("because") or "").split()))


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
