"""API tokens: an optional expiry, and the holder's display name and unit.

``expires_at`` makes a token stop working at a set time (checked on every
request, like ``revoked_at``). ``display_name`` and ``unit`` name the person and
their organisation for case histories, custody lists and reports; log entries
keep the pseudonym ``token-<id>`` (no personal data in entries), so the name is
resolved only when something is shown.

Revision ID: 0009_tokens
Revises: 0008_stamp_digest
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_tokens"
down_revision = "0008_stamp_digest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_token", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("api_token", sa.Column("display_name", sa.String(128), nullable=True))
    op.add_column("api_token", sa.Column("unit", sa.String(256), nullable=True))


def downgrade() -> None:
    op.drop_column("api_token", "unit")
    op.drop_column("api_token", "display_name")
    op.drop_column("api_token", "expires_at")
