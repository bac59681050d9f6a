"""Takedown orders, their events, the per-platform change feed and webhook deliveries.

Revision ID: 0007_takedowns
Revises: 0006_registries
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from evidence_api.migrations.types import TZ, BigId

revision = "0007_takedowns"
down_revision = "0006_registries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "takedown_feed",
        sa.Column(
            "platform_id",
            sa.Integer(),
            sa.ForeignKey("platform.id"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "takedown_order",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platform.id"), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("listing_urls", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.String(512), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("deadline", TZ, nullable=False),
        sa.Column("grant_files", sa.Boolean(), nullable=False),
        sa.Column("case_number", sa.String(64), nullable=True),
        sa.Column("issued_by", sa.String(64), nullable=False),
        sa.Column("issued_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.UniqueConstraint("platform_id", "change_seq"),
    )
    op.create_index("ix_takedown_order_platform_id", "takedown_order", ["platform_id"])
    op.create_index("ix_takedown_order_case_number", "takedown_order", ["case_number"])
    op.create_index("ix_takedown_order_status_deadline", "takedown_order", ["status", "deadline"])
    op.create_table(
        "takedown_evidence",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("order_seq", BigId, sa.ForeignKey("takedown_order.seq"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("evidence_id", sa.String(64), sa.ForeignKey("evidence.id"), nullable=False),
        sa.UniqueConstraint("order_seq", "evidence_id"),
    )
    op.create_index("ix_takedown_evidence_order_seq", "takedown_evidence", ["order_seq"])
    op.create_index("ix_takedown_evidence_evidence_id", "takedown_evidence", ["evidence_id"])
    op.create_table(
        "takedown_event",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("order_seq", BigId, sa.ForeignKey("takedown_order.seq"), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("removed_at", TZ, nullable=True),
        sa.Column("entry_id", sa.String(128), nullable=False, unique=True),
        sa.Column("leaf_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_takedown_event_order_seq", "takedown_event", ["order_seq"])
    op.create_table(
        "webhook_delivery",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platform.id"), nullable=False),
        sa.Column("order_seq", BigId, sa.ForeignKey("takedown_order.seq"), nullable=False),
        sa.Column("event_id", BigId, sa.ForeignKey("takedown_event.id"), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TZ, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("delivered_at", TZ, nullable=True),
        sa.Column("last_error", sa.String(512), nullable=True),
    )
    op.create_index("ix_webhook_delivery_platform_id", "webhook_delivery", ["platform_id"])
    op.create_index("ix_webhook_delivery_order_seq", "webhook_delivery", ["order_seq"])
    op.create_index(
        "ix_webhook_delivery_state_next", "webhook_delivery", ["state", "next_attempt_at"]
    )
    op.create_table(
        "webhook_attempt",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("delivery_seq", BigId, sa.ForeignKey("webhook_delivery.seq"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(512), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
    )
    op.create_index("ix_webhook_attempt_delivery_seq", "webhook_attempt", ["delivery_seq"])


def downgrade() -> None:
    for table in (
        "webhook_attempt",
        "webhook_delivery",
        "takedown_event",
        "takedown_evidence",
        "takedown_order",
        "takedown_feed",
    ):
        op.drop_table(table)
