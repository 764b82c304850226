"""Helm charts as inputs: rendered offline, findings traced to template, values path and values line.

The charts are written here from the Helm documentation (https://helm.sh/docs/topics/charts/,
https://helm.sh/docs/chart_template_guide/); the corpus chart is microservices-demo's.
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest

from kubeharden.cli import main
from kubeharden.exitcodes import INPUT_ERRORS, OK
from kubeharden.model.findings import Problem
from kubeharden.sources.files import ReadOptions
from kubeharden.sources.helm import HelmOptions, claims, read

CORPUS_CHART = Path("/work/shared/corpus/microservices-demo/helm-chart")

CHART = "apiVersion: v2\nname: web\nversion: 0.1.0\n"
VALUES = """\
worker:
  privileged: false
  securityContext:
    runAsNonRoot: true
hostNetwork: false
"""
# line numbers below are asserted: keep the layout
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-worker
spec:
  selector:
    matchLabels: {app: worker}
  template:
    metadata:
      labels: {app: worker}
    spec:
      {{- if .Values.hostNetwork }}
      hostNetwork: true
      {{- end }}
      containers:
      - name: worker
        image: "registry.example.com/worker:1.0"
        securityContext:
          privileged: {{ .Values.worker.privileged }}
          {{- with .Values.worker.securityContext }}
          {{- toYaml . | nindent 10 }}
          {{- end }}
"""


def write_chart(root: Path, templates: dict[str, str] | None = None, values: str = VALUES, chart: str = CHART) -> Path:
    (root / "templates").mkdir(parents=True, exist_ok=True)
    (root / "Chart.yaml").write_text(chart)
    (root / "values.yaml").write_text(values)
    for name, text in (templates or {"deployment.yaml": DEPLOYMENT}).items():
        (root / "templates" / name).write_text(text)
    return root


def scan(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["scan", "--no-config", "-f", "json", "--fail-on", "none", *argv])
    return code, json.loads(capsys.readouterr().out)


def by_control(report: dict, control: str) -> list[dict]:
    return [f for f in report["findings"] if f["control_id"] == control]


def test_claims_a_chart_folder_and_a_packaged_chart(tmp_path):
    chart = write_chart(tmp_path / "web")
    assert claims(str(chart)) and not claims(str(tmp_path)) and not claims("-")
    packaged = tmp_path / "web-0.1.0.tgz"
    with tarfile.open(packaged, "w:gz") as tar:
        tar.add(chart, arcname="web")
    assert claims(str(packaged))


def test_a_values_driven_field_names_template_line_values_path_and_values_line(tmp_path, capsys):
    chart = write_chart(tmp_path / "web")
    prod = tmp_path / "prod.yaml"
    prod.write_text("# production\nworker:\n  privileged: true\n")
    code, report = scan(capsys, str(chart), "--values", str(prod))
    assert code == OK
    [finding] = by_control(report, "KH-POD-004")
    assert finding["file"] == str(chart / "templates" / "deployment.yaml") and finding["line"] == 19
    assert finding["source"] == "helm"
    trace = finding["trace"]
    assert trace["template"] == "web/templates/deployment.yaml" and trace["input"] == str(chart)
    assert (trace["values_path"], trace["values_file"], trace["values_line"]) == \
        ("worker.privileged", str(prod), 3)


def test_defaults_trace_to_the_charts_values_yaml_and_set_to_the_command_line(tmp_path, capsys):
    chart = write_chart(tmp_path / "web", values=VALUES.replace("privileged: false", "privileged: true"))
    _, report = scan(capsys, str(chart))
    [finding] = by_control(report, "KH-POD-004")
    assert (finding["trace"]["values_file"], finding["trace"]["values_line"]) == (str(chart / "values.yaml"), 2)
    chart2 = write_chart(tmp_path / "web2")
    _, report = scan(capsys, str(chart2), "--set", "worker.privileged=true")
    [finding] = by_control(report, "KH-POD-004")
    assert (finding["trace"]["values_file"], finding["trace"]["values_line"]) == ("--set", None)


def test_to_yaml_of_a_with_block_is_refined_to_the_field(tmp_path, capsys):
    values = VALUES.replace("runAsNonRoot: true", "runAsNonRoot: false")
    chart = write_chart(tmp_path / "web", values=values)
    _, report = scan(capsys, str(chart))
    findings = [f for f in report["findings"] if f["path"].endswith("securityContext.runAsNonRoot")]
    assert findings, report["findings"]
    trace = findings[0]["trace"]
    assert findings[0]["line"] == 21  # the toYaml line
    assert (trace["values_path"], trace["values_line"]) == ("worker.securityContext.runAsNonRoot", 4)


def test_a_literal_under_a_condition_names_the_condition(tmp_path, capsys):
    chart = write_chart(tmp_path / "web")
    _, report = scan(capsys, str(chart), "--set", "hostNetwork=true")
    [finding] = [f for f in report["findings"] if f["path"].endswith("hostNetwork")]
    assert finding["line"] == 13
    assert finding["trace"]["values_path"] == "hostNetwork" and finding["trace"]["values_file"] == "--set"


def test_a_missing_field_is_not_blamed_on_the_value_of_its_neighbour(tmp_path, capsys):
    chart = write_chart(tmp_path / "web")
    _, report = scan(capsys, str(chart), "--set", "worker.privileged=true")
    missing = [f for f in report["findings"] if f["path"].endswith("readOnlyRootFilesystem")]
    assert missing and all(f["trace"]["values_path"] is None for f in missing)


def test_values_matrix_reports_each_values_set(tmp_path, capsys):
    chart = write_chart(tmp_path / "web")
    prod = tmp_path / "prod.yaml"
    prod.write_text("worker:\n  privileged: true\n")
    code, report = scan(capsys, str(chart), "--values-matrix", str(chart / "values.yaml"), str(prod))
    assert code == OK
    privileged = by_control(report, "KH-POD-004")
    assert [f["trace"]["values_set"] for f in privileged] == [str(prod)]  # safe by default, unsafe in prod
    sets = {f["trace"]["values_set"] for f in report["findings"] if "trace" in f}
    assert sets == {str(chart / "values.yaml"), str(prod)}
    assert not [e for e in report["errors"] if e["kind"] == "duplicate-object"]


def test_release_name_namespace_and_capabilities_reach_the_templates(tmp_path):
    template = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
data:
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  monitoring: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" | quote }}
"""
    chart = write_chart(tmp_path / "web", {"cm.yaml": template})
    opts = HelmOptions(release_name="shop", kube_version="1.29.3", api_versions=("monitoring.coreos.com/v1",))
    [obj] = list(read(str(chart), ReadOptions(namespace="prod", source_options={"helm": opts})))
    assert (obj.name, obj.namespace) == ("shop", "prod")
    assert obj.raw["data"] == {"kube": "v1.29.3", "monitoring": "true"}


def test_a_subchart_value_traces_to_the_parent_key_and_the_subcharts_defaults(tmp_path, capsys):
    parent = write_chart(tmp_path / "app", {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\n"},
                         chart=CHART.replace("web", "app") + "dependencies:\n- name: web\n  version: 0.1.0\n",
                         values="web:\n  worker:\n    privileged: true\n")
    write_chart(parent / "charts" / "web")
    _, report = scan(capsys, str(parent))
    [finding] = by_control(report, "KH-POD-004")
    assert finding["file"] == str(parent / "charts" / "web" / "templates" / "deployment.yaml")
    assert (finding["trace"]["values_path"], finding["trace"]["values_file"], finding["trace"]["values_line"]) == \
        ("web.worker.privileged", str(parent / "values.yaml"), 3)


def test_a_packaged_chart_is_rendered(tmp_path, capsys):
    chart = write_chart(tmp_path / "web", values=VALUES.replace("privileged: false", "privileged: true"))
    packaged = tmp_path / "web-0.1.0.tgz"
    with tarfile.open(packaged, "w:gz") as tar:
        tar.add(chart, arcname="web")
    _, report = scan(capsys, str(packaged))
    [finding] = by_control(report, "KH-POD-004")
    assert finding["file"] == f"{packaged}#web/templates/deployment.yaml" and finding["line"] == 19


@pytest.mark.parametrize(("template", "said"), [
    ('{{ required "worker.image is required" .Values.worker.image }}\n', "worker.image is required"),
    ('{{- fail "set tls.enabled to true in production" }}\n', "set tls.enabled to true in production"),
])
def test_required_and_fail_stop_with_the_chart_and_cause_named(tmp_path, capsys, template, said):
    chart = write_chart(tmp_path / "web", {"x.yaml": template})
    code, report = scan(capsys, str(chart))
    assert code == INPUT_ERRORS
    [error] = [e for e in report["errors"] if e["kind"] == "helm"]
    assert "chart web cannot be rendered" in error["message"] and said in error["message"]
    assert "--values" in error["message"]
    assert error["file"] == str(chart / "templates" / "x.yaml") and error["line"] == 1


def test_a_missing_dependency_is_named_and_never_fetched(tmp_path, capsys):
    chart = write_chart(tmp_path / "web", chart=CHART + "dependencies:\n- name: redis\n  version: 19.0.0\n"
                        "  repository: https://charts.example.com\n")
    code, report = scan(capsys, str(chart))
    assert code == INPUT_ERRORS
    [error] = [e for e in report["errors"] if e["kind"] == "helm"]
    assert "redis 19.0.0 from https://charts.example.com" in error["message"]
    assert "helm dependency build" in error["message"]


@pytest.mark.parametrize(("content", "said"), [
    ("worker: [unclosed\n", "prod.yaml"),
    ("- a list\n", "must be a mapping"),
])
def test_a_bad_values_file_is_an_input_error(tmp_path, capsys, content, said):
    chart = write_chart(tmp_path / "web")
    bad = tmp_path / "prod.yaml"
    bad.write_text(content)
    code, report = scan(capsys, str(chart), "--values", str(bad))
    assert code == INPUT_ERRORS and said in " ".join(e["message"] for e in report["errors"])
    code, report = scan(capsys, str(chart), "--values", str(tmp_path / "absent.yaml"))
    assert code == INPUT_ERRORS and "cannot read values file" in report["errors"][0]["message"]


def test_not_a_chart_and_a_broken_archive_never_crash(tmp_path):
    broken = tmp_path / "x.tgz"
    broken.write_bytes(b"\x1f\x8b not really gzip")
    [problem] = list(read(str(broken), ReadOptions()))
    assert isinstance(problem, Problem) and problem.level == "error" and "not a readable Helm chart" in problem.message


def test_rbac_and_netpol_read_charts_through_the_same_seam(tmp_path, capsys):
    template = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: {{ .Release.Name }}-admin}
subjects: [{kind: ServiceAccount, name: worker, namespace: {{ .Release.Namespace }}}]
roleRef: {kind: ClusterRole, name: cluster-admin, apiGroup: rbac.authorization.k8s.io}
"""
    chart = write_chart(tmp_path / "web", {"deployment.yaml": DEPLOYMENT, "crb.yaml": template})
    assert main(["rbac", "who-can", "create", "pods", "-n", "shop", "--release-name", "r", str(chart)]) == OK
    assert "r-admin" in capsys.readouterr().out  # the binding rendered with the release name
    assert main(["generate", "netpol", "-n", "default", "--release-name", "r", str(chart)]) == OK
    assert "podSelector" in capsys.readouterr().out


@pytest.mark.skipif(not CORPUS_CHART.is_dir(), reason="the shared corpus is not on this machine")
def test_the_corpus_chart_renders_and_every_traced_line_is_a_template_line(capsys):
    code, report = scan(capsys, str(CORPUS_CHART))
    assert code == OK and report["summary"]["objects"] >= 30
    assert not report["errors"] and not [n for n in report["notes"] if n["kind"] == "helm"]
    for finding in report["findings"]:
        assert finding["file"].startswith(str(CORPUS_CHART / "templates")), finding
        lines = Path(finding["file"]).read_text().splitlines()
        assert finding["line"] is None or 1 <= finding["line"] <= len(lines)
    # `resources: {{- toYaml .Values.xService.resources | nindent 10 }}` in every service template
    resources = [f for f in report["findings"] if f["path"].endswith("resources.limits.ephemeral-storage")
                 and (f["trace"]["values_path"] or "").endswith(".resources")]
    assert len(resources) >= 10
    values = (CORPUS_CHART / "values.yaml").read_text().splitlines()
    for f in resources:
        assert f["trace"]["values_file"] == str(CORPUS_CHART / "values.yaml")
        assert values[f["trace"]["values_line"] - 1].strip() == "resources:"
        assert "toYaml .Values." in Path(f["file"]).read_text().splitlines()[f["line"] - 1]


def test_a_chart_among_manifests_gives_the_same_report_with_worker_processes(tmp_path, monkeypatch):
    from kubeharden.engine import parallel

    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    write_chart(tmp_path / "tree" / "web", values=VALUES.replace("privileged: false", "privileged: true"))
    (tmp_path / "tree" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    (tmp_path / "tree" / "z.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")
    reports = []
    for jobs in ("1", "2"):
        out = tmp_path / f"report-{jobs}.json"
        main(["scan", "--no-config", "-f", "json", "--fail-on", "none", "--jobs", jobs, "-o", str(out),
              str(tmp_path / "tree")])
        reports.append(out.read_bytes())
    assert reports[0] == reports[1]
    data = json.loads(reports[0])
    [finding] = by_control(data, "KH-POD-004")
    assert finding["trace"]["values_path"] == "worker.privileged"


def test_a_chart_sent_to_a_worker_is_handed_back_and_rendered_here(tmp_path, monkeypatch):
    """Should a chart reach a worker process (a file replaced by a chart after the plan looked), the worker gives
    it back unread and this process renders it: the Helm SDK's Go runtime does not survive a fork."""
    from dataclasses import replace

    from kubeharden.engine import parallel
    from kubeharden.sources import registry

    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    write_chart(tmp_path / "tree" / "web", values=VALUES.replace("privileged: false", "privileged: true"))
    for name in ("cm.yaml", "z.yaml"):
        (tmp_path / "tree" / name).write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name[0]}}}\n")
    pids = tmp_path / "helm-pids"
    here = os.getpid()

    def recorded(read):
        def read_here_only(path, options):
            with open(pids, "a") as log:
                log.write(f"{os.getpid()}\n")
            return read(path, options) if os.getpid() == here else iter(())  # never render in a fork
        return read_here_only

    monkeypatch.setattr(registry, "SOURCES", tuple(replace(s, read=recorded(s.read)) if s.name == "helm" else s
                                                   for s in registry.SOURCES))
    reports = []
    for jobs in ("1", "2"):
        if jobs == "2":  # the plan sends every unit, the chart too, to the workers
            monkeypatch.setattr(parallel, "_forkable", lambda path, folder, whole: path != "-")
        out = tmp_path / f"report-{jobs}.json"
        main(["scan", "--no-config", "-f", "json", "--fail-on", "none", "--jobs", jobs, "-o", str(out),
              str(tmp_path / "tree")])
        reports.append(out.read_bytes())
    assert reports[0] == reports[1]
    assert set(pids.read_text().split()) == {str(here)}
    assert by_control(json.loads(reports[1]), "KH-POD-004")


def test_the_plan_sends_no_chart_folder_to_the_workers(tmp_path, monkeypatch):
    from kubeharden.engine import parallel

    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    chart = write_chart(tmp_path / "tree" / "web")
    (tmp_path / "tree" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    (tmp_path / "tree" / "linked").symlink_to(chart, target_is_directory=True)
    asked: dict[str, bool] = {}
    real = parallel._forkable

    def forkable(path, folder, whole):
        asked[path] = real(path, folder, whole)
        return asked[path]

    monkeypatch.setattr(parallel, "_forkable", forkable)
    main(["scan", "--no-config", "-f", "json", "--fail-on", "none", "--jobs", "2", "-o", str(tmp_path / "r.json"),
          str(tmp_path / "tree")])
    assert asked == {str(chart): False, str(tmp_path / "tree" / "cm.yaml"): True,
                     str(tmp_path / "tree" / "linked"): False}


def test_sarif_and_table_say_which_value_to_change(tmp_path, capsys):
    import jsonschema

    chart = write_chart(tmp_path / "web")
    prod = tmp_path / "prod.yaml"
    prod.write_text("worker:\n  privileged: true\n")
    main(["scan", "--no-config", "-f", "sarif", "--fail-on", "none", "--control", "KH-POD-004", str(chart),
          "--values", str(prod)])
    log = json.loads(capsys.readouterr().out)
    schema = json.loads((Path(__file__).parent / "fixtures" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(log, schema)
    [result] = log["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 19
    [related] = result["relatedLocations"]
    assert related["physicalLocation"]["artifactLocation"]["uri"].endswith("prod.yaml")
    assert related["physicalLocation"]["region"]["startLine"] == 2
    assert "change .Values.worker.privileged" in result["message"]["text"]
    main(["scan", "--no-config", "--fail-on", "none", "--control", "KH-POD-004", str(chart), "--values", str(prod)])
    table = " ".join(capsys.readouterr().out.split())
    assert "from: value .Values.worker.privileged (set at" in table and "In the source: change" in table


TRICKY = """\
{{- define "web.labels" -}}
app: web
tier: {{ .Values.tier }}
{{- end }}
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    {{- include "web.labels" . | nindent 4 }}
spec:
  {{- if .Values.hostPID -}}
  {{- "\\n  hostPID: true" }}
  {{- end }}

  containers:
  - name: web
    image: {{ .Values.image.repository }}:{{ .Values.image.tag }}
    {{- with .Values.securityContext }}
    securityContext: {{- toYaml . | nindent 6 }}
    {{- end }}
"""


def test_trimming_named_templates_and_inline_with_keep_lines_exact(tmp_path):
    values = "tier: front\nhostPID: true\nimage: {repository: nginx, tag: '1.27'}\nsecurityContext:\n  privileged: true\n"
    chart = write_chart(tmp_path / "web", {"pod.yaml": TRICKY}, values=values)
    [pod] = list(read(str(chart), ReadOptions()))
    assert pod.raw["spec"]["hostPID"] is True and pod.raw["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert pod.line(pod.raw["metadata"], "labels") == 9
    assert pod.line(pod.raw["metadata"]["labels"], "tier") == 10  # a named template: the line that includes it
    container = pod.raw["spec"]["containers"][0]
    assert pod.line(container, "image") == 18
    assert pod.line(container["securityContext"], "privileged") == 20
    trace = pod.origin.at(20, "spec.containers[0].securityContext.privileged")
    assert (trace.values_path, trace.values_line) == ("securityContext.privileged", 5)
    image = pod.origin.at(18, "spec.containers[0].image")
    assert image.values_path == "image.repository and .Values.image.tag"  # every value the line reads


def test_a_template_whose_lines_cannot_be_aligned_is_said_not_guessed(tmp_path, monkeypatch):
    from kubeharden.sources import helm as helm_source

    chart = write_chart(tmp_path / "web")
    # an instrumentation that adds a line stands for any template whose two renders differ in lines
    monkeypatch.setattr(helm_source, "instrument", lambda text: "\n" + text)
    items = list(read(str(chart), ReadOptions()))
    [note] = [i for i in items if isinstance(i, Problem)]
    assert note.level == "note" and "could not be traced" in note.message
    [deployment] = [i for i in items if not isinstance(i, Problem)]
    assert deployment.origin.line is None and deployment.line(deployment.raw["spec"], "template") is None


def test_without_the_helm_sdk_the_message_says_what_to_install(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "helm_python", None)  # import fails as when it is not installed
    [problem] = list(read(str(write_chart(tmp_path / "web")), ReadOptions()))
    assert problem.level == "error" and "helm-python-sdk is not installed" in problem.message
    assert "pip install" in problem.message


def test_values_references_resolve_with_range_else_and_dollar():
    from kubeharden.sources.helm_templates import values_references

    template = """\
{{- with .Values.pod }}
hostIPC: {{ .hostIPC }}
{{- end }}
{{- if .Values.debug }}
command: [sleep]
{{- else }}
command: [serve]
{{- end }}
ports:
{{- range .Values.ports }}
- containerPort: {{ .port }}
  name: {{ $.Values.prefix }}
{{- end }}
"""
    refs = values_references(template)
    assert refs[2].used == ["pod.hostIPC"] and refs[2].key == "hostIPC"
    assert refs[5].conditions == ["debug"] and refs[7].conditions == ["debug"]  # both branches
    assert refs[11].used == ["ports[].port"] and refs[12].used == ["prefix"]
    assert refs[11].conditions == ["ports"]


def test_fix_proposes_the_values_change_for_a_chart_and_edits_nothing(tmp_path, capsys):
    chart = write_chart(tmp_path / "web", values="worker:\n  privileged: true\n")
    before = {p: p.read_text() for p in chart.rglob("*") if p.is_file()}
    main(["fix", "--no-config", "--unsafe", str(chart)])
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert f"set .Values.worker.privileged to false in {chart / 'values.yaml'}:2" in out
    assert "rendered from a chart or overlay" in out
    # a field no value drives: the template line that writes the object
    assert f"in {chart / 'templates' / 'deployment.yaml'}:" in out
    assert {p: p.read_text() for p in chart.rglob("*") if p.is_file()} == before  # proposals only


@pytest.mark.parametrize("fix, expected", [
    ("Set privileged: false", "Set privileged: false. In the source: "),
    ("Set privileged: false.", "Set privileged: false. In the source: "),
])
def test_the_change_hint_is_its_own_sentence(fix, expected):
    from kubeharden.model.objects import Provenance
    from kubeharden.report.trace import with_hint
    trace = Provenance(file="t.yaml", line=3, source="helm", values_path="a.b", values_file="values.yaml",
                       values_line=2)
    assert with_hint(fix, trace) == expected + "change .Values.a.b (values.yaml:2)."
    assert with_hint(fix, None) == fix


def test_a_chart_that_renders_nothing_says_so(tmp_path, capsys):
    chart = write_chart(tmp_path / "off", {"p.yaml": "{{- if .Values.on }}\napiVersion: v1\nkind: Pod\n"
                                                    "metadata: {name: p}\n{{- end }}\n"}, values="on: false\n")
    code, report = scan(capsys, str(chart))
    assert code == INPUT_ERRORS
    [error] = [e for e in report["errors"] if e["kind"] == "nothing-checked"]
    assert "the chart rendered no object with these values" in error["message"]
    assert "no .yaml" not in error["message"]


RANGE_CHART = {"d.yaml": """apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  {{- if .Values.init.enabled }}
  initContainers:
  - name: init
    image: busybox:1.36
    securityContext:
      privileged: true
  {{- end }}
  containers:
  {{- range .Values.containers }}
  - name: {{ .name }}
    image: "{{ $.Values.image.repository }}:{{ $.Values.image.tag }}"
    securityContext:
      privileged: {{ .privileged }}
  {{- end }}
"""}
RANGE_VALUES = """image:
  repository: nginx
  tag: latest
init:
  enabled: true
containers:
  - name: a
    privileged: false
  - name: b
    privileged: true
"""


def _traced(report: dict, control: str, part: str) -> dict:
    [finding] = [f for f in by_control(report, control) if part in f["path"]]
    return finding.get("trace") or {}


def test_a_value_inside_range_names_the_element_field_and_its_line(tmp_path, capsys):
    code, report = scan(capsys, str(write_chart(tmp_path / "c", RANGE_CHART, values=RANGE_VALUES)))
    trace = _traced(report, "KH-POD-004", "containers[1]")
    assert trace["values_path"] == "containers[].privileged"
    assert trace["values_line"] == 10  # the element's privileged: true, not the line of containers:


def test_several_values_on_a_line_are_all_named_never_a_wrong_single_one(tmp_path, capsys):
    code, report = scan(capsys, str(write_chart(tmp_path / "c", RANGE_CHART, values=RANGE_VALUES)))
    [finding] = [f for f in by_control(report, "KH-IMG-001") if "containers[0]" in f["path"]
                 and "init" not in f["path"]]
    assert "image.tag" in finding["trace"]["values_path"]
    assert finding["trace"]["values_path"] != "image.repository"


def test_a_condition_around_a_whole_container_is_not_the_value_to_change(tmp_path, capsys):
    code, report = scan(capsys, str(write_chart(tmp_path / "c", RANGE_CHART, values=RANGE_VALUES)))
    trace = _traced(report, "KH-POD-004", "initContainers[0]")
    assert trace.get("values_path") is None


POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: sub}\nspec:\n  containers:\n  - name: c\n    image: nginx:1.27\n"


def test_subcharts_with_an_alias_or_vendored_as_tgz_name_files_that_exist(tmp_path, capsys):
    parent = write_chart(tmp_path / "parent", {}, chart="apiVersion: v2\nname: parent\nversion: 0.1.0\n"
                         "dependencies:\n- name: c1\n  version: 0.1.0\n  alias: one\n- name: c2\n  version: 0.1.0\n")
    write_chart(parent / "charts" / "c1-folder", {"pod.yaml": POD},
                chart="apiVersion: v2\nname: c1\nversion: 0.1.0\n", values="{}\n")
    c2 = write_chart(tmp_path / "c2", {"pod.yaml": POD.replace("sub", "sub2")},
                     chart="apiVersion: v2\nname: c2\nversion: 0.1.0\n", values="{}\n")
    with tarfile.open(parent / "charts" / "c2-0.1.0.tgz", "w:gz") as tar:
        tar.add(c2, arcname="c2")
    code, report = scan(capsys, str(parent))
    files = {f["file"] for f in report["findings"] if f.get("file")}
    assert str(parent / "charts" / "c1-folder" / "templates" / "pod.yaml") in files
    assert str(parent / "charts" / "c2-0.1.0.tgz") + "#c2/templates/pod.yaml" in files
    for file in files:
        assert Path(file.split("#")[0]).is_file(), file


def test_a_values_matrix_scans_plain_manifests_once_and_tags_namespace_findings(tmp_path, capsys):
    chart = write_chart(tmp_path / "c", RANGE_CHART, values=RANGE_VALUES)
    prod = tmp_path / "prod.yaml"
    prod.write_text("containers:\n  - name: a\n    privileged: true\n")
    plain = tmp_path / "plain.yaml"
    plain.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: plain, namespace: other}\nspec:\n  containers:\n"
                     "  - name: c\n    image: nginx:1.27\n")
    code, report = scan(capsys, str(chart), str(plain), "--values-matrix", str(chart / "values.yaml"), str(prod))
    on_plain = [f for f in report["findings"] if f["file"] == str(plain) and f["control_id"] == "KH-POD-001"]
    assert len(on_plain) == 1 and "values_set" not in (on_plain[0].get("trace") or {})
    chart_net = [f for f in report["findings"] if f["control_id"] == "KH-NET-001" and "other" not in json.dumps(f)]
    assert {f["trace"]["values_set"] for f in chart_net} == {str(chart / "values.yaml"), str(prod)}


def test_values_without_a_chart_are_warned_about(tmp_path, capsys):
    plain = tmp_path / "plain.yaml"
    plain.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: plain}\nspec:\n  containers:\n"
                     "  - name: c\n    image: nginx:1.27\n")
    main(["scan", "--no-config", "-f", "json", "--fail-on", "none", str(plain), "--set", "a=b"])
    assert "--set given but no Helm chart is in the input" in capsys.readouterr().err


def test_a_render_error_names_the_values_set(tmp_path, capsys):
    chart = write_chart(tmp_path / "c", {"p.yaml": "{{ required \"need x\" .Values.x }}\n"}, values="{}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("y: 1\n")
    code, report = scan(capsys, str(chart), "--values-matrix", str(bad))
    assert any(f"with the values set {bad}" in e["message"] for e in report["errors"])


def test_no_render_names_the_chart_it_leaves_out(tmp_path, capsys):
    """--no-render: the chart is not rendered and not read, and a warning says so (never a silent pass)."""
    chart = write_chart(tmp_path / "web")
    code, report = scan(capsys, "--no-render", str(chart))
    [warning] = [e for e in report["errors"] if e["kind"] == "helm"]
    assert warning["level"] == "warning" and "not rendered (--no-render)" in warning["message"]
    assert warning["file"] == str(chart)
    assert report["summary"]["objects"] == 0 and not report["findings"]
