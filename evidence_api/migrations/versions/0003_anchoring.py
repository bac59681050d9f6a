"""Anchoring: the chain binding and anchoring transactions.

Revision ID: 0003_anchoring
Revises: 0002_intake
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from evidence_api.migrations.types import TZ, BigId

revision = "0003_anchoring"
down_revision = "0002_intake"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_binding",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("genesis_hash", sa.String(66), nullable=False),
        sa.Column("contract_address", sa.String(42), nullable=False),
        sa.Column("code_hash", sa.String(66), nullable=False),
        sa.Column("log_id", sa.String(66), nullable=False),
        sa.Column("bound_at", TZ, nullable=False),
        sa.CheckConstraint("id = 1", name="chain_binding_single_row"),
    )
    op.create_table(
        "anchor_tx",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("prev_size", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False, unique=True),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("sender", sa.String(42), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.String(66), nullable=True),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=True),
        sa.Column("submitted_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index("ix_anchor_tx_state", "anchor_tx", ["state"])
    op.create_index("ix_anchor_tx_size", "anchor_tx", ["size"])


def downgrade() -> None:
    op.drop_index("ix_anchor_tx_size", "anchor_tx")
    op.drop_index("ix_anchor_tx_state", "anchor_tx")
    op.drop_table("anchor_tx")
    op.drop_table("chain_binding")
