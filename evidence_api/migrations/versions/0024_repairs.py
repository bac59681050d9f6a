"""Credit repair applications (信用修复) and their attachments.

Revision ID: 0024_repairs
Revises: 0023_violators
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = "0024_repairs"
down_revision = "0023_violators"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
