"""Controls over an audit ``Policy`` file (NSA-LOG-5, NSA-LOG-8, NSA-LOG-9): what ``--audit-policy-file`` says.

They live in ``detect/`` because they judge the policy with the same matching and the same
coverage of the detection rule pack as ``kubeharden audit scan --policy`` (:mod:`kubeharden.detect.policy`);
``checks/__init__.py`` lists this module so its functions register like any other check.

Source: Kubernetes documentation, "Auditing" (https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/)
and the "kube-apiserver Audit Configuration (v1)" reference: rules are walked in order and the first
rule that matches a request sets its level (``None``, ``Metadata``, ``Request``, ``RequestResponse``);
a request no rule matches is not logged; ``Request`` logs request bodies and ``RequestResponse`` the
response bodies too; ``omitStages`` drops whole stages (``ResponseComplete`` is the stage that carries
the response code). The guide's own example logs Secrets at ``Metadata`` first "so secret contents
never reach the log"; ConfigMaps, TokenReviews and TokenRequests (``serviceaccounts/token``) carry
credentials the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import lru_cache

from kubeharden.checks.configfiles import judged
from kubeharden.checks.context import Context
from kubeharden.checks.registry import check
from kubeharden.detect.conditions import LEVELS
from kubeharden.detect.policy import (
    AuditPolicy,
    PolicyError,
    PolicyRule,
    Request,
    coverage,
    policy_from_document,
    request_namespace,
    rule_matches,
    rule_name,
)
from kubeharden.detect.rules import DetectionRule, load_rules
from kubeharden.model.configfiles import AUDIT_POLICY
from kubeharden.model.controls import NOTHING_TO_JUDGE, Violation
from kubeharden.model.fieldpath import join
from kubeharden.model.objects import K8sObject, as_list

#: (group, resource, subresource) whose request or response bodies hold credentials: kept at Metadata.
PROTECTED = (("", "secrets", ""), ("", "configmaps", ""), ("authentication.k8s.io", "tokenreviews", ""),
             ("", "serviceaccounts", "token"))
#: The identities of anonymous requests ("Authenticating", "Anonymous requests").
ANONYMOUS_USERS = frozenset({"system:anonymous"})
ANONYMOUS_GROUPS = frozenset({"system:unauthenticated"})
#: Verbs whose requests carry the object (the body a Request-level rule logs).
BODY_VERBS = frozenset({"create", "update", "patch"})
#: The most a rule may log of a protected resource.
MOST_FOR_PROTECTED = "Metadata"


def _label(group: str, resource: str, subresource: str) -> str:
    name = f"{resource}/{subresource}" if subresource else resource
    return f"{name}.{group}" if group else name


def read_policy(obj: K8sObject) -> AuditPolicy | PolicyError | None:
    """The policy of an ``audit.k8s.io`` Policy object, the error the API server would refuse it with,
    or None when ``obj`` is not an audit policy."""
    if not judged(obj, AUDIT_POLICY):
        return None
    try:
        return policy_from_document(obj.raw, obj.origin.file or "policy")
    except PolicyError as exc:
        return exc


def _rule_line(obj: K8sObject, index: int | None) -> int | None:
    rules = obj.raw.get("rules")
    if index is not None and isinstance(rules, list) and index < len(rules):
        return obj.line(rules[index])
    return obj.line(obj.raw, "rules")


def _probe(rule: PolicyRule, group: str, resource: str, subresource: str, any_user: bool) -> Request:
    """A request for the resource that the rule's other conditions let through (``any_user``: an
    unrestricted request instead, to ask whether the rule matches every request for it)."""
    names = [n for gr in rule.resources for n in (gr.get("resourceNames") or [])]
    if any_user:
        return Request("kubeharden:probe", [], "get", group, resource, subresource,
                       namespace=request_namespace(resource))
    namespace = rule.namespaces[0] if rule.namespaces else request_namespace(resource)
    verbs = [v for v in rule.verbs if v != "*"]
    return Request(rule.users[0] if rule.users else "kubeharden:probe", rule.groups[:1],
                   verbs[0] if verbs else "get", group, resource, subresource,
                   namespace=namespace, name=str(names[0]) if names else "")


def matches_no_verb(rule: PolicyRule) -> bool:
    """Whether ``rule`` lists verbs and none is a real one: the API server's policy checker compares
    verbs literally (``hasString(r.Verbs, attrs.GetVerb())``, audit/policy/checker.go), so ``verbs: ["*"]``
    is no wildcard and the rule matches no request."""
    return bool(rule.verbs) and all(v == "*" for v in rule.verbs)


def _matches_every(rule: PolicyRule, group: str, resource: str, subresource: str) -> bool:
    """Whether ``rule`` matches every request for the resource (no user, verb or namespace condition)."""
    return not (rule.users or rule.groups or rule.verbs or rule.namespaces) and \
        rule_matches(rule, _probe(rule, group, resource, subresource, any_user=True))


def body_leak(policy: AuditPolicy, group: str, resource: str, subresource: str) -> PolicyRule | None:
    """The first rule that logs bodies of some request for the resource, unless an earlier rule at
    Metadata or None already decides every such request; None when none does."""
    limit = LEVELS.index(MOST_FOR_PROTECTED)
    for rule in policy.rules:
        if matches_no_verb(rule):
            continue
        if not rule_matches(rule, _probe(rule, group, resource, subresource, any_user=False)):
            continue
        if rule.level == "Request" and rule.verbs and not set(rule.verbs) & BODY_VERBS:
            continue  # reads carry no request body: Request logs nothing more than Metadata for them
        if LEVELS.index(rule.level) > limit:
            return rule
        if _matches_every(rule, group, resource, subresource):
            return None
    return None


@check("KH-LOG-001")
def invalid(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    policy = read_policy(obj)
    if policy is None:
        yield NOTHING_TO_JUDGE
    elif isinstance(policy, PolicyError):
        where = join("rules", policy.rule) if policy.rule is not None else "rules"
        yield Violation(f"{policy}: kube-apiserver refuses to start with this policy", _rule_line(obj, policy.rule),
                        path=where)


#: A check of one valid audit policy: ``fn(obj, policy)``.
PolicyCheck = Callable[[K8sObject, AuditPolicy], Iterator[Violation]]


def policy_check(control_id: str) -> Callable[[PolicyCheck], PolicyCheck]:
    """Register ``fn`` for ``control_id``, called with the object's policy; an object that is not an
    audit policy, or one the API server refuses (KH-LOG-001 reports it), has nothing to judge."""
    def register(fn: PolicyCheck) -> PolicyCheck:
        def run(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
            policy = read_policy(obj)
            if not isinstance(policy, AuditPolicy):
                yield NOTHING_TO_JUDGE
                return
            yield from fn(obj, policy)

        check(control_id)(run)
        return fn

    return register


@policy_check("KH-LOG-002")
def logs_credentials(obj: K8sObject, policy: AuditPolicy) -> Iterator[Violation]:
    leaks: dict[int, tuple[PolicyRule, list[str]]] = {}
    for group, resource, subresource in PROTECTED:
        rule = body_leak(policy, group, resource, subresource)
        if rule is not None:
            leaks.setdefault(rule.index, (rule, []))[1].append(_label(group, resource, subresource))
    for index, (rule, names) in sorted(leaks.items()):
        bodies = "request bodies" if rule.level == "Request" else "request and response bodies"
        yield Violation(f"{rule_name(index)} logs {', '.join(names)} at {rule.level} ({bodies}) before any rule "
                        "keeps them at Metadata or None: the credentials they carry are written to the audit log",
                        _rule_line(obj, index), path=join("rules", index, "level"))


@lru_cache(maxsize=1)
def detection_needs() -> tuple[tuple[DetectionRule, ...], tuple[str, ...]]:
    """The rules of the built-in pack as the policy controls judge them, and the IDs of those left out.

    A rule that needs request bodies of a protected resource (a Secret or ConfigMap written with
    credentials) is judged without them: a policy must not log those bodies (KH-LOG-002), so that
    part of the rule stays blind by design, and a rule needing nothing else is left out.
    """
    limit = LEVELS.index(MOST_FOR_PROTECTED)
    kept, dropped = [], []
    for rule in load_rules():
        req = rule.requires
        if rule.inactive is not None:
            continue
        if req is None or LEVELS.index(req.level) <= limit or not req.resources:
            kept.append(rule)
            continue
        resources = [r for r in req.resources if r not in PROTECTED]
        if len(resources) == len(req.resources):
            kept.append(rule)
        elif resources:
            kept.append(replace(rule, requires=replace(req, resources=resources)))
        else:
            dropped.append(rule.id)
    return tuple(kept), tuple(dropped)


@policy_check("KH-LOG-003")
def detection_gaps(obj: K8sObject, policy: AuditPolicy) -> Iterator[Violation]:
    rules, _ = detection_needs()
    gaps = [c for c in coverage(policy, list(rules)) if c.status in ("blind", "partial")]
    if gaps:
        shown = "; ".join(f"{c.rule.id} {c.status}: {c.detail}" for c in gaps[:3])
        more = f" (and {', '.join(c.rule.id for c in gaps[3:])})" if len(gaps) > 3 else ""
        yield Violation(f"{len(gaps)} of {len(rules)} detection rules cannot see the requests they need: {shown}"
                        f"{more}; `kubeharden audit scan --policy FILE` lists them all",
                        obj.line(obj.raw, "rules"), path="rules")


def _catch_all(rule: PolicyRule) -> bool:
    return not (rule.users or rule.groups or rule.verbs or rule.resources or rule.namespaces
                or rule.non_resource_urls)


@policy_check("KH-LOG-004")
def no_catch_all(obj: K8sObject, policy: AuditPolicy) -> Iterator[Violation]:
    last = policy.rules[-1]
    first_all = next((r for r in policy.rules if _catch_all(r)), None)
    if first_all is not None and first_all is not last:
        dead = len(policy.rules) - 1 - first_all.index
        yield Violation(f"{rule_name(first_all.index)} matches every request, so the {dead} rule(s) after it are "
                        "never reached", _rule_line(obj, first_all.index),
                        path=join("rules", first_all.index))
    elif first_all is None:
        yield Violation(f"the last rule ({rule_name(last.index)}) does not match every request: requests no rule "
                        "matches are not logged at all; end the policy with a rule that has only a level "
                        "(Metadata)", _rule_line(obj, last.index), path=join("rules", last.index))
    elif last.level == "None":
        yield Violation(f"the catch-all rule ({rule_name(last.index)}) is at level None: every request the rules "
                        "before it do not name goes unlogged", _rule_line(obj, last.index),
                        path=join("rules", last.index, "level"))


def _may_be_anonymous(rule: PolicyRule) -> bool:
    """Whether ``rule`` matches some anonymous request: it names no users or groups, or names theirs."""
    return (not rule.users or bool(set(rule.users) & ANONYMOUS_USERS)) and \
        (not rule.groups or bool(set(rule.groups) & ANONYMOUS_GROUPS))


def _every_anonymous(rule: PolicyRule) -> bool:
    """Whether ``rule`` matches every anonymous request (no verb, resource, namespace or URL condition)."""
    return _may_be_anonymous(rule) and not (rule.verbs or rule.resources or rule.namespaces
                                            or rule.non_resource_urls)


@policy_check("KH-LOG-005")
def drops_anonymous(obj: K8sObject, policy: AuditPolicy) -> Iterator[Violation]:
    for rule in policy.rules:
        if matches_no_verb(rule) or not _may_be_anonymous(rule):
            continue
        if rule.level != "None":
            if _every_anonymous(rule):
                return  # every anonymous request is decided (logged) here
            continue
        named = sorted(set(rule.users) & ANONYMOUS_USERS | set(rule.groups) & ANONYMOUS_GROUPS)
        who = ", ".join(named) if named else "every user, anonymous ones included (the rule names no users or groups)"
        what = ", ".join(rule.non_resource_urls) if rule.non_resource_urls else "their requests"
        yield Violation(f"{rule_name(rule.index)} logs nothing for {who} ({what}): the guide asks "
                        "that anonymous requests be logged even when anonymous access is off",
                        _rule_line(obj, rule.index), path=join("rules", rule.index, "level"))


@policy_check("KH-LOG-006")
def omits_response_complete(obj: K8sObject, policy: AuditPolicy) -> Iterator[Violation]:
    stage = "ResponseComplete"
    if stage in policy.omit_stages:
        yield Violation("omitStages of the policy drops ResponseComplete: no event records whether a request "
                        "succeeded, for any rule", obj.line(obj.raw, "omitStages"), path="omitStages")
    rules = as_list(obj.raw.get("rules"))
    for rule in policy.rules:
        if stage in rule.omit_stages and rule.level != "None" and stage not in policy.omit_stages:
            yield Violation(f"{rule_name(rule.index)} omits the ResponseComplete stage: its requests are logged "
                            "without their outcome", obj.line(rules[rule.index], "omitStages"),
                            path=join("rules", rule.index, "omitStages"))
