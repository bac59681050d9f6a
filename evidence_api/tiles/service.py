"""The C2SP ``tlog-tiles`` resources, read from the log's SQL store.

A tlog tile ``L/N`` is 256 consecutive hashes of tree level ``8·L``: hash ``i`` is the
perfect subtree ``(8·L, 256·N + i)``. The store (:mod:`anchoring.store.sql`) keeps every
level in rows of 64 hashes, so one tile is at most four rows, read together with the log's
size in one statement (:meth:`~anchoring.store.sql.SqlNodeStore.size_and_nodes`); no hash
is recomputed. An entry bundle is one range read of ``log_entry`` by ``leaf_index`` (a
unique index). Resources are served up to the log's size, which is always the latest
signed checkpoint's (the sealer appends and signs in one transaction): a tile beyond it,
or a partial tile wider than the log yet holds, is a 404 that nobody may cache.

Path parsing is pure and bounded (:func:`parse_level`, :func:`parse_index`): a malformed
path is a 400 naming its defect, never a database read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select

from anchoring.errors import MissingNodeError
from anchoring.proofs import cosigned_note
from anchoring.reader import LogReader
from anchoring.schema import log_entry
from anchoring.store.sql import SqlNodeStore, read_retrying
from evidence_api.core.errors import BadRequestError, NotFoundError

#: hashes in a full tile, entries in a full bundle (C2SP: exactly 256)
TILE_SIZE = 256
#: tree levels per tile level
TILE_HEIGHT = 8
#: the largest tile level the spec allows
MAX_LEVEL = 63
#: the largest tree a log may hold (sizes are signed 64-bit in the database)
MAX_TREE_SIZE = 2**63 - 1
#: a tile index of a tree below 2**63 leaves has at most 17 digits: 6 groups of 3
MAX_GROUPS = 6
#: characters of the part of a path after ``tile/<L>/`` or ``tile/entries/``
MAX_INDEX_PATH = 40

#: long-lived caching for full tiles and bundles: their bytes never change
IMMUTABLE = "public, max-age=31536000, immutable"
#: partial tiles and bundles are superseded by wider ones as the log grows
PARTIAL = "public, max-age=60"
#: the checkpoint changes with every seal (C2SP: no caching beyond a few seconds)
CHECKPOINT = "public, max-age=5"
#: a tile beyond the log now may exist after the next seal: never cache the refusal
NOT_YET = {"Cache-Control": "no-store"}

#: The well-formed paths, as JSON Schema patterns for the OpenAPI document (so that a
#: schema-valid request is a well-formed one); :func:`parse_level` and :func:`parse_index`
#: accept exactly these (tests/integration/test_tiles.py checks both ways).
LEVEL_PATTERN = r"^([0-9]|[1-5][0-9]|6[0-3])$"
INDEX_PATTERN = (
    r"^(x(00[1-9]|0[1-9][0-9]|[1-9][0-9]{2})/(x[0-9]{3}/){0,4})?[0-9]{3}"
    r"(\.p/([1-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5]))?$"
)

_LEVEL = re.compile(r"0|[1-9][0-9]?")
_GROUP = re.compile(r"x[0-9]{3}")
_LAST = re.compile(r"[0-9]{3}")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")


@dataclass(frozen=True)
class TileIndex:
    """A tile's (or bundle's) index ``n`` and, for a partial one, its width ``w``."""

    n: int
    width: int | None = None

    @property
    def count(self) -> int:
        """How many hashes (entries) the resource holds."""
        return self.width if self.width is not None else TILE_SIZE

    @property
    def cache_control(self) -> str:
        return IMMUTABLE if self.width is None else PARTIAL


def encode_index(n: int, width: int | None = None) -> str:
    """``n`` as C2SP path elements: 3-digit groups, all but the last prefixed ``x``
    (1234067 -> ``x001/x234/067``), then ``.p/<W>`` for a partial resource."""
    if n < 0:
        raise ValueError("a tile index is not negative")
    groups = []
    while True:
        groups.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    path = "/".join(["x" + g for g in reversed(groups[1:])] + [groups[0]])
    return path if width is None else f"{path}.p/{width}"


def parse_level(text: str) -> int:
    """A tile level: decimal 0..63, no leading zeroes."""
    if not _LEVEL.fullmatch(text) or int(text) > MAX_LEVEL:
        raise BadRequestError(
            f"tile level must be 0..{MAX_LEVEL} without leading zeroes, not {text[:8]!r}",
            field="level",
        )
    return int(text)


def parse_index(text: str) -> TileIndex:
    """``<N>[.p/<W>]`` in its one canonical spelling (as :func:`encode_index` writes it)."""
    if len(text) > MAX_INDEX_PATH:
        raise BadRequestError(
            f"tile index path is {len(text)} characters, at most {MAX_INDEX_PATH}", field="index"
        )
    parts = text.split("/")
    width = None
    if len(parts) >= 2 and parts[-2].endswith(".p"):
        if not _WIDTH.fullmatch(parts[-1]) or int(parts[-1]) >= TILE_SIZE:
            raise BadRequestError(
                "partial width must be 1..255 without leading zeroes", field="index"
            )
        width = int(parts[-1])
        parts = [*parts[:-2], parts[-2][: -len(".p")]]
    if len(parts) > MAX_GROUPS:
        raise BadRequestError(f"tile index has more than {MAX_GROUPS} groups", field="index")
    *leading, last = parts
    if not all(_GROUP.fullmatch(g) for g in leading) or not _LAST.fullmatch(last):
        raise BadRequestError(
            "tile index must be 3-digit groups, all but the last prefixed 'x' (e.g. x001/234)",
            field="index",
        )
    if leading and leading[0] == "x000":
        raise BadRequestError("tile index has a leading x000 group", field="index")
    n = 0
    for group in [*(g[1:] for g in leading), last]:
        n = n * 1000 + int(group)
    return TileIndex(n, width)


def _available(level: int, n: int, size: int) -> int:
    """How many hashes of tile ``level``/``n`` a tree of ``size`` holds (0..256)."""
    complete = size >> (TILE_HEIGHT * level)  # full subtrees of level 8·L
    return max(0, min(TILE_SIZE, complete - n * TILE_SIZE))


def _require_published(what: str, index: TileIndex, available: int, size: int) -> None:
    """A 404 unless the log of ``size`` holds the ``available`` hashes the resource needs."""
    if index.count > available or (index.width is None and available < TILE_SIZE):
        shown = what + encode_index(index.n, index.width)
        if available == 0:
            raise NotFoundError(f"{shown} is beyond the log (size {size})", headers=NOT_YET)
        raise NotFoundError(
            f"{shown} is not in the log of size {size}: it holds {available} there",
            headers=NOT_YET,
        )


def _beyond_any_log(level: int, index: TileIndex) -> bool:
    """Whether the resource needs more leaves than any log can hold (no read needed; it
    also keeps node indices inside the store's row ids)."""
    return (index.n * TILE_SIZE + index.count) << (TILE_HEIGHT * level) > MAX_TREE_SIZE


def hash_tile(engine: Engine, level: int, index: TileIndex) -> bytes:
    """The tile's hashes, concatenated (32 bytes each): one statement, at most 4 rows."""
    if _beyond_any_log(level, index):
        raise NotFoundError(f"tile {level}/{encode_index(index.n)} is beyond any log")
    height = TILE_HEIGHT * level
    first = index.n * TILE_SIZE
    ids = [(height, first + i) for i in range(index.count)]
    size, nodes = SqlNodeStore(engine).size_and_nodes(ids)
    _require_published(f"tile {level}/", index, _available(level, index.n, size), size)
    hashes = [node for node in nodes if node is not None]
    if len(hashes) != len(ids):
        raise MissingNodeError(f"merkle_tile lacks hashes of tile {level}/{index.n}")
    return b"".join(hashes)


def entry_bundle(engine: Engine, index: TileIndex) -> bytes:
    """The entries' leaf data (canonical JSON), each behind its big-endian uint16 length."""
    if _beyond_any_log(0, index):
        raise NotFoundError(f"entry bundle {encode_index(index.n)} is beyond any log")
    first = index.n * TILE_SIZE

    def read(conn: Connection) -> list[str]:
        # The size first: every leaf_index below it was committed with it (same seal).
        size = SqlNodeStore(conn).size()
        _require_published("entry bundle ", index, _available(0, index.n, size), size)
        rows = conn.execute(
            select(log_entry.c.leaf_index, log_entry.c.entry)
            .where(log_entry.c.leaf_index >= first, log_entry.c.leaf_index < first + index.count)
            .order_by(log_entry.c.leaf_index)
        ).all()
        if [r[0] for r in rows] != list(range(first, first + index.count)):
            raise MissingNodeError(f"log_entry lacks entries of bundle {index.n}")
        return [r[1] for r in rows]

    return encode_bundle([entry.encode("utf-8") for entry in read_retrying(engine, read)])


def encode_bundle(entries: list[bytes]) -> bytes:
    """C2SP entry bundle: each entry behind its length as a big-endian uint16."""
    out = bytearray()
    for data in entries:
        if len(data) > 0xFFFF:  # entries are at most 16 KiB (verifier.models.MAX_ENTRY_BYTES)
            raise ValueError(f"an entry of {len(data)} bytes does not fit a uint16 length")
        out += len(data).to_bytes(2, "big") + data
    return bytes(out)


def checkpoint(reader: LogReader) -> str:
    """The latest signed checkpoint note with its stored witness cosignature lines."""

    def read(conn: Connection) -> str:
        record = reader.latest(conn)
        if record is None:
            raise NotFoundError("the log has no checkpoint yet (nothing sealed)", headers=NOT_YET)
        return cosigned_note(conn, record.note, record.size)

    return reader.run(read)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an ``Accept-Encoding`` value admits gzip (``gzip;q=0`` refuses it)."""
    for item in (accept_encoding or "").split(","):
        name, _, params = item.partition(";")
        if name.strip().lower() in ("gzip", "x-gzip"):
            q = params.strip().lower()
            return not re.fullmatch(r"q\s*=\s*0(\.0{0,3})?", q)
    return False
