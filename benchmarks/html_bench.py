"""HTML report benchmark: 10,000 findings rendered to a file and shown in headless Chromium in under 2 s
(issue #14). Prints the time to write the file and the time until the page has built its findings table.

    python3 benchmarks/html_bench.py [--findings 10000]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kubeharden.config import Config  # noqa: E402
from kubeharden.engine.evaluator import Evaluator  # noqa: E402
from kubeharden.report.html import write  # noqa: E402
from kubeharden.sources.files import read_objects  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=10_000)
    args = parser.parse_args()
    evaluator = Evaluator(Config())
    base = [f for f in evaluator.run(read_objects([str(ROOT / "examples" / "insecure")]))]
    findings = []
    copy = 0
    while len(findings) < args.findings:
        for f in base[: args.findings - len(findings)]:
            findings.append(dataclasses.replace(f, resource=dataclasses.replace(f.resource,
                                                                                name=f"{f.resource.name}-{copy}")))
        copy += 1
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "report.html"
        t0 = time.perf_counter()
        buffer = io.StringIO()
        write(findings, evaluator.result, buffer)
        target.write_text(buffer.getvalue(), encoding="utf-8")
        written = time.perf_counter() - t0
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page()
            t0 = time.perf_counter()
            page.goto(target.as_uri())
            page.wait_for_function("document.getElementById('shown-count').textContent.length > 0")
            shown = time.perf_counter() - t0
            rows = page.eval_on_selector_all("#finding-rows tr", "r => r.length")
            browser.close()
    size = len(buffer.getvalue()) / 1e6
    print(f"{len(findings)} findings: HTML written in {written:.2f} s ({size:.1f} MB), "
          f"page ready in Chromium in {shown:.2f} s with {rows} rows (target: under 2 s)")


if __name__ == "__main__":
    main()
