"""Clue transfer and joint investigation (线索转办 / 协查): clues, their transfers,
assistance requests and replies, every step's log entry.

Revision ID: 0018_clues
Revises: 0017_units
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = "0018_clues"
down_revision = "0017_units"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
