"""`kubeharden webhook serve` over real TLS on 127.0.0.1, and `webhook manifests`."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import yaml
from pki import make_pki
from serving import read_until, serving

from kubeharden.cli import main
from kubeharden.config import Config
from kubeharden.enforce.admission import AdmissionSettings
from kubeharden.enforce.patch import json_patch, pointer
from kubeharden.enforce.webhook_app import WebhookApp
from kubeharden.model.findings import Fix
from kubeharden.serve.tls import server_tls_context

SRC = str(Path(__file__).resolve().parents[1] / "src")
DIGEST = "registry.example.com/kubeharden@sha256:" + "ab" * 32


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def review(obj, uid="u-1"):
    return orjson.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                         "request": {"uid": uid, "kind": {"group": "", "version": "v1", "kind": obj["kind"]},
                                     "resource": {"group": "", "version": "v1", "resource": "pods"},
                                     "operation": "CREATE", "namespace": "shop", "object": obj}})


PRIVILEGED = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop"},
              "spec": {"containers": [{"name": "web", "image": "registry.example.com/web:1",
                                       "imagePullPolicy": "IfNotPresent", "securityContext": {"privileged": True}}]}}


def call(port, ctx, method, path, body=None):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def client(pki, cert=True):
    ctx = ssl.create_default_context(cafile=pki["ca"])
    if cert:
        ctx.load_cert_chain(pki["client"], pki["client_key"])
    return ctx


@pytest.fixture
def served(pki):
    app = WebhookApp(AdmissionSettings(config=Config(profile="strict")), server_tls_context(pki["server"], pki["server_key"], pki["ca"]), mutate=True)
    server = app.server("127.0.0.1", 0)
    server.start_in_thread()
    yield server.server_address[1], app
    server.stop()


def test_validate_mutate_probes_and_metrics_over_tls(served, pki):
    port, app = served
    ctx = client(pki)
    status, body = call(port, ctx, "POST", "/validate", review(PRIVILEGED))
    answer = json.loads(body)
    assert status == 200 and answer["response"]["uid"] == "u-1" and answer["response"]["allowed"] is False
    assert "KH-POD-004" in answer["response"]["status"]["message"]

    # only the safe fixes: a non-root container's capability drop and no_new_privs (evidence rules), never the
    # pull policy or anything that may break it
    non_root = {**PRIVILEGED, "spec": {"containers": [{**PRIVILEGED["spec"]["containers"][0],
                                                       "securityContext": {"runAsNonRoot": True}}]}}
    status, body = call(port, ctx, "POST", "/mutate", review(non_root, uid="u-2"))
    mutated = json.loads(body)["response"]
    assert mutated["allowed"] is True
    assert json.loads(base64.b64decode(mutated["patch"])) == [
        {"op": "add", "path": "/spec/containers/0/securityContext/allowPrivilegeEscalation", "value": False},
        {"op": "add", "path": "/spec/containers/0/securityContext/capabilities", "value": {"drop": ["ALL"]}}]

    for bad in (b"{", b"[]", orjson.dumps({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"})):
        assert call(port, ctx, "POST", "/validate", bad)[0] == 400
    assert call(port, ctx, "POST", "/validate", review(PRIVILEGED, uid="u-3"))[0] == 200  # still serving

    anonymous = client(pki, cert=False)
    assert call(port, anonymous, "POST", "/validate", review(PRIVILEGED))[0] == 403
    assert call(port, anonymous, "GET", "/healthz") == (200, b'{"status":"ok"}')
    assert call(port, anonymous, "GET", "/readyz")[0] == 200
    status, metrics = call(port, anonymous, "GET", "/metrics")
    text = metrics.decode()
    assert status == 200
    assert 'kubeharden_admission_reviews_total{endpoint="validate",outcome="denied",kind="Pod"} 2' in text
    assert 'kubeharden_admission_reviews_total{endpoint="mutate",outcome="allowed",kind="Pod"} 1' in text
    assert "kubeharden_admission_malformed_total 4" in text
    assert 'kubeharden_admission_findings_total{control="KH-POD-004"}' in text
    assert re.search(r"kubeharden_admission_review_duration_seconds_count 3\b", text)


def _with(request_changes=None, **object_spec):
    """A review of a Pod whose request (and pod spec) have ``request_changes`` (and ``object_spec``) applied;
    a value of None removes the field."""
    obj = json.loads(json.dumps(PRIVILEGED))
    obj["spec"].update(object_spec)
    body = json.loads(review(obj))
    for key, value in (request_changes or {}).items():
        if value is None:
            body["request"].pop(key)
        else:
            body["request"][key] = value
    return orjson.dumps(body)


DEPLOYMENT_KIND = {"kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                   "resource": {"group": "apps", "version": "v1", "resource": "deployments"}}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
              "spec": {"selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}}, "spec": PRIVILEGED["spec"]}}}


@pytest.mark.parametrize("body, field", [
    # the AdmissionReview v1 request fields (Dynamic Admission Control, "Request")
    (_with({"uid": 5}), "request.uid must be a string"),
    (_with({"uid": None}), "request.uid is missing"),
    (_with({"kind": None}), "request.kind is missing"),
    (_with({"kind": "Pod"}), "request.kind must be a mapping"),
    (_with({"kind": {"group": "", "version": "v1"}}), "request.kind.kind is missing"),
    (_with({"resource": None}), "request.resource is missing"),
    (_with({"resource": {"group": "", "version": 1, "resource": "pods"}}), "request.resource.version must be a string"),
    (_with({"operation": "PATCH"}), "request.operation must be one of CREATE, UPDATE, DELETE, CONNECT"),
    (_with({"operation": None}), "request.operation must be one of"),
    (_with({"namespace": 7}), "request.namespace must be a string"),
    (_with({"userInfo": "alice"}), "request.userInfo must be a mapping"),
    (_with({"dryRun": "false"}), "request.dryRun must be a boolean"),
    (_with({"object": None}), "request.object must be a mapping on CREATE"),
    (_with({"object": "Pod"}), "request.object must be a mapping on CREATE"),
    (_with({"operation": "UPDATE", "oldObject": [1]}), "request.oldObject must be a mapping"),
    # the pod structure every pod control walks
    (_with(containers="oops"), "request.object.spec.containers must be a list of containers"),
    (_with(containers=[3]), "request.object.spec.containers[0] must be a container"),
    (_with(initContainers={"name": "x"}), "request.object.spec.initContainers must be a list"),
    (_with(ephemeralContainers=["debug"]), "request.object.spec.ephemeralContainers[0] must be a container"),
    (_with(securityContext=[]), "request.object.spec.securityContext must be a mapping"),
    (_with({**DEPLOYMENT_KIND, "object": {**DEPLOYMENT, "spec": {"template": "web"}}}),
     "request.object.spec.template must be a mapping"),
    (_with({**DEPLOYMENT_KIND,
            "object": {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "template": {"spec": {"containers": {}}}}}}),
     "request.object.spec.template.spec.containers must be a list"),
    # the object is of the kind the request names; every field of kind and resource is sent (group "" for core)
    (_with({"object": DEPLOYMENT}), "request.object is apps/v1 Deployment, but request.kind says v1 Pod"),
    (_with({"object": {k: v for k, v in PRIVILEGED.items() if k != "kind"}}),
     "request.object is without apiVersion and kind, but request.kind says v1 Pod"),
    (_with({"kind": {"version": "v1", "kind": "Pod"}}), "request.kind.group is missing"),
    (_with({"kind": {"group": "", "kind": "Pod"}}), "request.kind.version is missing"),
    (_with({"resource": {"group": "", "version": "", "resource": "pods"}}), "request.resource.version is missing"),
    # field types the API server decodes (model/apitypes.py): found where the object is judged
    (_with(containers=[{"name": "web", "image": "registry.example.com/web:1",
                        "securityContext": {"privileged": "yes"}}]),
     "request.object: spec.containers[0].securityContext.privileged is a string ('yes'), expected a boolean"),
    (_with(hostPID="true"), "request.object: spec.hostPID is a string"),
    (_with(containers=[{"name": "web", "image": "registry.example.com/web:1", "securityContext": "privileged"}]),
     "request.object: spec.containers[0].securityContext is a string"),
])
def test_structurally_invalid_reviews_are_answered_400_naming_the_field(served, pki, body, field):
    port, app = served
    status, answer = call(port, client(pki), "POST", "/validate", body)
    assert status == 400, answer
    assert json.loads(answer)["error"].startswith(field)
    # the server goes on, and counted it
    assert call(port, client(pki), "POST", "/validate", review(PRIVILEGED))[0] == 200
    assert "kubeharden_admission_malformed_total 1" in app.metrics.render()


def test_well_formed_reviews_of_every_operation_are_answered_200(served, pki):
    port, _ = served
    ctx = client(pki)
    update = _with({"operation": "UPDATE", "oldObject": PRIVILEGED})
    delete = _with({"operation": "DELETE", "object": None, "oldObject": PRIVILEGED})
    connect = _with({"operation": "CONNECT", "object": {"apiVersion": "v1", "kind": "PodExecOptions"},
                     "subResource": "exec"})
    for body in (update, delete, connect, _with({"dryRun": True, "userInfo": {"username": "alice"}})):
        status, answer = call(port, ctx, "POST", "/validate", body)
        assert status == 200, answer
    assert json.loads(call(port, ctx, "POST", "/validate", delete)[1])["response"]["allowed"] is True


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(x) for x in (task / "children").read_text().split()]
    return found


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_command_starts_and_stops_on_sigterm(pki, workers):
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, "-m", "kubeharden", "webhook", "serve", "--port", "0", "--mode", "warn",
                             "--tls-cert", pki["server"], "--tls-key", pki["server_key"], "--no-config",
                             "--workers", str(workers)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True)
    try:
        port = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and port is None:
            line = proc.stderr.readline()
            m = re.search(r"listening on https://127\.0\.0\.1:(\d+) \(/validate\) in warn mode", line)
            port = int(m.group(1)) if m else None
            assert line or proc.poll() is None
        assert port
        ctx = ssl.create_default_context(cafile=pki["ca"])
        for i in range(20):  # a new connection each: with two workers the kernel spreads them
            answer = json.loads(call(port, ctx, "POST", "/validate", review(PRIVILEGED, uid=f"u-{i}"))[1])["response"]
            assert answer["uid"] == f"u-{i}" and answer["allowed"] is True
            assert any("KH-POD-004" in w for w in answer["warnings"])
        children = _children(proc.pid)
        assert len(children) == workers - 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert not any(Path(f"/proc/{c}").exists() and "Z" not in Path(f"/proc/{c}/stat").read_text().split()[2]
                       for c in children)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("workers", [1, 2])
def test_after_sigterm_the_server_keeps_answering_for_the_shutdown_delay_and_a_second_signal_stops_it(pki, workers):
    """Kubernetes takes a terminating pod out of its Service's endpoints while it sends SIGTERM ("Pod Lifecycle"),
    so new connections may still come for a while: every process keeps answering them during the delay."""
    with serving("webhook", "serve", "--port", "0", "--no-config", "--tls-cert", pki["server"],
                 "--tls-key", pki["server_key"], "--workers", str(workers), "--shutdown-delay", "60") as (proc, port):
        ctx = ssl.create_default_context(cafile=pki["ca"])
        assert call(port, ctx, "POST", "/validate", review(PRIVILEGED))[0] == 200
        proc.send_signal(signal.SIGTERM)
        read_until(proc, "still serving for 60 s")
        for i in range(12):  # new connections, spread over the workers by the kernel
            assert call(port, ctx, "POST", "/validate", review(PRIVILEGED, uid=f"d-{i}"))[0] == 200
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)  # a second signal does not wait out the 60 s
        assert proc.wait(timeout=20) == 0


def test_shutdown_delay_must_be_seconds(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["webhook", "serve", "--tls-cert", "x", "--tls-key", "y", "--shutdown-delay", "soon"])
    assert exited.value.code == 2
    assert "not a number of seconds" in capsys.readouterr().err


def test_serve_refuses_unreadable_tls_files(tmp_path, capsys):
    missing = str(tmp_path / "nope.crt")
    assert main(["webhook", "serve", "--tls-cert", missing, "--tls-key", missing, "--no-config"]) == 2
    assert "cannot load TLS files" in capsys.readouterr().err


# -- manifests ----------------------------------------------------------------------------------

@pytest.mark.parametrize("certificates", ["cert-manager", "generated"])
def test_manifests_scan_clean_at_the_strict_profile(tmp_path, capsys, certificates):
    out = tmp_path / "webhook.yaml"
    assert main(["webhook", "manifests", "--image", DIGEST, "--runtime-class", "gvisor", "--mutate",
                 "--certificates", certificates, "-o", str(out)]) == 0
    docs = list(yaml.safe_load_all(out.read_text()))
    kinds = [d["kind"] for d in docs]
    for kind in ("Deployment", "Service", "PodDisruptionBudget", "ServiceAccount", "NetworkPolicy",
                 "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        assert kind in kinds
    capsys.readouterr()
    assert main(["scan", "--profile", "strict", "--no-config", "--fail-on", "info", str(out)]) == 0, \
        capsys.readouterr().out
    config = next(d for d in docs if d["kind"] == "ValidatingWebhookConfiguration")
    hook = config["webhooks"][0]
    assert hook["admissionReviewVersions"] == ["v1"] and hook["sideEffects"] == "None"
    assert {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
            "values": ["kube-system", "kubeharden"]} in hook["namespaceSelector"]["matchExpressions"]
    resources = {r for rule in hook["rules"] for r in rule["resources"]}
    assert {"pods", "pods/ephemeralcontainers", "deployments", "cronjobs"} <= resources
    if certificates == "cert-manager":
        assert config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == "kubeharden/kubeharden-webhook"
        assert {"Issuer", "Certificate"} <= set(kinds)
    else:
        from cryptography import x509
        secret = next(d for d in docs if d["kind"] == "Secret")
        ca = x509.load_pem_x509_certificate(base64.b64decode(hook["clientConfig"]["caBundle"]))
        cert = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
        cert.verify_directly_issued_by(ca)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName)
        assert "kubeharden-webhook.kubeharden.svc" in names


def test_manifests_carry_mode_selectors_and_failure_policy(tmp_path):
    out = tmp_path / "w.yaml"
    assert main(["webhook", "manifests", "--image", DIGEST, "--mode", "warn", "--failure-policy", "Ignore",
                 "--object-selector", '{"matchLabels": {"harden": "yes"}}', "--exclude-namespace", "monitoring",
                 "-o", str(out)]) == 0
    docs = list(yaml.safe_load_all(out.read_text()))
    hook = next(d for d in docs if d["kind"] == "ValidatingWebhookConfiguration")["webhooks"][0]
    assert hook["failurePolicy"] == "Ignore" and hook["objectSelector"] == {"matchLabels": {"harden": "yes"}}
    args = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--mode") + 1] == "warn" and args[args.index("--failure-policy") + 1] == "Ignore"
    assert args[args.index("--exclude-namespace") + 1] == "monitoring"
    assert not any(d["kind"] == "MutatingWebhookConfiguration" for d in docs)


# -- JSON Patch of fixes ------------------------------------------------------------------------

def test_patch_creates_missing_mappings_once_and_merges_lists():
    obj = {"spec": {"containers": [{"name": "a", "securityContext": {"capabilities": {"drop": ["NET_RAW"]}}}]}}
    fixes = [Fix("set", "spec.containers[0].securityContext.runAsNonRoot", True),
             Fix("add", "spec.containers[0].securityContext.capabilities.drop", ["ALL", "NET_RAW"]),
             Fix("set", "spec.securityContext.seccompProfile.type", "RuntimeDefault"),
             Fix("set", "spec.securityContext.runAsUser", 1000),
             Fix("remove", "spec.containers[0].securityContext.capabilities.add", None),
             Fix("set", "spec.containers[3].image", "x")]
    ops, skipped = json_patch(obj, fixes)
    assert ops == [
        {"op": "add", "path": "/spec/containers/0/securityContext/runAsNonRoot", "value": True},
        {"op": "replace", "path": "/spec/containers/0/securityContext/capabilities/drop", "value": ["NET_RAW", "ALL"]},
        {"op": "add", "path": "/spec/securityContext", "value": {"seccompProfile": {"type": "RuntimeDefault"}}},
        {"op": "add", "path": "/spec/securityContext/runAsUser", "value": 1000},
    ]
    assert [f.path for f, _ in skipped] == ["spec.containers[3].image"]
    assert obj == {"spec": {"containers": [{"name": "a", "securityContext": {"capabilities": {"drop": ["NET_RAW"]}}}]}}


def test_patch_pointer_escapes_map_keys():
    assert pointer(["metadata", "annotations", "a/b~c"]) == "/metadata/annotations/a~1b~0c"
    ops, _ = json_patch({"metadata": {"annotations": {"x/y": "1"}}}, [Fix("remove", "metadata.annotations[x/y]")])
    assert ops == [{"op": "remove", "path": "/metadata/annotations/x~1y"}]


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop is not built for Windows; asyncio's loop serves there")
def test_the_server_runs_on_uvloop(pki):
    """uvloop is a dependency on every other platform: the server's loop is its, and TLS and client
    certificates work on it (the review over TLS, and the 403 without a certificate)."""
    import uvloop

    from kubeharden.serve.server import event_loop_name

    app = WebhookApp(AdmissionSettings(config=Config(profile="strict")),
                     server_tls_context(pki["server"], pki["server_key"], pki["ca"]))
    server = app.server("127.0.0.1", 0)
    server.start_in_thread()
    try:
        assert event_loop_name() == "uvloop" and isinstance(server._loop, uvloop.Loop)
        status, body = call(server.server_address[1], client(pki), "POST", "/validate", review(PRIVILEGED))
        assert status == 200 and json.loads(body)["response"]["allowed"] is False
        assert call(server.server_address[1], client(pki, cert=False), "POST", "/validate", review(PRIVILEGED))[0] == 403
    finally:
        server.stop()
