"""The detection language and engine: operators, paths, combinators, and stateful rule kinds."""

from __future__ import annotations

import pytest

from kubeharden.detect.conditions import CompileContext, RuleError, compile_condition
from kubeharden.detect.engine import Detector
from kubeharden.detect.rules import compile_rule, load_rules
from kubeharden.detect.simulate import make_event, pod


def cond(spec, **lists):
    return compile_condition(spec, CompileContext(lists=lists))


def rule(spec: dict, lists=None, macros=None):
    base = {"id": "T-1", "title": "test", "severity": "high", "nsa": ["NSA-LOG-18"]}
    return compile_rule({**base, **spec}, "test", lists or {}, macros or {})


def alerts(r, events, baseline=0.0):
    return list(Detector([r], baseline_seconds=baseline).run(events))


PRIV = make_event("create", "pods", body=pod(container={"securityContext": {"privileged": True}}))


class TestOperators:
    def test_scalar_list_and_operator_forms(self):
        e = make_event("create", "pods", user="alice", code=201)
        assert cond({"verb": "create"})(e)
        assert cond({"verb": ["get", "create"]})(e)
        assert not cond({"verb": ["get", "list"]})(e)
        assert cond({"code": {"gte": 200, "lt": 300}})(e)
        assert not cond({"code": {"gt": 201}})(e)
        assert cond({"user": {"startswith": ["bo", "al"]}})(e)
        assert cond({"user": {"endswith": "ice", "contains": "lic"}})(e)
        assert cond({"userAgent": {"regex": r"^kubectl/v1\.\d+"}})(e)
        assert cond({"sourceIP": {"cidr": ["203.0.113.0/24"]}})(e)
        assert not cond({"sourceIP": {"cidr": "10.0.0.0/8"}})(e)

    def test_types_are_not_coerced(self):
        e = make_event("get", "pods", code=200)
        assert not cond({"code": "200"})(e)
        assert not cond({"code": True})(e)
        assert cond({"code": 200})(e)

    def test_exists_and_missing_fields(self):
        e = make_event("get", "pods")
        assert cond({"objectRef.name": {"exists": False}})(e)
        assert not cond({"objectRef.name": "x"})(e)
        assert not cond({"objectRef.name": {"startswith": ""}})(e)
        assert cond({"requestObject.spec": {"exists": False}})(e)

    def test_list_fields_match_any_element(self):
        e = make_event("get", "pods", groups=["system:authenticated", "system:masters"])
        assert cond({"groups": "system:masters"})(e)
        assert not cond({"groups": "admins"})(e)

    def test_named_lists(self):
        e = make_event("get", "pods", user="bob")
        assert cond({"user": "$people"}, people=["bob"])(e)
        with pytest.raises(RuleError, match="unknown list"):
            cond({"user": {"in": "$nobody"}})

    def test_wildcards_and_virtual_roots_cover_workload_kinds(self):
        deploy = make_event("create", "deployments", body={"kind": "Deployment", "spec": {"template": {"spec": {
            "initContainers": [{"name": "i", "securityContext": {"privileged": True}}],
            "containers": [{"name": "a"}]}}}})
        assert cond({"container.securityContext.privileged": True})(deploy)
        assert cond({"requestObject.spec.template.spec.initContainers[*].securityContext.privileged": True})(deploy)
        assert not cond({"requestObject.spec.template.spec.containers[*].securityContext.privileged": True})(deploy)
        assert cond({"container.securityContext.privileged": True})(PRIV)

    def test_not_over_many_values_means_none(self):
        e = make_event("create", "pods", body=pod(spec={"volumes": [{"name": "a", "hostPath": {"path": "/data"}},
                                                                   {"name": "b", "hostPath": {"path": "/"}}]}))
        assert cond({"podSpec.volumes[*].hostPath.path": "/"})(e)
        assert not cond({"not": {"podSpec.volumes[*].hostPath.path": "/"}})(e)

    def test_some_keeps_tests_on_the_same_element(self):
        e = make_event("patch", "nodes", subresource="status", body={"status": {"conditions": [
            {"type": "DiskPressure", "status": "False"}, {"type": "Ready", "status": "True"}]}})
        spread = {"requestObject.status.conditions[*].type": "DiskPressure",
                  "requestObject.status.conditions[*].status": "True"}
        assert cond(spread)(e)  # different elements: plain paths cannot tell
        same = {"some": {"field": "requestObject.status.conditions", "match": {"type": "DiskPressure", "status": "True"}}}
        assert not cond(same)(e)

    def test_mentions_finds_keys_and_json_patch_paths(self):
        merge = make_event("patch", "deployments", body={"spec": {"template": {"spec": {"securityContext": {}}}}})
        jsonpatch = make_event("patch", "deployments", body=[{"op": "add", "path": "/spec/template/spec/hostPID"}])
        plain = make_event("patch", "deployments", body={"spec": {"replicas": 2}})
        c = cond({"requestObject": {"mentions": ["securityContext", "hostPID"]}})
        assert c(merge) and c(jsonpatch) and not c(plain)

    def test_exec_command_is_url_decoded(self):
        e = make_event("create", "pods", subresource="exec",
                       uri="/api/v1/namespaces/a/pods/b/exec?command=cat&command=%2Fetc%2Fshadow&container=c")
        assert cond({"execCommand": "cat /etc/shadow"})(e)

    def test_combinators_and_labels(self):
        e = make_event("get", "secrets", user="bob")
        assert cond({"any": [{"verb": "list"}, {"resource": "secrets"}], "any#2": [{"user": "bob"}]})(e)
        assert not cond({"all": [{"verb": "get"}, {"user": "alice"}]})(e)

    @pytest.mark.parametrize("bad", [{"verb": {"between": 1}}, {"code": {"gt": "x"}}, {"user": {"regex": "("}},
                                     {"sourceIP": {"cidr": "10.0.0.0/99"}}, {"a..b": 1}, {"some": {"field": "x"}}])
    def test_bad_conditions_are_refused_with_a_message(self, bad):
        with pytest.raises(RuleError):
            cond(bad)

    def test_malformed_event_fields_do_not_crash(self):
        r = rule({"match": {"container.securityContext.privileged": True, "user": {"startswith": "a"}}})
        weird = [{"user": "alice", "requestObject": {"kind": "Pod", "spec": {"containers": "nope"}}},
                 {"user": {"username": ["x"]}, "objectRef": "pods", "verb": 7, "sourceIPs": [{"a": 1}]},
                 {"auditID": "x", "user": {"groups": [{"a": 1}]}, "stageTimestamp": "garbage"}]
        assert alerts(r, weird) == []


class TestRuleLoading:
    def test_rule_errors_name_the_rule(self):
        with pytest.raises(RuleError, match="unknown guide ID"):
            rule({"nsa": ["NSA-NOPE-1"], "match": {"verb": "get"}})
        with pytest.raises(RuleError, match="unknown key"):
            rule({"match": {"verb": "get"}, "treshold": {}})
        with pytest.raises(RuleError, match="threshold.count"):
            rule({"match": {"verb": "get"}, "threshold": {"count": 1}})

    def test_custom_file_adds_rules_and_redefines_lists(self, tmp_path):
        f = tmp_path / "mine.yaml"
        f.write_text("lists:\n  ci_identities: [deployer@example.com]\nrules:\n"
                     "  - id: ACME-1\n    title: Secret read by bob\n    severity: critical\n"
                     "    nsa: [NSA-NET-28]\n    match: {verb: get, resource: secrets, user: bob}\n")
        rules = {r.id: r for r in load_rules([f])}
        assert "ACME-1" in rules and "KH-AUDIT-001" in rules
        hit = alerts(rules["ACME-1"], [make_event("get", "secrets", "db", user="bob")])
        assert len(hit) == 1 and hit[0].severity.label == "critical"
        # the redefined list exempts the CI identity from KH-AUDIT-018
        r018 = rules["KH-AUDIT-018"]
        evs = [make_event("create", "deployments", user="deployer@example.com", at=0, body={
                   "kind": "Deployment", "metadata": {"name": "w", "namespace": "a"},
                   "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}),
               make_event("update", "deployments", "w", "a", user="deployer@example.com", at=5, body={
                   "kind": "Deployment", "metadata": {"name": "w", "namespace": "a"},
                   "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:2"}]}}}})]
        assert alerts(r018, evs) == []

    def test_duplicate_rule_ids_are_refused(self, tmp_path):
        f = tmp_path / "dup.yaml"
        f.write_text("rules:\n  - {id: KH-AUDIT-001, title: t, severity: low, match: {verb: get}}\n")
        with pytest.raises(RuleError, match="already defined"):
            load_rules([f])


class TestIndexAndStages:
    def test_resource_rules_do_not_match_subresources(self):
        r = rule({"match": {"verb": "create", "resource": "pods"}})
        assert len(alerts(r, [make_event("create", "pods", "p")])) == 1
        assert alerts(r, [make_event("create", "pods", "p", subresource="exec")]) == []

    def test_default_stage_is_response_complete(self):
        r = rule({"match": {"verb": "get", "resource": "pods"}})
        assert alerts(r, [make_event("get", "pods", stage="RequestReceived")]) == []
        assert len(alerts(r, [make_event("get", "pods", stage="Panic")])) == 1

    def test_two_stages_of_one_request_alert_once(self):
        r = rule({"stages": ["ResponseStarted", "ResponseComplete"],
                  "match": {"resource": "pods", "subresource": "exec"}})
        evs = [make_event("create", "pods", "p", subresource="exec", stage=s, auditID="same")
               for s in ("ResponseStarted", "ResponseComplete")]
        assert len(alerts(r, evs)) == 1

    def test_cached_metadata_decisions_still_follow_each_event(self):
        r = rule({"match": {"verb": "get", "resource": "secrets", "requestURI": {"endswith": "/db"}}})
        evs = [make_event("get", "secrets", n, at=i) for i, n in enumerate(["x", "db", "y", "db"])]
        assert [a.event["objectRef"]["name"] for a in alerts(r, evs)] == ["db", "db"]


class TestStatefulKinds:
    def test_threshold_counts_per_key_within_the_window(self):
        r = rule({"match": {"code": 403}, "threshold": {"count": 3, "window": "1m", "by": ["user"]}})
        evs = [make_event("get", "pods", user="a", code=403, at=t) for t in (0, 10, 20)]
        evs += [make_event("get", "pods", user="b", code=403, at=t) for t in (0, 50, 100)]  # spread out
        out = alerts(r, sorted(evs, key=lambda e: e["stageTimestamp"]))
        assert len(out) == 1 and out[0].key == {"user": "a"} and out[0].count == 3
        assert len(out[0].audit_ids) == 3

    def test_threshold_resets_after_an_alert(self):
        r = rule({"match": {"code": 403}, "threshold": {"count": 2, "window": "1m"}})
        out = alerts(r, [make_event("get", "pods", code=403, at=t) for t in range(5)])
        assert len(out) == 2

    def test_threshold_distinct_values(self):
        r = rule({"match": {"resource": "secrets"}, "threshold": {"count": 3, "window": "1m", "distinct": "name"}})
        same = [make_event("get", "secrets", "a", at=t) for t in range(5)]
        assert alerts(r, same) == []
        varied = [make_event("get", "secrets", n, at=i) for i, n in enumerate("abc")]
        out = alerts(r, varied)
        assert len(out) == 1 and out[0].count == 3

    def test_first_seen_learns_then_alerts_once(self):
        r = rule({"match": {"verb": "get"}, "first_seen": {"by": ["user"], "value": "userAgentProduct"}})
        evs = [make_event("get", "pods", user="a", userAgent="kubectl/v1.30", at=0),
               make_event("get", "pods", user="a", userAgent="curl/8.0", at=10),     # learnt in the baseline
               make_event("get", "pods", user="a", userAgent="kubectl/v1.31", at=200),  # same product
               make_event("get", "pods", user="a", userAgent="python-requests/2", at=300),
               make_event("get", "pods", user="a", userAgent="python-requests/2", at=400)]
        out = alerts(r, evs, baseline=100)
        assert [a.event["userAgent"] for a in out] == ["python-requests/2"]

    def test_first_seen_network_transform(self):
        r = rule({"match": {"verb": "get"}, "first_seen": {"by": ["user"], "value": "sourceIP", "transform": "network"}})
        evs = [make_event("get", "pods", sourceIP="198.51.100.7", at=0),
               make_event("get", "pods", sourceIP="198.51.100.200", at=500),
               make_event("get", "pods", sourceIP="2001:db8::1", at=600),
               make_event("get", "pods", sourceIP="2001:db8::ffff", at=700)]
        out = alerts(r, evs, baseline=100)
        assert [a.event["sourceIPs"][0] for a in out] == ["2001:db8::1"]

    def test_sequence_needs_order_window_and_same_key(self):
        r = rule({"sequence": {"by": ["user"], "window": "2m", "steps": [
            {"resource": "roles", "verb": "create"}, {"resource": "daemonsets", "verb": "create"}]}})
        role = make_event("create", "roles", "r", user="a", at=0)
        ok = alerts(r, [role, make_event("create", "daemonsets", "d", user="a", at=60)])
        assert len(ok) == 1 and ok[0].audit_ids[0] == role["auditID"]
        assert alerts(r, [role, make_event("create", "daemonsets", "d", user="a", at=500)]) == []
        assert alerts(r, [make_event("create", "daemonsets", "d", user="a", at=0),
                          make_event("create", "roles", "r", user="a", at=5)]) == []
        assert alerts(r, [role, make_event("create", "daemonsets", "d", user="b", at=5)]) == []

    def test_changed_compares_with_the_previous_version(self):
        r = rule({"match": {"resource": "deployments"},
                  "changed": {"by": ["requestObject.metadata.name"], "value": "container.image"}})

        def dep(image, at):
            return make_event("update", "deployments", "w", at=at, body={
                "kind": "Deployment", "metadata": {"name": "w"},
                "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}})
        out = alerts(r, [dep("a:1", 0), dep("a:1", 1), dep("a:2", 2), dep("a:2", 3)])
        assert len(out) == 1 and len(out[0].audit_ids) == 2


def test_builtin_pack_detects_the_simulated_intrusion():
    from kubeharden.detect.simulate import baseline, traffic
    events = [*baseline(3600, 0.5), *traffic(3000, attacks=1)]
    fired = {a.rule.id for a in Detector(load_rules()).run(events)}
    assert {"KH-AUDIT-001", "KH-AUDIT-002", "KH-AUDIT-007", "KH-AUDIT-009", "KH-AUDIT-031", "KH-AUDIT-035",
            "KH-AUDIT-050", "KH-AUDIT-060", "KH-AUDIT-063", "KH-AUDIT-064"} <= fired
    # background traffic alone is quiet at medium and above
    quiet = [a for a in Detector(load_rules()).run([*baseline(3600, 0.5), *traffic(3000, attacks=0)])
             if a.severity >= 2]
    assert quiet == []


def test_registry_rule_waits_for_its_list_and_then_judges_every_container():
    default = {r.id: r for r in load_rules()}["KH-AUDIT-026"]
    assert default.inactive and "approved_registries" in default.inactive
    assert default not in Detector(load_rules()).rules
    rules = {r.id: r for r in load_rules(overrides={"approved_registries": ["registry.example.com/"]})}
    r026 = rules["KH-AUDIT-026"]
    from kubeharden.detect.examples import check_examples
    assert check_examples(r026) == []
    ok = make_event("create", "pods", body=pod(image="registry.example.com/team/web@sha256:" + "a" * 64))
    hub = make_event("create", "pods", body=pod(image="nginx"))  # docker.io/library/nginx
    lookalike = make_event("create", "pods", body=pod(image="registry.example.com.evil.io/web:1"))
    assert [len(alerts(r026, [e])) for e in (ok, hub, lookalike)] == [0, 1, 1]


def test_changed_ignores_events_without_a_body():
    r = rule({"match": {"resource": "deployments"},
              "changed": {"by": ["name"], "value": "container.image"}})
    bare = make_event("update", "deployments", "w", at=0)  # logged at Metadata: no requestObject
    full = make_event("update", "deployments", "w", at=1, body={
        "kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "a:1"}]}}}})
    assert alerts(r, [bare, full, bare]) == []
