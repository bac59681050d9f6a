"""Units and jurisdiction: the organisation tree, the unit of tokens and users, and
the unit each entity, case, takedown order, monitor and alert belongs to.

Revision ID: 0017_units
Revises: 0016_trust
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_units"
down_revision = "0016_trust"
branch_labels = None
depends_on = None

#: (table, whether the column is indexed): every table whose rows belong to a unit.
OWNED = (
    ("trading_entity", True),
    ("case_file", True),
    ("takedown_order", True),
    ("monitor", True),
    ("alert", True),
    ("api_token", True),
    ("app_user", False),
)


def upgrade() -> None:
    op.create_table(
        "org_unit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("org_unit.id"), nullable=True),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("region_code", sa.String(12), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_org_unit_parent_id", "org_unit", ["parent_id"])
    op.create_index("ix_org_unit_path", "org_unit", ["path"])
    for table, indexed in OWNED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("unit_id", sa.Integer(), nullable=True))
            batch.create_foreign_key(f"fk_{table}_unit_id", "org_unit", ["unit_id"], ["id"])
            if indexed:
                batch.create_index(f"ix_{table}_unit_id", ["unit_id"])


def downgrade() -> None:
    for table, indexed in reversed(OWNED):
        with op.batch_alter_table(table) as batch:
            if indexed:
                batch.drop_index(f"ix_{table}_unit_id")
            batch.drop_constraint(f"fk_{table}_unit_id", type_="foreignkey")
            batch.drop_column("unit_id")
    op.drop_index("ix_org_unit_path", "org_unit")
    op.drop_index("ix_org_unit_parent_id", "org_unit")
    op.drop_table("org_unit")
