"""Credit repair applications (信用修复) and their attachments.

Revision ID: 0024_repairs
Revises: 0023_violators
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from evidence_api.migrations.types import TZ, BigId

revision = "0024_repairs"
down_revision = "0023_violators"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_repair",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("entity_id", BigId, sa.ForeignKey("trading_entity.id"), nullable=False),
        sa.Column("violation_id", sa.String(64), nullable=True),
        sa.Column("record_refs", sa.Text(), nullable=False),
        sa.Column("applicant_name", sa.String(64), nullable=False),
        sa.Column("applicant_contact", sa.String(128), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("pledge_accepted", sa.Boolean(), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", TZ, nullable=True),
        sa.Column("covers", sa.Text(), nullable=True),
        sa.Column("record_ref", sa.String(32), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index("ix_credit_repair_entity_id_seq", "credit_repair", ["entity_id", "seq"])
    op.create_index("ix_credit_repair_violation_id", "credit_repair", ["violation_id"])
    op.create_index("ix_credit_repair_status", "credit_repair", ["status"])
    op.create_table(
        "credit_repair_attachment",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("repair_seq", BigId, sa.ForeignKey("credit_repair.seq"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("evidence_id", sa.String(64), sa.ForeignKey("evidence.id"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
    )
    op.create_index(
        "ix_credit_repair_attachment_repair_seq", "credit_repair_attachment", ["repair_seq"]
    )
    op.create_table(
        "credit_repair_step",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("repair_seq", BigId, sa.ForeignKey("credit_repair.seq"), nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("entry_id", sa.String(128), nullable=False, unique=True),
        sa.Column("leaf_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_credit_repair_step_repair_seq", "credit_repair_step", ["repair_seq"])


def downgrade() -> None:
    op.drop_table("credit_repair_step")
    op.drop_table("credit_repair_attachment")
    op.drop_table("credit_repair")
