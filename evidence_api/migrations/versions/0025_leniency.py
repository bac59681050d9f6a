"""The 免罚清单 (轻违不罚 / 容错减罚 items).

Revision ID: 0025_leniency
Revises: 0024_repairs
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = "0025_leniency"
down_revision = "0024_repairs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
