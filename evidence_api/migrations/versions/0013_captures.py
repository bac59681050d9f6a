"""Server-side captures: one row per capture job, linked to its evidence once done.

Revision ID: 0013_captures
Revises: 0012_pending_entries
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_captures"
down_revision = "0012_pending_entries"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "capture",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("case_ref", sa.String(256), nullable=True),
        sa.Column("entity", sa.String(256), nullable=True),
        sa.Column("platform", sa.String(256), nullable=True),
        sa.Column(
            "submitter_token_id", sa.Integer(), sa.ForeignKey("api_token.id"), nullable=False
        ),
        sa.Column("idempotency_key", sa.String(128), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("started_at", Moment, nullable=True),
        sa.Column("finished_at", Moment, nullable=True),
        sa.Column("heartbeat_at", Moment, nullable=True),
        sa.Column("owner", sa.String(160), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(256), nullable=True),
        sa.Column(
            "evidence_id",
            sa.String(64),
            sa.ForeignKey("evidence.id"),
            nullable=True,
            unique=True,
        ),
        sa.Column("reason", sa.String(1024), nullable=True),
        sa.Column("limit_name", sa.String(64), nullable=True),
        sa.UniqueConstraint("submitter_token_id", "idempotency_key"),
    )
    for column in ("created_at", "case_ref", "entity", "platform"):
        op.create_index(f"ix_capture_{column}", "capture", [column])
    op.create_index("ix_capture_status_created", "capture", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_capture_status_created", table_name="capture")
    for column in ("created_at", "case_ref", "entity", "platform"):
        op.drop_index(f"ix_capture_{column}", table_name="capture")
    op.drop_table("capture")
