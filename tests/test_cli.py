"""The command line: exit codes, formats, output files, stdin, and the bundled examples."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kubeharden.catalogue.loader import load_catalogue, profile_includes
from kubeharden.cli import main

ROOT = Path(__file__).resolve().parents[1]
CLEAN = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}\ndata: {a: b}\n"
BAD = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: x, " \
      "securityContext: {privileged: true}}]\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_exit_codes(tmp_path, capsys):
    clean = write(tmp_path, "clean.yaml", CLEAN)
    bad = write(tmp_path, "bad.yaml", BAD)
    broken = write(tmp_path, "broken.yaml", "a: [\n")
    assert main(["scan", "--no-config", clean]) == 0
    assert main(["scan", "--no-config", bad]) == 1
    assert main(["scan", "--no-config", "--fail-on", "none", bad]) == 0
    assert main(["scan", "--no-config", "--fail-on", "critical", "--control", "KH-POD-003", bad]) == 0
    assert main(["scan", "--no-config", clean, broken]) == 3
    assert main(["scan", "--no-config", bad, broken]) == 1
    assert main(["scan", "--no-config", "--control", "KH-NOPE-1", clean]) == 2
    cfg = write(tmp_path, "cfg.yaml", "profile: nope\n")
    assert main(["scan", "--config", cfg, clean]) == 2
    assert "profile must be one of" in capsys.readouterr().err


def test_output_file_and_formats(tmp_path):
    bad = write(tmp_path, "bad.yaml", BAD)
    out = tmp_path / "out" / "r.json"
    out.parent.mkdir()
    assert main(["scan", "--no-config", "-f", "json", "-o", str(out), bad]) == 1
    data = json.loads(out.read_text())
    assert any(f["control_id"] == "KH-POD-004" for f in data["findings"])
    for fmt in ("sarif", "junit", "table"):
        target = tmp_path / f"r.{fmt}"
        assert main(["scan", "--no-config", "-f", fmt, "-o", str(target), bad]) == 1
        assert target.stat().st_size > 0


def test_stdin_through_a_real_process():
    proc = subprocess.run([sys.executable, "-m", "kubeharden", "scan", "--no-config", "-f", "json", "-"],
                          input=BAD, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert {f["file"] for f in data["findings"]} == {"<stdin>"}


def test_insecure_example_shows_what_the_guide_warns_about(capsys):
    assert main(["scan", "--no-config", "-f", "json", str(ROOT / "examples" / "insecure")]) == 1
    data = json.loads(capsys.readouterr().out)
    found = {(f["resource"]["name"], f["control_id"]) for f in data["findings"] if f["status"] == "fail"}
    expected = {
        ("frontend", "KH-IMG-001"), ("frontend", "KH-POD-001"), ("frontend", "KH-POD-010"),
        ("frontend", "KH-SEC-001"), ("frontend", "KH-POD-003"),
        ("worker", "KH-POD-004"), ("worker", "KH-POD-005"), ("worker", "KH-POD-006"), ("worker", "KH-POD-009"),
        ("worker", "KH-POD-013"),
        ("backup", "KH-SEC-001"), ("backup", "KH-IMG-001"), ("backup", "KH-RES-003"),
        ("settings", "KH-SEC-002"), ("shop", "KH-NS-003"),
    }
    assert expected <= found
    kinds = {f["resource"]["kind"] for f in data["findings"]}
    assert {"Deployment", "DaemonSet", "CronJob", "ConfigMap", "Namespace"} <= kinds
    assert not data["errors"]


def test_hardened_example_is_clean_at_the_strictest_profile(capsys):
    assert main(["scan", "--no-config", "--profile", "strict", "-f", "json",
                 str(ROOT / "examples" / "hardened")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["findings"] == [] and data["errors"] == []
    assert {p["level"] for p in data["pss"]} == {"restricted"}


def test_installed_as_kubectl_plugin_too():
    from importlib.metadata import entry_points

    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("kubeharden") == "kubeharden.cli:run"
    # kubectl runs kubectl-harden for `kubectl harden …`; without a path it reads the current context
    assert scripts.get("kubectl-harden") == "kubeharden.cli:kubectl_main"


def test_report_names_the_configuration_in_effect(tmp_path, capsys, monkeypatch):
    clean = write(tmp_path, "clean.yaml", CLEAN)
    cfg = write(tmp_path, "site.yaml", "profile: strict\n")
    report = tmp_path / "out" / "report.json"
    report.parent.mkdir()
    assert main(["scan", "--config", cfg, "-f", "json", "-o", str(report), clean]) == 0
    summary = json.loads(report.read_text())["summary"]
    assert (summary["config"], summary["profile"]) == (cfg, "strict")
    assert main(["scan", "--no-config", "-f", "json", "-o", str(report), clean]) == 0
    assert json.loads(report.read_text())["summary"]["config"] is None
    sarif = tmp_path / "out" / "report.sarif"
    assert main(["scan", "--config", cfg, "-f", "sarif", "-o", str(sarif), clean]) == 0
    # controls that only another input can show (node facts, etcd check's) are said to be not assessable,
    # never counted as passed
    unseen = [c.id for c in load_catalogue() if profile_includes("strict", c) and "manifest" not in c.inputs]
    assert unseen and all(i.startswith(("KH-CP-", "KH-ETCD-", "KH-KUBELET-", "KH-PROXY-", "KH-FILE-")) for i in unseen)
    properties = json.loads(sarif.read_text())["runs"][0]["invocations"][0]["properties"]
    inapplicable = properties.pop("notApplicable")
    assert properties == {"profile": "strict", "config": cfg, "input": "manifest", "notAssessable": unseen}
    # controls that found nothing to judge in this input (no RBAC objects, no Dockerfile …) are said too
    assert "KH-RBAC-001" in inapplicable and not set(inapplicable) & set(unseen)
    # the table footer, with a configuration found upwards from the working directory
    (tmp_path / ".kubeharden.yaml").write_text("profile: baseline\n")
    monkeypatch.chdir(tmp_path / "out")
    assert main(["scan", clean]) == 0
    out = capsys.readouterr().out
    assert f"configuration: {tmp_path / '.kubeharden.yaml'}" in out and "profile baseline" in out
    assert main(["scan", "--no-config", clean]) == 0
    assert "configuration: none (built-in defaults)" in capsys.readouterr().out
def test_max_file_size_takes_and_prints_mebibytes(tmp_path, capsys):
    big = write(tmp_path, "big.yaml", CLEAN + "#" * (700 * 1024) + "\n")
    assert main(["scan", "--no-config", "--max-file-size", "0.5", "--fail-on", "none", big]) == 3
    out = " ".join(capsys.readouterr().out.split())
    assert "file is 0.68 MiB (716," in out and "over the 0.5 MiB (524,288 bytes) limit (--max-file-size)" in out
    assert main(["scan", "--no-config", "--max-file-size", "1MiB", big]) == 0
    for bad in ("64MB", "0", "-1", "lots"):
        try:
            main(["scan", "--max-file-size", bad, big])
        except SystemExit as exc:
            assert exc.code == 2
        assert "MiB" in capsys.readouterr().err
    try:
        main(["scan", "--help"])
    except SystemExit:
        pass
    assert "skip files larger than this many MiB (default 64 MiB)" in " ".join(capsys.readouterr().out.split())


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_the_executable_ends_with_the_commands_status_and_its_whole_output():
    done = _python("import sys; sys.argv = ['kubeharden', 'scan', '--no-config', '-f', 'json', "
                   f"{str(ROOT / 'examples' / 'insecure')!r}]; from kubeharden.cli import run; run()")
    assert done.returncode == 1  # the insecure example fails at the default threshold
    assert len(json.loads(done.stdout)["findings"]) > 20  # everything written reached the pipe


def test_exit_now_runs_exit_handlers_and_flushes_output_before_it_ends():
    done = _python("import atexit; atexit.register(lambda: print('handler ran')); "
                   "from kubeharden.cli import exit_now; print('x' * 100000); exit_now(3)")
    assert done.returncode == 3
    assert done.stdout == "x" * 100000 + "\nhandler ran\n"


def test_exit_now_waits_for_threads_still_running():
    done = _python("import threading, time; from kubeharden.cli import exit_now\n"
                   "def late():\n    time.sleep(0.3); print('thread done', flush=True)\n"
                   "threading.Thread(target=late).start(); exit_now(4)")
    assert done.returncode == 4
    assert done.stdout == "thread done\n"


def test_exit_now_gives_control_back_to_a_profiler(tmp_path):
    profile = tmp_path / "scan.prof"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "kubeharden", "scan",
                           "--no-config", "--fail-on", "none", "-f", "json", str(ROOT / "examples" / "insecure")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and json.loads(done.stdout)["findings"]
    assert profile.stat().st_size > 1000  # cProfile wrote its statistics after the command ended


def test_the_json_report_is_the_same_without_orjson_fragments(tmp_path, capsys, monkeypatch):
    import orjson

    argv = ["scan", "--no-config", "--fail-on", "none", "-f", "json", str(ROOT / "examples" / "insecure")]
    main(argv)
    with_fragments = capsys.readouterr().out
    monkeypatch.delattr(orjson, "Fragment")  # an orjson before 3.9, below the declared bound
    main(argv)
    assert capsys.readouterr().out == with_fragments
