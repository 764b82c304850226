"""SARIF 2.1.0 for GitHub code scanning and other SARIF consumers.

Each control is a rule (with its guide citation, remediation and mappings as help);
each finding a result located at the file and line of the offending field. Suppressed
findings carry a SARIF suppression; input errors become tool notifications.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any
from urllib.parse import quote

import orjson

from kubeharden import __version__
from kubeharden.model.findings import Finding, Severity
from kubeharden.model.guide import GUIDE_DOC_URL, requirement_url, title_of
from kubeharden.model.pods import TEMPLATE_EVALUATED
from kubeharden.model.results import ScanResult
from kubeharden.report.trace import related, with_hint

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/kubeharden/kubeharden"
#: partialFingerprints key of Finding.fingerprint. It replaces "kubeharden/v1", which held the message
#: text: kept beside it, the old key would still change with every rewording, so it was dropped.
FINGERPRINT_KEY = "kubeharden/v2"

_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
          Severity.LOW: "note", Severity.INFO: "note"}
# GitHub ranks alerts by this 0-10 score.
_SCORE = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5", Severity.LOW: "3.0",
          Severity.INFO: "0.0"}


#: The provenance source of live objects, whose ``file`` is the kubectl command that shows them (docs/cluster.md).
LIVE = "cluster"


def file_uri(path: str) -> str:
    """A URI reference for a scanned path (relative paths stay relative for code scanning)."""
    return quote(path.removeprefix("./").replace("\\", "/"))


def _rule(control: Any) -> dict[str, Any]:
    guide = "; ".join(f"{i} ({title_of(i)}, {requirement_url(i)})" for i in control.nsa)
    guide_md = "; ".join(f"[{i}]({requirement_url(i)}) {title_of(i)}" for i in control.nsa)
    maps = "; ".join(f"{k}: {', '.join(v)}" for k, v in control.mappings_dict().items() if v)
    text = f"{control.description}\n\nFix: {control.remediation}\n\nGuide: {guide}"
    markdown = (f"{control.description}\n\n**Fix:** {control.remediation}\n\n**Guide:** {guide_md}\n\n"
                f"**Equivalent checks:** {maps or 'none'}")
    rule: dict[str, Any] = {
        "id": control.id,
        "name": control.id.replace("-", ""),
        "shortDescription": {"text": control.title},
        "fullDescription": {"text": control.description},
        # the control's own page; the guide's requirement stays in help and in properties.guideUri
        "helpUri": control.doc_url,
        "help": {"text": text, "markdown": markdown},
        "defaultConfiguration": {"level": _LEVEL[control.severity]},
        "properties": {
            "tags": ["security", "kubernetes", control.section, *control.nsa],
            "security-severity": _SCORE[control.severity],
            "precision": "high",
            "nsa": list(control.nsa),
            "mappings": control.mappings_dict(),
            "guideUri": requirement_url(control.nsa[0]) if control.nsa else GUIDE_DOC_URL,
            "slug": control.slug,
            "status": control.status,
            "since": control.since,
        },
    }
    if control.formerly:  # SARIF 2.1.0, 3.49.4: the IDs this rule had in earlier versions of the tool
        rule["deprecatedIds"] = list(control.formerly)
    return rule


def _result(f: Finding, index: dict[str, int]) -> dict[str, Any]:
    where = str(f.resource) + (f" container {f.container_id}" if f.container else "")
    result: dict[str, Any] = {
        "ruleId": f.control.id,
        "ruleIndex": index[f.control.id],
        "level": _LEVEL[f.severity],
        "message": {"text": f"{where}: {f.message}. Fix: {f.remediation}"},
        "locations": [{
            "logicalLocations": [{"fullyQualifiedName": where, "kind": "resource"}],
        }],
        # The message text is left out on purpose: rewording a message must not make a new alert.
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
        "properties": {"severity": f.severity.label, "resource": f.resource.to_dict(), "container": f.container,
                       "container_list": f.container_list, "path": f.path,
                       "fix": f.fix.to_dict() if f.fix else None},
    }
    if f.file and f.source == LIVE:
        result["properties"]["kubectl"] = f.file  # a live object: no file, the command that shows it
    elif f.file:
        result["locations"][0]["physicalLocation"] = _physical(f.file, f.line)
    if f.trace is not None:
        # a rendered input (docs/helm-kustomize.md): a patched field is located at its patch; the values
        # file and the patch are related locations (SARIF 2.1.0, 3.27.22), the trace a property
        if f.trace.patch_file:
            result["locations"][0]["physicalLocation"] = _physical(f.trace.patch_file, f.trace.patch_line)
        result["relatedLocations"] = [
            {"id": n, "physicalLocation": _physical(file, line), "message": {"text": text}}
            for n, (file, line, text) in enumerate(related(f.trace) + ([(f.file, f.line, "the base resource")]
                                                                       if f.trace.patch_file and f.file else []))]
        result["properties"]["trace"] = f.trace.to_dict()
        result["message"]["text"] = with_hint(result["message"]["text"], f.trace)
    if f.status == "suppressed" and f.suppression:
        kind = "inSource" if f.suppression.get("kind") == "annotation" else "external"
        result["suppressions"] = [{"kind": kind, "justification": str(f.suppression.get("reason", ""))}]
    return result


def _physical(file: str, line: int | None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": file_uri(file)}}
    if line:
        physical["region"] = {"startLine": line}
    return physical


def write(findings: Iterable[Finding], result: ScanResult, out: IO[str]) -> None:
    findings = list(findings)
    index = {c.id: i for i, c in enumerate(result.controls)}
    notifications = []
    for p in result.problems:
        if p.level == "note" and p.kind != TEMPLATE_EVALUATED:
            continue
        note: dict[str, Any] = {"level": {"error": "error", "note": "note"}.get(p.level, "warning"),
                                "message": {"text": f"{p.where()}: {p.message}"},
                                "descriptor": {"id": f"input/{p.kind}"}}
        if p.file:
            loc: dict[str, Any] = {"artifactLocation": {"uri": file_uri(p.file)}}
            if p.line:
                loc["region"] = {"startLine": p.line}
            note["locations"] = [{"physicalLocation": loc}]
        notifications.append(note)
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "kubeharden",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFO_URI,
                "rules": [_rule(c) for c in result.controls],
            }},
            "invocations": [{
                "executionSuccessful": not any(p.level == "error" for p in result.problems),
                "toolExecutionNotifications": notifications,
                # a property bag (SARIF 2.1.0 §3.8): the settings this run used
                "properties": {"profile": result.profile, "config": result.config_file, "input": result.input_kind,
                               "notAssessable": [c.id for c in result.not_assessable],
                               "notApplicable": result.not_applicable()},
            }],
            "results": [_result(f, index) for f in findings],
            "columnKind": "unicodeCodePoints",
        }],
    }
    out.write(orjson.dumps(log, option=orjson.OPT_INDENT_2).decode())
    out.write("\n")
