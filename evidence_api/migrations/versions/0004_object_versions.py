"""Object versions: the S3 version each evidence file and manifest was written as.

Downloads read exactly that version, so a newer version or a delete marker put
over a content key is never served. Nullable: rows written before this
revision, and everything in the local store, have none (the newest is read).

Revision ID: 0004_object_versions
Revises: 0003_anchoring
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_object_versions"
down_revision = "0003_anchoring"
branch_labels = None
depends_on = None

#: Same bound as ``evidence_api.core.storage.s3.MAX_VERSION_ID``.
VERSION_ID = sa.String(1024)


def upgrade() -> None:
    op.add_column("evidence", sa.Column("manifest_version", VERSION_ID, nullable=True))
    op.add_column("evidence_file", sa.Column("storage_version", VERSION_ID, nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite has it since 3.35): rebuilding ``evidence`` in
    # batch mode would trip over the foreign keys pointing at it.
    op.drop_column("evidence_file", "storage_version")
    op.drop_column("evidence", "manifest_version")
