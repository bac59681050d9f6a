"""Accepting evidence and stamps: store first, then record and sign, then answer.

Order matters for "nothing acknowledged is ever lost": files and the manifest
are written to WORM storage first (an orphan object costs nothing), then one
database transaction records the evidence, its pending log entry and the
signed receipt; only after that commit does the client get its 201.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from concurrent.futures import Executor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from anchoring.entries import evidence_entry, make_entry, new_salt, utc_timestamp
from anchoring.queue import QueuedEntry, enqueue
from evidence_api.core.auth import Principal
from evidence_api.core.errors import ConflictError, InvalidInputError, ServiceUnavailableError
from evidence_api.core.ids import new_id
from evidence_api.core.storage import ObjectStore, StorageError, StoredObject
from evidence_api.intake.models import Evidence, EvidenceFile, IdempotencyRecord
from evidence_api.intake.schemas import (
    EvidenceCreated,
    EvidenceMetadata,
    FilePublic,
    ManifestDigests,
    StampReceipt,
    StampResponse,
)
from evidence_api.intake.upload import ReceivedFile
from verifier.canonical import parse_json
from verifier.errors import JSONFormatError
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


@dataclass(frozen=True)
class Recorder:
    """What recording a submission uses: its own transactions, the evidence store and
    the pool that writes to it, the receipt issuer, the sealer's nudge, and the merge
    delay the receipts promise."""

    transaction: Callable[[], AbstractContextManager[Session]]
    store: ObjectStore
    io_pool: Executor
    sign_receipt: Callable[[Entry], tuple[bytes, str]]
    queued: Callable[[int], None]
    max_merge_delay: int


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
    pending = [pool.submit(store.put_file, f.path, f.digest, f.media_type) for f in files]
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


def submit_evidence(
    recorder: Recorder,
    principal: Principal,
    metadata: EvidenceMetadata,
    files: list[ReceivedFile],
    idempotency_key: str | None = None,
) -> Submitted:
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
            "source": {
                "url": metadata.source_url,
                "platform": metadata.platform,
                "entity": metadata.entity,
            },
            "captured_at": utc_timestamp(metadata.captured_at),
            "capture": {"tool": metadata.capture_tool, "environment": metadata.capture_environment},
            "submitter": principal.pseudonym,
            "case": metadata.case_ref,
            "notes": metadata.notes,
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
    try:
        with recorder.transaction() as session:
            enqueue(session.connection(), [QueuedEntry(entry, leaf, received, receipt)])
            row = Evidence(
                id=evidence_id,
                created_at=received,
                submitter_token_id=principal.token_id,
                case_ref=metadata.case_ref,
                platform=metadata.platform,
                entity=metadata.entity,
                source_url=metadata.source_url,
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
            if idempotency_key is not None:
                session.add(
                    IdempotencyRecord(
                        token_id=principal.token_id,
                        key=idempotency_key,
                        fingerprint=fingerprint,
                        status_code=201,
                        response=created.model_dump_json(),
                        created_at=received,
                    )
                )
    except IntegrityError:
        # A concurrent retry with the same Idempotency-Key won the race.
        previous = _idempotent_answer(recorder, principal, idempotency_key, fingerprint)
        if previous is None:
            raise
        return Submitted(EvidenceCreated.model_validate_json(previous), replayed=True)
    recorder.queued(1)
    return Submitted(created, replayed=False)


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


def submit_stamps(
    recorder: Recorder, principal: Principal, digests: list[str], *, max_stamps: int
) -> StampResponse:
    """One ``stamp`` entry and one signed receipt per digest, in one transaction."""
    values = normalise_digests(digests, max_stamps)
    received = datetime.now(UTC)
    at = utc_timestamp(received)
    queued, receipts = [], []
    for value in values:
        entry = make_entry("stamp", new_id("st"), {"sha256": value}, at=at)
        leaf, receipt = recorder.sign_receipt(entry)
        queued.append(QueuedEntry(entry, leaf, received, receipt))
        receipts.append(
            StampReceipt(digest=value, entry_id=entry.id, leaf_hash=leaf.hex(), receipt=receipt)
        )
    with recorder.transaction() as session:
        enqueue(session.connection(), queued)
    recorder.queued(len(queued))
    return StampResponse(
        received_at=at, max_merge_delay=recorder.max_merge_delay, receipts=receipts
    )
