"""Indexes the pipeline's per-batch lookups need as the store grows: series reports by report,
and the signal outbox (unpublished, oldest first). Without them both were table scans, so the
cost of a report grew with the number of reports already stored.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A database made by `create_all` before there were migrations, from models that already
    # declared these indexes, has them: adopted at 0001, it must still upgrade.
    op.create_index("ix_series_report_report", "series_report", ["report_key"], if_not_exists=True)
    op.create_index("ix_signal_outbox", "signal", ["published", "detected_at"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_signal_outbox", table_name="signal", if_exists=True)
    op.drop_index("ix_series_report_report", table_name="series_report", if_exists=True)
