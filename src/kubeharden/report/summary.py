"""Numbers every reporter shows: counts, Pod Security Standards levels, compliance by section."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from kubeharden.model.findings import Finding, Severity
from kubeharden.model.pods import NOT_EVALUATED, TEMPLATE_EVALUATED
from kubeharden.model.results import ScanResult


def compliance(result: ScanResult) -> list[dict[str, Any]]:
    """Per guide section: units evaluated, units failed and the share that passed."""
    by_section: dict[str, list[int]] = {}
    controls: Counter[str] = Counter()
    for control in result.controls:
        evaluated = result.tally.evaluated.get(control.id, 0)
        failed = result.tally.failed.get(control.id, 0)
        entry = by_section.setdefault(control.section, [0, 0])
        entry[0] += evaluated
        entry[1] += failed
        controls[control.section] += 1
    out = []
    for section, (evaluated, failed) in sorted(by_section.items()):
        percent = round(100.0 * (evaluated - failed) / evaluated, 1) if evaluated else None
        out.append({"section": section, "controls": controls[section], "evaluated": evaluated,
                    "failed": failed, "compliance_percent": percent})
    return out




def custom_resources(result: ScanResult) -> dict[str, dict[str, int]]:
    """Objects per ``apiVersion/kind`` of custom resources evaluated through their pod template
    (``evaluated``) and of those carrying containers that were not evaluated (``not_evaluated``)."""
    out: dict[str, Counter[str]] = {"evaluated": Counter(), "not_evaluated": Counter()}
    for p in result.problems:
        if p.kind in (TEMPLATE_EVALUATED, NOT_EVALUATED) and p.resource is not None:
            key = "evaluated" if p.kind == TEMPLATE_EVALUATED else "not_evaluated"
            out[key][f"{p.resource.api_version}/{p.resource.kind}"] += 1
    return {k: dict(sorted(v.items())) for k, v in out.items()}


def summary(result: ScanResult) -> dict[str, Any]:
    by_sev = {s.label: result.findings_by_severity.get(s.label, 0) for s in reversed(Severity)}
    levels = Counter(p.level for p in result.pss)
    return {
        "profile": result.profile,
        "config": result.config_file,
        "objects": result.objects,
        "kinds": dict(sorted(result.kinds.items())),
        "controls": len(result.controls),
        "findings": sum(by_sev.values()),
        "suppressed": result.suppressed,
        "by_severity": by_sev,
        "pss_levels": {lvl: levels.get(lvl, 0) for lvl in ("restricted", "baseline", "privileged", "invalid")},
        "errors": sum(1 for p in result.problems if p.level == "error"),
        "warnings": sum(1 for p in result.problems if p.level == "warning"),
        "skipped": sum(1 for p in result.problems if p.level == "note" and p.kind != TEMPLATE_EVALUATED),
        "custom_resources": custom_resources(result),
        "compliance": compliance(result),
        "input": result.input_kind,
        "control_status": result.control_status(),
        "not_assessable": [{"control_id": c.id, "title": c.title, "inputs": list(c.inputs)}
                           for c in result.not_assessable],
        "baseline": None if result.baseline is None else {"source": result.baseline,
                                                          "not_shown": result.in_baseline},
    }


def full_summary(result: ScanResult, known: Sequence[Finding]) -> dict[str, Any]:
    """The summary of the whole scan, findings a baseline held (``known``: failing ones) counted again.

    What the history store keeps (docs/history.md): ``findings`` and ``by_severity`` describe the input,
    and ``baseline`` says which baseline was used, how many findings it held (``not_shown``) and their
    ``fingerprints``, so the reported count is ``findings - not_shown``.
    """
    out = summary(result)
    for f in known:
        out["by_severity"][f.severity.label] += 1
    out["findings"] = sum(out["by_severity"].values())
    if out["baseline"] is not None:
        out["baseline"]["fingerprints"] = sorted({f.fingerprint for f in known})
    return out


def one_line(result: ScanResult) -> str:
    """The summary in one line (printed on stderr when the report goes to a file with -o)."""
    s = summary(result)
    counts = ", ".join(f"{n} {label}" for label, n in s["by_severity"].items() if n) or "no findings"
    extra = f", {s['errors']} input error(s)" if s["errors"] else ""
    return f"{s['objects']} objects, {s['findings']} findings ({counts}), {s['suppressed']} suppressed{extra}"
