"""Detection rules: loading, validating and compiling the YAML rule files.

A rule file holds ``lists`` (named values), ``macros`` (named conditions) and ``rules``. Lists and
macros are shared by every file loaded together; a later file (custom rules) may redefine a list
to tune the built-in pack, e.g. ``ci_identities`` or ``pod_cidrs``. The format is documented in
``docs/audit.md``; the built-in pack under ``detect/rules/`` is written in it.

Compilation happens once: each rule becomes one or more *triggers* (its match, or each step of
a sequence) with the verbs/resources/subresources/stages it can fire on pulled out, so the engine
can index triggers and most events meet only a handful of predicates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources as pkg_resources
from pathlib import Path
from typing import Any

import yaml

from kubeharden.detect.conditions import LEVELS, CompileContext, Predicate, RuleError, compile_condition
from kubeharden.detect.fields import MISSING, Getter, PathError, compile_path
from kubeharden.model.facts import SYSTEM_NAMESPACES
from kubeharden.model.findings import Severity
from kubeharden.model.guide import REQUIREMENTS, section_of
from kubeharden.model.pods import POD_TEMPLATE_RESOURCES

KINDS = ("single", "threshold", "first_seen", "sequence", "changed", "remember")
DEFAULT_STAGES = ("ResponseComplete", "Panic")
MAPPING_KEYS = ("falco", "sigma", "elastic")
_ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
_RULE_KEYS = {"id", "title", "severity", "nsa", "det", "mitre", "description", "remediation", "message", "stages",
              "match", "threshold", "first_seen", "sequence", "changed", "remember", "requires", "mappings", "examples",
              "enabled", "needs_lists"}

#: API group of the resources rules name, for checking an audit Policy (which matches on group).
RESOURCE_GROUPS: dict[str, str] = {
    **{r: "" for r in ("pods", "services", "configmaps", "secrets", "serviceaccounts", "namespaces", "nodes",
                       "events", "persistentvolumes", "persistentvolumeclaims", "endpoints",
                       "replicationcontrollers", "podtemplates")},
    **{r: "apps" for r in ("deployments", "daemonsets", "statefulsets", "replicasets", "controllerrevisions")},
    "jobs": "batch", "cronjobs": "batch",
    **{r: "rbac.authorization.k8s.io" for r in ("roles", "clusterroles", "rolebindings", "clusterrolebindings")},
    **{r: "admissionregistration.k8s.io" for r in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations",
                                                   "validatingadmissionpolicies",
                                                   "validatingadmissionpolicybindings")},
    "selfsubjectrulesreviews": "authorization.k8s.io", "selfsubjectaccessreviews": "authorization.k8s.io",
    "subjectaccessreviews": "authorization.k8s.io", "tokenreviews": "authentication.k8s.io",
    "certificatesigningrequests": "certificates.k8s.io", "ingresses": "networking.k8s.io",
    "networkpolicies": "networking.k8s.io",
    "clusterpolicies": "kyverno.io", "policies": "kyverno.io",
    "constrainttemplates": "templates.gatekeeper.sh",
}


#: The event fields that make up the engine's metadata cache key (see Detector.metadata_key).
METADATA_FIELDS = frozenset({
    "verb", "stage", "user.username", "user.groups", "objectRef.resource", "objectRef.subresource",
    "objectRef.namespace", "objectRef.apiGroup", "responseStatus.code", 'annotations["authorization.k8s.io/decision"]',
    "userAgent", "userAgentProduct", "sourceIPs[0]", "sourceIPs", "impersonatedUser.username",
    "impersonatedUser.groups", "impersonatedUser", "sourceIPs[*]",
})


@dataclass(slots=True)
class Trigger:
    """One place a rule listens: its index keys and the rest of its condition."""

    rule: DetectionRule
    step: int
    predicate: Predicate
    verbs: frozenset[str] | None
    resources: frozenset[str] | None
    subresources: frozenset[str] | None
    stages: frozenset[str]
    #: ``predicate`` reads only METADATA_FIELDS, so the engine caches its result per combination of
    #: those fields (a busy cluster repeats the same few thousand); ``body`` is the rest of the
    #: condition, judged for every event (None when there is nothing more to check).
    body: Predicate | None = None


@dataclass(slots=True)
class Requirement:
    """What the audit policy must log for a rule to see its events."""

    level: str
    verbs: list[str] | None
    resources: list[tuple[str, str, str]] | None  # (group, resource, subresource)
    user: str
    groups: list[str]
    namespace: str | None
    stages: list[str]


@dataclass(slots=True)
class DetectionRule:
    """One audit-log detection rule of the rule pack (``detect/rules/*.yaml``), parsed and checked."""

    id: str
    title: str
    severity: Severity
    nsa: tuple[str, ...]
    det: tuple[str, ...]
    mitre: tuple[str, ...]
    description: str
    remediation: str
    kind: str
    stages: tuple[str, ...]
    mappings: dict[str, list[str]]
    source: str
    spec: dict[str, Any]
    examples: dict[str, list[Any]]
    triggers: list[Trigger] = field(default_factory=list)
    requires: Requirement | None = None
    message_fn: Callable[[dict[str, Any], dict[str, Any]], str] | None = None
    # stateful parameters
    by: list[Getter] = field(default_factory=list)
    window: float = 0.0
    count: int = 1
    distinct: Getter | None = None
    value: list[Getter] = field(default_factory=list)
    transform: str | None = None
    holds: Predicate | None = None  # remember: the condition kept per key
    #: Why the rule does not run (a list it needs is empty); None when it runs.
    inactive: str | None = None

    @property
    def section(self) -> str:
        return section_of(self.nsa[0]) if self.nsa else "Audit logging and threat detection"

    def to_dict(self) -> dict[str, Any]:
        req = self.requires
        return {
            "id": self.id, "title": self.title, "severity": self.severity.label, "kind": self.kind,
            "nsa": list(self.nsa), "detections": list(self.det), "section": self.section,
            "mitre": list(self.mitre), "description": self.description, "remediation": self.remediation,
            "stages": list(self.stages),
            "requires": None if req is None else {
                "level": req.level, "verbs": req.verbs,
                "resources": None if req.resources is None else [
                    {"group": g, "resource": r + (f"/{s}" if s else "")} for g, r, s in req.resources],
                "user": req.user, "groups": req.groups, "namespace": req.namespace, "stages": req.stages},
            "mappings": {k: list(self.mappings.get(k, [])) for k in MAPPING_KEYS},
            "source": self.source,
            "active": self.inactive is None,
            **({"inactive_reason": self.inactive} if self.inactive else {}),
        }


def parse_duration(value: Any, where: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", str(value))
    if not m:
        raise RuleError(f"{where}: bad duration {value!r} (use e.g. 30s, 5m, 1h, 7d)")
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


_BUILTIN_DIR = Path(str(pkg_resources.files("kubeharden.detect") / "rules"))


def builtin_rule_files() -> list[Path]:
    return sorted(p for p in _BUILTIN_DIR.iterdir() if p.suffix in (".yaml", ".yml"))


def fact_lists() -> dict[str, list[Any]]:
    """The rule-pack lists that are Kubernetes facts, taken from where kubeharden defines each once
    (``model/pods.py``, ``model/facts.py``); a rule file may still redefine them."""
    return {"workload_resources": sorted(POD_TEMPLATE_RESOURCES), "system_namespaces": list(SYSTEM_NAMESPACES)}


def load_rules(extra_files: Iterable[str | Path] = (), builtin: bool = True,
               overrides: dict[str, list[Any]] | None = None) -> list[DetectionRule]:
    """Compile the built-in pack plus ``extra_files``; raises RuleError naming file and rule."""
    docs: list[tuple[str, dict[str, Any]]] = []
    files = [*(builtin_rule_files() if builtin else []), *map(Path, extra_files)]
    for file in files:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise RuleError(f"{file}: cannot read: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise RuleError(f"{file}: not valid YAML: {exc}") from None
        if data is None:
            continue
        if not isinstance(data, dict) or not set(data) <= {"lists", "macros", "rules"}:
            raise RuleError(f"{file}: a rule file is a mapping with lists, macros and rules")
        docs.append((f"builtin:{file.name}" if builtin and file.parent == _BUILTIN_DIR else str(file), data))
    ctx_lists: dict[str, list[Any]] = fact_lists()
    macros: dict[str, Any] = {}
    for path, data in docs:
        for name, items in (data.get("lists") or {}).items():
            if not isinstance(items, list):
                raise RuleError(f"{path}: list {name!r} must be a list")
            ctx_lists[str(name)] = items
        for name, cond in (data.get("macros") or {}).items():
            macros[str(name)] = cond
    ctx_lists.update(overrides or {})
    rules: list[DetectionRule] = []
    seen: dict[str, str] = {}
    for path, data in docs:
        raw_rules = data.get("rules") or []
        if not isinstance(raw_rules, list):
            raise RuleError(f"{path}: rules must be a list")
        for raw in raw_rules:
            rid = raw.get("id") if isinstance(raw, dict) else None
            try:
                rule = compile_rule(raw, path, ctx_lists, macros)
            except RuleError as exc:
                raise RuleError(f"{path}: rule {rid or '?'}: {exc}") from None
            if rule.id in seen:
                raise RuleError(f"{path}: rule {rule.id} is already defined in {seen[rule.id]}")
            seen[rule.id] = path
            missing = [str(n) for n in raw.get("needs_lists") or [] if not ctx_lists.get(str(n))]
            if missing:  # a rule that needs a list (approved registries …) is listed but waits until it is set
                rule.inactive = f"set the list {', '.join(missing)} to turn it on"
            if raw.get("enabled", True):
                rules.append(rule)
    rules.sort(key=lambda r: r.id)
    return rules


def compile_rule(raw: Any, source: str, lists: dict[str, list[Any]], macros: dict[str, Any]) -> DetectionRule:
    if not isinstance(raw, dict):
        raise RuleError("a rule must be a mapping")
    unknown = set(map(str, raw)) - _RULE_KEYS
    if unknown:
        raise RuleError(f"unknown key(s): {', '.join(sorted(unknown))}")
    for key in ("id", "title", "severity", "match" if "sequence" not in raw else "sequence"):
        if key not in raw:
            raise RuleError(f"missing {key!r}")
    rid = str(raw["id"])
    if not _ID.match(rid):
        raise RuleError(f"bad id {rid!r} (upper case words joined by '-', e.g. KH-AUDIT-001 or ACME-1)")
    try:
        severity = Severity.parse(raw["severity"])
    except ValueError as exc:
        raise RuleError(str(exc)) from None
    nsa = tuple(str(x) for x in raw.get("nsa") or ())
    bad = [n for n in nsa if n not in REQUIREMENTS]
    if bad:
        raise RuleError(f"unknown guide ID(s): {', '.join(bad)}")
    kinds = [k for k in KINDS[1:] if k in raw]
    if len(kinds) > 1:
        raise RuleError(f"a rule has at most one of {', '.join(KINDS[1:])} (got {kinds})")
    mappings = raw.get("mappings") or {}
    if not isinstance(mappings, dict) or not set(mappings) <= set(MAPPING_KEYS):
        raise RuleError(f"mappings keys are {', '.join(MAPPING_KEYS)}")
    stages = tuple(str(s) for s in raw.get("stages") or DEFAULT_STAGES)
    examples = raw.get("examples") or {}
    rule = DetectionRule(
        id=rid, title=str(raw["title"]), severity=severity, nsa=nsa,
        det=tuple(str(x) for x in raw.get("det") or ()), mitre=tuple(str(x) for x in raw.get("mitre") or ()),
        description=str(raw.get("description", "")).strip(), remediation=str(raw.get("remediation", "")).strip(),
        kind=kinds[0] if kinds else "single", stages=stages,
        mappings={k: [str(x) for x in (mappings.get(k) or [])] for k in MAPPING_KEYS},
        source=source, spec=raw,
        examples={"fire": list(examples.get("fire") or []), "quiet": list(examples.get("quiet") or [])},
    )
    ctx = CompileContext(lists=lists, macros=macros)
    if rule.kind == "sequence":
        seq = raw["sequence"]
        if not isinstance(seq, dict) or not isinstance(seq.get("steps"), list) or len(seq["steps"]) < 2:
            raise RuleError("sequence needs steps: a list of two or more conditions")
        base = raw.get("match") or {}
        for i, step in enumerate(seq["steps"]):
            merged = {"all": [base, step]} if base else step
            rule.triggers.append(_trigger(rule, i, step, merged, ctx, stages))
        rule.window = parse_duration(seq.get("window", "5m"), "sequence.window")
        rule.by = _getters(seq.get("by") or ["user"], ctx)
    elif rule.kind == "remember":
        # Step 0 (re)defines what is remembered about a key; step 1, the match, alerts when the key's
        # remembered value holds (a binding to a role written earlier in the log with all rights).
        spec = _spec(raw, "remember")
        if not isinstance(spec.get("when"), dict) or "holds" not in spec or not spec.get("by"):
            raise RuleError("remember needs by: [fields], when: CONDITION and holds: CONDITION")
        rule.triggers.append(_trigger(rule, 0, spec["when"], spec["when"], ctx, stages))
        rule.triggers.append(_trigger(rule, 1, raw["match"], raw["match"], ctx, stages))
        rule.by = _getters(spec["by"], ctx)
        rule.holds = compile_condition(spec["holds"], ctx)
    else:
        rule.triggers.append(_trigger(rule, 0, raw["match"], raw["match"], ctx, stages))
    if rule.kind == "threshold":
        spec = _spec(raw, "threshold")
        rule.count = int(spec.get("count", 0))
        if rule.count < 2:
            raise RuleError("threshold.count must be 2 or more")
        rule.window = parse_duration(spec.get("window", "5m"), "threshold.window")
        rule.by = _getters(spec.get("by") or [], ctx)
        if spec.get("distinct") is not None:
            rule.distinct = _getters([spec["distinct"]], ctx)[0]
    elif rule.kind in ("first_seen", "changed"):
        spec = _spec(raw, rule.kind)
        rule.by = _getters(spec.get("by") or [], ctx)
        if "value" not in spec:
            raise RuleError(f"{rule.kind}.value is required")
        rule.value = _getters(spec["value"] if isinstance(spec["value"], list) else [spec["value"]], ctx)
        rule.transform = spec.get("transform")
        if rule.transform not in (None, "network"):
            raise RuleError("first_seen.transform is 'network' (IPv4 /24, IPv6 /64) or absent")
    rule.message_fn = _message(str(raw.get("message") or rule.title), ctx)
    rule.requires = _requirement(rule, raw.get("requires"), ctx.level, lists)
    return rule


def _spec(raw: dict[str, Any], key: str) -> dict[str, Any]:
    spec = raw[key]
    if not isinstance(spec, dict):
        raise RuleError(f"{key} must be a mapping")
    return spec


def _getters(paths: Any, ctx: CompileContext) -> list[Getter]:
    out = []
    for p in paths if isinstance(paths, list) else [paths]:
        try:
            g = compile_path(str(p))
        except PathError as exc:
            raise RuleError(str(exc)) from None
        ctx.need(g.level)
        out.append(g)
    return out


_INDEX_FIELDS = {"verb": "verbs", "objectRef.resource": "resources", "resource": "resources",
                 "objectRef.subresource": "subresources", "subresource": "subresources"}


def _trigger(rule: DetectionRule, step: int, index_source: Any, cond: Any, ctx: CompileContext,
             stages: tuple[str, ...]) -> Trigger:
    """Pull verb/resource/subresource constraints out of the top level of the condition into the
    index; compile the rest. Only plain values and lists are pulled, so the meaning is unchanged."""
    keys: dict[str, frozenset[str] | None] = {"verbs": None, "resources": None, "subresources": None}
    rest = cond
    if isinstance(index_source, dict) and index_source is cond:
        rest = {}
        for k, v in cond.items():
            slot = _INDEX_FIELDS.get(str(k))
            values = _index_values(v, ctx)
            if slot and values is not None and keys[slot] is None:
                keys[slot] = values
            else:
                rest[k] = v
    elif isinstance(index_source, dict):
        for k, v in index_source.items():
            slot = _INDEX_FIELDS.get(str(k))
            values = _index_values(v, ctx)
            if slot and values is not None and keys[slot] is None:
                keys[slot] = values
    if keys["resources"] is not None and keys["subresources"] is None and not _mentions_subresource(index_source):
        # Like the audit Policy, naming a resource means the object itself: pods is not pods/exec.
        keys["subresources"] = frozenset({""})
    # Split the top-level conjunction: the part that reads only metadata is judged once per metadata
    # combination (cached by the engine), the rest per event.
    meta: dict[Any, Any] = {}
    body: dict[Any, Any] = {}
    for k, v in (rest.items() if isinstance(rest, dict) else []):
        ctx.fields = set()
        compile_condition({k: v}, ctx)
        (meta if ctx.fields <= METADATA_FIELDS else body)[k] = v
    if not isinstance(rest, dict):
        body = rest
    meta_pred = compile_condition(meta, ctx)
    body_pred = compile_condition(body, ctx) if body else None
    return Trigger(rule, step, meta_pred, keys["verbs"], keys["resources"], keys["subresources"],
                   frozenset(stages), body=body_pred)


def _mentions_subresource(cond: Any) -> bool:
    if isinstance(cond, dict):
        return any(str(k) in ("subresource", "objectRef.subresource") or _mentions_subresource(v)
                   for k, v in cond.items())
    if isinstance(cond, list):
        return any(_mentions_subresource(c) for c in cond)
    return False


def _index_values(v: Any, ctx: CompileContext) -> frozenset[str] | None:
    v = ctx.resolve(v) if isinstance(v, str) else v
    if isinstance(v, dict) and v == {"exists": False}:
        return frozenset({""})
    if isinstance(v, str):
        return frozenset({v})
    if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
        return frozenset(v)
    return None


_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def _message(template: str, ctx: CompileContext) -> Callable[[dict[str, Any], dict[str, Any]], str]:
    """``"{user} opened a shell in {namespace}/{name}"``: placeholders are field paths, or
    ``count``/``values``/``window`` of a stateful alert; ``{a|b}`` takes the first present. Absent
    fields render as ``-``."""
    getters: dict[str, list[Getter]] = {}
    for name in _PLACEHOLDER.findall(template):
        if name in ("count", "window", "values"):
            continue
        try:
            getters[name] = [compile_path(alt.strip()) for alt in name.split("|")]
        except PathError as exc:
            raise RuleError(f"message: {exc}") from None

    def render(event: dict[str, Any], extra: dict[str, Any]) -> str:
        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in extra:
                return str(extra[name])
            for g in getters.get(name, ()):  # a|b: the first one present
                value = g.fn(event)
                if value is MISSING or value == [] or value is None:
                    continue
                if isinstance(value, list):
                    return ", ".join(str(v) for v in value)
                return str(value)
            return "-"
        return _PLACEHOLDER.sub(sub, template)
    return render


def _requirement(rule: DetectionRule, override: Any, level: str,
                 lists: dict[str, list[Any]] | None = None) -> Requirement:
    trig = rule.triggers[0]
    verbs = sorted({v for t in rule.triggers for v in t.verbs or ()}) if all(t.verbs for t in rule.triggers) else None
    resources: list[tuple[str, str, str]] | None = None
    if all(t.resources for t in rule.triggers):
        resources = []
        for t in rule.triggers:
            subs = sorted(t.subresources) if t.subresources else [""]
            for res in sorted(t.resources or ()):
                for sub in subs:
                    resources.append((RESOURCE_GROUPS.get(res, "*"), res, sub))
    req = Requirement(level=level if level != "None" else "Metadata", verbs=verbs, resources=resources,
                      user="kubeharden:any-user", groups=["system:authenticated"], namespace=None,
                      stages=sorted(trig.stages))
    match = rule.spec.get("match")
    if isinstance(match, dict):
        ns = match.get("namespace", match.get("objectRef.namespace"))
        ns = ns[0] if isinstance(ns, list) and ns and isinstance(ns[0], str) else ns
        if isinstance(ns, str) and not ns.startswith("$"):
            req.namespace = ns
        elif isinstance(ns, str) and lists and lists.get(ns[1:]):
            req.namespace = str(lists[ns[1:]][0])
    if override is None:
        return req
    if not isinstance(override, dict):
        raise RuleError("requires must be a mapping")
    if "level" in override:
        if override["level"] not in LEVELS[1:]:
            raise RuleError(f"requires.level is one of {', '.join(LEVELS[1:])}")
        req.level = override["level"]
    if "verbs" in override:
        req.verbs = [str(v) for v in override["verbs"]] or None
    if "resources" in override:
        req.resources = []
        for item in override["resources"] or []:
            res, _, sub = str(item.get("resource", "")).partition("/")
            req.resources.append((str(item.get("group", RESOURCE_GROUPS.get(res, ""))), res, sub))
    if "user" in override:
        req.user = str(override["user"])
    if "groups" in override:
        req.groups = [str(g) for g in override["groups"]]
    if "namespace" in override:
        req.namespace = override["namespace"]
    return req


__all__ = ["KINDS", "MAPPING_KEYS", "Requirement", "DetectionRule", "RuleError", "Trigger", "builtin_rule_files",
           "compile_rule", "load_rules", "parse_duration"]
