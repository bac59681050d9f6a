"""Store integrity incidents (filled by the integrity work).

Revision ID: 0011_integrity
Revises: 0010_webhook_secrets
Create Date: 2026-12-02
"""

from __future__ import annotations

revision = "0011_integrity"
down_revision = "0010_webhook_secrets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
