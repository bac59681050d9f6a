"""Store integrity incidents: what the integrity check (or a read) found damaged.

One row per damaged item and kind of damage, open until a later check finds the
item intact again (``resolved_at``). ``/readyz`` is not ready while one is open.

Revision ID: 0011_integrity
Revises: 0010_webhook_secrets
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_integrity"
down_revision = "0010_webhook_secrets"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "integrity_incident",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("item", sa.String(160), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_integrity_incident_open", "integrity_incident", ["resolved_at", "item"])


def downgrade() -> None:
    op.drop_index("ix_integrity_incident_open", table_name="integrity_incident")
    op.drop_table("integrity_incident")
