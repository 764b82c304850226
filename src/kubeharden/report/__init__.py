"""Reporters: how results leave. Each module formats; none of them evaluates anything.

Every reporter is a function ``write(findings, result, out)``: ``findings`` is an
iterable (consumed once, possibly streaming), ``result`` the
:class:`~kubeharden.model.results.ScanResult`, complete once ``findings`` is exhausted.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

FORMATS = ("table", "json", "sarif", "junit", "markdown", "csv", "prometheus", "html")


#: format -> the module whose ``write(findings, result, out)`` writes it (imported when first asked for)
_MODULES = {name: f"kubeharden.report.{name}" for name in FORMATS}


def get_reporter(name: str) -> Callable[..., None]:
    """The ``write`` function of format ``name``; raises ValueError for an unknown format."""
    if name not in _MODULES:
        raise ValueError(f"unknown format {name!r} (one of {', '.join(FORMATS)})")
    write: Callable[..., None] = importlib.import_module(_MODULES[name]).write
    return write
