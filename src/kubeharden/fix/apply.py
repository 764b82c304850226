"""Apply the changes of one file: find each finding's object, edit it, and render the new text.

The object of a finding is found by kind and name (and namespace, where the file writes one); of
several with the same identity, the one starting last at or above the finding's line. Each fix is
followed by its companions (:mod:`kubeharden.fix.companions`). The new text is returned, never
written here (:mod:`kubeharden.fix.write` does that); a file that cannot be read or loaded comes
back with ``error`` set and no new text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kubeharden.fix import companions
from kubeharden.fix.edits import EditError, apply
from kubeharden.fix.plan import Change
from kubeharden.fix.yamlfile import EditableObject, ParseError, RenderError, load
from kubeharden.model.fieldpath import split
from kubeharden.model.findings import Fix

#: Asked before each change with its companion edits; False skips it.
Consent = Callable[[Change, list[Fix]], bool]

APPLIED, ALREADY, SKIPPED, FAILED = "applied", "already", "skipped", "failed"


@dataclass(slots=True)
class Outcome:
    change: Change
    status: str  # applied | already (nothing to change) | skipped (declined) | failed
    detail: str = ""
    companions: list[Fix] = field(default_factory=list)


@dataclass(slots=True)
class FileResult:
    path: str
    before: str = ""
    after: str | None = None  # the new text, or None when nothing changed or the file is left alone
    outcomes: list[Outcome] = field(default_factory=list)
    error: str | None = None
    #: what the reader of the diff should know (documents rewritten beyond the fix)
    warnings: list[str] = field(default_factory=list)


def read_text(path: str) -> str:
    """The text of ``path`` as the fix edits it (UTF-8, line ends kept); raises ParseError."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ParseError(f"cannot be read: {getattr(exc, 'strerror', None) or exc}") from None


def fix_file(path: str, text: str, changes: list[Change], consent: Consent | None = None) -> FileResult:
    """Apply ``changes`` (all of file ``path``, whose content is ``text``) in memory.

    ``consent`` decides each change when given. A text that cannot be loaded comes back with
    ``error`` set.
    """
    result = FileResult(path, before=text)
    try:
        manifest = load(path, text)
    except ParseError as exc:
        result.error = str(exc)
        return result
    objects = list(manifest.objects())
    for change in in_safe_order(changes):
        result.outcomes.append(_apply_one(change, objects, consent))
    if not any(o.status == APPLIED for o in result.outcomes):
        return result
    try:
        after, result.warnings = manifest.render()
    except RenderError as exc:
        result.error = f"writing it back would change more than the fix: {exc}"
        return result
    result.after = after if after != text else None
    return result


def in_safe_order(changes: list[Change]) -> list[Change]:
    """``changes`` with list-item removals last, highest index first, so no index shifts under another."""
    def item_index(change: Change) -> int | None:
        if change.fix.op != "remove":
            return None
        try:
            last = split(change.fix.path)[-1]
        except (ValueError, IndexError):
            return None
        return last if isinstance(last, int) else None

    kept = [c for c in changes if item_index(c) is None]
    items = sorted((c for c in changes if item_index(c) is not None), key=lambda c: -(item_index(c) or 0))
    return kept + items


def _apply_one(change: Change, objects: list[EditableObject], consent: Consent | None) -> Outcome:
    obj = find_object(change, objects)
    if obj is None:
        return Outcome(change, FAILED, "the object is no longer in the file")
    extra = companions.for_fix(obj.node, change.fix)
    if consent is not None and not consent(change, extra):
        return Outcome(change, SKIPPED, "declined", extra)
    try:
        changed = apply(obj.node, change.fix)
        for fix in extra:
            changed = apply(obj.node, fix) or changed
    except EditError as exc:
        return Outcome(change, FAILED, str(exc), extra)
    if changed:
        obj.segment.changed = True
        return Outcome(change, APPLIED, "", extra)
    return Outcome(change, ALREADY, "already as the fix wants it", extra)


def find_object(change: Change, objects: list[EditableObject]) -> EditableObject | None:
    """The object of ``change``'s finding among ``objects`` (see the module docstring)."""
    ref = change.finding.resource
    same = [o for o in objects if o.kind == ref.kind and o.name == ref.name
            and (o.namespace is None or o.namespace == ref.namespace)]
    line = change.finding.line
    if line is not None:
        above = [o for o in same if o.line <= line]
        if above:
            return max(above, key=lambda o: o.line)
    return same[0] if same else None


