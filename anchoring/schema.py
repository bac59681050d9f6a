"""SQL tables of the log (SQLAlchemy Core). Created by the Alembic history in
``evidence_api/migrations`` (0001 the tree, 0002 the entry queue and checkpoints)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

TILE_WIDTH = 64
HASH = 32

metadata = MetaData()
# SQLite only aliases the rowid for a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

merkle_tile = Table(
    "merkle_tile",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary(TILE_WIDTH * HASH), nullable=False),
)

merkle_log = Table(
    "merkle_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="merkle_log_single_row"),
    CheckConstraint("size >= 0", name="merkle_log_size_nonnegative"),
)

#: Every entry ever accepted, in receive order. ``leaf_index`` is NULL while
#: the entry is pending and set, once, by the sealer in the same transaction
#: that appends its leaf to the tree.
log_entry = Table(
    "log_entry",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("entry_id", String(128), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("entry", Text, nullable=False),  # RFC 8785 canonical JSON: the leaf data
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("receipt", Text, nullable=False),
    Column("leaf_index", BigInteger, nullable=True, unique=True),
    Column("sealed_at", DateTime(timezone=True), nullable=True),
    #: A ``stamp`` entry's digest (``body.sha256``), so the public lookup by SHA-256 is
    #: an index seek, not a scan of the entries' JSON. None for other kinds.
    Column("stamp_sha256", LargeBinary(32), nullable=True),
    Index("ix_log_entry_leaf_hash", "leaf_hash"),
    Index("ix_log_entry_stamp_sha256", "stamp_sha256"),
    #: the pending entries only (migration 0012): the sealer reads its batch through it
    Index(
        "ix_log_entry_pending",
        "seq",
        postgresql_where=text("leaf_index IS NULL"),
        sqlite_where=text("leaf_index IS NULL"),
    ),
)

#: Every signed checkpoint the sealer produced.
log_checkpoint = Table(
    "log_checkpoint",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: Witness cosignatures (C2SP ``tlog-cosignature``) on checkpoints, one row per
#: (checkpoint size, witness key). ``signature`` is the 64-byte Ed25519 signature over
#: ``cosignature/v1`` + ``time <timestamp>`` + the checkpoint's note body
#: (:mod:`verifier.cosignature`); ``key_id`` its 4-byte type-0x04 key ID.
checkpoint_cosignature = Table(
    "checkpoint_cosignature",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("witness", String(256), primary_key=True),
    Column("key_id", LargeBinary(4), primary_key=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("signature", LargeBinary(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: RFC 3161 time-stamp tokens on checkpoints: one row per (checkpoint size, TSA). The
#: token's message imprint is SHA-256 of the checkpoint's note body (docs/proof-format.md).
checkpoint_timestamp = Table(
    "checkpoint_timestamp",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("tsa", String(256), primary_key=True),  # the TSA's name from the settings
    Column("token", LargeBinary, nullable=False),  # DER TimeStampToken (CMS ContentInfo)
    Column("gen_time", DateTime(timezone=True), nullable=False),  # the token's genTime
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: Which chain and contract this log anchors to; checked at every start.
chain_binding = Table(
    "chain_binding",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("chain_id", BigInteger, nullable=False),
    Column("genesis_hash", String(66), nullable=False),
    Column("contract_address", String(42), nullable=False),
    Column("code_hash", String(66), nullable=False),
    Column("log_id", String(66), nullable=False),
    Column("bound_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("id = 1", name="chain_binding_single_row"),
)

#: One row per anchoring transaction we sent (or found on chain). States:
#: submitted -> included -> confirmed; included/submitted -> dropped when a
#: reorg or the mempool loses it (the checkpoint is then sent again).
anchor_tx = Table(
    "anchor_tx",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("prev_size", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("tx_hash", String(66), nullable=False, unique=True),
    Column("nonce", BigInteger, nullable=True),
    Column("sender", String(42), nullable=True),
    Column("block_number", BigInteger, nullable=True),
    Column("block_hash", String(66), nullable=True),
    Column("block_timestamp", BigInteger, nullable=True),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("detail", Text, nullable=True),
    Index("ix_anchor_tx_state", "state"),
    Index("ix_anchor_tx_size", "size"),
)
