"""双随机、一公开: the inspection-item list, spot-check plans, their commitments, draws and results.

Revision ID: 0019_spotcheck
Revises: 0018_clues
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = "0019_spotcheck"
down_revision = "0018_clues"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
