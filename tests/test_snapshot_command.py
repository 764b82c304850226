"""``kubeharden snapshot -o FILE``: any input saved as a kubeharden.io/v1 Snapshot, read back by every command.

Objects are written from the Kubernetes documentation: a Secret as in
https://kubernetes.io/docs/concepts/configuration/secret/ (``data`` base64, ``stringData`` plain), a
privileged Pod (Pod Security Standards, "Privileged Containers") and a ClusterRoleBinding to
cluster-admin (https://kubernetes.io/docs/reference/access-authn-authz/rbac/).
"""

from __future__ import annotations

import gzip
import json
import os
import stat
from pathlib import Path

import pytest

from kubeharden.exitcodes import INPUT_ERRORS, OK, USAGE
from kubeharden.model.findings import Problem
from kubeharden.model.objects import K8sObject
from kubeharden.sources import registry
from kubeharden.sources.files import ReadOptions
from kubeharden.sources.snapshot_writer import LAST_APPLIED, header, write
from tests.test_snapshot import run, scan_json

SECRET = """apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"apiVersion":"v1","kind":"Secret","stringData":{"password":"hunter2"}}'
    team: payments
type: Opaque
data:
  username: YWRtaW4=
stringData:
  password: hunter2
"""
POD = """apiVersion: v1
kind: Pod
metadata:
  name: debug
spec:
  containers:
    - name: shell
      image: busybox:1.36
      securityContext:
        privileged: true
"""
BINDING = """apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: api-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
  - {kind: ServiceAccount, name: api, namespace: shop}
"""


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    folder = tmp_path / "k8s"
    folder.mkdir()
    (folder / "secret.yaml").write_text(SECRET)
    (folder / "pod.yaml").write_text(POD)
    (folder / "binding.yaml").write_text(BINDING)
    return folder


def envelope(path: Path) -> dict:
    return json.loads(gzip.decompress(path.read_bytes()))


def read(path: Path, **options) -> tuple[list[K8sObject], list[Problem]]:
    items = list(registry.read_inputs([str(path)], ReadOptions(**options)))
    return [i for i in items if isinstance(i, K8sObject)], [i for i in items if isinstance(i, Problem)]


def test_a_snapshot_scans_as_its_manifests_did(capsys, manifests: Path, tmp_path: Path):
    out = tmp_path / "before.json.gz"
    code, _, err = run(capsys, "snapshot", str(manifests), "-o", str(out))
    assert code == OK, err
    _, direct = scan_json(capsys, str(manifests))
    _, saved = scan_json(capsys, str(out))
    assert sorted(f["fingerprint"] for f in saved["findings"]) == sorted(f["fingerprint"] for f in direct["findings"])
    assert saved["findings"] and all(f["file"] == str(out) and f["source"] == "snapshot" for f in saved["findings"])
    # each finding's line is its object's line in the decompressed text
    lines = gzip.decompress(out.read_bytes()).decode().splitlines()
    for f in saved["findings"]:
        obj = json.loads(lines[f["line"] - 1].rstrip(","))
        if obj["kind"] == f["resource"]["kind"]:  # (a missing ServiceAccount is reported at its Pod)
            assert obj["metadata"]["name"] == f["resource"]["name"]
    # the header describes the input: it is not counted as an object (issue #11)
    assert "Snapshot" not in saved["summary"]["kinds"]
    assert saved["summary"]["objects"] == direct["summary"]["objects"]


def test_the_file_is_one_json_document_with_the_envelope(capsys, manifests: Path, tmp_path: Path):
    out = tmp_path / "s.json.gz"
    assert run(capsys, "snapshot", str(manifests), "-o", str(out), "--name", "prod-eu-1")[0] == OK
    doc = envelope(out)
    assert doc["apiVersion"] == "kubeharden.io/v1" and doc["kind"] == "Snapshot"
    assert doc["metadata"]["name"] == "prod-eu-1"
    assert doc["metadata"]["creationTimestamp"].endswith("Z")
    assert doc["cluster"] == {"context": None, "version": None, "secretValues": "removed"}
    assert sorted(o["kind"] for o in doc["items"]) == ["ClusterRoleBinding", "Pod", "Secret"]
    # a namespace-less Pod is saved in the namespace it was placed in (default, or -n)
    assert next(o for o in doc["items"] if o["kind"] == "Pod")["metadata"]["namespace"] == "default"
    assert stat.S_IMODE(os.stat(out).st_mode) & 0o077 == 0, "a new snapshot is readable by its owner only"


def test_namespace_option_places_namespace_less_objects(capsys, manifests: Path, tmp_path: Path):
    out = tmp_path / "s.json.gz"
    assert run(capsys, "snapshot", str(manifests), "-n", "shop", "-o", str(out))[0] == OK
    assert next(o for o in envelope(out)["items"] if o["kind"] == "Pod")["metadata"]["namespace"] == "shop"


def test_secret_values_are_removed_by_default(capsys, manifests: Path, tmp_path: Path):
    out = tmp_path / "s.json.gz"
    assert run(capsys, "snapshot", str(manifests), "-o", str(out))[0] == OK
    text = gzip.decompress(out.read_bytes()).decode()
    assert "hunter2" not in text and "YWRtaW4=" not in text
    secret = next(o for o in envelope(out)["items"] if o["kind"] == "Secret")
    assert secret["data"] == {"username": ""} and secret["stringData"] == {"password": ""}
    assert secret["metadata"]["annotations"] == {"team": "payments"}
    assert secret["type"] == "Opaque"


def test_secret_values_are_kept_when_asked(capsys, manifests: Path, tmp_path: Path):
    out = tmp_path / "s.json.gz"
    assert run(capsys, "snapshot", str(manifests), "-o", str(out), "--include-secret-values")[0] == OK
    doc = envelope(out)
    secret = next(o for o in doc["items"] if o["kind"] == "Secret")
    assert secret["data"] == {"username": "YWRtaW4="} and secret["stringData"] == {"password": "hunter2"}
    assert LAST_APPLIED in secret["metadata"]["annotations"]
    assert doc["cluster"]["secretValues"] == "included"


def test_a_name_without_gz_is_refused(capsys, manifests: Path, tmp_path: Path):
    out = tmp_path / "s.json"
    code, _, err = run(capsys, "snapshot", str(manifests), "-o", str(out))
    assert code == USAGE and ".gz" in err and not out.exists()


def test_nothing_to_save_writes_nothing_and_keeps_the_old_file(capsys, tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "s.json.gz"
    out.write_bytes(b"previous")
    code, _, err = run(capsys, "snapshot", str(empty), "-o", str(out))
    assert code == INPUT_ERRORS and "no Kubernetes object" in err
    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".s.json.gz")] == []


def test_unreadable_input_is_said_and_the_rest_saved(capsys, manifests: Path, tmp_path: Path):
    (manifests / "broken.yaml").write_text("kind: Pod\nmetadata: [unclosed\n")
    out = tmp_path / "s.json.gz"
    code, _, err = run(capsys, "snapshot", str(manifests), "-o", str(out))
    assert code == INPUT_ERRORS and "broken.yaml" in err
    assert len(envelope(out)["items"]) == 3


def _written(tmp_path: Path, objects: list[dict], version: dict | None = None) -> Path:
    path = tmp_path / "w.json.gz"
    with open(path, "wb") as fh:
        write(fh, header("prod", context="prod-ctx", version=version), objects)
    return path


def test_the_cluster_section_reaches_the_header_object_at_its_line(tmp_path: Path):
    version = {"major": "1", "minor": "29", "gitVersion": "v1.29.3", "platform": "linux/amd64"}
    path = _written(tmp_path, [json.loads(json.dumps({"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": "shop"}}))], version)
    objects, problems = read(path)
    assert problems == []
    head = objects[-1]
    assert head.kind == "Snapshot" and head.raw["cluster"]["version"]["gitVersion"] == "v1.29.3"
    assert head.raw["cluster"]["context"] == "prod-ctx"
    assert head.origin.line == 3  # the closing line, where the cluster section is written
    assert [o.origin.line for o in objects[:-1]] == [2]


def test_saving_a_snapshot_again_keeps_its_cluster_version(capsys, tmp_path: Path):
    version = {"gitVersion": "v1.29.3", "major": "1", "minor": "29"}
    first = _written(tmp_path, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}], version)
    again = tmp_path / "again.json.gz"
    assert run(capsys, "snapshot", str(first), "-o", str(again))[0] == OK
    doc = envelope(again)
    assert doc["cluster"]["version"]["gitVersion"] == "v1.29.3" and doc["cluster"]["context"] == "prod-ctx"
    assert [o["kind"] for o in doc["items"]] == ["Namespace"]


def test_the_api_server_version_of_a_snapshot_is_judged(capsys, tmp_path: Path):
    path = _written(tmp_path, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}],
                    {"gitVersion": "v1.29.3", "major": "1", "minor": "29"})
    _, report = scan_json(capsys, str(path), "--control", "KH-UPG-001")
    [finding] = report["findings"]
    assert "CVE-2024-3177" in finding["message"] and "v1.29.4" in finding["message"]
    assert finding["resource"]["kind"] == "Snapshot" and finding["line"] == 3
    assert finding["path"] == "cluster.version.gitVersion"


def test_a_cut_off_snapshot_reports_it_and_keeps_what_was_read(tmp_path: Path):
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns{i}"}} for i in range(3)]
    whole = gzip.decompress(_written(tmp_path, objects).read_bytes())
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(gzip.compress(whole[: whole.index(b'{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ns2"')]))
    found, problems = read(cut)
    assert [o.name for o in found] == ["ns0", "ns1"]
    assert any("cut off" in p.message for p in problems)


def test_a_bad_line_is_skipped_with_its_line(tmp_path: Path):
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns{i}"}} for i in range(3)]
    text = gzip.decompress(_written(tmp_path, objects).read_bytes()).replace(b'"name":"ns1"', b'"name":ns1')
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(gzip.compress(text))
    found, problems = read(bad)
    assert [o.name for o in found if o.kind == "Namespace"] == ["ns0", "ns2"]
    assert [(p.kind, p.line) for p in problems] == [("parse", 3)]


def test_the_size_limit_holds_for_the_decompressed_text(tmp_path: Path):
    objects = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}", "namespace": "a"},
                "data": {"k": "x" * 4000}} for i in range(400)]
    path = _written(tmp_path, objects)
    assert path.stat().st_size < 1024 * 1024 < len(gzip.decompress(path.read_bytes()))
    found, problems = read(path, max_file_bytes=1024 * 1024)
    assert any(p.kind == "too-large" for p in problems) and len(found) < 400


def test_other_commands_read_a_snapshot(capsys, manifests: Path, tmp_path: Path):
    out = tmp_path / "s.json.gz"
    assert run(capsys, "snapshot", str(manifests), "-o", str(out))[0] == OK
    code, text, err = run(capsys, "rbac", "who-can", "get", "secrets", "-n", "shop", str(out))
    assert code in (OK, 1), err
    assert "api" in text


def test_a_header_from_any_source_passes_through_the_registry(tmp_path: Path):
    # a live source (or a manifest) may state its cluster's version as a header without items
    path = tmp_path / "header.yaml"
    path.write_text(json.dumps(header("live", context="prod", version={"gitVersion": "v1.29.3"})))
    found, problems = read(path)
    assert problems == [] and [o.kind for o in found] == ["Snapshot"]
    assert found[0].raw["cluster"]["version"]["gitVersion"] == "v1.29.3"
    path.write_text(json.dumps({"apiVersion": "kubeharden.io/v1", "kind": "Snapshot", "metadata": {"name": "x"}}))
    found, problems = read(path)
    assert found == [] and [p.kind for p in problems] == ["skipped"]  # no items, no cluster: an empty snapshot


def test_a_line_nested_too_deeply_is_refused_and_the_rest_read(tmp_path: Path):
    deep: object = "x"
    for _ in range(150):
        deep = [deep]
    objects = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "deep", "namespace": "a"},
                "data": {"k": "v"}, "extra": deep},
               {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "brackets", "namespace": "a"},
                "data": {"k": "[" * 300}}]  # brackets inside a string are not nesting
    found, problems = read(_written(tmp_path, objects))
    assert [o.name for o in found if o.kind == "ConfigMap"] == ["brackets"]
    assert [(p.kind, p.line) for p in problems] == [("parse", 2)] and "nesting deeper" in problems[0].message


def test_a_line_without_end_never_outgrows_the_limit(tmp_path: Path):
    opening = gzip.decompress(_written(tmp_path, []).read_bytes()).splitlines()[0]
    bomb = tmp_path / "bomb.json.gz"
    bomb.write_bytes(gzip.compress(opening + b"\n" + b"{" + b" " * (3 * 1024 * 1024)))
    found, problems = read(bomb, max_file_bytes=1024 * 1024)
    assert [p.kind for p in problems] == ["too-large"] and found == []
