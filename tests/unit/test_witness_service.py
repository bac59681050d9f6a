"""The witness's state folder, its HTTP answers (in-process ASGI, no socket), and the
log-side reading of its answers, against verifier.cosignature."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import urllib3
from fastapi.testclient import TestClient

from anchoring.queue import CheckpointRecord
from evidence_api.core.config import WitnessEndpoint
from evidence_api.trust.cosigning import (
    WitnessAhead,
    WitnessClient,
    WitnessError,
    _size,
    build_request,
    read_cosignature,
)
from evidence_api.witness.protocol import LogState
from evidence_api.witness.server import Witness, create_app, log_keys_by_origin
from evidence_api.witness.state import StateError, StateStore
from tests.support.witnesses import FakeLog
from verifier.cosignature import (
    Cosignature,
    WitnessPolicy,
    WitnessSigner,
    add_cosignatures,
    check_witnesses,
)
from verifier.note import parse_note

LOG = FakeLog.new()
SIGNER = WitnessSigner.generate("court.example.cn/witness")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    opened = StateStore(tmp_path / "state")
    yield opened
    opened.close()


@pytest.fixture
def client(store: StateStore) -> TestClient:
    witness = Witness(SIGNER, log_keys_by_origin([LOG.vkey]), store)
    return TestClient(create_app(witness), raise_server_exceptions=False)


# --- the state folder ----------------------------------------------------------------------


def test_state_survives_a_reopen_and_is_written_privately(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    first = StateStore(folder)
    first.put(LogState(LOG.signer.name, 7, LOG.root(7), LOG.checkpoint(7), 123))
    first.close()
    again = StateStore(folder)
    try:
        state = again.get(LOG.signer.name)
        assert state is not None and (state.size, state.root) == (7, LOG.root(7))
        files = list(folder.glob("log-*.json"))
        assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
        assert not list(folder.glob(".*.tmp"))
    finally:
        again.close()


def test_one_witness_process_per_state_folder(store: StateStore) -> None:
    with pytest.raises(StateError, match="in use"):
        StateStore(store.folder)


def test_a_corrupt_or_misplaced_state_file_refuses_to_start(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    (folder / "log-00.json").write_text("{not json")
    with pytest.raises(StateError):
        StateStore(folder)
    os.unlink(folder / "log-00.json")
    good = StateStore(folder)
    good.put(LogState("a.example/log", 1, LOG.root(1), "n", 1))
    good.close()
    moved = folder / "log-moved.json"
    next(folder.glob("log-*.json")).rename(moved)
    with pytest.raises(StateError, match="another origin"):
        StateStore(folder)


# --- the HTTP answers ---------------------------------------------------------------------


def test_cosigns_and_records_before_answering(client: TestClient, store: StateStore) -> None:
    answer = client.post("/add-checkpoint", content=LOG.body(0, 10))
    assert answer.status_code == 200, answer.text
    assert answer.text.startswith("— court.example.cn/witness ") and answer.text.endswith("\n")
    cosignature = Cosignature.from_line(answer.text)
    text = parse_note(LOG.checkpoint(10)).text
    assert SIGNER.key().verify(cosignature, text)
    # the answer appended to the checkpoint is a cosigned note the verifier accepts
    note = add_cosignatures(LOG.checkpoint(10), [cosignature])
    verdict = check_witnesses(note, WitnessPolicy.of([SIGNER.key()]))
    assert verdict.met and verdict.cosigned[0][0] == SIGNER.name
    state = store.get(LOG.signer.name)
    assert state is not None and state.size == 10
    info = client.get("/").json()
    assert info["vkey"] == SIGNER.key().to_text()
    assert info["logs"][0]["size"] == 10 and info["logs"][0]["root"] == LOG.root(10).hex()


def test_the_spec_statuses(client: TestClient, store: StateStore) -> None:
    assert client.post("/add-checkpoint", content=LOG.body(0, 10)).status_code == 200
    stale = client.post("/add-checkpoint", content=LOG.body(0, 12))
    assert (stale.status_code, stale.text) == (409, "10\n")
    assert stale.headers["content-type"].startswith("text/x.tlog.size")
    assert client.post("/add-checkpoint", content=LOG.body(10, 12)).status_code == 200
    fork = [*LOG.leaves[:11], b"forked", *LOG.leaves[12:]]
    split = client.post("/add-checkpoint", content=LOG.body(12, 12, note=LOG.checkpoint(12, fork)))
    assert split.status_code == 409 and split.headers["content-type"] == "application/problem+json"
    assert "split view" in split.json()["detail"]
    assert list((store.folder / "evidence").iterdir()), "the split view is kept as evidence"
    bad = client.post("/add-checkpoint", content=LOG.body(12, 20, proof=LOG.proof(11, 20)))
    assert bad.status_code == 422
    rollback = client.post("/add-checkpoint", content=LOG.body(12, 11, proof=[]))
    assert rollback.status_code == 400
    other = FakeLog.new("other.example.cn/log")
    assert client.post("/add-checkpoint", content=other.body(0, 3)).status_code == 404
    state = store.get(LOG.signer.name)
    assert state is not None and (state.size, state.root) == (12, LOG.root(12))


def test_hostile_requests_get_precise_4xx(client: TestClient, store: StateStore) -> None:
    assert client.post("/add-checkpoint", content=b"x" * 20_000).status_code == 413
    for i in range(5):  # unknown origins: 404, and nothing is kept for them (not even a lock)
        other = FakeLog.new(f"other{i}.example.cn/log", leaves=3)
        assert client.post("/add-checkpoint", content=other.body(0, 3)).status_code == 404
    assert store._locks == {} and store.all() == []
    assert client.post("/add-checkpoint", content=b"\x00garbage").status_code == 400
    assert client.get("/add-checkpoint").status_code == 405
    assert client.get("/nothing-here").status_code == 404
    assert client.get("/healthz").text == "ok\n"


def test_concurrent_requests_for_one_log_are_serialised(store: StateStore) -> None:
    """Many racing submissions of growing sizes: the recorded size never goes back, and
    every cosigned size was, when it was cosigned, consistent with the recorded one."""
    witness = Witness(SIGNER, log_keys_by_origin([LOG.vkey]), store)
    app = TestClient(create_app(witness))
    assert app.post("/add-checkpoint", content=LOG.body(0, 1)).status_code == 200
    results: list[int] = []

    def push(new: int) -> None:
        for _ in range(3):
            state = store.get(LOG.signer.name)
            old = state.size if state else 0
            if old > new:
                return
            got = app.post("/add-checkpoint", content=LOG.body(old, new))
            if got.status_code == 200:
                results.append(new)
                return

    threads = [threading.Thread(target=push, args=(n,)) for n in range(2, 30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = store.get(LOG.signer.name)
    assert final is not None and final.size == max(results)


# --- the log's side: requests and answers ---------------------------------------------------


def test_build_request_is_what_the_witness_parses() -> None:
    body = build_request(3, LOG.proof(3, 9), LOG.checkpoint(9))
    assert body.decode() == LOG.body(3, 9)


def test_read_cosignature_takes_our_witness_line_and_checks_it() -> None:
    text = parse_note(LOG.checkpoint(5)).text
    ours = SIGNER.cosign(text, 1_800_000_000)
    stranger = WitnessSigner.generate("stranger.example/w").cosign(text, 1)
    answer = (stranger.to_line() + ours.to_line()).encode()
    assert read_cosignature(answer, SIGNER.key(), text) == ours
    with pytest.raises(WitnessError, match="no cosignature"):
        read_cosignature(stranger.to_line().encode(), SIGNER.key(), text)
    other_text = parse_note(LOG.checkpoint(6)).text
    with pytest.raises(WitnessError, match="does not verify"):
        read_cosignature(SIGNER.cosign(other_text, 1).to_line().encode(), SIGNER.key(), text)
    with pytest.raises(WitnessError):
        read_cosignature(b"not a line\n", SIGNER.key(), text)


def test_the_409_size_body() -> None:
    assert _size(b"42\n") == 42
    for bad in (b"42", b"x\n", b"-1\n", b"1" * 30 + b"\n"):
        with pytest.raises(WitnessError):
            _size(bad)


def test_a_slow_body_gets_408_and_changes_nothing(store: StateStore) -> None:
    """A client that sends its headers and then stalls is cut off after the body timeout."""
    import asyncio  # noqa: PLC0415

    witness = Witness(SIGNER, log_keys_by_origin([LOG.vkey]), store, body_timeout=0.2)
    app = create_app(witness)
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, object]:
        await asyncio.sleep(3600)  # never sends the body it announced
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/add-checkpoint",
        "raw_path": b"/add-checkpoint",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-length", b"100")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8300),
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 10))
    assert sent[0]["status"] == 408
    assert store.get(LOG.signer.name) is None


class InProcessClient(WitnessClient):
    """The log's client, its HTTP exchange handed to an in-process witness app."""

    app: TestClient

    def post(self, body: bytes) -> tuple[int, str, bytes]:
        got = self.app.post("/add-checkpoint", content=body)
        kind = got.headers.get("content-type", "").split(";")[0].strip()
        return got.status_code, kind, got.content


def log_client(app: TestClient) -> InProcessClient:
    endpoint = WitnessEndpoint(url="http://witness.invalid", vkey=SIGNER.key().to_text())
    client = InProcessClient(endpoint, 5.0, urllib3.PoolManager())
    client.app = app
    return client


def record(size: int) -> CheckpointRecord:
    return CheckpointRecord(size, LOG.root(size), LOG.checkpoint(size), datetime.now(UTC))


def test_the_log_retries_once_with_the_size_the_witness_names(client: TestClient) -> None:
    assert client.post("/add-checkpoint", content=LOG.body(0, 10)).status_code == 200
    ours = log_client(client)  # knows nothing: starts with old 0
    asked: list[tuple[int, int]] = []

    def proof(old: int, new: int) -> list[bytes]:
        asked.append((old, new))
        return LOG.proof(old, new)

    cosignature = ours.submit(record(25), proof)
    assert asked == [(10, 25)]  # the 409 named 10; the second request carried the proof
    assert SIGNER.key().verify(cosignature, parse_note(LOG.checkpoint(25)).text)
    with pytest.raises(WitnessAhead) as ahead:
        log_client(client).submit(record(20), proof)
    assert ahead.value.size == 25
