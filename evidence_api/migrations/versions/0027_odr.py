"""ODR mediations, their offers and events.

Revision ID: 0027_odr
Revises: 0026_complaints
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = "0027_odr"
down_revision = "0026_complaints"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
