"""Merkle log: tiles of perfect-subtree hashes and the committed tree size.

Revision ID: 0001_merkle_log
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_merkle_log"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "merkle_tile",
        # (level << 56) | (index // 64); SQLite needs INTEGER for a rowid primary key.
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        # up to 64 consecutive 32-byte hashes of one level
        sa.Column("hashes", sa.LargeBinary(64 * 32), nullable=False),
    )
    op.create_table(
        "merkle_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="merkle_log_single_row"),
        sa.CheckConstraint("size >= 0", name="merkle_log_size_nonnegative"),
    )


def downgrade() -> None:
    op.drop_table("merkle_log")
    op.drop_table("merkle_tile")
