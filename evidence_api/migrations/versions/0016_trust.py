"""Trust beyond the operator: witness cosignatures and RFC 3161 tokens on checkpoints,
audit runs and their findings, evidence certificates.

Revision ID: 0016_trust
Revises: 0015_accounts
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_trust"
down_revision = "0015_accounts"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "checkpoint_cosignature",
        sa.Column("size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("witness", sa.String(256), primary_key=True),
        sa.Column("key_id", sa.LargeBinary(4), primary_key=True),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
    )
    op.create_table(
        "checkpoint_timestamp",
        sa.Column("size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("tsa", sa.String(256), primary_key=True),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("gen_time", Moment, nullable=False),
        sa.Column("created_at", Moment, nullable=False),
    )
    op.create_table(
        "audit_run",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("started_at", Moment, nullable=False),
        sa.Column("finished_at", Moment, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("counts", sa.Text(), nullable=True),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("acknowledged_at", Moment, nullable=True),
        sa.Column("acknowledged_by", sa.String(160), nullable=True),
        sa.Column("acknowledge_note", sa.Text(), nullable=True),
    )
    op.create_index("ix_audit_run_status", "audit_run", ["status"])
    op.create_table(
        "audit_finding",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", BigId, sa.ForeignKey("audit_run.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("location", sa.String(300), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("found_at", Moment, nullable=False),
    )
    op.create_index("ix_audit_finding_run", "audit_finding", ["run_id", "id"])
    op.create_table(
        "evidence_certificate",
        sa.Column("evidence_id", sa.String(64), primary_key=True),
        sa.Column("object_key", sa.String(300), nullable=False),
        sa.Column("sha256", sa.LargeBinary(32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("signer", sa.String(512), nullable=False),
        sa.Column("signer_fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("evidence_certificate")
    op.drop_index("ix_audit_finding_run", table_name="audit_finding")
    op.drop_table("audit_finding")
    op.drop_index("ix_audit_run_status", table_name="audit_run")
    op.drop_table("audit_run")
    op.drop_table("checkpoint_timestamp")
    op.drop_table("checkpoint_cosignature")
