"""The trees the log benchmarks compare, behind one small interface.

- ``ours-memory``: :class:`MerkleLog` over :class:`MemoryNodeStore`;
- ``ours-sqlite``: :class:`MerkleLog` over :class:`SqlNodeStore` on a migrated
  SQLite file (WAL, ``synchronous=NORMAL``, as :func:`make_engine` sets up);
- ``ours-postgres``: the same on a throwaway PostgreSQL database (the compose
  deployment's engine), created and dropped by the bench (:mod:`bench.databases`);
- ``pymerkle-memory``: pymerkle 7 ``InmemoryTree`` (the baseline);
- ``pymerkle-sqlite``: pymerkle 7 ``SqliteTree`` (a second reference line).

pymerkle is GPL-3.0 and a benchmark-only dependency: it is imported here, under
``bench/``, and nowhere in the product packages. It numbers leaves from 1;
the adapters below take 0-based indices like ours and convert.

Our SQL trees answer proofs as the log API does: through a
:class:`~anchoring.store.cache.NodeCache` (one statement per proof, autocommit),
and :meth:`OursTree.cold` empties that cache and the connection pool. A tree
can also be filled by a bulk copy of an in-memory one (:meth:`OursTree.copy_from`):
one append of every stored node, the way to reach 10^7 leaves in a bench run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Protocol

import pymerkle
from sqlalchemy import Engine

from anchoring.log import MerkleLog
from anchoring.store import MemoryNodeStore
from anchoring.store.cache import NodeCache
from anchoring.store.sql import SqlNodeStore
from bench.databases import scratch_postgres
from evidence_api.core.db import make_engine, upgrade

OURS_MEMORY = "ours-memory"
OURS_SQLITE = "ours-sqlite"
OURS_POSTGRES = "ours-postgres"
#: our trees on a database
OURS_SQL = (OURS_SQLITE, OURS_POSTGRES)
PYMERKLE_MEMORY = "pymerkle-memory"
PYMERKLE_SQLITE = "pymerkle-sqlite"

LABELS = {
    OURS_MEMORY: "ours, MemoryNodeStore",
    OURS_SQLITE: "ours, SqlNodeStore/SQLite",
    OURS_POSTGRES: "ours, SqlNodeStore/PostgreSQL",
    PYMERKLE_MEMORY: "pymerkle InmemoryTree",
    PYMERKLE_SQLITE: "pymerkle SqliteTree",
}


class BenchTree(Protocol):
    name: str
    is_baseline: bool

    def append(self, batch: Sequence[bytes]) -> None: ...

    def root(self, size: int | None = None) -> bytes: ...

    def inclusion(self, index: int, size: int) -> object:
        """The implementation's own inclusion proof of 0-based leaf ``index``."""
        ...

    def consistency(self, size1: int, size2: int) -> object: ...

    def close(self) -> None: ...


class OursTree:
    is_baseline = False

    def __init__(
        self,
        name: str,
        log: MerkleLog,
        engine: Engine | None = None,
        close: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.log = log
        self.engine = engine
        self._close = close
        #: proofs are read as the log API reads them: on SQL, through a node cache
        self.reader = log if engine is None else MerkleLog(SqlNodeStore(engine), NodeCache())

    def append(self, batch: Sequence[bytes]) -> None:
        self.log.append(batch)

    def copy_from(self, source: MemoryNodeStore) -> None:
        """Bulk copy: append every node ``source`` holds beyond this tree's size in one call."""
        size = self.log.store.size()
        self.log.store.append(source.runs(size), size, source.size())

    def root(self, size: int | None = None) -> bytes:
        return self.reader.root(size)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return self.reader.inclusion_proof(index, size)

    def consistency(self, size1: int, size2: int) -> list[bytes]:
        return self.reader.consistency_proof(size1, size2)

    def leaf_hash(self, index: int) -> bytes:
        return self.reader.leaf_hash(index)

    def cold_cache(self) -> None:
        """No cached node (the pooled connection is kept, as in a running server)."""
        if self.reader.cache is not None:
            self.reader.cache.clear()

    def restart(self) -> None:
        """As after a restart: no cached node, no pooled connection (the next read opens one)."""
        self.cold_cache()
        if self.engine is not None:
            self.engine.dispose()

    @property
    def has_cold_start(self) -> bool:
        return self.engine is not None

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
        if self._close is not None:
            self._close()


class PymerkleTree:
    """pymerkle with its defaults: SHA-256 and "security" on, i.e. RFC 9162 prefixes."""

    is_baseline = True

    def __init__(self, name: str, tree: Any) -> None:
        self.name = name
        self.tree = tree

    def append(self, batch: Sequence[bytes]) -> None:
        # InmemoryTree.append_entries is a loop over append_entry; SqliteTree's is
        # its bulk insert, one transaction per call: the same batches as ours.
        self.tree.append_entries(batch)

    def root(self, size: int | None = None) -> bytes:
        return bytes(self.tree.get_root(size))

    def inclusion(self, index: int, size: int) -> pymerkle.InclusionProof:
        return self.tree.prove_inclusion(index + 1, size)

    def consistency(self, size1: int, size2: int) -> pymerkle.ConsistencyProof:
        return self.tree.prove_consistency(size1, size2)

    def close(self) -> None:
        if isinstance(self.tree, pymerkle.SqliteTree):
            self.tree.close()


def ours_memory() -> OursTree:
    return OursTree(OURS_MEMORY, MerkleLog(MemoryNodeStore()))


def ours_sqlite(directory: Path) -> OursTree:
    url = f"sqlite:///{directory / 'ours.db'}"
    upgrade(url)
    engine = make_engine(url)
    return OursTree(OURS_SQLITE, MerkleLog(SqlNodeStore(engine)), engine)


def ours_postgres() -> OursTree:
    """Our tree on a fresh PostgreSQL database, which :meth:`OursTree.close` drops."""
    stack = ExitStack()
    try:
        url = stack.enter_context(scratch_postgres())
        upgrade(url)
        engine = make_engine(url)
    except BaseException:
        stack.close()
        raise
    return OursTree(OURS_POSTGRES, MerkleLog(SqlNodeStore(engine)), engine, stack.close)


def pymerkle_memory() -> PymerkleTree:
    return PymerkleTree(PYMERKLE_MEMORY, pymerkle.InmemoryTree())


def pymerkle_sqlite(directory: Path) -> PymerkleTree:
    return PymerkleTree(PYMERKLE_SQLITE, pymerkle.SqliteTree(str(directory / "pymerkle.db")))


def all_trees(directory: Path) -> list[BenchTree]:
    return [
        ours_memory(),
        ours_sqlite(directory),
        ours_postgres(),
        pymerkle_memory(),
        pymerkle_sqlite(directory),
    ]
