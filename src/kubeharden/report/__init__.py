"""Reporters: how results leave. Each module formats; none of them evaluates anything.

Every reporter is a function ``write(findings, result, out)``: ``findings`` is an
iterable (consumed once, possibly streaming), ``result`` the
:class:`~kubeharden.engine.ScanResult`, complete once ``findings`` is exhausted.
"""

from __future__ import annotations

from collections.abc import Callable

FORMATS = ("table", "json", "sarif", "junit", "prometheus")


def get_reporter(name: str) -> Callable[..., None]:
    if name == "table":
        from kubeharden.report.table import write
    elif name == "json":
        from kubeharden.report.json import write
    elif name == "sarif":
        from kubeharden.report.sarif import write
    elif name == "junit":
        from kubeharden.report.junit import write
    elif name == "prometheus":
        from kubeharden.report.prometheus import write
    else:
        raise ValueError(f"unknown format {name!r} (one of {', '.join(FORMATS)})")
    return write
