"""The 免罚清单 (轻违不罚 / 容错减罚 items).

Revision ID: 0025_leniency
Revises: 0024_repairs
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from evidence_api.migrations.types import TZ

revision = "0025_leniency"
down_revision = "0024_repairs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leniency_item",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("violation", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("conditions", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index("ix_leniency_item_active", "leniency_item", ["active"])


def downgrade() -> None:
    op.drop_index("ix_leniency_item_active", table_name="leniency_item")
    op.drop_table("leniency_item")
