"""--jobs: files checked in worker processes give the report of a single-process scan, byte for byte."""

from __future__ import annotations

import io
import json
import os
import textwrap
import time
from pathlib import Path

import pytest

from kubeharden.catalogue.loader import load_catalogue
from kubeharden.cli import main
from kubeharden.engine import parallel
from kubeharden.sources import registry, snapshot
from kubeharden.sources.files import ReadOptions, skipped_reason

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# A Pod the API server would return (https://kubernetes.io/docs/concepts/workloads/pods/), privileged.
POD_OBJECT = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debug", "namespace": "shop"},
              "spec": {"containers": [{"name": "shell", "image": "busybox:1.36",
                                       "securityContext": {"privileged": True}}]}}
POD_OBJECT_YAML = json.dumps(POD_OBJECT)  # JSON is YAML: the same Pod as a manifest file


@pytest.fixture
def pools(monkeypatch) -> list[int]:
    """Workers start on any input size; records the number of workers of each pool started."""
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    started: list[int] = []
    real = parallel.ProcessPoolExecutor

    class Recorded(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            started.append(kwargs["max_workers"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", Recorded)
    return started


def report(tmp_path: Path, jobs: int, *argv: str, fmt: str = "json") -> bytes:
    out = tmp_path / f"report-{jobs}-{fmt}"
    code = main(["scan", "--no-config", "-f", fmt, "--fail-on", "none", "-o", str(out), "--jobs", str(jobs), *argv])
    assert code in (0, 3)
    return out.read_bytes()


def sizes(files: list[str]) -> dict[str, int]:
    """The bytes of each file, as scan_files measures them."""
    return {path: os.path.getsize(path) for path in files}


def write_inputs(root: Path) -> None:
    """Many files: every catalogue example (fail and pass, so every area runs), the same objects
    again in a later file (duplicates across workers), RBAC and NetworkPolicies in separate files
    from the workloads they govern, a broken file and a non-Kubernetes document."""
    for i, control in enumerate(load_catalogue()):
        (root / "controls").mkdir(parents=True, exist_ok=True)
        (root / "controls" / f"{i:03d}-fail.yaml").write_text(control.example_fail)
        (root / "controls" / f"{i:03d}-pass.yaml").write_text(control.example_pass)
    (root / "zz-again").mkdir()
    (root / "zz-again" / "copy.yaml").write_text(load_catalogue()[0].example_fail)
    (root / "broken.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x\n")
    (root / "notes.yaml").write_text("just: a config file\n")
    (root / "app.yaml").write_text(textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: shop}
        spec:
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              serviceAccountName: web
              containers: [{name: web, image: "registry.example.com/web:1.0"}]
        """))
    (root / "rbac.yaml").write_text(textwrap.dedent("""\
        apiVersion: v1
        kind: ServiceAccount
        metadata: {name: web, namespace: shop}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata: {name: web-admin}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
        subjects: [{kind: ServiceAccount, name: web, namespace: shop}]
        """))


@pytest.mark.parametrize("argv", [["@insecure"], ["@hardened"], ["@insecure", "@hardened"],
                                  ["--scope", "path", "@insecure", "@hardened"], ["--profile", "strict", "@insecure"],
                                  ["-n", "shop", "--control", "KH-POD-*", "--control", "KH-RBAC-*", "@insecure"]])
def test_examples_give_the_same_report_for_any_jobs(tmp_path, pools, argv):
    args = [str(EXAMPLES / a[1:]) if a.startswith("@") else a for a in argv]
    one = report(tmp_path, 1, *args)
    assert report(tmp_path, 2, *args) == one
    assert pools == [1]  # and this process: two in all


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_a_generated_multi_file_input_gives_the_same_report_for_any_jobs(tmp_path, pools, fmt):
    write_inputs(tmp_path / "in")
    one = report(tmp_path, 1, str(tmp_path / "in"), fmt=fmt)
    assert b"duplicate-object" in one or fmt == "sarif"
    assert report(tmp_path, 2, str(tmp_path / "in"), fmt=fmt) == one
    assert report(tmp_path, 3, "--profile", "strict", str(tmp_path / "in"), fmt=fmt) \
        == report(tmp_path, 1, "--profile", "strict", str(tmp_path / "in"), fmt=fmt)
    assert pools == [1, 2]


def test_exceptions_used_in_workers_are_counted_in_the_parent(tmp_path, pools):
    write_inputs(tmp_path / "in")
    config = tmp_path / "kh.yaml"
    config.write_text(textwrap.dedent("""\
        exceptions:
          - control: KH-RBAC-*
            reason: reviewed
          - control: KH-POD-001
            name: nothing-has-this-name
            reason: never used, so reported unused
        """))
    args = ["--config", str(config), str(tmp_path / "in")]
    one = main_report(tmp_path, 1, args)
    assert b'"suppressed"' in one and b"nothing-has-this-name" in one
    assert main_report(tmp_path, 2, args) == one


def main_report(tmp_path: Path, jobs: int, args: list[str]) -> bytes:
    out = tmp_path / f"with-config-{jobs}.json"
    assert main(["scan", "-f", "json", "--fail-on", "none", "-o", str(out), "--jobs", str(jobs), *args]) in (0, 3)
    return out.read_bytes()


def test_a_file_a_worker_cannot_finish_is_checked_in_the_parent(tmp_path, pools, monkeypatch):
    write_inputs(tmp_path / "in")
    one = report(tmp_path, 1, str(tmp_path / "in"))
    real = parallel._Worker.check
    parent = os.getpid()

    def failing(self, path):
        if path.endswith("app.yaml"):
            raise RuntimeError("unexpected")
        if path.endswith("rbac.yaml") and os.getpid() != parent:
            os._exit(9)  # the worker dies: the pool breaks, the rest is checked in the parent
        return real(self, path)

    monkeypatch.setattr(parallel._Worker, "check", failing)
    assert report(tmp_path, 2, str(tmp_path / "in")) == one


def test_stdin_and_files_together(tmp_path, pools, monkeypatch):
    import sys
    text = (EXAMPLES / "insecure" / "frontend.yaml").read_bytes()
    reports = []
    for jobs in (1, 2):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text)))
        reports.append(report(tmp_path, jobs, str(EXAMPLES / "insecure"), "-", str(EXAMPLES / "hardened")))
    assert reports[0] == reports[1]
    assert b"<stdin>" in reports[0]


def test_small_inputs_and_one_job_start_no_worker(tmp_path, monkeypatch):
    started: list[int] = []
    monkeypatch.setattr(parallel, "ProcessPoolExecutor", lambda *a, **k: started.append(1))
    report(tmp_path, 2, str(EXAMPLES / "insecure"))  # under PARALLEL_MIN_BYTES
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    report(tmp_path, 1, str(EXAMPLES / "insecure"))
    assert started == []


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_jobs_must_be_a_positive_number(value, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["scan", "--jobs", value, str(EXAMPLES / "insecure")])
    assert exc.value.code == 2
    assert "--jobs" in capsys.readouterr().err


def record_frames(monkeypatch) -> list[str]:
    """The control IDs of the child's frames, in the order the parent reads them."""
    answered: list[str] = []
    real = parallel._next_frame

    def frame(pipe):
        got = real(pipe)
        answered.extend(got or ())
        return got

    monkeypatch.setattr(parallel, "_next_frame", frame)
    return answered


def test_cross_object_controls_run_in_a_forked_child_or_here_alike(tmp_path, pools, monkeypatch):
    write_inputs(tmp_path / "in")
    one = report(tmp_path, 1, str(tmp_path / "in"))
    real = parallel._next_frame
    answered = record_frames(monkeypatch)
    own: list[bool] = []
    real_resolve = parallel._resolve

    def resolve(answers, inventory):  # each object of a violation is the parent's own, not a copy
        got = real_resolve(answers, inventory)
        held = {id(o) for o in inventory.pods} | {id(o) for objs in inventory.objects.values() for o in objs}
        own.extend(id(v.obj) in held for answer in got.values() if isinstance(answer, list)
                   for v in answer if v.obj is not None)
        return got

    monkeypatch.setattr(parallel, "_resolve", resolve)
    assert report(tmp_path, 2, str(tmp_path / "in")) == one
    assert own and all(own)
    # the controls that read the RBAC model: RBAC functions, the rbac-risk template's controls (KH-RBAC-005)
    # and the ServiceAccount token control's fix evidence (KH-POD-024); the resource controls; each in a
    # frame of its own, in catalogue order. NetworkPolicy controls stay here.
    assert {"KH-RBAC-001", "KH-RBAC-005", "KH-POD-024", "KH-RES-001"} <= set(answered)
    assert all(i.startswith(("KH-RBAC-", "KH-RES-")) or i == "KH-POD-024" for i in answered)
    order = [c.id for c in load_catalogue()]
    assert answered == sorted(answered, key=order.index) and len(answered) == len(set(answered))
    for lost_after in (0, 1, 5):  # the child's answers are lost from some frame on: the rest run here
        kept: list[int] = []

        def cut(pipe, lost_after=lost_after, kept=kept):
            kept.append(1)
            return real(pipe) if len(kept) <= lost_after else None

        monkeypatch.setattr(parallel, "_next_frame", cut)
        assert report(tmp_path, 2, str(tmp_path / "in")) == one


def test_a_child_that_dies_between_two_answers_leaves_the_report_whole(tmp_path, pools, monkeypatch):
    from kubeharden.checks import resources
    write_inputs(tmp_path / "in")
    one = report(tmp_path, 1, str(tmp_path / "in"))
    parent = os.getpid()
    real = resources._missing
    answered = record_frames(monkeypatch)

    def dying(*args, **kwargs):
        if os.getpid() != parent:
            os._exit(9)  # killed in its first resource control, after the RBAC ones were sent
        return real(*args, **kwargs)

    monkeypatch.setattr(resources, "_missing", dying)
    assert report(tmp_path, 2, str(tmp_path / "in")) == one
    assert "KH-RBAC-001" in answered and not any(i.startswith("KH-RES-") for i in answered)


def test_a_scan_stopped_in_the_cross_object_controls_stops_and_reaps_the_child(tmp_path, monkeypatch):
    from kubeharden.config import Config
    from kubeharden.engine.evaluator import Evaluator
    from kubeharden.model.objects import K8sObject
    from kubeharden.sources.files import read_objects
    write_inputs(tmp_path / "in")
    forked: list[int] = []
    real = parallel._fork_controls

    def fork(evaluator, ids):
        child = real(evaluator, ids)
        if child is not None:
            forked.append(child[0])
        return child

    parent = os.getpid()
    real_answer = parallel._violations_or_error

    def slow(run, evaluator):  # the child would take a minute over its first control, before it writes
        if os.getpid() != parent:
            time.sleep(60)
        return real_answer(run, evaluator)

    monkeypatch.setattr(parallel, "_violations_or_error", slow)
    monkeypatch.setattr(parallel, "_fork_controls", fork)
    evaluator = Evaluator(Config())
    for item in read_objects([str(tmp_path / "in")]):
        if isinstance(item, K8sObject):
            list(evaluator.evaluate_object(item))
    stream = parallel.close_split(evaluator)
    next(stream)  # a finding of a control before the child's (KH-CLU, KH-NET)
    started = time.monotonic()
    stream.close()
    assert time.monotonic() - started < 30  # stopped, not waited for
    assert len(forked) == 1
    with pytest.raises(ChildProcessError):  # waited for already: no zombie is left
        os.waitpid(forked[0], os.WNOHANG)


def test_a_control_that_fails_in_the_child_is_reported_as_in_one_process(tmp_path, pools, monkeypatch):
    from kubeharden.checks import rbac
    write_inputs(tmp_path / "in")

    def broken(inventory, ctx):
        raise KeyError("no such subject")

    monkeypatch.setattr(rbac.RbacModel, "__init__", lambda self, inventory: broken(inventory, None))
    one = report(tmp_path, 1, str(tmp_path / "in"))
    assert b"KeyError: 'no such subject'" in one
    assert report(tmp_path, 2, str(tmp_path / "in")) == one


def test_violations_from_the_child_point_at_the_parents_own_objects():
    import pickle

    from kubeharden.engine.evaluator import build_inventory
    from kubeharden.model.controls import Violation
    from kubeharden.sources.files import read_objects
    inventory, _ = build_inventory(read_objects([str(EXAMPLES / "insecure")]))
    kind = sorted(inventory.objects)[-1]
    binding = inventory.objects[kind][-1]
    answers = {"A": [Violation("bound", obj=binding), Violation("pod", obj=inventory.pods[0])],
               "B": [Violation("elsewhere", obj=None)], "C": parallel._Raised("KeyError", "'x'")}
    shipped = pickle.loads(pickle.dumps(parallel._by_reference(answers, inventory)))
    back = parallel._resolve(shipped, inventory)
    assert back["A"][0].obj is binding and back["A"][1].obj is inventory.pods[0]
    assert back["B"] == answers["B"] and back["C"] == answers["C"]


def test_tasks_keep_file_order_and_give_a_large_file_a_task_of_its_own(tmp_path):
    files = []
    for i, size in enumerate([10] * 40 + [100_000] + [10] * 5):
        path = tmp_path / f"f{i:02d}.yaml"
        path.write_bytes(b"#" * size)
        files.append(str(path))
    chunks = parallel._chunks(files, 2, sizes(files))
    assert [p for c in chunks for p in c] == files
    assert all(1 <= len(c) <= parallel.MAX_CHUNK for c in chunks)
    assert [files[40]] in chunks


def test_the_parent_checks_tasks_while_it_waits_and_the_report_is_the_same(tmp_path, pools, monkeypatch):
    write_inputs(tmp_path / "in")
    for i in range(30):
        (tmp_path / "in" / f"extra-{i:02d}.yaml").write_text(
            f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: shop}}\n"
            f"spec:\n  containers: [{{name: c, image: nginx, securityContext: {{privileged: {i % 2 == 0}}}}}]\n")
    one = report(tmp_path, 1, str(tmp_path / "in"))
    monkeypatch.setattr(parallel, "MAX_CHUNK", 1)  # one file a task, one task ahead per worker
    monkeypatch.setattr(parallel, "IN_FLIGHT", 1)
    real_check, real_local = parallel._Worker.check, parallel._Local.check
    parent = os.getpid()
    here: list[str] = []

    def slow(self, path):  # in the worker: slow enough that the parent always finds the next result not ready
        if os.getpid() != parent:
            time.sleep(0.05)
        return real_check(self, path)

    def local(self, paths):
        here.extend(paths)
        return real_local(self, paths)

    monkeypatch.setattr(parallel._Worker, "check", slow)
    monkeypatch.setattr(parallel._Local, "check", local)
    assert report(tmp_path, 2, str(tmp_path / "in")) == one
    assert len(here) >= 10  # the parent did its share
    # exception rules used in files checked here and in the worker are counted once each, in the parent
    config = tmp_path / "kh.yaml"
    config.write_text("exceptions:\n  - control: KH-POD-002\n    namespace: shop\n    reason: reviewed\n"
                      "  - control: KH-POD-001\n    name: nothing-has-this-name\n    reason: never used\n")
    here.clear()
    monkeypatch.setattr(parallel._Worker, "check", real_check)
    one = main_report(tmp_path, 1, ["--config", str(config), str(tmp_path / "in")])
    monkeypatch.setattr(parallel._Worker, "check", slow)
    assert main_report(tmp_path, 2, ["--config", str(config), str(tmp_path / "in")]) == one
    assert len(here) >= 10
    assert b"nothing-has-this-name" in one and b'"suppressed": 0' not in one


def test_a_worker_that_dies_while_the_parent_checks_its_own_share_leaves_the_report_whole(tmp_path, pools,
                                                                                         monkeypatch):
    # the pool is found broken when the next task is handed out, not when a result is read
    for i in range(24):
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / f"p{i:02d}.yaml").write_text(
            f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: shop}}\n"
            f"spec:\n  containers: [{{name: c, image: nginx}}]\n")
    one = report(tmp_path, 1, str(tmp_path / "in"))
    monkeypatch.setattr(parallel, "MAX_CHUNK", 1)
    monkeypatch.setattr(parallel, "IN_FLIGHT", 2)
    real = parallel._Worker.check
    parent = os.getpid()
    seen: list[str] = []  # each worker process counts in its own copy

    def check(self, path):
        if os.getpid() != parent:
            seen.append(path)
            if len(seen) == 2:
                os._exit(9)  # as the OOM killer would, on the worker's second task, the one queued behind
        else:
            time.sleep(0.1)  # the parent is busy with its own share meanwhile
        return real(self, path)

    monkeypatch.setattr(parallel._Worker, "check", check)
    assert report(tmp_path, 2, str(tmp_path / "in")) == one


def test_results_come_whole_and_in_order_whenever_the_pool_breaks(tmp_path):
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    files = []
    for i in range(12):
        (tmp_path / f"f{i:02d}.yaml").write_text("#")
        files.append(str(tmp_path / f"f{i:02d}.yaml"))

    class Pool:  # answers the first two tasks, then breaks: later tasks fail or cannot be handed out
        def __init__(self, refuse_after):
            self.handed = 0
            self.refuse_after = refuse_after

        def submit(self, fn, paths):
            self.handed += 1
            if self.handed > self.refuse_after:
                raise BrokenProcessPool("a worker died")
            future = Future()
            if self.handed <= 2:
                future.set_result([parallel.FileResult(unfinished=f"remote {p}") for p in paths])
            else:
                future.set_exception(BrokenProcessPool("a worker died"))
            return future

    class Here:
        def check(self, paths):
            return [parallel.FileResult(unfinished=f"here {p}") for p in paths]

    for refuse_after in (2, 3, 6, 100):
        got = list(parallel._results(Pool(refuse_after), files, 2, Here(), sizes(files)))
        assert len(got) == len(files)
        named = [g.unfinished.split()[1] if g is not None else None for g in got]
        assert [n for n in named if n is not None] == [f for f, n in zip(files, named, strict=True) if n is not None]
        assert named[0] == files[0] and named[-1] == files[-1]  # the first came back, the last was checked here


class CountingPool:
    """A pool whose worker answers each task once the parent waits for it (``ready``: at once, so the parent
    never checks a task itself), recording at each submit how many tasks the workers held (handed out, not
    yet merged)."""

    def __init__(self, ready: bool = False):
        from concurrent.futures import Future

        pool = self

        class Waited(Future):
            merged = False

            def result(self, timeout=None):
                if not self.done():
                    self.answer()
                if not self.merged:
                    self.merged = True
                    pool.merged += 1
                return super().result(timeout)

            def answer(self):
                self.set_result([parallel.FileResult(unfinished=f"remote {p}") for p in self.paths])

        self.future = Waited
        self.ready = ready
        self.held: list[int] = []
        self.submitted = self.merged = 0

    def submit(self, fn, paths):
        self.held.append((paths[0], self.submitted - self.merged))
        future = self.future()
        future.paths = paths
        if self.ready:
            future.answer()
        self.submitted += 1
        return future


class Here:
    def check(self, paths):
        return [parallel.FileResult(unfinished=f"here {p}") for p in paths]


def test_the_workers_are_kept_busy_and_given_fewer_tasks_ahead_at_the_end(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "MAX_CHUNK", 1)  # enough tasks that some are handed out at the end
    files = []
    for i in range(200):
        (tmp_path / f"f{i:03d}.yaml").write_text("#")
        files.append(str(tmp_path / f"f{i:03d}.yaml"))
    for jobs in (2, 3):
        queue = (jobs - 1) * parallel.IN_FLIGHT
        chunks = parallel._chunks(files, jobs, sizes(files))
        index = {chunk[0]: n for n, chunk in enumerate(chunks)}
        for pool in (CountingPool(), CountingPool(ready=True)):
            got = list(parallel._results(pool, files, jobs, Here(), sizes(files)))
            assert [g.unfinished.split()[1] for g in got] == files  # in order, each once
            # every task handed out while more than twice the queue were left found the workers' queue one
            # short of full (it is refilled after each merge), and the last ones found it at two per worker
            # at most
            early = [h for first, h in pool.held if len(chunks) - index[first] > 2 * queue]
            late = [h for first, h in pool.held if len(chunks) - index[first] <= 2 * queue]
            assert early[:queue] == list(range(queue)) and set(early[queue:]) == {queue - 1}
            assert max(late, default=0) < 2 * (jobs - 1)
            if pool.ready:  # workers that answer at once are given the last tasks too
                assert late
            else:  # the parent took some of the last while it waited for the workers
                assert "here" in {g.unfinished.split()[0] for g in got[-2 * queue:]}


def test_the_last_eighth_of_the_bytes_goes_in_smaller_tasks(tmp_path):
    files = []
    for i in range(200):
        path = tmp_path / f"f{i:03d}.yaml"
        path.write_bytes(b"#" * 1000)
        files.append(str(path))
    chunks = parallel._chunks(files, 2, sizes(files))  # 200,000 bytes: 6,250 a task, 1,562 in the last 25,000
    assert [p for c in chunks for p in c] == files
    assert {len(c) for c in chunks[:20]} == {6}
    assert {len(c) for c in chunks[-20:]} == {1}


def test_inputs_keep_their_order_and_their_own_object_counts(tmp_path, pools):
    """A missing path between two inputs, a folder with nothing to check and a snapshot (read by the
    snapshot source of the input seam) give the single-process report, in either scope."""
    write_inputs(tmp_path / "in")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "values.yaml").write_text("replicas: 3\n")
    snapshot = tmp_path / "dump.jsonl"
    snapshot.write_text('{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"}, '
                        '"spec": {"containers": [{"name": "c", "image": "nginx", '
                        '"securityContext": {"privileged": true}}]}}\n')
    paths = [str(tmp_path / "in"), str(tmp_path / "missing.yaml"), str(tmp_path / "empty"), str(snapshot)]
    for scope in ("all", "path"):
        one = report(tmp_path, 1, "--scope", scope, *paths)
        assert b"nothing-checked" in one and b"dump.jsonl" in one and b"no such file" in one
        assert report(tmp_path, 2, "--scope", scope, *paths) == one
    assert pools == [1, 1]


def test_a_control_that_raises_in_a_worker_is_an_error_in_the_parent(tmp_path, pools, monkeypatch):
    """Controls that raise (ScanResult.errored) and suppressed counts per control come back from workers."""
    from kubeharden.engine.evaluator import Evaluator

    write_inputs(tmp_path / "in")
    real = Evaluator._runner

    def runner(self, control):
        run = real(self, control)
        if control.id != "KH-POD-001":
            return run

        def raising(unit, ctx):
            if unit.name == "web":  # the container of app.yaml
                raise ValueError("boom")
            return run(unit, ctx)
        return raising

    monkeypatch.setattr(Evaluator, "_runner", runner)
    one = report(tmp_path, 1, str(tmp_path / "in"))
    assert b'"KH-POD-001":"error"' in one and b"boom" in one
    assert report(tmp_path, 2, str(tmp_path / "in")) == one


def test_frozen_records_cross_the_process_boundary_whole():
    """The fast reducer of frozen dataclasses rebuilds each with every field, compare=False ones included."""
    import dataclasses
    import pickle

    from multiprocessing.reduction import ForkingPickler

    from kubeharden.model.findings import Fix
    from kubeharden.model.objects import Provenance, ResourceRef
    from kubeharden.model.resources import ContainerResources

    samples = [ResourceRef("apps/v1", "Deployment", "shop", "web"),
               Provenance("a.yaml", 3, "helm", True, "chart", "t.yaml", "image.tag", "values.yaml", 7, "prod.yaml",
                          "patch.yaml", 9, None, "/etc/kubernetes/admin.conf"),
               Fix("set", "spec.containers[0].securityContext.privileged", False, True, "evidence"),
               ContainerResources("app", "container", frozenset({"cpu"}), frozenset(), 4, None, "spec.containers[0]",
                                  {"cpu": "100m"})]
    assert {type(s) for s in samples} == set(parallel.FROZEN_CROSSING)
    for sample in samples:
        back = pickle.loads(bytes(ForkingPickler.dumps(sample)))
        assert type(back) is type(sample)
        assert all(f.init for f in dataclasses.fields(sample)), "the reducer passes every field to the constructor"
        assert [getattr(back, f.name) for f in dataclasses.fields(sample)] == \
            [getattr(sample, f.name) for f in dataclasses.fields(sample)]


@pytest.mark.skipif(not hasattr(__import__("fcntl"), "F_GETPIPE_SZ"), reason="pipe sizes are Linux's")
def test_the_pipe_of_the_workers_results_holds_a_tasks_results(monkeypatch):
    import fcntl
    limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    monkeypatch.setattr(parallel, "PIPE_BYTES", min(parallel.PIPE_BYTES, limit))
    executor = parallel.ProcessPoolExecutor(max_workers=1, mp_context=parallel._context())
    try:
        before = fcntl.fcntl(executor._result_queue._writer.fileno(), fcntl.F_GETPIPE_SZ)
        parallel._widen_results(executor)
        after = fcntl.fcntl(executor._result_queue._reader.fileno(), fcntl.F_GETPIPE_SZ)
    finally:
        executor.shutdown()
    assert before < parallel.PIPE_BYTES <= after


def test_only_inputs_of_a_source_that_must_run_here_stay_out_of_the_workers(tmp_path):
    chart = tmp_path / "chart"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: shop\nversion: 0.1.0\n")
    plain = tmp_path / "plain.yaml"
    plain.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")
    snapshot = tmp_path / "dump.jsonl"
    snapshot.write_text("{}\n")
    packaged = tmp_path / "shop-0.1.0.tgz"
    packaged.write_bytes(b"")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\n")
    whole = frozenset({str(snapshot), str(packaged)})  # the command-line inputs a source claims

    def forkable(path):  # as the plan asks: with what one stat says of the unit
        return parallel._forkable(path, parallel._stat(path).folder, whole)

    assert forkable(str(chart)) is False  # Helm's Go runtime does not survive a fork
    assert forkable(str(packaged)) is False  # a packaged chart on the command line too
    assert forkable("-") is False
    assert forkable(str(plain)) is True
    assert forkable(str(snapshot)) is True
    assert forkable(str(dockerfile)) is True  # found by name in a folder, by a source that may run in a worker
    assert forkable(str(tmp_path / "gone.yaml")) is True  # the worker says it cannot be read, as one process would


def test_the_report_written_into_the_input_is_set_aside_with_any_jobs(tmp_path, pools):
    """The plan's one stat per file finds the report this run writes (by device and inode), as one process does."""
    folder = tmp_path / "in"
    write_inputs(folder)
    out = folder / "report.json"
    out.write_text(json.dumps({**POD_OBJECT, "metadata": {"name": "in-the-report", "namespace": "shop"}}))
    reports = []
    for jobs in (1, 2):
        code = main(["scan", "--no-config", "-f", "json", "--fail-on", "none", "-o", str(out), "--jobs", str(jobs),
                     str(folder)])
        assert code in (0, 3)
        reports.append(json.loads(out.read_text()))
        out.write_text(json.dumps({**POD_OBJECT, "metadata": {"name": "in-the-report", "namespace": "shop"}}))
    assert reports[0] == reports[1]
    assert pools == [1]
    notes = [n for n in reports[1]["notes"] if n["kind"] == "own-output"]
    assert [n["file"] for n in notes] == [str(out)]
    assert not any(f["resource"]["name"] == "in-the-report" for f in reports[1]["findings"])


def test_the_skip_check_takes_the_identity_the_plan_found():
    """The plan's stat gives the report's device and inode: the skip check does not stat the file again."""
    skip = {(7, 11): "the JSON report"}
    assert skipped_reason("/no/such/file", skip, (7, 11)) == "the JSON report"  # no second stat
    assert skipped_reason("/no/such/file", skip) is None  # looked up, and it is not there
    assert skipped_reason("-", skip, (7, 11)) is None


def test_a_frame_is_read_whole_or_not_at_all():
    import pickle
    body = pickle.dumps({"KH-RBAC-001": []})
    frame = len(body).to_bytes(8, "little") + body
    assert parallel._next_frame(io.BytesIO(frame)) == {"KH-RBAC-001": []}
    two = io.BytesIO(frame + frame)
    assert parallel._next_frame(two) == parallel._next_frame(two) == {"KH-RBAC-001": []}
    assert parallel._next_frame(two) is None  # the end of the pipe
    assert parallel._next_frame(io.BytesIO(frame[:5])) is None  # the length cut short
    assert parallel._next_frame(io.BytesIO(frame[:-1])) is None  # the answer cut short
    garbage = b"not a pickle"
    assert parallel._next_frame(io.BytesIO(len(garbage).to_bytes(8, "little") + garbage)) is None
    listed = pickle.dumps(["not", "a", "mapping"])
    assert parallel._next_frame(io.BytesIO(len(listed).to_bytes(8, "little") + listed)) is None
    assert parallel._next_frame(io.BytesIO((1 << 62).to_bytes(8, "little") + body)) is None  # no such length


def test_the_parent_checks_up_to_lookahead_tasks_ahead_while_the_next_result_is_with_a_worker(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "MAX_CHUNK", 1)  # one file a task
    files = []
    for i in range(100):
        (tmp_path / f"f{i:03d}.yaml").write_text("#")
        files.append(str(tmp_path / f"f{i:03d}.yaml"))
    pool = CountingPool()  # its worker answers a task only once the parent waits for it
    before_first_merge: list[str] = []

    class Counting(Here):
        def check(self, paths):
            if pool.merged == 0:
                before_first_merge.extend(paths)
            return super().check(paths)

    got = list(parallel._results(pool, files, 2, Counting(), sizes(files)))
    assert [g.unfinished.split()[1] for g in got] == files
    # the workers' queue held the first IN_FLIGHT tasks; the parent checked the next LOOKAHEAD before it
    # waited for the first of them
    queue = parallel.IN_FLIGHT
    assert before_first_merge == files[queue:queue + parallel.LOOKAHEAD]


def test_a_folder_or_file_named_relatively_gives_the_same_file_names_for_any_jobs(tmp_path, pools, monkeypatch):
    write_inputs(tmp_path / "in")
    (tmp_path / "in" / ".config").mkdir()  # a folder whose name starts with a dot keeps it
    (tmp_path / "in" / ".config" / "pod.yaml").write_text(load_catalogue()[1].example_fail)
    (tmp_path / "in" / "img").mkdir()
    (tmp_path / "in" / "img" / "Dockerfile").write_text("FROM alpine:3.20\nUSER root\n")
    monkeypatch.chdir(tmp_path / "in")

    def names(report: bytes) -> set[str]:
        return {f["file"] for f in json.loads(report)["findings"]}

    for folder in (".", "./", ".//"):
        one = report(tmp_path, 1, folder)
        assert {"controls/000-fail.yaml", ".config/pod.yaml", "img/Dockerfile"} <= names(one)
        assert not [n for n in names(one) if n.startswith("./") or "//" in n]  # as Path writes it, whoever reads it
        assert report(tmp_path, 2, folder) == one
    # files, folders and inputs a source claims (a Dockerfile) alike; one file named twice is one file given twice
    argv = ["./app.yaml", ".//rbac.yaml", "./zz-again/", "controls/", "./img/Dockerfile", "img//Dockerfile"]
    one = report(tmp_path, 1, *argv)
    assert {"app.yaml", "rbac.yaml", "zz-again/copy.yaml", "img/Dockerfile"} <= names(one)
    assert not [n for n in names(one) if n.startswith("./") or "//" in n]
    problems = json.loads(one)["errors"]
    assert {p["kind"] for p in problems if p["file"] == "img/Dockerfile"} == {"repeated-object"}
    # a copy of a file in another folder (read first here) defines the same objects again: two files, not one
    assert {p["kind"] for p in problems if p["file"] == "controls/000-fail.yaml"} == {"duplicate-object"}
    assert report(tmp_path, 2, *argv) == one
    one = report(tmp_path, 1, "controls", "zz-again/../controls/000-fail.yaml")
    again = [p["kind"] for p in json.loads(one)["errors"] if p["file"] == "zz-again/../controls/000-fail.yaml"]
    assert again and set(again) == {"repeated-object"}
    assert report(tmp_path, 2, "controls", "zz-again/../controls/000-fail.yaml") == one
    assert pools == [1] * 5


def test_a_folder_named_dash_in_a_dot_scan_is_no_stdin(tmp_path, pools, monkeypatch):
    overlay = tmp_path / "in" / "-"  # a Kustomize folder whose name is stdin's marker
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                                "resources: [pod.yaml]\n")
    (overlay / "pod.yaml").write_text(load_catalogue()[1].example_fail)
    monkeypatch.chdir(tmp_path / "in")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    one = report(tmp_path, 1, ".")
    findings = json.loads(one)["findings"]
    assert findings and {f["trace"]["input"] for f in findings} == {"./-"}  # built as an overlay, not read as stdin
    assert report(tmp_path, 2, ".") == one


def test_each_entry_of_a_folder_read_on_its_own_gives_what_reading_the_folder_gives(tmp_path):
    """The parallel plan reads a folder's entries one by one (read_listed): together they must give, item for
    item, what read_inputs gives for the folder, whatever the entry (a manifest, a kubeconfig, a snapshot
    envelope, a Dockerfile, a Kustomize overlay, a broken file, a FIFO named like a manifest)."""
    root = tmp_path / "in"
    write_inputs(root)
    (root / "img").mkdir()
    (root / "img" / "Dockerfile").write_text("FROM alpine:3.20\nUSER root\n")
    (root / "admin.conf").write_text("apiVersion: v1\nkind: Config\nusers: [{name: admin, user: {token: abc}}]\n")
    (root / "dump.json").write_text(json.dumps({"apiVersion": snapshot.API_VERSION, "kind": snapshot.KIND,
                                                "metadata": {"name": "prod"},
                                                "items": [json.loads(json.dumps(POD_OBJECT))]}))
    overlay = root / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1beta1\n"
                                                "kind: Kustomization\nresources: [pod.yaml]\n")
    (overlay / "pod.yaml").write_text(load_catalogue()[1].example_fail)
    os.mkfifo(root / "pipe.yaml")  # never opened for a blocking read
    (root / "gone.yaml").symlink_to(root / "nowhere.yaml")  # listed by the walk, gone when read
    options = ReadOptions(shallow_kind=lambda kind: kind == "ConfigMap")  # as a scan loads kinds nobody reads
    entries = list(registry.iter_files([str(root)]))
    assert str(overlay) in entries and str(root / "img" / "Dockerfile") in entries
    one_by_one = [item for entry in entries
                  for item in (registry.read_listed(entry, options) if isinstance(entry, str) else [entry])]
    whole = list(registry.read_inputs([str(root)], options))
    assert one_by_one == whole
    sources = {item.origin.source for item in whole if hasattr(item, "origin")}
    assert {"file", "snapshot", "kustomize", "dockerfile"} <= sources and len(whole) > len(entries)
    assert [p.message for p in whole if getattr(p, "file", None) == str(root / "pipe.yaml")] == [
        "cannot read: not a regular file (a device, FIFO or socket); skipped"]
    assert [p.message for p in whole if getattr(p, "file", None) == str(root / "gone.yaml")] == [
        "cannot read: No such file or directory"]



@pytest.mark.parametrize("workers", [True, False])
@pytest.mark.parametrize("suffix", ["", "/", "//", "/."])
def test_an_input_a_source_claims_is_read_by_that_source_in_a_parallel_scan(tmp_path, request, monkeypatch, workers,
                                                                              suffix):
    """A snapshot named as typed (``dump.jsonl/`` too) is read by the snapshot source, with worker processes
    and without them (a small input with --jobs 2 is read in this process), as --jobs 1 reads it."""
    if workers:
        pools = request.getfixturevalue("pools")
    else:  # a small input: --jobs 2 reads it in this process
        monkeypatch.setattr(parallel, "ProcessPoolExecutor", lambda *a, **k: pytest.fail("a pool for a small input"))
    write_inputs(tmp_path / "in")
    dump = tmp_path / "dump.jsonl"  # JSON lines: read as a snapshot, one object per line, never as YAML text
    dump.write_text(json.dumps(POD_OBJECT) + "\n" + json.dumps({**POD_OBJECT, "metadata": {"name": "other"}}) + "\n")
    argv = [str(dump) + suffix, str(tmp_path / "in")]
    two = report(tmp_path, 2, *argv)
    findings = [f for f in json.loads(two)["findings"] if f["file"] == str(dump)]
    assert {(f["resource"]["name"], f["line"], f["source"]) for f in findings if f["control_id"] == "KH-POD-004"} \
        == {("debug", 1, "snapshot"), ("other", 2, "snapshot")}
    assert str(dump) not in {e["file"] for e in json.loads(two)["errors"]}
    assert report(tmp_path, 1, *argv) == two
    if workers:
        assert pools == [1]


def test_a_folder_the_walk_cannot_list_and_a_linked_folder_are_said_never_passed(tmp_path, pools, monkeypatch):
    """A subfolder that cannot be listed is an input error and a symbolic link to a folder a warning, with any
    --jobs: the privileged Pods they hold were not checked, so the scan must not pass quietly."""
    root = tmp_path / "in"
    (root / "team").mkdir(parents=True)
    (root / "app.yaml").write_text(POD_OBJECT_YAML.replace("debug", "app"))
    (root / "web.yaml").write_text(POD_OBJECT_YAML.replace("debug", "web"))  # two files: a worker starts
    (root / "team" / "pod.yaml").write_text(POD_OBJECT_YAML)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "pod.yaml").write_text(POD_OBJECT_YAML)
    (root / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    real_scandir = os.scandir

    def scandir(path="."):  # as for a folder of another user, which root (running the tests) could read
        if os.path.basename(os.fspath(path)) == "team":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    one = report(tmp_path, 1, str(root))
    problems = {(p["level"], p["file"], p["message"]) for p in json.loads(one)["errors"]}
    assert problems == {
        ("error", str(root / "team"), "cannot read folder: Permission denied; nothing in it was checked"),
        ("warning", str(root / "linked"),
         "symbolic link to a folder, not followed: name its target as a PATH to check what it holds")}
    assert {f["file"] for f in json.loads(one)["findings"]} == {str(root / "app.yaml"), str(root / "web.yaml")}
    assert report(tmp_path, 2, str(root)) == one
    assert pools == [1]
    code = main(["scan", "--no-config", "--fail-on", "none", "-f", "json", "-o", str(tmp_path / "r.json"), str(root)])
    assert code == 3  # an input error, even where no finding fails the scan: never a pass
