"""双随机、一公开: the inspection-item list, spot-check plans, their commitments, draws and results.

Revision ID: 0019_spotcheck
Revises: 0018_clues
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_spotcheck"
down_revision = "0018_clues"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inspection_item",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("department", sa.String(128), nullable=False),
        sa.Column("entity_classes", sa.Text(), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
    )
    op.create_table(
        "spot_check_plan",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(40), nullable=False, unique=True),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("org_unit.id"), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("plan_json", sa.Text(), nullable=False),
        sa.Column("plan_sha256", sa.String(64), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("seed_height", sa.BigInteger(), nullable=False),
        sa.Column("entity_pool", sa.Integer(), nullable=False),
        sa.Column("officer_pool", sa.Integer(), nullable=False),
        sa.Column("recusals", sa.Integer(), nullable=False),
        sa.Column("officer_tokens", sa.Text(), nullable=False),
        sa.Column("commit_entry_id", sa.String(64), nullable=False),
        sa.Column("seed_block_hash", sa.String(66), nullable=True),
        sa.Column("draw_json", sa.Text(), nullable=True),
        sa.Column("result_sha256", sa.String(64), nullable=True),
        sa.Column("draw_entry_id", sa.String(64), nullable=True),
        sa.Column("drawn_at", Moment, nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("published_at", Moment, nullable=True),
        sa.Column("publish_entry_id", sa.String(64), nullable=True),
        sa.Column("created_at", Moment, nullable=False),
    )
    op.create_index("ix_spot_check_plan_unit_id", "spot_check_plan", ["unit_id"])
    op.create_index("ix_spot_check_plan_status", "spot_check_plan", ["status"])
    op.create_index("ix_spot_check_plan_public", "spot_check_plan", ["public"])
    op.create_table(
        "spot_check_drawn",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("plan_seq", BigId, sa.ForeignKey("spot_check_plan.seq"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("entity_ref", sa.String(64), nullable=False),
        sa.Column("entity_id", BigId, sa.ForeignKey("trading_entity.id"), nullable=True),
        sa.Column("officers", sa.Text(), nullable=False),
        sa.UniqueConstraint("plan_seq", "entity_ref"),
    )
    op.create_index("ix_spot_check_drawn_plan_seq", "spot_check_drawn", ["plan_seq"])
    op.create_index("ix_spot_check_drawn_entity_id", "spot_check_drawn", ["entity_id"])
    op.create_table(
        "spot_check_result",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("plan_seq", BigId, sa.ForeignKey("spot_check_plan.seq"), nullable=False),
        sa.Column("entity_ref", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("officer", sa.String(64), nullable=False),
        sa.Column("evidence_ids", sa.Text(), nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("recorded_at", Moment, nullable=False),
        sa.UniqueConstraint("plan_seq", "entity_ref"),
    )
    op.create_index("ix_spot_check_result_plan_seq", "spot_check_result", ["plan_seq"])


def downgrade() -> None:
    op.drop_index("ix_spot_check_result_plan_seq", "spot_check_result")
    op.drop_table("spot_check_result")
    op.drop_index("ix_spot_check_drawn_entity_id", "spot_check_drawn")
    op.drop_index("ix_spot_check_drawn_plan_seq", "spot_check_drawn")
    op.drop_table("spot_check_drawn")
    for name in ("public", "status", "unit_id"):
        op.drop_index(f"ix_spot_check_plan_{name}", "spot_check_plan")
    op.drop_table("spot_check_plan")
    op.drop_table("inspection_item")
