"""Fixing until nothing more can be fixed: rounds of scan, plan and edit, all in memory.

One fix can make another possible (``allowPrivilegeEscalation: false`` is refused beside
``privileged: true``, so its fix comes only once KH-POD-004's is in), so a single pass would leave
work for a second run. :func:`fix_rounds` scans again the texts it changed (the scan is handed in
as a function: this package never runs the engine itself) and applies what is new, until a round
changes nothing (at most :data:`MAX_ROUNDS`); so running ``kubeharden fix`` twice changes nothing
the second time. A change is tried once: one declined, failed or without effect is not retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kubeharden.fix.apply import APPLIED, Consent, Outcome, fix_file, read_text
from kubeharden.fix.files import EditableFiles
from kubeharden.fix.plan import Change, Plan, make_plan
from kubeharden.fix.yamlfile import ParseError
from kubeharden.model.findings import Finding

MAX_ROUNDS = 5

#: ``scan(overlay)``: the findings of the inputs, reading the files of ``overlay`` (path -> text) from it.
Scan = Callable[[dict[str, str]], list[Finding]]


@dataclass(slots=True)
class Session:
    original: dict[str, str] = field(default_factory=dict)
    current: dict[str, str] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    #: path -> why the file is left alone
    errors: dict[str, str] = field(default_factory=dict)
    #: path -> warnings about how the file was written (documents rewritten beyond the fix)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    #: what the last scan still reports: findings left, with why (plan of the final state)
    final: Plan = field(default_factory=Plan)
    #: changes applied whose finding the last scan still reports
    unresolved: list[Change] = field(default_factory=list)

    def changed_files(self) -> list[str]:
        """Files whose text changed; a file left alone for an error in a later round is not one."""
        return [p for p, text in self.current.items() if text != self.original[p] and p not in self.errors]


def _key(change: Change) -> tuple[str, str, str, str]:
    # the file too: two files may hold the same object (variants of one app), each fixed on its own
    return change.file, change.finding.fingerprint, change.fix.op, change.fix.path


def fix_rounds(scan: Scan, only: set[str] | None = None, unsafe: bool = False,
               consent: Consent | None = None, files: EditableFiles | None = None) -> Session:
    """Scan, fix, and scan again the changed texts until a round has nothing new to apply.

    ``files`` (:func:`kubeharden.fix.files.editable_files`) names the files not to edit; ``scan`` is
    expected to leave out the other names of a file (its symbolic links), so each is fixed once."""
    session = Session()
    tried: dict[tuple[str, str, str, str], str] = {}
    for _ in range(MAX_ROUNDS + 1):
        plan = make_plan(scan(session.current), only, unsafe=unsafe, interactive=consent is not None,
                         files=files)
        session.final = plan
        todo = [c for c in plan.changes if _key(c) not in tried and c.file not in session.errors]
        if not todo:
            break
        by_file: dict[str, list[Change]] = {}
        for change in todo:
            by_file.setdefault(change.file, []).append(change)
        for path, changes in by_file.items():
            _fix_one_file(session, path, changes, consent, tried)
    session.unresolved = [c for c in session.final.changes if tried.get(_key(c)) == APPLIED]
    return session


def _fix_one_file(session: Session, path: str, changes: list[Change], consent: Consent | None,
                  tried: dict[tuple[str, str, str, str], str]) -> None:
    if path not in session.current:
        try:
            session.original[path] = session.current[path] = read_text(path)
        except ParseError as exc:
            session.errors[path] = str(exc)
            return
    result = fix_file(path, session.current[path], changes, consent)
    if result.error:
        session.errors[path] = result.error
        return
    for outcome in result.outcomes:
        tried[_key(outcome.change)] = outcome.status
        session.outcomes.append(outcome)
    for warning in result.warnings:
        if warning not in session.warnings.setdefault(path, []):
            session.warnings[path].append(warning)
    if result.after is not None:
        session.current[path] = result.after
