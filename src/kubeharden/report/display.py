"""What the terminal report shows (``--severity``, ``--compact``, ``--quiet``, ``--group-by``).

Kept apart from :mod:`kubeharden.report.table` so that a command can build its options and its
:class:`Display` without importing ``rich``, which only the table itself needs (a JSON or SARIF
scan never loads it; about 25 ms of start-up).
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeharden.model.findings import Finding, Severity

#: How ``--group-by`` may group the findings of the table report.
GROUPINGS = ("resource", "control", "namespace")


@dataclass(frozen=True, slots=True)
class Display:
    """What the terminal report shows: ``severities`` (None: all), ``compact``, ``quiet``, ``group_by``."""

    severities: frozenset[Severity] | None = None
    compact: bool = False
    quiet: bool = False
    group_by: str = "resource"

    def shows(self, f: Finding) -> bool:
        return self.severities is None or f.severity in self.severities
