"""KH-POD-026: pods running as their namespace's default ServiceAccount."""

from __future__ import annotations

import pytest

from conftest import scan


def _deployment(spec_lines: str) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: shop}}
spec:
  template:
    spec:
{spec_lines}      containers:
        - {{name: web, image: registry.example.com/web:1}}
"""


def _findings(text: str):
    findings, result = scan(text, only=["KH-POD-026"])
    assert not [p for p in result.problems if p.level == "error"]
    return findings


def test_unset_service_account_is_the_default_one():
    (f,) = _findings(_deployment(""))
    assert "no serviceAccountName is set" in f.message and f.resource.name == "web"
    assert f.severity.label == "low" and "spec.serviceAccountName" in f.remediation


@pytest.mark.parametrize("key", ["serviceAccountName", "serviceAccount"])
def test_naming_default_explicitly_is_reported_at_its_line(key):
    (f,) = _findings(_deployment(f"      {key}: default\n"))
    assert f.line == 8 and f"{key} names the namespace's default" in f.message


@pytest.mark.parametrize("lines", ["      serviceAccountName: web\n", "      serviceAccount: web\n",
                                   "      serviceAccountName: web\n      serviceAccount: default\n"])
def test_dedicated_service_account_passes(lines):
    assert _findings(_deployment(lines)) == []


def test_empty_name_means_default():
    assert len(_findings(_deployment("      serviceAccountName: ''\n"))) == 1


def test_no_token_still_shares_the_identity():
    assert len(_findings(_deployment("      automountServiceAccountToken: false\n"))) == 1


def test_every_pod_kind_including_cronjob_and_bare_pod():
    cron = """
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: shop}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - {name: job, image: registry.example.com/job:1}
---
apiVersion: v1
kind: Pod
metadata: {name: bare, namespace: shop}
spec:
  serviceAccountName: bare
  containers:
    - {name: app, image: registry.example.com/app:1}
"""
    assert [f.resource.name for f in _findings(cron)] == ["nightly"]
