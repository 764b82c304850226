"""Join vulnerability reports to workloads (KH-IMG-011): prints timings, never part of the tests.

Target (issue #16): a 10,000-vulnerability report joined to 5,000 workloads in under 2 s.

Two scenarios, each timed as the best of ``--repeat`` runs, in this process:

* ``one-image``: one Trivy JSON report of 10,000 vulnerabilities (a third critical or high) of an
  image that all 5,000 Deployments run;
* ``many-images``: 100 reports of 100 vulnerabilities each (10,000 in all), the 5,000 Deployments
  spread over the 100 images, a LoadBalancer Service and NetworkPolicies so exposure is ranked;
* ``cyclonedx``: ``one-image`` with the report as a CycloneDX 1.6 document.

The target's figure is reading the reports from JSON (sources/vuln_report.py) plus the join: the
cross-object step of a scan with only KH-IMG-011 selected (the NetworkPolicy engine built for
exposure, the index of reports, the join, the findings with their messages). Reading the manifests
and streaming the objects through the engine (pod views, Pod Security Standards, the inventory)
are printed beside it: every scan pays them, with or without reports.

    python3 benchmarks/supply_bench.py [--workloads 5000] [--vulns 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from kubeharden.config import Config
from kubeharden.engine.evaluator import Evaluator
from kubeharden.sources import vuln_report
from kubeharden.sources.files import parse_text

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN", "MEDIUM")


def report(image: str, count: int, offset: int) -> bytes:
    vulns = [{"VulnerabilityID": f"CVE-2024-{offset + i:05d}", "PkgName": f"pkg{i % 400}",
              "InstalledVersion": "1.0.0", "FixedVersion": "1.0.1" if i % 2 else "",
              "Severity": SEVERITIES[i % len(SEVERITIES)], "Title": "synthetic"} for i in range(count)]
    return json.dumps({"SchemaVersion": 2, "ArtifactName": image, "ArtifactType": "container_image",
                       "Metadata": {"RepoTags": [image]},
                       "Results": [{"Target": image, "Class": "os-pkgs", "Vulnerabilities": vulns}]}).encode()


def cyclonedx(image: str, count: int, offset: int) -> bytes:
    """The same vulnerabilities as :func:`report`, as a CycloneDX 1.6 JSON document."""
    name, _, tag = image.rpartition(":")
    packages = [{"type": "library", "bom-ref": f"pkg:generic/pkg{i}@1.0.0", "name": f"pkg{i}", "version": "1.0.0"}
                for i in range(400)]
    vulns = [{"bom-ref": f"v{i}", "id": f"CVE-2024-{offset + i:05d}",
              "ratings": [{"severity": SEVERITIES[i % len(SEVERITIES)].lower()}],
              "affects": [{"ref": f"pkg:generic/pkg{i % 400}@1.0.0",
                           "versions": [{"version": "1.0.1", "status": "unaffected"}] if i % 2 else []}]}
             for i in range(count)]
    return json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
                       "metadata": {"component": {"type": "container", "name": name, "version": tag}},
                       "components": packages, "vulnerabilities": vulns}).encode()


def manifests(workloads: int, images: int) -> str:
    docs = []
    for n in range(workloads):
        ns = f"team{n % 20}"
        docs.append(f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: app{n}, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: app{n}}}}}
  template:
    metadata: {{labels: {{app: app{n}, tier: {"web" if n % 10 == 0 else "backend"}}}}}
    spec:
      containers: [{{name: main, image: "registry.example.com/img{n % images}:1.0"}}]
""")
    for t in range(20):
        docs.append(f"""apiVersion: v1
kind: Service
metadata: {{name: web, namespace: team{t}}}
spec: {{type: LoadBalancer, selector: {{tier: web}}, ports: [{{port: 80}}]}}
""")
        docs.append(f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: backend, namespace: team{t}}}
spec: {{podSelector: {{matchLabels: {{tier: backend}}}}, policyTypes: [Ingress]}}
""")
    return "---\n".join(docs)


def run(name: str, workloads: int, images: int, per_report: int, repeat: int, build=None) -> None:
    text = manifests(workloads, images)
    build = build or report
    reports = [build(f"registry.example.com/img{i}:1.0", per_report, i * per_report) for i in range(images)]
    start = time.perf_counter()
    objects = [o for o in parse_text(text, "bench.yaml")]
    read_manifests = time.perf_counter() - start
    best_read, best_stream, best_join, findings = float("inf"), float("inf"), float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        parsed = [item for n, data in enumerate(reports) for item in vuln_report.parse_bytes(data, f"r{n}.json")]
        read = time.perf_counter() - start
        evaluator = Evaluator(Config(), only=["KH-IMG-011"])
        start = time.perf_counter()
        for item in [*objects, *parsed]:
            list(evaluator.evaluate_object(item))
        stream = time.perf_counter() - start
        start = time.perf_counter()
        findings = sum(1 for _ in evaluator.finish())
        join = time.perf_counter() - start
        best_read, best_stream, best_join = min(best_read, read), min(best_stream, stream), min(best_join, join)
    vulns = images * per_report
    print(f"{name:12s} workloads {workloads:>6,}  reports {images:>4}  vulnerabilities {vulns:>7,}: "
          f"read reports {best_read:.3f} s + join {best_join:.3f} s = {best_read + best_join:.3f} s  "
          f"(findings {findings:,}; not counted: reading the manifests {read_manifests:.2f} s, streaming the "
          f"objects through the engine {best_stream:.2f} s, which every scan does)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", type=int, default=5000)
    parser.add_argument("--vulns", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    run("one-image", args.workloads, 1, args.vulns, args.repeat)
    run("many-images", args.workloads, 100, args.vulns // 100, args.repeat)
    run("cyclonedx", args.workloads, 1, args.vulns, args.repeat, cyclonedx)


if __name__ == "__main__":
    main()
