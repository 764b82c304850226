"""The snapshot source, read through the source registry by every command that reads objects.

Objects are written as the API server returns them (``kubectl get -o json``: a ``List`` with
``items``, https://kubernetes.io/docs/reference/kubectl/#output-options), one per line (JSON
lines), or in kubeharden's ``kubeharden.io/v1`` ``Snapshot`` envelope; plain or gzip.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from kubeharden.cli import main
from kubeharden.exitcodes import FINDINGS, INPUT_ERRORS, OK
from kubeharden.model.findings import OWN_OUTPUT, Problem
from kubeharden.model.objects import K8sObject
from kubeharden.sources import registry, snapshot
from kubeharden.sources.files import ReadOptions

# A privileged Pod (https://kubernetes.io/docs/concepts/security/pod-security-standards/, "Privileged
# Containers") as the API server returns it: namespace set, status present.
POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "debug", "namespace": "shop", "uid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"},
       "spec": {"serviceAccountName": "api",
                "containers": [{"name": "shell", "image": "busybox:1.36", "securityContext": {"privileged": True}}]},
       "status": {"phase": "Running"}}
# https://kubernetes.io/docs/reference/access-authn-authz/rbac/#rolebinding-example, granting cluster-admin.
BINDING = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
           "metadata": {"name": "api-admin"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
           "subjects": [{"kind": "ServiceAccount", "name": "api", "namespace": "shop"}]}
# https://kubernetes.io/docs/concepts/services-networking/service/#defining-a-service
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
              "spec": {"selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                                             "ports": [{"containerPort": 8080}],
                                                             "resources": {"requests": {"cpu": "100m",
                                                                                        "memory": "64Mi"}}}]}}}}
OBJECTS = [POD, BINDING, SERVICE, DEPLOYMENT]


def kubectl_list(items: list[dict]) -> str:
    """``kubectl get -A -o json``: sorted keys, four-space indentation, a List."""
    return json.dumps({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}},
                      indent=4, sort_keys=True) + "\n"


def envelope(items: list, api_version: str = snapshot.API_VERSION) -> dict:
    return {"apiVersion": api_version, "kind": "Snapshot",
            "metadata": {"name": "prod-eu-1", "creationTimestamp": "2026-11-30T12:00:00Z"}, "items": items}


def gz(path: Path, text: str) -> Path:
    path.write_bytes(gzip.compress(text.encode()))
    return path


def read(path: Path, **options) -> tuple[list[K8sObject], list[Problem]]:
    items = list(registry.read_inputs([str(path)], ReadOptions(**options)))
    return ([i for i in items if isinstance(i, K8sObject)], [i for i in items if isinstance(i, Problem)])


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def scan_json(capsys, *argv: str) -> tuple[int, dict]:
    code, out, err = run(capsys, "scan", "--no-config", "-f", "json", "--fail-on", "none", *argv)
    assert out, err
    return code, json.loads(out)


# -- the three shapes ---------------------------------------------------------------------------

def test_a_gzipped_kubectl_list_is_read_with_snapshot_provenance_and_lines(tmp_path):
    text = kubectl_list(OBJECTS)
    path = gz(tmp_path / "prod.json.gz", text)
    objects, problems = read(path)
    assert problems == []
    assert [str(o.ref) for o in objects] == ["Pod/shop/debug", "ClusterRoleBinding/api-admin", "Service/shop/web",
                                             "Deployment/shop/web"]
    pod = objects[0]
    assert (pod.origin.source, pod.origin.file) == ("snapshot", str(path))
    # the line of the Pod in the decompressed text: where its mapping starts
    lines = text.splitlines()
    assert lines[pod.origin.line - 1].strip() == "{"
    assert '"apiVersion": "v1"' in lines[pod.origin.line]
    assert all(o.origin.line and o.origin.line > 1 for o in objects)


def test_a_gzipped_kubectl_yaml_list_is_read_too(tmp_path):
    """``kubectl get -o yaml | gzip``: YAML text inside, read with the manifest reader's rules."""
    text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata:\n" \
           "    name: web\n    namespace: shop\n  spec:\n    ports:\n    - port: 80\n"
    objects, problems = read(gz(tmp_path / "prod.yaml.gz", text))
    assert problems == [] and [(o.kind, o.name, o.origin.line, o.origin.source) for o in objects] == [
        ("Service", "web", 4, "snapshot")]


def test_json_lines_give_each_object_its_line(tmp_path):
    path = tmp_path / "dump.jsonl"
    path.write_text("\n".join(json.dumps(o) for o in (SERVICE, POD)) + "\n\n")
    objects, problems = read(path)
    assert problems == []
    assert [(o.name, o.origin.line, o.origin.source) for o in objects] == [("web", 1, "snapshot"),
                                                                          ("debug", 2, "snapshot")]


def test_the_snapshot_envelope_is_opened_and_its_items_read(tmp_path):
    path = gz(tmp_path / "prod.json.gz", json.dumps(envelope([POD, SERVICE]), indent=2))
    objects, problems = read(path)
    assert problems == []
    assert [o.kind for o in objects] == ["Pod", "Service"]
    assert {o.origin.source for o in objects} == {"snapshot"}


@pytest.mark.parametrize("name", ["snapshot.json", "snapshot.yaml"])
def test_a_snapshot_envelope_inside_a_folder_is_never_one_unknown_object(tmp_path, name, capsys):
    folder = tmp_path / "dumps"
    folder.mkdir()
    (folder / name).write_text(json.dumps(envelope([POD]), indent=2))
    code, report = scan_json(capsys, str(folder))
    assert code == OK
    privileged = [f for f in report["findings"] if f["control_id"] == "KH-POD-004"]
    assert len(privileged) == 1
    assert privileged[0]["resource"]["name"] == "debug" and privileged[0]["source"] == "snapshot"
    assert privileged[0]["file"] == str(folder / name) and privileged[0]["line"] > 1
    assert report["summary"]["objects"] == 1 and report["summary"]["kinds"] == {"Pod": 1}


def test_a_custom_resource_called_snapshot_is_an_ordinary_object(tmp_path):
    crd_object = {"apiVersion": "backup.example.com/v1", "kind": "Snapshot", "metadata": {"name": "nightly"},
                  "items": [POD]}
    path = tmp_path / "dump.jsonl"
    path.write_text(json.dumps(crd_object) + "\n")
    objects, problems = read(path)
    assert problems == [] and [(o.kind, o.name) for o in objects] == [("Snapshot", "nightly")]


def test_scan_reports_the_same_findings_from_a_snapshot_as_from_the_manifests(tmp_path, capsys):
    manifests = tmp_path / "manifests.yaml"
    manifests.write_text("---\n".join(json.dumps(o) + "\n" for o in OBJECTS))
    dump = gz(tmp_path / "prod.json.gz", kubectl_list(OBJECTS))
    _, from_files = scan_json(capsys, str(manifests))
    _, from_dump = scan_json(capsys, str(dump))

    def verdicts(report: dict) -> list[tuple]:
        return sorted((f["control_id"], f["status"], json.dumps(f["resource"]), f.get("container"))
                      for f in report["findings"])

    assert verdicts(from_dump) == verdicts(from_files)
    assert any(f["control_id"] == "KH-POD-004" for f in from_dump["findings"])
    assert {f["source"] for f in from_dump["findings"]} == {"snapshot"}
    assert {f["file"] for f in from_dump["findings"] if f["file"]} == {str(dump)}


# -- every command gets the source --------------------------------------------------------------

def test_rbac_answers_from_a_snapshot(tmp_path, capsys):
    dump = gz(tmp_path / "prod.json.gz", kubectl_list(OBJECTS))
    code, out, err = run(capsys, "rbac", "who-can", "get", "secrets", "-f", "json", str(dump))
    assert code == OK, err
    granted = [(s["subject"], s["binding"], s["file"]) for s in json.loads(out)["subjects"]]
    assert ("serviceaccount:shop:api", "ClusterRoleBinding/api-admin", str(dump)) in granted


def test_netpol_and_generate_read_a_snapshot(tmp_path, capsys):
    dump = tmp_path / "prod.ndjson"
    dump.write_text("\n".join(json.dumps(o) for o in OBJECTS) + "\n")
    code, out, err = run(capsys, "netpol", "matrix", "-f", "json", str(dump))
    assert code == OK, err
    assert "shop" in out
    code, out, err = run(capsys, "generate", "netpol", "--no-config", str(dump))
    assert code == OK, err
    assert "kind: NetworkPolicy" in out and "namespace: shop" in out
    code, out, err = run(capsys, "generate", "quotas", "--no-config", str(dump))
    assert code == OK, err
    assert "kind: ResourceQuota" in out and "namespace: shop" in out


def test_every_command_reads_through_the_registry(tmp_path, capsys, monkeypatch):
    """A source added to the registry reaches scan, rbac, netpol and generate without touching them."""
    seen: list[str] = []
    stored = tmp_path / "store.fake"
    stored.write_text("")

    def claims(path: str) -> bool:
        return path.endswith(".fake")

    def read_fake(path: str, options: ReadOptions):
        seen.append(path)
        from kubeharden.sources.files import unpack
        for number, obj in enumerate(OBJECTS, start=1):
            yield from unpack(json.loads(json.dumps(obj)), path, number, "fake", namespace=options.namespace)

    monkeypatch.setattr(registry, "SOURCES", (registry.Source("fake", claims, read_fake), *registry.SOURCES))
    commands = [["scan", "--no-config", "--fail-on", "none"], ["rbac", "paths"], ["rbac", "can", "sa:shop:api"],
                ["rbac", "who-can", "get", "secrets"], ["netpol", "matrix"],
                ["netpol", "can-reach", "shop/web", "shop/debug"], ["generate", "netpol", "--no-config"],
                ["generate", "quotas", "--no-config"]]
    for argv in commands:
        code, _, err = run(capsys, *argv, str(stored))
        assert code not in (INPUT_ERRORS, 2), (argv, err)
    assert seen == [str(stored)] * len(commands)


# -- behaviours kept through the seam -------------------------------------------------------------

def test_namespace_less_objects_of_a_snapshot_take_the_namespace_of_minus_n(tmp_path, capsys):
    pod = json.loads(json.dumps(POD))
    del pod["metadata"]["namespace"]
    dump = tmp_path / "dump.jsonl"
    dump.write_text(json.dumps(pod) + "\n" + json.dumps(BINDING) + "\n")
    objects, _ = read(dump, namespace="payments")
    assert [(o.kind, o.namespace, o.origin.namespace_defaulted) for o in objects] == [
        ("Pod", "payments", True), ("ClusterRoleBinding", None, False)]
    _, report = scan_json(capsys, "-n", "payments", str(dump))
    assert {f["resource"]["namespace"] for f in report["findings"] if f["resource"]["kind"] == "Pod"} == {"payments"}


def test_an_empty_snapshot_checks_nothing_and_fails_unless_allowed(tmp_path, capsys):
    dump = gz(tmp_path / "empty.json.gz", json.dumps(envelope([])))
    code, out, err = run(capsys, "scan", "--no-config", "-f", "json", str(dump))
    assert code == INPUT_ERRORS
    report = json.loads(out)
    assert [n["message"] for n in report["notes"]] == ["Snapshot prod-eu-1 holds no object"]
    assert [e["kind"] for e in report["errors"]] == ["nothing-checked"]
    code, _, _ = run(capsys, "scan", "--no-config", "-f", "json", "--allow-empty", str(dump))
    assert code == OK
    code, _, err = run(capsys, "rbac", "paths", str(dump))
    assert code == INPUT_ERRORS and "no Kubernetes object" in err


def test_max_file_size_limits_the_decompressed_text(tmp_path):
    # 2 MiB of spaces compress to a few KiB: the limit applies to what is inflated, read no further.
    bomb = gz(tmp_path / "bomb.json.gz", kubectl_list([POD]) + " " * (2 * 1024 * 1024))
    assert bomb.stat().st_size < 64 * 1024
    objects, problems = read(bomb, max_file_bytes=1024 * 1024)
    assert objects == []
    assert [(p.level, p.kind) for p in problems] == [("error", "too-large")]
    assert "decompressed snapshot" in problems[0].message and "1 MiB" in problems[0].message
    plain = tmp_path / "big.jsonl"
    plain.write_text(json.dumps(POD) + "\n" + " " * 2048)
    objects, problems = read(plain, max_file_bytes=1024)
    assert objects == [] and problems[0].kind == "too-large" and "file is over" in problems[0].message


def test_the_report_this_run_writes_is_not_read_as_a_snapshot(tmp_path, capsys):
    report = tmp_path / "report.jsonl"
    report.write_text(json.dumps(POD) + "\n")  # as if a previous run had written it
    code, out, err = run(capsys, "scan", "--no-config", "-f", "json", "--allow-empty", "-o", str(report),
                         str(report))
    assert code == OK, err
    notes = json.loads(report.read_text())["notes"]
    assert [n["kind"] for n in notes if n["kind"] == OWN_OUTPUT] == [OWN_OUTPUT]
    stat = report.stat()
    objects, problems = read(report, skip_files={(stat.st_dev, stat.st_ino): "written by this run"})
    assert objects == [] and [p.kind for p in problems] == [OWN_OUTPUT]


# -- bad input never crashes ----------------------------------------------------------------------

def test_bad_snapshots_become_problems(tmp_path):
    cases = {
        "truncated.json.gz": gzip.compress(kubectl_list(OBJECTS).encode())[:-20],
        "notgzip.json.gz": b"\x1f\x8bthis is not deflate data at all",
        "binary.jsonl": b'{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "\xff\xfe"}}\n',
        "deep.jsonl": (json.dumps(POD) + "\n" + "[" * 150 + "]" * 150 + "\n").encode(),
        "broken.ndjson": (json.dumps(POD) + "\n{not json}\n" + json.dumps(SERVICE) + "\n").encode(),
    }
    results = {}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        objects, problems = read(tmp_path / name)
        results[name] = ([o.name for o in objects], [(p.level, p.kind, p.line) for p in problems])
    assert results["truncated.json.gz"] == ([], [("error", "read", None)])
    assert results["notgzip.json.gz"] == ([], [("error", "read", None)])
    assert results["binary.jsonl"] == ([], [("error", "encoding", 1)])
    assert results["deep.jsonl"] == (["debug"], [("error", "parse", 2)])
    assert results["broken.ndjson"] == (["debug", "web"], [("error", "parse", 2)])


def test_a_folder_named_like_a_snapshot_is_still_a_folder(tmp_path):
    folder = tmp_path / "backup.gz"
    folder.mkdir()
    (folder / "service.json").write_text(json.dumps(SERVICE))
    objects, problems = read(folder)
    assert problems == [] and [(o.name, o.origin.source) for o in objects] == [("web", "file")]


def test_a_missing_snapshot_is_an_input_error(tmp_path, capsys):
    code, out, _ = run(capsys, "scan", "--no-config", "-f", "json", str(tmp_path / "absent.json.gz"))
    assert code == INPUT_ERRORS
    assert [(e["kind"], e["message"]) for e in json.loads(out)["errors"]][0] == ("read", "no such file or directory")


def test_duplicate_keys_in_a_json_line_are_warned(tmp_path):
    path = tmp_path / "dup.jsonl"
    path.write_text('{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "name": "b", "namespace": "x"}}\n')
    objects, problems = read(path)
    assert [o.name for o in objects] == ["b"]
    assert [(p.level, p.kind, p.line) for p in problems] == [("warning", "duplicate-key", 1)]


@pytest.mark.parametrize("doc, message", [
    (envelope([POD], api_version="kubeharden.io/v2"), "unknown snapshot version"),
    ({**envelope([]), "items": {"a": POD}}, "items is not a list"),
    (envelope([envelope([POD])]), "inside a Snapshot"),
])
def test_malformed_envelopes_are_errors(tmp_path, doc, message):
    path = gz(tmp_path / "bad.json.gz", json.dumps(doc, indent=1))
    objects, problems = read(path)
    assert objects == []
    assert [p.level for p in problems] == ["error"] and message in problems[0].message


def test_a_snapshot_with_findings_fails_the_gate(tmp_path, capsys):
    dump = gz(tmp_path / "prod.json.gz", kubectl_list([POD]))
    code, _, _ = run(capsys, "scan", "--no-config", "-f", "json", "--fail-on", "critical", str(dump))
    assert code == FINDINGS
