"""Regression tests of the #14 review: one per defect it found in the polish of the commands."""

from __future__ import annotations

import re

from kubeharden.cli import main

from test_catalogue import ROOT

INSECURE = str(ROOT / "examples" / "insecure")


def _scan(capsys, *args):
    code = main(["scan", "--no-config", "--fail-on", "none", *args, INSECURE])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_contradictory_severity_filters_are_a_usage_error(capsys):
    code, out, err = _scan(capsys, "--severity", "low", "--min-severity", "high")
    assert code == 2 and out == ""
    assert "--severity low and --min-severity high contradict each other" in err
    # overlapping filters mean both: only high is listed and at or above high
    code, out, _ = _scan(capsys, "--severity", "low,high", "--min-severity", "high")
    assert code == 0 and "showing high only" in out
    rows = re.findall(r"^ (CRITICAL|HIGH|MEDIUM|LOW|INFO) +KH-", out, re.M)
    assert rows and set(rows) == {"HIGH"}


def _top_risks(out: str) -> list[str]:
    lines = out.splitlines()
    if "Top risks" not in lines:
        return []
    start = lines.index("Top risks") + 1
    return [line for line in lines[start:lines.index("", start)] if not line.startswith((" ", "Top risks:"))]


def test_top_risks_follow_the_display_filter_and_say_what_they_hide(capsys):
    _, everything, _ = _scan(capsys)
    assert any(r.startswith("CRITICAL") for r in _top_risks(everything))
    _, high, _ = _scan(capsys, "--severity", "high")
    risks = _top_risks(high)
    assert risks and all(r.startswith("HIGH ") for r in risks)
    assert "Top risks: 2 critical or high finding(s) hidden by the display filter" in high
    _, low, _ = _scan(capsys, "--severity", "low")
    assert _top_risks(low) == []
    assert re.search(r"^Top risks: 21 critical or high finding\(s\) hidden by the display filter", low, re.M)


NO_POLICY = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "nginx:1.27", args: ["a|b", "<script>"]}
"""


def test_markdown_keeps_a_multi_line_fix_readable_in_one_table_row(tmp_path, capsys, monkeypatch):
    from kubeharden.report import markdown

    (tmp_path / "app.yaml").write_text(NO_POLICY)
    assert main(["scan", "--no-config", "--fail-on", "none", "-f", "markdown", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "KH-NET-001" in line)
    # the default-deny manifest of the fix keeps its lines and indentation inside the one cell
    assert "<br>apiVersion: networking.k8s.io/v1<br>kind: NetworkPolicy<br>" in row
    assert "<br>&nbsp;&nbsp;name: default-deny-ingress<br>" in row
    assert "<code>kubeharden generate netpol -n shop</code>" in row
    table = [line for line in out.splitlines() if line.startswith("| ") and " KH-" in line]
    assert all(line.endswith(" |") and line.count(" | ") >= 6 for line in table)
    assert markdown.cell("<script>x</script>") == "&lt;script&gt;x&lt;/script&gt;"
    monkeypatch.setattr(markdown, "LIMIT", 3000)  # the cap and its note hold with the longer cells
    main(["scan", "--no-config", "--fail-on", "none", "-f", "markdown", str(tmp_path)])
    cut = capsys.readouterr().out
    assert len(cut) <= 3000 and "more finding(s) not shown" in cut
