"""An index for the alert builder's look-up of held signals (by disposition, recent first):
without it each batch of signals read the whole signal table, a cost growing with history.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_signal_held", "signal", ["disposition", "period_end"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_signal_held", table_name="signal", if_exists=True)
