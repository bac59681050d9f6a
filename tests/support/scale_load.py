"""Load for the scale-out stack: concurrent clients spreading evidence submissions and
stamps over the replicas, and the checks that nothing acknowledged is lost or doubled.

CONTRACT (filled in by the stack's implementation; the signatures are fixed:
``tests/e2e/test_scale_*.py`` and ``bench/scale.py`` call them).

A retried request is safe to retry: an evidence upload carries an ``Idempotency-Key``
(a retry on another replica gets the first answer again if the first one was recorded),
and a stamp request is sent again with the same digests. A stamp request whose answer
was lost after the service recorded it (the replica killed mid-answer) leaves stamp
entries nobody was acknowledged for: :func:`check_log` lists them as
``unacknowledged``, and the caller bounds them by :attr:`LoadResult.in_doubt`.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import Engine, select

from anchoring.schema import log_entry
from tests.support.api import auth_header, evidence_form, metadata
from verifier.checkpoint import open_checkpoint
from verifier.errors import MerkleError
from verifier.merkle import verify_consistency
from verifier.note import VerifierKey

#: Bytes of each evidence upload's one file.
EVIDENCE_BYTES = 1024
#: Seconds between two ``GET /v1/log/checkpoint`` of the checkpoint watcher.
CHECKPOINT_POLL = 0.5
#: Seconds a client waits for one answer (a loaded 2-core machine).
REQUEST_TIMEOUT = 60.0
#: Failed answers kept verbatim for the assertion message.
FAILURE_SAMPLES = 10


@dataclass(frozen=True)
class Ack:
    """One acknowledged item: a receipt the service issued."""

    kind: str  # "evidence" | "stamp"
    #: the log entry's id (``entry_id`` in the receipt)
    entry_id: str
    #: the evidence id or the stamp id
    item_id: str
    #: which replica answered (its base URL)
    replica: str
    #: monotonic time of the answer
    at: float
    #: the stamped digest (stamps only)
    digest: str = ""


@dataclass
class LoadResult:
    acks: list[Ack] = field(default_factory=list)
    #: answers that were not acknowledgements, by reason ("503", "connect", ...): each was
    #: retried on the next replica, so no item is missing from ``acks`` because of them
    refusals: dict[str, int] = field(default_factory=dict)
    #: every signed checkpoint note a client saw (receipts, ``GET /v1/log/checkpoint``)
    checkpoints: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: unexpected answers (4xx other than 429, 5xx other than 503), by status: each item
    #: so answered is given up, so the checks fail
    failures: dict[str, int] = field(default_factory=dict)
    #: a few of those answers' bodies, for the assertion message
    failure_samples: list[str] = field(default_factory=list)
    #: stamp requests retried after the request may have reached the service (the answer
    #: broke off or timed out): each may have left entries nobody was acknowledged for
    in_doubt: int = 0
    #: items not acknowledged when :meth:`Load.join` returned (still running or failed)
    unfinished: int = 0

    def rate(self) -> float:
        return len(self.acks) / self.seconds if self.seconds else 0.0

    def by_replica(self) -> dict[str, int]:
        """Acknowledgements per replica URL."""
        return dict(Counter(ack.replica for ack in self.acks))


class _RefusedError(Exception):
    """An answer to retry on the next replica: ``reason`` counted, ``pause`` waited."""

    def __init__(self, reason: str, pause: float, in_doubt: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.pause = pause
        self.in_doubt = in_doubt


class Load:
    """``clients`` threads sending ``total`` items (``stamp_share`` of them stamp
    requests of ``stamp_batch`` digests each, the rest 1 KB evidence uploads) to the URLs
    ``urls()`` returns at each request, round-robin; a refused or broken request goes to
    the next replica after ``retry_pause`` seconds (a 503's ``Retry-After`` capped by it),
    until acknowledged. With ``hold_at``, items from that number on wait for
    :meth:`release` (a drill pauses the load there until it has stopped its server, so the
    outage falls inside the load however slow the machine)."""

    def __init__(
        self,
        urls: Callable[[], list[str]],
        token: str,
        *,
        clients: int = 64,
        total: int = 20_000,
        stamp_share: float = 0.5,
        stamp_batch: int = 1,
        retry_pause: float = 0.2,
        watch_checkpoints: bool = True,
        hold_at: int | None = None,
    ) -> None:
        self.urls = urls
        self.headers = auth_header(token)
        self.clients = clients
        self.total = total
        self.stamp_share = stamp_share
        self.stamp_batch = stamp_batch
        self.retry_pause = retry_pause
        self.watch_checkpoints = watch_checkpoints
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._next = 0
        self._done = 0
        self._notes: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._started = 0.0
        self._hold_at = total if hold_at is None else hold_at
        self._released = threading.Event()
        if hold_at is None:
            self._released.set()

    # -- running ---------------------------------------------------------------------

    def start(self) -> None:
        self._started = time.monotonic()
        self._threads = [
            threading.Thread(target=self._client, args=(i,), name=f"load-{i}", daemon=True)
            for i in range(self.clients)
        ]
        if self.watch_checkpoints:
            self._threads.append(
                threading.Thread(target=self._watch, name="load-checkpoints", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def done(self) -> int:
        """Items acknowledged so far."""
        with self._lock:
            return self._done

    def join(self, timeout: float) -> LoadResult:
        """Wait up to ``timeout`` s for every item; then stop the checkpoint watcher and
        return what was acknowledged (``unfinished``: items that were not)."""
        deadline = time.monotonic() + timeout
        for thread in self._threads[: self.clients]:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self.result.seconds = time.monotonic() - self._started
        self._stop.set()
        for thread in self._threads[self.clients :]:
            thread.join(30)
        with self._lock:
            self.result.unfinished = self.total - self._done
            self.result.checkpoints = sorted(self._notes)
            return self.result

    def release(self) -> None:
        """Let the items held at ``hold_at`` go."""
        self._released.set()

    def _claim(self) -> int | None:
        """The next item's number, or None once ``total`` are claimed (or stopped); items
        from ``hold_at`` on wait for :meth:`release`."""
        while True:
            with self._lock:
                if self._next >= self.total or self._stop.is_set():
                    return None
                if self._next < self._hold_at or self._released.is_set():
                    self._next += 1
                    return self._next - 1
            self._released.wait(0.5)

    def _is_stamp(self, item: int) -> bool:
        """Spread the stamps evenly: item ``n`` is one if the share's count steps at it."""
        return int((item + 1) * self.stamp_share) > int(item * self.stamp_share)

    def _client(self, number: int) -> None:
        turn = number  # each client starts on a different replica
        with httpx.Client(headers=self.headers, timeout=REQUEST_TIMEOUT) as client:
            while (item := self._claim()) is not None:
                turn = self._send(client, item, turn)

    def _send(self, client: httpx.Client, item: int, turn: int) -> int:
        """Send item ``item`` until acknowledged (or answered unexpectedly); returns the
        next round-robin turn."""
        request = _stamp_request(self.stamp_batch) if self._is_stamp(item) else _evidence_request()
        request.retry_pause = self.retry_pause
        while not self._stop.is_set():
            urls = self.urls()
            if not urls:
                self._refused(_RefusedError("no replica", self.retry_pause, False))
                continue
            url = urls[turn % len(urls)]
            turn += 1
            try:
                acks = request.send(client, url)
            except _RefusedError as refused:
                if refused.in_doubt and request.kind == "stamp":
                    with self._lock:
                        self.result.in_doubt += 1
                self._refused(refused)
                continue
            except _FailedError as failed:
                with self._lock:
                    key = str(failed.status)
                    self.result.failures[key] = self.result.failures.get(key, 0) + 1
                    if len(self.result.failure_samples) < FAILURE_SAMPLES:
                        self.result.failure_samples.append(failed.text)
                return turn
            with self._lock:
                self.result.acks += acks
                self._done += 1
            return turn
        return turn

    def _refused(self, refused: _RefusedError) -> None:
        with self._lock:
            reasons = self.result.refusals
            reasons[refused.reason] = reasons.get(refused.reason, 0) + 1
        time.sleep(refused.pause)

    def _watch(self) -> None:
        """Every :data:`CHECKPOINT_POLL` s, the newest checkpoint from the next replica."""
        turn = 0
        with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
            while not self._stop.wait(CHECKPOINT_POLL):
                urls = self.urls()
                if not urls:
                    continue
                turn += 1
                try:
                    response = client.get(f"{urls[turn % len(urls)]}/v1/log/checkpoint")
                except httpx.HTTPError:
                    continue
                if response.status_code == 200:
                    with self._lock:
                        self._notes.add(response.text)

    def stop(self) -> None:
        """Stop claiming items (the ones in flight still finish)."""
        self._stop.set()


class _FailedError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"{status}: {text}")
        self.status = status
        self.text = f"{status}: {text[:500]}"


def _classify(response: httpx.Response, retry_pause: float) -> None:
    """Raise :class:`_RefusedError` for a 503 or 429, :class:`_FailedError` for anything else that
    is not a 2xx."""
    if response.status_code in (429, 503):
        after = response.headers.get("Retry-After", "")
        pause = min(float(after), retry_pause) if after.isdigit() else retry_pause
        raise _RefusedError(str(response.status_code), pause, False)
    if not response.is_success:
        raise _FailedError(response.status_code, response.text)


@dataclass
class _Request:
    """One item's request, sent again unchanged on each retry."""

    kind: str
    files: dict[str, bytes] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str = ""
    digests: list[str] = field(default_factory=list)
    retry_pause: float = 0.2

    def send(self, client: httpx.Client, url: str) -> list[Ack]:
        try:
            if self.kind == "stamp":
                response = client.post(f"{url}/v1/stamps", json={"digests": self.digests})
            else:
                response = client.post(
                    f"{url}/v1/evidence",
                    files=evidence_form(self.files, self.meta),
                    headers={"Idempotency-Key": self.idempotency_key},
                )
        except httpx.ConnectError as exc:
            raise _RefusedError("connect", self.retry_pause, False) from exc
        except httpx.TimeoutException as exc:
            raise _RefusedError("timeout", self.retry_pause, True) from exc
        except httpx.TransportError as exc:  # the connection broke off mid-answer
            raise _RefusedError(type(exc).__name__, self.retry_pause, True) from exc
        _classify(response, self.retry_pause)
        return self._acks(response, url)

    def _acks(self, response: httpx.Response, url: str) -> list[Ack]:
        body = response.json()
        now = time.monotonic()
        if self.kind == "stamp":
            return [
                Ack("stamp", r["entry_id"], r["entry_id"], url, now, r["digest"])
                for r in body["receipts"]
            ]
        return [Ack("evidence", body["evidence_id"], body["evidence_id"], url, now)]


def _evidence_request() -> _Request:
    """A unique 1 KB upload with its idempotency key."""
    name = f"item-{uuid.uuid4().hex}.bin"
    return _Request(
        "evidence",
        files={name: os.urandom(EVIDENCE_BYTES)},
        meta=metadata(notes=f"scale load {name}"),
        idempotency_key=uuid.uuid4().hex,
    )


def _stamp_request(batch: int) -> _Request:
    """``batch`` random SHA-256 digests."""
    return _Request(
        "stamp", digests=[hashlib.sha256(os.urandom(32)).hexdigest() for _ in range(batch)]
    )


# -- checks --------------------------------------------------------------------------


@dataclass
class LogCheck:
    log_size: int
    entries: int
    duplicates: list[str]
    missing: list[str]
    #: entries of the load's kinds with no acknowledgement (a stamp request in doubt)
    unacknowledged: list[str] = field(default_factory=list)
    #: acknowledged entries present but not sealed yet
    unsealed: list[str] = field(default_factory=list)


def check_log(engine: Engine, acks: list[Ack]) -> LogCheck:
    """The log after the load is sealed: every acknowledged entry present and sealed once;
    the number of entries of the load's kinds equals the receipts issued."""
    kinds = sorted({ack.kind for ack in acks})
    with engine.connect() as conn:
        rows = conn.execute(
            select(log_entry.c.entry_id, log_entry.c.leaf_index).where(log_entry.c.kind.in_(kinds))
        ).all()
        sealed_total = conn.execute(
            select(log_entry.c.leaf_index).where(log_entry.c.leaf_index.is_not(None))
        ).all()
    leaf_of = {str(row.entry_id): row.leaf_index for row in rows}
    acked = Counter(ack.entry_id for ack in acks)
    return LogCheck(
        log_size=len(sealed_total),
        entries=len(rows),
        duplicates=sorted(entry for entry, n in acked.items() if n > 1),
        missing=sorted(entry for entry in acked if entry not in leaf_of),
        unacknowledged=sorted(entry for entry in leaf_of if entry not in acked),
        unsealed=sorted(entry for entry in acked if leaf_of.get(entry, 0) is None),
    )


def check_checkpoints(notes: list[str], vkey: str, base_url: str) -> int:
    """Every pair of the signed checkpoints seen is consistent (one history: each verified
    against ``vkey``, sorted by size, same size → same root, and a consistency proof from
    the service verified between neighbours and to the newest); returns how many distinct
    sizes were checked. Raises ``AssertionError`` naming a fork."""
    key = VerifierKey.from_text(vkey.strip())
    by_size: dict[int, tuple[bytes, str]] = {}
    for note in notes:
        checkpoint = open_checkpoint(note, [key])
        seen = by_size.setdefault(checkpoint.size, (checkpoint.root, note))
        assert seen[0] == checkpoint.root, (
            f"fork: two roots for size {checkpoint.size}: {seen[0].hex()} and "
            f"{checkpoint.root.hex()}"
        )
        assert seen[1] == note, (
            f"two different notes for size {checkpoint.size}:\n{seen[1]}\n{note}"
        )
    sizes = sorted(size for size in by_size if size > 0)
    if not sizes:
        return 0
    newest = sizes[-1]
    pairs = set(itertools.pairwise(sizes))
    pairs |= {(size, newest) for size in sizes[:-1]}
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT) as client:
        for first, second in sorted(pairs):
            _check_consistent(client, first, second, by_size[first][0], by_size[second][0])
    return len(sizes)


def _check_consistent(
    client: httpx.Client, first: int, second: int, root1: bytes, root2: bytes
) -> None:
    """The service's consistency proof from ``first`` to ``second`` verifies (else a fork)."""
    response = client.get("/v1/log/proof/consistency", params={"from": first, "to": second})
    assert response.status_code == 200, response.text
    proof = [bytes.fromhex(h) for h in response.json()["hashes"]]
    try:
        verify_consistency(first, second, root1, root2, proof)
    except MerkleError as exc:
        raise AssertionError(f"fork: checkpoints {first} and {second} inconsistent: {exc}") from exc
