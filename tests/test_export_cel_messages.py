"""The messageExpression of container controls names exactly the containers the scanner reports, evaluated with
cel-expr-python on every catalogue example and adversarial case in every pod-bearing kind."""

from __future__ import annotations

import copy
import re

import pytest
import yaml
from test_export_cel import CONFIG, CONTROLS, EXPORTED, _eval, _objects, _without_nulls, request_of
from test_export_cel_cases import CASES, c, pod, policy, sc
from test_export_cel_inventory import RESOURCE_CASES
from test_pod_kinds import as_kind, split

from kubeharden.engine.evaluator import Evaluator
from kubeharden.enforce.export import ADMISSION_EXACT, export
from kubeharden.model.objects import K8sObject, Provenance, make_ref
from kubeharden.model.pods import CONTAINER_LISTS, POD_TEMPLATE_PATHS

KIND_OF_LIST = dict((key, kind) for kind, key in CONTAINER_LISTS)
NAMED = [ctl for ctl in EXPORTED if "messageExpression" in policy(ctl.id)["spec"]["validations"][0]]
FAULT = re.compile(r"(?:^|: |; )(container|initContainer|ephemeralContainer) ([a-z0-9][-a-z0-9]*): ")


def message(control_id: str, obj: dict) -> str | None:
    """The messageExpression's value when the policy refuses ``obj``, else None."""
    vap = policy(control_id)
    variables: dict = {}
    data = {"object": obj, "variables": variables, "request": request_of(obj)}
    for var in vap["spec"].get("variables", []):
        variables[var["name"]] = _eval(var["expression"], data)
    validation = vap["spec"]["validations"][0]
    if _eval(validation["expression"], data) is True:
        return None
    return _eval(validation["messageExpression"], data)


def findings(control_id: str, obj: dict) -> list:
    """The scanner's failing findings of ``control_id`` (inventory controls: a scan of the lone object)."""
    evaluator = Evaluator(CONFIG, only=[control_id],
                          input_kind="manifest" if control_id in ADMISSION_EXACT else "admission")
    item = K8sObject(obj, make_ref(obj, "default"), Provenance(None, None, "admission"))
    return [f for f in evaluator.run([item]) if f.status == "fail"]


def reported(control_id: str, obj: dict) -> set[tuple[str, str]]:
    """(list kind, container name) of every finding of the scanner naming a container."""
    return {(KIND_OF_LIST.get(f.container_list or ""), f.container) for f in findings(control_id, obj) if f.container}


def named(text: str) -> set[tuple[str, str]]:
    return set(FAULT.findall(text))


def test_every_container_control_of_a_rule_or_template_names_its_containers():
    translated = {ctl.id for ctl in EXPORTED if ctl.scope == "container" and ctl.rule is not None}
    resources = {f"KH-RES-00{n}" for n in range(1, 6)}
    # the container checks of cel_checks.CHECKS, and the pod checks that report containers too
    hand_written = {"KH-POD-001", "KH-POD-002", "KH-POD-008", "KH-POD-019", "KH-IMG-003"}
    assert translated and {ctl.id for ctl in NAMED} == translated | resources | hand_written
    assert {ctl.id for ctl in EXPORTED if ctl.scope == "container"} <= {ctl.id for ctl in NAMED}


@pytest.mark.parametrize("case", [x for x in RESOURCE_CASES if x[2]], ids=lambda x: x[0])
def test_the_resources_message_names_the_containers_and_what_they_miss(case):
    control_id, obj, _ = case
    text = message(control_id, _without_nulls(copy.deepcopy(obj)))
    # the scanner's resource findings carry the container's name, not its list
    assert {n for _, n in named(text)} == {n for _, n in reported(control_id, _without_nulls(copy.deepcopy(obj)))}


def test_the_resources_message_reads_as_the_scanner_says_it():
    obj = _without_nulls(pod({"containers": [c(resources={"requests": {"memory": "1Gi"}})],
                              "initContainers": [c(name="setup", resources={"limits": {"cpu": "1", "memory": "1Gi"}})]}))
    assert message("KH-RES-001", obj).startswith("KH-RES-001 No CPU or memory request: container app: no cpu request (")
    both = _without_nulls(pod({"containers": [c()], "initContainers": [c(name="setup")]}))
    assert message("KH-RES-001", both).startswith("KH-RES-001 No CPU or memory request: container app: no cpu or "
                                                  "memory request; initContainer setup: no cpu or memory request (")


def test_the_message_names_the_container_the_field_and_its_value():
    obj = _without_nulls(pod({"containers": [c(name="web"), sc(privileged=True)]}))
    assert message("KH-POD-004", obj) == ("KH-POD-004 Privileged container: container app: securityContext.privileged "
                                          "is true (guide " + policy("KH-POD-004")["spec"]["validations"][0][
                                              "message"].partition(" (guide ")[2])
    inherited = _without_nulls(pod({"securityContext": {"seccompProfile": {"type": "Unconfined"}},
                                    "containers": [c()], "initContainers": [c(name="setup")]}))
    text = message("KH-POD-016", inherited)
    assert "container app: securityContext.seccompProfile is {type: Unconfined}" in text
    assert "initContainer setup: securityContext.seccompProfile is {type: Unconfined}" in text
    ports = _without_nulls(pod({"containers": [c(ports=[{"name": "http", "containerPort": 80, "hostPort": 8080},
                                                        {"containerPort": 81}])]}))
    assert "container app: ports[http].hostPort is 8080" in message("KH-POD-010", ports)
    root = _without_nulls(pod({"securityContext": {"runAsNonRoot": True}, "containers": [c(), sc(runAsUser=0)]}))
    assert message("KH-POD-001", root).startswith("KH-POD-001 Container may run as root: container app: "
                                                  "securityContext.runAsUser is 0, securityContext.runAsNonRoot is true")
    mounted = _without_nulls(pod({"containers": [c(volumeMounts=[{"name": "h", "mountPath": "/h"}])],
                                  "volumes": [{"name": "h", "hostPath": {"path": "/srv"}}]}))
    assert "container app: writable hostPath volumeMounts: h" in message("KH-POD-008", mounted)
    hub = _without_nulls(pod({"containers": [c(image="nginx:1.25")]}))
    assert "container app: image is nginx:1.25" in message("KH-IMG-003", hub)
    unset = _without_nulls(pod({"containers": [c()]}))
    assert "container app: securityContext.readOnlyRootFilesystem is not set" in message("KH-POD-003", unset)
    assert "\n" not in message("KH-POD-003", unset)  # a line break would make the API server drop it


def test_the_pod_checks_name_their_containers_and_the_pods_own_fields():
    static = policy("KH-POD-002")["spec"]["validations"][0]["message"].partition(" (guide ")[2]
    groups = _without_nulls(pod({"securityContext": {"runAsGroup": 10001, "fsGroup": 0, "supplementalGroups": [5, 0]},
                                 "containers": [c()], "initContainers": [c(name="setup", securityContext={
                                     "runAsGroup": 0})]}))
    assert message("KH-POD-002", groups) == (
        "KH-POD-002 Container may run with the root group: initContainer setup: securityContext.runAsGroup is 0; "
        "pod: securityContext.fsGroup is 0; pod: securityContext.supplementalGroups is [5, 0] (guide " + static)
    unset = _without_nulls(pod({"containers": [c(), sc(runAsGroup=10001)]}))
    assert ": container app: securityContext.runAsGroup is not set (guide " in message("KH-POD-002", unset)
    windows = _without_nulls(pod({"os": {"name": "windows"}, "containers": [c()]}))
    assert message("KH-POD-002", windows) is None  # admitted: runAsGroup must be unset there
    selinux = _without_nulls(pod({"securityContext": {"seLinuxOptions": {"type": "spc_t"}},
                                  "containers": [c(securityContext={"seLinuxOptions": {"user": "system_u"}})],
                                  "ephemeralContainers": [c(name="debug")]}))
    text = message("KH-POD-019", selinux)
    assert text.startswith("KH-POD-019 Custom SELinux options: container app: securityContext.seLinuxOptions is "
                           "{user: system_u}; pod: securityContext.seLinuxOptions is {type: spc_t} (guide ")
    assert "debug" not in text  # inherits the pod's options: the scanner reports the pod's field, once


def _cases() -> list[tuple[str, str, dict]]:
    out = []
    ids = {ctl.id for ctl in NAMED}
    for ctl in NAMED:
        if ctl.id in ADMISSION_EXACT:
            continue  # Pods only: test_the_resources_message_names_the_containers_and_what_they_miss
        for n, text in enumerate(ctl.fail_examples, 1):
            out += [(ctl.id, f"fail-{n}", o) for o in _objects(text) if o.get("kind") in POD_TEMPLATE_PATHS]
    out += [(cid, f"case-{n}", obj) for n, (cid, obj, bad) in enumerate(CASES) if cid in ids and bad]
    return out


MESSAGE_CASES = _cases()


@pytest.mark.parametrize(("control_id", "label", "obj"), MESSAGE_CASES,
                         ids=[f"{a}-{b}" for a, b, _ in MESSAGE_CASES])
def test_the_message_names_the_containers_the_scanner_reports_in_every_kind(control_id, label, obj):
    parts = split(obj)
    for kind in POD_TEMPLATE_PATHS:
        variant = _without_nulls(yaml.safe_load(as_kind(kind, *parts)))
        text = message(control_id, copy.deepcopy(variant))
        expected = reported(control_id, variant)
        pod_level = [f for f in findings(control_id, variant) if f.container is None]
        assert text is not None and (expected or pod_level), f"{control_id} {label} as {kind}: not refused/reported"
        # a finding on the pod's own field (KH-POD-002's fsGroup, KH-POD-019's pod seLinuxOptions) is named too
        assert ("; pod: " in text or ": pod: " in text) == bool(pod_level), f"{control_id} {label} as {kind}: {text}"
        if any(k is None for k, _ in expected):  # a finding without its list: compare the names
            assert {n for _, n in named(text)} == {n for _, n in expected}, f"{control_id} {label} as {kind}: {text}"
        else:
            assert named(text) == expected, f"{control_id} {label} as {kind}: {text}"


def test_kyverno_carries_the_same_message_expression():
    kyv = export([ctl for ctl in CONTROLS if ctl.id in {n.id for n in NAMED}], "kyverno", config=CONFIG)
    for doc in kyv.documents:
        control_id = doc["metadata"]["annotations"]["kubeharden.io/control"]
        expression = doc["spec"]["rules"][0]["validate"]["cel"]["expressions"][0]
        assert expression["messageExpression"] == policy(control_id)["spec"]["validations"][0]["messageExpression"]
