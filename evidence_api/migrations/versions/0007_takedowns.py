"""Takedown orders, their events and webhook deliveries (filled by the takedown work).

Revision ID: 0007_takedowns
Revises: 0006_registries
Create Date: 2026-11-26
"""

from __future__ import annotations

revision = "0007_takedowns"
down_revision = "0006_registries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
