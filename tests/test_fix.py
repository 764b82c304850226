"""``kubeharden fix``: the edits (set, add, remove), the file handling and the command's modes."""

from __future__ import annotations

import io
import os
import re
import textwrap

import pytest
from ruamel.yaml.comments import CommentedMap

from kubeharden.cli import main
from kubeharden.fix.companions import for_fix, non_root_uid, writable_paths
from kubeharden.fix.edits import EditError, apply, same
from kubeharden.fix.yamlfile import guess_indentation, load
from kubeharden.model.findings import Fix

POD = textwrap.dedent("""\
    # the web pod
    apiVersion: v1
    kind: Pod
    metadata:
      name: web   # keep this comment
      namespace: shop
    spec:
      containers:
        - name: web
          image: 'registry.example.com/web:1.0'
          imagePullPolicy: IfNotPresent
          securityContext:
            privileged: true
    """)

CONFIGMAP = textwrap.dedent("""\
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: settings, namespace: shop}
    data:
      mode:    "strict"     # odd spacing a rewrite would lose
    """)


def run(*args: str) -> int:
    return main(["fix", "--no-config", *args])


# --- edits ------------------------------------------------------------------------------------


def test_set_creates_the_mappings_above_and_reports_no_change_the_second_time():
    obj: dict = {"spec": {"containers": [{"name": "a"}]}}
    fix = Fix("set", "spec.containers[0].securityContext.runAsNonRoot", True)
    assert apply(obj, fix) is True
    assert obj["spec"]["containers"][0]["securityContext"] == {"runAsNonRoot": True}
    assert apply(obj, fix) is False


def test_set_replaces_a_value_of_another_type_true_is_not_one():
    obj = {"spec": {"hostPID": 1}}
    assert apply(obj, Fix("set", "spec.hostPID", False)) is True and obj["spec"]["hostPID"] is False
    assert not same(1, True) and same(False, False) and not same("false", False)


def test_set_of_a_mapping_over_a_mapping_edits_it_in_place_key_by_key():
    """The mapping object stays (so its comments and style stay with it); keys not in the value go."""
    requests = CommentedMap([("cpu", 0), ("memory", "64Mi"), ("nvidia.com/gpu", 1)])
    obj = {"r": {"requests": requests}}
    assert apply(obj, Fix("set", "r.requests", {"cpu": "100m", "memory": "64Mi"})) is True
    assert obj["r"]["requests"] is requests and dict(requests) == {"cpu": "100m", "memory": "64Mi"}
    assert apply(obj, Fix("set", "r.requests", {"cpu": "100m", "memory": "64Mi"})) is False


def test_add_merges_list_items_and_mapping_keys_not_present():
    obj = {"c": {"drop": ["NET_RAW"], "requests": {"cpu": "1"}}}
    assert apply(obj, Fix("add", "c.drop", ["ALL"])) is True
    assert obj["c"]["drop"] == ["NET_RAW", "ALL"]
    assert apply(obj, Fix("add", "c.drop", ["ALL"])) is False
    assert apply(obj, Fix("add", "c.requests", {"cpu": "100m", "memory": "128Mi"})) is True
    assert obj["c"]["requests"] == {"cpu": "1", "memory": "128Mi"}


def test_remove_a_field_items_of_a_list_and_a_list_item():
    obj = {"p": {"hostPort": 80, "add": ["SYS_ADMIN", "CHOWN"], "sysctls": [{"name": "a"}, {"name": "b"}]}}
    assert apply(obj, Fix("remove", "p.hostPort")) is True and "hostPort" not in obj["p"]
    assert apply(obj, Fix("remove", "p.hostPort")) is False
    assert apply(obj, Fix("remove", "p.add", ["SYS_ADMIN"])) is True and obj["p"]["add"] == ["CHOWN"]
    assert apply(obj, Fix("remove", "p.add", ["CHOWN"])) is True and "add" not in obj["p"]
    assert apply(obj, Fix("remove", "p.sysctls[1]")) is True and obj["p"]["sysctls"] == [{"name": "a"}]


def test_a_path_through_a_scalar_or_a_missing_item_is_an_error_not_a_guess():
    with pytest.raises(EditError):
        apply({"spec": "text"}, Fix("set", "spec.hostPID", False))
    with pytest.raises(EditError):
        apply({"spec": {"containers": []}}, Fix("set", "spec.containers[3].image", "x"))


def test_new_mappings_take_the_type_of_the_document():
    obj = CommentedMap(spec=CommentedMap())
    apply(obj, Fix("set", "spec.securityContext.seccompProfile", {"type": "RuntimeDefault"}))
    assert type(obj["spec"]["securityContext"]) is CommentedMap
    assert type(obj["spec"]["securityContext"]["seccompProfile"]) is CommentedMap


# --- files ------------------------------------------------------------------------------------


def test_indentation_of_both_kubernetes_list_styles():
    assert guess_indentation("a:\n  b:\n    - x\n") == (2, 4, 2)
    assert guess_indentation("a:\n  b:\n  - x\n") == (2, 2, 0)
    assert guess_indentation("a:\n    b: 1\n") == (4, 2, 0)


def test_only_the_changed_document_is_rewritten(tmp_path):
    text = CONFIGMAP + "---\n" + POD + "...\n---\n# trailing comment\n"
    path = tmp_path / "all.yaml"
    path.write_text(text, encoding="utf-8")
    assert run(str(path), "--unsafe", "--only", "privileged-container") == 0
    after = path.read_text(encoding="utf-8")
    assert after.startswith(CONFIGMAP + "---\n# the web pod\n")  # the other document, byte for byte
    assert "name: web   # keep this comment" in after and "image: 'registry.example.com/web:1.0'" in after
    assert "privileged: false" in after and after.endswith("...\n---\n# trailing comment\n")


def test_list_items_and_anchors(tmp_path):
    text = textwrap.dedent("""\
        apiVersion: v1
        kind: List
        items:
          - apiVersion: v1
            kind: Pod
            metadata: {name: a}
            spec:
              containers:
                - name: a
                  image: registry.example.com/a:1
                  securityContext: &sc
                    privileged: true
                - name: b
                  image: registry.example.com/b:1
                  securityContext: *sc
        """)
    path = tmp_path / "list.yaml"
    path.write_text(text, encoding="utf-8")
    assert run(str(path), "--unsafe", "--only", "KH-POD-004") == 0
    after = path.read_text(encoding="utf-8")
    # the anchored mapping is fixed once, and the alias still shares it
    assert re.search(r"securityContext: &sc\n +privileged: false\n", after)
    assert "securityContext: *sc" in after
    assert main(["scan", "--no-config", "--control", "KH-POD-004", str(path)]) == 0


def test_a_file_that_cannot_be_loaded_for_editing_is_left_alone(tmp_path, capsys):
    # duplicate keys: the scan reports them and goes on; the editor refuses to guess which one counts
    text = POD.replace("    privileged: true\n", "    privileged: true\n      securityContext: {}\n")
    path = tmp_path / "dup.yaml"
    path.write_text(text, encoding="utf-8")
    before = os.stat(path).st_mtime_ns
    assert run("--unsafe", str(path)) == 3
    assert path.read_text(encoding="utf-8") == text and os.stat(path).st_mtime_ns == before
    assert "left alone" in capsys.readouterr().err


def test_json_files_are_edited_as_json(tmp_path):
    path = tmp_path / "pod.json"
    path.write_text('{\n  "apiVersion": "v1",\n  "kind": "Pod",\n  "metadata": {"name": "web"},\n'
                    '  "spec": {"containers": [{"name": "web", "image": "registry.example.com/w:1",\n'
                    '    "imagePullPolicy": "IfNotPresent"}]}\n}\n', encoding="utf-8")
    import json
    before = path.read_text()
    # an explicit IfNotPresent may serve images pre-pulled on nodes that cannot reach the registry: not by default
    assert run("--only", "KH-IMG-004", "--", str(path)) == 0
    assert path.read_text() == before
    assert run("--unsafe", "--only", "KH-IMG-004", "--", str(path)) == 0
    assert json.loads(path.read_text())["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    assert path.read_text().startswith('{\n  "apiVersion": "v1",\n')  # still JSON, in its own indentation


def test_load_finds_objects_of_every_document_and_list():
    mf = load("x.yaml", CONFIGMAP + "---\n" + POD)
    assert [(o.kind, o.name, o.line) for o in mf.objects()] == [("ConfigMap", "settings", 1), ("Pod", "web", 8)]


# --- the command ------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path):
    (tmp_path / "pod.yaml").write_text(POD, encoding="utf-8")
    (tmp_path / "settings.yaml").write_text(CONFIGMAP, encoding="utf-8")
    return tmp_path


def test_safe_fixes_by_default_unsafe_ones_listed_not_applied(files, capsys):
    non_root = files / "nonroot.yaml"
    non_root.write_text(POD.replace("privileged: true", "runAsNonRoot: true").replace("name: web   #", "name: nr   #"),
                        encoding="utf-8")
    assert run("--profile", "strict", str(files)) == 0
    # a non-root container loses nothing to capabilities.drop: [ALL] (evidence rule non-root): applied by default
    assert "drop:" in non_root.read_text(encoding="utf-8")
    after = (files / "pod.yaml").read_text(encoding="utf-8")
    # the pull policy and privileged: true stay, each listed with why
    assert "imagePullPolicy: IfNotPresent" in after and "privileged: true" in after
    assert "imagePullPolicy: IfNotPresent" in non_root.read_text(encoding="utf-8")
    err = capsys.readouterr().err
    assert "can break the application" in err and "KH-POD-004" in err
    assert re.search(r"not safe \(needs --unsafe\): every container start asks the registry.*"
                     r"KH-IMG-004 Pod/shop/web container containers/web", err)
    assert run("--profile", "strict", "--unsafe", "--only", "KH-IMG-004", "--", str(files / "pod.yaml")) == 0
    assert "imagePullPolicy: Always" in (files / "pod.yaml").read_text(encoding="utf-8")


def test_untouched_files_are_not_rewritten(files):
    before = os.stat(files / "settings.yaml").st_mtime_ns
    assert run("--unsafe", str(files)) == 0
    assert os.stat(files / "settings.yaml").st_mtime_ns == before
    assert (files / "settings.yaml").read_text(encoding="utf-8") == CONFIGMAP


def test_diff_and_dry_run_write_nothing_and_exit_1(files, capsys):
    assert run("--unsafe", "--diff", str(files)) == 1
    out = capsys.readouterr().out
    assert "-        privileged: true" in out and "+        privileged: false" in out
    assert run("--unsafe", "--dry-run", str(files)) == 1
    assert "would fix [unsafe]" in capsys.readouterr().out  # the plan is the output (review of #15)
    assert (files / "pod.yaml").read_text(encoding="utf-8") == POD


def test_output_dir_leaves_the_originals(files, tmp_path, monkeypatch):
    monkeypatch.chdir(files)
    out = tmp_path / "out"
    assert run("--unsafe", "--output", str(out), "pod.yaml", "settings.yaml") == 0
    assert (files / "pod.yaml").read_text(encoding="utf-8") == POD
    assert "privileged: false" in (out / "pod.yaml").read_text(encoding="utf-8")
    assert not (out / "settings.yaml").exists()


def test_only_accepts_slugs_and_refuses_unknown_names(files, capsys):
    assert run(str(files), "--unsafe", "--only", "privileged-container") == 0
    after = (files / "pod.yaml").read_text(encoding="utf-8")
    assert "privileged: false" in after and "allowPrivilegeEscalation" not in after
    assert run(str(files), "--only", "no-such-control") == 2


def test_second_run_changes_nothing(files, capsys):
    assert run("--unsafe", str(files)) == 0
    first = (files / "pod.yaml").read_text(encoding="utf-8")
    capsys.readouterr()
    assert run("--unsafe", "--diff", str(files)) == 0
    assert capsys.readouterr().out == "" and (files / "pod.yaml").read_text(encoding="utf-8") == first


def test_interactive_answers_from_stdin(files, monkeypatch, capsys):
    # privileged first (yes), then each further fix: no, and end of input declines the rest
    monkeypatch.setattr("sys.stdin", io.StringIO("y\nn\n"))
    assert run(str(files), "--interactive", "--only", "KH-POD-004", "KH-POD-016") == 0
    after = (files / "pod.yaml").read_text(encoding="utf-8")
    assert "privileged: false" in after and "seccompProfile" not in after
    err = capsys.readouterr().err
    assert "apply? [y]es [n]o" in err and "declined" in err


def test_stdin_is_refused():
    assert run("-") == 2


# --- companions -------------------------------------------------------------------------------


def test_read_only_root_filesystem_brings_volumes_for_the_paths_it_can_infer():
    pod = {"spec": {"volumes": [{"name": "tmp", "configMap": {"name": "x"}}], "containers": [
        {"name": "web", "image": "nginx:1.27", "env": [{"name": "TMPDIR", "value": "/scratch"}],
         "volumeMounts": [{"name": "cache", "mountPath": "/var/cache"}]}]}}
    extra = for_fix(pod, Fix("set", "spec.containers[0].securityContext.readOnlyRootFilesystem", True))
    assert writable_paths(pod["spec"]["containers"][0]) == ["/tmp", "/scratch", "/var/cache/nginx", "/var/run"]
    volumes, mounts = extra
    # /var/cache/nginx is under the existing /var/cache mount; "tmp" is taken by another volume
    assert [m["mountPath"] for m in mounts.value] == ["/tmp", "/scratch", "/var/run"]
    assert [v["name"] for v in volumes.value] == ["tmp-2", "scratch", "var-run"]
    assert all(v["emptyDir"] == {} for v in volumes.value)


def test_run_as_non_root_sets_the_uid_only_for_images_known_to_support_it():
    def pod(image, sc=None):
        return {"spec": {"securityContext": sc or {}, "containers": [{"name": "c", "image": image}]}}

    fix = Fix("set", "spec.containers[0].securityContext.runAsNonRoot", True)
    assert for_fix(pod("nginxinc/nginx-unprivileged:1.27"), fix) == [
        Fix("set", "spec.containers[0].securityContext.runAsUser", 101)]
    assert for_fix(pod("gcr.io/distroless/static-debian12:nonroot"), fix)[0].value == 65532
    assert for_fix(pod("gcr.io/distroless/static-debian12:latest"), fix) == []
    assert for_fix(pod("nginx:1.27"), fix) == []
    assert for_fix(pod("nginxinc/nginx-unprivileged:1.27", {"runAsUser": 5000}), fix) == []
    assert non_root_uid("docker.io/bitnami/redis:7.2") == 1001


def test_the_same_object_in_two_files_is_fixed_in_both(tmp_path):
    # variants of one app often repeat an object; each file gets every round of fixes
    # a.yaml gets allowPrivilegeEscalation in the first round, b.yaml only once privileged is gone
    (tmp_path / "a.yaml").write_text(POD.replace("privileged: true", "privileged: false"), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(POD, encoding="utf-8")
    assert run(str(tmp_path), "--unsafe", "--only", "KH-POD-004", "KH-POD-011") == 0
    for name in ("a.yaml", "b.yaml"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert "privileged: false" in text and "allowPrivilegeEscalation: false" in text, name


def test_a_file_without_a_final_line_end_keeps_it_that_way(tmp_path):
    path = tmp_path / "pod.yaml"
    path.write_text(POD.rstrip("\n"), encoding="utf-8")
    assert run(str(path), "--unsafe", "--only", "KH-POD-004") == 0
    after = path.read_text(encoding="utf-8")
    assert after.endswith("privileged: false") and after.count("\n") == POD.count("\n") - 1


def test_a_document_rewritten_beyond_the_fix_is_warned_about(tmp_path, monkeypatch, capsys):
    # two list styles in one document: ruamel.yaml writes one style; the lines the fix did not change
    # are taken from the file (tests/test_fix_files.py), and where that merge fails the plain dump is
    # written with a warning
    import kubeharden.fix.yamlfile as yamlfile
    text = POD + "      ports:\n      - containerPort: 80\n"
    path = tmp_path / "mixed.yaml"
    path.write_text(text, encoding="utf-8")
    assert run(str(path), "--unsafe", "--only", "KH-POD-004") == 0
    assert "lines beyond the fix" not in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == text.replace("privileged: true", "privileged: false")
    path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(yamlfile, "keep_unchanged_lines", lambda original, dumped: "not: [the data\n")
    assert run(str(path), "--unsafe", "--only", "KH-POD-004") == 0
    assert "lines beyond the fix are rewritten too" in capsys.readouterr().err
    assert "privileged: false" in path.read_text(encoding="utf-8")


def test_a_document_that_would_not_read_back_as_edited_is_left_alone(tmp_path, monkeypatch, capsys):
    import kubeharden.fix.yamlfile as yamlfile
    monkeypatch.setattr(yamlfile, "_dump_yaml", lambda data, original: original.replace("web", "other"))
    path = tmp_path / "pod.yaml"
    path.write_text(POD, encoding="utf-8")
    assert run(str(path), "--unsafe", "--only", "KH-POD-004") == 3
    assert path.read_text(encoding="utf-8") == POD
    assert "would not read back as edited" in capsys.readouterr().err


def test_a_file_the_scan_cannot_parse_is_named_and_the_run_exits_3(files, capsys):
    (files / "broken.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: [\n", encoding="utf-8")
    assert run(str(files), "--unsafe") == 3
    assert "broken.yaml" in capsys.readouterr().err
    assert "privileged: false" in (files / "pod.yaml").read_text(encoding="utf-8")  # the rest is fixed


def test_windows_line_ends_are_kept(tmp_path):
    path = tmp_path / "pod.yaml"
    path.write_bytes(POD.replace("\n", "\r\n").encode("utf-8"))
    assert run(str(path), "--unsafe", "--only", "KH-POD-004") == 0
    after = path.read_bytes().decode("utf-8")
    assert "privileged: false\r\n" in after and after.count("\n") == after.count("\r\n")


def test_unsafe_fix_never_sets_read_only_root_filesystem_on_a_windows_pod(tmp_path, capsys):
    # SecurityContext API reference: readOnlyRootFilesystem "cannot be set when spec.os.name is windows"
    path = tmp_path / "win.yaml"
    path.write_text(textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: win, namespace: shop}
        spec:
          os: {name: windows}
          containers:
            - name: web
              image: registry.example.com/web:1.0
        """), encoding="utf-8")
    run(str(path), "--unsafe", "--profile", "strict")
    assert "readOnlyRootFilesystem" not in path.read_text(encoding="utf-8")
    linux = tmp_path / "linux.yaml"
    linux.write_text(path.read_text(encoding="utf-8").replace("  os: {name: windows}\n", ""), encoding="utf-8")
    run(str(linux), "--unsafe", "--only", "KH-POD-003")
    assert "readOnlyRootFilesystem: true" in linux.read_text(encoding="utf-8")


def test_scan_does_not_report_a_writable_root_filesystem_on_windows(tmp_path, capsys):
    path = tmp_path / "win.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: win}\nspec:\n  os: {name: windows}\n"
                    "  containers: [{name: web, image: registry.example.com/web:1.0}]\n", encoding="utf-8")
    from kubeharden.config import Config
    from kubeharden.engine.evaluator import Evaluator
    from kubeharden.sources.files import parse_text
    objs = list(parse_text(path.read_text(encoding="utf-8"), str(path)))
    assert [f for f in Evaluator(Config(), only=["KH-POD-003"]).run(list(parse_text(
        path.read_text(encoding="utf-8").replace("  os: {name: windows}\n", ""), str(path)))) if f.status == "fail"]
    assert not [f for f in Evaluator(Config(), only=["KH-POD-003"]).run(objs) if f.status == "fail"]


def test_dry_run_prints_the_plan_on_stdout(files, capsys):
    assert run("--unsafe", "--dry-run", str(files)) == 1
    captured = capsys.readouterr()
    assert "would fix [unsafe]" in captured.out and "nothing written" in captured.out
    assert "would fix" not in captured.err
