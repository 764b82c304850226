"""Saving scans, listing them, and reading a stored scan's findings (for a diff or a baseline:
:func:`kubeharden.model.history.diff` compares them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from kubeharden.model.findings import Finding
from kubeharden.model.results import ScanResult
from kubeharden.store.database import StoreError
from kubeharden.model.history import ScanInfo, StoredFinding, stored
from kubeharden.store.schema import FindingRecord, ScanRecord

#: Statuses of the findings a scan keeps: those a person acts on or has accepted.
STORED_STATUSES = ("fail", "suppressed")


def save_scan(engine: Engine, result: ScanResult, findings: Iterable[Finding], inputs: str,
              summary: dict[str, Any], tool_version: str, now: dt.datetime | None = None) -> int:
    """Store one scan and its failing and suppressed findings in one transaction; its new ID.

    ``summary`` is the JSON report's summary (:func:`kubeharden.report.summary.summary`). Raises
    StoreError when the database refuses the write (nothing is stored then).
    """
    created = now or dt.datetime.now(dt.UTC)
    rows = [stored(f) for f in findings if f.status in STORED_STATUSES]
    try:
        with engine.begin() as conn:
            scan_id = conn.execute(insert(ScanRecord).values(
                created_at=created, inputs=inputs, input_kind=result.input_kind, profile=result.profile,
                tool_version=tool_version, objects=result.objects, summary=summary,
            ).returning(ScanRecord.id)).scalar_one()
            if rows:
                # one executemany: SQLAlchemy batches it (insertmanyvalues), 10,000 rows well under a second
                conn.execute(insert(FindingRecord), [{**_columns(row), "scan_id": scan_id} for row in rows])
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot store the scan: {_reason(exc)}") from None
    return int(scan_id)


def _columns(row: StoredFinding) -> dict[str, Any]:
    return {"fingerprint": row.fingerprint, "control_id": row.control_id, "severity": row.severity,
            "status": row.status, "section": row.section, "api_version": row.api_version, "kind": row.kind,
            "namespace": row.namespace, "name": row.name, "container_list": row.container_list,
            "container": row.container,
            "path": row.path, "file": row.file, "line": row.line, "message": row.message}


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


def list_scans(engine: Engine, limit: int | None = None) -> list[ScanInfo]:
    """Stored scans, newest first (at most ``limit``)."""
    query = select(ScanRecord).order_by(ScanRecord.id.desc())
    if limit:
        query = query.limit(limit)
    try:
        with engine.connect() as conn:
            return [_info(s) for s in conn.execute(query)]
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read the store: {_reason(exc)}") from None


def _info(s: Any) -> ScanInfo:
    return ScanInfo(s.id, s.created_at, s.inputs, s.input_kind, s.profile, s.tool_version, s.objects, s.summary)


def scans_of(engine: Engine, inputs: str, limit: int = 30) -> list[ScanInfo]:
    """The last ``limit`` stored scans of exactly these ``inputs`` (as ``save_scan`` keeps them), oldest first:
    the points of a trend. Raises StoreError when the store cannot be read."""
    query = select(ScanRecord).where(ScanRecord.inputs == inputs).order_by(ScanRecord.id.desc()).limit(limit)
    try:
        with engine.connect() as conn:
            rows = [_info(s) for s in conn.execute(query)]
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read the store: {_reason(exc)}") from None
    return rows[::-1]


def resolve_scan(engine: Engine, ref: str) -> int:
    """The ID a user's reference names: a number, ``latest`` or ``latest~N`` (N scans before it).

    Raises StoreError when no such scan is stored (the message says which exist).
    """
    text = ref.strip()
    try:
        with engine.connect() as conn:
            if text.isdigit():
                found = conn.execute(select(ScanRecord.id).where(ScanRecord.id == int(text))).scalar()
            elif text == "latest" or text.startswith("latest~") and text[7:].isdigit():
                back = int(text[7:]) if "~" in text else 0
                found = conn.execute(select(ScanRecord.id).order_by(ScanRecord.id.desc())
                                     .offset(back).limit(1)).scalar()
            else:
                raise StoreError(f"{ref!r} names no scan: give a scan ID (kubeharden history), latest or latest~N")
            count = conn.execute(select(func.count(ScanRecord.id))).scalar_one()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read the store: {_reason(exc)}") from None
    if found is None:
        raise StoreError(f"no stored scan {ref!r} ({count} scan{'s' if count != 1 else ''} stored; "
                         "kubeharden history lists them)")
    return int(found)


def findings_of(engine: Engine, scan_id: int, statuses: tuple[str, ...] = ("fail",)) -> dict[str, StoredFinding]:
    """The findings of scan ``scan_id`` with one of ``statuses``, by fingerprint."""
    t = FindingRecord
    # the columns in StoredFinding's field order: rows become records without per-column lookups
    query = select(t.fingerprint, t.control_id, t.severity, t.status, t.section, t.api_version, t.kind, t.namespace,
                   t.name, t.container_list, t.container, t.path, t.file, t.line, t.message) \
        .where(t.scan_id == scan_id, t.status.in_(statuses))
    try:
        with engine.connect() as conn:
            rows: list[tuple[Any, ...]] = [tuple(row) for row in conn.execute(query)]
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read the store: {_reason(exc)}") from None
    return {row[0]: StoredFinding(*row) for row in rows}


def delete_scan(engine: Engine, scan_id: int) -> None:
    """Remove a stored scan and its findings."""
    try:
        with engine.begin() as conn:
            conn.execute(delete(FindingRecord).where(FindingRecord.scan_id == scan_id))
            conn.execute(delete(ScanRecord).where(ScanRecord.id == scan_id))
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot change the store: {_reason(exc)}") from None
