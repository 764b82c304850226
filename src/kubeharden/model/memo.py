"""Answers remembered by the identity of the object asked about, for objects that are not hashable by value
(or cost too much to hash): rules, NetworkPolicy rules, controls."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class IdentityMemo(Generic[T]):
    """``get(obj, extra, build)`` is ``build()``, worked out once per object (by identity, never by value) and
    ``extra`` key part. Each entry holds its object, so the object's ``id`` names no other while the memo
    lives; give the memo the lifetime of what it answers for (one control run, one model, one report)."""

    __slots__ = ("_known",)

    def __init__(self) -> None:
        self._known: dict[tuple[int, Hashable], tuple[Any, T]] = {}

    def get(self, obj: Any, extra: Hashable, build: Callable[[], T]) -> T:
        key = (id(obj), extra)
        found = self._known.get(key)
        if found is None:
            found = self._known[key] = (obj, build())
        return found[1]
