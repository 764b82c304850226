"""Which controls a user names: IDs in any case, slugs, or shell-style globs, resolved against the catalogue.

The same resolution serves ``--control`` and every place of ``.kubeharden.yaml`` that names
controls (``controls.enable``, ``controls.disable``, ``controls.severity``, ``exceptions[].control``),
so a typo is an error everywhere instead of a control that silently never runs or never matches.

A control answers to its stable ID (``KH-POD-004``), its slug (``privileged-container``) and, after a
rename, its former IDs, which resolve to the new ID with a deprecation note (:class:`ControlNames`).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_SHORT_NUMBER = re.compile(r"^([A-Z]+-[A-Z]+-)(\d{1,2})$")


class UnknownControl(ValueError):
    """A name that matches no control of the catalogue; the message names the closest known ID."""


@dataclass(frozen=True)
class ControlNames:
    """Every name a control answers to.

    ``slugs`` maps a slug to its ID, ``redirects`` a former ID to the current one, ``deprecated``
    holds the IDs of controls whose status is ``deprecated``.
    """

    ids: tuple[str, ...]
    slugs: dict[str, str] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    deprecated: frozenset[str] = frozenset()

    def __iter__(self):
        return iter(self.ids)

    def exact(self, name: str, notes: list[str] | None = None) -> str | None:
        """The ID ``name`` names exactly (ID, slug or former ID, any case), or None; a former ID adds a note."""
        text = str(name).strip()
        upper = text.upper()
        if upper in self.ids:
            return upper
        if text.lower() in self.slugs:
            return self.slugs[text.lower()]
        if upper in self.redirects:
            new = self.redirects[upper]
            if notes is not None:
                notes.append(f"{upper} was renamed {new}; name it {new} (or {self.slug_of(new)}), "
                             f"the old ID is deprecated")
            return new
        return None

    def slug_of(self, control_id: str) -> str:
        return next((slug for slug, cid in self.slugs.items() if cid == control_id), control_id)


def normalise(pattern: str) -> str:
    """Control IDs are upper case (``KH-POD-001``); ``kh-pod-001`` and ``kh-pod-*`` name the same."""
    return str(pattern).strip().upper()


def is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def closest(pattern: str, known: Iterable[str]) -> str | None:
    """The known ID (or slug) most like ``pattern`` (difflib), or None when nothing is close."""
    if isinstance(known, ControlNames):
        slug = difflib.get_close_matches(str(pattern).strip().lower().rstrip("*?"), sorted(known.slugs), n=1,
                                         cutoff=0.75)
        if slug and not re.match(r"^[a-z]+-[a-z]+-\d", str(pattern).strip().lower()):
            return slug[0]
        known = known.ids
    text = normalise(pattern).rstrip("*?")
    short = _SHORT_NUMBER.match(text)
    if short:  # KH-POD-4 and KH-POD-04 mean KH-POD-004
        text = f"{short.group(1)}{int(short.group(2)):03d}"
    found = difflib.get_close_matches(text, sorted(known), n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_message(pattern: str, known: Iterable[str], where: str) -> str:
    """``where: unknown control 'KH-POD-01' (did you mean KH-POD-001?); see kubeharden controls``."""
    hint = closest(pattern, known)
    what = "no control matches" if is_glob(normalise(pattern)) else "unknown control"
    suggestion = f" (did you mean {hint}?)" if hint else ""
    return f"{where}: {what} {pattern!r}{suggestion}; see kubeharden controls"


def matching(pattern: str, known: Iterable[str], notes: list[str] | None = None) -> list[str]:
    """The known IDs ``pattern`` names, sorted: an ID in any case, a slug, a former ID, or every match of a
    glob over IDs and slugs. ``notes`` receives a deprecation note for a former ID or a deprecated control."""
    if isinstance(known, ControlNames):
        exact = known.exact(pattern, notes)
        if exact is not None:
            found = [exact]
        else:
            wanted_slug = str(pattern).strip().lower()
            found = sorted({cid for cid in known.ids if fnmatch.fnmatchcase(cid, normalise(pattern))}
                           | {cid for slug, cid in known.slugs.items() if fnmatch.fnmatchcase(slug, wanted_slug)})
        if notes is not None:
            notes.extend(f"{cid} ({known.slug_of(cid)}) is deprecated and will be removed; see kubeharden controls"
                         for cid in found if cid in known.deprecated)
        return found
    wanted = normalise(pattern)
    return sorted(cid for cid in known if fnmatch.fnmatchcase(cid, wanted))


def resolve(patterns: Iterable[str], known: Iterable[str], where: str, notes: list[str] | None = None) -> list[str]:
    """Every ID named by ``patterns`` (sorted, no duplicates).

    ``known`` is a :class:`ControlNames` (IDs, slugs, redirects) or plain IDs. Raises
    :class:`UnknownControl` for the first pattern that names no known control, with ``where``
    (``--control``, ``cfg.yaml: controls.disable`` …) and the closest known name; ``notes``
    receives deprecation notes (``where: …``).
    """
    known = known if isinstance(known, ControlNames) else tuple(known)
    ids: set[str] = set()
    for pattern in patterns:
        found_notes: list[str] = []
        found = matching(pattern, known, found_notes)
        if not found:
            raise UnknownControl(unknown_message(pattern, known, where))
        if notes is not None:
            notes.extend(f"{where}: {note}" for note in found_notes)
        ids.update(found)
    return sorted(ids)
