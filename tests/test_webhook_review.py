"""Admission reviews (kubeharden.enforce.admission): verdicts, modes, selectors, failure policy,
mutation, and agreement with `scan` on every control's examples."""

from __future__ import annotations

import base64
import copy
import json
import textwrap
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest

from kubeharden.analysis.selectors import compile_selector
from kubeharden.config import parse_config
from kubeharden.engine.evaluator import Evaluator
from kubeharden.enforce.admission import (WARNING_LIMIT, AdmissionSettings, BadReview, Reviewer, parse_review,
                                          review_all)
from kubeharden.model.findings import Severity
from kubeharden.sources.files import parse_text

EXAMPLE_CONFIG = {"profile": "strict", "registries": ["registry.example.com"], "require_digest": True}


def pod(name="web", namespace="shop", labels=None, annotations=None, **container):
    c = {"name": "web", "image": "registry.example.com/web:1.0", **container}
    meta = {"name": name, "namespace": namespace, "labels": labels or {}, "annotations": annotations or {}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": [c]}}


PRIVILEGED = pod(securityContext={"privileged": True})


def request(obj, uid="u-1", operation="CREATE", namespace=None, sub_resource=None):
    kind = obj.get("kind") if isinstance(obj, dict) else "Pod"
    req = {"uid": uid, "kind": {"group": "", "version": "v1", "kind": kind}, "operation": operation,
           "resource": {"group": "", "version": "v1", "resource": f"{str(kind).lower()}s"},
           "namespace": namespace if namespace is not None else (obj or {}).get("metadata", {}).get("namespace"),
           "object": obj, "userInfo": {"username": "alice"}}
    if sub_resource:
        req["subResource"] = sub_resource
    return req


def review_body(req) -> bytes:
    return orjson.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req})


def reviewer(**kw) -> Reviewer:
    if isinstance(kw.get("config"), dict):
        kw["config"] = parse_config(kw["config"])
    return Reviewer(AdmissionSettings(**kw))


def test_enforce_refuses_a_privileged_pod_naming_control_field_guide_and_fix():
    v = reviewer().review(request(PRIVILEGED))
    answer = v.response()
    assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
    r = answer["response"]
    assert r["uid"] == "u-1" and r["allowed"] is False and r["status"]["code"] == 403
    message = r["status"]["message"]
    assert "Pod/shop/web" in message
    assert "KH-POD-004" in message and "container web" in message
    assert "spec.containers[0].securityContext.privileged" in message
    assert "NSA-POD" in message and "Fix:" in message


def test_a_hardened_pod_is_admitted_without_warnings():
    hardened = pod(securityContext={"runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                   resources={"requests": {"cpu": "100m", "memory": "64Mi"},
                              "limits": {"cpu": "200m", "memory": "64Mi"}})
    v = reviewer().review(request(hardened))
    assert v.allowed and v.outcome == "allowed"
    assert "warnings" not in v.response()["response"]


def test_fail_on_threshold_decides_what_is_refused():
    latest = pod(image="registry.example.com/web:latest")  # findings, but none critical
    assert not reviewer(fail_on=Severity.LOW).review(request(latest)).allowed
    assert reviewer(fail_on=Severity.CRITICAL).review(request(latest)).allowed
    assert reviewer(fail_on=None).review(request(PRIVILEGED)).allowed


def test_warn_mode_admits_and_returns_short_one_line_warnings():
    v = reviewer(mode="warn").review(request(PRIVILEGED))
    r = v.response()["response"]
    assert r["allowed"] is True and "status" not in r
    assert any(w.startswith("KH-POD-004 container web:") for w in r["warnings"])
    assert all(len(w) <= WARNING_LIMIT and "\n" not in w for w in r["warnings"])


def test_dry_run_admits_silently_but_records_what_enforce_would_refuse():
    v = reviewer(mode="dry-run").review(request(PRIVILEGED))
    assert v.allowed and v.outcome == "would-deny"
    assert v.message.startswith("shop/web: KH-POD-004 container web:")  # what the server logs
    assert "warnings" not in v.response()["response"]
    assert "KH-POD-004" in {f.control.id for f in v.findings}


def test_annotation_and_configured_exception_are_honoured_as_in_scan():
    annotated = copy.deepcopy(PRIVILEGED)
    annotated["metadata"]["annotations"]["kubeharden.io/suppress.KH-POD-004"] = "CNI agent, reviewed 2026-11"
    v = reviewer(only=frozenset({"KH-POD-004"})).review(request(annotated))
    assert v.allowed and [f.status for f in v.findings] == []
    cfg = {"exceptions": [{"control": "KH-POD-004", "namespace": "shop", "name": "web",
                           "reason": "vendor agent", "expires": "2099-01-01"}]}
    assert reviewer(config=cfg, only=frozenset({"KH-POD-004"})).review(request(PRIVILEGED)).allowed
    assert not reviewer(config=cfg, only=frozenset({"KH-POD-004"})).review(
        request(pod(name="other", securityContext={"privileged": True}))).allowed


def test_profile_of_the_configuration_is_used():
    no_digest = pod(securityContext={"runAsNonRoot": True, "runAsUser": 1000})
    strict = reviewer(config={"profile": "strict", "require_digest": True}, fail_on=Severity.INFO)
    minimal = reviewer(config={"profile": "minimal"}, fail_on=Severity.INFO)
    strict_ids = {f.control.id for f in strict.review(request(no_digest)).findings}
    minimal_ids = {f.control.id for f in minimal.review(request(no_digest)).findings}
    assert "KH-IMG-002" in strict_ids and "KH-IMG-002" not in minimal_ids


def test_cross_object_controls_are_not_run_on_one_request():
    r = reviewer(config={"profile": "strict"})
    scopes = {c.scope for c in r.controls}
    assert "inventory" not in scopes
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    v = r.review(request(ns, namespace=""))
    # KH-NET-012/013 (no LimitRange/ResourceQuota) need the other objects: never judged here
    assert not {"KH-NET-012", "KH-NET-013"} & {f.control.id for f in v.findings}


def test_selectors_operations_and_subresources_that_are_not_judged():
    excluded = reviewer(exclude_namespaces=frozenset({"kube-system"}))
    v = excluded.review(request(pod(namespace="kube-system", securityContext={"privileged": True})))
    assert v.allowed and v.outcome == "skipped" and "kube-system" in v.message
    assert not excluded.review(request(PRIVILEGED)).allowed

    selector = compile_selector({"matchExpressions": [{"key": "kubeharden.io/skip", "operator": "DoesNotExist"}]},
                                "test")
    selected = reviewer(object_selector=selector)
    skip = pod(labels={"kubeharden.io/skip": "true"}, securityContext={"privileged": True})
    assert selected.review(request(skip)).outcome == "skipped"
    assert selected.review(request(PRIVILEGED)).outcome == "denied"

    r = reviewer()
    assert r.review(request(None, operation="DELETE", namespace="shop")).outcome == "skipped"
    assert r.review(request(PRIVILEGED, sub_resource="status")).outcome == "skipped"
    assert r.review(request(PRIVILEGED, sub_resource="ephemeralcontainers")).outcome == "denied"
    assert r.review(request(PRIVILEGED, operation="UPDATE")).outcome == "denied"


def test_namespace_of_the_request_places_an_object_without_one():
    obj = copy.deepcopy(PRIVILEGED)
    del obj["metadata"]["namespace"]
    v = reviewer().review(request(obj, namespace="payments"))
    assert "Pod/payments/web" in v.message


def test_failure_policy_decides_on_an_internal_error(monkeypatch):
    def broken(self, obj, req):
        raise RuntimeError("boom")
    monkeypatch.setattr(Reviewer, "_evaluate", broken)
    fail = reviewer(failure_policy="Fail").review(request(PRIVILEGED))
    assert not fail.allowed and fail.code == 500 and "boom" in fail.message and fail.outcome == "error"
    ignore = reviewer(failure_policy="Ignore").review(request(PRIVILEGED))
    assert ignore.allowed and ignore.outcome == "error" and "boom" in ignore.warnings[0]


@pytest.mark.parametrize("body, why", [
    (b"{not json", "not JSON"),
    (b"[]", "not an AdmissionReview"),
    (orjson.dumps({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1beta1", "request": {"uid": "x"}}),
     "v1beta1"),
    (orjson.dumps({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": {}}), "uid"),
    (review_body({**request(PRIVILEGED), "object": [1]}), "request.object must be a mapping on CREATE"),
])
def test_malformed_reviews_are_refused_with_a_reason(body, why):
    with pytest.raises(BadReview, match=why):
        parse_review(body)


def test_odd_objects_never_crash_a_review():
    r = reviewer()
    odd = [{"kind": "Pod"}, {"apiVersion": "v1", "kind": "Pod", "metadata": [], "spec": "x"},
           {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [None, 3, "x"]}},
           {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": []}}]
    for obj in odd:
        v = r.review(request(obj, namespace="shop"))
        assert v.response()["response"]["uid"] == "u-1"
    odd_request = {**request(PRIVILEGED), "kind": "Pod", "namespace": 7, "operation": ["CREATE"]}
    assert r.review(odd_request).outcome == "skipped"  # an operation that is not CREATE/UPDATE
    odd_request["operation"] = "CREATE"
    assert r.review(odd_request).outcome == "denied"


# -- agreement with scan on every control's examples --------------------------------------------

ADMISSION_CONTROLS = Evaluator(parse_config(EXAMPLE_CONFIG), input_kind="admission").controls


def _objects(text: str):
    return [json.loads(json.dumps(o.raw)) for o in parse_text(textwrap.dedent(text), "example.yaml")
            if not isinstance(o, Exception) and hasattr(o, "raw")]


def _refused_by(control, text: str) -> bool:
    r = reviewer(config=EXAMPLE_CONFIG, only=frozenset({control.id}), fail_on=Severity.INFO)
    verdicts = [r.review(request(obj, namespace="default")) for obj in _objects(text)]
    assert all(v.outcome != "error" for v in verdicts), [v.message for v in verdicts]
    return any(not v.allowed for v in verdicts)


@pytest.mark.parametrize("control", ADMISSION_CONTROLS, ids=lambda c: c.id)
def test_webhook_and_scan_agree_on_the_examples(control):
    for n, example in enumerate(control.fail_examples, 1):
        assert _refused_by(control, example), f"{control.id}: fail example {n} was admitted"
    assert not _refused_by(control, control.example_pass), f"{control.id}: pass example refused"


# -- mutation ----------------------------------------------------------------------------------

def apply_patch(doc, ops):
    """A minimal RFC 6902 applier (add, replace, remove) written for this test."""
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        node = doc
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node[p]
        last = int(parts[-1]) if isinstance(node, list) else parts[-1]
        if op["op"] == "remove":
            del node[last]
        elif op["op"] == "replace":
            assert (last < len(node)) if isinstance(node, list) else (last in node), op
            node[last] = op["value"]
        else:
            assert op["op"] == "add"
            if isinstance(node, list):
                node.insert(last, op["value"])
            else:
                node[last] = op["value"]
    return doc


def test_mutation_patches_only_safe_fixes_and_the_result_passes():
    obj = pod(securityContext={"privileged": True})
    obj["spec"]["containers"].append({"name": "side", "image": "registry.example.com/side:2",
                                      "imagePullPolicy": "IfNotPresent", "securityContext": {"runAsNonRoot": True}})
    only = frozenset({"KH-IMG-004", "KH-POD-004", "KH-POD-012"})
    v = reviewer(mutate=True, only=only).review(request(obj))
    r = v.response()["response"]
    assert r["allowed"] is True and r["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(r["patch"]))
    # only the non-root container's capability drop is safe (evidence rule non-root); the pull policy may serve
    # images loaded into the nodes and privileged may be needed, so neither is patched
    assert ops == [{"op": "add", "path": "/spec/containers/1/securityContext/capabilities",
                    "value": {"drop": ["ALL"]}}]
    patched = apply_patch(obj, ops)
    again = reviewer(only=only, fail_on=Severity.INFO).review(request(patched))
    assert sorted((f.control.id, f.container) for f in again.findings) == [
        ("KH-IMG-004", "side"), ("KH-IMG-004", "web"), ("KH-POD-004", "web"), ("KH-POD-012", "web")]
    assert all(f.fix is None or f.fix.safe is False for f in again.findings)


def test_no_patch_where_the_api_server_would_refuse_or_drop_it():
    # a Pod update may change only images, tolerations and deadlines ("Pods", Pod update and replacement), and the
    # ephemeralcontainers subresource keeps only ephemeralContainers: a securityContext patch there is refused
    old = pod(securityContext={"runAsNonRoot": True}, image="registry.example.com/web:1.0")
    new = pod(securityContext={"runAsNonRoot": True}, image="registry.example.com/web:1.1")
    only = frozenset({"KH-POD-012"})
    created = reviewer(mutate=True, only=only).review(request(new)).response()["response"]
    assert "patch" in created  # the same pod is patched on CREATE
    update = {**request(new, operation="UPDATE"), "oldObject": old}
    answer = reviewer(mutate=True, only=only).review(update).response()["response"]
    assert answer["allowed"] is True and "patch" not in answer
    assert any("safe fixes not applied" in w for w in answer["warnings"])
    debug = {**request(new, operation="UPDATE", sub_resource="ephemeralcontainers"), "oldObject": new}
    assert "patch" not in reviewer(mutate=True, only=only).review(debug).response()["response"]
    # a Deployment's template may change on UPDATE: its pods are created anew
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
                  "spec": {"selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}}, "spec": new["spec"]}}}
    before = json.loads(json.dumps(deployment))
    before["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/web:1.0"
    rollout = {**request(deployment, operation="UPDATE"), "oldObject": before}
    rollout["kind"] = {"group": "apps", "version": "v1", "kind": "Deployment"}
    answer = reviewer(mutate=True, only=only).review(rollout).response()["response"]
    assert json.loads(base64.b64decode(answer["patch"])) == [
        {"op": "add", "path": "/spec/template/spec/containers/0/securityContext/capabilities",
         "value": {"drop": ["ALL"]}}]


def test_nothing_to_fix_means_no_patch():
    v = reviewer(mutate=True, only=frozenset({"KH-IMG-004"})).review(request(pod(imagePullPolicy="Always")))
    assert "patch" not in v.response()["response"]


# -- per-review state ---------------------------------------------------------------------------

def _mixed_requests():
    objs = []
    for i in range(60):
        sc = [{"privileged": True}, {"runAsUser": 0}, {"runAsNonRoot": True, "runAsUser": 1000,
              "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}][i % 3]
        o = pod(name=f"p{i}", namespace=f"ns{i % 4}", securityContext=sc)
        if i % 5 == 0:
            o["spec"]["hostNetwork"] = True
        if i % 7 == 0:
            o["metadata"]["annotations"]["kubeharden.io/suppress.KH-POD-004"] = "accepted"
        objs.append(request(o, uid=f"u-{i}"))
    return objs


def test_concurrent_reviews_answer_as_sequential_ones():
    r = reviewer(mode="warn", config={"profile": "strict"})
    requests = _mixed_requests()
    sequential = review_all(r, requests)
    with ThreadPoolExecutor(max_workers=16) as pool:
        concurrent = review_all(r, requests * 4, pool.map)
    assert concurrent == sequential * 4
    assert len({json.dumps(a, sort_keys=True) for a in sequential}) > 3  # the answers do differ per object


# Review of #15 -----------------------------------------------------------------------------------


def _replicaset(replicas):
    tpl = {"metadata": {"labels": {"app": "web"}}, "spec": copy.deepcopy(PRIVILEGED["spec"])}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": tpl}}


def _update(obj, old, sub_resource=None):
    req = request(obj, operation="UPDATE", sub_resource=sub_resource)
    req["oldObject"] = old
    return req


def test_update_that_leaves_the_pod_spec_unchanged_is_not_re_evaluated(caplog):
    # ReplicaSet scale-down: only spec.replicas changes
    v = reviewer().review(_update(_replicaset(1), _replicaset(3)))
    assert v.allowed and v.outcome == "skipped" and "unchanged" in v.message
    # Pod: a finalizer removed and deletionTimestamp set
    old = copy.deepcopy(PRIVILEGED)
    old["metadata"]["finalizers"] = ["example.com/cleanup"]
    new = copy.deepcopy(PRIVILEGED)
    new["metadata"]["deletionTimestamp"] = "2026-11-30T22:00:00Z"
    assert reviewer().review(_update(new, old)).allowed
    # warn mode says so; dry-run logs it
    w = reviewer(mode="warn").review(_update(new, old)).response()["response"]
    assert w["allowed"] and any("unchanged" in x for x in w["warnings"])
    with caplog.at_level("INFO", logger="kubeharden.webhook"):
        assert reviewer(mode="dry-run").review(_update(new, old)).outcome == "skipped"
    assert "unchanged" in caplog.text


def test_update_that_changes_the_pod_spec_or_adds_ephemeral_containers_is_judged():
    changed = _replicaset(3)
    old = _replicaset(3)
    old["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {"privileged": False}
    assert not reviewer().review(_update(changed, old)).allowed
    assert not reviewer().review(request(_replicaset(3), operation="UPDATE")).allowed  # no oldObject
    # ephemeral containers subresource: always judged, even with the same spec
    assert not reviewer().review(_update(PRIVILEGED, copy.deepcopy(PRIVILEGED),
                                         sub_resource="ephemeralcontainers")).allowed


def test_refusal_names_the_control_once():
    message = reviewer().review(request(PRIVILEGED)).message
    assert "[KH-POD-004 critical] container web:" in message
    assert "KH-POD-004 container" not in message


def test_warn_mode_warns_most_severe_first_and_applies_fail_on():
    obj = pod(image="registry.example.com/web:latest", securityContext={"privileged": True})
    findings = reviewer(fail_on=Severity.INFO).review(request(obj)).findings
    assert len({f.severity for f in findings}) > 1
    r = reviewer(mode="warn", fail_on=Severity.INFO).review(request(obj)).response()["response"]
    ids = [w.split()[0].rstrip(":") for w in r["warnings"]]
    sev = {f.control.id: f.severity for f in findings}
    assert [sev[i] for i in ids] == sorted((sev[i] for i in ids), reverse=True)
    critical_only = reviewer(mode="warn", fail_on=Severity.CRITICAL).review(request(obj)).response()["response"]
    assert critical_only["warnings"] and all(sev[w.split()[0].rstrip(":")] == Severity.CRITICAL
                                             for w in critical_only["warnings"])
    everything = reviewer(mode="warn", fail_on=None).review(request(obj)).response()["response"]
    assert len(everything["warnings"]) == min(len(findings), 20)


# UPDATEs that change only annotations ---------------------------------------------------------------

HARDENED_CONTAINER = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
                        "seccompProfile": {"type": "RuntimeDefault"}},
    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}}}
APPARMOR_UNCONFINED = {"container.apparmor.security.beta.kubernetes.io/web": "unconfined"}


def _deployment(container, template_annotations=None, annotations=None, labels=None):
    spec = copy.deepcopy(pod(**container)["spec"])
    tpl = {"metadata": {"labels": {"app": "web"}, "annotations": dict(template_annotations or {})}, "spec": spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "annotations": dict(annotations or {}),
                         "labels": dict(labels or {})},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": tpl}}


def test_pod_update_that_only_adds_an_apparmor_or_seccomp_annotation_is_judged():
    old = pod(**HARDENED_CONTAINER)
    assert reviewer().review(request(old)).allowed
    unconfined = pod(annotations=APPARMOR_UNCONFINED, **HARDENED_CONTAINER)
    v = reviewer().review(_update(unconfined, old))
    assert not v.allowed and v.outcome == "denied"
    assert "KH-POD-017" in v.message and "container.apparmor.security.beta.kubernetes.io/web" in v.message
    # the legacy seccomp annotations (pod and container) are judged too, as Pod Security Admission does
    for key in ("seccomp.security.alpha.kubernetes.io/pod", "container.seccomp.security.alpha.kubernetes.io/web"):
        legacy = pod(annotations={key: "unconfined"})
        bare = pod()
        v = reviewer(mode="warn", fail_on=None).review(_update(legacy, bare))
        assert v.outcome == "allowed", key  # judged, not skipped
        assert any("seccomp.security.alpha annotations are ignored" in f.message for f in v.findings), key


def test_deployment_update_that_only_adds_an_apparmor_annotation_to_the_template_is_judged():
    old = _deployment(HARDENED_CONTAINER)
    assert reviewer().review(request(old)).allowed
    v = reviewer().review(_update(_deployment(HARDENED_CONTAINER, template_annotations=APPARMOR_UNCONFINED), old))
    assert not v.allowed and "KH-POD-017" in v.message
    assert "spec.template.metadata.annotations" in v.message


def test_annotation_only_update_is_judged_by_the_findings_it_adds():
    legacy = _deployment({"securityContext": {"privileged": True}})  # admitted before the policy
    assert not reviewer().review(request(legacy)).allowed
    # the Deployment controller's bookkeeping: admitted, the privileged container is not what changed
    revised = _deployment({"securityContext": {"privileged": True}},
                          annotations={"deployment.kubernetes.io/revision": "2"})
    v = reviewer().review(_update(revised, legacy))
    assert v.allowed and v.outcome == "allowed" and v.findings == []
    # a credential put into an annotation is refused, and only it is named
    token = _deployment({"securityContext": {"privileged": True}},
                        annotations={"example.com/api-token": "ghp_abcdefghijklmnopqrstuvwxyz0123456789"})
    v = reviewer().review(_update(token, legacy))
    assert not v.allowed and "KH-SEC-003" in v.message and "KH-POD-004" not in v.message
    # a suppression removed from the pod template brings its finding back
    suppressed = _deployment({"securityContext": {"privileged": True}},
                             template_annotations={"kubeharden.io/suppress.KH-POD-004": "CNI agent, reviewed"})
    v = reviewer(only=frozenset({"KH-POD-004"})).review(_update(legacy, suppressed))
    assert not v.allowed and "KH-POD-004" in v.message


def test_update_of_labels_or_replicas_only_is_not_re_evaluated():
    legacy = _deployment({"securityContext": {"privileged": True}})
    relabelled = _deployment({"securityContext": {"privileged": True}}, labels={"team": "shop"})
    relabelled["spec"]["replicas"] = 5
    v = reviewer().review(_update(relabelled, legacy))
    assert v.allowed and v.outcome == "skipped" and "unchanged" in v.message
