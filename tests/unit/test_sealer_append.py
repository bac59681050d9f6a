"""The sealer's append (``MerkleLog.append_with_root``) into the SQL node store's bulk tile
write, against the in-memory log: for random batch splits, every batch returns the
in-memory log's first index and root, and the SQL tree then holds the same nodes
(every perfect subtree up to the size, and the roots at every size) as the memory log.
SQLite in memory: no server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, insert
from sqlalchemy.pool import StaticPool

from anchoring.log import MerkleLog
from anchoring.schema import merkle_log, metadata
from anchoring.store.memory import MemoryNodeStore
from anchoring.store.sql import SqlNodeStore
from verifier.merkle import EMPTY_ROOT, leaf_hash


def sqlite_log() -> Engine:
    engine = create_engine("sqlite://", poolclass=StaticPool)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(merkle_log).values(id=1, size=0))
    return engine


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = sqlite_log()
    yield engine
    engine.dispose()


def every_node(size: int) -> list[tuple[int, int]]:
    """Every perfect subtree of the tree of ``size`` leaves."""
    return [(level, i) for level in range(size.bit_length()) for i in range(size >> level)]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 300), min_size=1, max_size=8), st.integers(0, 2**16))
def test_append_with_root_matches_the_memory_log(batches: list[int], seed: int) -> None:
    engine = sqlite_log()
    try:
        sql, memory = MerkleLog(SqlNodeStore(engine)), MerkleLog(MemoryNodeStore())
        size = 0
        for count in batches:
            leaves = [leaf_hash(b"%d:%d" % (seed, size + i)) for i in range(count)]
            with engine.begin() as conn:  # as the sealer: on its transaction's connection
                first, root = MerkleLog(SqlNodeStore(conn)).append_with_root(leaves)
            assert first == memory.append_hashes(leaves) == size
            size += count
            assert root == memory.root() == sql.root(), f"root at size {size}"
        nodes = every_node(size)
        for start in range(0, len(nodes), 500):
            ids = nodes[start : start + 500]
            assert sql.store.get_nodes(ids) == memory.store.get_nodes(ids)
        for n in range(size + 1):
            assert sql.root(n) == memory.root(n)
    finally:
        engine.dispose()


def test_empty_append_returns_the_current_root(engine: Engine) -> None:
    log = MerkleLog(SqlNodeStore(engine))
    assert log.append_with_root([]) == (0, EMPTY_ROOT)
    leaves = [leaf_hash(b"%d" % i) for i in range(5)]
    assert log.append_with_root(leaves)[0] == 0
    assert log.append_with_root([]) == (5, log.root())
    with pytest.raises(ValueError, match="31 bytes"):
        log.append_with_root([b"x" * 31])
    assert log.size == 5
