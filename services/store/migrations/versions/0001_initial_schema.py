"""Initial schema: the tables `Base.metadata.create_all` made before there were migrations.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Edited before any release: series are counted per week or per day (`freq`, `period`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of models.JSONDocument: a revision never imports the models it migrates.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "submission",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("submitter", sa.Text(), nullable=False),
        sa.Column("report_id", sa.String(length=128), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("via", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "submitter", "report_id", name="uq_submission_key"),
    )
    op.create_table(
        "event",
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("report_key", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("area_code", sa.String(length=9), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("substance_key", sa.String(length=27), nullable=True),
        sa.Column("substance_class", sa.String(length=40), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_event_report", "event", ["report_key"])
    op.create_index("ix_event_date", "event", ["date"])
    op.create_table(
        "series_count",
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("area_code", sa.String(length=9), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("freq", sa.String(length=1), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("dimension", "value", "area_code", "source", "freq", "period"),
    )
    op.create_table(
        "series_report",
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("area_code", sa.String(length=9), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("freq", sa.String(length=1), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("report_key", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("dimension", "value", "area_code", "source", "freq", "period",
                                "report_key"),
    )
    op.create_table(
        "sighting",
        sa.Column("substance_key", sa.String(length=27), nullable=False),
        sa.Column("area_code", sa.String(length=9), nullable=False),
        sa.Column("first_date", sa.Date(), nullable=False),
        sa.Column("first_event_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("substance_key", "area_code"),
    )
    op.create_table(
        "signal",
        sa.Column("signal_id", sa.String(length=40), nullable=False),
        sa.Column("detector", sa.String(length=40), nullable=False),
        sa.Column("method", sa.String(length=60), nullable=False),
        sa.Column("substance_key", sa.String(length=27), nullable=True),
        sa.Column("substance_class", sa.String(length=40), nullable=True),
        sa.Column("area_code", sa.String(length=9), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("disposition", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("alert_id", sa.String(length=40), nullable=True),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("signal_id"),
    )
    op.create_index("ix_signal_alert", "signal", ["alert_id"])
    op.create_index("ix_signal_detector", "signal", ["detector"])
    op.create_table(
        "alert",
        sa.Column("alert_id", sa.String(length=40), nullable=False),
        sa.Column("fusion_key", sa.String(length=200), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("substance_key", sa.String(length=27), nullable=True),
        sa.Column("substance_name", sa.String(length=200), nullable=True),
        sa.Column("substance_class", sa.String(length=40), nullable=True),
        sa.Column("novel", sa.Boolean(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("terms", JSON, nullable=False),
        sa.Column("areas", JSON, nullable=False),
        sa.Column("sources", JSON, nullable=False),
        sa.Column("detectors", JSON, nullable=False),
        sa.Column("first_seen", sa.Date(), nullable=False),
        sa.Column("last_seen", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("indexed_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("alert_id"),
    )
    op.create_index("ix_alert_fusion", "alert", ["fusion_key", "status"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("from_value", sa.Text(), nullable=True),
        sa.Column("to_value", sa.Text(), nullable=True),
        sa.Column("why", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_alert", "audit", ["alert_id"])


def downgrade() -> None:
    for table in ("audit", "alert", "signal", "sighting", "series_report", "series_count",
                  "event", "submission"):
        op.drop_table(table)
