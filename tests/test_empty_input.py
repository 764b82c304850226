"""Nothing checked is a failure: an input without a Kubernetes object exits 3 and says why and how to
render it, in scan, rbac, netpol and the generators; --allow-empty turns it into a note."""

from __future__ import annotations

import io
import json
import sys

import pytest

from kubeharden.cli import main
from kubeharden.exitcodes import INPUT_ERRORS, OK

# https://kubernetes.io/docs/concepts/configuration/configmap/
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: shop}\ndata: {mode: fast}\n"
# A chart as `helm create` lays it out: https://helm.sh/docs/topics/charts/#the-chart-file-structure
CHART_YAML = "apiVersion: v2\nname: web\nversion: 0.1.0\n"
TEMPLATE = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "web.fullname" . }}
spec:
  replicas: {{ .Values.replicaCount }}
"""
# https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/
KUSTOMIZATION = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: shop
resources:
  - https://github.com/example/app//deploy?ref=v1.0.0
"""
# https://kubernetes.io/docs/reference/access-authn-authz/rbac/#rolebinding-example
BINDING = """apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: read-pods, namespace: shop}
subjects: [{kind: ServiceAccount, name: web, namespace: shop}]
roleRef: {kind: ClusterRole, name: view, apiGroup: rbac.authorization.k8s.io}
"""


def scan_json(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["scan", "--no-config", "-f", "json", *argv])
    return code, json.loads(capsys.readouterr().out)


def nothing_checked(report: dict) -> list[dict]:
    return [p for p in report["errors"] + report["notes"] if p["kind"] == "nothing-checked"]


def test_empty_folder_is_an_input_problem(tmp_path, capsys):
    (tmp_path / "README.md").write_text("no manifests here\n")
    (tmp_path / "empty.yaml").write_text("---\n# only a comment\n")
    code, report = scan_json(capsys, str(tmp_path))
    assert code == INPUT_ERRORS
    [problem] = nothing_checked(report)
    assert problem["level"] == "error" and problem["file"] == str(tmp_path)
    assert "no .yaml, .yml or .json file with a document" in problem["message"]
    assert "--allow-empty" in problem["message"]
    assert report["summary"]["objects"] == 0 and report["summary"]["errors"] == 1


def test_empty_stdin_is_an_input_problem(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    code, report = scan_json(capsys, "-")
    assert code == INPUT_ERRORS
    assert "standard input was empty" in nothing_checked(report)[0]["message"]


def test_a_helm_chart_folder_is_rendered_not_skipped(tmp_path, capsys):
    chart = tmp_path / "web"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART_YAML)
    (chart / "values.yaml").write_text("replicaCount: 2\n")
    (chart / "templates" / "deployment.yaml").write_text(TEMPLATE.replace('include "web.fullname" .', ".Release.Name"))
    code, report = scan_json(capsys, "--fail-on", "none", str(tmp_path))
    assert code == OK and report["summary"]["kinds"] == {"Deployment": 1}
    assert nothing_checked(report) == []


def test_a_chart_that_cannot_render_is_an_input_error_not_a_hint(tmp_path, capsys):
    chart = tmp_path / "web"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART_YAML)
    (chart / "templates" / "deployment.yaml").write_text(TEMPLATE)  # includes a template it does not define
    code, report = scan_json(capsys, str(tmp_path))
    assert code == INPUT_ERRORS
    [error] = [e for e in report["errors"] if e["kind"] == "helm"]
    assert "chart web cannot be rendered" in error["message"] and "web.fullname" in error["message"]
    assert "helm template RELEASE" not in nothing_checked(report)[0]["message"]


def test_a_kustomize_folder_with_a_remote_resource_is_refused(tmp_path, capsys):
    (tmp_path / "kustomization.yaml").write_text(KUSTOMIZATION)
    code, report = scan_json(capsys, str(tmp_path))
    assert code == INPUT_ERRORS
    [error] = [e for e in report["errors"] if e["kind"] == "kustomize"]
    assert "remote Kustomize reference" in error["message"] and error["line"] == 5
    assert error["file"] == str(tmp_path / "kustomization.yaml")


def test_everything_skipped_is_an_input_problem(tmp_path, capsys):
    path = tmp_path / "values.yaml"
    path.write_text("image: {repository: nginx, tag: '1.27'}\n")
    code, report = scan_json(capsys, str(path))
    assert code == INPUT_ERRORS
    assert "skipped: 1 note(s)" in nothing_checked(report)[0]["message"]


def test_allow_empty_turns_it_into_a_note(tmp_path, capsys):
    code, report = scan_json(capsys, "--allow-empty", str(tmp_path))
    assert code == OK
    [problem] = nothing_checked(report)
    assert problem["level"] == "note" and "accepted with --allow-empty" in problem["message"]
    assert report["errors"] == []


def test_rbac_answers_need_a_binding(tmp_path, capsys):
    (tmp_path / "settings.yaml").write_text(CONFIGMAP)
    assert main(["rbac", "paths", str(tmp_path)]) == INPUT_ERRORS
    assert "no RBAC binding was read" in capsys.readouterr().err
    assert main(["rbac", "who-can", "get", "pods", "-n", "shop", str(tmp_path / "none")]) == INPUT_ERRORS
    assert main(["rbac", "paths", "--allow-empty", str(tmp_path)]) == OK
    (tmp_path / "binding.yaml").write_text(BINDING)
    assert main(["rbac", "who-can", "get", "pods", "-n", "shop", str(tmp_path)]) == OK
    assert "serviceaccount:shop:web" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["netpol", "matrix"], ["netpol", "can-reach", "shop/web", "internet"],
    ["generate", "netpol", "-n", "shop"], ["generate", "quotas", "-n", "shop"],
])
def test_analyses_and_generators_refuse_an_input_without_objects(tmp_path, capsys, argv):
    out = tmp_path / "out.yaml"
    extra = ["-o", str(out)] if argv[0] == "generate" else []
    assert main([*argv, *extra, str(tmp_path)]) == INPUT_ERRORS
    assert "no Kubernetes object was checked" in capsys.readouterr().err
    assert not out.exists()  # nothing generated from nothing
    if argv[0] == "generate":
        assert main([*argv, *extra, "--allow-empty", str(tmp_path)]) == OK and out.exists()


def test_netpol_matrix_needs_a_workload(tmp_path, capsys):
    (tmp_path / "settings.yaml").write_text(CONFIGMAP)
    assert main(["netpol", "matrix", str(tmp_path)]) == INPUT_ERRORS
    assert "no workload was read" in capsys.readouterr().err


def test_a_path_argument_without_objects_is_said_beside_others(tmp_path, capsys):
    import json as _json
    from pathlib import Path as _Path
    from kubeharden.cli import main as _main
    examples = _Path(__file__).resolve().parents[1] / "examples" / "hardened"
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    (chart / "templates" / "pod.yaml").write_text("{{- if .Values.enabled }}\napiVersion: v1\nkind: Pod\n"
                                                  "metadata:\n  name: {{ .Release.Name }}\n{{- end }}\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    code = _main(["scan", "--no-config", "-f", "json", str(examples), str(chart), str(empty)])
    errors = [e for e in _json.loads(capsys.readouterr().out)["errors"] if e["kind"] == "nothing-checked"]
    assert code == 3
    # the chart rendered nothing with its values: said as for an empty folder
    assert {(e["level"], e["file"]) for e in errors} == {("error", str(chart)), ("error", str(empty))}


def test_a_chart_inside_a_scanned_tree_is_rendered(tmp_path, capsys):
    import json as _json
    import shutil
    from pathlib import Path as _Path
    from kubeharden.cli import main as _main
    shutil.copytree(_Path(__file__).resolve().parents[1] / "examples" / "hardened", tmp_path / "app")
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    (chart / "templates" / "pod.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}\n"
                                                  "spec:\n  containers:\n  - {name: web, image: nginx:1.27}\n")
    _main(["scan", "--no-config", "-f", "json", "--fail-on", "none", str(tmp_path)])
    report = _json.loads(capsys.readouterr().out)
    assert [e for e in report["errors"] if e["kind"] == "nothing-checked"] == []
    assert report["summary"]["kinds"]["Pod"] == 1  # the chart's Pod (the hardened example has none)
    pss = [p for p in report["pss"] if p["resource"]["kind"] == "Pod"]
    assert [(p["file"], p["line"]) for p in pss] == [(str(chart / "templates" / "pod.yaml"), 1)]


def test_a_dot_folder_whose_documents_were_all_skipped_says_so_beside_others(tmp_path, capsys, monkeypatch):
    from pathlib import Path

    examples = Path(__file__).resolve().parents[1] / "examples" / "hardened"
    (tmp_path / "values.yaml").write_text("image: {repository: nginx, tag: '1.27'}\n")
    monkeypatch.chdir(tmp_path)  # "." is named by its files (values.yaml, without ./): they are its problems
    code, report = scan_json(capsys, ".", str(examples))
    [problem] = [p for p in nothing_checked(report) if p["file"] == "."]
    assert code == INPUT_ERRORS and "skipped: 1 note(s)" in problem["message"]
