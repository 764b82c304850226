"""Kustomize folders as inputs: built with ``kubectl kustomize``, findings traced to the base and patch lines.

The overlays are written here from the Kustomize reference
(https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/patches/); the corpus
overlays are microservices-demo's. Tests that build need kubectl and skip without it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kubeharden.cli import main
from kubeharden.exitcodes import INPUT_ERRORS, OK
from kubeharden.sources.files import ReadOptions
from kubeharden.sources.kustomize import claims, read

CORPUS = Path("/work/shared/corpus/microservices-demo/kustomize")
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None,
                                   reason="kubectl is not on PATH: Kustomize folders are built with kubectl kustomize")

BASE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.example.com/web:1.0
        securityContext:
          allowPrivilegeEscalation: false
"""
OVERLAY = """\
resources:
- ../base
namePrefix: prod-
patches:
- path: privileged.yaml
- patch: |-
    - op: add
      path: /spec/template/spec/hostNetwork
      value: true
  target:
    kind: Deployment
    name: web
"""
PATCH = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: web
        securityContext:
          privileged: true
"""


def write_overlay(root: Path) -> Path:
    (root / "base").mkdir(parents=True)
    (root / "overlay").mkdir()
    (root / "base" / "kustomization.yaml").write_text("resources:\n- deployment.yaml\n")
    (root / "base" / "deployment.yaml").write_text(BASE)
    (root / "overlay" / "kustomization.yaml").write_text(OVERLAY)
    (root / "overlay" / "privileged.yaml").write_text(PATCH)
    return root / "overlay"


def scan(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["scan", "--no-config", "-f", "json", "--fail-on", "none", *argv])
    return code, json.loads(capsys.readouterr().out)


def test_claims_a_folder_with_a_kustomization(tmp_path):
    assert not claims(str(tmp_path))
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        folder = tmp_path / name.replace(".", "_")
        folder.mkdir()
        (folder / name).write_text("resources: []\n")
        assert claims(str(folder))


@needs_kubectl
def test_patched_fields_name_the_patch_and_others_the_base(tmp_path, capsys, monkeypatch):
    overlay = write_overlay(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, report = scan(capsys, "overlay")
    assert code == OK and report["summary"]["kinds"] == {"Deployment": 1}
    found = {f["control_id"]: f for f in report["findings"]}
    privileged = found["KH-POD-004"]
    assert (privileged["file"], privileged["line"]) == ("base/deployment.yaml", 16)
    assert privileged["resource"]["name"] == "prod-web" and privileged["source"] == "kustomize"
    assert (privileged["trace"]["patch_file"], privileged["trace"]["patch_line"]) == ("overlay/privileged.yaml", 11)
    assert privileged["trace"]["input"] == "overlay"
    host = found["KH-POD-006"]  # JSON 6902 inline patch: the `path:` line inside kustomization.yaml
    assert (host["trace"]["patch_file"], host["trace"]["patch_line"]) == ("overlay/kustomization.yaml", 8)
    unpatched = found["KH-POD-001"]
    assert unpatched["file"] == "base/deployment.yaml" and unpatched["trace"]["patch_file"] is None
    # the build metadata kubeharden asked for is not left on the objects
    assert overlay.exists()


@needs_kubectl
def test_sarif_locates_a_patched_field_at_its_patch(tmp_path, capsys, monkeypatch):
    write_overlay(tmp_path)
    monkeypatch.chdir(tmp_path)
    main(["scan", "--no-config", "-f", "sarif", "--fail-on", "none", "--control", "KH-POD-004", "overlay"])
    [result] = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "overlay/privileged.yaml" and location["region"]["startLine"] == 11
    related = {r["physicalLocation"]["artifactLocation"]["uri"] for r in result["relatedLocations"]}
    assert "base/deployment.yaml" in related


@needs_kubectl
def test_build_annotations_are_removed(tmp_path):
    overlay = write_overlay(tmp_path)
    [obj] = [o for o in read(str(overlay), ReadOptions()) if hasattr(o, "raw")]
    assert "annotations" not in obj.raw["metadata"]


def test_remote_bases_are_refused_before_anything_runs(tmp_path, capsys):
    (tmp_path / "kustomization.yaml").write_text("resources:\n- deployment.yaml\n"
                                                 "- github.com/example/app/deploy?ref=v1\n")
    code, report = scan(capsys, str(tmp_path))
    assert code == INPUT_ERRORS
    [error] = [e for e in report["errors"] if e["kind"] == "kustomize"]
    assert "github.com/example/app/deploy?ref=v1" in error["message"]
    assert error["line"] == 3


def test_without_kubectl_the_message_says_what_to_install(tmp_path, capsys, monkeypatch):
    overlay = write_overlay(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    code, report = scan(capsys, str(overlay))
    assert code == INPUT_ERRORS
    [error] = [e for e in report["errors"] if e["kind"] == "kustomize"]
    assert "kubectl is not on PATH" in error["message"] and "install kubectl" in error["message"]


@needs_kubectl
def test_a_failing_build_is_an_input_error_with_kubectls_message(tmp_path, capsys):
    (tmp_path / "kustomization.yaml").write_text("resources:\n- missing.yaml\n")
    code, report = scan(capsys, str(tmp_path))
    assert code == INPUT_ERRORS
    assert "kubectl kustomize failed" in report["errors"][0]["message"]
    assert "missing.yaml" in report["errors"][0]["message"]


@needs_kubectl
@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not on this machine")
@pytest.mark.parametrize("overlay", ["", "tests/memorystore-with-all-components"])
def test_the_corpus_overlays_build_and_trace_to_their_files(capsys, overlay):
    folder = CORPUS / overlay
    code, report = scan(capsys, str(folder))
    # the overlays under tests/ are not part of the build: named as such, nothing else
    assert code == OK and report["summary"]["objects"] >= 20
    assert all("not part of its build" in e["message"] for e in report["errors"])
    for finding in report["findings"]:
        if "trace" not in finding:
            continue  # cross-object findings on a namespace the input does not define
        assert Path(finding["file"]).is_file() or finding["file"] == str(folder), finding
        if finding["trace"]["patch_file"]:
            lines = Path(finding["trace"]["patch_file"]).read_text().splitlines()
            assert 1 <= finding["trace"]["patch_line"] <= len(lines)
    files = {Path(f["file"]).name for f in report["findings"]}
    assert "frontend.yaml" in files  # the base resource file, not the built stream


@needs_kubectl
def test_rbac_and_generators_read_overlays(tmp_path, capsys):
    overlay = write_overlay(tmp_path)
    assert main(["generate", "netpol", "-n", "default", str(overlay)]) == OK
    assert "default-deny" in capsys.readouterr().out
    assert main(["netpol", "can-reach", "default/prod-web", "internet", str(overlay)]) == OK
    assert "prod-web" in capsys.readouterr().out


@needs_kubectl
def test_a_patch_that_only_merges_into_a_mapping_is_not_blamed_for_it(tmp_path, capsys, monkeypatch):
    write_overlay(tmp_path)
    monkeypatch.chdir(tmp_path)
    _, report = scan(capsys, "overlay")
    pod_level = [f for f in report["findings"] if f["path"] == "spec.template.spec"]
    assert pod_level, "the overlay has pod-level findings (no NetworkPolicy selects it)"
    assert all(f["trace"]["patch_file"] is None for f in pod_level)  # privileged.yaml merges into the pod spec


@pytest.mark.parametrize("field, line", [
    ("patches:\n- path: https://example.com/p.yaml\n", 4),
    ("patchesStrategicMerge:\n- local.yaml\n- https://example.com/psm.yaml\n", 5),
    ("patchesJson6902:\n- target: {kind: Deployment, name: web}\n  path: http://example.com/j.yaml\n", 5),
    ("openapi:\n  path: https://example.com/schema.json\n", 4),
    ("configurations:\n- https://example.com/conf.yaml\n", 4),
    ("crds:\n- https://example.com/crd.yaml\n", 4),
    ("configMapGenerator:\n- name: c\n  files:\n  - https://example.com/f.txt\n", 6),
])
def test_every_url_field_of_a_kustomization_is_refused_before_kubectl_runs(tmp_path, capsys, monkeypatch, field,
                                                                             line):
    (tmp_path / "kustomization.yaml").write_text("commonAnnotations:\n  docs: https://example.com/ok\n" + field)
    monkeypatch.setattr(shutil, "which", lambda name: pytest.fail("kubectl must not run"))
    code, report = scan(capsys, str(tmp_path))
    assert code == INPUT_ERRORS
    [error] = [e for e in report["errors"] if e["kind"] == "kustomize"]
    assert "example.com" in error["message"] and "ok" not in error["message"].split("example.com")[1][:3]
    assert "kustomization.yaml" in error["message"] and error["file"].endswith("kustomization.yaml")
    assert error["line"] == line


def test_a_nested_overlay_outside_the_build_is_named_not_skipped_silently(tmp_path, capsys):
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on PATH (it builds Kustomize folders)")
    root = tmp_path / "app"
    (root / "tests" / "variant").mkdir(parents=True)
    (root / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\ndata: {k: v}\n")
    (root / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (root / "tests" / "variant" / "kustomization.yaml").write_text("resources: [../../cm.yaml]\n")
    main(["scan", "--no-config", "-f", "json", "--fail-on", "none", str(root)])
    report = json.loads(capsys.readouterr().out)
    assert [e["file"] for e in report["errors"] if "not part of its build" in e["message"]] == \
        [str(root / "tests" / "variant")]


def test_no_render_reads_the_folders_files_as_they_are(tmp_path, capsys, monkeypatch):
    """--no-render: kubectl is never run; the base and the patch file are judged as plain manifests (the
    patch's privileged container is a finding of its own file), the kustomization files are not objects."""
    write_overlay(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))  # kubectl would not be found
    code, report = scan(capsys, "--no-render", str(tmp_path))
    assert code == OK
    assert not [e for e in report["errors"] if e["level"] == "error"]
    assert report["summary"]["objects"] == 2
    assert {Path(f["file"]).name for f in report["findings"]} == {"deployment.yaml", "privileged.yaml"}
    assert any(f["control_id"] == "KH-POD-001" and Path(f["file"]).name == "privileged.yaml"
               for f in report["findings"])
