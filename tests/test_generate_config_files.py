"""generate audit-policy, encryption-config and psa-labels (#12): each output passes the controls that
judge its kind (round trip), and the encryption configuration is written as a key file must be."""

from __future__ import annotations

import base64
import os
import shlex
import stat

import pytest
import yaml
from conftest import scan

from kubeharden.cli import main
from kubeharden.detect.policy import coverage, parse_policy
from kubeharden.detect.policy_controls import PROTECTED, detection_needs
from kubeharden.detect.rules import load_rules

LOG = ["KH-LOG-001", "KH-LOG-002", "KH-LOG-003", "KH-LOG-004", "KH-LOG-005", "KH-LOG-006"]
ENC = ["KH-ENC-001", "KH-ENC-002", "KH-ENC-003", "KH-ENC-004", "KH-ENC-005"]


def generate(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["generate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- audit-policy ---------------------------------------------------------------------------

@pytest.mark.parametrize("catch_all", ["RequestResponse", "Metadata"])
def test_generated_audit_policy_passes_every_policy_control(capsys, catch_all):
    code, text, _ = generate(capsys, "audit-policy", "--catch-all", catch_all)
    assert code == 0
    findings, result = scan(text, only=LOG, file="audit-policy.yaml")
    assert [f.message for f in findings] == []
    assert {c: result.control_status()[c] for c in LOG} == dict.fromkeys(LOG, "pass")
    doc = yaml.safe_load(text)
    assert doc["rules"][0]["level"] == "Metadata" and doc["rules"][-1] == {"level": catch_all}
    assert doc["omitStages"] == ["RequestReceived"]


def test_generated_audit_policy_blinds_only_the_rules_that_need_credential_bodies(capsys):
    _, text, _ = generate(capsys, "audit-policy", "--catch-all", "Metadata")
    rules = [r for r in load_rules() if r.inactive is None]
    gaps = {c.rule.id for c in coverage(parse_policy(text), rules) if c.status != "covered"}
    _, left_out = detection_needs()
    assert gaps == set(left_out) and gaps  # the pack has such rules; the header names them
    for rule in rules:
        if rule.id in gaps:
            assert rule.requires.level in ("Request", "RequestResponse")
            assert set(rule.requires.resources) <= set(PROTECTED)
    assert f"Left blind on purpose (they need the bodies of Secrets or ConfigMaps): {', '.join(left_out)}" in text


# --- encryption-config ----------------------------------------------------------------------

def _read(path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("provider", ["aescbc", "secretbox"])
def test_local_key_config_has_a_fresh_32_byte_key_and_mode_0600(capsys, tmp_path, provider):
    target = tmp_path / "enc.yaml"
    target.write_text("old")
    target.chmod(0o644)
    old_umask = os.umask(0)
    try:
        code, _, err = generate(capsys, "encryption-config", "--provider", provider, "-o", str(target))
    finally:
        os.umask(old_umask)
    assert code == 0 and "mode 0600" in err
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    first = _read(target)["resources"][0]["providers"]
    key = first[0][provider]["keys"][0]["secret"]
    assert len(base64.b64decode(key, validate=True)) == 32 and first[1] == {"identity": {}}
    generate(capsys, "encryption-config", "--provider", provider, "-o", str(target))
    assert _read(target)["resources"][0]["providers"][0][provider]["keys"][0]["secret"] != key
    findings, _ = scan(target.read_text(), only=ENC, file=str(target))
    assert {f.control.id for f in findings} == {"KH-ENC-003"}  # the key in the file, reported as it must be


def test_kms_config_passes_every_encryption_control(capsys, tmp_path):
    target = tmp_path / "enc.yaml"
    code, _, _ = generate(capsys, "encryption-config", "--provider", "kms", "--kms-name", "vault",
                          "--kms-endpoint", "unix:///var/run/kms/vault.sock", "-o", str(target))
    assert code == 0
    kms = _read(target)["resources"][0]["providers"][0]["kms"]
    assert kms == {"apiVersion": "v2", "name": "vault", "endpoint": "unix:///var/run/kms/vault.sock", "timeout": "3s"}
    findings, result = scan(target.read_text(), only=ENC, file=str(target))
    assert not findings and {result.control_status()[c] for c in ENC} == {"pass"}


def test_kms_needs_an_absolute_socket_and_a_name(capsys, tmp_path):
    code, _, err = generate(capsys, "encryption-config", "--provider", "kms", "--kms-name", "k",
                            "--kms-endpoint", "unix://tmp/socketfile.sock", "-o", str(tmp_path / "e.yaml"))
    assert code == 2 and "three slashes" in err and not (tmp_path / "e.yaml").exists()
    code, _, err = generate(capsys, "encryption-config", "--provider", "kms", "-o", str(tmp_path / "e.yaml"))
    assert code == 2 and "--kms-name and --kms-endpoint" in err


def test_names_the_api_server_refuses_are_not_written(capsys, tmp_path):
    # validation.go validateKMSConfigName (no ':' in a KMS v2 name) and validateKey (name is mandatory)
    out = tmp_path / "e.yaml"
    code, _, err = generate(capsys, "encryption-config", "--provider", "kms", "--kms-name", "a:b",
                            "--kms-endpoint", "unix:///run/a.sock", "-o", str(out))
    assert code == 2 and "'a:b' contains ':'" in err and not out.exists()
    code, _, err = generate(capsys, "encryption-config", "--provider", "secretbox", "--key-name", "", "-o", str(out))
    assert code == 2 and "name is a mandatory field for a key" in err and not out.exists()


def test_stdout_only_when_asked_and_with_a_warning_for_keys(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["generate", "encryption-config", "--provider", "aescbc"])
    assert exc.value.code == 2
    capsys.readouterr()
    code, out, err = generate(capsys, "encryption-config", "--provider", "aescbc", "--stdout")
    assert code == 0 and "kind: EncryptionConfiguration" in out
    assert "warning: the encryption key is printed on standard output" in err
    _, _, err = generate(capsys, "encryption-config", "--provider", "kms", "--kms-name", "a",
                         "--kms-endpoint", "unix:///run/a.sock", "--stdout")
    assert "warning" not in err


# --- psa-labels -----------------------------------------------------------------------------

APP = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {team: payments}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: web
          image: registry.example.com/web:1.0
          securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: Pod
metadata: {name: legacy, namespace: shop}
spec:
  containers:
    - {name: legacy, image: registry.example.com/legacy:1.0}
---
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: infra}
spec:
  hostNetwork: true
  containers:
    - {name: agent, image: registry.example.com/agent:1.0}
---
apiVersion: batch/v1
kind: Job
metadata: {name: report, namespace: reports}
spec:
  template:
    spec:
      restartPolicy: Never
      securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: report
          image: registry.example.com/report:1.0
          securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: Pod
metadata: {name: dns, namespace: kube-system}
spec:
  containers:
    - {name: dns, image: registry.k8s.io/coredns/coredns:v1.11.1}
"""


def _namespaces(text: str) -> dict[str, dict[str, str]]:
    return {d["metadata"]["name"]: d["metadata"]["labels"] for d in yaml.safe_load_all(text) if d}


def test_each_namespace_gets_the_strictest_level_its_pods_meet(capsys, tmp_path):
    (tmp_path / "app.yaml").write_text(APP)
    code, text, _ = generate(capsys, "psa-labels", str(tmp_path))
    assert code == 0
    labels = _namespaces(text)
    assert set(labels) == {"shop", "infra", "reports"}  # kube-system left alone
    enforce = {ns: v["pod-security.kubernetes.io/enforce"] for ns, v in labels.items()}
    assert enforce == {"shop": "baseline", "infra": "privileged", "reports": "restricted"}
    for ns in labels.values():
        assert ns["pod-security.kubernetes.io/audit"] == ns["pod-security.kubernetes.io/warn"] == "restricted"
        assert ns["pod-security.kubernetes.io/enforce-version"] == "latest"
    assert labels["shop"]["team"] == "payments"  # the input's own labels are kept
    assert "held at baseline by Pod/shop/legacy" in text and "Running as Non-root" in text
    assert "held at privileged by Pod/infra/agent" in text and "hostNetwork=true" in text
    assert "held at" not in text.split("# reports")[1].split("---")[0]


def test_generated_namespaces_pass_the_namespace_control_where_their_pods_allow(capsys, tmp_path):
    (tmp_path / "app.yaml").write_text(APP)
    _, text, _ = generate(capsys, "psa-labels", str(tmp_path))
    findings, _ = scan(text, only=["KH-NS-003"])
    # shop and reports now enforce baseline or better; infra runs a hostNetwork pod, so only privileged admits it
    assert [(f.resource.name, f.control.id) for f in findings] == [("infra", "KH-NS-003")]


def test_kubectl_lines_and_a_pinned_version(capsys, tmp_path):
    (tmp_path / "app.yaml").write_text(APP)
    code, text, _ = generate(capsys, "psa-labels", str(tmp_path), "--format", "kubectl", "--version", "v1.30",
                             "-n", "reports")
    assert code == 0
    (line,) = [x for x in text.splitlines() if not x.startswith("#")]
    assert shlex.split(line) == ["kubectl", "label", "--overwrite", "namespace", "reports",
                                 "pod-security.kubernetes.io/enforce=restricted",
                                 "pod-security.kubernetes.io/enforce-version=v1.30",
                                 "pod-security.kubernetes.io/audit=restricted",
                                 "pod-security.kubernetes.io/audit-version=v1.30",
                                 "pod-security.kubernetes.io/warn=restricted",
                                 "pod-security.kubernetes.io/warn-version=v1.30"]
    with pytest.raises(SystemExit):
        main(["generate", "psa-labels", str(tmp_path), "--version", "1.30"])


HOST_NETWORK_POD = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{matchLabels: {{app: a}}}}
  template:
    metadata: {{labels: {{app: a}}}}
    spec:
      hostNetwork: true
      containers: [{{name: a, image: registry.example.com/a:1.0}}]
"""


def test_names_the_api_server_refuses_never_reach_the_script(capsys, tmp_path):
    # a name with a newline once ended the '#' comment line and ran the rest as a command
    bad = tmp_path / "bad.yaml"
    bad.write_text(HOST_NETWORK_POD.format(name='"d\\ntouch /tmp/PWNED ;#"', namespace="ok")
                   + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: \"evil\\nx: 1\"}\n")
    code, text, err = generate(capsys, "psa-labels", str(bad), "--format", "kubectl")
    assert code != 0
    assert "touch" not in text and "evil" not in text
    assert str(bad) in err and "Deployment name" in err and "Namespace name" in err
    assert all(line.startswith("kubeharden:") for line in err.splitlines())  # each name said on one line


def test_comment_text_has_its_control_characters_escaped():
    from kubeharden.generators.psa_labels import NamespacePlan, PodLevel, kubectl_lines
    plan = NamespacePlan("ok", [PodLevel("Pod/ok/p\ntouch x", "privileged", ("hostNetwork\r\nrm -rf",))])
    script = kubectl_lines([plan], "latest")
    assert all(line.startswith(("#", "kubectl ")) for line in script.splitlines())
    assert "p\\x0atouch x" in script and "\\x0d\\x0arm" in script


def test_an_existing_stricter_enforce_label_is_kept_and_its_violators_named(capsys, tmp_path):
    (tmp_path / "ns.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
        "  labels: {pod-security.kubernetes.io/enforce: restricted}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: legacy, namespace: shop}\n"
        "spec:\n  containers: [{name: legacy, image: registry.example.com/legacy:1.0}]\n")
    _, text, _ = generate(capsys, "psa-labels", str(tmp_path))
    assert _namespaces(text)["shop"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert "keeps its existing enforce restricted" in text and "Pod/shop/legacy (" in text and ") is baseline (" in text
    _, script, _ = generate(capsys, "psa-labels", str(tmp_path), "--format", "kubectl")
    assert "pod-security.kubernetes.io/enforce=restricted" in script
    assert "enforce=baseline" not in script


def test_workloads_without_namespace_go_where_kubectl_apply_puts_them(capsys, tmp_path):
    (tmp_path / "d.yaml").write_text(HOST_NETWORK_POD.format(name="d", namespace="null"))
    _, text, _ = generate(capsys, "psa-labels", str(tmp_path), "-n", "kube-system")
    # as kubectl apply -n kube-system would place it: the namespace named with -n, even a system one
    assert _namespaces(text)["kube-system"]["pod-security.kubernetes.io/enforce"] == "privileged"
    _, text, _ = generate(capsys, "psa-labels", str(tmp_path))
    assert set(_namespaces(text)) == {"default"}  # kubectl apply without -n: the default namespace
