"""Vulnerability reports of the user's scanner (``--vuln-report FILE…``), one image per report.

kubeharden is no vulnerability scanner: it reads what the scanner found and joins it to the
workloads that run the image (checks/vulnerabilities.py). Formats, recognised by their content:

* Trivy JSON (``trivy image -f json``, schema 2: ``ArtifactName``, ``Metadata.RepoDigests``,
  ``Results[].Vulnerabilities[]``; https://trivy.dev/latest/docs/configuration/reporting/#json);
* Grype JSON (``grype -o json``: ``matches[].vulnerability``/``artifact``, ``source.target``;
  https://github.com/anchore/grype#supported-output-formats);
* CycloneDX 1.4+ JSON with ``vulnerabilities`` (the image is ``metadata.component``;
  https://cyclonedx.org/docs/1.6/json/#vulnerabilities), read with ``json`` by the published schema:
  cyclonedx-python-lib 11.12 took 16.9 s to load a 10,000-vulnerability document here, against the
  2 s the whole join may take (benchmarks/supply_bench.py);
* SPDX 3.0 JSON-LD with the Security profile (``security_Vulnerability`` elements,
  ``affects`` and ``hasAssessmentFor`` relationships, ``fixedIn`` VEX assessments;
  https://spdx.github.io/spdx-spec/v3.0.1/model/Security/Security/). SPDX 2 documents have no
  vulnerability data and are reported as such.

Each report becomes a ``VulnerabilityReport`` object: ``{"format", "references": [image names],
"digests": ["sha256:…"], "vulnerabilities": [{"id", "severity", "package", "installed", "fixed",
"title"}]}`` with severities in lower case (model/supply.py VULN_SEVERITIES).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from kubeharden.model.findings import Problem
from kubeharden.model.objects import K8sObject, Provenance, ResourceRef, as_dict, as_list
from kubeharden.model.supply import API_VERSION, VULN_SEVERITIES, VULNERABILITY_REPORT, as_text
from kubeharden.sources.files import ReadOptions, read_limited
from kubeharden.sources.yamlload import MAX_DEPTH

Item = K8sObject | Problem
SCHEME = "vuln-report://"
OPTION = ("--vuln-report", "FILE", "a vulnerability report of an image (Trivy JSON, Grype JSON, CycloneDX or SPDX 3 "
          "JSON): its critical and high findings are reported per workload running the image, most exposed "
          "first (repeatable; docs/supply-chain.md)")
Vulnerability = dict[str, str]


def claims(path: str) -> bool:
    """Whether ``path`` is an input of ``--vuln-report`` (``vuln-report://FILE``)."""
    return path.startswith(SCHEME)


def read(path: str, options: ReadOptions) -> Iterator[Item]:
    """The ``VulnerabilityReport`` of the file ``path`` (scheme removed), or a Problem; never raises."""
    data = read_limited(path[len(SCHEME):] if claims(path) else path, options.max_file_bytes)
    if isinstance(data, Problem):
        yield data
    else:
        yield from parse_bytes(data, path[len(SCHEME):] if claims(path) else path)


def parse_bytes(data: bytes, display: str) -> Iterator[Item]:
    """The report in ``data`` (``display`` names it) as an object, or a Problem."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        yield Problem("error", "parse", f"not a JSON vulnerability report: {exc}", file=display)
        return
    except RecursionError:
        yield Problem("error", "parse", f"nesting deeper than {MAX_DEPTH} levels: not read as a vulnerability report",
                      file=display)
        return
    if (data.count(b"[") + data.count(b"{") > MAX_DEPTH) and depth_of(document) > MAX_DEPTH:
        yield Problem("error", "parse", f"nesting deeper than {MAX_DEPTH} levels: not read as a vulnerability report",
                      file=display)
        return
    reader = _reader_for(document)
    if isinstance(reader, str):
        yield Problem("error", "vuln-report", reader, file=display)
        return
    name, parse = reader
    try:
        references, digests, vulnerabilities = parse(document)
    except Exception as exc:  # a report that is valid JSON but not of the shape its format publishes
        yield Problem("error", "vuln-report", f"{name} report could not be read ({type(exc).__name__}: {exc})",
                      file=display)
        return
    if not references and not digests:
        yield Problem("error", "vuln-report", f"{name} report names no image (no reference, no digest): "
                      "nothing to join it to", file=display)
        return
    raw = {"apiVersion": API_VERSION, "kind": VULNERABILITY_REPORT, "metadata": {"name": display},
           "format": name, "references": _unique(references), "digests": _unique(d.lower() for d in digests),
           "vulnerabilities": _deduplicated(vulnerabilities)}
    yield K8sObject(raw=raw, ref=ResourceRef(API_VERSION, VULNERABILITY_REPORT, None, display),
                    origin=Provenance(display, None, "vuln-report"))


Parsed = tuple[list[str], list[str], list[Vulnerability]]


def _reader_for(document: Any) -> tuple[str, Callable[[dict[str, Any]], Parsed]] | str:
    """(format name, parser) for ``document``, or why it is not a report kubeharden reads."""
    if not isinstance(document, dict):
        return "not a vulnerability report (the document is not a JSON object)"
    if "SchemaVersion" in document and ("Results" in document or "ArtifactName" in document):
        if document.get("ArtifactType") not in (None, "container_image"):
            return (f"Trivy report of a {document.get('ArtifactType')}, not of a container image: scan the images "
                    "the workloads run (trivy image -f json IMAGE)")
        return "trivy", _trivy
    if "matches" in document and ("source" in document or "descriptor" in document):
        return "grype", _grype
    if document.get("bomFormat") == "CycloneDX":
        return "cyclonedx", _cyclonedx
    if "@graph" in document or "spdx" in str(document.get("@context", "")).lower():
        return "spdx", _spdx3
    if "spdxVersion" in document:
        return (f"{document.get('spdxVersion')} document: SPDX 2 has no vulnerability data; give the scanner's "
                "own report (Trivy or Grype JSON), CycloneDX, or SPDX 3 with the Security profile")
    return "unknown vulnerability report format (Trivy JSON, Grype JSON, CycloneDX or SPDX 3 JSON are read)"


def depth_of(value: Any) -> int:
    """How deeply ``value`` nests mappings and lists (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        children: Any = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _objects(value: Any, where: str) -> list[dict[str, Any]]:
    """The objects of the list ``value`` (missing or null: none); any other shape is a malformed report,
    never "no vulnerabilities"."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where} is a JSON {_json_type(value)}, not a list")
    for n, item in enumerate(value):
        if not isinstance(item, dict):
            raise ValueError(f"{where}[{n}] is a JSON {_json_type(item)}, not an object")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{where} is a JSON {_json_type(value)}, not an object")
    return value


def _scalar(value: Any, where: str) -> Any:
    if isinstance(value, (dict, list)):
        raise ValueError(f"{where} is a JSON {_json_type(value)}, not a string")
    return value


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number"}.get(type(value), "null")


def severity(value: Any) -> str:
    """A report's severity in lower case, one of VULN_SEVERITIES (``unknown`` for anything else)."""
    text = as_text(value).strip().lower()
    return text if text in VULN_SEVERITIES else "unknown"


def _vuln(ident: Any, sev: Any, package: Any, installed: Any, fixed: Any, title: Any) -> Vulnerability:
    for name, value in (("id", ident), ("severity", sev), ("package", package), ("installed version", installed)):
        _scalar(value, f"a vulnerability's {name}")
    return {"id": as_text(ident), "severity": severity(sev), "package": as_text(package),
            "installed": as_text(installed), "fixed": as_text(fixed), "title": as_text(title)}


def _trivy(doc: dict[str, Any]) -> Parsed:
    meta = _object(doc.get("Metadata"), "Metadata")
    references = [as_text(doc.get("ArtifactName"))] + [as_text(t) for t in meta.get("RepoTags") or ()]
    digests = [_after_at(d) for d in meta.get("RepoDigests") or ()] + [as_text(meta.get("ImageID"))]
    found = []
    for n, result in enumerate(_objects(doc.get("Results"), "Results")):
        for v in _objects(result.get("Vulnerabilities"), f"Results[{n}].Vulnerabilities"):
            found.append(_vuln(v.get("VulnerabilityID"), v.get("Severity"), v.get("PkgName"),
                               v.get("InstalledVersion"), v.get("FixedVersion"), v.get("Title")))
    return [r for r in references if r], [d for d in digests if d], found


def _grype(doc: dict[str, Any]) -> Parsed:
    target = as_dict(as_dict(doc.get("source")).get("target"))
    references = [as_text(target.get("userInput"))] + [as_text(t) for t in target.get("tags") or ()]
    digests = [as_text(target.get("manifestDigest")), as_text(target.get("imageID"))] + \
        [_after_at(d) for d in target.get("repoDigests") or ()]
    found = []
    for n, match in enumerate(_objects(doc.get("matches"), "matches")):
        vuln = _object(match.get("vulnerability"), f"matches[{n}].vulnerability")
        artifact = _object(match.get("artifact"), f"matches[{n}].artifact")
        fix = as_dict(vuln.get("fix"))
        found.append(_vuln(vuln.get("id"), vuln.get("severity"), artifact.get("name"), artifact.get("version"),
                           ", ".join(as_text(v) for v in fix.get("versions") or ()), vuln.get("description")))
    return [r for r in references if r], [d for d in digests if d], found


def _cyclonedx(doc: dict[str, Any]) -> Parsed:
    """CycloneDX 1.4-1.6 JSON (https://cyclonedx.org/docs/1.6/json/): the image is ``metadata.component``,
    packages are ``components`` (nested ones too) by ``bom-ref``, and each vulnerability's ``affects``
    names the packages, with ``versions[].status: unaffected`` for fixed versions."""
    vulnerabilities = _objects(doc.get("vulnerabilities"), "vulnerabilities")
    component = _object(_object(doc.get("metadata"), "metadata").get("component"), "metadata.component")
    references: list[str] = []
    digests: list[str] = []
    if component:
        name, version = as_text(component.get("name")), as_text(component.get("version"))
        if version.startswith("sha256:"):
            digests.append(version)
            references.append(name)
        else:
            references.append(f"{name}:{version}" if version and ":" not in name.rsplit("/", 1)[-1] else name)
        purl = as_text(component.get("purl"))
        if purl.startswith("pkg:oci/") and "@sha256" in purl.replace("%3A", ":").replace("%3a", ":"):
            digests.append(purl.replace("%3A", ":").replace("%3a", ":").split("@", 1)[1].split("?", 1)[0])
        for prop in as_list(component.get("properties")):
            prop_name, value = as_text(as_dict(prop).get("name")), as_text(as_dict(prop).get("value"))
            if prop_name.endswith(("RepoDigest", "ImageID")):
                digests.append(_after_at(value))
            elif prop_name.endswith("RepoTag"):
                references.append(value)
    packages: dict[str, dict[str, Any]] = {}
    stack = list(as_list(doc.get("components")))
    while stack:
        package = as_dict(stack.pop())
        packages[as_text(package.get("bom-ref"))] = package
        stack.extend(as_list(package.get("components")))
    found = []
    for n, v in enumerate(vulnerabilities):
        rated = _objects(v.get("ratings"), f"vulnerabilities[{n}].ratings")
        ratings = sorted((severity(r.get("severity")) for r in rated), key=VULN_SEVERITIES.index)
        for affect in _objects(v.get("affects"), f"vulnerabilities[{n}].affects") or [{}]:
            ref = as_text(_scalar(affect.get("ref"), f"vulnerabilities[{n}].affects[].ref"))
            package = packages.get(ref, {})
            # only versions are fixed versions; "recommendation" is free text (CycloneDX 1.6, vulnerabilities)
            fixed = [as_text(x.get("version")) for x in _objects(affect.get("versions"),
                                                                 f"vulnerabilities[{n}].affects[].versions")
                     if x.get("status") == "unaffected" and x.get("version")]
            found.append(_vuln(v.get("id"), ratings[0] if ratings else None, package.get("name") or ref,
                               package.get("version"), ", ".join(fixed),
                               v.get("description")))
    return references, digests, found


def _spdx3(doc: dict[str, Any]) -> Parsed:
    elements: dict[str, dict[str, Any]] = {str(e.get("spdxId")): e for e in _objects(doc.get("@graph"), "@graph")}
    references: list[str] = []
    digests: list[str] = []
    for element in elements.values():
        if element.get("type") == "software_Package" and element.get("software_primaryPurpose") == "container":
            purl = as_text(element.get("software_packageUrl"))
            version = as_text(element.get("software_packageVersion"))
            name = as_text(element.get("name"))
            if "@sha256:" in purl:
                digests.append(purl.split("@", 1)[1].split("?", 1)[0].replace("%3A", ":").replace("%3a", ":"))
            if version.startswith("sha256:"):
                digests.append(version)
            elif name:
                references.append(f"{name}:{version}" if version and ":" not in name else name)
    severities: dict[str, str] = {}
    fixed: dict[str, list[str]] = {}
    affects: dict[str, list[str]] = {}
    for element in elements.values():
        kind = as_text(element.get("type"))
        source = as_text(_scalar(element.get("from"), "a relationship's from"))
        targets = [t for t in as_list(element.get("to")) if isinstance(t, str)]
        if kind == "Relationship" and element.get("relationshipType") == "affects":
            affects.setdefault(source, []).extend(targets)
        elif kind.startswith("security_Cvss") and element.get("security_severity"):
            old = severities.get(source, "unknown")
            new = severity(element.get("security_severity"))
            severities[source] = min(old, new, key=VULN_SEVERITIES.index)
        elif kind == "security_VexFixedVulnAssessmentRelationship":
            fixed.setdefault(source, []).extend(_package_version(elements.get(t)) for t in targets)
    found = []
    for spdx_id, element in elements.items():
        if element.get("type") != "security_Vulnerability":
            continue
        ident = next((as_text(x.get("identifier")) for x in _objects(element.get("externalIdentifier"),
                                                                       f"{spdx_id}.externalIdentifier")
                      if x.get("identifier")), as_text(element.get("name")) or spdx_id)
        for target in affects.get(spdx_id) or [""]:
            package = elements.get(target) or {}
            found.append(_vuln(ident, severities.get(spdx_id), package.get("name") or target,
                               package.get("software_packageVersion"), ", ".join(fixed.get(spdx_id, ())),
                               element.get("summary") or element.get("description")))
    return references, digests, found


def _package_version(element: dict[str, Any] | None) -> str:
    if not element:
        return ""
    return as_text(element.get("software_packageVersion")) or as_text(element.get("name"))


def _deduplicated(vulnerabilities: list[Vulnerability]) -> list[Vulnerability]:
    """One entry per vulnerability, package and installed version: Trivy lists a package once per Result
    (layer, language file) it is found in, and a CycloneDX document may list one twice; the most severe
    rating and the first fixed version given are kept."""
    kept: dict[tuple[str, str, str], Vulnerability] = {}
    for v in vulnerabilities:
        key = (v["id"], v["package"], v["installed"])
        old = kept.get(key)
        if old is None:
            kept[key] = v
            continue
        if VULN_SEVERITIES.index(v["severity"]) < VULN_SEVERITIES.index(old["severity"]):
            old["severity"] = v["severity"]
        old["fixed"] = old["fixed"] or v["fixed"]
        old["title"] = old["title"] or v["title"]
    return list(kept.values())


def _after_at(value: Any) -> str:
    """``nginx@sha256:…`` -> ``sha256:…``."""
    return as_text(value).rsplit("@", 1)[-1]


def _unique(items: Any) -> list[str]:
    return list(dict.fromkeys(items))
