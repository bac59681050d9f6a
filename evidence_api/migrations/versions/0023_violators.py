"""The serious-violator list (严重违法失信名单), its platform feed, acknowledgements and
webhook deliveries.

Revision ID: 0023_violators
Revises: 0022_credit
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = "0023_violators"
down_revision = "0022_credit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
