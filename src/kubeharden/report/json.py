"""The JSON report: the stable contract for CI pipelines (see docs/json-report.md).

Findings are written as they arrive, so memory stays flat on very large scans; the
summary, errors and Pod Security Standards levels follow them in the same object.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import IO, Any

import orjson

from kubeharden import __version__
from kubeharden.model.controls import Control
from kubeharden.model.findings import ControlFields, Finding, control_fields
from kubeharden.model.guide import GUIDE
from kubeharden.model.memo import IdentityMemo
from kubeharden.model.results import ScanResult
from kubeharden.report.summary import summary

SCHEMA_VERSION = "1.5"


def _dump(value: Any) -> str:
    return orjson.dumps(value).decode()


def _serialised(control: Control) -> ControlFields:
    """:func:`control_fields` of ``control`` with their lists and mappings as JSON already (orjson.Fragment):
    the same bytes, written by every finding of the control without being serialised again. An orjson older
    than the declared 3.9 has no Fragment: the fields are then serialised with each finding (same bytes, more
    time)."""
    fields = control_fields(control)
    if not hasattr(orjson, "Fragment"):
        return fields
    return fields._replace(nsa=orjson.Fragment(orjson.dumps(fields.nsa)),
                           nsa_urls=orjson.Fragment(orjson.dumps(fields.nsa_urls)),
                           mappings=orjson.Fragment(orjson.dumps(fields.mappings)))


def write(findings: Iterable[Finding], result: ScanResult, out: IO[str]) -> None:
    head = {"schema_version": SCHEMA_VERSION, "tool": {"name": "kubeharden", "version": __version__},
            "guide": GUIDE}
    out.write(_dump(head)[:-1])
    out.write(',"findings":[')
    first = True
    # what a finding takes from its control is serialised once per control (per report: controls may differ
    # from scan to scan)
    shared: IdentityMemo[ControlFields] = IdentityMemo()
    for finding in findings:
        control = finding.control
        fields = shared.get(control, None, partial(_serialised, control))
        out.write(("\n" if first else ",\n") + _dump(finding.to_dict(fields)))
        first = False
    out.write("\n]")
    problems = result.problems
    tail = {
        "summary": summary(result),
        "errors": [p.to_dict() for p in problems if p.level != "note"],
        "notes": [p.to_dict() for p in problems if p.level == "note"],
        "pss": [p.to_dict() for p in result.pss],
        "exceptions": {
            "expired": [e.to_dict() for e in result.expired_exceptions],
            "unused": [e.to_dict() for e in result.unused_exceptions],
        },
    }
    out.write("," + _dump(tail)[1:])
    out.write("\n")
