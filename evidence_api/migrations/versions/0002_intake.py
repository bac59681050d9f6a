"""Intake: entry queue, checkpoints, tokens, evidence, files, idempotency.

Revision ID: 0002_intake
Revises: 0001_merkle_log
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from evidence_api.migrations.types import TZ, BigId

revision = "0002_intake"
down_revision = "0001_merkle_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO merkle_log (id, size) SELECT 1, 0 WHERE NOT EXISTS "
        "(SELECT 1 FROM merkle_log WHERE id = 1)"
    )
    op.create_table(
        "log_entry",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.String(128), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("receipt", sa.Text(), nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), nullable=True, unique=True),
        sa.Column("sealed_at", TZ, nullable=True),
    )
    op.create_index("ix_log_entry_leaf_hash", "log_entry", ["leaf_hash"])
    op.create_table(
        "log_checkpoint",
        sa.Column("size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("platform", sa.String(64), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
    )
    op.create_table(
        "evidence",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column(
            "submitter_token_id", sa.Integer(), sa.ForeignKey("api_token.id"), nullable=False
        ),
        sa.Column("case_ref", sa.String(256), nullable=True),
        sa.Column("platform", sa.String(256), nullable=True),
        sa.Column("entity", sa.String(256), nullable=True),
        sa.Column("source_url", sa.String(2048), nullable=True),
        sa.Column("captured_at", sa.String(40), nullable=False),
        sa.Column("manifest", sa.Text(), nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("manifest_sm3", sa.String(64), nullable=False),
        sa.Column("manifest_key", sa.String(80), nullable=False),
        sa.Column("leaf_hash", sa.String(64), nullable=False),
    )
    for column in ("created_at", "case_ref", "platform", "entity"):
        op.create_index(f"ix_evidence_{column}", "evidence", [column])
    op.create_table(
        "evidence_file",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("evidence_seq", BigId, sa.ForeignKey("evidence.seq"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("media_type", sa.String(127), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("sm3", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(80), nullable=False),
        sa.UniqueConstraint("evidence_seq", "name"),
    )
    op.create_index("ix_evidence_file_evidence_seq", "evidence_file", ["evidence_seq"])
    op.create_index("ix_evidence_file_sha256", "evidence_file", ["sha256"])
    op.create_table(
        "idempotency",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("token_id", sa.Integer(), sa.ForeignKey("api_token.id"), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("token_id", "key"),
    )
    op.create_index("ix_idempotency_created_at", "idempotency", ["created_at"])


def downgrade() -> None:
    for table in ("idempotency", "evidence_file", "evidence", "api_token", "log_checkpoint"):
        op.drop_table(table)
    op.drop_index("ix_log_entry_leaf_hash", "log_entry")
    op.drop_table("log_entry")
