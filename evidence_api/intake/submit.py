"""Accepting evidence and stamps: store first, then record and sign, then answer.

Order matters for "nothing acknowledged is ever lost": files and the manifest
are written to WORM storage first (an orphan object costs nothing), then one
database transaction records the evidence, its pending log entry and the
signed receipt; only after that commit does the client get its 201.

Concurrent submissions share their commits (group commit, :class:`GroupCommit`):
one writer thread per database takes every write waiting when its previous commit
ends and records them in one transaction; each request is answered only once the
transaction holding its write has committed. SQLite's single writer is then never
queued on (no busy waits), and one commit (one fsync) serves many requests.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from anchoring.entries import evidence_entry, new_salt, new_salts, utc_timestamp
from anchoring.queue import QueuedEntry, enqueue
from evidence_api.core.auth import Principal
from evidence_api.core.db import Transaction, WriterLock
from evidence_api.core.errors import ConflictError, InvalidInputError, ServiceUnavailableError
from evidence_api.core.ids import new_id, new_ids
from evidence_api.core.runtime import Runtime
from evidence_api.core.storage import ObjectStore, StorageError, StoredObject
from evidence_api.intake.models import Evidence, EvidenceFile, IdempotencyRecord
from evidence_api.intake.schemas import (
    EvidenceCreated,
    EvidenceMetadata,
    FilePublic,
    ManifestDigests,
)
from evidence_api.intake.upload import ReceivedFile
from verifier.canonical import parse_json
from verifier.errors import JSONFormatError
from verifier.merkle import leaf_hash
from verifier.models import Entry, Manifest

_HEX64 = re.compile(r"[0-9a-f]{64}")


def parse_metadata(raw: bytes | None, max_bytes: int) -> EvidenceMetadata:
    """Validate the ``metadata`` part, naming the offending field on error."""
    if raw is None:
        raise InvalidInputError("metadata part is missing", field="metadata")
    try:
        obj = parse_json(raw, max_bytes=max_bytes, what="metadata")
    except JSONFormatError as exc:
        raise InvalidInputError(str(exc), field="metadata") from exc
    try:
        return EvidenceMetadata.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        where = f"metadata.{loc}" if loc else "metadata"
        raise InvalidInputError(f"{where}: {err['msg']}", field=where) from exc


T = TypeVar("T")

#: Writes one group commit records at most (a batch of stamps counts once).
MAX_GROUP = 256
#: Seconds a writer thread waits for work before it ends (the next write starts another).
WRITER_IDLE = 5.0


class _Write:
    __slots__ = ("future", "work")

    def __init__(self, work: Callable[[Session], Any]) -> None:
        self.work = work
        self.future: Future[Any] = Future()


class GroupCommit:
    """Concurrent writes recorded by one thread, as many per transaction as are waiting.

    :meth:`write` hands ``work(session)`` to the writer thread and returns its result
    once the transaction holding it has committed (or raises what it raised). The
    writer takes every write queued while its previous commit ran (up to
    :data:`MAX_GROUP`), runs them in order in one transaction and commits once. If
    that transaction fails (one write's unique key taken by a concurrent retry), each
    write of the group is run again alone in its own transaction, so one write's failure
    is its own; but when the database is unreachable every write of the group fails at
    once (each would only wait for the same failure).
    ``work`` must be safe to run twice when its first transaction rolled back: it only
    adds rows. The writer outlives a failed commit: the next write opens a new
    transaction, so writes succeed again as soon as the database is back.

    The thread starts with the first write and ends after :data:`WRITER_IDLE`
    seconds without one; a process holds one per database (:func:`group_commit`).
    """

    def __init__(
        self,
        transaction: Transaction,
        *,
        on_idle: Callable[[], None] = lambda: None,
        exclusive: WriterLock = nullcontext,
    ):
        self._transaction = transaction
        self._on_idle = on_idle
        self._exclusive = exclusive
        self._queue: list[_Write] = []
        self._ready = threading.Condition()
        self._running = False

    def write(self, work: Callable[[Session], T]) -> T:
        item = _Write(work)
        with self._ready:
            self._queue.append(item)
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="group-commit", daemon=True).start()
            self._ready.notify()
        result: T = item.future.result()
        return result

    def _run(self) -> None:
        while True:
            with self._ready:
                if not self._queue:
                    self._ready.wait(WRITER_IDLE)
                    if not self._queue:
                        self._running = False
                        self._on_idle()
                        return
                group = self._queue[:MAX_GROUP]
                del self._queue[:MAX_GROUP]
            self._commit(group)

    def _commit(self, group: list[_Write]) -> None:
        try:
            with self._exclusive(), self._transaction() as session:
                results = [item.work(session) for item in group]
        except BaseException as exc:
            if len(group) == 1 or _database_unavailable(exc):
                # Gone database: every write of the group fails now (the caller answers
                # 503) rather than waiting, one after another, for its own attempt to fail.
                for item in group:
                    item.future.set_exception(exc)
                return
            for item in group:  # each alone: only the write that fails fails
                self._commit([item])
            return
        for item, result in zip(group, results, strict=True):
            item.future.set_result(result)


def _database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached (no connection, or the one in
    use was lost), as opposed to refusing one write (a unique key taken, a bad value)."""
    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


_WRITERS: dict[object, GroupCommit] = {}
_WRITERS_LOCK = threading.Lock()


def group_commit(transaction: Transaction, exclusive: WriterLock = nullcontext) -> GroupCommit:
    """This process's :class:`GroupCommit` for ``transaction`` (the runtime's session
    factory: one per database), made on first use; forgotten while it is idle. Its
    transactions run holding ``exclusive()`` (:func:`evidence_api.core.db.writer_lock`:
    the writers of several processes on one SQLite file take turns without polling)."""
    key: object = transaction
    with _WRITERS_LOCK:
        writer = _WRITERS.get(key)
        if writer is None:

            def forget() -> None:
                with _WRITERS_LOCK:
                    if _WRITERS.get(key) is writer:
                        del _WRITERS[key]

            writer = GroupCommit(transaction, on_idle=forget, exclusive=exclusive)
            _WRITERS[key] = writer
        return writer


@dataclass(frozen=True)
class Recorder:
    """What recording a submission uses: its own transactions, the evidence store and
    the pool that writes to it, the receipt issuer, the sealer's nudge, and the merge
    delay the receipts promise."""

    transaction: Transaction
    store: ObjectStore
    io_pool: Executor
    sign_receipt: Callable[[Entry], tuple[bytes, str]]
    sign_receipts: Callable[[Sequence[bytes], str], list[str]]
    queued: Callable[[int], None]
    max_merge_delay: int
    #: held around each group commit (:func:`evidence_api.core.db.writer_lock`)
    writer_lock: WriterLock = nullcontext


def recorder_of(runtime: Runtime) -> Recorder:
    """The recorder of a process's runtime: uploads, captures and monitor runs record
    evidence through this one."""
    return Recorder(
        transaction=runtime.session,
        store=runtime.store,
        io_pool=runtime.io_pool,
        sign_receipt=runtime.sign_receipt,
        sign_receipts=runtime.sign_receipts,
        queued=runtime.queued,
        max_merge_delay=runtime.settings.max_merge_delay,
        writer_lock=runtime.writer_lock,
    )


def _idempotent_answer(
    recorder: Recorder, principal: Principal, key: str | None, fingerprint: str
) -> str | None:
    if key is None:
        return None
    with recorder.transaction() as session:
        record = session.execute(
            select(IdempotencyRecord).where(
                IdempotencyRecord.token_id == principal.token_id, IdempotencyRecord.key == key
            )
        ).scalar_one_or_none()
    if record is None:
        return None
    if record.fingerprint != fingerprint:
        raise ConflictError(
            "Idempotency-Key was already used for a different request", field="Idempotency-Key"
        )
    return record.response


def _store_all(
    recorder: Recorder, files: list[ReceivedFile], manifest: bytes
) -> tuple[list[StoredObject], StoredObject]:
    """Write every file and the manifest concurrently; all must succeed."""
    store, pool = recorder.store, recorder.io_pool
    # Received into store.spool_dir: stored without a copy or a second hash.
    pending = [pool.submit(store.put_spooled, f.path, f.digest, f.media_type) for f in files]
    pending.append(pool.submit(store.put_bytes, manifest, "application/json"))
    try:
        done = [future.result() for future in pending]
    except StorageError as exc:
        raise ServiceUnavailableError(f"evidence storage is unavailable: {exc}") from exc
    return done[:-1], done[-1]


@dataclass(frozen=True)
class Submitted:
    created: EvidenceCreated
    replayed: bool


#: ``capture.environment``'s key saying who wrote the capture facts: ``"officer"`` on an
#: upload (typed by the officer, set by the server; an officer may not type it), ``"server"``
#: on a server-side capture (:mod:`evidence_api.capture`).
RECORDED_BY = "recorded_by"


@dataclass(frozen=True)
class Intake:
    """One evidence item's manifest facts besides its files: what an upload's metadata
    says (:func:`upload_intake`) or what a server-side capture recorded. Both are
    recorded by :func:`record_evidence`, so logging, anchoring, packages and reports
    never meet a second path."""

    source_url: str | None
    platform: str | None
    entity: str | None
    captured_at: str  #: RFC 3339 UTC
    case_ref: str | None
    notes: str | None
    capture_tool: str
    capture_environment: dict[str, str]


def upload_intake(metadata: EvidenceMetadata) -> Intake:
    """An upload's facts, its environment marked ``recorded_by: officer``: typed by the
    officer, never by this system (the schema refuses an officer-typed ``recorded_by``)."""
    return Intake(
        source_url=metadata.source_url,
        platform=metadata.platform,
        entity=metadata.entity,
        captured_at=utc_timestamp(metadata.captured_at),
        case_ref=metadata.case_ref,
        notes=metadata.notes,
        capture_tool=metadata.capture_tool,
        capture_environment={**metadata.capture_environment, RECORDED_BY: "officer"},
    )


@dataclass(frozen=True)
class Idempotency:
    """A request's Idempotency-Key and its fingerprint, recorded with the evidence."""

    key: str
    fingerprint: str


#: Work run in the evidence's own transaction, given its id (a capture's link to it).
Link = Callable[[Session, str], None]


def submit_evidence(
    recorder: Recorder,
    principal: Principal,
    metadata: EvidenceMetadata,
    files: list[ReceivedFile],
    idempotency_key: str | None = None,
) -> Submitted:
    """An upload (``POST /v1/evidence``): replayed for a known Idempotency-Key, else
    recorded by :func:`record_evidence`."""
    if not files:
        raise InvalidInputError("at least one file is required", field="files")
    fingerprint = hashlib.sha256(
        json.dumps(
            [metadata.model_dump(mode="json"), [(f.name, f.digest.sha256) for f in files]],
            sort_keys=True,
        ).encode()
    ).hexdigest()
    previous = _idempotent_answer(recorder, principal, idempotency_key, fingerprint)
    if previous is not None:
        return Submitted(EvidenceCreated.model_validate_json(previous), replayed=True)
    idempotency = None if idempotency_key is None else Idempotency(idempotency_key, fingerprint)
    try:
        created = record_evidence(
            recorder, principal, upload_intake(metadata), files, idempotency=idempotency
        )
    except IntegrityError:
        # A concurrent retry with the same Idempotency-Key won the race.
        previous = _idempotent_answer(recorder, principal, idempotency_key, fingerprint)
        if previous is None:
            raise
        return Submitted(EvidenceCreated.model_validate_json(previous), replayed=True)
    return Submitted(created, replayed=False)


def record_evidence(
    recorder: Recorder,
    principal: Principal,
    item: Intake,
    files: list[ReceivedFile],
    *,
    idempotency: Idempotency | None = None,
    link: Link | None = None,
) -> EvidenceCreated:
    """Record one evidence item, uploaded or captured: its files (received into
    ``store.spool_dir`` and hashed while written) and its manifest stored first, then
    one transaction records the evidence, its pending log entry and receipt, and
    ``link(session, evidence_id)`` (a capture's row marked done): all or nothing."""
    if not files:
        raise InvalidInputError("at least one file is required", field="files")
    evidence_id = new_id("ev")
    received = datetime.now(UTC)
    manifest = Manifest.model_validate(
        {
            "v": 1,
            "evidence_id": evidence_id,
            "files": [
                {
                    "name": f.name,
                    "media_type": f.media_type,
                    "size": f.digest.size,
                    "sha256": f.digest.sha256,
                    "sm3": f.digest.sm3,
                }
                for f in files
            ],
            "source": {"url": item.source_url, "platform": item.platform, "entity": item.entity},
            "captured_at": item.captured_at,
            "capture": {"tool": item.capture_tool, "environment": item.capture_environment},
            "submitter": principal.pseudonym,
            "case": item.case_ref,
            "notes": item.notes,
            "salt": new_salt(),
        }
    )
    manifest_bytes = manifest.canonical()
    stored, manifest_obj = _store_all(recorder, files, manifest_bytes)
    entry = evidence_entry(manifest, at=utc_timestamp(received))
    leaf, receipt = recorder.sign_receipt(entry)
    created = EvidenceCreated(
        evidence_id=evidence_id,
        received_at=entry.at,
        manifest=ManifestDigests(
            sha256=entry.body["manifest_sha256"], sm3=entry.body["manifest_sm3"]
        ),
        files=[FilePublic(**m.model_dump()) for m in manifest.files],
        leaf_hash=leaf.hex(),
        receipt=receipt,
        max_merge_delay=recorder.max_merge_delay,
        proof_url=f"/v1/evidence/{evidence_id}/proof",
    )

    def record(session: Session) -> None:
        enqueue(session.connection(), [QueuedEntry(entry, leaf, received, receipt)])
        row = Evidence(
            id=evidence_id,
            created_at=received,
            submitter_token_id=principal.token_id,
            case_ref=item.case_ref,
            platform=item.platform,
            entity=item.entity,
            source_url=item.source_url,
            captured_at=manifest.captured_at,
            manifest=manifest_bytes.decode("utf-8"),
            manifest_sha256=entry.body["manifest_sha256"],
            manifest_sm3=entry.body["manifest_sm3"],
            manifest_key=manifest_obj.key,
            manifest_version=manifest_obj.version_id,
            leaf_hash=leaf.hex(),
        )
        row.files = [
            EvidenceFile(
                position=i,
                name=f.name,
                media_type=f.media_type,
                size=f.digest.size,
                sha256=f.digest.sha256,
                sm3=f.digest.sm3,
                storage_key=obj.key,
                storage_version=obj.version_id,
            )
            for i, (f, obj) in enumerate(zip(files, stored, strict=True))
        ]
        session.add(row)
        if idempotency is not None:
            session.add(
                IdempotencyRecord(
                    token_id=principal.token_id,
                    key=idempotency.key,
                    fingerprint=idempotency.fingerprint,
                    status_code=201,
                    response=created.model_dump_json(),
                    created_at=received,
                )
            )
        if link is not None:
            session.flush()  # the evidence row first: the link may refer to it
            link(session, evidence_id)

    group_commit(recorder.transaction, recorder.writer_lock).write(record)
    recorder.queued(1)
    return created


def normalise_digests(digests: list[str], limit: int) -> list[str]:
    if not digests:
        raise InvalidInputError("digests: at least one digest is required", field="digests")
    if len(digests) > limit:
        raise InvalidInputError(
            f"digests: at most {limit} per request, got {len(digests)}", field="digests"
        )
    out = []
    for i, digest in enumerate(digests):
        value = digest.lower()
        if not _HEX64.fullmatch(value):
            raise InvalidInputError(
                f"digests[{i}]: must be a SHA-256 digest of 64 hex digits", field=f"digests[{i}]"
            )
        out.append(value)
    return out


@dataclass(frozen=True)
class StampsIssued:
    """What ``POST /v1/stamps`` answers (:class:`StampResponse`'s shape) as plain values:
    a thousand receipts are written out as JSON without a model object each."""

    received_at: str
    max_merge_delay: int
    receipts: list[dict[str, str]]

    def json(self) -> bytes:
        body = {
            "received_at": self.received_at,
            "max_merge_delay": self.max_merge_delay,
            "receipts": self.receipts,
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def submit_stamps(
    recorder: Recorder, principal: Principal, digests: list[str], *, max_stamps: int
) -> StampsIssued:
    """One ``stamp`` entry and one signed receipt per digest, in one transaction."""
    values = normalise_digests(digests, max_stamps)
    received = datetime.now(UTC)
    at = utc_timestamp(received)
    count = len(values)
    entries = [
        Entry.stamp(entry_id, value, at, salt)
        for value, entry_id, salt in zip(
            values, new_ids("st", count), new_salts(count), strict=True
        )
    ]
    leaves = [leaf_hash(entry.leaf_data()) for entry in entries]
    signed = recorder.sign_receipts(leaves, at)
    queued = [
        QueuedEntry(entry, leaf, received, receipt)
        for entry, leaf, receipt in zip(entries, leaves, signed, strict=True)
    ]
    writer = group_commit(recorder.transaction, recorder.writer_lock)
    writer.write(lambda session: enqueue(session.connection(), queued))
    recorder.queued(count)
    receipts = [
        {"digest": value, "entry_id": entry.id, "leaf_hash": leaf.hex(), "receipt": receipt}
        for value, entry, leaf, receipt in zip(values, entries, leaves, signed, strict=True)
    ]
    return StampsIssued(at, recorder.max_merge_delay, receipts)
