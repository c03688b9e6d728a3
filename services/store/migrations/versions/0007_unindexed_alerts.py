"""A partial index of the alerts whose search-index document lags the alert: the alert builder
looks for them between batches (reviews made in an API process that may not write the index),
and without it each look read every alert.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNINDEXED = "indexed_version != version"  # as services/store/models.py has it


def upgrade() -> None:
    op.create_index("ix_alert_unindexed", "alert", ["alert_id"], if_not_exists=True,
                    sqlite_where=sa.text(UNINDEXED), postgresql_where=sa.text(UNINDEXED))


def downgrade() -> None:
    op.drop_index("ix_alert_unindexed", table_name="alert", if_exists=True)
