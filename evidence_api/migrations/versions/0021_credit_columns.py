"""Columns the credit supervision reads on existing tables: how a case ended (outcome,
the 免罚清单 item cited, the reasoning, when it closed) and when an entity started trading.

Revision ID: 0021_credit_columns
Revises: 0020_disclosure
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_credit_columns"
down_revision = "0020_disclosure"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_file") as batch:
        batch.add_column(sa.Column("outcome", sa.String(16), nullable=True))
        batch.add_column(sa.Column("leniency_item", sa.String(32), nullable=True))
        batch.add_column(sa.Column("outcome_reasoning", sa.Text(), nullable=True))
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_case_file_outcome", ["outcome"])
    with op.batch_alter_table("trading_entity") as batch:
        batch.add_column(sa.Column("operating_since", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trading_entity") as batch:
        batch.drop_column("operating_since")
    with op.batch_alter_table("case_file") as batch:
        batch.drop_index("ix_case_file_outcome")
        batch.drop_column("closed_at")
        batch.drop_column("outcome_reasoning")
        batch.drop_column("leniency_item")
        batch.drop_column("outcome")
