"""Clue transfer and joint investigation (线索转办 / 协查): clues, their transfers,
assistance requests and replies, every step's log entry.

Revision ID: 0018_clues
Revises: 0017_units
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from evidence_api.migrations.types import TZ, BigId

revision = "0018_clues"
down_revision = "0017_units"
branch_labels = None
depends_on = None


def _unit(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), sa.ForeignKey("org_unit.id"), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "clue",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("entity_id", BigId, sa.ForeignKey("trading_entity.id"), nullable=False),
        sa.Column("case_id", BigId, sa.ForeignKey("case_file.id"), nullable=True),
        sa.Column("alert_id", sa.String(64), nullable=True),
        _unit("unit_id", nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index("ix_clue_entity_id", "clue", ["entity_id"])
    op.create_index("ix_clue_unit_id", "clue", ["unit_id"])
    op.create_index("ix_clue_status", "clue", ["status"])
    op.create_table(
        "clue_evidence",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("clue_seq", BigId, sa.ForeignKey("clue.seq"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("evidence_id", sa.String(64), sa.ForeignKey("evidence.id"), nullable=False),
    )
    op.create_index("ix_clue_evidence_clue_seq", "clue_evidence", ["clue_seq"])
    op.create_table(
        "clue_transfer",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("clue_seq", BigId, sa.ForeignKey("clue.seq"), nullable=False),
        _unit("from_unit_id", nullable=True),
        _unit("to_unit_id"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("deadline", TZ, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("sent_by", sa.String(64), nullable=False),
        sa.Column("sent_at", TZ, nullable=False),
        sa.Column("answered_by", sa.String(64), nullable=True),
        sa.Column("answered_at", TZ, nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
    )
    op.create_index("ix_clue_transfer_clue_seq", "clue_transfer", ["clue_seq"])
    op.create_index("ix_clue_transfer_from_unit_id", "clue_transfer", ["from_unit_id"])
    op.create_index("ix_clue_transfer_to_unit_id", "clue_transfer", ["to_unit_id"])
    op.create_index("ix_clue_transfer_status_deadline", "clue_transfer", ["status", "deadline"])
    op.create_table(
        "assist",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("clue_seq", BigId, sa.ForeignKey("clue.seq"), nullable=True),
        sa.Column("entity_id", BigId, sa.ForeignKey("trading_entity.id"), nullable=False),
        _unit("from_unit_id", nullable=True),
        _unit("to_unit_id", nullable=True),
        sa.Column("to_platform_id", sa.Integer(), sa.ForeignKey("platform.id"), nullable=True),
        sa.Column("topics", sa.String(256), nullable=False),
        sa.Column("questions", sa.Text(), nullable=False),
        sa.Column("deadline", TZ, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("sent_by", sa.String(64), nullable=False),
        sa.Column("sent_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    for column in ("clue_seq", "entity_id", "from_unit_id", "to_unit_id", "to_platform_id"):
        op.create_index(f"ix_assist_{column}", "assist", [column])
    op.create_index("ix_assist_status_deadline", "assist", ["status", "deadline"])
    op.create_table(
        "assist_reply",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("assist_seq", BigId, sa.ForeignKey("assist.seq"), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("evidence_ids", sa.Text(), nullable=False),
        sa.Column("replied_by", sa.String(64), nullable=False),
        sa.Column("replied_at", TZ, nullable=False),
    )
    op.create_index("ix_assist_reply_assist_seq", "assist_reply", ["assist_seq"])
    op.create_table(
        "clue_step",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("clue_seq", BigId, sa.ForeignKey("clue.seq"), nullable=True),
        sa.Column("assist_seq", BigId, sa.ForeignKey("assist.seq"), nullable=True),
        sa.Column("transfer_seq", BigId, sa.ForeignKey("clue_transfer.seq"), nullable=True),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("entry_id", sa.String(128), nullable=False, unique=True),
        sa.Column("leaf_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_clue_step_clue_seq", "clue_step", ["clue_seq"])
    op.create_index("ix_clue_step_assist_seq", "clue_step", ["assist_seq"])


def downgrade() -> None:
    for table in ("clue_step", "assist_reply", "assist", "clue_transfer", "clue_evidence", "clue"):
        op.drop_table(table)
