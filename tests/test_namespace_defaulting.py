"""Namespace-less manifests: one rule in every command, as ``kubectl apply -n NS -f`` places them."""

from __future__ import annotations

import json

import yaml

from kubeharden.cli import main

from conftest import ids, scan

APP = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: web}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: web
      containers: [{name: web, image: registry.example/web:1, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: web-reader}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: web-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: web-reader}
subjects: [{kind: ServiceAccount, name: web, namespace: shop}]
"""


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_workload_in_default_by_omission_is_reported_in_default():
    findings, _ = scan(APP)
    assert "KH-NS-002" in ids(findings)
    ns002 = [f for f in findings if f.control.id == "KH-NS-002"][0]
    assert ns002.resource.namespace == "default" and "sets no metadata.namespace" in ns002.message


def test_cluster_scoped_kinds_never_get_a_namespace(tmp_path, capsys):
    path = tmp_path / "app.yaml"
    path.write_text(APP)
    code, out, _ = run(capsys, "scan", "--no-config", "-n", "shop", "-f", "json", "--fail-on", "none", str(path))
    spaces = {(f["resource"]["kind"], f["resource"]["namespace"]) for f in json.loads(out)["findings"]}
    assert ("Deployment", "shop") in spaces
    assert all(ns is None for kind, ns in spaces if kind.startswith("Cluster"))
    assert "KH-NS-002" not in {f["control_id"] for f in json.loads(out)["findings"]}


def test_scan_rbac_netpol_and_generators_agree(tmp_path, capsys):
    path = tmp_path / "app.yaml"
    path.write_text(APP)
    # rbac: the binding names shop/web; with -n shop the Deployment runs as that account
    code, out, _ = run(capsys, "rbac", "who-can", "get", "secrets", "-n", "shop", "-f", "json", str(path))
    subjects = json.dumps(json.loads(out))
    assert "web" in subjects and "shop" in subjects
    code, out, err = run(capsys, "rbac", "can", "serviceaccount:shop:web", "-n", "shop", "-f", "json", str(path))
    assert code == 0 and "secrets" in out and "warning" not in err
    # without -n the same manifests land in default, and a warning names the namespace the bindings expect
    code, out, err = run(capsys, "rbac", "can", "serviceaccount:shop:web", "-f", "json", str(path))
    assert "scan with -n shop" in err
    # netpol: the workload is in shop
    code, out, _ = run(capsys, "netpol", "matrix", "-n", "shop", "-f", "json", str(path))
    ends = [end for e in json.loads(out) for end in (e["src"], e["dst"]) if "kind" in end]
    assert ends and {end["namespace"] for end in ends} == {"shop"}
    # generators: policies for shop, nothing for default
    code, out, _ = run(capsys, "generate", "netpol", "--no-config", "-n", "shop", str(path))
    namespaces = {d["metadata"]["namespace"] for d in yaml.safe_load_all(out) if d}
    assert namespaces == {"shop"}


def test_minus_n_contradicting_the_manifest_is_said(tmp_path, capsys):
    path = tmp_path / "app.yaml"
    path.write_text(APP.replace("metadata: {name: web}\nspec:\n  selector", "metadata: {name: web, namespace: other}\nspec:\n  selector"))
    code, out, _ = run(capsys, "scan", "--no-config", "-n", "shop", "-f", "json", "--fail-on", "none", str(path))
    said = [e for e in json.loads(out)["errors"] if e["kind"] == "namespace"]
    assert len(said) == 1 and "kubectl apply -n shop refuses this object" in said[0]["message"]
    # without -n, nothing to say; netpol's filtering -n says nothing either
    code, out, _ = run(capsys, "scan", "--no-config", "-f", "json", "--fail-on", "none", str(path))
    assert not [e for e in json.loads(out)["errors"] if "refuses this object" in e["message"]]


def test_cluster_scoped_objects_lose_a_written_namespace(capsys, tmp_path):
    from kubeharden.sources.files import parse_text
    objs = [o for o in parse_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, namespace: other}\n",
                                  "ns.yaml", namespace="x") if hasattr(o, "ref")]
    assert objs[0].ref.namespace is None and str(objs[0].ref) == "Namespace/shop"
