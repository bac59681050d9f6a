"""The SQLite writer lock: processes' group commits take SQLite's one writer in turn."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from anchoring.entries import make_entry, utc_timestamp
from anchoring.queue import QueuedEntry, enqueue
from anchoring.sealer import seal_pending
from evidence_api.core.db import WriterLock, writer_lock
from evidence_api.core.ids import new_id
from evidence_api.intake.submit import GroupCommit
from verifier.merkle import leaf_hash
from verifier.note import SignerKey


def test_a_second_holder_waits_until_the_first_lets_go(tmp_path: Path) -> None:
    """Two acquisitions (separate opens of the lock file, as two processes make) never hold
    it at once: the second gets it only after the first is released."""
    lock = writer_lock(create_engine(f"sqlite:///{tmp_path / 'evidence.db'}"))
    assert (tmp_path / "evidence.db-writer.lock").exists() is False
    first_holds, release, second_holds = threading.Event(), threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with lock():
            order.append("first in")
            first_holds.set()
            release.wait(60)
            order.append("first out")

    def second() -> None:
        first_holds.wait(60)
        with lock():
            order.append("second in")
            second_holds.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    assert first_holds.wait(60)
    assert not second_holds.wait(0.3)  # can only fail if the lock admits two holders
    release.set()
    assert second_holds.wait(60)
    for t in threads:
        t.join(60)
    assert order == ["first in", "first out", "second in"]
    assert (tmp_path / "evidence.db-writer.lock").exists()


def test_other_databases_need_no_lock() -> None:
    assert writer_lock(create_engine("sqlite://")) is nullcontext
    assert writer_lock(create_engine("sqlite:///:memory:")) is nullcontext
    shared_memory = "sqlite:///file:evidence?mode=memory&cache=shared&uri=true"
    assert writer_lock(create_engine(shared_memory)) is nullcontext
    postgres = create_engine("postgresql+psycopg://u@127.0.0.1:1/db")  # never connects
    assert writer_lock(postgres) is nullcontext


def recording_lock(events: list[str]) -> WriterLock:
    """A writer lock that writes down when it is taken and let go."""

    @contextmanager
    def exclusive() -> Iterator[None]:
        events.append("lock")
        yield
        events.append("unlock")

    return exclusive


def test_a_group_commit_holds_the_lock_around_its_whole_transaction() -> None:
    events: list[str] = []
    exclusive = recording_lock(events)

    @contextmanager
    def transaction() -> Iterator[Session]:
        events.append("begin")
        yield Session()
        events.append("commit")

    writer = GroupCommit(transaction, exclusive=exclusive)
    assert writer.write(lambda session: events.append("work") or 7) == 7
    assert events == ["lock", "begin", "work", "commit", "unlock"]


def test_the_sealer_holds_the_lock_around_each_seal(sqlite_engine: Engine) -> None:
    """seal_pending takes ``exclusive`` around every batch it seals and around its last,
    empty look, never across batches (the group commits get their turns in between)."""
    at, received = utc_timestamp(), datetime.now(UTC)
    queued = []
    for n in range(5):
        entry = make_entry("stamp", new_id("st"), {"sha256": f"{n:064x}"}, at=at)
        queued.append(QueuedEntry(entry, leaf_hash(entry.leaf_data()), received, "(unread)"))
    with sqlite_engine.begin() as conn:
        enqueue(conn, queued)
    events: list[str] = []
    exclusive = recording_lock(events)

    signer = SignerKey.generate("test.local/log")
    sealed = seal_pending(sqlite_engine, signer, max_batch=2, exclusive=exclusive)
    assert [s.count for s in sealed] == [2, 2, 1]
    assert events == ["lock", "unlock"] * 4
