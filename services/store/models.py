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
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# JSONB on PostgreSQL (binary, comparable, indexable); JSON text on SQLite. Same values either way.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")
# An alert whose search-index document is older than the alert (services/api/alerts/documents.py).
UNINDEXED = "indexed_version != version"


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
    # The record as accepted (as dumped), so that the system of record can append it to
    # `raw.<source>` again if a broker loses what it acknowledged (`ews republish`). None for
    # records accepted before this column existed.
    record: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, nullable=True)


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


class CountsVersion(Base):
    """A number every write of series counts advances, in the same transaction: counts a
    detector keeps in memory between batches are valid while it is the number they were read or
    written at (services/detector/state.py, `KeptCounts`)."""

    __tablename__ = "counts_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # one row, id 1
    version: Mapped[int] = mapped_column(Integer, nullable=False)


class SeriesReport(Base):
    """Which report counted in which series-period (two mentions of one class count once)."""

    __tablename__ = "series_report"
    # The detector looks a batch's reports up by report_key: without it, a scan of the table.
    __table_args__ = (Index("ix_series_report_report", "report_key"),)

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
    __table_args__ = (Index("ix_signal_alert", "alert_id"), Index("ix_signal_detector", "detector"),
                      # the outbox's "not yet published, oldest first", without a scan
                      Index("ix_signal_outbox", "published", "detected_at"),
                      Index("ix_signal_held", "disposition", "period_end"))

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
    __table_args__ = (
        Index("ix_alert_fusion", "fusion_key", "status"),
        # The alerts whose index lags (few, usually none): found without reading every alert.
        Index("ix_alert_unindexed", "alert_id", sqlite_where=text(UNINDEXED),
              postgresql_where=text(UNINDEXED)),
    )

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


# --- Accounts, review and notification (users and permissions of DESIGN.md) -----------------


class Account(Base):
    """A person or a machine that uses the system, with one role; never deleted, only disabled."""

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(320))
    # Area codes the account answers for (public-health leads), labs it submits for (forensic).
    areas: Mapped[list[Any]]
    labs: Mapped[list[Any]]
    password_hash: Mapped[str | None] = mapped_column(Text)  # scrypt; None: tokens only
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))


class ApiToken(Base):
    """A bearer token of an account: shown once, stored as a salted hash, revocable."""

    __tablename__ = "api_token"
    __table_args__ = (Index("ix_api_token_account", "account_id"),)

    token_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    salt: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A signed-in browser: the cookie's secret is stored hashed, with its CSRF token."""

    __tablename__ = "web_session"
    __table_args__ = (Index("ix_web_session_account", "account_id"),)

    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AlertComment(Base):
    """A reviewer's comment on an alert. Append-only, like the audit trail."""

    __tablename__ = "alert_comment"
    __table_args__ = (Index("ix_alert_comment_alert", "alert_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(String(40))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    author: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)


class AlertAssignment(Base):
    """Who in the clinical network is reviewing an alert now (history: the audit trail)."""

    __tablename__ = "alert_assignment"

    alert_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    assignee: Mapped[str | None] = mapped_column(String(64))
    assigned_by: Mapped[str] = mapped_column(String(64))
    assigned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Subscription(Base):
    """A public-health lead's standing request for alert emails: areas, classes, severity."""

    __tablename__ = "subscription"
    __table_args__ = (Index("ix_subscription_account", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    areas: Mapped[list[Any]]
    classes: Mapped[list[Any]]  # empty: every class
    min_severity: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class NotificationSent(Base):
    """One alert email to one account for one alert state; the unique key makes it at most one.

    The row is committed (status `sending`) before the message goes out, and updated after:
    `sent`, `failed` (the server refused it: retried) or `unknown` (the connection broke while
    the message was being handed over: never retried, so never sent twice).
    """

    __tablename__ = "notification_sent"
    __table_args__ = (UniqueConstraint("alert_id", "state", "account_id", name="uq_notification_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    email: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class DigestSent(Base):
    """One daily digest to one account for one day; same protocol as `NotificationSent`."""

    __tablename__ = "digest_sent"
    __table_args__ = (UniqueConstraint("account_id", "day", name="uq_digest_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    day: Mapped[dt.date] = mapped_column(Date)
    email: Mapped[str] = mapped_column(String(320))
    alert_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class DetailRead(Base):
    """Who read clinical detail (case-level evidence, raw records), what, and when. Append-only.

    Kept apart from the review audit trail (`AuditEntry`): reads are far more frequent than
    review changes, and would bury them.
    """

    __tablename__ = "detail_read"
    __table_args__ = (Index("ix_detail_read_at", "at"), Index("ix_detail_read_actor", "actor"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))  # role:username, or the open-mode submitter
    via: Mapped[str] = mapped_column(String(16))  # token, session or open
    token_id: Mapped[str | None] = mapped_column(String(32))
    client: Mapped[str | None] = mapped_column(String(64))  # the caller's address
    what: Mapped[str] = mapped_column(String(40))  # alert_evidence, alert_series, signals, ...
    route: Mapped[str] = mapped_column(String(200))
    resource: Mapped[str | None] = mapped_column(Text)  # alert id, or the query's filters
    items: Mapped[int] = mapped_column(Integer, default=0)  # how many cases or records were shown
