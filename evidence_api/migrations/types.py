"""Column types the migrations share (fixed: changing one changes history).

``BigId``: 64-bit ids on PostgreSQL, SQLite's INTEGER (its rowid alias) there;
``TZ``: a timestamp with a time zone.
"""

from __future__ import annotations

import sqlalchemy as sa

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)
