"""Audit Policy semantics (first match wins) and the coverage report of `audit scan --policy`."""

from __future__ import annotations

import pytest

from kubeharden.detect.policy import PolicyError, Request, coverage, parse_policy
from kubeharden.detect.rules import load_rules

RULES = {r.id: r for r in load_rules()}

GUIDE_POLICY = """
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    users: ["system:kube-proxy"]
    verbs: [watch]
  - level: Metadata
    resources:
      - group: ""
        resources: [secrets, configmaps]
      - group: authentication.k8s.io
        resources: [tokenreviews]
  - level: Request
    resources:
      - group: ""
        resources: ["pods/*", namespaces]
  - level: RequestResponse
"""


def req(verb, resource, group="", sub="", ns="default", user="alice", groups=("system:authenticated",), name=""):
    return Request(user, list(groups), verb, group, resource, sub, ns, name)


def test_first_matching_rule_decides():
    p = parse_policy(GUIDE_POLICY)
    assert p.decide(req("get", "secrets")).level == "Metadata"
    assert p.decide(req("create", "pods")).level == "Request"        # pods/* covers pods itself
    assert p.decide(req("create", "pods", sub="exec")).level == "Request"
    assert p.decide(req("create", "clusterroles", "rbac.authorization.k8s.io", ns="")).level == "RequestResponse"
    assert p.decide(req("watch", "endpoints", user="system:kube-proxy")).level == "None"
    assert p.decide(req("get", "endpoints", user="system:kube-proxy")).level == "RequestResponse"
    assert p.decide(req("get", "pods")).omit_stages == {"RequestReceived"}


def test_resource_patterns_groups_names_and_namespaces():
    p = parse_policy("""
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: RequestResponse
    resources: [{group: "", resources: ["*/status"]}]
  - level: Request
    namespaces: [kube-system]
    resources: [{group: "", resources: [configmaps], resourceNames: [coredns]}]
  - level: Metadata
    resources: [{group: apps}]
  - level: Metadata
    nonResourceURLs: ["/healthz*"]
""")
    assert p.decide(req("patch", "nodes", sub="status", ns="")).level == "RequestResponse"
    assert p.decide(req("patch", "configmaps", ns="kube-system", name="coredns")).level == "Request"
    assert p.decide(req("patch", "configmaps", ns="kube-system", name="other")).level == "None"
    assert p.decide(req("patch", "configmaps", ns="shop", name="coredns")).level == "None"
    assert p.decide(req("create", "deployments", "apps")).level == "Metadata"
    assert p.decide(req("create", "deployments", "extensions")).level == "None"
    assert p.decide(Request("a", [], "get", path="/healthz/etcd")).level == "Metadata"
    assert p.decide(Request("a", [], "get", path="/metrics")).level == "None"


@pytest.mark.parametrize("text,msg", [
    ("kind: Policy\napiVersion: audit.k8s.io/v1\nrules: []\n", "no rules"),
    ("kind: Policy\napiVersion: audit.k8s.io/v1\nrules: [{level: Verbose}]\n", "level"),
    ("kind: Policy\napiVersion: audit.k8s.io/v1\nrules: [{level: None, omitStages: [Done]}]\n", "unknown stage"),
    ("kind: ConfigMap\napiVersion: v1\n", "expected one"),
    ("kind: Policy\napiVersion: v1\nrules: [{level: None}]\n", "apiVersion"),
    ("{unclosed: [", "not valid YAML"),
])
def test_bad_policies_are_refused(text, msg):
    with pytest.raises(PolicyError, match=msg):
        parse_policy(text)


def test_coverage_finds_rules_the_policy_blinds():
    metadata_only = parse_policy("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Metadata}]\n")
    by_id = {c.rule.id: c for c in coverage(metadata_only, list(RULES.values()))}
    assert by_id["KH-AUDIT-001"].status == "blind" and "needs Request" in by_id["KH-AUDIT-001"].detail
    assert by_id["KH-AUDIT-030"].status == "covered"
    assert by_id["KH-AUDIT-060"].status == "covered"

    guide = {c.rule.id: c for c in coverage(parse_policy(GUIDE_POLICY), list(RULES.values()))}
    assert guide["KH-AUDIT-001"].status == "covered"
    assert guide["KH-AUDIT-050"].status == "covered"
    assert guide["KH-AUDIT-085"].status == "blind"  # configmaps kept at Metadata: bodies never logged


def test_coverage_partial_and_omitted_stages():
    p = parse_policy("""
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: Request
    verbs: [create]
  - level: Metadata
    omitStages: [ResponseComplete, Panic, ResponseStarted]
""")
    by_id = {c.rule.id: c for c in coverage(p, list(RULES.values()))}
    assert by_id["KH-AUDIT-001"].status == "partial"   # create logged with bodies, update/patch not
    assert by_id["KH-AUDIT-082"].status == "blind" and "omitted" in by_id["KH-AUDIT-082"].detail


def test_anonymous_exclusion_blinds_anonymous_rules():
    p = parse_policy("""
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: None
    userGroups: ["system:unauthenticated"]
  - level: Request
""")
    by_id = {c.rule.id: c for c in coverage(p, list(RULES.values()))}
    assert by_id["KH-AUDIT-061"].status == "blind"
    assert by_id["KH-AUDIT-062"].status == "blind"
    assert by_id["KH-AUDIT-030"].status == "covered"


def test_omitting_response_complete_leaves_rules_blind_and_names_who_omitted_it():
    from kubeharden.detect.policy import coverage, parse_policy
    from kubeharden.detect.rules import load_rules
    rules = [r for r in load_rules() if r.id == "KH-AUDIT-036"]
    policy_wide = parse_policy("apiVersion: audit.k8s.io/v1\nkind: Policy\n"
                               "omitStages: [ResponseComplete]\nrules:\n- level: RequestResponse\n")
    [c] = coverage(policy_wide, rules)
    assert c.status == "blind" and "omitted by the policy's omitStages" in c.detail and "only Panic" in c.detail
    per_rule = parse_policy("""
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: Metadata
  resources: [{group: "", resources: [pods]}]
- level: Metadata
  omitStages: [ResponseComplete]
  resources: [{group: "", resources: [secrets]}]
- level: RequestResponse
""")
    [c] = coverage(per_rule, rules)
    assert c.status == "blind" and "omitStages of policy rule 2 (rules[1])" in c.detail
