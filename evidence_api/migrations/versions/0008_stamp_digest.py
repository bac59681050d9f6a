"""Stamp digests indexed: the public lookup by SHA-256 seeks instead of scanning.

A ``stamp`` entry's digest lived only inside its canonical JSON, so finding the
stamps of a digest read every stamp entry — on a public endpoint, a cost anyone
could impose. The digest now has a column and an index; existing stamps are
filled in from their JSON, in batches.

Revision ID: 0008_stamp_digest
Revises: 0007_takedowns
Create Date: 2026-11-26
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0008_stamp_digest"
down_revision = "0007_takedowns"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade() -> None:
    op.add_column("log_entry", sa.Column("stamp_sha256", sa.LargeBinary(32), nullable=True))
    op.create_index("ix_log_entry_stamp_sha256", "log_entry", ["stamp_sha256"])
    conn = op.get_bind()
    entries = sa.table(
        "log_entry",
        sa.column("seq", sa.BigInteger()),
        sa.column("kind", sa.String()),
        sa.column("entry", sa.Text()),
        sa.column("stamp_sha256", sa.LargeBinary()),
    )
    after = 0
    while True:
        rows = conn.execute(
            sa.select(entries.c.seq, entries.c.entry)
            .where(entries.c.kind == "stamp", entries.c.seq > after)
            .order_by(entries.c.seq)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        for seq, text in rows:
            digest = bytes.fromhex(json.loads(text)["body"]["sha256"])
            conn.execute(sa.update(entries).where(entries.c.seq == seq).values(stamp_sha256=digest))
        after = rows[-1][0]


def downgrade() -> None:
    op.drop_index("ix_log_entry_stamp_sha256", "log_entry")
    op.drop_column("log_entry", "stamp_sha256")
