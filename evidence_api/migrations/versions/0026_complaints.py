"""Complaints and reports (投诉举报), their contacts, access tokens, attachments and steps,
and the public intake's submissions (rate limit).

Revision ID: 0026_complaints
Revises: 0025_leniency
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from evidence_api.migrations.types import TZ, BigId

revision = "0026_complaints"
down_revision = "0025_leniency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "complaint",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("substantiated", sa.Boolean(), nullable=True),
        sa.Column("entity_id", BigId, sa.ForeignKey("trading_entity.id"), nullable=True),
        sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platform.id"), nullable=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("org_unit.id"), nullable=True),
        sa.Column("target_url", sa.String(2048), nullable=True),
        sa.Column("target_name", sa.String(256), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("complainant_key", sa.String(64), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("flag_reasons", sa.Text(), nullable=False),
        sa.Column("triage_reason", sa.Text(), nullable=True),
        sa.Column("clue_id", sa.String(64), nullable=True),
        sa.Column("odr_id", sa.String(64), nullable=True),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("triaged_at", TZ, nullable=True),
        sa.Column("resolved_at", TZ, nullable=True),
    )
    for name in (
        "category",
        "status",
        "entity_id",
        "platform_id",
        "unit_id",
        "text_sha256",
        "complainant_key",
        "flagged",
        "received_at",
    ):
        op.create_index(f"ix_complaint_{name}", "complaint", [name])
    op.create_table(
        "complaint_contact",
        sa.Column(
            "complaint_seq",
            BigId,
            sa.ForeignKey("complaint.seq"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("contact", sa.String(128), nullable=False),
    )
    op.create_table(
        "complaint_access",
        sa.Column(
            "complaint_seq",
            BigId,
            sa.ForeignKey("complaint.seq"),
            primary_key=True,
        ),
        sa.Column("token_sha256", sa.String(64), nullable=False),
    )
    op.create_table(
        "complaint_attachment",
        sa.Column(
            "complaint_seq",
            BigId,
            sa.ForeignKey("complaint.seq"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("evidence_id", sa.String(64), sa.ForeignKey("evidence.id"), nullable=False),
    )
    op.create_index("ix_complaint_attachment_evidence_id", "complaint_attachment", ["evidence_id"])
    op.create_table(
        "complaint_step",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "complaint_seq",
            BigId,
            sa.ForeignKey("complaint.seq"),
            nullable=False,
        ),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_index("ix_complaint_step_complaint_seq", "complaint_step", ["complaint_seq"])
    op.create_table(
        "public_submission",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("client_key", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_index("ix_public_submission_client_key_at", "public_submission", ["client_key", "at"])
    op.create_index("ix_public_submission_at", "public_submission", ["at"])


def downgrade() -> None:
    op.drop_table("public_submission")
    op.drop_table("complaint_step")
    op.drop_table("complaint_attachment")
    op.drop_table("complaint_access")
    op.drop_table("complaint_contact")
    op.drop_table("complaint")
