"""Regression tests of the #14 review: one per defect it found in the polish of the commands."""

from __future__ import annotations

import re
import shutil

import pytest

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


def _store_scan(tmp_path, text, *extra):
    path = tmp_path / "app.yaml"
    path.write_text(text)
    return main(["scan", "--no-config", "-f", "json", "-o", str(tmp_path / "report.json"), str(path), *extra])


def test_history_shows_times_in_utc_with_the_zone(tmp_path, capsys):
    import datetime as dt
    import json

    from kubeharden.model.history import ScanInfo

    store = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    _store_scan(tmp_path, NO_POLICY, "--store", store)
    capsys.readouterr()
    assert main(["history", "--store", store, "-f", "json"]) == 0
    created = json.loads(capsys.readouterr().out)[0]["created_at"]
    stamp = dt.datetime.fromisoformat(created)
    assert created.endswith("+00:00") and abs((dt.datetime.now(dt.UTC) - stamp).total_seconds()) < 120
    assert main(["history", "--store", store]) == 0
    assert re.search(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\b", capsys.readouterr().out)
    # an answer in another zone (PostgreSQL answers in the session's) is shown in UTC
    east = dt.datetime(2026, 1, 2, 5, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert ScanInfo(1, east, "", "manifest", "default", "x", 0, {}).to_dict()["created_at"] == \
        "2026-01-02T03:04:05+00:00"


def test_a_stored_scan_with_a_baseline_is_the_full_scan_and_history_agrees(tmp_path, capsys):
    import json

    store = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    _store_scan(tmp_path, NO_POLICY, "--store", store, "--fail-on", "none")
    full = json.loads((tmp_path / "report.json").read_text())["summary"]["findings"]
    capsys.readouterr()
    changed = NO_POLICY.replace('args: ["a|b", "<script>"]', "securityContext: {privileged: true}")
    assert _store_scan(tmp_path, changed, "--baseline", "latest", "--store", store, "--fail-on", "none") == 0
    report = json.loads((tmp_path / "report.json").read_text())
    reported = report["summary"]["findings"]
    known = report["summary"]["baseline"]["not_shown"]
    err = capsys.readouterr().err
    assert 0 < reported < full and known > 0
    assert f"(the full scan: {reported + known} findings, {known} of them known to the baseline" in err
    assert main(["history", "--store", store, "-f", "json"]) == 0
    latest = json.loads(capsys.readouterr().out)[0]
    assert latest["findings"] == reported + known == sum(latest["by_severity"].values())
    assert latest["baseline_known"] == known
    assert main(["history", "--store", store]) == 0
    assert "known to a baseline" in capsys.readouterr().out
    # the stored findings are the full scan: a diff against the first scan sees only the change
    assert main(["diff", "latest~1", "latest", "--store", store, "-f", "json"]) == 1
    counts = json.loads(capsys.readouterr().out)["counts"]
    assert counts["new"] == reported and counts["still_open"] == known


RBAC_AND_NETPOL = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: deployer, namespace: shop}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-reader}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: deployer-secrets}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-reader}
subjects:
- {kind: ServiceAccount, name: deployer, namespace: shop}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-in, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: api}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: shop, labels: {app: api}}
spec:
  serviceAccountName: deployer
  containers: [{name: api, image: "nginx:1.27"}]
"""


def _table_commands(tmp_path):
    """Every command that writes a table for people, as (name, argv without -o)."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "all.yaml").write_text(RBAC_AND_NETPOL + "---\n" + NO_POLICY.split("---\n", 1)[1])
    store = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    assert main(["scan", "--no-config", "--fail-on", "none", "-f", "json", "-o", str(tmp_path / "a.json"),
                 "--store", store, INSECURE]) == 0
    assert main(["scan", "--no-config", "--fail-on", "none", "-f", "json", "-o", str(tmp_path / "b.json"),
                 "--store", store, str(app)]) == 0
    audit_log = str(ROOT / "examples" / "audit" / "audit.log")
    return [
        ("scan", ["scan", "--no-config", "--fail-on", "none", INSECURE]),
        ("audit scan", ["audit", "scan", "--fail-on", "none", audit_log]),
        ("audit rules", ["audit", "rules"]),
        ("history", ["history", "--store", store, "--trend"]),
        ("controls", ["controls"]),
        ("guide", ["guide"]),
        ("rbac who-can", ["rbac", "who-can", "get", "secrets", str(app)]),
        ("rbac can", ["rbac", "can", "serviceaccount:shop:deployer", str(app)]),
        ("rbac paths", ["rbac", "paths", str(app)]),
        ("netpol matrix", ["netpol", "matrix", str(app)]),
        ("netpol can-reach", ["netpol", "can-reach", "shop/api", "shop/web:80", str(app)]),  # no -o: a pipe
        ("diff", ["diff", "--all", "--fail-on", "none", str(tmp_path / "a.json"), str(tmp_path / "b.json")]),
        ("diff store", ["diff", "--fail-on", "none", "--store", store, "latest~1", "latest"]),
    ]


def test_no_table_output_of_any_command_ends_in_spaces(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    for name, argv in _table_commands(tmp_path):
        capsys.readouterr()
        outputs = []
        if name != "netpol can-reach":
            target = tmp_path / f"{name.replace(' ', '-')}.txt"
            main([*argv, "-o", str(target)])
            outputs.append(("-o", target.read_text()))
        main(argv)  # standard output is a pipe here (captured), never a terminal
        outputs.append(("pipe", capsys.readouterr().out))
        for how, text in outputs:
            assert len(text.splitlines()) > 1, f"{name} ({how}) wrote nothing"
            padded = [line for line in text.splitlines() if line != line.rstrip()]
            assert not padded, f"{name} ({how}): {len(padded)} line(s) end in spaces, e.g. {padded[0]!r}"


def test_a_narrow_terminal_wraps_between_words_and_never_cuts_one(tmp_path, capsys, monkeypatch):
    import json

    monkeypatch.setenv("COLUMNS", "60")
    commands = dict(_table_commands(tmp_path))
    capsys.readouterr()
    for name in ("audit scan", "audit rules", "history", "controls", "guide", "rbac who-can", "rbac can",
                 "rbac paths", "diff store"):
        main(commands[name])
        out = capsys.readouterr().out
        assert "…" not in out.replace("SETUID…", ""), f"{name} cut a word at 60 columns"
        assert max(len(line) for line in out.splitlines()) <= 60, name
    # every word of every finding (message, resource, container) is printed whole by the scan's table
    main(commands["scan"])
    table = capsys.readouterr().out
    main(["scan", "--no-config", "--fail-on", "none", "-f", "json", INSECURE])
    words = set()
    for f in json.loads(capsys.readouterr().out)["findings"]:
        words.update(f["message"].split())
        words.update((f["resource"]["name"], f["control_id"]))
    missing = sorted(w for w in words if w not in table)
    assert not missing, f"cut at 60 columns: {missing[:5]}"
    assert max(len(line) for line in table.splitlines() if not line.startswith("configuration:")) <= 60


OVERLAY_BASE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: deployer-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: ServiceAccount, name: deployer, namespace: shop}
"""


@pytest.mark.skipif(shutil.which("kubectl") is None,
                    reason="kubectl is not on PATH: Kustomize folders are built with kubectl kustomize")
def test_overlays_repeating_a_cluster_scoped_object_name_it_and_where_each_came_from(tmp_path, capsys):
    base = tmp_path / "base"
    base.mkdir()
    (base / "binding.yaml").write_text(OVERLAY_BASE)
    (base / "kustomization.yaml").write_text("resources: [binding.yaml]\n")
    for overlay in ("prod", "staging"):
        (tmp_path / overlay).mkdir()
        (tmp_path / overlay / "kustomization.yaml").write_text(f"resources: [../base]\nlabels:\n- pairs: {{env: "
                                                               f"{overlay}}}\n")
    paths = [str(tmp_path / "prod"), str(tmp_path / "staging")]
    main(["scan", "--no-config", "--fail-on", "none", "--control", "KH-RBAC-001", *paths])
    out = capsys.readouterr().out
    assert "(pod)" not in out
    spots = re.search(r"in (ClusterRoleBinding/deployer-admin .*)", " ".join(out.split())).group(1)
    assert f"ClusterRoleBinding/deployer-admin (line 4) rendered from {paths[0]}" in spots
    assert f"ClusterRoleBinding/deployer-admin (line 4) rendered from {paths[1]}" in spots
    main(["scan", "--no-config", "--fail-on", "none", "--control", "KH-RBAC-001", "-f", "markdown", *paths])
    rows = [line for line in capsys.readouterr().out.splitlines() if "KH-RBAC-001" in line]
    assert len(rows) == 2 and all("ClusterRoleBinding deployer-admin" in row for row in rows)
    assert {row.split(" (rendered from ")[1].split(")")[0] for row in rows} == set(paths)


def test_input_problems_go_to_stderr_in_every_command_and_into_reports_that_carry_them(tmp_path, capsys):
    import json

    app = tmp_path / "app"
    app.mkdir()
    (app / "all.yaml").write_text(RBAC_AND_NETPOL)
    (app / "broken.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [\n")
    broken = str(app / "broken.yaml")
    log = tmp_path / "audit.log"
    log.write_text((ROOT / "examples" / "audit" / "audit.log").read_text().splitlines()[0] + "\n{not json\n")
    snap = str(tmp_path / "s.json.gz")
    commands = {
        "scan": ["scan", "--no-config", "--fail-on", "none", str(app)],
        "scan json": ["scan", "--no-config", "--fail-on", "none", "-f", "json", str(app)],
        "rbac who-can": ["rbac", "who-can", "get", "secrets", str(app)],
        "rbac paths": ["rbac", "paths", str(app)],
        "netpol matrix": ["netpol", "matrix", str(app)],
        "netpol can-reach": ["netpol", "can-reach", "shop/api", "shop/web:80", str(app)],
        "generate netpol": ["generate", "netpol", str(app)],
        "generate quotas": ["generate", "quotas", str(app)],
        "fix": ["fix", "--no-config", "--dry-run", str(app)],
        "snapshot": ["snapshot", "-o", snap, str(app)],
        "diff": ["diff", "--fail-on", "none", str(app), str(app)],
    }
    for name, argv in commands.items():
        main(argv)
        out, err = capsys.readouterr()
        said = [line for line in err.splitlines() if line.startswith(f"kubeharden: error: {broken}:")]
        assert said, f"{name}: the unparsed file is not said on stderr:\n{err}"
        if name == "scan json":
            assert any(p["file"] == broken for p in json.loads(out)["errors"])
        elif name == "scan":
            assert f"error: {broken}:" in out  # the table lists it under what was not checked
    main(["audit", "scan", "--fail-on", "none", str(log)])
    out, err = capsys.readouterr()
    assert re.search(rf"^kubeharden: error: {re.escape(str(log))}:2: ", err, re.M)


HOSTILE = {
    "list.yaml": "- a\n- b\n",
    "metadata-list.yaml": "apiVersion: v1\nkind: Pod\nmetadata: [1, 2]\n",
    "pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: q}\nspec: {containers: [{name: a, image: x, "
                "securityContext: [1], ports: {a: b}, env: [1, {name: ~}]}], volumes: [{name: v, hostPath: 7}]}\n",
    "namespace-mapping.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: r, namespace: {x: 1}, labels: [a]}\n"
                              "spec: {containers: [{name: a, image: ~}]}\n",
    "rbac.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: rb, namespace: ns}\n"
                 "subjects: x\nroleRef: ~\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
                 "metadata: {name: cr}\nrules: [{verbs: get, resources: [{a: 1}], apiGroups: ~}]\n",
    "netpol.yaml": "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: ns}\n"
                   "spec: {podSelector: [1], ingress: [{from: {a: 1}, ports: [{port: {x: 1}}]}], policyTypes: x}\n",
    "kind-null.json": '{"kind": null, "apiVersion": []}\n',
}
#: What a message must never show: Python's names for the values it holds, or their reprs.
LEAKS = re.compile(r"LineList|LineMap|Commented\w+|\bNone\b|\{'|\['|<class|Traceback|object at 0x")


def test_messages_on_hostile_inputs_never_show_internal_names_or_reprs(tmp_path, capsys):
    folder = tmp_path / "hostile"
    folder.mkdir()
    for name, text in HOSTILE.items():
        (folder / name).write_text(text)
    log = tmp_path / "audit.log"
    log.write_text('[]\nnull\n{"kind": "Event", "apiVersion": "audit.k8s.io/v1", "verb": {"a": 1}, "user": [1], '
                   '"objectRef": "x", "stage": 5}\n{"kind": "EventList", "items": 5}\n"text"\n')
    config = tmp_path / "cfg.yaml"
    runs = [["scan", "--no-config", "--fail-on", "none", str(folder)],
            ["scan", "--no-config", "--fail-on", "none", "-f", "json", str(folder)],
            ["rbac", "who-can", "get", "secrets", str(folder)], ["rbac", "paths", str(folder)],
            ["netpol", "matrix", str(folder)], ["generate", "netpol", "-n", "ns", str(folder)],
            ["fix", "--no-config", "--dry-run", str(folder)],
            ["audit", "scan", "--fail-on", "none", str(log)]]
    for text in ("exceptions:\n- control: {a: 1}\n  reason: r\n", "1: a\nfoo: 2\n",
                 "exceptions:\n- {control: KH-POD-004, reason: r, namespce: x}\n"):
        config.write_text(text)
        runs.append(["scan", "--config", str(config), INSECURE])
    for argv in runs:
        main(argv)
        out, err = capsys.readouterr()
        leaks = [line for line in (out + err).splitlines() if LEAKS.search(line)]
        assert not leaks, f"kubeharden {' '.join(argv)}: {leaks[:3]}"
    main(["scan", "--no-config", "--fail-on", "none", "-f", "json", str(folder)])
    report = capsys.readouterr().out
    assert "spec.podSelector must be a mapping, not a list" in report
    assert '"namespace":"{' not in report.replace(" ", "")  # an unusable namespace is none, not its repr


def test_the_readme_audit_example_runs_on_the_sample_log(capsys, monkeypatch):
    import shlex

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    line = next(x for x in readme.splitlines() if x.startswith("kubeharden audit scan examples/audit/audit.log"))
    monkeypatch.chdir(ROOT)
    main(shlex.split(line.split("#", 1)[0])[1:])
    out = capsys.readouterr().out
    assert re.search(r"^\d+ events, 20 alerts, \d+ rules", out, re.M), out[-500:]
