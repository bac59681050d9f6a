"""SQL node store (SQLAlchemy 2 Core; SQLite and PostgreSQL).

Tables (created by the Alembic migration ``0001_merkle_log``):

- ``merkle_tile(id, hashes)``: the hashes of up to ``TILE_WIDTH`` consecutive
  perfect subtrees of one level, concatenated. ``id`` packs
  ``(level, index // TILE_WIDTH)`` as ``level << 56 | tile``. Every level is
  stored, so no hash is ever recomputed; grouping them in tiles makes an
  append write about one row per 32 leaves instead of two rows per leaf.
  Only a level's last tile is ever partial, and only it is rewritten.
- ``merkle_log(id = 1, size)``: the committed tree size.

The store works on a :class:`~sqlalchemy.engine.Connection` when given one, so
the caller (the sealer) can append to the log in the same transaction that
marks its entries sealed; given an :class:`~sqlalchemy.engine.Engine`, each
call runs in its own transaction, except reads (:meth:`SqlNodeStore.size_and_nodes`):
one statement reads the size and the tiles together, which needs no transaction
block, so it runs in autocommit (:func:`read_retrying`): one round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine, bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from anchoring.errors import ConcurrentAppendError, MissingNodeError
from anchoring.layout import NodeID
from anchoring.schema import HASH, TILE_WIDTH, merkle_log, merkle_tile, metadata
from anchoring.store.base import MAX_READ, NodeRun

__all__ = ["SqlNodeStore", "merkle_log", "merkle_tile", "metadata", "read_retrying", "tile_id"]

T = TypeVar("T")

LEVEL_SHIFT = 56
#: ids per IN look-up
LOOKUP_BATCH = 1000


def tile_id(level: int, index: int) -> int:
    """The row id of the tile holding node ``(level, index)``."""
    return (level << LEVEL_SHIFT) | (index // TILE_WIDTH)


#: The size and the tiles of a read in one statement: the size row outer-joined to the
#: tiles, so the size comes back even when no tile matches (one row, tile NULL) or none
#: is asked for. No size row (a database migrated only to 0001): no row, size 0.
_SIZE_AND_TILES = (
    select(merkle_log.c.size, merkle_tile.c.id, merkle_tile.c.hashes)
    .select_from(
        merkle_log.outerjoin(merkle_tile, merkle_tile.c.id.in_(bindparam("keys", expanding=True)))
    )
    .where(merkle_log.c.id == 1)
)


def read_retrying(engine: Engine, read: Callable[[Connection], T]) -> T:
    """``read(conn)`` on a pooled connection outside any transaction block, and once more
    on a fresh connection if the first one turns out to be dead.

    Autocommit: on PostgreSQL no BEGIN and no COMMIT, so a one-statement read is one
    round trip (SQLite's driver opens no transaction for a SELECT anyway). Instead of
    pinging every connection before use (a round trip per request), a connection the
    server dropped (restart, ``pg_terminate_backend``, an idle timeout) fails its
    statement; SQLAlchemy then invalidates it and the pool, and the read, which
    changes nothing, is simply repeated on a new connection.
    """
    try:
        return _read_once(engine, read)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    return _read_once(engine, read)


def _read_once(engine: Engine, read: Callable[[Connection], T]) -> T:
    with engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            conn.execution_options(isolation_level="AUTOCOMMIT")
        return read(conn)


class SqlNodeStore:
    def __init__(self, bind: Engine | Connection) -> None:
        self._bind = bind
        self.reads = 0  # nodes read, for tests that check O(log n) proof cost

    @contextmanager
    def _conn(self) -> Iterator[Connection]:
        if isinstance(self._bind, Connection):
            yield self._bind
        else:
            with self._bind.begin() as conn:
                yield conn

    @contextmanager
    def snapshot(self) -> Iterator[SqlNodeStore]:
        """This store bound to one connection and transaction (itself, if already bound)."""
        if isinstance(self._bind, Connection):
            yield self
            return
        with self._bind.begin() as conn:
            view = SqlNodeStore(conn)
            try:
                yield view
            finally:
                self.reads += view.reads

    def size(self) -> int:
        with self._conn() as conn:
            return _size(conn)

    def get_nodes(self, ids: Sequence[NodeID]) -> list[bytes]:
        if not ids:
            return []
        with self._conn() as conn:
            tiles = _fetch_tiles(conn, {tile_id(level, index) for level, index in ids})
        self.reads += len(ids)
        out = _nodes_in(tiles, ids)
        for node, digest in zip(ids, out, strict=True):
            if digest is None:
                raise MissingNodeError(f"node {node} is not in merkle_tile")
        return [digest for digest in out if digest is not None]

    def size_and_nodes(self, ids: Sequence[NodeID]) -> tuple[int, list[bytes | None]]:
        if len(ids) > MAX_READ:
            raise ValueError(f"{len(ids)} ids in one read, at most {MAX_READ}")
        keys = sorted({tile_id(level, index) for level, index in ids})

        def read(conn: Connection) -> tuple[int, dict[int, bytes]]:
            rows = conn.execute(_SIZE_AND_TILES, {"keys": keys}).all()
            size = int(rows[0][0]) if rows else 0
            return size, {int(r[1]): bytes(r[2]) for r in rows if r[1] is not None}

        if isinstance(self._bind, Connection):
            size, tiles = read(self._bind)
        else:
            size, tiles = read_retrying(self._bind, read)
        self.reads += len(ids)
        return size, _nodes_in(tiles, ids)

    def append(self, runs: Sequence[NodeRun], old_size: int, new_size: int) -> None:
        # Cut each level's run into tile-aligned slices; only a level's first
        # tile can already hold a prefix (the level's previous partial tile).
        fresh: dict[int, bytes] = {}
        extend: dict[int, tuple[int, bytes]] = {}
        tile_bytes = TILE_WIDTH * HASH
        for run in runs:
            blob = b"".join(run.hashes)
            offset = run.first % TILE_WIDTH
            key = tile_id(run.level, run.first)
            pos = 0
            if offset:
                head = (TILE_WIDTH - offset) * HASH
                extend[key] = (offset * HASH, blob[:head])
                pos, key = head, key + 1
            while pos < len(blob):
                fresh[key] = blob[pos : pos + tile_bytes]
                pos, key = pos + tile_bytes, key + 1
        with self._conn() as conn:
            _advance_size(conn, old_size, new_size)
            existing = _fetch_tiles(conn, set(extend))
            updates = []
            for key, (prefix_len, tail) in extend.items():
                prefix = existing.get(key, b"")
                if len(prefix) != prefix_len:
                    raise MissingNodeError(f"tile {key:#x} does not end where the log does")
                updates.append({"key": key, "hashes": prefix + tail})
            if updates:
                conn.execute(
                    update(merkle_tile)
                    .where(merkle_tile.c.id == bindparam("key"))
                    .values(hashes=bindparam("hashes")),
                    updates,
                )
            if fresh:
                conn.execute(
                    insert(merkle_tile), [{"id": k, "hashes": v} for k, v in fresh.items()]
                )


def _nodes_in(tiles: dict[int, bytes], ids: Sequence[NodeID]) -> list[bytes | None]:
    """Each node's hash cut from its tile; ``None`` where the tile is absent or too short."""
    out: list[bytes | None] = []
    for level, index in ids:
        offset = (index % TILE_WIDTH) * HASH
        digest = tiles.get(tile_id(level, index), b"")[offset : offset + HASH]
        out.append(digest if len(digest) == HASH else None)
    return out


def _size(conn: Connection) -> int:
    value = conn.execute(select(merkle_log.c.size).where(merkle_log.c.id == 1)).scalar()
    return int(value or 0)


def _advance_size(conn: Connection, old_size: int, new_size: int) -> None:
    """Compare-and-set the size, so a second writer fails here rather than corrupting tiles."""
    if old_size == 0 and conn.execute(select(merkle_log.c.id)).first() is None:
        # Migration 0002 seeds this row; this covers a database migrated only to 0001.
        try:
            conn.execute(insert(merkle_log).values(id=1, size=0))
        except IntegrityError as exc:  # another first writer inserted it: it won
            raise ConcurrentAppendError("another writer created the log first") from exc
    moved = conn.execute(
        update(merkle_log)
        .where(merkle_log.c.id == 1, merkle_log.c.size == old_size)
        .values(size=new_size)
    )
    if moved.rowcount != 1:
        raise ConcurrentAppendError(f"log size is no longer {old_size}")


def _fetch_tiles(conn: Connection, keys: set[int]) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), LOOKUP_BATCH):
        chunk = ordered[start : start + LOOKUP_BATCH]
        rows = conn.execute(
            select(merkle_tile.c.id, merkle_tile.c.hashes).where(merkle_tile.c.id.in_(chunk))
        )
        found.update((row[0], bytes(row[1])) for row in rows)
    return found
