"""Pending entries indexed: the sealer's next batch is read without visiting sealed ones.

The sealer reads the oldest pending entries (``leaf_index IS NULL``, in seq
order) at every seal. Through the unique index on ``leaf_index`` PostgreSQL
visited every NULL entry it still held — the pending rows and the old versions
of every row sealed since the last vacuum — and sorted them all, so each seal
cost grew with the backlog. A partial index on ``seq`` holds only pending rows.

Revision ID: 0012_pending_entries
Revises: 0011_integrity
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_pending_entries"
down_revision = "0011_integrity"
branch_labels = None
depends_on = None

PENDING = sa.text("leaf_index IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_log_entry_pending",
        "log_entry",
        ["seq"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_log_entry_pending", table_name="log_entry")
