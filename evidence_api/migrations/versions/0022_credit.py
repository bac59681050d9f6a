"""Credit records, grading policies, current grades and grade changes.

Revision ID: 0022_credit
Revises: 0021_credit_columns
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from evidence_api.migrations.types import TZ, BigId

revision = "0022_credit"
down_revision = "0021_credit_columns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_policy",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_credit_policy_active", "credit_policy", ["active"])
    op.create_table(
        "credit_record",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("entity_id", BigId, sa.ForeignKey("trading_entity.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source", sa.String(160), nullable=False),
        sa.Column("occurred_at", TZ, nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("covers", sa.Text(), nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
        sa.UniqueConstraint("kind", "source"),
    )
    op.create_index("ix_credit_record_entity_id_id", "credit_record", ["entity_id", "id"])
    op.create_table(
        "credit_grade",
        sa.Column(
            "entity_id",
            BigId,
            sa.ForeignKey("trading_entity.id"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("grade", sa.String(1), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("last_record_id", sa.BigInteger(), nullable=True),
        sa.Column("computed_at", TZ, nullable=False),
        sa.Column("next_change_at", TZ, nullable=True),
    )
    op.create_index("ix_credit_grade_grade", "credit_grade", ["grade"])
    op.create_index("ix_credit_grade_next_change_at", "credit_grade", ["next_change_at"])
    op.create_table(
        "credit_grade_change",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("entity_id", BigId, sa.ForeignKey("trading_entity.id"), nullable=False),
        sa.Column("from_grade", sa.String(1), nullable=True),
        sa.Column("to_grade", sa.String(1), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("cause", sa.String(16), nullable=False),
        sa.Column("record_refs", sa.Text(), nullable=False),
        sa.Column("lines", sa.Text(), nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_index(
        "ix_credit_grade_change_entity_id_id", "credit_grade_change", ["entity_id", "id"]
    )


def downgrade() -> None:
    op.drop_table("credit_grade_change")
    op.drop_table("credit_grade")
    op.drop_table("credit_record")
    op.drop_table("credit_policy")
