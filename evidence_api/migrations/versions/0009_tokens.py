"""API tokens: expiry, display name and unit (filled by the tokens work).

Revision ID: 0009_tokens
Revises: 0008_stamp_digest
Create Date: 2026-12-02
"""

from __future__ import annotations

revision = "0009_tokens"
down_revision = "0008_stamp_digest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
