"""JUnit XML for CI systems that show test results: one test suite per control.

Each finding is a failed test case named after the control, the resource and the container
(as list/name), unique in the report; a
control with no failures shows as one passing case. Input errors form their own suite.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import IO

from kubeharden.model.controls import not_assessable_reason
from kubeharden.model.findings import Finding
from kubeharden.model.guide import requirement_url
from kubeharden.model.pods import NOT_EVALUATED, TEMPLATE_EVALUATED
from kubeharden.model.results import ScanResult
from kubeharden.report.trace import trace_text


def write(findings: Iterable[Finding], result: ScanResult, out: IO[str]) -> None:
    by_control: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_control[f.control.id].append(f)
    root = ET.Element("testsuites", name="kubeharden")
    total_tests = total_failures = total_skipped = 0
    for control in result.controls:
        items = by_control.get(control.id, [])
        suite = ET.SubElement(root, "testsuite", name=f"{control.id} {control.title}")
        failures = skipped = 0
        if not items:
            ET.SubElement(suite, "testcase", classname=control.id, name=f"{control.id} all resources")
        seen: Counter[str] = Counter()
        for f in items:
            # Test-case names are unique in the whole report (CI systems merge cases with equal names):
            # the control, the resource, the container as list/name, and a number for repeats.
            name = f"{control.id} {f.resource}" + (f" [{f.container_id}]" if f.container else "")
            seen[name] += 1
            if seen[name] > 1:
                name = f"{name} #{seen[name]}"
            case = ET.SubElement(suite, "testcase", classname=control.id, name=name,
                                 file=f.file or "", line=str(f.line or ""))
            if f.status == "suppressed":
                reason = (f.suppression or {}).get("reason", "")
                ET.SubElement(case, "skipped", message=f"suppressed: {reason}")
                skipped += 1
            else:
                fail = ET.SubElement(case, "failure", message=f.message, type=f.severity.label)
                fail.text = (f"{f.file}:{f.line}\n{f.message}\nFix: {f.remediation}\n"
                             + (f"From: {trace_text(f.trace)}\n" if f.trace is not None else "")
                             + "Guide: " + ", ".join(f"{i} ({requirement_url(i)})" for i in control.nsa))
                failures += 1
        tests = max(len(items), 1)
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("skipped", str(skipped))
        suite.set("errors", "0")
        total_tests += tests
        total_failures += failures
        total_skipped += skipped
    custom = [p for p in result.problems if p.kind in (TEMPLATE_EVALUATED, NOT_EVALUATED)]
    if custom:
        # Custom resources: evaluated through their pod template (a passing case that says so),
        # or carrying containers that were not evaluated (a skipped case).
        not_evaluated = sum(1 for p in custom if p.kind == NOT_EVALUATED)
        suite = ET.SubElement(root, "testsuite", name="custom resources", tests=str(len(custom)), failures="0",
                              errors="0", skipped=str(not_evaluated))
        for p in custom:
            case = ET.SubElement(suite, "testcase", classname="custom-resources", name=f"{p.resource} {p.kind}",
                                 file=p.file or "", line=str(p.line or ""))
            if p.kind == NOT_EVALUATED:
                ET.SubElement(case, "skipped", message=p.message)
            else:
                ET.SubElement(case, "system-out").text = p.message
        total_tests += len(custom)
        total_skipped += not_evaluated
    if result.not_assessable:
        # Never a pass: a control this input cannot show is a skipped case that says why.
        suite = ET.SubElement(root, "testsuite", name="not assessable", tests=str(len(result.not_assessable)),
                              failures="0", errors="0", skipped=str(len(result.not_assessable)))
        for control in result.not_assessable:
            case = ET.SubElement(suite, "testcase", classname=control.id, name=f"{control.id} {control.title}")
            ET.SubElement(case, "skipped", message=f"not assessable from {result.input_kind} input "
                                                   f"({not_assessable_reason(control, result.input_kind)})")
        total_tests += len(result.not_assessable)
        total_skipped += len(result.not_assessable)
    errors = [p for p in result.problems if p.level == "error"]
    if errors:
        suite = ET.SubElement(root, "testsuite", name="inputs", tests=str(len(errors)), failures="0",
                              errors=str(len(errors)), skipped="0")
        seen_inputs: Counter[str] = Counter()
        for p in errors:
            seen_inputs[p.where()] += 1
            name = p.where() if seen_inputs[p.where()] == 1 else f"{p.where()} #{seen_inputs[p.where()]}"
            case = ET.SubElement(suite, "testcase", classname="inputs", name=name)
            err = ET.SubElement(case, "error", message=p.message, type=p.kind)
            err.text = f"{p.where()}: {p.message}"
    root.set("tests", str(total_tests + len(errors)))
    root.set("failures", str(total_failures))
    root.set("errors", str(len(errors)))
    root.set("skipped", str(total_skipped))
    ET.indent(root)
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(ET.tostring(root, encoding="unicode"))
    out.write("\n")
