"""Per-scan state: every memo lives in the evaluator's ScanContext, so scans side by side share nothing."""

from __future__ import annotations

import datetime as dt
import io
import threading
from pathlib import Path

import pytest

from kubeharden.catalogue.loader import load_catalogue
from kubeharden.checks import network as network_checks
from kubeharden.checks import pss as pss_checks
from kubeharden.checks import rbac as rbac_checks
from kubeharden.checks.context import Context, ScanContext
from kubeharden.config import Config, parse_config
from kubeharden.engine.evaluator import Evaluator
from kubeharden.report import get_reporter
from kubeharden.sources.files import parse_text, read_objects

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TODAY = dt.date(2026, 1, 1)


def every_fail_example() -> str:
    """The failing example of every control as one input: RBAC, network, PSS and pod controls all fire."""
    return "\n---\n".join(c.example_fail for c in load_catalogue() if c.example_fail)


def scan_report(items, config: Config) -> str:
    evaluator = Evaluator(config, today=TODAY)
    out = io.StringIO()
    get_reporter("json")(evaluator.run(items), evaluator.result, out)
    return out.getvalue()


SCANS = {
    "insecure-strict": (lambda: read_objects([str(EXAMPLES / "insecure")]), {"profile": "strict"}),
    "catalogue-default": (lambda: parse_text(every_fail_example(), "all.yaml"), {}),
}


def lockstep(items, barrier: threading.Barrier):
    """``items``, each only once the other scan has reached its next object too."""
    for item in items:
        if not barrier.broken:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass
        yield item
    barrier.abort()  # the other scan may have more objects: let it run on alone


def scans_side_by_side() -> dict[str, str]:
    barrier = threading.Barrier(len(SCANS), timeout=30)
    got: dict[str, str] = {}
    errors: list[BaseException] = []

    def scan(name: str) -> None:
        source, cfg = SCANS[name]
        try:
            got[name] = scan_report(lockstep(source(), barrier), parse_config(cfg))
        except BaseException as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=scan, args=(name,)) for name in SCANS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    return got


def test_two_scans_in_threads_give_their_sequential_reports():
    expected = {name: scan_report(source(), parse_config(cfg)) for name, (source, cfg) in SCANS.items()}
    assert len(set(expected.values())) == 2
    for _ in range(3):  # both scans advance object by object in lockstep, so their evaluations interleave
        assert scans_side_by_side() == expected


def count_calls(monkeypatch, module, name: str) -> list[int]:
    calls = [0]
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_shared_analyses_are_built_once_per_scope(monkeypatch):
    rbac = count_calls(monkeypatch, rbac_checks, "RbacModel")
    network = count_calls(monkeypatch, network_checks, "Network")
    pss = count_calls(monkeypatch, pss_checks, "evaluate")
    evaluator = Evaluator(parse_config({"profile": "strict"}), today=TODAY)
    findings = list(evaluator.run_scopes([read_objects([str(EXAMPLES / "insecure")]),
                                          parse_text(every_fail_example(), "all.yaml")]))
    assert {f.control.id for f in findings} >= {"KH-PSS-001", "KH-RBAC-001", "KH-NET-001"}
    assert rbac[0] == 2 and network[0] == 2  # once per scope, though a dozen controls of each ask
    assert pss[0] == len(evaluator.result.pss)  # the engine's verdict and KH-PSS-001/002 share one evaluation


def test_each_evaluator_has_its_own_memo():
    first, second = Evaluator(Config()), Evaluator(Config())
    assert first.ctx.scan is not second.ctx.scan
    assert Context(Config()).scan is not Context(Config()).scan


def test_memo_answers_for_the_same_unit_only():
    memo = ScanContext()
    built: list[object] = []

    def build(unit):
        built.append(unit)
        return [unit]

    a, b = object(), object()
    assert memo.memo("x", a, build) is memo.memo("x", a, build)
    assert memo.memo("x", b, build) == [b]
    assert memo.memo("y", b, build) == [b]
    assert built == [a, b, b]
    memo.forget()
    memo.memo("x", b, build)
    assert built == [a, b, b, b]


@pytest.mark.parametrize("module", [rbac_checks, network_checks, pss_checks])
def test_no_module_level_memo_is_left(module):
    names = {n for n, v in vars(module).items() if isinstance(v, (list, dict)) and n.startswith("_")}
    assert not {"_last", "_CACHE"} & names
