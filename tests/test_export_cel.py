"""`kubeharden export vap|kyverno`: the CEL of every exported control, evaluated with cel-expr-python
(the official cel-cpp), agrees with the scanner object by object."""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path

import pytest

cel_mod = pytest.importorskip("cel_expr_python.cel", reason="cel-expr-python is not installed (test extra)")
from cel_expr_python.ext import ext_optional, ext_strings  # noqa: E402

from kubeharden.catalogue.loader import load_catalogue  # noqa: E402
from kubeharden.config import parse_config  # noqa: E402
from kubeharden.engine.evaluator import Evaluator  # noqa: E402
from kubeharden.enforce.export import ADMISSION_EXACT, export, kinds_of  # noqa: E402
from kubeharden.model.objects import K8sObject, Provenance, make_ref  # noqa: E402
from kubeharden.sources.files import parse_text  # noqa: E402

cel = cel_mod
ROOT = Path(__file__).resolve().parents[1]
CONFIG = parse_config({"profile": "strict", "registries": ["registry.example.com"], "require_digest": True})
CONTROLS = load_catalogue()
VAP = export(CONTROLS, "vap", config=CONFIG)
EXPORTED = [c for c in CONTROLS if c.id in VAP.exported]
ENV = cel.NewEnv(variables={"object": cel.Type.DYN, "variables": cel.Type.Map(cel.Type.STRING, cel.Type.DYN),
                            "request": cel.Type.Map(cel.Type.STRING, cel.Type.DYN)},
                 extensions=[ext_strings.ExtStrings(), ext_optional.ExtOptional()])


def _without_nulls(value):
    """What the API server hands admission: typed objects, where a null field is simply absent."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _objects(text: str) -> list[dict]:
    return [_without_nulls(json.loads(json.dumps(o.raw))) for o in parse_text(textwrap.dedent(text), "x.yaml")
            if hasattr(o, "raw")]


def limit_ranger(objs: list[dict]) -> list[dict]:
    """``objs`` with each Pod as the LimitRanger admission plugin hands it to validating admission: every
    container and init container that leaves a request or limit unset gets the ``defaultRequest`` or ``default``
    of the ``type: Container`` items of the LimitRanges among ``objs`` in its namespace, the items defaulted as
    the API server stores them (default <- max; defaultRequest <- default <- min). Written from "Limit Ranges"
    (https://kubernetes.io/docs/concepts/policy/limit-range/), not from kubeharden's model."""
    items = [(o.get("metadata", {}).get("namespace", "default"), i) for o in objs if o.get("kind") == "LimitRange"
             for i in o.get("spec", {}).get("limits", []) if i.get("type") == "Container"]
    out = []
    for o in objs:
        if o.get("kind") == "Pod":
            o = copy.deepcopy(o)
            ns = o.get("metadata", {}).get("namespace", "default")
            for c in o["spec"].get("containers", []) + o["spec"].get("initContainers", []):
                for where, item in items:
                    if where != ns:
                        continue
                    default = {**item.get("max", {}), **item.get("default", {})}
                    request = {**item.get("min", {}), **default, **item.get("defaultRequest", {})}
                    res = c.setdefault("resources", {})
                    res["limits"] = {**default, **res.get("limits", {})}
                    res["requests"] = {**request, **res.get("requests", {})}
                    res = {k: v for k, v in res.items() if v}
                    c["resources"] = res
        out.append(o)
    return out


def _eval(expression: str, data: dict):
    value = ENV.compile(expression).eval(data=data)
    assert value.type() != cel.Type.ERROR, f"CEL error evaluating {expression[:120]}…"
    return value.plain_value()


def request_of(obj: dict) -> dict:
    """The admission request's attributes a policy reads: the namespace (a namespace-less object of a
    namespaced kind is created in ``default``, as the scanner places it; cluster-scoped: empty)."""
    return {"namespace": make_ref(obj, "default").namespace or ""}


def admitted(policy: dict, obj: dict) -> bool:
    """A ValidatingAdmissionPolicy's verdict: variables in order, then every validation must be true."""
    variables: dict = {}
    data = {"object": obj, "variables": variables, "request": request_of(obj)}
    for var in policy["spec"].get("variables", []):
        variables[var["name"]] = _eval(var["expression"], data)
    return all(_eval(v["expression"], data) is True for v in policy["spec"]["validations"])


def scanner_fails(control_id: str, obj: dict, config=CONFIG) -> bool:
    # an inventory control exported as exact (ADMISSION_EXACT) is judged as a scan of the lone object
    evaluator = Evaluator(config, only=[control_id],
                          input_kind="manifest" if control_id in ADMISSION_EXACT else "admission")
    item = K8sObject(obj, make_ref(obj, "default"), Provenance(None, None, "admission"))
    return any(f.status == "fail" for f in evaluator.run([item]))


def policy_of(control_id: str) -> dict:
    return next(d for d in VAP.documents if d["kind"] == "ValidatingAdmissionPolicy"
                and d["metadata"]["annotations"]["kubeharden.io/control"] == control_id)


def _corpus() -> list[dict]:
    texts = [t for c in CONTROLS for t in (*c.fail_examples, c.example_pass)]
    texts += [p.read_text() for p in sorted((ROOT / "examples").glob("*/*.yaml"))]
    return [o for t in texts for o in _objects(t)]


CORPUS = _corpus()


def test_every_control_is_exported_or_listed_with_a_reason():
    left = dict(VAP.left_out)
    assert set(left) | set(VAP.exported) == {c.id for c in CONTROLS} and not set(left) & set(VAP.exported)
    assert all(why for why in left.values())


@pytest.mark.parametrize("control", EXPORTED, ids=lambda c: c.id)
def test_cel_and_scanner_agree_on_the_examples(control):
    policy = policy_of(control.id)
    for n, text in enumerate(control.fail_examples, 1):
        objs = [o for o in limit_ranger(_objects(text)) if o.get("kind") in kinds_of(control)]
        assert any(not admitted(policy, o) for o in objs), f"fail example {n} admitted"
    for o in limit_ranger(_objects(control.example_pass)):
        if o.get("kind") in kinds_of(control):
            assert admitted(policy, o), "pass example refused"


@pytest.mark.parametrize("control", EXPORTED, ids=lambda c: c.id)
def test_cel_and_scanner_agree_case_by_case_on_every_example_object(control):
    policy = policy_of(control.id)
    disagree = []
    for obj in CORPUS:
        if obj.get("kind") not in kinds_of(control):
            continue
        if scanner_fails(control.id, obj) == admitted(policy, obj):
            disagree.append(f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}")
    assert not disagree, f"{control.id}: scanner and CEL disagree on {disagree}"


# -- schemas and the command ----------------------------------------------------------------------

SCHEMAS = ROOT / "tests" / "fixtures" / "schemas"


def _validator(name: str):
    import jsonschema

    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("target", ["vap", "kyverno"])
@pytest.mark.parametrize("enforce", [True, False])
def test_exported_documents_match_their_api_schemas(target, enforce):
    validators = {"ValidatingAdmissionPolicy": _validator("validatingadmissionpolicy.json"),
                  "ValidatingAdmissionPolicyBinding": _validator("validatingadmissionpolicybinding.json"),
                  "ClusterPolicy": _validator("kyverno-clusterpolicy.json")}
    result = export(CONTROLS, target, enforce=enforce, exclude=("kube-system", "monitoring"), config=CONFIG)
    assert len(result.exported) == len(EXPORTED)
    assert result.documents
    for doc in result.documents:
        errors = sorted(validators[doc["kind"]].iter_errors(doc), key=str)
        assert not errors, f"{doc['metadata']['name']}: {errors[0].message} at {list(errors[0].absolute_path)}"
        for expression in _expressions(doc):
            ENV.compile(expression)  # type-checks in cel-cpp


def _expressions(doc: dict) -> list[str]:
    spec = doc["spec"]
    if doc["kind"] == "ValidatingAdmissionPolicy":
        items = spec.get("variables", []) + spec["validations"]
    elif doc["kind"] == "ClusterPolicy":
        cel_spec = spec["rules"][0]["validate"]["cel"]
        items = cel_spec.get("variables", []) + cel_spec["expressions"]
    else:
        return []
    return [v["expression"] for v in items] + [v["messageExpression"] for v in items if "messageExpression" in v]


def test_schema_refuses_what_the_api_server_would():
    vap = _validator("validatingadmissionpolicybinding.json")
    bad = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
           "metadata": {"name": "x"}, "spec": {"policyName": "x", "validationActions": ["Deny", "Warn"]}}
    assert list(vap.iter_errors(bad))  # Deny and Warn together are refused by the API server


def test_kyverno_and_vap_carry_the_same_cel():
    kyv = export(EXPORTED, "kyverno", config=CONFIG)
    for doc in kyv.documents:
        control = doc["metadata"]["annotations"]["kubeharden.io/control"]
        cel_spec = doc["spec"]["rules"][0]["validate"]["cel"]
        assert cel_spec["expressions"][0]["expression"] == policy_of(control)["spec"]["validations"][0]["expression"]


def test_export_command_writes_policies_and_lists_what_is_left_out(tmp_path, capsys):
    from kubeharden.cli import main

    out = tmp_path / "policies.yaml"
    assert main(["export", "vap", "--no-config", "--profile", "strict", "--audit", "-o", str(out)]) == 0
    import yaml
    docs = list(yaml.safe_load_all(out.read_text()))
    bindings = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert bindings and all(b["spec"]["validationActions"] == ["Warn", "Audit"] for b in bindings)
    err = capsys.readouterr().err
    assert "not exported: KH-RBAC-001: it judges RBAC as a graph" in err
    assert "not exported: KH-PSS-001" not in err and "not exported: KH-POD-007" not in err


def test_kyverno_matches_the_ephemeral_containers_subresource_as_vap_does():
    # docs/export.md promises pods/ephemeralcontainers; Kyverno spells a subresource Kind/subresource
    for doc in export(EXPORTED, "kyverno").documents:
        control = next(c for c in CONTROLS if c.id == doc["metadata"]["annotations"]["kubeharden.io/control"])
        kinds = doc["spec"]["rules"][0]["match"]["any"][0]["resources"]["kinds"]
        assert ("Pod/ephemeralcontainers" in kinds) == (control.scope in ("pod", "container"))
        rules = policy_of(control.id)["spec"]["matchConstraints"]["resourceRules"]
        assert any("pods/ephemeralcontainers" in r["resources"] for r in rules) == (control.scope in ("pod",
                                                                                                    "container"))
