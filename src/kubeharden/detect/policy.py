"""Audit ``Policy`` (``audit.k8s.io/v1``): which requests are logged, at which level, at which stages.

The API server walks the policy's rules in order and the first rule that matches a request decides
its level (None, Metadata, Request, RequestResponse); a request no rule matches is not logged.
This module reproduces that matching (users, userGroups, verbs, resources with group, ``*``,
``resource/*``, ``*/subresource`` and resourceNames, namespaces, nonResourceURLs, omitStages) so
``kubeharden audit scan --policy`` can say which detection rules the policy leaves blind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from kubeharden.detect.conditions import LEVELS
from kubeharden.detect.rules import DetectionRule
from kubeharden.model.apiresources import RESOURCES
from kubeharden.model.names import dns1123_subdomain_problem

STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")


class PolicyError(ValueError):
    """A policy the API server refuses; ``rule`` is the 0-based index of the rule at fault, if one is."""

    def __init__(self, message: str, rule: int | None = None) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(slots=True)
class PolicyRule:
    index: int
    level: str
    users: list[str]
    groups: list[str]
    verbs: list[str]
    resources: list[dict[str, Any]]
    namespaces: list[str]
    non_resource_urls: list[str]
    omit_stages: set[str]


@dataclass(slots=True)
class Request:
    user: str
    groups: list[str]
    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def is_resource(self) -> bool:
        return bool(self.resource)


@dataclass(slots=True)
class Decision:
    level: str
    omit_stages: set[str]
    rule: int | None  # index of the policy rule that decided, None when no rule matched

    def where(self) -> str:
        """The deciding rule as people count it, with its index: ``policy rule 3 (rules[2])``."""
        return "no policy rule matches" if self.rule is None else rule_name(self.rule)


def rule_name(index: int) -> str:
    """A policy rule by its 0-based ``index``, as people count it: ``policy rule 3 (rules[2])``."""
    return f"policy rule {index + 1} (rules[{index}])"


@dataclass(slots=True)
class AuditPolicy:
    rules: list[PolicyRule]
    omit_stages: set[str] = field(default_factory=set)

    def decide(self, req: Request) -> Decision:
        for rule in self.rules:
            if _matches(rule, req):
                return Decision(rule.level, self.omit_stages | rule.omit_stages, rule.index)
        return Decision("None", set(self.omit_stages), None)


def parse_policy(text: str, where: str = "policy") -> AuditPolicy:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise PolicyError(f"{where}: not valid YAML: {exc}") from None
    policies = [d for d in docs if isinstance(d, dict) and d.get("kind") == "Policy"]
    if len(policies) != 1:
        raise PolicyError(f"{where}: expected one audit.k8s.io Policy document, found {len(policies)}")
    return policy_from_document(policies[0], where)


def policy_from_document(doc: dict[str, Any], where: str = "policy") -> AuditPolicy:
    """The policy of one loaded ``audit.k8s.io`` ``Policy`` mapping; raises PolicyError as the API
    server would refuse it (an unknown level or stage, no rules, a rule of the wrong shape)."""
    api = str(doc.get("apiVersion", ""))
    if not api.startswith("audit.k8s.io/"):
        raise PolicyError(f"{where}: apiVersion {api!r} is not audit.k8s.io/v1")
    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise PolicyError(f"{where}: the policy has no rules, so the API server logs nothing")
    rules = []
    for i, r in enumerate(raw_rules):
        try:
            rules.append(_rule(i, r, f"{where}: {rule_name(i)}"))
        except PolicyError as exc:
            raise PolicyError(str(exc), i) from None
    omit = set(_strings(doc.get("omitStages"), f"{where}.omitStages"))
    bad = sorted(omit - set(STAGES))
    if bad:
        raise PolicyError(f"{where}.omitStages: unknown stage(s) {', '.join(bad)}")
    return AuditPolicy(rules, omit)


def _rule(i: int, r: Any, place: str) -> PolicyRule:
    """Rule ``i`` of a policy (``place`` names it in errors); raises PolicyError."""
    if not isinstance(r, dict):
        raise PolicyError(f"{place} is not a mapping")
    level = r.get("level")
    if level not in LEVELS:
        raise PolicyError(f"{place}: level {level!r} is not one of {', '.join(LEVELS)}")
    stages = _strings(r.get("omitStages"), f"{place}: omitStages")
    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise PolicyError(f"{place}: omitStages: unknown stage(s) {', '.join(bad)}")
    resources = r.get("resources") or []
    if not isinstance(resources, list) or not all(isinstance(x, dict) for x in resources):
        raise PolicyError(f"{place}: resources must be a list of {{group, resources, resourceNames}}")
    nonres = _strings(r.get("nonResourceURLs"), f"{place}: nonResourceURLs")
    _check_urls(nonres, place)
    _check_group_resources(resources, place)
    if nonres and (resources or r.get("namespaces")):
        raise PolicyError(f"{place}: nonResourceURLs cannot be combined with resources or namespaces")
    return PolicyRule(i, level, _strings(r.get("users"), f"{place}: users"),
                      _strings(r.get("userGroups"), f"{place}: userGroups"),
                      _strings(r.get("verbs"), f"{place}: verbs"), resources,
                      _strings(r.get("namespaces"), f"{place}: namespaces"), nonres, set(stages))


def _check_urls(urls: list[str], place: str) -> None:
    """``validateNonResourceURLs`` (k8s.io/apiserver/pkg/apis/audit/validation/validation.go): each URL but
    ``*`` begins with '/', and '*' may only be its last character; raises PolicyError."""
    for j, url in enumerate(urls):
        if url == "*":
            continue
        if not url.startswith("/"):
            raise PolicyError(f"{place}: nonResourceURLs[{j}] {url!r}: non-resource URL rules must begin with a '/' "
                              "character")
        if "*" in url[:-1]:
            raise PolicyError(f"{place}: nonResourceURLs[{j}] {url!r}: non-resource URL wildcards '*' must be the "
                              "final character of the rule")


def _check_group_resources(resources: list[dict[str, Any]], place: str) -> None:
    """``validateResources`` (audit validation.go): a non-empty group is a DNS-1123 subdomain (``apps``, not
    ``apps/v1``), and resourceNames need at least one resource; raises PolicyError."""
    for j, gr in enumerate(resources):
        for key in ("resources", "resourceNames"):
            if gr.get(key) is not None and not isinstance(gr.get(key), list):
                raise PolicyError(f"{place}: resources[{j}].{key} must be a list")  # the decoder refuses it
        group = str(gr.get("group") or "")
        why = dns1123_subdomain_problem(group) if group else None
        if why:
            raise PolicyError(f"{place}: resources[{j}].group {group!r} is not an API group name: it {why}")
        if gr.get("resourceNames") and not gr.get("resources"):
            raise PolicyError(f"{place}: resources[{j}]: using resourceNames requires at least one resource")


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PolicyError(f"{where} must be a list")
    return [str(v) for v in value]


def rule_matches(rule: PolicyRule, req: Request) -> bool:
    """Whether ``rule`` matches ``req`` as kube-apiserver's policy checker does."""
    return _matches(rule, req)


def _matches(rule: PolicyRule, req: Request) -> bool:
    if rule.users and req.user not in rule.users:
        return False
    if rule.groups and not set(rule.groups).intersection(req.groups):
        return False
    if rule.verbs and req.verb not in rule.verbs:
        return False
    if rule.namespaces or rule.resources:
        return _matches_resource(rule, req)
    if rule.non_resource_urls:
        return not req.is_resource and any(_path_matches(req.path, spec) for spec in rule.non_resource_urls)
    return True


def _path_matches(path: str, spec: str) -> bool:
    if spec == "*" or spec == path:
        return True
    return spec.endswith("*") and path.startswith(spec.rstrip("*"))


def _matches_resource(rule: PolicyRule, req: Request) -> bool:
    if not req.is_resource:
        return False
    if rule.namespaces and req.namespace not in rule.namespaces:  # cluster-scoped objects have namespace ""
        return False
    if not rule.resources:
        return True
    combined = f"{req.resource}/{req.subresource}" if req.subresource else req.resource
    for gr in rule.resources:
        if str(gr.get("group", "") or "") != req.group:
            continue
        names = gr.get("resourceNames") or []
        resources = gr.get("resources") or []
        if not resources:
            return True
        if names and req.name not in names:
            continue
        for res in map(str, resources):
            if res in (combined, "*"):
                return True
            if req.subresource and res.startswith("*/") and res[2:] == req.subresource:
                return True
            if res.endswith("/*") and req.resource == res[:-2]:
                return True
    return False


@dataclass(slots=True)
class Coverage:
    rule: DetectionRule
    status: str  # covered | partial | blind | unknown
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule.id, "title": self.rule.title, "status": self.status, "detail": self.detail}


def coverage(policy: AuditPolicy, rules: list[DetectionRule]) -> list[Coverage]:
    """For each rule: does the policy log the requests it needs at the level and stage it needs?

    A rule is *blind* when none of its requests are logged well enough, *partial* when some are,
    *covered* when all are. Rules that watch every request (no verb/resource) are checked against a
    ``get pods`` request by their identity, as a proxy for "this identity's requests are logged".
    """
    out = []
    for rule in rules:
        req = rule.requires
        if req is None:
            out.append(Coverage(rule, "unknown", "the rule states no requirement"))
            continue
        verbs = req.verbs or ["get"]
        resources = req.resources or [("", "pods", "")]
        need = LEVELS.index(req.level)
        gaps: list[str] = []
        total = ok = 0
        for verb in verbs:
            for group, res, sub in resources:
                groups = [group] if group != "*" else ["", "apps"]
                for g in groups:
                    total += 1
                    request = Request(req.user, req.groups, verb, g, res, sub,
                                      namespace=req.namespace if req.namespace is not None
                                      else _namespace_for(res), path="")
                    d = policy.decide(request)
                    what = f"{verb} {res}{'/' + sub if sub else ''}"
                    if LEVELS.index(d.level) < need:
                        gaps.append(f"{what} logged at {d.level} ({d.where()}), needs {req.level}")
                    elif not (set(req.stages) - d.omit_stages) - {"Panic"}:
                        # Panic events are written only when a handler panics: a rule left with them alone
                        # sees nothing of ordinary traffic
                        omitted = sorted(set(req.stages) & d.omit_stages, key=STAGES.index)
                        by = "the policy's omitStages" if set(omitted) <= policy.omit_stages else \
                            f"omitStages of {d.where()}"
                        left = " (only Panic events would remain)" if "Panic" in req.stages and \
                            "Panic" not in d.omit_stages else ""
                        gaps.append(f"{what}: stage(s) {', '.join(omitted)} omitted by {by}{left}")
                    else:
                        ok += 1
        if ok == total:
            out.append(Coverage(rule, "covered", f"logged at {req.level} or more"))
        elif ok == 0:
            out.append(Coverage(rule, "blind", "; ".join(gaps[:4]) + (" …" if len(gaps) > 4 else "")))
        else:
            out.append(Coverage(rule, "partial", "; ".join(gaps[:4]) + (" …" if len(gaps) > 4 else "")))
    return out


#: Resources whose requests carry no namespace: the built-in ones of the API resource table, and the
#: cluster-scoped policy kinds of Kyverno (ClusterPolicy) and Gatekeeper (ConstraintTemplate).
_CLUSTER_SCOPED = frozenset({info.name for info in RESOURCES.values() if not info.namespaced}
                            | {"clusterpolicies", "constrainttemplates"})


def _namespace_for(resource: str) -> str:
    return "" if resource in _CLUSTER_SCOPED else "default"


def request_namespace(resource: str) -> str:
    """The namespace a request for ``resource`` carries: ``""`` for cluster-scoped resources, else ``default``."""
    return _namespace_for(resource)
