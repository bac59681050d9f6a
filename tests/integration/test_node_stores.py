"""The same behaviour from every node store: memory, SQLite and PostgreSQL (real servers).

A log on any store must give the reference RFC 9162 roots and proofs however
its leaves were batched, including batches that cross the 64-hash tile
boundaries of the SQL store; pick up where it was when reopened; refuse a
second writer from a stale size without changing anything; and, on SQL, be
atomic with the caller's transaction and notice tiles that vanished.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, delete, insert, select, text, update

from anchoring import MemoryNodeStore, MerkleLog, NodeStore
from anchoring.errors import ConcurrentAppendError, MissingNodeError
from anchoring.layout import NodeID
from anchoring.schema import TILE_WIDTH
from anchoring.store.base import NodeRun
from anchoring.store.sql import SqlNodeStore, merkle_log, merkle_tile, tile_id
from tests.support.reference import ReferenceTree
from verifier.merkle import verify_consistency, verify_inclusion

MAX_LEAVES = 4097
TARGETS = [63, 64, 65, 127, 128, 129, 4095, 4096, 4097]


def leaves_for(seed: int, n: int) -> list[bytes]:
    return [b"store-%d-%d" % (seed, i) for i in range(n)]


REF = ReferenceTree(leaves_for(0, MAX_LEAVES))


def read_bound(size: int) -> int:
    """2 * ceil(log2(size)) + 2 node reads."""
    return 2 * (size - 1).bit_length() + 2


# --- the three stores ---------------------------------------------------------------


@dataclass
class Backend:
    """A place a log lives; ``open()`` gives a store on it, as a restarted process would."""

    name: str
    engine: Engine | None = None
    memory: MemoryNodeStore = field(default_factory=MemoryNodeStore)

    def open(self) -> NodeStore:
        if self.engine is None:
            return self.memory  # the object is the whole of the memory store's state
        return SqlNodeStore(self.engine)

    def reset(self) -> None:
        """Empty the log, as ``evidence db upgrade`` leaves it: no tiles, size row (1, 0)."""
        if self.engine is None:
            self.memory = MemoryNodeStore()
            return
        with self.engine.begin() as conn:
            conn.execute(delete(merkle_tile))
            conn.execute(delete(merkle_log))
            conn.execute(insert(merkle_log).values(id=1, size=0))

    def rows(self) -> dict[str, object]:
        """Everything the SQL store holds, byte for byte (empty for memory)."""
        if self.engine is None:
            return {}
        with self.engine.connect() as conn:
            tiles = conn.execute(select(merkle_tile.c.id, merkle_tile.c.hashes))
            sizes = conn.execute(select(merkle_log.c.id, merkle_log.c.size))
            return {
                "tiles": sorted((int(i), bytes(h)) for i, h in tiles),
                "log": sorted((int(i), int(s)) for i, s in sizes),
            }


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        return Backend("memory")
    return migrated_sql_backend(request)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_backend(request: pytest.FixtureRequest) -> Backend:
    return migrated_sql_backend(request)


def migrated_sql_backend(request: pytest.FixtureRequest) -> Backend:
    # The PostgreSQL fixture's database is shared by the session and truncated after
    # each test; start every test from the freshly migrated state either way.
    backend = Backend(request.param, request.getfixturevalue(f"{request.param}_engine"))
    backend.reset()
    return backend


# --- checks -------------------------------------------------------------------------


def all_node_ids(size: int) -> list[NodeID]:
    """Every perfect subtree that is complete in a tree of ``size`` leaves."""
    return [(level, i) for level in range(size.bit_length()) for i in range(size >> level)]


def snapshot(backend: Backend, store: NodeStore) -> tuple[int, list[bytes], dict[str, object]]:
    size = store.size()
    return size, store.get_nodes(all_node_ids(size)), backend.rows()


def expected_tiles(ref: ReferenceTree, size: int) -> list[tuple[int, bytes]]:
    """The merkle_tile rows of a log of ``size`` leaves: 64 node hashes per row and level."""
    rows = []
    for level in range(size.bit_length()):
        count = size >> level
        for tile in range(0, count, TILE_WIDTH):
            nodes = range(tile, min(tile + TILE_WIDTH, count))
            hashes = b"".join(ref.mth_range(i << level, (i + 1) << level) for i in nodes)
            rows.append((tile_id(level, tile), hashes))
    return sorted(rows)


def check_log(
    log: MerkleLog,
    ref: ReferenceTree,
    size: int,
    *,
    indices: Iterable[int],
    sizes1: Iterable[int],
    twin: MerkleLog | None = None,
) -> None:
    """Root, inclusion and consistency proofs at ``size`` equal the reference (and ``twin``)."""
    root = ref.mth(size)
    assert log.root(size) == root, f"root({size})"
    if twin is not None:
        assert twin.root(size) == root
    meter = log.store if isinstance(log.store, MemoryNodeStore | SqlNodeStore) else None
    for index in sorted({i for i in indices if 0 <= i < size}):
        if meter is not None:
            meter.reads = 0
        proof = log.inclusion_proof(index, size)
        if meter is not None:
            assert meter.reads <= read_bound(size), (
                f"{meter.reads} reads: inclusion({index}, {size})"
            )
        assert proof == ref.path(index, size), f"inclusion({index}, {size})"
        if twin is not None:
            assert twin.inclusion_proof(index, size) == proof
        verify_inclusion(ref.leaf_hash(index), index, size, proof, root)
    for size1 in sorted({s for s in sizes1 if 0 <= s <= size}):
        proof = log.consistency_proof(size1, size)
        assert proof == ref.proof(size1, size), f"consistency({size1}, {size})"
        if twin is not None:
            assert twin.consistency_proof(size1, size) == proof
        verify_consistency(size1, size, ref.mth(size1), root, proof)


def tile_edges(size: int) -> set[int]:
    """Leaf indices on either side of every 64-leaf tile boundary below ``size``."""
    edges = {0, 1, size - 2, size - 1}
    for boundary in range(TILE_WIDTH, size, TILE_WIDTH):
        edges |= {boundary - 1, boundary}
    return edges


def schedule(batch: int, targets: Sequence[int]) -> Iterator[tuple[int, bool]]:
    """Batch sizes that land exactly on each target, crossing it in batches of ``batch``.

    Long stretches between targets are filled by one big batch first, leaving
    five batches of ``batch`` leaves before the target. Yields (count, at_target).
    """
    at = 0
    for target in targets:
        if target - at > 5 * batch:
            yield target - at - 5 * batch, False
            at = target - 5 * batch
        while at < target:
            step = min(batch, target - at)
            at += step
            yield step, at == target


# --- behaviour shared by all stores -------------------------------------------------


@pytest.mark.parametrize("batch", [1, 7, 64, 100])
def test_batches_across_tile_boundaries_match_memory_and_reference(
    backend: Backend, batch: int
) -> None:
    log = MerkleLog(backend.open())
    twin = MerkleLog(MemoryNodeStore())
    leaves = REF.leaves
    rnd = random.Random(batch)
    reached: list[int] = [0]
    at = 0
    for count, at_target in schedule(batch, TARGETS):
        assert log.append(leaves[at : at + count]) == at
        twin.append(leaves[at : at + count])
        at += count
        if not at_target:
            continue
        assert log.size == at
        indices = tile_edges(at) | {rnd.randrange(at) for _ in range(3)}
        sizes1 = {*reached, 1, 63, 64, 65, at - 1, at, rnd.randint(0, at)}
        check_log(log, REF, at, indices=indices, sizes1=sizes1, twin=twin)
        for old in reached:  # the history does not move
            assert log.root(old) == REF.mth(old)
        reached.append(at)
        if backend.engine is not None:
            assert backend.rows()["tiles"] == expected_tiles(REF, at)
            assert backend.rows()["log"] == [(1, at)]
    assert reached[1:] == TARGETS


def test_reopened_store_continues_where_it_was(backend: Backend) -> None:
    first = MerkleLog(backend.open())
    first.append(REF.leaves[:100])
    first.append(REF.leaves[100:130])

    second = MerkleLog(backend.open())
    assert second.size == 130
    assert second.root() == REF.mth(130)
    assert second.append(REF.leaves[130:200]) == 130
    assert first.size == 200, "both handles see one log"

    third = MerkleLog(backend.open())
    check_log(
        third,
        REF,
        200,
        indices=[0, 99, 100, 127, 128, 129, 130, 131, 199],
        sizes1=[0, 100, 130, 199, 200],
    )
    assert third.root(130) == REF.mth(130)
    if backend.engine is not None:
        assert backend.rows()["tiles"] == expected_tiles(REF, 200)


class SizeReadEarlier:
    """A writer's handle on a shared store, that read the size before another writer appended.

    Everything but ``size()`` goes to the real store; this only fixes *when*
    the writer looked, which is what two processes racing would do.
    """

    def __init__(self, store: NodeStore) -> None:
        self._store = store
        self._size = store.size()

    def size(self) -> int:
        return self._size

    def get_nodes(self, ids: Sequence[NodeID]) -> list[bytes]:
        return self._store.get_nodes(ids)

    @contextmanager
    def snapshot(self) -> Iterator[SizeReadEarlier]:
        yield self

    def append(self, runs: Sequence[NodeRun], old_size: int, new_size: int) -> None:
        self._store.append(runs, old_size, new_size)


@pytest.mark.parametrize("old_size", [0, 64, 70])
def test_second_writer_from_the_same_old_size_fails_and_changes_nothing(
    backend: Backend, old_size: int
) -> None:
    MerkleLog(backend.open()).append(REF.leaves[:old_size])
    writer_a = MerkleLog(SizeReadEarlier(backend.open()))
    writer_b = MerkleLog(SizeReadEarlier(backend.open()))
    writer_a.append(REF.leaves[old_size : old_size + 10])
    store = backend.open()
    before = snapshot(backend, store)

    with pytest.raises(ConcurrentAppendError):
        writer_b.append([b"writer B", b"was late"])

    assert snapshot(backend, store) == before
    log = MerkleLog(backend.open())
    assert log.size == old_size + 10
    check_log(log, REF, old_size + 10, indices=tile_edges(old_size + 10), sizes1=[old_size])
    with pytest.raises(MissingNodeError):
        store.get_nodes([(0, old_size + 10)])


# --- SQL: transactions and damage ---------------------------------------------------


def test_rolled_back_transaction_leaves_nothing_behind(sql_backend: Backend) -> None:
    engine = sql_backend.engine
    assert engine is not None
    MerkleLog(SqlNodeStore(engine)).append(REF.leaves[:70])
    before = sql_backend.rows()

    with engine.connect() as conn:
        trans = conn.begin()
        log = MerkleLog(SqlNodeStore(conn))
        log.append(REF.leaves[70:170])
        log.append(REF.leaves[170:171])
        assert log.size == 171
        assert log.root() == REF.mth(171), "the transaction sees its own appends"
        assert SqlNodeStore(engine).size() == 70, "nobody else does before commit"
        trans.rollback()

    assert sql_backend.rows() == before, "nodes and size rolled back together"
    log = MerkleLog(SqlNodeStore(engine))
    assert log.size == 70
    assert log.append(REF.leaves[70:200]) == 70
    check_log(log, REF, 200, indices=tile_edges(200), sizes1=[70, 171])


def test_rolled_back_first_append_leaves_an_empty_log(sql_backend: Backend) -> None:
    engine = sql_backend.engine
    assert engine is not None
    with engine.connect() as conn:
        trans = conn.begin()
        MerkleLog(SqlNodeStore(conn)).append(REF.leaves[:65])
        trans.rollback()
    assert sql_backend.rows() == {"tiles": [], "log": [(1, 0)]}
    assert SqlNodeStore(engine).size() == 0


def test_committed_transaction_is_visible_to_a_new_store(sql_backend: Backend) -> None:
    engine = sql_backend.engine
    assert engine is not None
    with engine.connect() as conn, conn.begin():
        log = MerkleLog(SqlNodeStore(conn))
        log.append(REF.leaves[:64])
        log.append(REF.leaves[64:65])
    assert MerkleLog(SqlNodeStore(engine)).root() == REF.mth(65)
    assert sql_backend.rows()["tiles"] == expected_tiles(REF, 65)


def _delete_tile(level: int, index: int) -> Callable[[Connection], None]:
    def damage(conn: Connection) -> None:
        deleted = conn.execute(delete(merkle_tile).where(merkle_tile.c.id == tile_id(level, index)))
        assert deleted.rowcount == 1

    return damage


def _truncate_tile(level: int, index: int, keep: int) -> Callable[[Connection], None]:
    def damage(conn: Connection) -> None:
        key = tile_id(level, index)
        blob = conn.execute(select(merkle_tile.c.hashes).where(merkle_tile.c.id == key)).scalar()
        assert blob is not None
        conn.execute(
            update(merkle_tile).where(merkle_tile.c.id == key).values(hashes=blob[: keep * 32])
        )

    return damage


@pytest.mark.parametrize(
    ("damage", "call"),
    [
        # leaves 64..127; inclusion(70, 200) needs the leaf hash of 71
        pytest.param(_delete_tile(0, 70), lambda log: log.inclusion_proof(70, 200), id="leaf-tile"),
        pytest.param(_delete_tile(0, 70), lambda log: log.leaf_hash(70), id="leaf-tile-hash"),
        # the 128-leaf subtree [0, 128) is the first node of every root from 128 on
        pytest.param(_delete_tile(7, 0), lambda log: log.root(), id="top-tile-root"),
        pytest.param(
            _delete_tile(7, 0), lambda log: log.consistency_proof(150, 200), id="top-tile-proof"
        ),
        pytest.param(
            _truncate_tile(0, 70, keep=3), lambda log: log.inclusion_proof(70, 200), id="short-tile"
        ),
    ],
)
def test_missing_tile_is_reported(
    sql_backend: Backend, damage: Callable[[Connection], None], call: Callable[[MerkleLog], object]
) -> None:
    engine = sql_backend.engine
    assert engine is not None
    log = MerkleLog(SqlNodeStore(engine))
    log.append(REF.leaves[:200])
    call(log)  # fine before the damage
    with engine.begin() as conn:
        damage(conn)
    with pytest.raises(MissingNodeError):
        call(MerkleLog(SqlNodeStore(engine)))


def test_append_onto_a_missing_partial_tile_fails_and_keeps_the_size(
    sql_backend: Backend,
) -> None:
    engine = sql_backend.engine
    assert engine is not None
    log = MerkleLog(SqlNodeStore(engine))
    log.append(REF.leaves[:200])  # leaves 192..199 sit in the partial level-0 tile 3
    with engine.begin() as conn:
        _delete_tile(0, 192)(conn)
    damaged = sql_backend.rows()
    with pytest.raises(MissingNodeError):
        log.append([b"one more"])
    assert sql_backend.rows() == damaged, "the size update rolled back with the failed tiles"
    assert log.size == 200


# --- PostgreSQL: writers that really race -------------------------------------------


def _wait_until_blocked(engine: Engine, pid: int) -> None:
    deadline = time.monotonic() + 20
    with engine.connect() as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.execute(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            ).scalar()
            watcher.rollback()
            if waiting == "Lock":
                return
            time.sleep(0.01)
    raise AssertionError(f"backend {pid} never blocked on a lock")


def _race(engine: Engine, old_size: int) -> BaseException | None:
    """A appends in an open transaction; B appends from the same size and blocks; A commits.

    Returns what B raised (B's transaction is rolled back).
    """
    outcome: list[BaseException | None] = []
    with engine.connect() as conn_a, engine.connect() as conn_b:
        pid_b = conn_b.execute(text("SELECT pg_backend_pid()")).scalar_one()
        conn_b.rollback()
        conn_a.begin()
        MerkleLog(SqlNodeStore(conn_a)).append(REF.leaves[old_size : old_size + 10])

        def writer_b() -> None:
            try:
                with conn_b.begin():
                    MerkleLog(SqlNodeStore(conn_b)).append([b"writer B"])
                outcome.append(None)
            except BaseException as err:  # handed to the main thread
                outcome.append(err)

        thread = threading.Thread(target=writer_b)
        thread.start()
        try:
            _wait_until_blocked(engine, pid_b)
        finally:
            conn_a.commit()
            thread.join(30)
    assert not thread.is_alive()
    return outcome[0]


@pytest.mark.postgres
@pytest.mark.parametrize("old_size", [0, 70])
def test_racing_writer_on_postgres_is_refused(postgres_engine: Engine, old_size: int) -> None:
    Backend("postgres", postgres_engine).reset()  # as migrated: size row (1, 0)
    MerkleLog(SqlNodeStore(postgres_engine)).append(REF.leaves[:old_size])
    err = _race(postgres_engine, old_size)
    assert isinstance(err, ConcurrentAppendError), f"writer B got {err!r}"
    log = MerkleLog(SqlNodeStore(postgres_engine))
    assert log.size == old_size + 10
    assert log.root() == REF.mth(old_size + 10)
    rows = Backend("postgres", postgres_engine).rows()
    assert rows["tiles"] == expected_tiles(REF, old_size + 10)
    assert rows["log"] == [(1, old_size + 10)]


@pytest.mark.postgres
def test_racing_first_writers_without_a_size_row_are_refused(postgres_engine: Engine) -> None:
    Backend("postgres", postgres_engine).reset()
    with postgres_engine.begin() as conn:
        conn.execute(delete(merkle_log))
    err = _race(postgres_engine, 0)
    if err is not None and not isinstance(err, ConcurrentAppendError):
        raise err
    assert isinstance(err, ConcurrentAppendError), f"writer B got {err!r}"
    assert MerkleLog(SqlNodeStore(postgres_engine)).root() == REF.mth(10)


# --- property: any batching, any store ----------------------------------------------


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_proofs_match_reference_on_every_store(backend: Backend, data: st.DataObject) -> None:
    backend.reset()  # the fixture is shared by all examples
    n = data.draw(st.integers(0, 300), label="leaves")
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=8), label="cuts"))
    rnd = data.draw(st.randoms(use_true_random=False), label="rnd")
    log = MerkleLog(backend.open())
    points = [0, *cuts, n]
    for a, b in pairwise(points):
        assert log.append(REF.leaves[a:b]) == a
        log = MerkleLog(backend.open())  # as if another process wrote the next batch
    assert log.size == n
    for size in {n, *points, rnd.randint(0, n)}:
        indices = {0, size - 1, rnd.randrange(size)} if size else set()
        check_log(log, REF, size, indices=indices, sizes1={0, 1, *cuts, rnd.randint(0, size)})
