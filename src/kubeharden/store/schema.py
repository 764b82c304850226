"""The tables of the history store (SQLAlchemy 2 declarative models).

``scans`` has one row per stored scan; ``findings`` one row per failing or suppressed finding of a
scan, keyed for comparisons by the finding's fingerprint (:func:`kubeharden.model.findings.fingerprint`:
control, resource, container and field path; never message text, file or line). The schema changes
only through a migration in ``migrations/versions``; ``tests/test_store.py`` checks that the models
and the migrated database agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class ScanRecord(Base):
    """One stored scan: when, what it read, with which profile, and its summary numbers."""

    __tablename__ = "scans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: when the scan was stored, in UTC
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    #: the inputs as given on the command line (paths, ``cluster:CONTEXT`` …), joined with spaces
    inputs: Mapped[str] = mapped_column(Text, nullable=False, default="")
    #: manifest, cluster, node or admission (catalogue INPUTS)
    input_kind: Mapped[str] = mapped_column(String(32), nullable=False, default="manifest")
    profile: Mapped[str] = mapped_column(String(32), nullable=False, default="default")
    tool_version: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    objects: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: the JSON report's ``summary`` (counts by severity, PSS levels, compliance per section …)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    findings: Mapped[list[FindingRecord]] = relationship(back_populates="scan", cascade="all, delete-orphan",
                                                         passive_deletes=True)


class FindingRecord(Base):
    """One failing or suppressed finding of a stored scan."""

    __tablename__ = "findings"
    __table_args__ = (Index("ix_findings_scan_fingerprint", "scan_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"), nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    control_id: Mapped[str] = mapped_column(String(32), nullable=False)
    severity: Mapped[str] = mapped_column(String(16), nullable=False)
    #: fail or suppressed
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    section: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    api_version: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    kind: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    namespace: Mapped[str | None] = mapped_column(String(255), nullable=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    container_list: Mapped[str | None] = mapped_column(String(32), nullable=True)
    container: Mapped[str | None] = mapped_column(String(255), nullable=True)
    path: Mapped[str] = mapped_column(Text, nullable=False, default="")
    file: Mapped[str | None] = mapped_column(Text, nullable=True)
    line: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    scan: Mapped[ScanRecord] = relationship(back_populates="findings")
