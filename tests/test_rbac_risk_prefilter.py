"""A risk settles a rule naming none of its verbs or API groups without matching request by request
(Risk._may_match): the requests it finds are exactly those RuleAllows gives."""

from __future__ import annotations

import itertools

from kubeharden.analysis.rbac import RbacRule
from kubeharden.checks.rbac import catalogue_risks

VERBS = [frozenset({"*"}), frozenset({"get"}), frozenset({"create", "update"}), frozenset({"impersonate"}),
         frozenset({"escalate", "bind"}), frozenset({"approve"})]
GROUPS = [frozenset({"*"}), frozenset({""}), frozenset({"rbac.authorization.k8s.io"}), frozenset({"apps"}),
          frozenset({"certificates.k8s.io"}), frozenset()]
RESOURCES = [frozenset({"*"}), frozenset({"secrets"}), frozenset({"pods/exec", "pods"}), frozenset({"*/approval"})]


def test_the_prefilter_never_drops_a_request_the_rule_allows():
    risks = catalogue_risks()
    assert risks
    for verbs, groups, resources, names in itertools.product(VERBS, GROUPS, RESOURCES,
                                                             (frozenset(), frozenset({"x"}))):
        rule = RbacRule(verbs, groups, resources, names)
        for risk in risks:
            for cluster_scope in (True, False):
                every = [r for r, cluster_scoped, any_name in risk.judged
                         if (cluster_scope or not cluster_scoped) and rule.allows(*r, any_name=any_name)]
                assert risk.matched(rule, cluster_scope) == every, (risk.key, rule)
