"""Line maps: mappings and sequences that remember the line they were loaded from.

Every finding points at the line of the offending field, so sources build objects from
:class:`LineMap` and :class:`LineList` (plain ``dict`` and ``list`` that also carry lines);
:func:`line_of` reads a line back from any value (None for values not loaded from text).
"""

from __future__ import annotations

from typing import Any


class LineMap(dict):
    """A mapping loaded from YAML, with the 1-based line of itself and of each key.

    Key lines are a tuple in key order rather than a second dict: analyses keep whole
    RBAC and policy objects, and a dict per mapping would double their memory.
    """

    __slots__ = ("line", "_lines")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line: int | None = None
        self._lines: tuple[int, ...] = ()

    @property
    def lines(self) -> dict[Any, int]:
        """Key -> line (a fresh dict; empty when the mapping was changed after loading)."""
        return dict(zip(self, self._lines, strict=True)) if len(self._lines) == len(self) else {}

    @lines.setter
    def lines(self, value: dict[Any, int]) -> None:
        self._lines = tuple(value.get(k, self.line or 0) for k in self)

    def add(self, key: Any, value: Any, line: int | None) -> None:
        """Add a key that was not in the file (a value implied by its context), keeping key lines."""
        if key in self:
            return
        consistent = len(self._lines) == len(self)
        self[key] = value
        if consistent:
            self._lines = (*self._lines, line or self.line or 0)

    def key_line(self, key: Any) -> int | None:
        if len(self._lines) != len(self):
            return None
        for i, k in enumerate(self):
            if k == key:
                return self._lines[i]
        return None


class LineList(list):
    """A sequence loaded from YAML, with its 1-based line."""

    __slots__ = ("line",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.line: int | None = None


def line_of(container: Any, key: Any = None) -> int | None:
    """Line of ``container[key]`` (or of the container itself), if it was loaded from YAML."""
    if key is not None and isinstance(container, LineMap):
        found = container.key_line(key)
        if found is not None:
            return found
    return getattr(container, "line", None)
