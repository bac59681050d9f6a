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
call runs in its own transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from anchoring.errors import ConcurrentAppendError, MissingNodeError
from anchoring.layout import NodeID
from anchoring.schema import HASH, TILE_WIDTH, merkle_log, merkle_tile, metadata

__all__ = ["SqlNodeStore", "merkle_log", "merkle_tile", "metadata", "tile_id"]

LEVEL_SHIFT = 56
#: ids per IN look-up
LOOKUP_BATCH = 1000


def tile_id(level: int, index: int) -> int:
    """The row id of the tile holding node ``(level, index)``."""
    return (level << LEVEL_SHIFT) | (index // TILE_WIDTH)


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

    def size(self) -> int:
        with self._conn() as conn:
            return _size(conn)

    def get_nodes(self, ids: Sequence[NodeID]) -> list[bytes]:
        if not ids:
            return []
        with self._conn() as conn:
            tiles = _fetch_tiles(conn, {tile_id(level, index) for level, index in ids})
        self.reads += len(ids)
        out = []
        for level, index in ids:
            blob = tiles.get(tile_id(level, index), b"")
            offset = (index % TILE_WIDTH) * HASH
            digest = blob[offset : offset + HASH]
            if len(digest) != HASH:
                raise MissingNodeError(f"node ({level}, {index}) is not in merkle_tile")
            out.append(digest)
        return out

    def append(self, nodes: Iterable[tuple[int, int, bytes]], old_size: int, new_size: int) -> None:
        # Group the new hashes by tile, in order; each level's nodes arrive in index order.
        grouped: dict[int, bytearray] = {}
        first_index: dict[int, int] = {}
        for level, index, digest in nodes:
            key = tile_id(level, index)
            buf = grouped.get(key)
            if buf is None:
                grouped[key] = buf = bytearray()
                first_index[key] = index
            buf += digest
        with self._conn() as conn:
            _advance_size(conn, old_size, new_size)
            # Tiles that start mid-way already hold a prefix: extend them.
            partial = {k for k, i in first_index.items() if i % TILE_WIDTH}
            existing = _fetch_tiles(conn, partial)
            updates = []
            for key in partial:
                prefix = existing.get(key, b"")
                if len(prefix) != (first_index[key] % TILE_WIDTH) * HASH:
                    raise MissingNodeError(f"tile {key:#x} does not end where the log does")
                updates.append({"key": key, "hashes": prefix + grouped.pop(key)})
            if updates:
                conn.execute(
                    update(merkle_tile)
                    .where(merkle_tile.c.id == bindparam("key"))
                    .values(hashes=bindparam("hashes")),
                    updates,
                )
            if grouped:
                conn.execute(
                    insert(merkle_tile),
                    [{"id": key, "hashes": bytes(buf)} for key, buf in grouped.items()],
                )


def _size(conn: Connection) -> int:
    value = conn.execute(select(merkle_log.c.size).where(merkle_log.c.id == 1)).scalar()
    return int(value or 0)


def _advance_size(conn: Connection, old_size: int, new_size: int) -> None:
    """Compare-and-set the size, so a second writer fails here rather than corrupting tiles."""
    if old_size == 0 and conn.execute(select(merkle_log.c.id)).first() is None:
        conn.execute(insert(merkle_log).values(id=1, size=0))
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
