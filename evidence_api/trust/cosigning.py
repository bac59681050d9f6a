"""The log's side of witnessing: each new checkpoint submitted to the configured
witnesses (C2SP ``tlog-witness`` ``add-checkpoint``), their cosignatures checked and
stored in ``checkpoint_cosignature``.

One step per tick (in-process timer "witnessing", or the Celery task
``evidence.witness``): every witness at once (one thread each, so a slow or dead witness
delays no other) gets, in order, each checkpoint newer than the one it last cosigned (at
most ``MAX_PER_TICK``, the newest), so that every checkpoint is cosigned while the
witnesses keep up — the anchored ones among them. Each request is bounded by
``witness_timeout``; a witness's first failure ends its turn until the next tick. Per
witness this process remembers the size it last cosigned:

* first contact (nothing known): the size it last cosigned in ``checkpoint_cosignature``
  (after a restart), else the newest checkpoint alone, ``old 0`` with no proof, per the spec;
* a 409 with ``text/x.tlog.size`` names the witness's size: one retry with the proof from
  that size; a size beyond the submitted checkpoint (an answer we lost) moves on to the
  checkpoints beyond it; one beyond our newest checkpoint is an error.

A returned line counts only if it is a cosignature by the configured key over this
checkpoint; it is stored idempotently (a second insert of the same row does nothing).
Failures are logged when a witness's state changes (failing, working again), not at
every tick; :func:`witness_status` gives each witness's last error in this process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import urllib3
from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from anchoring.log import MerkleLog
from anchoring.periodic import FailureState, failure_reason
from anchoring.queue import CheckpointRecord, latest_checkpoint
from anchoring.schema import checkpoint_cosignature, log_checkpoint
from anchoring.store.sql import SqlNodeStore
from evidence_api.core.config import WitnessEndpoint
from evidence_api.core.runtime import Runtime
from verifier.cosignature import Cosignature, WitnessKey
from verifier.errors import NoteFormatError
from verifier.note import parse_note

log = logging.getLogger("evidence.witnessing")

Step = Callable[[], object]

#: A witness's answer: a few cosignature lines. More is refused.
MAX_RESPONSE_BYTES = 16 * 1024
SIZE_CONTENT_TYPE = "text/x.tlog.size"
#: Checkpoints submitted to one witness per tick at most (the newest ones): every
#: checkpoint gets cosigned while the witness keeps up (the anchored ones among them);
#: after a long outage it catches up from the newest, the older ones are skipped.
MAX_PER_TICK = 32


class WitnessError(Exception):
    """One submission to a witness failed; the message is one line (English)."""


class WitnessAhead(WitnessError):  # noqa: N818 - a state, not a fault
    """The witness has cosigned a bigger checkpoint than the one submitted."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the witness has cosigned size {size}")
        self.size = size


@dataclass
class WitnessStatus:
    """What this process knows of one witness (for ``GET /v1/trust/witnesses``)."""

    url: str
    vkey: str
    #: the size the witness last cosigned for us, as far as this process knows
    last_size: int | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_success_at: datetime | None = None


#: This process's witnesses, by vkey; read by the trust routes and console.
_STATUS: dict[str, WitnessStatus] = {}
_STATUS_LOCK = threading.Lock()


def witness_status(vkey: str) -> WitnessStatus | None:
    with _STATUS_LOCK:
        return _STATUS.get(vkey)


def build_request(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """An ``add-checkpoint`` body: ``old <size>``, the proof lines, a blank line, the note."""
    import base64  # noqa: PLC0415

    lines = [f"old {old_size}\n"] + [base64.b64encode(h).decode() + "\n" for h in proof]
    return ("".join(lines) + "\n" + note).encode("utf-8")


def read_cosignature(body: bytes, key: WitnessKey, checkpoint_text: str) -> Cosignature:
    """The cosignature by ``key`` over ``checkpoint_text`` among the answer's lines (lines
    of other keys are ignored, as the spec says); :class:`WitnessError` if there is none
    or if ours does not verify."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WitnessError("the witness answered with bytes that are not UTF-8") from exc
    try:
        # the answer's lines appended to the checkpoint form a signed note
        note = parse_note(checkpoint_text + "\n" + text)
    except NoteFormatError as exc:
        raise WitnessError(f"the witness's answer is not signature lines: {exc}") from exc
    for sig in note.signatures:
        if (sig.name, sig.key_id) != (key.name, key.key_id):
            continue
        try:
            cosignature = Cosignature.from_signature(sig)
        except NoteFormatError as exc:
            raise WitnessError(f"the witness's line is not a cosignature: {exc}") from exc
        if not key.verify(cosignature, checkpoint_text):
            raise WitnessError("the witness's cosignature does not verify with its key")
        return cosignature
    raise WitnessError(f"the answer holds no cosignature by {key.name} ({key.key_id.hex()})")


def store_cosignature(conn: Connection, size: int, cosignature: Cosignature) -> None:
    """INSERT the cosignature on the checkpoint of ``size``; nothing if it is there."""
    values = {
        "size": size,
        "witness": cosignature.name,
        "key_id": cosignature.key_id,
        "timestamp": cosignature.timestamp,
        "signature": cosignature.signature,
        "created_at": datetime.now(UTC),
    }
    if conn.dialect.name == "postgresql":
        conn.execute(
            postgresql.insert(checkpoint_cosignature).values(values).on_conflict_do_nothing()
        )
    else:
        conn.execute(sqlite.insert(checkpoint_cosignature).values(values).on_conflict_do_nothing())


def newest_cosigned(conn: Connection, key: WitnessKey) -> tuple[int, int] | None:
    """(size, timestamp) of the newest checkpoint ``key`` cosigned, from the table."""
    row = conn.execute(
        select(checkpoint_cosignature.c.size, checkpoint_cosignature.c.timestamp)
        .where(
            checkpoint_cosignature.c.witness == key.name,
            checkpoint_cosignature.c.key_id == key.key_id,
        )
        .order_by(checkpoint_cosignature.c.size.desc())
        .limit(1)
    ).first()
    return None if row is None else (int(row.size), int(row.timestamp))


@dataclass
class WitnessClient:
    """Submits checkpoints to one witness and remembers the size it last cosigned."""

    endpoint: WitnessEndpoint
    timeout: float
    pool: urllib3.PoolManager
    key: WitnessKey = field(init=False)
    status: WitnessStatus = field(init=False)
    failures: FailureState = field(init=False)

    def __post_init__(self) -> None:
        self.key = WitnessKey.from_text(self.endpoint.vkey)
        self.status = WitnessStatus(self.endpoint.url, self.endpoint.vkey)
        self.failures = FailureState(f"witness {self.key.name} ({self.endpoint.url})")

    @property
    def url(self) -> str:
        return self.endpoint.url.rstrip("/") + "/add-checkpoint"

    def post(self, body: bytes) -> tuple[int, str, bytes]:
        try:
            answer = self.pool.request(
                "POST",
                self.url,
                body=body,
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=urllib3.Timeout(total=self.timeout),
                retries=False,
                redirect=False,
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise WitnessError(f"{self.url}: {failure_reason(exc)}") from exc
        try:
            data = answer.read(MAX_RESPONSE_BYTES + 1)
        except urllib3.exceptions.HTTPError as exc:
            raise WitnessError(f"{self.url}: {failure_reason(exc)}") from exc
        finally:
            answer.release_conn()
        if len(data) > MAX_RESPONSE_BYTES:
            raise WitnessError(f"{self.url}: answer exceeds {MAX_RESPONSE_BYTES} bytes")
        kind = (answer.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        return answer.status, kind, data

    def submit(
        self, checkpoint: CheckpointRecord, proof: Callable[[int, int], list[bytes]]
    ) -> Cosignature:
        """Submit ``checkpoint`` (proofs from ``proof(old, new)``); its cosignature.
        :class:`WitnessAhead` if the witness already cosigned a bigger checkpoint."""
        old = self.status.last_size or 0
        if old > checkpoint.size:
            old = 0  # we know of no such checkpoint: ask the witness for its size
        for attempt in range(2):
            hashes = proof(old, checkpoint.size) if 0 < old < checkpoint.size else []
            status, kind, data = self.post(build_request(old, hashes, checkpoint.note))
            if status == 200:
                return read_cosignature(data, self.key, parse_note(checkpoint.note).text)
            if status == 409 and kind == SIZE_CONTENT_TYPE and attempt == 0:
                size = _size(data)
                if size > checkpoint.size:
                    raise WitnessAhead(size)
                old = size
                continue
            detail = data[:300].decode("utf-8", "replace").strip().replace("\n", " ")
            raise WitnessError(f"{self.url} answered {status}: {detail}")
        raise WitnessError(f"{self.url}: the old size changed again while retrying")

    def run(self, engine: Engine) -> int:
        """Submit, in order, the checkpoints newer than the one this witness last cosigned
        (at most ``MAX_PER_TICK``, the newest ones; on first contact the newest alone), and
        store each cosignature. How many were stored; failures recorded, not raised."""
        stored = 0
        try:
            if self.status.last_size is None:
                with engine.connect() as conn:
                    found = newest_cosigned(conn, self.key)
                self.status.last_size = found[0] if found is not None else None
            for checkpoint in _to_submit(engine, self.status.last_size):
                try:
                    cosignature = self.submit(checkpoint, lambda a, b: _consistency(engine, a, b))
                except WitnessAhead as ahead:
                    newest = _to_submit(engine, None)
                    if not newest or ahead.size > newest[-1].size:
                        raise WitnessError(
                            f"the witness has cosigned size {ahead.size}, beyond our newest "
                            "checkpoint"
                        ) from ahead
                    self.status.last_size = ahead.size  # it cosigned more: go on from there
                    continue
                with engine.begin() as conn:
                    store_cosignature(conn, checkpoint.size, cosignature)
                self.status.last_size = checkpoint.size
                stored += 1
        except Exception as exc:
            self._failed(exc)
            return stored
        if stored:
            self.status.last_success_at = datetime.now(UTC)
        line = self.failures.succeeded(time.monotonic())
        if line is not None:
            log.info(line)
        self.status.last_error = None
        return stored

    def _failed(self, exc: BaseException) -> None:
        self.status.last_error = failure_reason(exc)
        self.status.last_error_at = datetime.now(UTC)
        line = self.failures.failed(exc, time.monotonic())
        if line is not None:
            log.warning(line)


def _size(data: bytes) -> int:
    text = data.decode("ascii", "replace")
    if not text.endswith("\n") or not text[:-1].isdigit() or len(text) > 21:
        raise WitnessError(f"the witness's 409 body is not a size: {text[:40]!r}")
    return int(text[:-1])


def _to_submit(engine: Engine, last_size: int | None) -> list[CheckpointRecord]:
    """The checkpoints beyond ``last_size``, oldest first: at most ``MAX_PER_TICK`` (the
    newest); with ``last_size`` None only the newest."""
    query = select(log_checkpoint).order_by(log_checkpoint.c.size.desc())
    if last_size is None:
        query = query.limit(1)
    else:
        query = query.where(log_checkpoint.c.size > last_size).limit(MAX_PER_TICK)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        CheckpointRecord(int(r.size), bytes(r.root), str(r.note), r.created_at)
        for r in reversed(rows)
    ]


def _consistency(engine: Engine, old: int, new: int) -> list[bytes]:
    with engine.connect() as conn:
        return MerkleLog(SqlNodeStore(conn)).consistency_proof(old, new)


class Witnessing:
    """This process's witnessing: a client per configured witness and a thread each."""

    def __init__(self, runtime: Runtime) -> None:
        self.engine = runtime.engine
        settings = runtime.settings
        self.pool = urllib3.PoolManager(num_pools=max(1, len(settings.witnesses)), maxsize=1)
        self.clients = [
            WitnessClient(endpoint, settings.witness_timeout, self.pool)
            for endpoint in settings.witnesses
        ]
        with _STATUS_LOCK:
            for client in self.clients:
                _STATUS[client.endpoint.vkey] = client.status
        self.executor = (
            ThreadPoolExecutor(len(self.clients), thread_name_prefix="witness")
            if self.clients
            else None
        )

    def step(self) -> int:
        """Submit the new checkpoints to every witness; how many cosignatures were stored."""
        if self.executor is None:
            return 0
        futures = [self.executor.submit(c.run, self.engine) for c in self.clients]
        return sum(f.result() for f in futures)

    def stop(self, timeout: float) -> None:
        del timeout  # each submission is bounded by witness_timeout
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
        self.pool.clear()


def start_witnessing(runtime: Runtime) -> tuple[Sequence[Step], Callable[[float], None]]:
    """This process's witnessing steps (one per tick) and how to stop them."""
    witnessing = Witnessing(runtime)
    return [witnessing.step], witnessing.stop


# --- what the operator sees (GET /v1/trust/witnesses, the console's trust page) -----------


@dataclass(frozen=True)
class WitnessView:
    """One configured witness as the operator sees it."""

    name: str
    url: str
    vkey: str
    key_id: str
    #: size of the newest checkpoint it cosigned (stored), and its cosignature's time
    newest_size: int | None
    newest_at: datetime | None
    #: how many entries the newest checkpoint is ahead of what it cosigned
    behind: int | None
    #: the last error of this process's submissions (None: none, or not run here)
    last_error: str | None
    last_error_at: datetime | None


def witness_views(runtime: Runtime) -> tuple[int | None, list[WitnessView]]:
    """The newest checkpoint's size and each configured witness's view."""
    views = []
    with runtime.engine.connect() as conn:
        latest = latest_checkpoint(conn)
        latest_size = latest.size if latest is not None else None
        for endpoint in runtime.settings.witnesses:
            key = WitnessKey.from_text(endpoint.vkey)
            found = newest_cosigned(conn, key)
            status = witness_status(endpoint.vkey)
            views.append(
                WitnessView(
                    name=key.name,
                    url=endpoint.url,
                    vkey=endpoint.vkey,
                    key_id=key.key_id.hex(),
                    newest_size=found[0] if found else None,
                    newest_at=_posix(found[1]) if found else None,
                    behind=(latest_size - (found[0] if found else 0))
                    if latest_size is not None
                    else None,
                    last_error=status.last_error if status else None,
                    last_error_at=status.last_error_at if status else None,
                )
            )
    return latest_size, views


def _posix(seconds: int) -> datetime | None:
    """A witness's timestamp as a time (None if a witness chose one out of range)."""
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
