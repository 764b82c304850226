"""Every reading a rule may judge a value as (``as:``) takes any value without raising: the engine reads a
rule's value before it judges the rule's guards (checks/rules.py), so a raising reading would turn a unit
the guards exclude into an error."""

from __future__ import annotations

import pytest

from kubeharden.checks.readings import READINGS
from kubeharden.model.lines import LineList, LineMap

VALUES = [None, True, False, 0, -1, 2**70, 1.5, float("nan"), "", "NET_ADMIN", " all ", "nginx:1.25@sha256:" + "a" * 64,
          "registry.example:5000/team/app", "::", "@", "a" * 10_000, [], ["SYS_ADMIN", None, 3, {"a": 1}],
          {}, {"add": ["ALL"]}, LineMap(), LineList([None]), [[["deep"]]], {"x": {"y": [1, "2"]}}]


@pytest.mark.parametrize("name", sorted(READINGS))
def test_a_reading_never_raises(name):
    read = READINGS[name]
    for value in VALUES:
        read(value)  # any answer is fine; raising is not
