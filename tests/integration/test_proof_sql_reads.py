"""Proofs on SQLite and PostgreSQL (real servers): one statement each, outside any
transaction block, equal to the in-memory log's; a dead pooled connection costs no
request its answer; the latest checkpoint is held in memory and replaced when a
new one is signed, in this process or another.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, create_engine, delete, event, insert, text
from sqlalchemy.exc import DBAPIError

from anchoring import MemoryNodeStore, MerkleLog
from anchoring.reader import LogReader, reader_for
from anchoring.schema import log_checkpoint, log_entry, merkle_log, merkle_tile
from anchoring.sealer import seal_once
from anchoring.store.cache import NodeCache
from anchoring.store.sql import SqlNodeStore, read_retrying
from evidence_api.core.config import Settings
from evidence_api.core.db import make_engine, upgrade
from tests.support.api import fresh_postgres_database, running_stack
from tests.support.waiting import wait_until
from verifier.checkpoint import open_checkpoint
from verifier.merkle import verify_inclusion

LEAVES = [b"sql-read-%d" % i for i in range(3000)]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")
    with engine.begin() as conn:  # the PostgreSQL database is shared by the session
        conn.execute(delete(merkle_tile))
        conn.execute(delete(log_entry))
        conn.execute(delete(log_checkpoint))
        conn.execute(delete(merkle_log))
        conn.execute(insert(merkle_log).values(id=1, size=0))
    return engine


class Statements:
    """The statements an engine runs, and whether each ran outside a transaction block."""

    def __init__(self, engine: Engine) -> None:
        self.seen: list[tuple[str, bool]] = []
        self._engine = engine
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn: Connection, cursor: Any, sql: str, *_: Any) -> None:
        dbapi = conn.connection.dbapi_connection
        # psycopg opens a transaction (BEGIN) before a statement unless in autocommit;
        # SQLite's driver never does for a SELECT.
        outside = conn.dialect.name == "sqlite" or bool(getattr(dbapi, "autocommit", False))
        self.seen.append((sql, outside))

    def take(self) -> list[tuple[str, bool]]:
        seen, self.seen = self.seen, []
        return seen

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._record)


@pytest.fixture
def statements(engine: Engine) -> Iterator[Statements]:
    counter = Statements(engine)
    yield counter
    counter.close()


def test_each_proof_is_one_statement_outside_a_transaction_block(
    engine: Engine, statements: Statements
) -> None:
    MerkleLog(SqlNodeStore(engine)).append(LEAVES[:1000])
    memory = MerkleLog(MemoryNodeStore())
    memory.append(LEAVES[:1000])
    reader = MerkleLog(SqlNodeStore(engine), cache=NodeCache())
    rng = random.Random(7)
    statements.take()
    for _ in range(40):
        size = rng.randint(1, 1000)
        index, size1 = rng.randrange(size), rng.randint(0, size)
        assert reader.leaf_and_inclusion_proof(index, size) == (
            memory.leaf_hash(index),
            memory.inclusion_proof(index, size),
        )
        assert reader.consistency_proof(size1, size) == memory.consistency_proof(size1, size)
        seen = statements.take()
        assert len(seen) == 2, seen
        assert all(outside for _, outside in seen), seen


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.data())
def test_cached_sql_proofs_equal_the_memory_log_as_it_grows(
    engine: Engine, data: st.DataObject
) -> None:
    with engine.begin() as conn:
        conn.execute(delete(merkle_tile))
        conn.execute(text("UPDATE merkle_log SET size = 0"))
    writer, memory = MerkleLog(SqlNodeStore(engine)), MerkleLog(MemoryNodeStore())
    reader = MerkleLog(
        SqlNodeStore(engine), cache=NodeCache(capacity=data.draw(st.integers(1, 500)))
    )
    batches = data.draw(st.lists(st.integers(1, 400), min_size=1, max_size=6))
    for count in batches:
        batch = LEAVES[writer.size : writer.size + count]
        writer.append(batch)
        memory.append(batch)
        size = memory.size
        root = memory.root(size)
        for _ in range(12):
            tree_size = data.draw(st.integers(1, size))
            index = data.draw(st.integers(0, tree_size - 1))
            size1 = data.draw(st.integers(0, tree_size))
            leaf, proof = reader.leaf_and_inclusion_proof(index, tree_size)
            assert proof == memory.inclusion_proof(index, tree_size)
            verify_inclusion(leaf, index, tree_size, proof, memory.root(tree_size))
            assert reader.consistency_proof(size1, tree_size) == memory.consistency_proof(
                size1, tree_size
            )
        assert reader.root(size) == root
        assert reader.cache is not None and reader.cache.known_size == size


# --- the latest checkpoint, in memory ----------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings_of(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Service settings on a fresh database of the parametrized kind; no sealer running
    (the tests seal when they choose)."""
    fields: dict[str, Any] = {"data_dir": tmp_path / "data", "run_sealer": False}
    if request.param == "sqlite":
        yield Settings(**fields)
        return
    with fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
        yield Settings(database_url=url, **fields)


def stamp(client: Any, headers: dict[str, str], count: int) -> None:
    digests = [hashlib.sha256(random.randbytes(16)).hexdigest() for _ in range(count)]
    response = client.post("/v1/stamps", json={"digests": digests}, headers=headers)
    assert response.status_code == 200, response.text


def tree_size_of(note: str) -> int:
    return int(note.split("\n")[1])


def test_the_checkpoint_held_is_replaced_when_one_is_signed(settings_of: Settings) -> None:
    with running_stack(settings_of) as stack:
        officer = stack.auth("officer")
        engine = stack.runtime.engine
        reader = reader_for(engine)
        counter = Statements(engine)
        try:
            for total in (3, 5):
                stamp(stack.client, officer, total - (3 if total == 5 else 0))
                stack.runtime.seal()  # this process's sealer: it announces the checkpoint
                counter.take()
                held = reader.run(reader.held)
                assert counter.take() == [], "held in memory, not read"
                assert held is not None and held.size == total
                assert stack.client.get("/v1/log/checkpoint").text == held.note
        finally:
            counter.close()

        # Another process seals (its own engine, so nothing is announced here): the held
        # checkpoint is now stale, and the next answer for "the latest" notices it by size.
        other = make_engine(settings_of.resolved_database_url)
        try:
            stamp(stack.client, officer, 4)
            assert seal_once(other, stack.runtime.signer, max_batch=100) is not None
            assert reader.run(reader.held).size == 5  # type: ignore[union-attr]
            proof = stack.client.get("/v1/log/proof/inclusion", params={"index": 6})
            assert proof.status_code == 200, proof.text
            assert proof.json()["tree_size"] == 9
            consistency = stack.client.get("/v1/log/proof/consistency", params={"from": 5})
            assert consistency.json()["second"] == 9
            stamp(stack.client, officer, 2)
            assert seal_once(other, stack.runtime.signer, max_batch=100) is not None
            note = stack.client.get("/v1/log/checkpoint").text
            assert tree_size_of(note) == 11, "the checkpoint endpoint compares the log size"
            vkey = stack.runtime.signer.verifier()
            checkpoint = open_checkpoint(note, [vkey])
            leaf = stack.client.get("/v1/log/proof/inclusion", params={"index": 10}).json()
            verify_inclusion(
                bytes.fromhex(leaf["leaf_hash"]),
                10,
                11,
                [bytes.fromhex(h) for h in leaf["hashes"]],
                checkpoint.root,
            )
        finally:
            other.dispose()


def test_a_size_beyond_the_held_checkpoint_is_looked_up_again(settings_of: Settings) -> None:
    with running_stack(settings_of) as stack:
        officer = stack.auth("officer")
        stamp(stack.client, officer, 2)
        stack.runtime.seal()
        other = make_engine(settings_of.resolved_database_url)
        try:
            stamp(stack.client, officer, 3)
            seal_once(other, stack.runtime.signer, max_batch=100)
        finally:
            other.dispose()
        answer = stack.client.get("/v1/log/proof/consistency", params={"from": 2, "to": 5})
        assert answer.status_code == 200, answer.text
        refused = stack.client.get("/v1/log/proof/consistency", params={"from": 2, "to": 6})
        assert refused.status_code == 422
        assert refused.json()["detail"] == "size must be 1..5 (the latest checkpoint)"


# --- dead connections (PostgreSQL) ----------------------------------------------------


def backends_of(admin: Engine, database: str) -> list[int]:
    with admin.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"
            ),
            {"db": database},
        )
        return [int(r[0]) for r in rows]


def terminate(admin: Engine, pids: list[int]) -> None:
    with admin.connect() as conn:
        for pid in pids:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    wait_until(lambda: _gone(admin, pids), 60, f"backends {pids} to exit")


def _gone(admin: Engine, pids: list[int]) -> bool:
    with admin.connect() as conn:
        alive = conn.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"), {"pids": pids}
        ).scalar_one()
    return alive == 0


@pytest.fixture
def admin(postgres_url: str) -> Iterator[Engine]:
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.mark.postgres
def test_proofs_answer_after_the_servers_end_of_their_connections_was_killed(
    postgres_url: str, admin: Engine, tmp_path: Path
) -> None:
    with fresh_postgres_database(postgres_url) as url:
        settings = Settings(data_dir=tmp_path / "data", database_url=url, run_sealer=False)
        with running_stack(settings) as stack:
            stamp(stack.client, stack.auth("officer"), 5)
            stack.runtime.seal()
            first = stack.client.get("/v1/log/proof/inclusion", params={"index": 3})
            assert first.status_code == 200, first.text
            database = stack.runtime.engine.url.database
            assert database is not None
            pooled = backends_of(admin, database)
            assert pooled, "the service keeps its connections in a pool"
            terminate(admin, pooled)
            again = stack.client.get("/v1/log/proof/inclusion", params={"index": 3})
            assert again.status_code == 200, again.text
            assert again.json() == first.json()
            assert stack.client.get("/v1/log/checkpoint").status_code == 200
            consistency = stack.client.get("/v1/log/proof/consistency", params={"from": 2})
            assert consistency.status_code == 200, consistency.text


@pytest.mark.postgres
def test_a_read_on_a_connection_that_dies_under_it_is_repeated_once(
    postgres_engine: Engine, admin: Engine
) -> None:
    """The connection passes the pool's check and dies before its statement: the read
    fails with a disconnect and runs again on a new connection."""
    attempts: list[int] = []

    def read(conn: Connection) -> int:
        pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        attempts.append(pid)
        if len(attempts) == 1:
            terminate(admin, [pid])
        return int(conn.execute(text("SELECT 41 + 1")).scalar_one())

    assert read_retrying(postgres_engine, read) == 42
    assert len(attempts) == 2 and attempts[0] != attempts[1]


@pytest.mark.postgres
def test_a_failing_read_that_is_no_disconnect_is_not_repeated(postgres_engine: Engine) -> None:
    attempts: list[int] = []

    def read(conn: Connection) -> None:
        attempts.append(1)
        conn.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(DBAPIError) as failed:
        read_retrying(postgres_engine, read)
    assert not failed.value.connection_invalidated
    assert attempts == [1]


@pytest.mark.postgres
def test_the_pool_replaces_a_connection_the_server_closed_without_a_round_trip(
    postgres_engine: Engine, admin: Engine
) -> None:
    """Any route, not only proofs: a pooled connection the server closed is noticed at
    checkout (its socket has the server's goodbye to read) and replaced."""
    with postgres_engine.connect() as conn:
        pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    terminate(admin, [pid])
    with postgres_engine.connect() as conn:
        assert int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one()) != pid


def test_reader_for_is_one_reader_per_engine(sqlite_engine: Engine, tmp_path: Path) -> None:
    reader = reader_for(sqlite_engine)
    assert reader_for(sqlite_engine) is reader
    url = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade(url)
    other = make_engine(url)
    try:
        assert reader_for(other) is not reader, "another database, another reader"
    finally:
        other.dispose()
    results: list[LogReader] = []
    threads = [
        threading.Thread(target=lambda: results.append(reader_for(sqlite_engine))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r is reader for r in results)


def test_a_bulk_copy_of_the_memory_log_holds_the_same_tree(engine: Engine) -> None:
    """The bench's bulk path: every node the memory log holds beyond the SQL log's size,
    appended in one call, level by level (tiles left partial, then completed)."""
    memory = MemoryNodeStore()
    writer, sql = MerkleLog(memory), SqlNodeStore(engine)
    for size in (300, 1000, 1001, 2049):
        writer.append(LEAVES[writer.size : size])
        sql.append(memory.runs(sql.size()), sql.size(), size)
        copied = MerkleLog(SqlNodeStore(engine))
        assert copied.size == size
        for at in {1, 63, 64, 65, size // 2, size - 1, size}:
            assert copied.root(at) == writer.root(at), (size, at)
            assert copied.inclusion_proof(at - 1, size) == writer.inclusion_proof(at - 1, size)
            assert copied.consistency_proof(at, size) == writer.consistency_proof(at, size)
