"""信息公示: what is published (penalty decisions marked for publication) and each
publication's log entry.

Revision ID: 0020_disclosure
Revises: 0019_spotcheck
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from evidence_api.migrations.types import TZ, BigId

revision = "0020_disclosure"
down_revision = "0019_spotcheck"
branch_labels = None
depends_on = None

#: Indexed columns of ``case_publication``.
INDEXED = ("case_id", "unit_id", "status", "entity_name", "entity_uscc", "published_at")


def upgrade() -> None:
    op.create_table(
        "case_publication",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("case_id", BigId, sa.ForeignKey("case_file.id"), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("org_unit.id"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("case_number", sa.String(64), nullable=False),
        sa.Column("decision_number", sa.String(64), nullable=False),
        sa.Column("entity_name", sa.String(256), nullable=False),
        sa.Column("entity_uscc", sa.String(18), nullable=True),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("penalty", sa.Text(), nullable=False),
        sa.Column("decision_date", sa.Date(), nullable=False),
        sa.Column("deciding_unit", sa.String(128), nullable=False),
        sa.Column("record_sha256", sa.String(64), nullable=False),
        sa.Column("published_at", TZ, nullable=False),
        sa.Column("published_by", sa.String(64), nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("leaf_hash", sa.String(64), nullable=False),
        sa.Column("withdrawn_at", TZ, nullable=True),
        sa.Column("withdrawn_by", sa.String(64), nullable=True),
        sa.Column("withdraw_reason", sa.Text(), nullable=True),
        sa.Column("withdraw_entry_id", sa.String(64), nullable=True),
    )
    for column in INDEXED:
        op.create_index(f"ix_case_publication_{column}", "case_publication", [column])


def downgrade() -> None:
    for column in reversed(INDEXED):
        op.drop_index(f"ix_case_publication_{column}", "case_publication")
    op.drop_table("case_publication")
