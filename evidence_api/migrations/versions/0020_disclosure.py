"""信息公示: what is published (penalty decisions marked for publication) and each
publication's log entry.

Revision ID: 0020_disclosure
Revises: 0019_spotcheck
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = "0020_disclosure"
down_revision = "0019_spotcheck"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
