"""The CSV report: one row per finding, for spreadsheets and ticket imports (RFC 4180, via :mod:`csv`).

Columns are fixed (:data:`COLUMNS`); rows are written as findings arrive, suppressed ones included
with their status, so a sheet can filter on ``status``. After the findings, what was not checked has a
row of its own, so a sheet never reads as a clean pass: each control that was ``not-assessable`` or
``not-applicable`` (status, control and title, the reason in ``message``) and each input error (status
``error``, the file and line it names).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO

from kubeharden.model.controls import not_assessable_reason
from kubeharden.model.findings import Finding
from kubeharden.model.results import ScanResult

COLUMNS = ("severity", "status", "control_id", "slug", "title", "api_version", "kind", "namespace", "name",
           "container", "file", "line", "path", "message", "remediation", "nsa", "fingerprint")


#: A cell beginning with one of these is a formula to spreadsheet programs (OWASP "CSV Injection"): such
#: a value (a file name, a message quoting input) is written with a leading apostrophe, so it stays text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value


def write(findings: Iterable[Finding], result: ScanResult, out: IO[str]) -> None:
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for f in findings:
        r = f.resource
        row = (f.severity.label, f.status, f.control.id, f.control.slug, f.control.title, r.api_version, r.kind,
               r.namespace or "", r.name, f.container_id or "", f.file or "", "" if f.line is None else f.line, f.path,
               f.message, f.remediation, " ".join(f.control.nsa), f.fingerprint)
        writer.writerow([_cell(v) for v in row])
    status = result.control_status()
    not_assessable = {c.id for c in result.not_assessable}
    for control in [*result.not_assessable, *result.controls]:
        state = "not-assessable" if control.id in not_assessable else status.get(control.id)
        if state not in ("not-assessable", "not-applicable"):
            continue
        if state == "not-applicable":
            why = "nothing this control judges was in the input"
        else:
            why = not_assessable_reason(control, result.input_kind)
        writer.writerow([_cell(v) for v in ("", state, control.id, control.slug, control.title, "", "", "", "", "",
                                            "", "", "", why, "", " ".join(control.nsa), "")])
    for problem in result.problems:
        if problem.level != "error":
            continue
        writer.writerow([_cell(v) for v in ("", "error", "", "", problem.kind, "", "", "", "", "", problem.file or "",
                                            "" if problem.line is None else problem.line, "", problem.message,
                                            "", "", "")])
