"""``kubeharden fix`` round trip: every control's failing examples and the insecure example application.

After fixing (``--unsafe``, so every structured fix is applied), the rescan reports no finding that
carries a fix, and everything the fixes did not touch is unchanged: every field outside the paths
the fixes (and their companions) wrote keeps its value, and every comment line stays.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import scan
from test_catalogue import EXAMPLE_CONFIG, ROOT

from kubeharden.catalogue.loader import load_catalogue
from kubeharden.config import parse_config
from kubeharden.engine.evaluator import Evaluator
from kubeharden.fix.apply import APPLIED
from kubeharden.fix.session import Session, fix_rounds
from kubeharden.model.fieldpath import split
from kubeharden.sources.files import parse_text
from kubeharden.sources.registry import read_inputs

CONTROLS = load_catalogue()


def leaves(node: Any, path: tuple = ()) -> dict[tuple, Any]:
    if isinstance(node, dict):
        out: dict[tuple, Any] = {}
        for k, v in node.items():
            out.update(leaves(v, (*path, k)))
        return out or {path: {}}
    if isinstance(node, list):
        out = {}
        for i, v in enumerate(node):
            out.update(leaves(v, (*path, i)))
        return out or {path: []}
    return {path: node}


def objects(text: str) -> list[Any]:
    out = []
    for doc in yaml.safe_load_all(text):
        if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List"):
            out.extend(doc.get("items") or [])
        elif doc is not None:
            out.append(doc)
    return out


def touched_paths(session: Session) -> dict[str, list[tuple]]:
    """(kind, name) -> the paths the applied fixes and companions wrote (a list, for an item removed)."""
    out: dict[str, list[tuple]] = {}
    for o in session.outcomes:
        if o.status != APPLIED:
            continue
        key = f"{o.change.finding.resource.kind}/{o.change.finding.resource.name}"
        for fix in (o.change.fix, *o.companions):
            steps = tuple(split(fix.path))
            if fix.op == "remove" and isinstance(steps[-1], int):
                steps = steps[:-1]
            out.setdefault(key, []).append(steps)
    return out


def assert_untouched_parts_equal(before: str, after: str, session: Session) -> None:
    touched = touched_paths(session)
    old, new = objects(before), objects(after)
    assert len(old) == len(new)
    for a, b in zip(old, new, strict=True):
        key = f"{a.get('kind')}/{(a.get('metadata') or {}).get('name')}"
        paths = touched.get(key, [])

        def free(p: tuple, paths: list[tuple] = paths) -> bool:
            return not any(p[: len(t)] == t or t[: len(p)] == p for t in paths)

        la, lb = leaves(a), leaves(b)
        changed = {p for p in la.keys() | lb.keys() if free(p) and la.get(p, "<absent>") != lb.get(p, "<absent>")}
        assert not changed, f"{key}: fields no fix touched changed: {sorted(map(str, changed))}"
    comments = [line.strip() for line in before.splitlines() if line.strip().startswith("#")]
    assert all(c in after for c in comments), "a comment was lost"


def run_fix(path: Path, config: dict[str, Any], only: list[str] | None, unsafe: bool = True) -> Session:
    cfg = parse_config(config)

    def scan_with(overlay: dict[str, str]):
        ev = Evaluator(cfg, only=only)
        items = []
        for item in read_inputs([str(path)]):
            file = getattr(getattr(item, "origin", None), "file", None) or getattr(item, "file", None)
            if file not in overlay:
                items.append(item)
        for file, text in overlay.items():
            items.extend(parse_text(text, file))
        return list(ev.run(items))

    return fix_rounds(scan_with, set(only) if only else None, unsafe=unsafe)


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: c.id)
def test_failing_examples_are_fixed(control, tmp_path):
    for n, example in enumerate(control.fail_examples):
        path = tmp_path / f"example-{n}.yaml"
        path.write_text(example, encoding="utf-8")
        before, _ = scan(example, EXAMPLE_CONFIG, only=[control.id], file=str(path))
        fixable = [f for f in before if f.fix is not None]
        session = run_fix(path, EXAMPLE_CONFIG, [control.id])
        assert not session.errors, session.errors
        if not fixable:
            assert not session.changed_files(), f"{control.id}: a file changed without a fix to apply"
            continue
        after_text = session.current[str(path)]
        after, result = scan(after_text, EXAMPLE_CONFIG, only=[control.id], file=str(path))
        assert not [p for p in result.problems if p.level == "error"], result.problems
        left = [f for f in after if f.fix is not None]
        assert not left, f"{control.id} example {n}: still fixable after fix: {[f.message for f in left]}"
        assert len([f for f in after if f.status == "fail"]) < len([f for f in before if f.status == "fail"])
        assert_untouched_parts_equal(example, after_text, session)
        assert not session.unresolved


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: c.id)
def test_failing_examples_fixed_by_default_keep_only_unsafe_fixes(control, tmp_path):
    """Without --unsafe: exactly the fixes the evidence makes safe are applied, their findings are gone,
    the others are left with the evidence they lack, and nothing else of the file changes."""
    for n, example in enumerate(control.fail_examples):
        path = tmp_path / f"example-{n}.yaml"
        path.write_text(example, encoding="utf-8")
        before, _ = scan(example, EXAMPLE_CONFIG, only=[control.id], file=str(path))
        session = run_fix(path, EXAMPLE_CONFIG, [control.id], unsafe=False)
        assert not session.errors and not session.unresolved
        applied = [o for o in session.outcomes if o.status == APPLIED]
        assert all(o.change.fix.safe for o in applied)
        if not any(f.fix is not None and f.fix.safe for f in before):
            assert not session.changed_files(), f"{control.id}: a file changed without a safe fix to apply"
            continue
        after_text = session.current[str(path)]
        after, _ = scan(after_text, EXAMPLE_CONFIG, only=[control.id], file=str(path))
        assert not [f for f in after if f.fix is not None and f.fix.safe]
        assert all(f.fix.because.startswith("not safe") for f in after if f.fix is not None and f.fix.because)
        assert_untouched_parts_equal(example, after_text, session)


@pytest.mark.parametrize("control", [c for c in CONTROLS if c.fix is not None], ids=lambda c: c.id)
def test_every_catalogue_fix_changes_one_of_its_failing_examples(control, tmp_path):
    changed = 0
    for n, example in enumerate(control.fail_examples):
        path = tmp_path / f"example-{n}.yaml"
        path.write_text(example, encoding="utf-8")
        changed += bool(run_fix(path, EXAMPLE_CONFIG, [control.id]).changed_files())
    assert changed, f"{control.id} declares a fix that changes none of its failing examples"


def test_insecure_example_round_trip(tmp_path):
    work = tmp_path / "insecure"
    shutil.copytree(ROOT / "examples" / "insecure", work)
    originals = {p.name: p.read_text(encoding="utf-8") for p in work.iterdir()}
    session = run_fix(work, {}, None)
    assert not session.errors
    assert len(session.changed_files()) == 4  # settings.yaml (a ConfigMap with credentials) has no mechanical fix
    # everything the rescan still reports needs a person; nothing fixable is left
    scan_with_overlay = [item for p, text in session.current.items() for item in parse_text(text, p)]
    untouched = [p for p in work.iterdir() if str(p) not in session.current]
    for p in untouched:
        scan_with_overlay.extend(parse_text(p.read_text(encoding="utf-8"), str(p)))
    ev = Evaluator(parse_config({}))
    after = list(ev.run(scan_with_overlay))
    assert not [f for f in after if f.fix is not None]
    for path, text in session.current.items():
        assert_untouched_parts_equal(originals[Path(path).name], text, session)
    # a second run has nothing to do
    for path, text in session.current.items():
        Path(path).write_text(text, encoding="utf-8")
    again = run_fix(work, {}, None)
    assert not again.changed_files() and not [o for o in again.outcomes if o.status == APPLIED]


def test_the_untouched_parts_check_sees_a_stray_change(tmp_path):
    example = next(c for c in CONTROLS if c.id == "KH-POD-004").example_fail
    path = tmp_path / "pod.yaml"
    path.write_text(example, encoding="utf-8")
    session = run_fix(path, EXAMPLE_CONFIG, ["KH-POD-004"])
    after = session.current[str(path)]
    assert_untouched_parts_equal(example, after, session)
    with pytest.raises(AssertionError, match="fields no fix touched changed"):
        assert_untouched_parts_equal(example, after.replace("web:1.0", "web:2.0"), session)
