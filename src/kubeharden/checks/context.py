"""What a check may know besides the object: the site's configuration, the profile, and the
memo of the scan it runs in.

Analyses that several controls share (the Pod Security Standards verdict of a pod, the RBAC
model and the NetworkPolicy engine of an inventory) are built once per scan and kept in the
scan's own :class:`ScanContext`, never in module-level variables: two scans, or two admission
requests, evaluated side by side in one process share no state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kubeharden.config import Config

T = TypeVar("T")


class ScanContext:
    """The memo of one scan: one answer per analysis, for the unit it was last asked about.

    ``memo(name, unit, build)`` returns ``build(unit)``, computed once while ``unit`` (compared by
    identity, never by value) is the last one asked about under ``name``. Keeping only the last
    unit per analysis keeps memory flat: the engine asks about a pod while it is checked and about
    the inventory once all objects are in. Not thread-safe by design: one scan, one thread; give
    each concurrent scan its own evaluator (and so its own context).
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[str, tuple[Any, Any]] = {}

    def memo(self, name: str, unit: Any, build: Callable[[Any], T]) -> T:
        entry = self._last.get(name)
        if entry is not None and entry[0] is unit:
            return entry[1]
        value = build(unit)
        self._last[name] = (unit, value)
        return value

    def forget(self) -> None:
        """Drop every memoised answer (the engine does this when a scope is closed)."""
        self._last.clear()


@dataclass(slots=True)
class Context:
    config: Config
    #: This scan's memo; a Context built without one (a test calling a check directly) gets its own.
    scan: ScanContext = field(default_factory=ScanContext)
    #: The day exceptions are judged on (the engine's; checks applying their own exceptions use it).
    today: dt.date = field(default_factory=dt.date.today)

    @property
    def profile(self) -> str:
        return self.config.profile
