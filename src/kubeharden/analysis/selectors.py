"""Kubernetes label selectors (``metav1.LabelSelector``), compiled once and matched many times.

A selector is ``matchLabels`` AND every ``matchExpressions`` entry. The empty selector
``{}`` matches everything; whether a *missing* selector means "everything" or
"nothing" depends on the field that holds it, so callers decide that, not this module.
Malformed selectors raise :class:`SelectorError`, because the API server would reject
the object that holds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping

from kubeharden.model.apitypes import type_name

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class SelectorError(ValueError):
    """The selector is not valid; the message names the offending field."""


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels  # DoesNotExist


@dataclass(frozen=True, slots=True)
class Selector:
    """A compiled label selector; hashable so that equal selectors share cached results."""

    labels: tuple[tuple[str, str], ...] = ()
    requirements: tuple[Requirement, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True for ``{}``: it selects every object."""
        return not self.labels and not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        for key, value in self.labels:
            if labels.get(key) != value:
                return False
        return all(r.matches(labels) for r in self.requirements)

    def keys(self) -> frozenset[str]:
        """The label keys the selector reads."""
        return frozenset(k for k, _ in self.labels) | frozenset(r.key for r in self.requirements)

    def describe(self) -> str:
        if self.is_empty:
            return "{} (everything)"
        parts = [f"{k}={v}" for k, v in self.labels]
        for r in self.requirements:
            if r.operator in ("In", "NotIn"):
                parts.append(f"{r.key} {r.operator.lower()} ({','.join(sorted(r.values))})")
            elif r.operator == "Exists":
                parts.append(r.key)
            else:
                parts.append(f"!{r.key}")
        return ",".join(parts)


EVERYTHING = Selector()


def compile_selector(raw: Any, where: str) -> Selector:
    """Compile ``raw`` (the selector mapping at ``where``); ``None`` is the empty selector."""
    if raw is None:
        return EVERYTHING
    if not isinstance(raw, dict):
        raise SelectorError(f"{where} must be a mapping, not {type_name(raw)}")
    unknown = set(raw) - {"matchLabels", "matchExpressions"}
    if unknown:
        raise SelectorError(f"{where} has unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    labels_raw = raw.get("matchLabels")
    labels: list[tuple[str, str]] = []
    if labels_raw is not None:
        if not isinstance(labels_raw, dict):
            raise SelectorError(f"{where}.matchLabels must be a mapping")
        for key, value in labels_raw.items():
            if isinstance(value, (dict, list)):
                raise SelectorError(f"{where}.matchLabels.{key} must be a string")
            labels.append((str(key), "" if value is None else _scalar(value)))
    exprs_raw = raw.get("matchExpressions")
    requirements: list[Requirement] = []
    if exprs_raw is not None:
        if not isinstance(exprs_raw, list):
            raise SelectorError(f"{where}.matchExpressions must be a list")
        for i, expr in enumerate(exprs_raw):
            requirements.append(_requirement(expr, f"{where}.matchExpressions[{i}]"))
    return Selector(tuple(sorted(labels)), tuple(requirements))


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _requirement(expr: Any, where: str) -> Requirement:
    if not isinstance(expr, dict):
        raise SelectorError(f"{where} must be a mapping")
    key, operator, values = expr.get("key"), expr.get("operator"), expr.get("values")
    if not key or not isinstance(key, str):
        raise SelectorError(f"{where}.key is missing")
    if operator not in OPERATORS:
        raise SelectorError(f"{where}.operator is {operator!r}, not one of {', '.join(OPERATORS)}")
    if values is not None and not isinstance(values, list):
        raise SelectorError(f"{where}.values must be a list")
    values = values or []
    if operator in ("In", "NotIn") and not values:
        raise SelectorError(f"{where}: operator {operator} needs a non-empty values list")
    if operator in ("Exists", "DoesNotExist") and values:
        raise SelectorError(f"{where}: operator {operator} must not have values")
    return Requirement(key, operator, frozenset(_scalar(v) for v in values))
