"""Exported policies judge an UPDATE only when it changes what the control reads (matchConditions /
celPreconditions, evaluated with cel-expr-python), as Pod Security Admission and kubeharden's webhook:
an existing object that breaks a rule can still be scaled, relabelled or have its finalizers removed."""

from __future__ import annotations

import copy

import pytest
from cel_expr_python.ext import ext_optional, ext_strings
from test_export_cel import CONFIG, CONTROLS, admitted, cel
from test_export_cel_cases import c, pod, policy, sc

from kubeharden.enforce.export import export
from kubeharden.model.objects import make_ref

UPDATE_ENV = cel.NewEnv(variables={"object": cel.Type.DYN, "oldObject": cel.Type.DYN,
                                   "request": cel.Type.Map(cel.Type.STRING, cel.Type.DYN)},
                        extensions=[ext_strings.ExtStrings(), ext_optional.ExtOptional()])


def applies(conditions: list[dict], obj: dict, old: dict | None, operation: str) -> bool:
    """Every matchCondition is true (the policy applies to the request)."""
    data = {"object": obj, "oldObject": old, "request": {"operation": operation,
                                                         "namespace": make_ref(obj, "default").namespace or ""}}
    results = []
    for cond in conditions:
        value = UPDATE_ENV.compile(cond["expression"]).eval(data=data)
        assert value.type() != cel.Type.ERROR, f"CEL error in {cond['expression'][:120]}"
        results.append(value.plain_value())
    return all(r is True for r in results)


def refused(control_id: str, obj: dict, old: dict | None = None, operation: str = "UPDATE") -> bool:
    vap = policy(control_id)
    return applies(vap["spec"]["matchConditions"], obj, old, operation) and not admitted(vap, obj)


def deployment(container: dict, replicas: int = 1, labels: dict | None = None) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": labels or {"app": "web"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}}}}


PRIVILEGED = sc(privileged=True)


def test_an_update_that_leaves_the_pod_spec_alone_is_admitted_even_when_it_violates():
    old = pod({"containers": [PRIVILEGED]})
    new = copy.deepcopy(old)
    new["metadata"]["finalizers"] = []  # the Job controller removes its finalizer
    new["metadata"]["labels"] = {"x": "y"}
    assert refused("KH-POD-003", old, None, "CREATE")
    assert not refused("KH-POD-003", new, old)


def test_scaling_a_violating_workload_is_admitted_changing_its_template_is_judged():
    old = deployment(PRIVILEGED, replicas=3)
    assert not refused("KH-POD-003", deployment(PRIVILEGED, replicas=0), old)
    assert refused("KH-POD-003", deployment({**PRIVILEGED, "image": "registry.example.com/app:2.0"}), old)


def test_an_update_that_introduces_the_violation_is_refused():
    old = deployment(c())
    assert refused("KH-POD-003", deployment(PRIVILEGED), old)
    assert not refused("KH-POD-003", deployment(c(), replicas=5), old)


def test_an_update_without_old_object_is_judged():
    assert refused("KH-POD-003", pod({"containers": [PRIVILEGED]}), None)


def test_changing_a_judged_annotation_is_judged_others_are_not():
    spec = {"containers": [c(securityContext={"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                                              "capabilities": {"drop": ["ALL"]}})]}
    old = pod(spec, annotations={"container.apparmor.security.beta.kubernetes.io/app": "runtime/default"})
    unconfined = pod(spec, annotations={"container.apparmor.security.beta.kubernetes.io/app": "unconfined"})
    other = pod(spec, annotations={"container.apparmor.security.beta.kubernetes.io/app": "runtime/default",
                                   "team": "a"})
    conditions = policy("KH-POD-003")["spec"]["matchConditions"]
    assert applies(conditions, unconfined, old, "UPDATE")
    assert not applies(conditions, other, old, "UPDATE")


def namespace(labels: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": labels}}


def test_labelling_a_namespace_without_pod_security_is_admitted_removing_the_label_is_refused():
    bare = namespace({"kubernetes.io/metadata.name": "shop"})
    assert refused("KH-NS-003", bare, None, "CREATE")
    assert not refused("KH-NS-003", namespace({"kubernetes.io/metadata.name": "shop", "x": "y"}), bare)
    enforced = namespace({"pod-security.kubernetes.io/enforce": "restricted"})
    assert not refused("KH-NS-003", namespace({"pod-security.kubernetes.io/enforce": "restricted", "x": "y"}),
                       enforced)
    assert refused("KH-NS-003", namespace({"x": "y"}), enforced)


def service(kind: str, annotations: dict | None = None, port: int = 80) -> dict:
    meta = {"name": "web", "namespace": "shop", **({"annotations": annotations} if annotations else {})}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": {"type": kind, "ports": [{"port": port}], "selector": {"app": "web"}}}


def test_object_rules_judge_an_update_of_the_fields_they_read():
    old = service("NodePort")
    relabelled = copy.deepcopy(old)
    relabelled["metadata"]["labels"] = {"x": "y"}
    assert not refused("KH-NET-008", relabelled, old)
    assert refused("KH-NET-008", service("NodePort", port=81), old)  # spec changed
    assert refused("KH-NET-008", service("NodePort"), service("ClusterIP"))
    # KH-NET-009 reads one annotation too: changing it is judged
    lb = service("LoadBalancer", {"service.beta.kubernetes.io/load-balancer-source-ranges": "10.0.0.0/8"})
    opened = service("LoadBalancer", {"service.beta.kubernetes.io/load-balancer-source-ranges": "0.0.0.0/0"})
    assert refused("KH-NET-009", opened, lb)


@pytest.mark.parametrize("target", ["vap", "kyverno"])
def test_every_exported_policy_carries_the_update_condition(target):
    result = export(CONTROLS, target, config=CONFIG)
    if target == "vap":
        conditions = [d["spec"].get("matchConditions") for d in result.documents
                      if d["kind"] == "ValidatingAdmissionPolicy"]
    else:
        conditions = [d["spec"]["rules"][0].get("celPreconditions") for d in result.documents]
    assert conditions and all(cs and "oldObject" in cs[0]["expression"] for cs in conditions)


def test_create_is_always_judged_for_every_exported_policy():
    """A CREATE applies every policy (no oldObject); an UPDATE that changes nothing applies none; no error."""
    result = export(CONTROLS, "vap", config=CONFIG)
    obj = pod({"containers": [c()]})
    for doc in result.documents:
        if doc["kind"] == "ValidatingAdmissionPolicy":
            assert applies(doc["spec"]["matchConditions"], obj, None, "CREATE")
            assert not applies(doc["spec"]["matchConditions"], obj, copy.deepcopy(obj), "UPDATE")


def test_every_exported_object_policy_knows_the_fields_it_reads():
    from kubeharden.enforce.cel_updates import changed

    for control in CONTROLS:
        if control.id in export([control], "vap", config=CONFIG).exported:
            assert changed(control) != "true", f"{control.id}: every UPDATE would be judged"
