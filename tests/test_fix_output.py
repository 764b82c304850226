"""``kubeharden fix`` output: ``--output DIR`` keeps every file apart, ``--diff`` applies with ``patch``
(files without a final line end included), in-place writes keep the owner, and JSON written on one line
stays on one line (docs/fix.md, "Modes", "What is kept", "JSON stays JSON")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from kubeharden.cli import main

# a container that runs as UID 1000 (Kubernetes "Configure a Security Context for a Pod or Container"):
# allowPrivilegeEscalation: false and capabilities.drop: [ALL] are safe fixes of it
POD = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata:
      name: web
      namespace: shop
    spec:
      securityContext:
        runAsUser: 1000
      containers:
      - name: web
        image: registry.example.com/web:1.0
    """)
SAFE = ("--only", "KH-POD-011", "KH-POD-012", "--")


def run(*args: str) -> int:
    return main(["fix", "--no-config", *args])


# --- --output DIR: one place per file, a collision refused --------------------------------------------


def test_output_keeps_files_of_one_name_from_folders_outside_the_working_folder_apart(tmp_path, monkeypatch,
                                                                                          capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.yaml").write_text(POD.replace("name: web\n  namespace", f"name: {folder}\n  namespace"),
                                                  encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert run("--output", "out", *SAFE, "../a/x.yaml", "../b/x.yaml") == 0
    for folder in ("a", "b"):
        written = work / "out" / (tmp_path / folder / "x.yaml").resolve().relative_to("/")
        text = written.read_text(encoding="utf-8")
        assert f"name: {folder}\n" in text and "allowPrivilegeEscalation: false" in text, folder
        assert "allowPrivilegeEscalation" not in (tmp_path / folder / "x.yaml").read_text(encoding="utf-8")
    assert len(list((work / "out").rglob("x.yaml"))) == 2
    err = capsys.readouterr().err
    assert err.count("wrote out/") == 2


def test_output_refuses_two_files_that_would_land_on_one_place(tmp_path, monkeypatch, capsys):
    outside = tmp_path / "a" / "x.yaml"
    outside.parent.mkdir()
    outside.write_text(POD, encoding="utf-8")
    work = tmp_path / "work"
    # inside the working folder, at the path the outside file's absolute path maps to below DIR
    inside = work / outside.resolve().relative_to("/")
    inside.parent.mkdir(parents=True)
    inside.write_text(POD, encoding="utf-8")
    monkeypatch.chdir(work)
    assert run("--output", "out", *SAFE, str(outside), str(inside.relative_to(work))) == 3
    err = capsys.readouterr().err
    assert err.count("not written: its place under --output") == 2
    assert not (work / "out").exists()


def test_output_never_overwrites_an_input(tmp_path, monkeypatch, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "x.yaml").write_text(POD, encoding="utf-8")
    other = POD.replace("name: web\n  namespace", "name: other\n  namespace")
    (tmp_path / "a" / "x.yaml").write_text(other, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    # x.yaml's place under a/ is the input a/x.yaml; a/x.yaml's own place is a/a/x.yaml
    assert run("--output", "a", *SAFE, "x.yaml", "a/x.yaml") == 3
    err = capsys.readouterr().err
    assert "x.yaml: not written: its place under --output, a/x.yaml, is the input a/x.yaml" in err
    assert (tmp_path / "a" / "x.yaml").read_text(encoding="utf-8") == other
    assert (tmp_path / "x.yaml").read_text(encoding="utf-8") == POD
    assert "allowPrivilegeEscalation: false" in (tmp_path / "a" / "a" / "x.yaml").read_text(encoding="utf-8")
    # --output . is every input's own place
    assert run("--output", ".", *SAFE, "x.yaml") == 3
    assert "is the input x.yaml" in capsys.readouterr().err
    assert (tmp_path / "x.yaml").read_text(encoding="utf-8") == POD


# --- --diff applies with patch -----------------------------------------------------------------------


def apply_check(diff: str, folder: Path) -> None:
    """``patch --dry-run`` (GNU patch) and ``git apply --check`` take ``diff`` in ``folder``; either missing
    is skipped, both missing skips the test."""
    commands = [c for c in (["patch", "--dry-run", "-p1", "--batch"], ["git", "apply", "--check", "-"])
                if shutil.which(c[0])]
    if not commands:
        pytest.skip("neither GNU patch nor git is installed to apply the diff")
    for command in commands:
        done = subprocess.run(command, input=diff.encode("utf-8"), cwd=folder, capture_output=True, check=False)
        assert done.returncode == 0, f"{command[0]}: {done.stdout.decode()}{done.stderr.decode()}"


def compact_json() -> str:
    return json.dumps(yaml.safe_load(POD), separators=(",", ":"))


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_diff_of_files_without_a_final_line_end_applies(newline, tmp_path, monkeypatch, capsys):
    files = {"pod.yaml": POD.rstrip("\n").replace("\n", newline),
             "one.json": compact_json(),  # JSON on one line, no line end: the next file's header must not join it
             "z.yaml": POD.replace("name: web\n  namespace", "name: z\n  namespace").replace("\n", newline)}
    for name, text in files.items():
        (tmp_path / name).write_bytes(text.encode("utf-8"))
    monkeypatch.chdir(tmp_path)
    assert run("--diff", *SAFE, *files) == 1
    diff = capsys.readouterr().out
    # pod.yaml's and one.json's last lines, old and new, each followed by the marker
    assert diff.count("\n\\ No newline at end of file\n") == 4
    assert "--- a/z.yaml" in diff.splitlines()
    apply_check(diff, tmp_path)
    if shutil.which("patch"):  # applied, the diff gives byte for byte what the fix writes in place
        subprocess.run(["patch", "-p1", "--batch", "--quiet"], input=diff.encode("utf-8"), cwd=tmp_path, check=True)
        patched = {name: (tmp_path / name).read_bytes() for name in files}
        for name, text in files.items():
            (tmp_path / name).write_bytes(text.encode("utf-8"))
        assert run(*SAFE, *files) == 0
        assert patched == {name: (tmp_path / name).read_bytes() for name in files}
        assert not patched["pod.yaml"].endswith(b"\n") and not patched["one.json"].endswith(b"\n")


@pytest.mark.parametrize("named", [".", "./pod.yaml", ".//pod.yaml", "sub/../pod.yaml"])
def test_a_diff_of_inputs_named_with_dot_applies(named, tmp_path, monkeypatch, capsys):
    (tmp_path / "pod.yaml").write_text(POD, encoding="utf-8")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    assert run("--diff", *SAFE, named) == 1
    diff = capsys.readouterr().out
    assert {"--- a/pod.yaml", "+++ b/pod.yaml"} <= set(diff.splitlines())  # no ./ or .. step: git apply refuses them
    apply_check(diff, tmp_path)


def test_a_diff_counts_lines_as_patch_does(tmp_path, monkeypatch, capsys):
    # U+2028 and NEL written raw in a JSON string are no line ends for patch (str.splitlines would cut there)
    text = ONE_LINE_CONTAINER.replace('"namespace": "shop"}', '"namespace": "shop", "annotations": {"note": "a\u2028b\x85c"}}')
    (tmp_path / "pod.json").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert run("--diff", *SAFE, "pod.json") == 1
    diff = capsys.readouterr().out
    assert "@@ -4,6 +4,6 @@" in diff and "No newline" not in diff
    apply_check(diff, tmp_path)


# --- in place: the owner, group and permissions are kept --------------------------------------------


def test_a_file_fixed_in_place_keeps_its_owner_group_and_mode(tmp_path):
    path = tmp_path / "pod.yaml"
    path.write_text(POD, encoding="utf-8")
    path.chmod(0o640)
    root = os.geteuid() == 0
    if root:
        os.chown(path, 1234, 1234)
    assert run(*SAFE, str(path)) == 0
    after = path.stat()
    assert "allowPrivilegeEscalation: false" in path.read_text(encoding="utf-8")
    assert after.st_mode & 0o7777 == 0o640
    if not root:
        pytest.skip("giving a file to another owner needs root (chown(2)); owner kept only as the same user")
    assert (after.st_uid, after.st_gid) == (1234, 1234)


# --- JSON: a key added to an empty {} stays on the line of a mapping written on one line ---------------

ONE_LINE_CONTAINER = ('{\n  "apiVersion": "v1",\n  "kind": "Pod",\n  "metadata": {"name": "web", "namespace": "shop"},\n'
                      '  "spec": {\n    "securityContext": {"runAsUser": 1000},\n'
                      '    "containers": [{"name": "web", "image": "registry.example.com/web:1", "securityContext": {}}]\n'
                      '  }\n}\n')


def test_keys_added_to_an_empty_mapping_inside_a_one_line_json_mapping_stay_on_its_line(tmp_path):
    path = tmp_path / "pod.json"
    path.write_text(ONE_LINE_CONTAINER, encoding="utf-8")
    assert run(*SAFE, str(path)) == 0
    assert path.read_text(encoding="utf-8") == ONE_LINE_CONTAINER.replace(
        '"securityContext": {}}', '"securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}')


def test_an_empty_mapping_on_a_line_of_its_own_is_filled_in_the_files_indentation(tmp_path):
    before = ONE_LINE_CONTAINER.replace(
        '    "containers": [{"name": "web", "image": "registry.example.com/web:1", "securityContext": {}}]\n',
        '    "containers": [\n      {\n        "name": "web",\n        "image": "registry.example.com/web:1",\n'
        '        "securityContext": {}\n      }\n    ]\n')
    path = tmp_path / "pod.json"
    path.write_text(before, encoding="utf-8")
    assert run(*SAFE, str(path)) == 0
    assert path.read_text(encoding="utf-8") == before.replace(
        '"securityContext": {}\n',
        '"securityContext": {\n          "allowPrivilegeEscalation": false,\n          "capabilities": {\n'
        '            "drop": [\n              "ALL"\n            ]\n          }\n        }\n')
