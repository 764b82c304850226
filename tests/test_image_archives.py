"""Saved images (--image-archive): OCI layouts and docker save archives, read without an engine.

Archives are built by the tests in Python (tests/supply_builders.py, which cites the formats).
"""

from __future__ import annotations

import json
import textwrap

import pytest
from supply_builders import docker_save_files, image_config, oci_files, write_folder, write_tar

from kubeharden.cli import main
from kubeharden.model.findings import Problem
from kubeharden.model.objects import K8sObject
from kubeharden.sources import image_archive
from kubeharden.sources.files import ReadOptions

WORKLOAD = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: IMAGE
"""


def read(path) -> list[K8sObject | Problem]:
    return list(image_archive.read(image_archive.SCHEME + str(path), ReadOptions()))


def test_oci_layout_tar_gives_the_configuration(tmp_path):
    config = image_config(user="app", env=["PATH=/bin", "MODE=prod"], ports=["8080/tcp"], labels={"team": "web"})
    files, digest = oci_files(config, {"io.containerd.image.name": "registry.example.com/web:1.0",
                                       "org.opencontainers.image.ref.name": "1.0"})
    [obj] = read(write_tar(tmp_path / "web.tar", files))
    assert isinstance(obj, K8sObject) and obj.kind == "ImageConfig"
    assert obj.raw["references"] == ["registry.example.com/web:1.0"]  # the ref.name "1.0" is only a tag
    assert obj.raw["digest"] == digest and obj.raw["user"] == "app"
    assert obj.raw["env"] == [["PATH", "/bin"], ["MODE", "prod"]]
    assert obj.raw["exposed_ports"] == ["8080/tcp"] and obj.raw["labels"] == {"team": "web"}
    assert obj.origin.file == str(tmp_path / "web.tar") and obj.origin.source == "image-archive"


def test_oci_layout_folder_and_nested_index(tmp_path):
    files, digest = oci_files(image_config(user="0"), {"io.containerd.image.name": "registry.example.com/a:2"},
                              nested=True)
    [obj] = read(write_folder(tmp_path / "layout", files))
    assert obj.raw["user"] == "0" and obj.raw["digest"] == digest
    assert obj.raw["references"] == ["registry.example.com/a:2"]


def test_docker_save_archive(tmp_path):
    [obj] = read(write_tar(tmp_path / "saved.tar", docker_save_files(image_config(user="10001:10001"),
                                                                     ["registry.example.com/web:1.0"])))
    assert obj.raw["references"] == ["registry.example.com/web:1.0"] and obj.raw["user"] == "10001:10001"


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"this is not a tar archive at all" * 20, "not a readable image archive"),
])
def test_unreadable_archives(tmp_path, content, message):
    path = tmp_path / "bad.tar"
    path.write_bytes(content)
    [problem] = read(path)
    assert isinstance(problem, Problem) and message in problem.message and problem.file == str(path)


def test_archive_without_images_or_with_missing_blobs(tmp_path):
    [problem] = read(write_tar(tmp_path / "other.tar", {"hello.txt": b"hi"}))
    assert "no image found" in problem.message
    files, _ = oci_files(image_config())
    files = {k: v for k, v in files.items() if k == "index.json" or k == "oci-layout"}
    [problem] = read(write_tar(tmp_path / "partial.tar", files))
    assert isinstance(problem, Problem) and "missing or not JSON" in problem.message
    [problem] = read(tmp_path / "nowhere.tar")
    assert "no such file" in problem.message


def test_image_controls_judge_the_configuration(tmp_path, capsys):
    files, _ = oci_files(image_config(env=["API_KEY=AKIAIOSFODNN7EXAMPLE"]),
                         {"io.containerd.image.name": "registry.example.com/web:1.0"})
    archive = write_tar(tmp_path / "web.tar", files)
    manifest = tmp_path / "ns.yaml"
    manifest.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n")
    assert main(["scan", "--no-config", "-f", "json", "--control", "KH-IMG-005", "--control", "KH-IMG-009",
                 str(manifest), "--image-archive", str(archive)]) == 1
    found = {(f["control_id"], f["file"]) for f in json.loads(capsys.readouterr().out)["findings"]}
    assert found == {("KH-IMG-005", str(archive)), ("KH-IMG-009", str(archive))}


def _scan_join(tmp_path, capsys, image: str, user: str, security: str = "", status: str = "") -> list[str]:
    files, digest = oci_files(image_config(user=user), {"io.containerd.image.name": "registry.example.com/web:1.0"})
    archive = write_tar(tmp_path / "web.tar", files)
    manifest = tmp_path / "app.yaml"
    text = WORKLOAD.replace("IMAGE", image.replace("DIGEST", digest))
    if security:
        text = text.replace("      containers:", f"      securityContext: {security}\n      containers:")
    manifest.write_text(text + textwrap.dedent(status).replace("DIGEST", digest))
    main(["scan", "--no-config", "-f", "json", "--control", "KH-IMG-010", str(manifest),
          "--image-archive", str(archive)])
    return [f["message"] for f in json.loads(capsys.readouterr().out)["findings"]]


def test_workload_without_run_as_user_runs_as_the_image_user(tmp_path, capsys):
    [message] = _scan_join(tmp_path, capsys, "registry.example.com/web:1.0", user="")
    assert "runs as root because the pod sets no runAsUser" in message and "web.tar" in message
    assert _scan_join(tmp_path, capsys, "registry.example.com/web:1.0", user="10001") == []
    assert _scan_join(tmp_path, capsys, "registry.example.com/web:1.0", user="root", security="{runAsUser: 10001}") == []
    assert _scan_join(tmp_path, capsys, "registry.example.com/web:1.0", user="root",
                      security="{runAsNonRoot: true}") == []
    assert _scan_join(tmp_path, capsys, "registry.example.com/other:1.0", user="root") == []


def test_join_by_digest_of_the_reference(tmp_path, capsys):
    assert len(_scan_join(tmp_path, capsys, "mirror.example.com/web@DIGEST", user="0")) == 1


def test_join_by_the_digest_a_pod_status_reports(tmp_path, capsys):
    pod = """\
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: web-1, namespace: shop}
        spec:
          containers: [{name: web, image: "web:latest"}]
        status:
          containerStatuses:
            - name: web
              image: docker.io/library/web:latest
              imageID: docker.io/library/web@DIGEST
        """
    messages = _scan_join(tmp_path, capsys, "registry.example.com/other:9", user="root", status=pod)
    assert len(messages) == 1 and "container web runs as root" in messages[0]


def test_dockerfile_join_by_folder_and_by_configuration(tmp_path, capsys):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "Dockerfile").write_text("FROM scratch\nCOPY app /app\n")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "api.Dockerfile").write_text("FROM scratch\nUSER 10001\n")
    (tmp_path / "app.yaml").write_text(WORKLOAD.replace("IMAGE", "registry.example.com/team/web:2.0"))
    main(["scan", "--no-config", "-f", "json", "--control", "KH-IMG-010", str(tmp_path)])
    [finding] = json.loads(capsys.readouterr().out)["findings"]
    assert "no USER is set" in finding["message"] and f"{tmp_path}/web/Dockerfile:1" in finding["message"]
    config = tmp_path / "cfg.yaml"
    config.write_text(f"dockerfiles: {{'registry.example.com/team/web': {tmp_path}/build/api.Dockerfile}}\n")
    main(["scan", "--config", str(config), "-f", "json", "--control", "KH-IMG-010", str(tmp_path)])
    assert json.loads(capsys.readouterr().out)["findings"] == []


def test_a_layout_folder_never_reads_outside_itself(tmp_path):
    (tmp_path / "outside.json").write_bytes(image_config(user="0"))
    layout = tmp_path / "layout"
    layout.mkdir()
    (layout / "manifest.json").write_text(json.dumps([{"Config": "../outside.json", "RepoTags": ["x/y:1"]}]))
    [problem] = read(layout)
    assert isinstance(problem, Problem) and "missing or not JSON" in problem.message


def test_deeply_nested_archive_json_is_refused_naming_the_archive(tmp_path):
    # a docker save manifest.json nested far deeper than any manifest (and than Python's recursion limit)
    path = write_tar(tmp_path / "deep.tar", {"manifest.json": b"[" * 100000 + b"]" * 100000})
    [problem] = list(image_archive.read(str(path), ReadOptions()))
    assert isinstance(problem, Problem) and "nests deeper than" in problem.message and problem.file == str(path)


def test_a_gzip_compressed_archive_goes_to_the_image_archive_source(tmp_path):
    # `docker save IMAGE | gzip > x.tar.gz` is a docker save archive, compressed (Docker CLI reference,
    # docker image save); given with --image-archive it is not a snapshot, whatever its name ends with
    from kubeharden.sources.registry import option_input, source_for, SOURCES
    source = next(s for s in SOURCES if s.name == "image-archive")
    assert source_for(option_input(source, str(tmp_path / "web.tar.gz"))).name == "image-archive"
    vulns = next(s for s in SOURCES if s.name == "vuln-report")
    assert source_for(option_input(vulns, str(tmp_path / "trivy.json.gz"))).name == "vuln-report"
