"""Windows pods: the controls that need a Linux-only field skip them, in the scanner and in the exported CEL.

Kubernetes API reference, PodSpec.os: "If the OS field is set to windows, following fields must be unset"
(securityContext.runAsGroup, runAsUser, fsGroup, supplementalGroups, seccompProfile, capabilities,
readOnlyRootFilesystem, privileged, allowPrivilegeEscalation, procMount …), and the API server refuses them.
The fact lives once in ``model/pods.py``; these tests hold every control and fix to it.
"""

from __future__ import annotations

import copy
import textwrap

import pytest
from test_export_cel import CONFIG, _eval, _without_nulls, admitted, request_of
from test_export_cel_cases import c, pod, policy, sc
from test_pod_kinds import as_kind, split

import yaml

from kubeharden.catalogue.loader import load_catalogue
from kubeharden.cli import main
from kubeharden.config import Config
from kubeharden.engine.evaluator import Evaluator
from kubeharden.enforce.export import export
from kubeharden.model.pods import POD_TEMPLATE_PATHS, windows_refuses
from kubeharden.sources.files import parse_text

from conftest import scan

WINDOWS = {"os": {"name": "windows"}}
#: A Windows pod as the API server admits it: no Linux-only field, its user named by windowsOptions.
WINDOWS_POD = pod({**WINDOWS, "securityContext": {"runAsNonRoot": True,
                                                  "windowsOptions": {"runAsUserName": "ContainerUser"}},
                   "containers": [c()], "initContainers": [c(name="init")]})


def _scan(obj: dict, only: list[str] | None = None, config: Config | None = None):
    evaluator = Evaluator(config or Config(), only=only)
    findings = list(evaluator.run(parse_text(yaml.safe_dump(obj), "pod.yaml")))
    return [f for f in findings if f.status == "fail"], evaluator.result


# -- the fact ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("spec_path", "path", "value", "refused"), [
    ("spec", "spec.securityContext.runAsGroup", 10001, True),
    ("spec", "spec.containers[0].securityContext.runAsGroup", 10001, True),
    ("spec.template.spec", "spec.template.spec.initContainers[2].securityContext.capabilities.drop", ["ALL"], True),
    ("spec", "spec.ephemeralContainers[0].securityContext.privileged", False, True),
    ("spec", "spec.containers[0].securityContext.readOnlyRootFilesystem", True, True),
    ("spec", "spec.securityContext.seccompProfile", {"type": "RuntimeDefault"}, True),
    ("spec", "spec.shareProcessNamespace", False, True),  # an optional boolean: any value is set
    ("spec", "spec.hostPID", False, False),  # a plain boolean: false is its unset value
    ("spec", "spec.hostPID", True, True),
    ("spec", "spec.containers[0].securityContext.runAsNonRoot", True, False),  # Windows honours it
    ("spec", "spec.containers[0].securityContext.windowsOptions.hostProcess", False, False),
    ("spec", "spec.automountServiceAccountToken", False, False),
    ("spec", "spec.containers[0].resources.limits.cpu", "1", False),  # container resources, not spec.resources
    ("spec.template.spec", "spec.securityContext.runAsGroup", 1, False),  # outside this pod spec
])
def test_windows_refuses_exactly_the_fields_podspec_os_lists(spec_path, path, value, refused):
    assert windows_refuses(spec_path, path, value) is refused


# -- KH-POD-002 in the scanner ------------------------------------------------------------------------

def test_kh_pod_002_is_not_applicable_to_a_windows_pod_and_fails_the_same_pod_on_linux():
    fails, result = _scan(WINDOWS_POD, only=["KH-POD-002"])
    assert fails == [] and result.control_status()["KH-POD-002"] == "not-applicable"
    linux = copy.deepcopy(WINDOWS_POD)
    linux["spec"]["os"] = {"name": "linux"}
    del linux["spec"]["securityContext"]["windowsOptions"]
    fails, result = _scan(linux, only=["KH-POD-002"])
    assert sorted(f.container for f in fails) == ["app", "init"]
    assert result.control_status()["KH-POD-002"] == "fail"


def test_a_windows_pod_beside_a_linux_pod_is_not_counted_as_a_pass():
    text = yaml.safe_dump_all([WINDOWS_POD, pod({"securityContext": {"runAsGroup": 10001}, "containers": [c()]},
                                                name="linux")])
    findings, result = scan(text, only=["KH-POD-002"])
    assert [f for f in findings if f.status == "fail"] == []
    assert result.tally.evaluated["KH-POD-002"] == 1  # the Linux pod only


# -- every control on a Windows pod ---------------------------------------------------------------------

POD_CONTROLS = [ctl.id for ctl in load_catalogue() if ctl.scope in ("pod", "container")]


@pytest.mark.parametrize("kind", list(POD_TEMPLATE_PATHS))
def test_no_control_asks_a_windows_pod_for_a_field_it_must_leave_unset(kind):
    obj = yaml.safe_load(as_kind(kind, *split(WINDOWS_POD)))
    fails, _ = _scan(obj, only=POD_CONTROLS, config=CONFIG)
    spec = ".".join(POD_TEMPLATE_PATHS[kind] + ("spec",))
    assert fails, "the pod still fails controls that apply to it (image digest, runtime class …)"
    asked = [(f.control.id, f.path) for f in fails if f.path and windows_refuses(spec, f.path, None)]
    assert asked == []
    offered = [(f.control.id, f.fix.path) for f in fails if f.fix and f.fix.op != "remove"
               and windows_refuses(spec, f.fix.path, f.fix.value)]
    assert offered == []


def test_a_windows_pod_holding_a_forbidden_value_is_still_reported_but_offered_no_fix_that_sets_one():
    # privileged: true and procMount: Unmasked are still reported (the value is there; the API server refuses it
    # and the remedy is to remove it), but their fixes (privileged: false, procMount: Default) set a field a
    # Windows pod must leave unset, so none is offered; the Linux twin gets them
    bad = {**WINDOWS, "containers": [sc(privileged=True, procMount="Unmasked")]}
    fails, _ = _scan(pod(bad), only=["KH-POD-004", "KH-POD-021"])
    assert sorted(f.control.id for f in fails) == ["KH-POD-004", "KH-POD-021"]
    assert [f.fix for f in fails] == [None, None]
    linux, _ = _scan(pod({k: v for k, v in bad.items() if k != "os"}), only=["KH-POD-004", "KH-POD-021"])
    assert sorted((f.fix.path, f.fix.value) for f in linux) == [
        ("spec.containers[0].securityContext.privileged", False),
        ("spec.containers[0].securityContext.procMount", "Default")]


def test_fix_unsafe_writes_no_linux_only_field_into_a_windows_pod(tmp_path):
    path = tmp_path / "win.yaml"
    path.write_text(textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: win, namespace: shop}
        spec:
          selector: {matchLabels: {app: win}}
          template:
            metadata: {labels: {app: win}}
            spec:
              os: {name: windows}
              containers:
                - name: web
                  image: registry.example.com/web:1.0
                  securityContext: {privileged: true}
        """), encoding="utf-8")
    main(["fix", "--no-config", "--unsafe", "--profile", "strict", str(path)])
    after = yaml.safe_load(path.read_text(encoding="utf-8"))["spec"]["template"]["spec"]
    written = {k for k in after.get("securityContext", {}) if windows_refuses("spec", f"spec.securityContext.{k}")}
    own = after["containers"][0]["securityContext"]
    linux_only = {k for k in own if windows_refuses("spec", f"spec.containers[0].securityContext.{k}")}
    assert written == set() and linux_only == {"privileged"} and own["privileged"] is True
    assert own.get("runAsNonRoot") is True  # KH-POD-001's fix: a field Windows honours


# -- the exported CEL ----------------------------------------------------------------------------------

def _refused(control_id: str, obj: dict) -> bool:
    return not admitted(policy(control_id), _without_nulls(copy.deepcopy(obj)))


@pytest.mark.parametrize("kind", list(POD_TEMPLATE_PATHS))
def test_the_exported_kh_pod_002_admits_a_windows_pod_and_refuses_its_linux_twin(kind):
    linux = copy.deepcopy(WINDOWS_POD)
    linux["spec"]["os"] = {"name": "linux"}
    assert not _refused("KH-POD-002", yaml.safe_load(as_kind(kind, *split(WINDOWS_POD))))
    assert _refused("KH-POD-002", yaml.safe_load(as_kind(kind, *split(linux))))


def test_kyverno_carries_the_windows_exemption_of_kh_pod_002():
    kyverno = export([ctl for ctl in load_catalogue() if ctl.id == "KH-POD-002"], "kyverno", config=CONFIG)
    rule = kyverno.documents[0]["spec"]["rules"][0]["validate"]["cel"]
    obj = _without_nulls(copy.deepcopy(WINDOWS_POD))
    variables: dict = {}
    data = {"object": obj, "variables": variables, "request": request_of(obj)}
    for var in rule["variables"]:
        variables[var["name"]] = _eval(var["expression"], data)
    assert _eval(rule["expressions"][0]["expression"], data) is True
    obj["spec"]["os"]["name"] = "linux"
    variables.clear()
    for var in rule["variables"]:
        variables[var["name"]] = _eval(var["expression"], data)
    assert _eval(rule["expressions"][0]["expression"], data) is False


def test_every_exported_pod_control_agrees_with_the_scanner_on_a_windows_pod():
    objs = [WINDOWS_POD, pod({**WINDOWS, "containers": [c()]}),
            pod({**WINDOWS, "securityContext": {"windowsOptions": {"hostProcess": True}}, "hostNetwork": True,
                 "containers": [c()]})]
    vap = export(load_catalogue(), "vap", config=CONFIG)
    ids = {d["metadata"]["annotations"]["kubeharden.io/control"] for d in vap.documents
           if d["kind"] == "ValidatingAdmissionPolicy"} & set(POD_CONTROLS)
    assert "KH-POD-002" in ids
    for obj in objs:
        fails, _ = _scan(obj, only=sorted(ids), config=CONFIG)
        scanned = {f.control.id for f in fails}
        refused = {cid for cid in ids if _refused(cid, obj)}
        assert scanned == refused, obj
        assert "KH-POD-002" not in refused


def test_kh_pod_001_asks_a_windows_pod_for_run_as_non_root_never_for_run_as_user():
    fails, _ = _scan(pod({**WINDOWS, "containers": [c()]}), only=["KH-POD-001"])
    assert [(f.fix.path, f.fix.value) for f in fails] == [("spec.containers[0].securityContext.runAsNonRoot", True)]
    assert "runAsUser" not in fails[0].message and "cannot set runAsUser" in fails[0].remediation
    linux, _ = _scan(pod({"containers": [c()]}), only=["KH-POD-001"])
    assert "non-zero runAsUser" in linux[0].message and "cannot set runAsUser" not in linux[0].remediation


@pytest.mark.parametrize(("where", "spelling"), [("container", "ContainerAdministrator"),
                                                 ("pod", "containeradministrator")])
def test_kh_pod_001_names_a_windows_administrator_and_offers_no_fix_that_would_stop_it_starting(where, spelling):
    """runAsUserName ContainerAdministrator (any case: Windows user names are case-insensitive) is the container's
    administrator; runAsNonRoot: true beside it makes the kubelet refuse to start the container, so no fix is
    offered (not even with --unsafe): the user must change. The exported policy refuses it too."""
    options = {"windowsOptions": {"runAsUserName": spelling}}
    spec = ({**WINDOWS, "containers": [c(securityContext=options)]} if where == "container"
            else {**WINDOWS, "securityContext": options, "containers": [c()]})
    obj = pod(spec)
    fails, _ = _scan(obj, only=["KH-POD-001"])
    base = "spec.containers[0]" if where == "container" else "spec"
    assert [(f.path, f.fix) for f in fails] == [(f"{base}.securityContext.windowsOptions.runAsUserName", None)]
    assert spelling in fails[0].message and "non-administrator" in fails[0].remediation
    assert _refused("KH-POD-001", obj)
    named, _ = _scan(pod({**WINDOWS, "securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}},
                          "containers": [c()]}), only=["KH-POD-001"])
    assert [f.fix.path for f in named] == ["spec.containers[0].securityContext.runAsNonRoot"]  # still asked for it
    assert "runAsUserName ContainerUser is written" in named[0].message


@pytest.mark.parametrize("spec", [
    # runAsNonRoot: false written beside the administrator: the fix would still stop the container starting
    {**WINDOWS, "securityContext": {"runAsNonRoot": False, "windowsOptions": {"runAsUserName": "containeradministrator"}},
     "containers": [c()]},
    # Windows chosen by a node selector only (no spec.os): runAsUserName is a Windows field all the same
    {"nodeSelector": {"kubernetes.io/os": "windows"},
     "containers": [c(securityContext={"windowsOptions": {"runAsUserName": "ContainerAdministrator"}})]},
])
def test_kh_pod_001_names_the_administrator_before_anything_else_and_offers_no_fix(spec):
    fails, _ = _scan(pod(spec), only=["KH-POD-001"])
    assert [f.fix for f in fails] == [None] and "the container's administrator" in fails[0].message


def test_a_windows_pod_setting_a_field_podspec_os_says_must_be_unset_is_an_invalid_object():
    """The API server refuses it (Kubernetes API reference, PodSpec.os), so the scan says so at the field's line
    and the pod passes nothing; a plain boolean at its unset value (hostPID: false) and null are no such field."""
    bad = pod({**WINDOWS, "hostPID": False, "hostIPC": True,
               "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": None},
               "containers": [c(securityContext={"privileged": False, "runAsNonRoot": True})]})
    _, result = _scan(bad, only=["KH-POD-004"])
    refused = sorted(p.message.split(" ")[0] for p in result.problems if p.kind == "invalid-object")
    assert refused == ["spec.containers[0].securityContext.privileged", "spec.hostIPC",
                       "spec.securityContext.runAsUser"]
    assert all(p.level == "error" and p.line for p in result.problems if p.kind == "invalid-object")
    assert result.control_status()["KH-POD-004"] != "pass"  # an invalid pod never counts as passing
    _, clean = _scan(WINDOWS_POD, only=["KH-POD-004"])
    assert not [p for p in clean.problems if p.kind == "invalid-object"]
    linux = copy.deepcopy(bad)
    linux["spec"]["os"] = {"name": "linux"}
    _, result = _scan(linux, only=["KH-POD-004"])
    assert not [p for p in result.problems if p.kind == "invalid-object"]


def test_runasusername_on_a_linux_pod_is_ignored_by_kh_pod_001_and_invalid_when_spec_os_says_linux():
    """The kubelet ignores windowsOptions on Linux, so a Linux pod is judged as one (and offered the Linux fix);
    with spec.os.name: linux the API server refuses windowsOptions (PodSpec.os)."""
    options = {"windowsOptions": {"runAsUserName": "ContainerAdministrator"}}
    for spec in ({"os": {"name": "linux"}, "securityContext": options, "containers": [c()]},
                 {"securityContext": options, "containers": [c()]}):
        fails, result = _scan(pod(spec), only=["KH-POD-001"])
        assert [f.fix.path for f in fails] == ["spec.containers[0].securityContext.runAsNonRoot"]
        assert "non-zero runAsUser" in fails[0].message
        invalid = [p.message for p in result.problems if p.kind == "invalid-object"]
        assert invalid == (["spec.securityContext.windowsOptions must be unset on a Linux pod (spec.os.name: linux; "
                            "Kubernetes API reference, PodSpec.os), so the API server refuses the pod"]
                           if "os" in spec else [])


@pytest.mark.parametrize(("name", "judged"), [("Windows", "windows"), ("darwin", "linux"), (None, "linux")])
def test_an_os_name_the_api_server_does_not_accept_is_an_invalid_object(name, judged):
    _, result = _scan(pod({"os": {"name": name} if name else {}, "containers": [c()]}), only=["KH-POD-004"])
    invalid = [p.message for p in result.problems if p.kind == "invalid-object"]
    assert len(invalid) == 1 and "accepts only linux or windows" in invalid[0] and f"judged as {judged}" in invalid[0]
