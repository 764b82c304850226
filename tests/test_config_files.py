"""Configuration-file contents (#12): EncryptionConfiguration, audit Policy, kubeconfig and the
PodSecurity admission configuration, judged as objects wherever they are scanned.

Fixtures are written from the Kubernetes documentation pages each check module cites.
"""

from __future__ import annotations

import copy
import json
import re
import textwrap

import yaml
from conftest import messages, scan

from kubeharden.config import Config
from kubeharden.engine.evaluator import Evaluator
from kubeharden.sources.cluster import needed_kinds
from kubeharden.sources.files import parse_text

ENC = ["KH-ENC-001", "KH-ENC-002", "KH-ENC-003", "KH-ENC-004", "KH-ENC-005"]
LOG = ["KH-LOG-001", "KH-LOG-002", "KH-LOG-003", "KH-LOG-004", "KH-LOG-005", "KH-LOG-006"]
KCFG = ["KH-KCFG-001", "KH-KCFG-002", "KH-KCFG-003", "KH-KCFG-004", "KH-KCFG-005"]
PSA = ["KH-PSA-001", "KH-PSA-002", "KH-PSA-003", "KH-PSA-004"]
KEY32 = "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY="
KMS = '{kms: {apiVersion: v2, name: vault, endpoint: "unix:///run/kms.sock"}}'


def found(text: str, only: list[str], file: str = "/etc/kubernetes/enc/enc.yaml"):
    findings, result = scan(text, only=only, file=file)
    return {f.control.id for f in findings}, findings, result


# --- naming: config files have no metadata.name ------------------------------------------------

def test_config_file_is_named_by_its_file_and_lives_in_no_namespace():
    _, findings, result = found("""
        apiVersion: apiserver.config.k8s.io/v1
        kind: EncryptionConfiguration
        resources:
          - resources: [configmaps]
            providers: [{identity: {}}]
        """, ["KH-ENC-001"])
    (f,) = findings
    assert (f.resource.kind, f.resource.namespace, f.resource.name) == (
        "EncryptionConfiguration", None, "/etc/kubernetes/enc/enc.yaml")
    assert f.file == "/etc/kubernetes/enc/enc.yaml" and f.line == 4 and f.path == "resources"
    assert not [p for p in result.problems if p.level == "error"]


def test_foreign_kinds_of_the_same_name_are_not_judged():
    text = """
        apiVersion: kyverno.io/v1
        kind: Policy
        metadata: {name: require-labels, namespace: apps}
        spec: {rules: []}
        ---
        apiVersion: imageregistry.operator.openshift.io/v1
        kind: Config
        metadata: {name: cluster}
        spec: {managementState: Managed}
        """
    ids, findings, result = found(text, LOG + KCFG)
    assert not findings
    status = result.control_status()
    assert {status[c] for c in LOG + KCFG} == {"not-applicable"}  # never a pass


def test_config_controls_are_not_assessable_on_a_cluster():
    ev = Evaluator(Config(), only=ENC + LOG, input_kind="cluster")
    list(ev.run(parse_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n", "x.yaml")))
    assert {ev.result.control_status()[c] for c in ENC + LOG} == {"not-assessable"}
    # nor does a cluster scan list their kinds (OpenShift's Config would be listed for nothing)
    assert not {"Config", "EncryptionConfiguration", "AdmissionConfiguration"} & needed_kinds()


# --- EncryptionConfiguration ------------------------------------------------------------------

def test_wildcards_cover_secrets_but_a_group_wildcard_does_not():
    for resources, covered in (("['*.*']", True), ("['*.']", True), ("['*.apps']", False), ("[secrets]", True)):
        ids, _, _ = found(f"""
            apiVersion: apiserver.config.k8s.io/v1
            kind: EncryptionConfiguration
            resources:
              - resources: {resources}
                providers: [{KMS}]
            """, ["KH-ENC-001"])
        assert ("KH-ENC-001" not in ids) is covered, resources


def test_the_first_entry_matching_secrets_decides_even_before_a_wildcard():
    ids, findings, _ = found(f"""
        apiVersion: apiserver.config.k8s.io/v1
        kind: EncryptionConfiguration
        resources:
          - resources: [secrets]
            providers:
              - identity: {{}}
          - resources: ['*.*']
            providers: [{KMS}]
        """, ENC)
    assert ids == {"KH-ENC-002"}
    (f,) = findings
    assert f.path == "resources[0].providers[0]" and f.line == 7
    assert "plain text" in f.message


def test_local_keys_are_reported_with_rotation_for_aesgcm_and_decrypt_only_keys_too():
    _, findings, _ = found(f"""
        apiVersion: apiserver.config.k8s.io/v1
        kind: EncryptionConfiguration
        resources:
          - resources: [secrets]
            providers:
              - {KMS}
              - aesgcm:
                  keys: [{{name: old, secret: {KEY32}}}]
        """, ENC)
    (f,) = findings
    assert f.control.id == "KH-ENC-003" and f.line == 8
    assert "decrypts Secrets with aesgcm key(s) old" in f.message and "200,000 writes" in f.message


def test_kms_v1_is_deprecated_and_v2_is_not():
    text = """
        apiVersion: apiserver.config.k8s.io/v1
        kind: EncryptionConfiguration
        resources:
          - resources: [secrets]
            providers:
              - kms: {name: a, endpoint: "unix:///run/a.sock"}
              - kms: {apiVersion: v2, name: b, endpoint: "unix:///run/b.sock"}
        """
    assert messages(found(text, ["KH-ENC-004"])[1], "KH-ENC-004") == [
        "resources[0] kms provider 'a' uses KMS v1 (apiVersion unset means v1): deprecated since Kubernetes 1.28 "
        "and disabled by default from 1.29"]


def test_keys_and_providers_the_api_server_refuses():
    _, findings, _ = found("""
        apiVersion: apiserver.config.k8s.io/v1
        kind: EncryptionConfiguration
        resources:
          - resources: [secrets]
            providers:
              - secretbox:
                  keys: [{name: short, secret: c2VjcmV0IGlzIHNlY3VyZQ==}]
              - {aescbc: {keys: []}, identity: {}}
              - kms: {apiVersion: v2}
        """, ["KH-ENC-005"])
    assert [f.message for f in findings] == [
        "resources[0].providers[0].secretbox.keys[0] (short) secret decodes to 16 bytes; secretbox needs 32 bytes, "
        "base64-encoded",
        "resources[0].providers[1] names aescbc, identity: each item names exactly one of aesgcm, aescbc, "
        "secretbox, identity, kms",
        "resources[0].providers[2].kms has no name or endpoint"]


def enc(entries: str) -> str:
    return ("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
            + textwrap.indent(textwrap.dedent(entries), "  "))


def refusals(entries: str) -> list[str]:
    return [f.message for f in found(enc(entries), ["KH-ENC-005"])[1]]


def test_kms_settings_the_api_server_refuses():
    # validation.go validateKMSEndpoint / validateKMSAPIVersion / validateKMSConfigName
    assert refusals("""
        - resources: [secrets]
          providers: [{kms: {apiVersion: v2, name: a, endpoint: "tcp://10.0.0.1:9000"}}]
        """) == ["resources[0].providers[0].kms.endpoint 'tcp://10.0.0.1:9000' uses the scheme 'tcp': only unix "
                 "(a local socket, unix:///path) is supported"]
    assert refusals("""
        - resources: [secrets]
          providers: [{kms: {apiVersion: v3, name: a, endpoint: "unix:///run/a.sock"}}]
        """) == ["resources[0].providers[0].kms.apiVersion 'v3' is not supported: only v1 and v2 are"]
    assert refusals("""
        - resources: [secrets]
          providers:
            - {kms: {apiVersion: v2, name: "a:b", endpoint: "unix:///run/a.sock"}}
            - {kms: {name: "c:d", endpoint: "unix:///run/c.sock"}}
        """) == ["resources[0].providers[0].kms.name 'a:b' contains ':', which a KMS v2 provider name must not"]
    dup = refusals("""
        - resources: [secrets]
          providers:
            - {kms: {apiVersion: v2, name: a, endpoint: "unix:///run/a.sock"}}
        - resources: [configmaps]
          providers:
            - {kms: {apiVersion: v2, name: a, endpoint: "unix:///run/b.sock"}}
        """)
    assert dup == ["resources[1].providers[0].kms.name 'a' is used by an earlier kms provider: names must be unique"]


def test_kms_v3_is_refused_not_called_deprecated():
    ids, _, _ = found(enc("""
        - resources: [secrets]
          providers: [{kms: {apiVersion: v3, name: a, endpoint: "unix:///run/a.sock"}}]
        """), ["KH-ENC-004", "KH-ENC-005"])
    assert ids == {"KH-ENC-005"}
    set_v1 = found(enc("""
        - resources: [secrets]
          providers: [{kms: {apiVersion: v1, name: a, endpoint: "unix:///run/a.sock"}}]
        """), ["KH-ENC-004"])[1]
    assert [f.message for f in set_v1] == ["resources[0] kms provider 'a' uses KMS v1: deprecated since "
                                           "Kubernetes 1.28 and disabled by default from 1.29"]


def test_empty_entries_masked_resources_and_unnamed_keys_are_refused():
    assert refusals(f"""
        - resources: []
          providers: [{KMS}]
        - resources: [configmaps]
          providers: []
        """) == ["resources[0].resources is empty or missing: at least one is required",
                 "resources[1].providers is empty or missing: at least one is required"]
    # encryptionconfig/config.go: 'resource "secrets" is masked by earlier rule "*."'
    assert refusals(f"""
        - resources: ["*."]
          providers: [{KMS}]
        - resources: [secrets, deployments.apps]
          providers: [identity: {{}}]
        - resources: ["*.*"]
          providers: [identity: {{}}]
        - resources: [leases.coordination.k8s.io]
          providers: [identity: {{}}]
        """) == ["resources[1].resources[0]: resource 'secrets' is masked by earlier rule '*.': the API server "
                 "refuses the file",
                 "resources[3].resources[0]: resource 'leases.coordination.k8s.io' is masked by earlier rule '*.*': "
                 "the API server refuses the file"]
    assert refusals(f"""
        - resources: [secrets]
          providers: [secretbox: {{keys: [{{name: "", secret: {KEY32}}}]}}]
        """) == ["resources[0].providers[0].secretbox.keys[0] has no name: name is a mandatory field for a key"]


def test_local_key_messages_read_as_sentences():
    _, findings, _ = found(enc(f"""
        - resources: [secrets]
          providers: [secretbox: {{keys: [{{name: k, secret: {KEY32}}}]}}]
        """), ["KH-ENC-003"])
    assert "; secretbox is a sound cipher, but its key is as exposed as any other key in the file;" in \
        findings[0].message


def test_the_legacy_encryption_config_format_is_judged_too():
    ids, _, _ = found("""
        kind: EncryptionConfig
        apiVersion: v1
        resources:
          - resources: [secrets]
            providers:
              - identity: {}
        """, ENC)
    assert ids == {"KH-ENC-002"}


# --- audit Policy -----------------------------------------------------------------------------

def policy(rules: str, top: str = "") -> str:
    return "apiVersion: audit.k8s.io/v1\nkind: Policy\n" + top + "rules:\n" + textwrap.indent(
        textwrap.dedent(rules).strip() + "\n", "  ")


def test_secrets_rule_after_a_broader_rule_is_too_late():
    text = policy("""
        - level: RequestResponse
          resources: [{group: ""}]
        - level: Metadata
          resources: [{group: "", resources: [secrets, configmaps, serviceaccounts/token]}]
        - level: Metadata
        """)
    _, findings, _ = found(text, ["KH-LOG-002"], file="audit.yaml")
    assert [(f.line, f.path) for f in findings] == [(4, "rules[0].level")]
    assert [f.message.split(" (request")[0] for f in findings] == [
        "policy rule 1 (rules[0]) logs secrets, configmaps, serviceaccounts/token at RequestResponse"]


def test_a_metadata_rule_limited_to_some_users_or_names_does_not_protect_the_rest():
    for limit in ('users: [alice]', 'verbs: [get]', 'namespaces: [prod]'):
        text = policy(f"""
            - level: Metadata
              {limit}
              resources: [{{group: "", resources: [secrets]}}]
            - level: Metadata
              resources: [{{group: "", resources: [configmaps, serviceaccounts/token]}},
                          {{group: authentication.k8s.io, resources: [tokenreviews]}}]
            - level: Request
            """)
        _, findings, _ = found(text, ["KH-LOG-002"])
        assert [f.message.split(" (request")[0] for f in findings] == [
            "policy rule 3 (rules[2]) logs secrets at Request"], limit


def test_request_level_for_reads_logs_no_body_but_request_response_does():
    reads = policy("""
        - level: Request
          verbs: [get, list, watch]
        - level: Metadata
        """)
    assert not found(reads, ["KH-LOG-002"])[1]
    writes = reads.replace("[get, list, watch]", "[get, update]")
    assert len(found(writes, ["KH-LOG-002"])[1]) == 1
    responses = reads.replace("level: Request\n", "level: RequestResponse\n")
    assert len(found(responses, ["KH-LOG-002"])[1]) == 1


def test_a_request_rule_for_other_resources_does_not_leak_secrets():
    text = policy("""
        - level: RequestResponse
          resources: [{group: "", resources: [pods]}, {group: apps}]
        - level: Metadata
        """)
    assert not found(text, ["KH-LOG-002"])[1]


def test_invalid_policy_names_the_rule_and_its_line():
    text = policy("""
        - level: Metadata
          resources: [{group: "", resources: [secrets]}]
        - level: Everything
        """)
    _, findings, _ = found(text, LOG, file="audit.yaml")
    (f,) = findings
    assert f.control.id == "KH-LOG-001" and f.line == 6 and f.path == "rules[1]"
    assert "level 'Everything' is not one of None, Metadata, Request, RequestResponse" in f.message


def test_policies_audit_validation_refuses_are_invalid():
    # k8s.io/apiserver/pkg/apis/audit/validation/validation.go: validateNonResourceURLs, validateResources
    for rule, said in (('nonResourceURLs: ["healthz"]', "must begin with a '/'"),
                       ('nonResourceURLs: ["/api/*/pods"]', "must be the final character"),
                       ("resources: [{resourceNames: [admin]}]", "resourceNames requires at least one resource"),
                       ('resources: [{group: "apps/v1", resources: [deployments]}]', "is not an API group name")):
        text = policy(f"""
            - level: Metadata
              {rule}
            - level: Metadata
            """)
        (f,) = found(text, LOG)[1]
        assert f.control.id == "KH-LOG-001" and said in f.message, rule


def test_none_rules_without_user_conditions_drop_anonymous_requests_too():
    for rule in ('nonResourceURLs: ["*"]', "verbs: [get, list, watch]"):
        text = policy(f"""
            - level: None
              {rule}
            - level: Metadata
            """)
        (f,) = found(text, ["KH-LOG-005"])[1]
        assert "anonymous ones included" in f.message, rule
    logged_first = policy("""
        - level: Metadata
          userGroups: ["system:unauthenticated"]
        - level: None
          verbs: [get]
        - level: Metadata
        """)
    assert not found(logged_first, ["KH-LOG-005"])[1]


def test_a_verb_wildcard_matches_nothing_so_it_leaks_nothing():
    # audit/policy/checker.go compares verbs literally: verbs ["*"] matches no request
    text = policy("""
        - level: RequestResponse
          verbs: ["*"]
        - level: Metadata
        """)
    assert not found(text, ["KH-LOG-002"])[1]


def test_catch_all_must_come_last_and_log_something():
    middle = policy("""
        - level: Metadata
        - level: None
          resources: [{group: "", resources: [events]}]
        """)
    assert messages(found(middle, ["KH-LOG-004"])[1], "KH-LOG-004") == [
        "policy rule 1 (rules[0]) matches every request, so the 1 rule(s) after it are never reached"]
    none_last = policy("""
        - level: Metadata
          resources: [{group: "", resources: [secrets]}]
        - level: None
        """)
    assert "is at level None" in messages(found(none_last, ["KH-LOG-004"])[1], "KH-LOG-004")[0]


def test_none_rule_for_anonymous_requests_fails_and_other_none_rules_do_not():
    text = policy("""
        - level: None
          users: ["system:anonymous"]
          nonResourceURLs: ["/healthz*"]
        - level: None
          users: ["system:kube-proxy"]
        - level: Metadata
        """)
    assert messages(found(text, ["KH-LOG-005"])[1], "KH-LOG-005") == [
        "policy rule 1 (rules[0]) logs nothing for system:anonymous (/healthz*): the guide asks that anonymous "
        "requests be logged even when anonymous access is off"]


def test_omitting_response_complete_per_policy_or_per_rule():
    per_rule = policy("""
        - level: Request
          omitStages: [ResponseComplete]
          resources: [{group: "", resources: [pods]}]
        - level: None
          omitStages: [ResponseComplete]
        """, "omitStages: [RequestReceived]\n")
    _, findings, _ = found(per_rule, ["KH-LOG-006"])
    assert [(f.path, f.line) for f in findings] == [("rules[0].omitStages", 6)]


def test_detection_gaps_come_from_the_audit_coverage():
    _, findings, _ = found(policy("- level: Metadata\n"), ["KH-LOG-003"])
    (f,) = findings
    assert "detection rules cannot see the requests they need" in f.message
    assert "KH-AUDIT-001 blind: create cronjobs logged at Metadata (policy rule 1 (rules[0])), needs Request" in f.message


# --- kubeconfig ---------------------------------------------------------------------------------

KUBECONFIG = """
    apiVersion: v1
    kind: Config
    clusters:
      - name: prod
        cluster:
          server: https://10.0.0.1:6443
          certificate-authority-data: LS0tLS1CRUdJTg==
    users:
      - name: admin
        user:
          client-certificate-data: LS0tLS1CRUdJTg==
          client-key-data: LS0tLS1CRUdJTiBSU0E=
      - name: gke
        user:
          exec:
            apiVersion: client.authentication.k8s.io/v1beta1
            command: gke-gcloud-auth-plugin
            args: [--verbose]
      - name: oidc
        user:
          auth-provider:
            name: oidc
            config: {idp-issuer-url: "https://issuer.example.com", id-token: eyJhbGciOi.e30.sig}
    """


def test_kubeconfig_credentials_and_plugins_are_named_with_the_file():
    _, findings, _ = found(KUBECONFIG, KCFG, file="home/dev/.kube/config")
    got = [(f.control.id, f.line, f.path) for f in findings]
    assert got == [
        ("KH-KCFG-004", 13, "users[0].user.client-key-data"),
        ("KH-KCFG-004", 24, "users[2].user.auth-provider.config.id-token"),
        ("KH-KCFG-005", 18, "users[1].user.exec.command"),
        ("KH-KCFG-005", 22, "users[2].user.auth-provider"),
    ]
    text = " | ".join(f.message for f in findings)
    assert "embedded in home/dev/.kube/config (client-key-data)" in text
    assert "'gke-gcloud-auth-plugin --verbose'" in text and "'oidc'" in text


def test_insecure_skip_tls_verify_false_passes():
    text = """
        apiVersion: v1
        kind: Config
        clusters:
          - name: a
            cluster: {server: "https://a:6443", insecure-skip-tls-verify: false}
        """
    ids, _, result = found(text, ["KH-KCFG-001", "KH-KCFG-002"])
    assert not ids and result.control_status() == {"KH-KCFG-001": "pass", "KH-KCFG-002": "pass"}


# --- PodSecurity admission ---------------------------------------------------------------------

def test_admission_configuration_with_a_path_has_nothing_to_judge_here():
    text = """
        apiVersion: apiserver.config.k8s.io/v1
        kind: AdmissionConfiguration
        plugins:
          - name: PodSecurity
            path: /etc/kubernetes/pod-security.yaml
          - name: EventRateLimit
            path: /etc/kubernetes/eventratelimit.yaml
        """
    ids, _, result = found(text, PSA)
    assert not ids and {result.control_status()[c] for c in PSA} == {"not-applicable"}


def test_psa_levels_and_exemptions():
    text = """
        apiVersion: apiserver.config.k8s.io/v1
        kind: AdmissionConfiguration
        plugins:
          - name: PodSecurity
            configuration:
              apiVersion: pod-security.admission.config.k8s.io/v1
              kind: PodSecurityConfiguration
              defaults:
                enforce: Baseline
                audit: baseline
              exemptions:
                runtimeClasses: [kata]
                namespaces: [kube-system]
        """
    _, findings, _ = found(text, PSA, file="admission.yaml")
    got = [(f.control.id, f.path, f.line) for f in findings]
    assert got == [
        ("KH-PSA-001", "plugins[0].configuration.defaults.enforce", 10),
        ("KH-PSA-003", "plugins[0].configuration.defaults.audit", 11),
        ("KH-PSA-003", "plugins[0].configuration.defaults.warn", 9),
        ("KH-PSA-004", "plugins[0].configuration.exemptions.runtimeClasses", 13),
    ]
    assert "'Baseline', not one of privileged, baseline, restricted" in findings[0].message
    assert "is not set, so it is privileged" in findings[2].message


# --- bad input never crashes a check ---------------------------------------------------------------

ODD_VALUES = ["null", "7", "text", "[1, x, null]", "{a: 1}", "[{}]", "[[]]", "true"]


def test_every_field_of_the_wrong_shape_is_judged_without_an_internal_error():
    shapes = {
        "apiserver.config.k8s.io/v1/EncryptionConfiguration": ["resources", "resources[0].resources",
                                                               "resources[0].providers", "resources[0].providers[0].aescbc",
                                                               "resources[0].providers[0].aescbc.keys",
                                                               "resources[0].providers[0].kms"],
        "audit.k8s.io/v1/Policy": ["rules", "rules[0]", "rules[0].resources", "omitStages", "rules[0].users"],
        "v1/Config": ["clusters", "clusters[0].cluster", "users", "users[0].user", "users[0].user.exec",
                      "users[0].user.auth-provider"],
        "pod-security.admission.config.k8s.io/v1/PodSecurityConfiguration": ["defaults", "exemptions",
                                                                             "exemptions.namespaces"],
        "apiserver.config.k8s.io/v1/AdmissionConfiguration": ["plugins", "plugins[0].configuration"],
    }
    base = {
        "resources": [{"resources": ["secrets"], "providers": [{"aescbc": {"keys": [{"name": "k", "secret": "x"}]}},
                                                                {"kms": {"name": "a"}}]}],
        "rules": [{"level": "Metadata", "resources": [{"group": ""}], "users": ["a"]}], "omitStages": [],
        "clusters": [{"name": "c", "cluster": {"server": "https://a"}}],
        "users": [{"name": "u", "user": {"exec": {"command": "x"}, "auth-provider": {"name": "oidc"}}}],
        "defaults": {"enforce": "baseline"}, "exemptions": {"namespaces": ["a"]},
        "plugins": [{"name": "PodSecurity", "configuration": {"defaults": {}}}],
    }
    for kind_key, paths in shapes.items():
        api_version, kind = kind_key.rsplit("/", 1)
        for path in paths:
            for odd in ODD_VALUES:
                doc = copy.deepcopy(base)
                doc.update({"apiVersion": api_version, "kind": kind})
                steps = [int(s) if s.isdigit() else s for s in re.findall(r"[^.\[\]]+", path)]
                target = doc
                for step in steps[:-1]:
                    target = target[step]
                target[steps[-1]] = yaml.safe_load(odd)
                _, _, result = found(json.dumps(doc), ENC + LOG + KCFG + PSA, file="odd.yaml")
                internal = [p.message for p in result.problems if p.kind == "internal"]
                assert not internal, (kind, path, odd, internal)


def test_kubeadm_conf_kubeconfigs_without_kind_are_read_and_other_conf_files_left(tmp_path):
    from kubeharden.sources.files import read_objects
    # kubeadm's /etc/kubernetes/admin.conf; client-go's clientcmd.Load reads a file without apiVersion/kind
    (tmp_path / "admin.conf").write_text(
        "clusters:\n- name: k\n  cluster: {server: 'http://10.0.0.1:6443'}\n"
        "users:\n- name: admin\n  user: {token: abc}\n")
    (tmp_path / "nginx.conf").write_text("server {\n  listen 80;\n}\n")
    items = list(read_objects([str(tmp_path)]))
    assert [(i.kind, i.ref.api_version, i.origin.file.rsplit("/", 1)[-1]) for i in items] == \
        [("Config", "v1", "admin.conf")]
    ids, findings, _ = found((tmp_path / "admin.conf").read_text(), KCFG, file="admin.conf")
    assert {"KH-KCFG-001", "KH-KCFG-004"} <= ids and all(f.line for f in findings)


def test_plain_http_proxy_and_secrets_in_exec_env_are_reported():
    text = """
        apiVersion: v1
        kind: Config
        clusters:
        - name: k
          cluster: {server: "https://10.0.0.1:6443", proxy-url: "http://proxy.example.com:3128"}
        users:
        - name: u
          user:
            exec:
              apiVersion: client.authentication.k8s.io/v1
              command: aws
              env: [{name: AWS_SECRET_ACCESS_KEY, value: abc}, {name: AWS_REGION, value: eu-west-1}]
        """
    _, findings, _ = found(text, KCFG, file="kubeconfig")
    said = {f.control.id: f.message for f in findings}
    assert "proxy-url http://proxy.example.com:3128 is plain http" in said["KH-KCFG-001"]
    assert "AWS_SECRET_ACCESS_KEY" in said["KH-KCFG-004"] and "AWS_REGION" not in said["KH-KCFG-004"]
    assert "KH-KCFG-005" in said  # exec plugins are reported in the default profile


def test_pinned_old_pod_security_versions_are_reported():
    text = """
        apiVersion: pod-security.admission.config.k8s.io/v1
        kind: PodSecurityConfiguration
        defaults:
          enforce: restricted
          enforce-version: v1.22
          audit: restricted
          audit-version: latest
          warn: restricted
          warn-version: "1.30"
        """
    _, findings, _ = found(text, PSA, file="psa.yaml")
    said = sorted((f.control.id, f.path, f.message.split(":")[0]) for f in findings)
    assert said == [("KH-PSA-001", "defaults.enforce-version", "defaults.enforce-version pins the Pod Security "
                     "Standards of v1.22"),
                    ("KH-PSA-003", "defaults.warn-version", "defaults.warn-version is '1.30', neither latest nor "
                     "a minor version such as v1.30")]


def test_the_control_plane_examples_report_every_file_family(capsys):
    from kubeharden.cli import main
    assert main(["scan", "--no-config", "-f", "json", "--fail-on", "none", "examples/control-plane"]) == 0
    report = json.loads(capsys.readouterr().out)
    ids = {re.search(r'"(KH-[A-Z]+-\d+)"', json.dumps(f)).group(1) for f in report["findings"]}
    for family in ("KH-ENC-", "KH-LOG-", "KH-KCFG-", "KH-PSA-"):
        assert any(i.startswith(family) for i in ids), family


def test_kubeconfig_entries_of_the_wrong_type_are_input_problems():
    items = list(parse_text("apiVersion: v1\nkind: Config\nclusters: x\nusers:\n- name: u\n  user: [1, 2]\n",
                            "kubeconfig"))
    said = [i.message for i in items if not hasattr(i, "raw")]
    assert said == ["kubeconfig clusters is a string, not a list: client-go refuses the file; its entries are "
                    "not judged",
                    "kubeconfig users[0].user is a list, not a mapping: client-go refuses the file; this entry is "
                    "not judged"]
