"""The serious-violator list (严重违法失信名单), its platform feed, acknowledgements and
webhook deliveries.

Revision ID: 0023_violators
Revises: 0022_credit
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from evidence_api.migrations.types import TZ, BigId

revision = "0023_violators"
down_revision = "0022_credit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "serious_violation",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("entity_id", BigId, sa.ForeignKey("trading_entity.id"), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("org_unit.id"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("legal_basis", sa.String(512), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("case_id", BigId, sa.ForeignKey("case_file.id"), nullable=True),
        sa.Column("listed_from", TZ, nullable=False),
        sa.Column("listed_until", TZ, nullable=False),
        sa.Column("placed_by", sa.String(64), nullable=False),
        sa.Column("removed_at", TZ, nullable=True),
        sa.Column("removed_by", sa.String(64), nullable=True),
        sa.Column("removal_reason", sa.Text(), nullable=True),
        sa.Column("repair_id", sa.String(64), nullable=True),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    for column in ("entity_id", "unit_id", "status", "listed_until"):
        op.create_index(f"ix_serious_violation_{column}", "serious_violation", [column])
    op.create_table(
        "violator_feed",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "violator_change",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("violation_seq", BigId, sa.ForeignKey("serious_violation.seq"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False, unique=True),
        sa.Column("leaf_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_violator_change_violation_seq", "violator_change", ["violation_seq"])
    op.create_table(
        "violator_ack",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "change_seq", sa.BigInteger(), sa.ForeignKey("violator_change.seq"), nullable=False
        ),
        sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platform.id"), nullable=False),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.UniqueConstraint("change_seq", "platform_id"),
    )
    op.create_index("ix_violator_ack_change_seq", "violator_ack", ["change_seq"])
    op.create_index("ix_violator_ack_platform_id", "violator_ack", ["platform_id"])
    op.create_table(
        "violator_delivery",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platform.id"), nullable=False),
        sa.Column(
            "change_seq", sa.BigInteger(), sa.ForeignKey("violator_change.seq"), nullable=False
        ),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TZ, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("delivered_at", TZ, nullable=True),
        sa.Column("last_error", sa.String(512), nullable=True),
        sa.UniqueConstraint("platform_id", "change_seq"),
    )
    op.create_index("ix_violator_delivery_platform_id", "violator_delivery", ["platform_id"])
    op.create_index(
        "ix_violator_delivery_state_next", "violator_delivery", ["state", "next_attempt_at"]
    )


def downgrade() -> None:
    for table in (
        "violator_delivery",
        "violator_ack",
        "violator_change",
        "violator_feed",
        "serious_violation",
    ):
        op.drop_table(table)
