"""Registries: online trading entities and cases (filled by the registries work).

Revision ID: 0006_registries
Revises: 0005_platforms
Create Date: 2026-11-26
"""

from __future__ import annotations

revision = "0006_registries"
down_revision = "0005_platforms"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
