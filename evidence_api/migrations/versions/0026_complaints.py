"""Complaints and reports (投诉举报) and their attachments.

Revision ID: 0026_complaints
Revises: 0025_leniency
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = "0026_complaints"
down_revision = "0025_leniency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
