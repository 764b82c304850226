"""Command lines of Kubernetes components, read as the components read them.

Kubernetes components parse their flags with spf13/pflag (https://github.com/spf13/pflag): ``--name=value``
or ``--name value``; a flag given twice keeps its last value; a boolean flag alone (``--profiling``) is
``true``. :func:`parse_flags` keeps where each flag was written (its word index), so findings can point
at it. Without the components' flag tables a ``--flag`` followed by a word that is no flag is read as
``--flag value`` (as every non-boolean flag is); boolean flags are written ``--flag=false`` in practice,
since pflag refuses ``--bool-flag false``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple


class Flag(NamedTuple):
    """One flag as written: its name without dashes, its value, and the position of its word."""

    name: str
    value: str
    position: int


def parse_flags(words: Iterable[Any]) -> list[Flag]:
    """The flags of a command line (its words, program first or not), in order; repeated flags all listed.

    ``["kube-apiserver", "--anonymous-auth=false", "--v", "2", "--profiling"]`` →
    ``[Flag("anonymous-auth", "false", 1), Flag("v", "2", 2), Flag("profiling", "true", 4)]``.
    Words that are no flags (the program, positional arguments) are skipped; ``--`` ends the flags.
    """
    items = [str(w) for w in words]
    flags: list[Flag] = []
    n = 0
    while n < len(items):
        word = items[n]
        if word == "--":
            break
        if word.startswith("--") and len(word) > 2:
            name, eq, value = word[2:].partition("=")
            if not eq:
                following = items[n + 1] if n + 1 < len(items) else None
                if following is not None and not following.startswith("-"):
                    value = following
                    flags.append(Flag(name, value, n))
                    n += 2
                    continue
                value = "true"
            flags.append(Flag(name, value, n))
        n += 1
    return flags


def last_wins(flags: Iterable[Flag]) -> dict[str, Flag]:
    """Each flag's effective occurrence, by name: the last one given (pflag)."""
    out: dict[str, Flag] = {}
    for flag in flags:
        out.pop(flag.name, None)
        out[flag.name] = flag
    return out


_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_bool(text: str) -> bool | str:
    """A boolean flag value as Go's strconv.ParseBool reads it; anything else is returned as written
    (the component would refuse it, and a rule then sees a value that is not a boolean)."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return text


def typed(text: str, kind: str) -> Any:
    """A flag value read as the configuration field of type ``kind`` (model.components FlagField types)."""
    if kind == "bool":
        return parse_bool(text)
    if kind in ("int", "float"):
        try:
            return int(text) if kind == "int" else float(text)
        except ValueError:
            return text
    if kind == "list":
        return [part.strip() for part in text.split(",") if part.strip()]
    if kind == "map":
        out: dict[str, Any] = {}
        for part in text.split(","):
            key, eq, value = part.partition("=")
            if key.strip() and eq:
                value = value.strip()
                parsed = parse_bool(value)
                out[key.strip()] = parsed if isinstance(parsed, bool) else value
        return out
    return text
