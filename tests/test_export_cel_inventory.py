"""Inventory controls exported because the one admitted object decides them (export.ADMISSION_EXACT):
KH-RES-001 to -005 on Pods (the LimitRanger admission plugin has already defaulted them) and KH-RBAC-017 on
bindings (the bootstrap exemption reads only the binding). Each case is written from the Kubernetes API
reference (PodSpec ``resources``, Container ``resources`` and ``restartPolicy``, RoleBinding and
ClusterRoleBinding) and the pages cited beside it; the expected verdict is asserted for the scanner and the
policy, evaluated with cel-expr-python."""

from __future__ import annotations

import copy

import pytest
from test_export_cel import CONFIG, CONTROLS, _without_nulls, admitted, limit_ranger, scanner_fails
from test_export_cel_cases import c, pod, policy, verdicts
from test_export_cel_updates import refused

from kubeharden.config import parse_config
from kubeharden.engine.evaluator import Evaluator
from kubeharden.enforce.export import export
from kubeharden.model.objects import K8sObject, Provenance, make_ref

CPU_MEM = {"cpu": "100m", "memory": "128Mi"}
ALL = {**CPU_MEM, "ephemeral-storage": "1Gi"}


def res(requests: dict | None = None, limits: dict | None = None) -> dict:
    out: dict = {}
    if requests is not None:
        out["requests"] = requests
    if limits is not None:
        out["limits"] = limits
    return out


def sidecar(**fields) -> dict:
    """A restartable init container ("Sidecar Containers": restartPolicy Always)."""
    return c(name="proxy", restartPolicy="Always", **fields)


# (control, Pod, whether a container misses what the control asks for)
RESOURCE_CASES: list[tuple[str, dict, bool]] = [
    # a limit stands in for the request (API defaulting, "Resource Management for Pods and Containers")
    ("KH-RES-001", pod({"containers": [c(resources=res(limits=CPU_MEM))]}), False),
    ("KH-RES-001", pod({"containers": [c(resources=res(requests={"cpu": "100m"}))]}), True),
    ("KH-RES-001", pod({"containers": [c(resources=res(requests={"cpu": "100m"}, limits={"memory": "1Gi"}))]}),
     False),
    # quantity forms: every spelling of a quantity is a value (presence decides, as the scanner's)
    ("KH-RES-001", pod({"containers": [c(resources=res(requests={"cpu": 1, "memory": "1e9"}))]}), False),
    ("KH-RES-001", pod({"containers": [c(resources=res(requests={"cpu": "0.5", "memory": "128974848"}))]}), False),
    # pod-level resources (spec.resources, "Resource Management for Pods and Containers", pod-level resource
    # specification): cpu and memory only, its limits count for requests too
    ("KH-RES-001", pod({"resources": res(requests=CPU_MEM), "containers": [c()]}), False),
    ("KH-RES-001", pod({"resources": res(limits=CPU_MEM), "containers": [c()]}), False),
    ("KH-RES-001", pod({"resources": res(requests={"cpu": "1"}), "containers": [c()]}), True),
    ("KH-RES-002", pod({"resources": res(requests={"cpu": "1"}), "containers": [c()]}), True),
    ("KH-RES-002", pod({"resources": res(limits={"cpu": "1"}), "containers": [c()]}), False),
    ("KH-RES-003", pod({"resources": res(limits={"memory": "1Gi"}), "containers": [c()]}), False),
    ("KH-RES-003", pod({"containers": [c(resources=res(requests={"memory": "1Gi"}))]}), True),
    ("KH-RES-004", pod({"resources": res(limits=CPU_MEM), "containers": [c(resources=res(limits=CPU_MEM))]}), True),
    ("KH-RES-004", pod({"containers": [c(resources=res(limits={"ephemeral-storage": "1Gi"}))]}), False),
    ("KH-RES-005", pod({"containers": [c(resources=res(requests={"ephemeral-storage": "1Gi"}))]}), True),
    ("KH-RES-005", pod({"containers": [c(resources=res(limits=ALL))]}), False),
    # init containers: run-to-completion ones and restartable sidecars are both judged (the LimitRanger
    # defaults both); ephemeral containers cannot have resources and are not judged
    ("KH-RES-002", pod({"containers": [c(resources=res(limits=ALL))],
                        "initContainers": [c(name="migrate")]}), True),
    ("KH-RES-002", pod({"containers": [c(resources=res(limits=ALL))],
                        "initContainers": [sidecar()]}), True),
    ("KH-RES-002", pod({"containers": [c(resources=res(limits=ALL))],
                        "initContainers": [sidecar(resources=res(limits={"cpu": "100m"}))]}), False),
    ("KH-RES-003", pod({"containers": [c(resources=res(limits=ALL))],
                        "ephemeralContainers": [{"name": "debug", "image": "busybox:1.36"}]}), False),
    ("KH-RES-001", pod({"containers": [c(resources=res(limits=ALL)), c(name="second")]}), True),
    # a zero quantity is no request or limit: the kubelet sets no CPU quota or memory limit for it, QoS ignores it
    # ("Pod Quality of Service Classes"), and the LimitRanger leaves a written zero as it is
    ("KH-RES-002", pod({"containers": [c(resources=res(limits={"cpu": "0", "memory": "128Mi"}))]}), True),
    ("KH-RES-002", pod({"containers": [c(resources=res(limits={"cpu": 0, "memory": "128Mi"}))]}), True),
    ("KH-RES-003", pod({"containers": [c(resources=res(limits={"cpu": "1", "memory": "0Mi"}))]}), True),
    ("KH-RES-001", pod({"containers": [c(resources=res(requests={"cpu": "0m", "memory": "64Mi"}))]}), True),
    # the API server defaults only an absent request to the limit: a request written as zero stays zero
    ("KH-RES-001", pod({"containers": [c(resources=res(requests={"cpu": "0.0", "memory": "64Mi"},
                                                       limits={"cpu": "10m"}))]}), True),
    ("KH-RES-001", pod({"containers": [c(resources=res(requests={"memory": "64Mi"}, limits={"cpu": "10m"}))]}),
     False),
    ("KH-RES-001", pod({"resources": res(requests={"cpu": "0"}, limits={"cpu": "1"}),
                        "containers": [c(resources=res(requests={"memory": "64Mi"}))]}), True),
    ("KH-RES-005", pod({"containers": [c(resources=res(limits={**ALL, "ephemeral-storage": "0e3"}))]}), True),
    ("KH-RES-002", pod({"resources": res(limits={"cpu": "0"}), "containers": [c(resources=res(limits={"memory": "1Gi"}))]}),
     True),
    ("KH-RES-002", pod({"containers": [c(resources=res(limits={"cpu": "10m", "memory": "128Mi"}))]}), False),
]


def _id(case: tuple) -> str:
    return f"{case[0]}-{'fail' if case[2] else 'pass'}"


@pytest.mark.parametrize("case", RESOURCE_CASES, ids=[_id(x) for x in RESOURCE_CASES])
def test_container_resources_on_an_admitted_pod(case):
    control_id, obj, bad = case
    assert verdicts(control_id, obj) == (bad, bad)


def _scan(control_id: str, objs: list[dict]) -> bool:
    """The scanner's verdict over the whole input (a Pod with the LimitRanges of its namespace)."""
    evaluator = Evaluator(parse_config({"profile": "strict"}), only=[control_id], input_kind="manifest")
    items = [K8sObject(o, make_ref(o, "default"), Provenance(None, None, "x.yaml")) for o in objs]
    return any(f.status == "fail" for f in evaluator.run(items))


def limit_range(item: dict, namespace: str = "shop") -> dict:
    return {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults", "namespace": namespace},
            "spec": {"limits": [{"type": "Container", **item}]}}


@pytest.mark.parametrize(("control_id", "item", "bad"), [
    ("KH-RES-003", {"max": {"memory": "1Gi"}}, False),  # max is copied into default when it is stored
    ("KH-RES-001", {"min": {"cpu": "10m", "memory": "16Mi"}}, False),  # defaultRequest <- default <- min
    ("KH-RES-002", {"defaultRequest": {"cpu": "100m"}}, True),  # a defaultRequest is no limit
    ("KH-RES-005", {"default": {"ephemeral-storage": "1Gi"}}, False),
])
def test_the_policy_judges_the_pod_the_limitranger_left_as_the_scanner_judges_pod_and_limitrange(
        control_id, item, bad):
    """The scanner reads the LimitRange beside the Pod; the policy reads the Pod the LimitRanger admission
    plugin mutated ("Limit Ranges", https://kubernetes.io/docs/concepts/policy/limit-range/)."""
    bare = pod({"containers": [c()], "initContainers": [sidecar()]})
    lr = limit_range(item)
    assert _scan(control_id, [bare, lr]) is bad
    mutated = next(o for o in limit_ranger([bare, lr]) if o["kind"] == "Pod")
    assert admitted(policy(control_id), _without_nulls(mutated)) is not bad
    # another namespace's LimitRange defaults nothing here, for either side
    other = limit_range(item, namespace="other")
    assert _scan(control_id, [bare, other]) is True
    assert admitted(policy(control_id), next(o for o in limit_ranger([bare, other]) if o["kind"] == "Pod")) is False


def test_resource_policies_match_pods_and_their_resize_not_workload_templates():
    """A Deployment's pod template is not defaulted by the LimitRanger (its Pods are, when created), so the
    policy matches Pods only; an in-place resize (pods/resize) changes resources and is judged."""
    for n in range(1, 6):
        rules = policy(f"KH-RES-00{n}")["spec"]["matchConstraints"]["resourceRules"]
        assert [r["resources"] for r in rules] == [["pods", "pods/resize"]]
    kyverno = export([ctl for ctl in CONTROLS if ctl.id.startswith("KH-RES-")], "kyverno", config=CONFIG).documents
    assert len(kyverno) == 5
    for doc in kyverno:  # Kyverno spells a subresource Kind/subresource ("Match statements")
        assert doc["spec"]["rules"][0]["match"]["any"][0]["resources"]["kinds"] == ["Pod", "Pod/resize"]


def test_a_resource_update_is_judged_an_image_update_is_not():
    old = pod({"containers": [c(resources=res(limits=ALL))]})
    image = copy.deepcopy(old)
    image["spec"]["containers"][0]["image"] = "registry.example.com/app:1.1"
    assert not refused("KH-RES-002", image, old)
    resized = copy.deepcopy(old)
    del resized["spec"]["containers"][0]["resources"]["limits"]["cpu"]
    assert refused("KH-RES-002", resized, old)
    bare = pod({"containers": [c()]})
    relabelled = copy.deepcopy(bare)
    relabelled["metadata"]["labels"] = {"x": "y"}
    assert not refused("KH-RES-002", relabelled, bare)  # a Pod that existed before the policy


# -- KH-RBAC-017: bindings to system:masters ---------------------------------------------------------------

MASTERS = {"kind": "Group", "name": "system:masters", "apiGroup": "rbac.authorization.k8s.io"}


def binding(name: str = "cluster-admin", role: str = "cluster-admin", subjects: list | None = None,
            kind: str = "ClusterRoleBinding", annotations: dict | None = None) -> dict:
    meta: dict = {"name": name}
    if kind == "RoleBinding":
        meta["namespace"] = "shop"
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [MASTERS] if subjects is None else subjects}


NO_AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "false"}

# The bootstrap ClusterRoleBinding cluster-admin is reconciled at every API server start unless annotated
# autoupdate "false" ("Using RBAC Authorization", Default roles and role bindings, Auto-reconciliation).
BINDING_CASES: list[tuple[str, dict, bool]] = [
    ("the bootstrap binding", binding(), False),
    ("another name", binding(name="masters-admin"), True),
    ("the bootstrap name, another role: as written until the next start", binding(role="view"), True),
    ("the bootstrap name, another role, not reconciled", binding(role="view", annotations=NO_AUTOUPDATE), True),
    ("the bootstrap binding, not reconciled", binding(annotations=NO_AUTOUPDATE), False),
    ("the bootstrap binding, any autoupdate", binding(annotations={
        "rbac.authorization.kubernetes.io/autoupdate": "False"}), False),
    ("a RoleBinding of that name", binding(kind="RoleBinding"), True),
    ("another default binding given system:masters", binding(name="system:basic-user", role="system:basic-user",
                                                             subjects=[MASTERS]), True),
    ("a user named system:masters is not the group", binding(name="x", subjects=[
        {"kind": "User", "name": "system:masters", "apiGroup": "rbac.authorization.k8s.io"}]), False),
    ("among other subjects", binding(name="x", subjects=[
        {"kind": "Group", "name": "ops", "apiGroup": "rbac.authorization.k8s.io"}, MASTERS]), True),
    ("no subjects", binding(name="x", subjects=[]), False),
]


@pytest.mark.parametrize(("label", "obj", "bad"), BINDING_CASES, ids=[x[0] for x in BINDING_CASES])
def test_system_masters_bindings(label, obj, bad):
    assert verdicts("KH-RBAC-017", obj) == (bad, bad)


def test_a_binding_the_api_server_would_refuse_grants_nothing_on_both_sides():
    # a ClusterRoleBinding's ServiceAccount subject needs a namespace (ValidateRoleBindingSubject): the scanner
    # reads such a binding as granting nothing, and the policy agrees (the API server refuses it anyway)
    obj = binding(name="x", subjects=[MASTERS, {"kind": "ServiceAccount", "name": "ci"}])
    assert verdicts("KH-RBAC-017", obj) == (False, False)


def test_a_binding_update_is_judged_when_its_subjects_or_autoupdate_change():
    old = binding()
    assert not refused("KH-RBAC-017", old, None, "CREATE")
    pinned = copy.deepcopy(old)
    pinned["metadata"]["annotations"] = NO_AUTOUPDATE
    assert not refused("KH-RBAC-017", pinned, old)  # still the bootstrap binding: exempt
    moved = binding(name="masters-admin", role="view")
    more = copy.deepcopy(moved)
    more["subjects"] = [*more["subjects"], {"kind": "Group", "name": "ops", "apiGroup": "rbac.authorization.k8s.io"}]
    assert refused("KH-RBAC-017", more, moved)  # its subjects changed: judged
    legacy = binding(name="masters-admin")
    relabelled = copy.deepcopy(legacy)
    relabelled["metadata"]["labels"] = {"team": "ops"}
    assert not refused("KH-RBAC-017", relabelled, legacy)
    assert scanner_fails("KH-RBAC-017", relabelled)


# -- KH-POD-024: why the token volume of an admitted Pod does not decide it ---------------------------------

TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def service_account_plugin(obj: dict, account: dict) -> dict:
    """The Pod as the ServiceAccount admission plugin leaves it on CREATE (plugin/pkg/admission/serviceaccount:
    shouldAutomount, then a projected kube-api-access-<random> volume mounted at the token path in every
    container and init container without a mount there, the volume added only if one needed it and none of
    that name exists; mirror Pods untouched)."""
    obj = copy.deepcopy(obj)
    spec = obj["spec"]
    if "kubernetes.io/config.mirror" in obj["metadata"].get("annotations", {}):
        return obj
    automount = spec.get("automountServiceAccountToken", account.get("automountServiceAccountToken", True))
    if not automount:
        return obj
    volumes = spec.setdefault("volumes", [])
    name = next((v["name"] for v in volumes if v["name"].startswith("kube-api-access-")), "kube-api-access-x7k2p")
    needed = False
    for ctr in spec.get("initContainers", []) + spec["containers"]:
        mounts = ctr.setdefault("volumeMounts", [])
        if not any(m["mountPath"] == TOKEN_PATH for m in mounts):
            mounts.append({"name": name, "mountPath": TOKEN_PATH, "readOnly": True})
            needed = True
    if needed and not any(v["name"] == name for v in volumes):
        volumes.append({"name": name, "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}})
    return obj


def account(automount: bool | None) -> dict:
    out = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app", "namespace": "shop"}}
    if automount is not None:
        out["automountServiceAccountToken"] = automount
    return out


def token_volume(obj: dict) -> bool:
    return any(v["name"].startswith("kube-api-access-") for v in obj["spec"].get("volumes", []))


def test_the_token_volume_of_an_admitted_pod_does_not_decide_kh_pod_024():
    """KH-POD-024 stays out of the export (export._READS_BY_ID says why): the scanner, given the Pod and its
    ServiceAccount, and the volume the plugin leaves disagree in these cases."""
    own_mount = pod({"serviceAccountName": "app", "containers": [c(volumeMounts=[
        {"name": "creds", "mountPath": TOKEN_PATH}])], "volumes": [{"name": "creds", "emptyDir": {}}]})
    # the scanner, like the plugin, gives no token where every container mounts its own volume at the path
    assert not _scan("KH-POD-024", [own_mount, account(None)])
    assert not token_volume(service_account_plugin(own_mount, account(None)))
    mirror = dict(pod({"serviceAccountName": "app", "containers": [c()]}))
    mirror["metadata"] = {**mirror["metadata"], "annotations": {"kubernetes.io/config.mirror": "abc"}}
    assert not _scan("KH-POD-024", [mirror, account(None)])
    assert not token_volume(service_account_plugin(mirror, account(None)))
    named = pod({"serviceAccountName": "app", "containers": [c()], "volumes": [
        {"name": "kube-api-access-mine", "emptyDir": {}}]})
    assert not _scan("KH-POD-024", [named, account(False)])  # passed: the ServiceAccount opts out
    assert token_volume(service_account_plugin(named, account(False)))  # yet the volume is there
    # where the pod says it itself, the Pod alone decides (and the volume agrees)
    for automount in (True, False):
        said = pod({"serviceAccountName": "app", "automountServiceAccountToken": automount, "containers": [c()]})
        assert _scan("KH-POD-024", [said, account(not automount)]) is automount
        assert token_volume(service_account_plugin(said, account(not automount))) is automount
