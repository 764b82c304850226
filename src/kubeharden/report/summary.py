"""Numbers every reporter shows: counts, Pod Security Standards levels, compliance by section."""

from __future__ import annotations

from collections import Counter
from typing import Any

from kubeharden.engine import ScanResult
from kubeharden.findings import Severity


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
        "skipped": sum(1 for p in result.problems if p.level == "note"),
        "compliance": compliance(result),
        "input": result.input_kind,
        "control_status": result.control_status(),
        "not_assessable": [{"control_id": c.id, "title": c.title, "inputs": list(c.inputs)}
                           for c in result.not_assessable],
    }
