"""Group commit (evidence_api.intake.submit.GroupCommit): writes waiting while a commit
runs share the next transaction; a write is answered only after its transaction
committed; one failing write fails alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from evidence_api.intake.submit import GroupCommit, group_commit

DEADLINE = 60.0


class FakeSession:
    """Records what a transaction's writes added; ``log`` is shared by every transaction."""

    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.log = log
        self.added: list[Any] = []


class FakeDatabase:
    """Transactions that commit what their writes added (a write raising rolls back the
    whole transaction), with a gate the test can close to hold a commit."""

    def __init__(self) -> None:
        self.committed: list[list[Any]] = []
        self.log: list[tuple[str, Any]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        session = FakeSession(self.log)
        self.entered.set()
        yield session  # an exception here rolls back: nothing recorded
        assert self.gate.wait(DEADLINE)
        with self.lock:
            self.committed.append(session.added)
            self.log.append(("commit", list(session.added)))


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def add(value: Any) -> Callable[[Any], Any]:
    def work(session: FakeSession) -> Any:
        session.added.append(value)
        return f"done {value}"

    return work


def test_writes_waiting_during_a_commit_share_the_next_transaction() -> None:
    db = FakeDatabase()
    writer = GroupCommit(db.transaction)
    db.gate.clear()  # the first commit is held until the others are waiting
    results: dict[int, Any] = {}

    def submit(n: int) -> None:
        results[n] = writer.write(add(n))

    first = threading.Thread(target=submit, args=(0,))
    first.start()
    assert db.entered.wait(DEADLINE)
    others = [threading.Thread(target=submit, args=(n,)) for n in range(1, 21)]
    for thread in others:
        thread.start()
    wait_until(lambda: len(writer._queue) == 20)
    db.gate.set()
    for thread in [first, *others]:
        thread.join(DEADLINE)
    assert results == {n: f"done {n}" for n in range(21)}
    assert db.committed[0] == [0]
    assert sorted(db.committed[1]) == list(range(1, 21))  # one transaction for all 20
    assert len(db.committed) == 2


def test_a_write_is_answered_only_after_its_commit() -> None:
    db = FakeDatabase()
    writer = GroupCommit(db.transaction)
    for n in range(5):
        assert writer.write(add(n)) == f"done {n}"
        db.log.append(("answered", n))
    for n in range(5):
        assert db.log.index(("commit", [n])) < db.log.index(("answered", n))


def test_one_failing_write_fails_alone_and_the_others_commit() -> None:
    db = FakeDatabase()
    writer = GroupCommit(db.transaction)
    db.gate.clear()
    outcomes: dict[int, Any] = {}

    def bad(session: FakeSession) -> None:
        session.added.append("bad")
        raise ValueError("unique key taken")

    def submit(n: int) -> None:
        try:
            outcomes[n] = writer.write(bad if n == 3 else add(n))
        except ValueError as exc:
            outcomes[n] = exc

    first = threading.Thread(target=submit, args=(0,))
    first.start()
    assert db.entered.wait(DEADLINE)
    others = [threading.Thread(target=submit, args=(n,)) for n in range(1, 8)]
    for thread in others:
        thread.start()
    wait_until(lambda: len(writer._queue) == 7)
    db.gate.set()
    for thread in [first, *others]:
        thread.join(DEADLINE)
    assert isinstance(outcomes[3], ValueError)
    assert {n: outcomes[n] for n in outcomes if n != 3} == {
        n: f"done {n}" for n in range(8) if n != 3
    }
    committed = [v for batch in db.committed for v in batch]
    assert sorted(committed) == [n for n in range(8) if n != 3]  # each once, "bad" never
    assert "bad" not in committed


def test_a_failed_commit_reaches_its_writer() -> None:
    @contextmanager
    def broken() -> Iterator[Any]:
        yield FakeSession([])
        raise ConnectionError("database went away")

    with pytest.raises(ConnectionError):
        GroupCommit(broken).write(add(1))


def test_one_writer_per_transaction_factory() -> None:
    db, other = FakeDatabase(), FakeDatabase()
    assert group_commit(db.transaction) is group_commit(db.transaction)
    assert group_commit(db.transaction) is not group_commit(other.transaction)


def test_a_lost_database_fails_the_whole_group_at_once_and_the_writer_recovers() -> None:
    db = FakeDatabase()
    attempts: list[int] = []
    down = threading.Event()
    down.set()

    @contextmanager
    def flaky() -> Iterator[Any]:
        with db.transaction() as session:
            yield session
            assert db.gate.wait(DEADLINE)
            attempts.append(len(session.added))
            if down.is_set():  # the connection is lost at COMMIT: nothing recorded
                raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    writer = GroupCommit(flaky)
    db.gate.clear()
    outcomes: dict[int, Any] = {}

    def submit(n: int) -> None:
        try:
            outcomes[n] = writer.write(add(n))
        except OperationalError as exc:
            outcomes[n] = exc

    first = threading.Thread(target=submit, args=(0,))
    first.start()
    assert db.entered.wait(DEADLINE)
    others = [threading.Thread(target=submit, args=(n,)) for n in range(1, 11)]
    for thread in others:
        thread.start()
    wait_until(lambda: len(writer._queue) == 10)
    db.gate.set()
    for thread in [first, *others]:
        thread.join(DEADLINE)
    assert all(isinstance(outcomes[n], OperationalError) for n in range(11))
    assert attempts == [1, 10]  # one attempt per group: no write retried alone
    down.clear()
    assert writer.write(add(11)) == "done 11"  # the same writer, once the database is back
