"""``kubeharden fix`` file handling: symbolic links, byte-order marks and line ends, JSON kept JSON,
untouched lines byte for byte, and a reason for every fix not applied (docs/fix.md)."""

from __future__ import annotations

import copy
import difflib
import io
import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from kubeharden.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> int:
    return main(["fix", "--no-config", *args])


# --- every fix not applied says why ---------------------------------------------------------------

FINDING = re.compile(r"KH-[A-Z]+-\d+ [A-Za-z]+/")


def unsafe_reasons(text: str) -> tuple[int, int]:
    """(findings the "can break the application" line counts, findings named on its reason lines)."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "can break the application" in line)
    counted = int(lines[at].split(" ", 1)[0])
    named = 0
    for line in lines[at + 1:]:
        if not line.startswith("  - "):
            break
        named += len(FINDING.findall(line))
    return counted, named


@pytest.mark.parametrize("mode", ["--dry-run", "--diff", "in place"])
def test_every_unsafe_fix_of_the_insecure_example_says_why(mode, tmp_path, capsys):
    work = tmp_path / "insecure"
    shutil.copytree(ROOT / "examples" / "insecure", work)
    run(str(work), *([mode] if mode.startswith("--") else []))
    captured = capsys.readouterr()
    counted, named = unsafe_reasons(captured.out if mode == "--dry-run" else captured.err)
    assert counted > 10 and named == counted
    output = captured.out + captured.err
    # a fix without a recorded reason says what it changes at run time
    assert re.search(r"not safe \(needs --unsafe\): the node port goes away[^\n]*KH-POD-010 Deployment/shop/frontend",
                     output)


def test_a_declined_fix_is_named(tmp_path, monkeypatch, capsys):
    path = tmp_path / "pod.yaml"
    path.write_text(POD, encoding="utf-8")
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert run(str(path), "--interactive", "--only", "KH-POD-004") == 0
    assert re.search(r"not fixed \(declined\): \S+pod.yaml:\d+ KH-POD-004 Pod/default/web", capsys.readouterr().err)


POD = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata:
      name: web
    spec:
      containers:
        - name: web
          image: registry.example.com/web:1.0
          securityContext:
            privileged: true
    """)


# --- symbolic links -------------------------------------------------------------------------------


@pytest.fixture
def linked(tmp_path):
    """``app/real.yaml`` (mode 0640), ``app/link.yaml -> real.yaml`` and ``app/shared.yaml -> ../shared/base.yaml``."""
    app, shared = tmp_path / "app", tmp_path / "shared"
    app.mkdir()
    shared.mkdir()
    (app / "real.yaml").write_text(POD, encoding="utf-8")
    (app / "real.yaml").chmod(0o640)
    (app / "link.yaml").symlink_to("real.yaml")
    (shared / "base.yaml").write_text(POD.replace("name: web\n", "name: base\n", 1), encoding="utf-8")
    (app / "shared.yaml").symlink_to(Path("..") / "shared" / "base.yaml")
    return tmp_path


def test_a_link_beside_its_target_is_fixed_once_through_the_link(linked, capsys):
    app = linked / "app"
    assert run("--unsafe", "--only", "KH-POD-004", "--", str(app)) == 0
    err = capsys.readouterr().err
    assert (app / "link.yaml").is_symlink() and Path((app / "link.yaml").readlink()) == Path("real.yaml")
    assert (app / "real.yaml").read_text(encoding="utf-8") == POD.replace("privileged: true", "privileged: false")
    assert (app / "real.yaml").stat().st_mode & 0o777 == 0o640
    assert len(re.findall(r"^fixed .*KH-POD-004 Pod/default/web ", err, re.M)) == 1
    assert f"wrote {app / 'real.yaml'} (also reached as {app / 'link.yaml'})" in err
    assert "defined again" not in err  # the link is not read as a second copy of the Pod


def test_a_link_out_of_the_given_paths_is_left_alone_with_its_target_named(linked, capsys):
    base = linked / "shared" / "base.yaml"
    before = base.read_text(encoding="utf-8")
    assert run("--unsafe", "--only", "KH-POD-004", "--", str(linked / "app")) == 0
    assert base.read_text(encoding="utf-8") == before and (linked / "app" / "shared.yaml").is_symlink()
    assert f"a symbolic link to {base}, outside the given paths: left alone" in capsys.readouterr().err


def test_a_link_named_on_the_command_line_is_written_through(linked, capsys):
    link, base = linked / "app" / "shared.yaml", linked / "shared" / "base.yaml"
    assert run("--unsafe", "--only", "KH-POD-004", "--", str(link)) == 0
    assert link.is_symlink() and "privileged: false" in base.read_text(encoding="utf-8")
    assert f"wrote {base} (through the link {link})" in capsys.readouterr().err
    assert not [p.name for p in base.parent.iterdir() if p.name.endswith(".tmp")]  # no temporary file left


def test_a_diff_of_a_linked_file_shows_it_once(linked, capsys):
    assert run("--unsafe", "--diff", "--only", "KH-POD-004", "--", str(linked / "app")) == 1
    assert capsys.readouterr().out.count("+        privileged: false") == 1


# --- byte-order mark and line ends ------------------------------------------------------------------

BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_byte_order_mark_and_the_line_ends_are_kept(newline, tmp_path):
    yaml_path, json_path = tmp_path / "pod.yaml", tmp_path / "pod.json"
    yaml_path.write_bytes(BOM + POD.replace("\n", newline).encode("utf-8"))
    pod_json = '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "json"}, "spec": {"containers": [\n' \
               '  {"name": "json", "image": "registry.example.com/j:1", "securityContext": {"privileged": true}}]}}\n'
    json_path.write_bytes(BOM + pod_json.replace("\n", newline).encode("utf-8"))
    assert run("--unsafe", "--only", "KH-POD-004", "--", str(tmp_path)) == 0
    fixed = POD.replace("privileged: true", "privileged: false")
    assert yaml_path.read_bytes() == BOM + fixed.replace("\n", newline).encode("utf-8")
    assert json_path.read_bytes() == BOM + pod_json.replace('"privileged": true', '"privileged": false') \
        .replace("\n", newline).encode("utf-8")


# --- JSON stays JSON, in its own style ---------------------------------------------------------------

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "api", "labels": {"app": "api", "zone": "é"}},
              "spec": {"selector": {"matchLabels": {"app": "api"}},
                       "template": {"metadata": {"labels": {"app": "api"}},
                                    "spec": {"containers": [{"name": "api", "image": "registry.example.com/api:1",
                                                             "ports": [{"containerPort": 8080}],
                                                             "securityContext": {"privileged": True,
                                                                                 "runAsUser": 1000}}]}}}}
FIXES = ("--unsafe", "--only", "KH-POD-004", "KH-POD-011", "KH-POD-012", "--")


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    return [x[2:] for x in diff if x.startswith("- ")], [x[2:] for x in diff if x.startswith("+ ")]


@pytest.mark.parametrize("indent", [None, 2, 4])
def test_a_json_manifest_is_fixed_as_json_in_its_own_indentation(indent, tmp_path):
    separators = (",", ":") if indent is None else (",", ": ")
    before = json.dumps(DEPLOYMENT, indent=indent, separators=separators, ensure_ascii=False) + "\n"
    path = tmp_path / "api.json"
    path.write_text(before, encoding="utf-8")
    assert run(*FIXES, str(path)) == 0
    after = path.read_text(encoding="utf-8")
    data = json.loads(after)
    context = data["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert context == {"privileged": False, "runAsUser": 1000, "allowPrivilegeEscalation": False,
                       "capabilities": {"drop": ["ALL"]}}
    assert list(data) == list(DEPLOYMENT)  # key order kept
    expected = copy.deepcopy(DEPLOYMENT)
    expected["spec"]["template"]["spec"]["containers"][0]["securityContext"] = context
    # the whole file is what json.dumps writes in the input's style: compact stays compact, and so on
    assert after == json.dumps(expected, indent=indent, separators=separators, ensure_ascii=False) + "\n"
    if indent is not None:
        removed, added = changed_lines(before, after)
        assert [x.strip() for x in removed] == ['"privileged": true,', '"runAsUser": 1000']


def test_untouched_json_keeps_its_bytes_even_in_a_style_of_its_own(tmp_path):
    before = ('{\n  "apiVersion": "v1",\n  "kind": "Pod",\n  "metadata": {"name": "web",   "labels": {"a": "b"}},\n'
              '  "spec": {"containers": [{"name": "web", "image": "registry.example.com/w:1",\n'
              '    "securityContext": {"privileged": true}}], "dnsPolicy": "ClusterFirst"}\n}\n')
    path = tmp_path / "pod.json"
    path.write_text(before, encoding="utf-8")
    assert run("--unsafe", "--only", "KH-POD-004", "--", str(path)) == 0
    assert path.read_text(encoding="utf-8") == before.replace('"privileged": true', '"privileged": false')


# --- lines the fix did not change keep their bytes ---------------------------------------------------

MIXED = textwrap.dedent("""\
    # shop frontend
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      labels: {app:  web,   tier: front}   # flow style, odd spacing
    spec:
      selector:
        matchLabels:
          app: web
      template:
        metadata:
          labels:
            app: web
        spec:
          containers:
          - name: web            # flush under its key
            image: "registry.example.com/web:1.0"
            command:
            - /bin/web --config /etc/web/config.yaml
              --log-format json      # one plain scalar folded over two lines
            args:
                - --port=8080     # indented by four
                - --verbose
            ports:
              - containerPort: 8080   # indented by two
                protocol: TCP
            securityContext:
              privileged: true
              runAsUser: 1000
          - name: sidecar
            image: registry.example.com/side:2
            env:
            -   name: MODE
                value: 'strict'
          volumes:
          - name: cache
            emptyDir: { }
    """)


def test_a_mixed_indentation_document_changes_only_in_the_lines_of_the_fix(tmp_path, capsys):
    path = tmp_path / "web.yaml"
    path.write_text(MIXED, encoding="utf-8")
    assert run(*FIXES, str(path)) == 0
    assert "warning" not in capsys.readouterr().err
    removed, added = changed_lines(MIXED, path.read_text(encoding="utf-8"))
    assert removed == ["          privileged: true"]
    assert added == ["          privileged: false",
                     # web: runs as UID 1000, so drop ALL and no privilege escalation, after its fields
                     "          capabilities:", "            drop:", "            - ALL",
                     "          allowPrivilegeEscalation: false",
                     # sidecar: a new securityContext in the container's own indentation
                     "        securityContext:", "          allowPrivilegeEscalation: false",
                     "          capabilities:", "            drop:", "            - ALL"]


def test_a_json_mapping_with_a_key_twice_is_left_alone(tmp_path, capsys):
    text = '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": {"containers": [' \
           '{"name": "web", "image": "r.example.com/w:1", "securityContext": {"privileged": true, "privileged": true}}]}}\n'
    path = tmp_path / "pod.json"
    path.write_text(text, encoding="utf-8")
    assert run("--unsafe", "--only", "KH-POD-004", "--", str(path)) == 3
    assert path.read_text(encoding="utf-8") == text
    assert f"{path}: left alone: cannot be loaded for editing: the key 'privileged' is written twice" in \
        capsys.readouterr().err


def test_json_the_splice_cannot_place_is_written_whole_in_its_style_with_a_warning(tmp_path, monkeypatch, capsys):
    import kubeharden.fix.jsonedit as jsonedit
    monkeypatch.setattr(jsonedit, "_diff", lambda *args: None)  # a splice that changes nothing
    before = json.dumps(DEPLOYMENT, indent=2) + "\n"
    path = tmp_path / "api.json"
    path.write_text(before, encoding="utf-8")
    assert run("--unsafe", "--only", "KH-POD-004", "--", str(path)) == 0
    assert path.read_text(encoding="utf-8") == before.replace('"privileged": true', '"privileged": false')
    assert "written again whole in its own indentation" in capsys.readouterr().err


def test_keep_unchanged_lines_gives_a_kept_last_line_its_line_end_when_lines_follow():
    from kubeharden.fix.keeplines import keep_unchanged_lines
    assert keep_unchanged_lines("a:   1\nb: 2", "a: 1\nb: 2\nc: 3") == "a:   1\nb: 2\nc: 3"
    assert keep_unchanged_lines("a:   1\r\nb: 2", "a: 1\r\nc: 3\r\nb: 2") == "a:   1\r\nc: 3\r\nb: 2"


# --- charts: the values change where a value holds the field ----------------------------------------

CHART_TEMPLATE = """\
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
          image: {{ .Values.image }}
          securityContext:
            {{- toYaml .Values.securityContext | nindent 12 }}
"""


def test_a_chart_writing_a_values_mapping_whole_gets_the_values_key_to_add(tmp_path, capsys):
    chart = tmp_path / "web"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("securityContext:\n  privileged: true\nimage: registry.example.com/web:1.0\n")
    (chart / "templates" / "deployment.yaml").write_text(CHART_TEMPLATE)
    run("--unsafe", str(chart))
    err = capsys.readouterr().err
    values = chart / "values.yaml"
    assert f"KH-POD-004 Deployment/default/web: set .Values.securityContext.privileged to false in {values}:2" in err
    assert f"KH-POD-001 Deployment/default/web: set .Values.securityContext.runAsNonRoot to true in {values}:1" in err
    assert f'KH-POD-012 Deployment/default/web: add ["ALL"] to .Values.securityContext.capabilities.drop in {values}:1' \
        in err
    assert "set .Values.securityContext to" not in err  # never the whole mapping replaced by one field's value
    # a field no value drives: the template line
    assert f"set spec.template.spec.automountServiceAccountToken false: in {chart / 'templates' / 'deployment.yaml'}:" \
        in err


@pytest.mark.parametrize("values_path, fix_path, finding_path, expected", [
    ("worker.privileged", "spec.containers[0].securityContext.privileged", None, None),
    ("worker.privileged", "spec.containers[0].securityContext.privileged",
     "spec.containers[0].securityContext.privileged", "worker.privileged"),
    ("sc", "spec.containers[0].sc.runAsNonRoot", "spec.containers[0].sc.runAsNonRoot", "sc.runAsNonRoot"),
    # the value is the container's securityContext, the fix writes the pod's: not said in values terms
    ("securityContext", "spec.securityContext.seccompProfile", "spec.containers[0].securityContext.seccompProfile",
     None),
    ("image.repository and .Values.image.tag", "spec.containers[0].image", "spec.containers[0].image", None),
    ("containers[].securityContext", "spec.containers[0].securityContext.privileged",
     "spec.containers[0].securityContext.privileged", None),
    ("pod", "spec.pod.containers[0].privileged", "spec.pod.containers[0].privileged", None),
])
def test_values_field(values_path, fix_path, finding_path, expected):
    from kubeharden.fix.plan import values_field
    assert values_field(values_path, fix_path, finding_path) == expected


@pytest.mark.skipif(shutil.which("kubectl") is None,
                    reason="kubectl is not on PATH: Kustomize folders are built with kubectl kustomize")
def test_an_overlay_gets_the_patch_line_or_the_base_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "base").mkdir()
    (tmp_path / "overlay").mkdir()
    (tmp_path / "base" / "kustomization.yaml").write_text("resources:\n- deployment.yaml\n")
    (tmp_path / "base" / "deployment.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector: {matchLabels: {app: web}}\n"
        "  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: web\n"
        "        image: registry.example.com/web:1.0\n")
    (tmp_path / "overlay" / "kustomization.yaml").write_text("resources:\n- ../base\npatches:\n- path: patch.yaml\n")
    (tmp_path / "overlay" / "patch.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
        "      containers:\n      - name: web\n        securityContext:\n          privileged: true\n")
    monkeypatch.chdir(tmp_path)
    before = {p: p.read_text() for p in tmp_path.rglob("*.yaml")}
    run("--unsafe", "overlay")
    err = capsys.readouterr().err
    assert "KH-POD-004 Deployment/default/web: set spec.template.spec.containers[0].securityContext.privileged " \
           "false: in the patch at overlay/patch.yaml:11" in err
    assert "KH-POD-024 Deployment/default/web: set spec.template.spec.automountServiceAccountToken false: " \
           "in base/deployment.yaml:" in err
    assert {p: p.read_text() for p in tmp_path.rglob("*.yaml")} == before  # proposals only


# --- a mapping indented by four inside a file indented by two (review of the fix output) -------------

NESTED_BY_FOUR = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      namespace: shop
    spec:
      selector:
        matchLabels:
          app: web
      template:
        metadata:
          labels:
            app: web
        spec:
          securityContext:
              runAsNonRoot: true     # children indented by four
              runAsUser: 1000
          containers:
          - name: web
            image: registry.example.com/web:1
            ports:
                - containerPort: 8080   # items indented by four
          - name: side
            image: registry.example.com/side:1
    """)


def test_a_mapping_indented_by_four_keeps_its_lines_and_new_keys_go_beside_their_siblings(tmp_path, capsys):
    path = tmp_path / "web.yaml"
    path.write_text(NESTED_BY_FOUR, encoding="utf-8")
    assert run("--only", "KH-POD-011", "KH-POD-012", "--", str(path)) == 0
    assert "warning" not in capsys.readouterr().err
    after = path.read_text(encoding="utf-8")
    removed, added = changed_lines(NESTED_BY_FOUR, after)
    assert removed == []
    # the new securityContext of web is a key of the container (beside ports:), not of the port item
    new_context = ["        securityContext:", "          allowPrivilegeEscalation: false",
                   "          capabilities:", "            drop:", "            - ALL"]
    assert added == new_context * 2
    assert after.index("    - containerPort: 8080") < after.index(new_context[0]) < after.index("  - name: side")


def test_keep_unchanged_lines_places_a_new_key_beside_a_list_not_in_its_item():
    from kubeharden.fix.keeplines import keep_unchanged_lines
    original = "ports:\n    - port: 1\nname: a\n"
    dumped = "ports:\n- port: 1\nlabels: {}\nname: a\n"
    assert keep_unchanged_lines(original, dumped) == "ports:\n    - port: 1\nlabels: {}\nname: a\n"
    # a key added inside a list item goes beside the item's own keys, in the file's spacing after "- "
    assert keep_unchanged_lines("-   name: a\n", "- name: a\n  image: b\n") == "-   name: a\n    image: b\n"
    # and a key added to a mapping whose children the file indents by four goes in at four
    assert keep_unchanged_lines("sc:\n    a: 1\n", "sc:\n  a: 1\n  b: 2\n") == "sc:\n    a: 1\n    b: 2\n"
