"""Registries: online trading entities, cases, their linked evidence and history.

Revision ID: 0006_registries
Revises: 0005_platforms
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from evidence_api.migrations.types import TZ, BigId

revision = "0006_registries"
down_revision = "0005_platforms"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trading_entity",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platform.id"), nullable=False),
        sa.Column("shop_name", sa.String(256), nullable=False),
        sa.Column("shop_id", sa.String(128), nullable=True),
        sa.Column("shop_url", sa.String(2048), nullable=True),
        sa.Column("uscc", sa.String(18), nullable=True),
        sa.Column("risk_grade", sa.String(1), nullable=True),
        sa.Column("risk_class", sa.String(64), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("platform_id", "shop_id"),
    )
    for column in ("platform_id", "shop_name", "uscc", "risk_grade"):
        op.create_index(f"ix_trading_entity_{column}", "trading_entity", [column])
    op.create_table(
        "case_file",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("number", sa.String(64), nullable=False, unique=True),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("entity_id", BigId, sa.ForeignKey("trading_entity.id"), nullable=True),
        sa.Column("officer", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    for column in ("entity_id", "officer", "status"):
        op.create_index(f"ix_case_file_{column}", "case_file", [column])
    op.create_table(
        "case_evidence",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_id", BigId, sa.ForeignKey("case_file.id"), nullable=False),
        sa.Column("evidence_id", sa.String(64), sa.ForeignKey("evidence.id"), nullable=False),
        sa.Column("linked_by", sa.String(64), nullable=False),
        sa.Column("linked_at", TZ, nullable=False),
        sa.UniqueConstraint("case_id", "evidence_id"),
    )
    op.create_index("ix_case_evidence_case_id", "case_evidence", ["case_id"])
    op.create_index("ix_case_evidence_evidence_id", "case_evidence", ["evidence_id"])
    op.create_table(
        "case_event",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_id", BigId, sa.ForeignKey("case_file.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=True),
        sa.Column("evidence_id", sa.String(64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_index("ix_case_event_case_id_id", "case_event", ["case_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_case_event_case_id_id", "case_event")
    for table in ("case_event", "case_evidence", "case_file", "trading_entity"):
        op.drop_table(table)
