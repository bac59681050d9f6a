"""Webhook secrets encrypted at rest (filled by the webhook work).

Revision ID: 0010_webhook_secrets
Revises: 0009_tokens
Create Date: 2026-12-02
"""

from __future__ import annotations

revision = "0010_webhook_secrets"
down_revision = "0009_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
