"""Template detection by parsing: only a document that does not load *and* has {{ }} is a template."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeharden.sources.files import parse_bytes, read_objects

from conftest import ids, scan

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"

PRIVILEGED = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: agent, namespace: monitoring}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata:
      labels: {app: agent}
      annotations:
        vault.hashicorp.com/agent-inject-template-db: |
          {{- with secret "database/creds/app" -}}
          {{ .Data.username }}
          {{- end }}
    spec:
      containers:
      - name: agent
        image: registry.example/agent:1.0
        securityContext: {privileged: true}
"""

ALERTS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: alerts, namespace: monitoring}
data:
  rules.yaml: |
    summary: "{{ $labels.instance }} is down"
  dashboard.json: '{"title": "{{ cluster }}"}'
"""


def split(items):
    return [i for i in items if hasattr(i, "raw")], [i for i in items if not hasattr(i, "raw")]


def test_valid_yaml_with_template_markers_in_strings_is_scanned():
    text = ALERTS + "---\n" + PRIVILEGED
    findings, result = scan(text)
    assert result.objects == 2
    assert "KH-POD-004" in ids(findings)
    assert not result.problems


def test_a_template_document_is_skipped_and_the_others_are_kept():
    template = "{{- if .Values.enabled }}\napiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\n{{- end }}\n"
    text = ALERTS + "---\n" + template + "---\n" + PRIVILEGED
    objs, problems = split(list(parse_bytes(text.encode(), "mixed.yaml")))
    assert [o.kind for o in objs] == ["ConfigMap", "Deployment"]
    assert [(p.level, p.kind, p.line) for p in problems] == [("note", "skipped", 9)]
    # the Deployment keeps its real line numbers after the resynchronisation
    deployment = objs[1]
    assert deployment.origin.line == 16
    assert deployment.line(deployment.raw["spec"], "template") == 21


def test_a_broken_document_without_template_markers_is_an_error_and_the_rest_is_read():
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a\ndata: {}\n---\n" + PRIVILEGED
    objs, problems = split(list(parse_bytes(text.encode(), "broken.yaml")))
    assert [o.kind for o in objs] == ["Deployment"]
    assert [(p.level, p.kind) for p in problems] == [("error", "parse")]
    assert problems[0].line == 3
    assert objs[0].origin.line == 6


def test_a_template_whose_value_is_a_flow_mapping_is_a_template_not_an_error():
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
    objs, problems = split(list(parse_bytes(text.encode(), "cm.yaml")))
    assert not objs and [(p.level, p.kind) for p in problems] == [("note", "skipped")]


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not beside this checkout")
def test_kube_prometheus_dashboards_are_all_read():
    path = CORPUS / "kube-prometheus" / "manifests" / "grafana-dashboardDefinitions.yaml"
    objs, problems = split(list(read_objects([str(path)])))
    assert len(objs) == 33 and {o.kind for o in objs} == {"ConfigMap"}
    assert not [p for p in problems if p.level == "error"]
