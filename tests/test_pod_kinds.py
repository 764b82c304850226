"""Every pod-level catalogue example judged the same in every pod-bearing kind.

Each example that is one pod-bearing object is rewritten as each kind of
``model/pods.py`` POD_TEMPLATE_PATHS (where the pod template sits in each kind, per the
Kubernetes API reference of Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
ReplicationController, Job, CronJob and PodTemplate); the findings must be the same,
with paths that differ only by where the template sits.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from conftest import scan
from test_catalogue import EXAMPLE_CONFIG

from kubeharden.catalogue.loader import load_catalogue
from kubeharden.model.fieldpath import relative_to
from kubeharden.model.pods import POD_TEMPLATE_PATHS

API_VERSIONS = {"Pod": "v1", "Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1",
                "ReplicaSet": "apps/v1", "ReplicationController": "v1", "Job": "batch/v1", "CronJob": "batch/v1",
                "PodTemplate": "v1"}
#: Fields the API server requires beside the template, with harmless values.
REQUIRED: dict[str, dict[str, Any]] = {"CronJob": {"schedule": "0 3 * * *"}, "StatefulSet": {"serviceName": "web"}}
SELECTED = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
#: Fields of the object itself, not of its pod template (for a Pod, both are the same place).
OBJECT_FIELDS = ("metadata.name", "metadata.namespace")


def test_every_pod_bearing_kind_is_covered():
    assert set(API_VERSIONS) == set(POD_TEMPLATE_PATHS)


def split(obj: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(object metadata, pod template metadata, pod spec) of a pod-bearing object."""
    meta = dict(obj.get("metadata") or {})
    node: Any = obj
    for step in POD_TEMPLATE_PATHS[obj["kind"]]:
        node = node[step]
    if obj["kind"] == "Pod":
        outer = {k: meta[k] for k in ("name", "namespace") if k in meta}
        return outer, {k: v for k, v in meta.items() if k not in outer}, node["spec"]
    return meta, dict(node.get("metadata") or {}), node["spec"]


def as_kind(kind: str, outer: dict[str, Any], template_meta: dict[str, Any], spec: dict[str, Any]) -> str:
    if kind == "Pod":
        return yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": {**outer, **template_meta},
                               "spec": spec}, sort_keys=False)
    labels = template_meta.get("labels") or {"app": "kh-variant"}
    template = {"metadata": {**template_meta, "labels": labels}, "spec": spec}
    body: dict[str, Any] = dict(REQUIRED.get(kind, {}))
    if kind in SELECTED:
        body["selector"] = {"matchLabels": dict(labels)}
    root: dict[str, Any] = {"apiVersion": API_VERSIONS[kind], "kind": kind, "metadata": outer}
    *parents, last = POD_TEMPLATE_PATHS[kind]
    node = root
    for step in parents:
        node = node.setdefault(step, body if step == "spec" and node is root else {})
    node[last] = template
    if kind == "PodTemplate":
        root.pop("spec", None)
    elif "spec" not in root:
        root["spec"] = body
    return yaml.safe_dump(root, sort_keys=False)


def pod_examples() -> list[tuple[str, str, str]]:
    out = []
    for control in load_catalogue():
        if control.scope not in ("container", "pod"):
            continue
        examples = [(f"fail-{n}", e) for n, e in enumerate(control.fail_examples, 1)] + [("pass", control.example_pass)]
        for label, text in examples:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
            if len(docs) == 1 and docs[0].get("kind") in POD_TEMPLATE_PATHS:
                out.append((control.id, label, text))
    return out


EXAMPLES = pod_examples()


def judged(text: str, control_id: str, kind: str) -> list[tuple[Any, ...]]:
    findings, result = scan(text, EXAMPLE_CONFIG, only=[control_id])
    assert not [p for p in result.problems if p.level == "error"], (kind, [p.message for p in result.problems])
    root = ".".join(POD_TEMPLATE_PATHS[kind])

    def rel(path: str) -> str:
        if path in OBJECT_FIELDS:
            return path
        inside = relative_to(path, root)
        return path if inside is None else f"<template>.{inside}"

    return sorted((f.control.id, f.container_id or "", f.status, f.message, rel(f.path),
                   None if f.fix is None else (f.fix.op, rel(f.fix.path), repr(f.fix.value), f.fix.safe))
                  for f in findings)


def test_enough_examples_are_pod_level():
    assert len({c for c, _, _ in EXAMPLES}) >= 35


@pytest.mark.parametrize(("control_id", "label", "text"), EXAMPLES, ids=[f"{c}-{n}" for c, n, _ in EXAMPLES])
def test_same_findings_in_every_pod_bearing_kind(control_id, label, text):
    obj = yaml.safe_load(text)
    parts = split(obj)
    expected = judged(as_kind("Pod", *parts), control_id, "Pod")
    if label.startswith("fail"):
        assert expected, f"{control_id} {label}: the Pod form finds nothing"
    for kind in POD_TEMPLATE_PATHS:
        variant = as_kind(kind, *parts)
        assert judged(variant, control_id, kind) == expected, f"{control_id} {label} as {kind}:\n{variant}"
