"""Running a rule's own examples: each must (``fire``) or must not (``quiet``) produce its alert.

A scenario is one event or a list of events, each written as :func:`make_event` arguments
(``verb``, ``resource``, ``body``, ``at`` …;
``repeat: N`` sends N copies 10 ms apart). The test suite runs every rule's examples, and
``kubeharden audit rules --check`` does the same for custom rule files.
"""

from __future__ import annotations

from typing import Any

from kubeharden.detect.engine import Detector
from kubeharden.detect.rules import DetectionRule
from kubeharden.detect.simulate import make_event

EXAMPLE_BASELINE_SECONDS = 3600.0


def scenario_events(scenario: Any) -> list[dict[str, Any]]:
    items = scenario if isinstance(scenario, list) else [scenario]
    events = []
    for i, item in enumerate(items):
        args = dict(item)
        repeat = int(args.pop("repeat", 1))
        start = float(args.pop("at", i))
        for j in range(repeat):
            events.append(make_event(**args, at=start + j * 0.01))
    return events


def run_scenario(rule: DetectionRule, scenario: Any) -> int:
    """How many alerts of ``rule`` the scenario raises (with only that rule loaded)."""
    detector = Detector([rule], baseline_seconds=EXAMPLE_BASELINE_SECONDS)
    return sum(1 for a in detector.run(scenario_events(scenario)) if a.rule.id == rule.id)


def check_examples(rule: DetectionRule) -> list[str]:
    """Problems with a rule's examples: a fire example that stays quiet, or a quiet one that fires."""
    problems = []
    if not rule.examples["fire"]:
        problems.append(f"{rule.id}: no fire example")
    for kind in ("fire", "quiet"):
        for i, sc in enumerate(rule.examples[kind]):
            try:
                n = run_scenario(rule, sc)
            except TypeError as exc:
                problems.append(f"{rule.id}: {kind} example {i + 1} is not a valid event description: {exc}")
                continue
            if kind == "fire" and n == 0:
                problems.append(f"{rule.id}: fire example {i + 1} raised no alert")
            elif kind == "quiet" and n:
                problems.append(f"{rule.id}: quiet example {i + 1} raised {n} alert(s)")
    return problems
