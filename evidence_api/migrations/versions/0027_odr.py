"""ODR mediations and their events (offers, acceptances, rejections, notes, extensions).

Revision ID: 0027_odr
Revises: 0026_complaints
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from evidence_api.migrations.types import TZ, BigId

revision = "0027_odr"
down_revision = "0026_complaints"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "odr_case",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "complaint_id",
            sa.String(64),
            sa.ForeignKey("complaint.id"),
            nullable=False,
            unique=True,
        ),
        sa.Column("entity_id", BigId, sa.ForeignKey("trading_entity.id"), nullable=True),
        sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platform.id"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("deadline", TZ, nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("opened_by", sa.String(64), nullable=False),
        sa.Column("opened_at", TZ, nullable=False),
        sa.Column("closed_at", TZ, nullable=True),
        sa.Column("entry_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_odr_case_entity_id", "odr_case", ["entity_id"])
    op.create_index("ix_odr_case_platform_id", "odr_case", ["platform_id"])
    op.create_index("ix_odr_case_status", "odr_case", ["status"])
    op.create_index("ix_odr_case_deadline", "odr_case", ["deadline"])
    op.create_table(
        "odr_event",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("odr_seq", BigId, sa.ForeignKey("odr_case.seq"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("party", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("offer_no", sa.Integer(), nullable=True),
        sa.Column("ref_offer", sa.Integer(), nullable=True),
        sa.Column("remedy", sa.String(16), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("deadline", TZ, nullable=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("entry_id", sa.String(128), nullable=False, unique=True),
        sa.Column("leaf_hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("odr_seq", "number"),
        sa.UniqueConstraint("odr_seq", "offer_no"),
    )


def downgrade() -> None:
    op.drop_table("odr_event")
    op.drop_table("odr_case")
