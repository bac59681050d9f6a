"""The supervision logic of the managed chain node, without a node: restart pauses,
the one-node-per-state-file lock, exit reasons, the port check, and the anchorer's
log-once-per-state-change bookkeeping."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from anchoring.node import (
    BACKOFF_CAP,
    BACKOFF_FIRST,
    STABLE_AFTER,
    NodeError,
    NodeLockedError,
    StateLock,
    backoff,
    backup_path,
    backup_state,
    exit_reason,
    next_attempt,
    port_in_use,
    restore_state,
    saved_block,
)
from anchoring.periodic import MAX_REASON_CHARS, FailureState, Periodic, failure_reason


def test_backoff_doubles_from_one_second_up_to_the_cap() -> None:
    assert [backoff(n) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff(0) == BACKOFF_FIRST and backoff(10_000) == BACKOFF_CAP


def test_backoff_refuses_a_negative_attempt() -> None:
    with pytest.raises(ValueError, match="attempt must be >= 0"):
        backoff(-1)


def test_a_node_that_stayed_up_starts_over_one_that_crash_loops_keeps_backing_off() -> None:
    assert next_attempt(3, STABLE_AFTER) == 0
    assert next_attempt(3, STABLE_AFTER - 0.1) == 4
    assert next_attempt(0, 0.5) == 1


def test_exit_reason_names_the_signal_or_the_status() -> None:
    assert exit_reason(-signal.SIGKILL) == "anvil killed by SIGKILL"
    assert exit_reason(3) == "anvil exited with 3"
    assert exit_reason(-200) == "anvil killed by signal 200"


def test_state_lock_admits_one_holder_and_names_it(tmp_path: Path) -> None:
    state = tmp_path / "anvil-state.json"
    first, second = StateLock(state), StateLock(state)
    first.acquire()
    assert first.path == tmp_path / "anvil-state.json.lock"
    assert first.path.read_text().strip() == str(os.getpid())
    # flock locks belong to the open file: a second open in this very process is refused
    with pytest.raises(NodeLockedError, match=rf"pid {os.getpid()}.*rewind the chain"):
        second.acquire()
    assert not second.held
    first.release()
    second.acquire()  # released: the next one gets it
    assert second.held
    second.release()


def test_state_lock_acquire_twice_by_its_holder_is_harmless(tmp_path: Path) -> None:
    lock = StateLock(tmp_path / "s.json")
    lock.acquire()
    lock.acquire()
    lock.release()
    lock.release()


def test_port_in_use_sees_a_listener_and_not_a_closed_port() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_in_use(port)
    assert not port_in_use(port)


def test_failure_state_logs_a_failure_once_then_its_recovery() -> None:
    state = FailureState("anchorer")
    down = ConnectionError("[Errno 111] Connection refused\nmore detail")
    assert state.succeeded(0.0) is None  # never failed: nothing to say
    line = state.failed(down, 10.0)
    assert line == (
        "anchorer failing: ConnectionError: [Errno 111] Connection refused; "
        "retrying quietly until it works"
    )
    assert [state.failed(down, t) for t in (11.0, 12.0, 13.0)] == [None, None, None]
    changed = state.failed(TimeoutError("read timed out"), 14.0)  # a new kind of failure
    assert changed is not None and "TimeoutError: read timed out" in changed
    assert state.succeeded(15.5) == "anchorer working again after 5.5 s (5 failed runs)"
    assert not state.failing and state.succeeded(16.0) is None


def test_failure_reason_is_one_bounded_line() -> None:
    assert failure_reason(RuntimeError()) == "RuntimeError"
    long = failure_reason(RuntimeError("x" * 1000 + "\nsecond line"))
    assert len(long) == MAX_REASON_CHARS and "\n" not in long


def test_periodic_logs_one_warning_per_outage_not_one_per_tick(
    caplog: pytest.LogCaptureFixture,
) -> None:
    up = [False]

    def anchor() -> None:
        if not up[0]:
            raise ConnectionError("chain node down")

    worker = Periodic("anchorer", 3600, anchor)
    with caplog.at_level("DEBUG", logger="anchoring.periodic"):
        for _ in range(25):
            worker.run_once()
        up[0] = True
        worker.run_once()
        worker.run_once()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelname != "DEBUG"]
    assert [level for level, _ in lines] == ["WARNING", "INFO"], lines
    assert "chain node down" in lines[0][1] and "25 failed runs" in lines[1][1]
    assert not [r for r in caplog.records if r.levelname != "DEBUG" and r.exc_info]


# --- a state file anvil left cut short ------------------------------------------------------

DUMP = b'{"block": {}, "blocks": [{"header": {"number": "0x0", "timestamp": "0x1"}}]}'


def test_backup_keeps_a_complete_dump_and_skips_one_being_written(tmp_path: Path) -> None:
    state = tmp_path / "anvil-state.json"
    state.write_bytes(DUMP)
    assert backup_state(state)
    assert backup_path(state).read_bytes() == DUMP
    state.write_bytes(DUMP[:40])  # anvil mid-write: O_TRUNC, then the bytes
    assert not backup_state(state)
    assert backup_path(state).read_bytes() == DUMP  # the good copy stays
    assert not backup_state(tmp_path / "missing.json")


@pytest.mark.parametrize("cut", [0, 1, 40, len(DUMP) - 1], ids=lambda n: f"cut-at-{n}")
def test_a_cut_short_state_is_restored_from_the_last_complete_copy(
    tmp_path: Path, cut: int
) -> None:
    state = tmp_path / "anvil-state.json"
    state.write_bytes(DUMP)
    backup_state(state)
    state.write_bytes(DUMP[:cut])
    assert restore_state(state)
    assert state.read_bytes() == DUMP


def test_a_complete_or_absent_state_is_left_alone(tmp_path: Path) -> None:
    state = tmp_path / "anvil-state.json"
    assert not restore_state(state)
    assert not state.exists()
    state.write_bytes(DUMP)
    backup_path(state).write_bytes(b'{"blocks": []}')
    assert not restore_state(state)
    assert state.read_bytes() == DUMP


def test_a_cut_short_state_without_a_copy_refuses_rather_than_start_a_fresh_chain(
    tmp_path: Path,
) -> None:
    state = tmp_path / "anvil-state.json"
    state.write_bytes(DUMP[:10])
    with pytest.raises(NodeError, match=r"incomplete .*no complete copy"):
        restore_state(state)
    assert state.read_bytes() == DUMP[:10]  # left for the operator, not replaced


def test_saved_block_reads_only_a_complete_dump(tmp_path: Path) -> None:
    """What ``ManagedAnvil.wait_saved`` waits on: the newest block of a complete dump;
    a missing file, a dump cut short or one without blocks counts as nothing saved."""
    state = tmp_path / "anvil-state.json"
    assert saved_block(state) is None
    state.write_text('{"best_block_number": 7, "blocks": [{"number": "0x7"}]}')
    assert saved_block(state) == 7
    state.write_text('{"best_block_number": 8, "blocks": [{"numb')  # anvil mid-write
    assert saved_block(state) is None
    state.write_text('{"best_block_number": 9}')
    assert saved_block(state) is None
