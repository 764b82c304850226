"""The JSON report: the stable contract for CI pipelines (see docs/json-report.md).

Findings are written as they arrive, so memory stays flat on very large scans; the
summary, errors and Pod Security Standards levels follow them in the same object.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any

import orjson

from kubeharden import __version__
from kubeharden.model.findings import Finding
from kubeharden.model.guide import GUIDE
from kubeharden.model.results import ScanResult
from kubeharden.report.summary import summary

SCHEMA_VERSION = "1.5"


def _dump(value: Any) -> str:
    return orjson.dumps(value).decode()


def write(findings: Iterable[Finding], result: ScanResult, out: IO[str]) -> None:
    head = {"schema_version": SCHEMA_VERSION, "tool": {"name": "kubeharden", "version": __version__},
            "guide": GUIDE}
    out.write(_dump(head)[:-1])
    out.write(',"findings":[')
    first = True
    for finding in findings:
        out.write(("\n" if first else ",\n") + _dump(finding.to_dict()))
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
