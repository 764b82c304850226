"""The terminal report: worst first, grouped fixes, implied findings folded, display filters, files."""

from __future__ import annotations

import re

import pytest

from kubeharden.cli import main

from test_catalogue import ROOT

INSECURE = str(ROOT / "examples" / "insecure")

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: app%s}
spec:
  containers:
  - name: a
    image: nginx:1.27
    securityContext: {privileged: %s}
  - name: b
    image: nginx:1.27
  volumes:
  - {name: sock, hostPath: {path: /var/run/docker.sock}}
  - {name: data, hostPath: {path: /data}}
"""


def _table(capsys, *args, paths=(INSECURE,)):
    main(["scan", "--no-config", "--fail-on", "none", *args, *paths])
    return capsys.readouterr().out


def _rows(out, control):
    return [line for line in out.splitlines() if re.match(rf"^ (CRITICAL|HIGH|MEDIUM|LOW|INFO)\s+{control}\b", line)]


def test_the_summary_comes_first_and_groups_come_worst_first(capsys):
    out = _table(capsys)
    lines = out.splitlines()
    assert re.match(r"^\d+ findings in 6 objects: critical 2  high \d+", lines[0])
    assert lines.index("Top risks") < next(i for i, line in enumerate(lines) if "worst:" in line)
    worst = [line.rsplit("worst: ", 1)[1] for line in lines if "  worst: " in line]
    order = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"]
    assert [order.index(w) for w in worst] == sorted(order.index(w) for w in worst)


def test_one_fix_text_per_control_and_resource_with_the_containers_listed(capsys):
    out = _table(capsys)
    start = next(i for i, line in enumerate(out.splitlines()) if line.startswith("CronJob/shop/backup ")
                 and "worst:" in line)
    rest = out.splitlines()[start + 1:]
    end = next(i for i, line in enumerate(rest) if "worst:" in line)
    backup = "\n".join(rest[:end])
    assert len(_rows(backup, "KH-POD-001")) == 1  # two containers, one entry
    assert re.search(r"in backup \(line 18\), initContainers/wait-db \(line 14\)", backup)
    assert backup.count("fix: Set securityContext.runAsNonRoot") == 1


def test_a_finding_implied_by_another_is_folded_under_it(tmp_path, capsys):
    pod = tmp_path / "pod.yaml"
    pod.write_text(POD % ("", "true"))
    out = _table(capsys, paths=(str(pod),))
    assert "implies KH-POD-011" in out
    # container b is not privileged: its own KH-POD-011 stays a finding of its own
    assert len(_rows(out, "KH-POD-011")) == 1 and "[b] allowPrivilegeEscalation" in out
    # the runtime socket (KH-POD-009) implies KH-POD-007 for that volume, not for /data
    assert "implies KH-POD-007: volume 'sock'" in out
    assert len(_rows(out, "KH-POD-007")) == 1 and "volume 'data' mounts host path /data" in out


def test_without_its_cause_nothing_is_folded(tmp_path, capsys):
    pod = tmp_path / "pod.yaml"
    pod.write_text(POD % ("", "false"))
    out = _table(capsys, paths=(str(pod),))
    assert "implies KH-POD-011" not in out and len(_rows(out, "KH-POD-011")) == 1


def test_severity_filters_show_only_what_is_asked_and_say_what_they_hid(capsys):
    out = _table(capsys, "--severity", "critical")
    assert _rows(out, r"KH-\w+-\d+") and all(" CRITICAL " in r for r in _rows(out, r"KH-\w+-\d+"))
    assert re.search(r"showing critical only: \d+ other finding\(s\) hidden", out)
    out = _table(capsys, "--min-severity", "high")
    assert not [r for r in _rows(out, r"KH-\w+-\d+") if " MEDIUM " in r or " LOW " in r]
    assert main(["scan", "--no-config", "--severity", "critical", INSECURE]) == 1  # exit code unchanged
    capsys.readouterr()


def test_compact_is_one_line_per_finding_and_quiet_the_summary_alone(capsys):
    import json

    total = json.loads(_table(capsys, "-f", "json"))["summary"]["findings"]
    out = _table(capsys, "--compact")
    body = out.split("\n\n", 1)[1]  # after the summary (whose top risks look alike)
    assert len([line for line in body.splitlines() if re.match(r"^(CRITICAL|HIGH|MEDIUM|LOW|INFO) +KH-", line)]) \
        == total
    quiet = _table(capsys, "--quiet")
    assert "worst:" not in quiet and "Compliance with the NSA/CISA guide" in quiet and len(quiet.splitlines()) < 35


@pytest.mark.parametrize("group_by, header", [("control", "KH-POD-004 privileged-container"),
                                              ("namespace", "namespace shop")])
def test_group_by(capsys, group_by, header):
    out = _table(capsys, "--group-by", group_by)
    assert re.search(rf"^{re.escape(header)}\b.*worst: ", out, re.M)
    headers = [line for line in out.splitlines() if "  worst: " in line]
    assert len(headers) == len(set(headers))  # one group per control or namespace


def test_suppressed_findings_are_listed_together_at_the_end(tmp_path, capsys):
    pod = tmp_path / "pod.yaml"
    pod.write_text(POD % (", annotations: {kubeharden.io/suppress.KH-POD-004: 'lab rig, reviewed'}", "true"))
    out = _table(capsys, paths=(str(pod),))
    head, _, tail = out.partition("Suppressed (1)")
    assert tail and "lab rig, reviewed" in tail and "KH-POD-004" in tail
    assert not _rows(head, "KH-POD-004")


def test_files_get_no_trailing_padding_and_columns_sets_the_width(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "90")
    target = tmp_path / "report.txt"
    assert main(["scan", "--no-config", "-o", str(target), INSECURE]) == 1
    err = capsys.readouterr().err
    assert re.search(r"report.txt: 6 objects, \d+ findings \(2 critical", err)  # the one-line summary
    lines = target.read_text().splitlines()
    assert all(line == line.rstrip() for line in lines)
    assert max(len(line) for line in lines if not line.startswith("configuration:")) <= 90


def test_display_options_belong_to_the_table(capsys):
    assert main(["scan", "--no-config", "-f", "sarif", "--quiet", INSECURE]) == 2
    assert "--quiet shapes the table report only" in capsys.readouterr().err
