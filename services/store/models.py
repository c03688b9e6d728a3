"""The system of record: submissions, detector state, signals, alerts and their audit trail.

One set of SQLAlchemy models for SQLite (embedded) and PostgreSQL (scaled).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# JSONB on PostgreSQL (binary, comparable, indexable); JSON text on SQLite. Same values either way.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An instant, stored in UTC and read back as an aware UTC datetime on every database.

    PostgreSQL keeps `timestamptz` as an instant; SQLite keeps text without an offset, and would
    hand back naive datetimes. A naive datetime given to the store is taken to be UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, _: Dialect) -> dt.datetime | None:
        return _as_utc(value)

    def process_result_value(self, value: dt.datetime | None, _: Dialect) -> dt.datetime | None:
        return _as_utc(value)


def _as_utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONDocument, list[Any]: JSONDocument}


class Submission(Base):
    """An accepted record: the idempotency key (source, submitter, report_id) and where it went."""

    __tablename__ = "submission"
    __table_args__ = (UniqueConstraint("source", "submitter", "report_id", name="uq_submission_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))
    # Text where the value derives from free text (a lab id of up to 500 characters, a file name):
    # SQLite ignores a VARCHAR's length, PostgreSQL refuses what exceeds it.
    submitter: Mapped[str] = mapped_column(Text)
    report_id: Mapped[str] = mapped_column(String(128))
    content_sha256: Mapped[str] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class EventRow(Base):
    """A normalised event as the detectors saw it (their state: counts derive from these)."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_report", "report_key"), Index("ix_event_date", "date"))

    event_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    report_key: Mapped[str] = mapped_column(Text)  # source/submitter/report_id
    source: Mapped[str] = mapped_column(String(16))
    area_code: Mapped[str] = mapped_column(String(9))
    date: Mapped[dt.date] = mapped_column(Date)
    substance_key: Mapped[str | None] = mapped_column(String(27))
    substance_class: Mapped[str | None] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]]


class SeriesCount(Base):
    """Reports per area x (substance | class) x source x week (or day), for the aberration detectors."""

    __tablename__ = "series_count"

    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    area_code: Mapped[str] = mapped_column(String(9), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    freq: Mapped[str] = mapped_column(String(1), primary_key=True)  # W weekly, D daily
    period: Mapped[dt.date] = mapped_column(Date, primary_key=True)  # a Monday for weekly series
    count: Mapped[int] = mapped_column(Integer, default=0)


class SeriesReport(Base):
    """Which report counted in which series-period (two mentions of one class count once)."""

    __tablename__ = "series_report"

    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    area_code: Mapped[str] = mapped_column(String(9), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    freq: Mapped[str] = mapped_column(String(1), primary_key=True)
    period: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    report_key: Mapped[str] = mapped_column(Text, primary_key=True)


class Sighting(Base):
    """First time a structure was seen, nationally (area_code '*') and per area."""

    __tablename__ = "sighting"

    substance_key: Mapped[str] = mapped_column(String(27), primary_key=True)
    area_code: Mapped[str] = mapped_column(String(9), primary_key=True)
    first_date: Mapped[dt.date] = mapped_column(Date)
    first_event_id: Mapped[str] = mapped_column(String(40))


class SignalRow(Base):
    """Every detector hit, with what the alert builder did with it and why."""

    __tablename__ = "signal"
    __table_args__ = (Index("ix_signal_alert", "alert_id"), Index("ix_signal_detector", "detector"))

    signal_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    detector: Mapped[str] = mapped_column(String(40))
    method: Mapped[str] = mapped_column(String(60))
    substance_key: Mapped[str | None] = mapped_column(String(27))
    substance_class: Mapped[str | None] = mapped_column(String(40))
    area_code: Mapped[str] = mapped_column(String(9))
    source: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    severity: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]]
    disposition: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    alert_id: Mapped[str | None] = mapped_column(String(40))
    detected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Transactional outbox: written with the detector state, published to `signals` after commit.
    published: Mapped[bool] = mapped_column(Boolean, default=False)


class AlertRow(Base):
    """One threat: fused signals, their evidence, and the alert's review state."""

    __tablename__ = "alert"
    __table_args__ = (Index("ix_alert_fusion", "fusion_key", "status"),)

    alert_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    fusion_key: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(Text)  # may quote what a sample was sold as
    summary: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="new")
    severity: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)
    substance_key: Mapped[str | None] = mapped_column(String(27))
    substance_name: Mapped[str | None] = mapped_column(String(200))
    substance_class: Mapped[str | None] = mapped_column(String(40))
    novel: Mapped[bool] = mapped_column(Boolean, default=False)
    scope: Mapped[str] = mapped_column(String(16), default="area")
    terms: Mapped[list[Any]]
    areas: Mapped[list[Any]]
    sources: Mapped[list[Any]]
    detectors: Mapped[list[Any]]
    first_seen: Mapped[dt.date] = mapped_column(Date)
    last_seen: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The index is brought up to `version` after every commit; a lag here is re-indexed.
    indexed_version: Mapped[int] = mapped_column(Integer, default=0)

    __mapper_args__ = {"version_id_col": version}


class AuditEntry(Base):
    """Who changed what on an alert, when, from what, to what, and why. Append-only."""

    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_alert", "alert_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(String(40))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    from_value: Mapped[str | None] = mapped_column(Text)
    to_value: Mapped[str | None] = mapped_column(Text)
    why: Mapped[str | None] = mapped_column(Text)
