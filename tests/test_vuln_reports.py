"""Vulnerability reports (--vuln-report): every format read, joined per workload, most exposed first,
with per-vulnerability exceptions. Reports are written by tests/supply_builders.py and the catalogue's
KH-IMG-011 examples, each from its format's published documentation."""

from __future__ import annotations

import datetime as dt
import json
import textwrap

import pytest
from supply_builders import DIGEST, grype_report, trivy_report

from kubeharden.catalogue.loader import controls_by_id
from kubeharden.cli import main
from kubeharden.config import parse_config
from kubeharden.engine.evaluator import Evaluator
from kubeharden.model.findings import Problem
from kubeharden.model.objects import K8sObject
from kubeharden.sources import vuln_report
from kubeharden.sources.files import parse_text

IMAGE = "registry.example.com/web:1.0"
VULNS = [("CVE-2024-0001", "CRITICAL", "openssl", "3.0.11", "3.0.13"),
         ("CVE-2024-0002", "HIGH", "curl", "8.0.1", ""),
         ("CVE-2024-0003", "MEDIUM", "zlib", "1.2.13", "1.3")]


def deployment(name: str, image: str = IMAGE, namespace: str = "shop", labels: str = "") -> str:
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: {name}, namespace: {namespace}}}
        spec:
          selector: {{matchLabels: {{app: {name}}}}}
          template:
            metadata: {{labels: {{app: {name}{labels}}}}}
            spec:
              containers: [{{name: {name}, image: "{image}"}}]
        """)


def scan(manifests: str, *reports: str, config: dict | None = None, today: dt.date | None = None):
    items: list[K8sObject | Problem] = list(parse_text(manifests, "app.yaml"))
    for n, report in enumerate(reports):
        items += list(vuln_report.parse_bytes(report.encode(), f"report-{n}.json"))
    evaluator = Evaluator(parse_config(config or {}), only=["KH-IMG-011"], today=today)
    findings = list(evaluator.run(items))
    return findings, evaluator.result


@pytest.mark.parametrize("n", range(4))
def test_each_format_of_the_catalogue_gives_the_critical_vulnerability(n):
    control = controls_by_id()["KH-IMG-011"]
    [obj] = list(vuln_report.parse_bytes(control.fail_examples[n].encode(), "r.json"))
    assert obj.raw["format"] == ["trivy", "grype", "cyclonedx", "spdx"][n]
    serious = [v for v in obj.raw["vulnerabilities"] if v["severity"] in ("critical", "high")]
    assert serious and all(v["fixed"] for v in serious)
    assert "registry.example.com/web:1.0" in obj.raw["references"]


def test_spdx_names_the_fixed_version_and_package():
    control = controls_by_id()["KH-IMG-011"]
    [obj] = list(vuln_report.parse_bytes(control.fail_examples[3].encode(), "r.json"))
    assert obj.raw["vulnerabilities"] == [{"id": "CVE-2024-0001", "severity": "critical", "package": "openssl",
                                           "installed": "3.0.11-1", "fixed": "3.0.13-1", "title": ""}]


def test_cyclonedx_fixed_version_from_unaffected_range():
    control = controls_by_id()["KH-IMG-011"]
    [obj] = list(vuln_report.parse_bytes(control.fail_examples[2].encode(), "r.json"))
    [v] = obj.raw["vulnerabilities"]
    assert (v["package"], v["installed"], v["fixed"]) == ("openssl", "3.0.11-1", "3.0.13-1")


@pytest.mark.parametrize("text, message", [
    ("not json", "not a JSON vulnerability report"),
    ("[1, 2]", "not a JSON object"),
    ('{"spdxVersion": "SPDX-2.3", "packages": []}', "SPDX 2 has no vulnerability data"),
    ('{"SchemaVersion": 2, "ArtifactType": "filesystem", "ArtifactName": "."}', "not of a container image"),
    ('{"hello": "world"}', "unknown vulnerability report format"),
    ('{"SchemaVersion": 2, "Results": []}', "names no image"),
    ('{"bomFormat": "CycloneDX", "specVersion": "1.6", "vulnerabilities": "x"}', "cyclonedx report could not be read"),
    # Trivy schema 2: Results is an array of results, each with an array Vulnerabilities; anything else is
    # a malformed report, never "no vulnerabilities"
    ('{"SchemaVersion": 2, "ArtifactName": "a/b:1", "Results": {"Target": "x", "Vulnerabilities": []}}',
     "Results is a JSON object, not a list"),
    ('{"SchemaVersion": 2, "ArtifactName": "a/b:1", "Results": [{"Vulnerabilities": {"0": {}}}]}',
     "Results[0].Vulnerabilities is a JSON object, not a list"),
    ('{"SchemaVersion": 2, "ArtifactName": "a/b:1", "Results": [5]}', "Results[0] is a JSON number"),
    # Grype: matches is an array of match objects
    ('{"matches": "x", "source": {"target": {"userInput": "a/b:1"}}}', "matches is a JSON string, not a list"),
    # CycloneDX: metadata.component is an object, affects[].versions an array
    ('{"bomFormat": "CycloneDX", "metadata": {"component": "x"}, "vulnerabilities": []}',
     "metadata.component is a JSON string"),
    ('{"bomFormat": "CycloneDX", "metadata": {"component": {"name": "a/b", "version": "1"}}, "vulnerabilities": '
     '[{"id": "CVE-1", "affects": [{"ref": "x", "versions": "bad"}]}]}', "versions is a JSON string, not a list"),
    # SPDX 3 JSON-LD: @graph is an array of elements
    ('{"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld", "@graph": "x"}', "@graph is a JSON string"),
    # nested deeper than the YAML and snapshot readers allow (MAX_DEPTH), or than Python's recursion limit
    ('{"SchemaVersion": 2, "ArtifactName": "a/b:1", "Results": ' + "[" * 150 + "]" * 150 + "}", "nesting deeper than"),
    ("[" * 100000 + "]" * 100000, "nesting deeper than"),
])
def test_bad_reports_are_problems_naming_the_file(text, message):
    [problem] = list(vuln_report.parse_bytes(text.encode(), "bad.json"))
    assert isinstance(problem, Problem) and message in problem.message and problem.file == "bad.json"


def test_findings_per_workload_with_fixed_versions_and_lower_severities_left_out():
    findings, result = scan(deployment("web") + "---\n" + deployment("api"), trivy_report(IMAGE, VULNS))
    assert [f.resource.name for f in findings] == ["api", "web"]
    message = findings[0].message
    assert "1 critical, 1 high" in message and "CVE-2024-0001 (critical, openssl 3.0.11, fixed in 3.0.13)" in message
    assert "CVE-2024-0002 (high, curl 8.0.1, no fixed version yet)" in message and "CVE-2024-0003" not in message
    assert findings[1].line == 9 and findings[1].path == "spec.template.spec.containers[0].image"
    assert result.tally.evaluated["KH-IMG-011"] >= 1


def test_internet_exposed_workloads_come_first():
    exposed = textwrap.dedent("""\
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: zz-web, namespace: shop}
        spec:
          type: LoadBalancer
          selector: {app: zz-web}
          ports: [{port: 80}]
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: deny, namespace: shop}
        spec:
          podSelector: {matchLabels: {app: b-db}}
          policyTypes: [Ingress]
        """)
    manifests = deployment("b-db") + "---\n" + deployment("a-api") + "---\n" + deployment("zz-web") + exposed
    findings, _ = scan(manifests, trivy_report(IMAGE, VULNS))
    assert [f.resource.name for f in findings] == ["zz-web", "a-api", "b-db"]
    assert "reachable from the internet through Service shop/zz-web" in findings[0].message
    assert "reachable from every pod" in findings[1].message
    assert "ingress restricted by NetworkPolicies" in findings[2].message


def test_join_by_the_digest_the_pod_status_reports():
    pod = textwrap.dedent(f"""\
        apiVersion: v1
        kind: Pod
        metadata: {{name: web-1, namespace: shop}}
        spec:
          containers: [{{name: web, image: "web:moving"}}]
        status:
          containerStatuses:
            - {{name: web, image: "docker.io/library/web:moving", imageID: "docker-pullable://web@{DIGEST}"}}
        """)
    findings, _ = scan(pod, grype_report("registry.example.com/elsewhere:1", [VULNS[0]], digest=DIGEST))
    assert len(findings) == 1 and "CVE-2024-0001" in findings[0].message


def test_image_without_a_report_is_said_not_scanned():
    findings, _ = scan(deployment("web") + "---\n" + deployment("other", "registry.example.com/other:2"),
                       trivy_report(IMAGE, []))
    assert [f.message for f in findings] == [
        "container other: no vulnerability report covers its image registry.example.com/other:2 (1 report(s) "
        "given): its vulnerabilities are not known"]


def test_without_reports_nothing_is_evaluated_or_passed():
    findings, result = scan(deployment("web"))
    assert findings == [] and result.tally.evaluated.get("KH-IMG-011", 0) == 0


def test_exceptions_per_vulnerability_and_image_with_expiry():
    config = {"exceptions": [
        {"control": "KH-IMG-011", "vulnerability": "CVE-2024-0001", "image": "registry.example.com/web:*",
         "reason": "not reachable in our build: the TLS code is unused", "expires": "2099-01-01"},
        {"control": "KH-IMG-011", "match": {"vulnerability": "CVE-2024-0002", "namespace": "other"},
         "reason": "other namespace only"},
        {"control": "vulnerable-image", "vulnerability": "CVE-2024-0002", "reason": "old", "expires": "2020-01-01"},
    ]}
    findings, result = scan(deployment("web"), trivy_report(IMAGE, VULNS), config=config)
    [finding] = findings
    assert finding.status == "fail" and "CVE-2024-0001" not in finding.message.split(":", 1)[1].split(";")[0]
    assert "1 high" in finding.message and "1 waived by exceptions" in finding.message
    assert [e.index for e in result.unused_exceptions] == [1]
    assert [e.index for e in result.expired_exceptions] == [2]


def test_every_vulnerability_waived_suppresses_the_finding_with_the_reasons():
    config = {"exceptions": [{"control": "KH-IMG-011", "vulnerability": "CVE-2024-000[12]",
                              "reason": "false positive, vendor backport"}]}
    [finding], result = scan(deployment("web"), trivy_report(IMAGE, VULNS), config=config)
    assert finding.status == "suppressed" and "vendor backport" in finding.suppression["reason"]
    assert result.suppressed == 1


def test_a_per_vulnerability_exception_never_suppresses_other_controls():
    rule = parse_config({"exceptions": [{"control": "KH-*", "vulnerability": "CVE-1", "reason": "x"}]}).exceptions[0]
    assert not rule.matches("KH-POD-001", "Deployment", "shop", "web", "web")


def test_cli_reads_reports_given_with_the_option(tmp_path, capsys):
    (tmp_path / "app.yaml").write_text(deployment("web"))
    (tmp_path / "trivy.json").write_text(trivy_report(IMAGE, VULNS))
    code = main(["scan", "--no-config", "-f", "json", "--control", "KH-IMG-011", str(tmp_path / "app.yaml"),
                 "--vuln-report", str(tmp_path / "trivy.json")])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and [f["control_id"] for f in report["findings"]] == ["KH-IMG-011"]
    assert report["summary"]["kinds"] == {"Deployment": 1, "VulnerabilityReport": 1}
    # a report that cannot be read is an input error naming it
    main(["scan", "--no-config", "-f", "json", str(tmp_path / "app.yaml"), "--vuln-report",
          str(tmp_path / "missing.json")])
    errors = json.loads(capsys.readouterr().out)["errors"]
    assert any("cannot read" in e["message"] and e["file"].endswith("missing.json") for e in errors)


def test_reports_with_scope_path_are_refused(tmp_path, capsys):
    (tmp_path / "app.yaml").write_text(deployment("web"))
    (tmp_path / "trivy.json").write_text(trivy_report(IMAGE, VULNS))
    assert main(["scan", "--no-config", "--scope", "path", str(tmp_path / "app.yaml"),
                 "--vuln-report", str(tmp_path / "trivy.json")]) == 2
    assert "cannot be used with --scope path" in capsys.readouterr().err


def test_per_vulnerability_keys_belong_to_the_vulnerability_control():
    from kubeharden.config import ConfigError

    with pytest.raises(ConfigError, match="single vulnerabilities of KH-IMG-011 only"):
        parse_config({"exceptions": [{"control": "KH-POD-001", "vulnerability": "CVE-1", "reason": "x"}]})
    assert parse_config({"exceptions": [{"control": "KH-IMG-*", "image": "a/b:*", "reason": "x"}]}).exceptions


def test_workload_behind_an_ingress_is_internet_exposed():
    route = textwrap.dedent("""\
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: web, namespace: shop}
        spec:
          selector: {app: web}
          ports: [{port: 80, targetPort: 8080}]
        ---
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: web, namespace: shop}
        spec:
          rules:
            - host: shop.example.com
              http:
                paths:
                  - path: /
                    pathType: Prefix
                    backend: {service: {name: web, port: {number: 80}}}
        """)
    findings, _ = scan(deployment("api") + "---\n" + deployment("web") + route, trivy_report(IMAGE, VULNS))
    assert [f.resource.name for f in findings] == ["web", "api"]
    assert "reachable from the internet through Ingress" in findings[0].message


def test_a_report_of_another_build_under_the_same_tag_is_not_joined():
    other = "sha256:" + "cd" * 32
    findings, _ = scan(deployment("web", f"{IMAGE}@{other}"), trivy_report(IMAGE, VULNS, digests=(DIGEST,)))
    assert [f.message.split(":")[0] for f in findings] == ["container web"]
    assert "no vulnerability report covers its image" in findings[0].message
    findings, _ = scan(deployment("web", f"{IMAGE}@{DIGEST}"), trivy_report(IMAGE, VULNS, digests=(DIGEST,)))
    assert "CVE-2024-0001" in findings[0].message


def test_a_controller_is_judged_once_by_the_digest_its_pods_run():
    # a List as `kubectl get deploy,rs,pod -o json` writes it: the Pod's ownerReference names the ReplicaSet,
    # the ReplicaSet's names the Deployment (controller: true; "Owners and Dependents"); the Pod's status
    # says which digest the node runs (ContainerStatus imageID)
    items = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
         "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:moving"}]}}}},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
            "name": "web-abc", "namespace": "shop", "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d1", "controller": True}]},
         "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:moving"}]}}}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": "web-abc-x", "namespace": "shop", "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": "r1", "controller": True}]},
         "spec": {"containers": [{"name": "web", "image": "web:moving"}]},
         "status": {"containerStatuses": [{"name": "web", "imageID": f"docker-pullable://web@{DIGEST}"}]}}]
    manifests = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    findings, _ = scan(manifests, grype_report("registry.example.com/elsewhere:1", [VULNS[0]], digest=DIGEST))
    assert [(f.resource.kind, f.resource.name) for f in findings] == [("Deployment", "web")]
    assert "CVE-2024-0001" in findings[0].message


def test_one_vulnerability_listed_twice_is_counted_once():
    # Trivy lists a package in each Result (target) it is found in; CycloneDX may list a vulnerability twice
    report = json.loads(trivy_report(IMAGE, [VULNS[0], VULNS[1]]))
    report["Results"].append(json.loads(json.dumps(report["Results"][0])) | {"Target": "usr/lib/app (jar)"})
    [obj] = list(vuln_report.parse_bytes(json.dumps(report).encode(), "r.json"))
    assert sorted(v["id"] for v in obj.raw["vulnerabilities"]) == ["CVE-2024-0001", "CVE-2024-0002"]
    findings, _ = scan(deployment("web"), json.dumps(report))
    assert "1 critical, 1 high vulnerabilities" in findings[0].message
    bom = {"bomFormat": "CycloneDX", "specVersion": "1.6",
           "metadata": {"component": {"type": "container", "name": "registry.example.com/web", "version": "1.0"}},
           "components": [{"bom-ref": "pkg-openssl", "name": "openssl", "version": "3.0.11"}],
           "vulnerabilities": [{"id": "CVE-2024-0001", "ratings": [{"severity": "critical"}],
                                "affects": [{"ref": "pkg-openssl"}]}] * 2}
    [obj] = list(vuln_report.parse_bytes(json.dumps(bom).encode(), "bom.json"))
    assert len(obj.raw["vulnerabilities"]) == 1


def test_severity_follows_the_vulnerabilities_and_fail_on_critical_gates(tmp_path, capsys):
    from kubeharden.model.findings import Severity
    # CVSS qualitative ratings: a critical vulnerability is a critical finding; high only is high; an image
    # nobody scanned is unknown, reported below both (medium)
    findings, _ = scan(deployment("web") + "---\n" + deployment("api", "registry.example.com/api:1") + "---\n"
                       + deployment("db", "registry.example.com/db:1"), trivy_report(IMAGE, VULNS),
                       trivy_report("registry.example.com/api:1", [VULNS[1]]))
    assert {f.resource.name: f.severity for f in findings} == {"web": Severity.CRITICAL, "api": Severity.HIGH,
                                                               "db": Severity.MEDIUM}
    (tmp_path / "app.yaml").write_text(deployment("web"))
    (tmp_path / "trivy.json").write_text(trivy_report(IMAGE, VULNS))
    code = main(["scan", "--no-config", "-f", "json", "--fail-on", "critical", "--control", "KH-IMG-011",
                 str(tmp_path / "app.yaml"), "--vuln-report", str(tmp_path / "trivy.json")])
    assert code == 1 and json.loads(capsys.readouterr().out)["findings"][0]["severity"] == "critical"


def test_cyclonedx_recommendation_text_is_no_fixed_version():
    # CycloneDX 1.6: "recommendation" is free text; fixed versions are affects[].versions[] with status unaffected
    bom = {"bomFormat": "CycloneDX", "specVersion": "1.6",
           "metadata": {"component": {"type": "container", "name": "registry.example.com/web", "version": "1.0"}},
           "components": [{"bom-ref": "pkg-openssl", "name": "openssl", "version": "3.0.11"}],
           "vulnerabilities": [{"id": "CVE-2024-0001", "ratings": [{"severity": "critical"}],
                                "recommendation": "Upgrade openssl when your vendor ships a patch",
                                "affects": [{"ref": "pkg-openssl"}]}]}
    [obj] = list(vuln_report.parse_bytes(json.dumps(bom).encode(), "bom.json"))
    assert obj.raw["vulnerabilities"][0]["fixed"] == ""
    findings, _ = scan(deployment("web"), json.dumps(bom))
    assert "no fixed version yet" in findings[0].message and "fixed in Upgrade" not in findings[0].message
