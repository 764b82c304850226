"""The logic of controls: Python check functions and rule templates, registered by control ID.

A check module decorates a function with :func:`check` (``@check("KH-POD-004")``) or a rule
template with :func:`template`; :func:`control_runner` gives the engine (and audit detection)
one callable per control, whatever its logic: a function, a template with the control's
parameters, or a declarative ``rule:`` (:mod:`kubeharden.checks.rules`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from kubeharden.catalogue.loader import CatalogueError
from kubeharden.model.controls import Control, Violation

CheckFn = Callable[..., Iterable[Violation]]
_FUNCTIONS: dict[str, CheckFn] = {}
#: A rule template's logic, called as fn(control, unit, ctx) with the control's ``rule:`` as parameters.
TemplateFn = Callable[..., Iterable[Violation]]
_TEMPLATES: dict[str, TemplateFn] = {}
#: Per template, a function that raises CatalogueError when a control's parameters are not usable.
_TEMPLATE_CHECKS: dict[str, Callable[[Any], object]] = {}


def _registrar(table: dict[str, CheckFn], key: str, what: str) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        if key in table:
            raise ValueError(f"two functions registered for {what}")
        table[key] = fn
        return fn

    return register


def check(control_id: str) -> Callable[[CheckFn], CheckFn]:
    """Register the Python logic of catalogue entry ``control_id``."""
    return _registrar(_FUNCTIONS, control_id, control_id)


def template(name: str, check_params: Callable[[Any], object]) -> Callable[[TemplateFn], TemplateFn]:
    """Register a rule template: ``rule: {template: name, ...parameters}`` runs ``fn(control, unit, ctx)``.

    ``check_params(control)`` raises CatalogueError for parameters the template cannot use; the
    catalogue calls it when it loads, so a mistake never waits for a scan to show.
    """
    _TEMPLATE_CHECKS[name] = check_params
    return _registrar(_TEMPLATES, name, f"template {name}")


def template_for(name: str) -> TemplateFn:
    """The function of rule template ``name``; raises CatalogueError when none is registered."""
    _import_check_modules()
    if name not in _TEMPLATES:
        raise CatalogueError(f"unknown rule template {name!r} (known: {', '.join(sorted(_TEMPLATES))})")
    return _TEMPLATES[name]


def function_for(control_id: str) -> CheckFn | None:
    _import_check_modules()
    return _FUNCTIONS.get(control_id)


def registered_ids() -> set[str]:
    _import_check_modules()
    return set(_FUNCTIONS)


@lru_cache(maxsize=1)
def _import_check_modules() -> None:
    # Importing a module registers its functions; the list is explicit so a newcomer sees it.
    import importlib

    from kubeharden.checks import CHECK_MODULES

    for name in CHECK_MODULES:
        importlib.import_module(name)


#: A control's logic: a registered function or a declarative rule, called as run(unit, ctx).
Runner = Callable[..., Iterable[Violation]]


def control_runner(control: Control) -> Runner:
    """The logic of ``control``: its registered function, its rule template with the control's
    parameters, or its declarative rule compiled once. Raises CatalogueError for a rule or template
    parameters that cannot be used, ValueError for a catalogue entry with neither rule nor function.
    Manifests and audit request bodies run controls through this."""
    fn = function_for(control.id)
    if fn is not None:
        return fn
    if control.rule is None:
        raise ValueError(f"{control.id} has neither a rule nor a registered function")
    if isinstance(control.rule, dict) and "template" in control.rule:
        template = template_for(control.rule["template"])
        _TEMPLATE_CHECKS[control.rule["template"]](control)  # its parameters usable? (raises CatalogueError)
        return lambda unit, ctx, _control=control: template(_control, unit, ctx)
    from kubeharden.checks import rules  # imported late: the rule language uses check modules that import this one

    bad = rules.problems(control.rule, control.scope)
    if bad:
        raise CatalogueError(f"{control.id}: rule: {'; '.join(bad)}")
    return rules.runner(control)
