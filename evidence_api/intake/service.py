"""Reading evidence: listing, details, file downloads (with custody entries), proofs."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, or_, select
from sqlalchemy.orm import Session

from anchoring.entries import make_entry, utc_timestamp
from anchoring.proofs import bundle_for
from anchoring.queue import QueuedEntry, enqueue, get_entry
from evidence_api.core.auth import Principal
from evidence_api.core.db import Transaction
from evidence_api.core.errors import InvalidInputError, NotFoundError, ServiceUnavailableError
from evidence_api.core.ids import new_id
from evidence_api.core.pagination import cursor_after, keyset
from evidence_api.core.storage import (
    ObjectStore,
    StorageError,
    StorageIntegrityError,
    content_key,
)
from evidence_api.intake.models import Evidence, EvidenceFile
from evidence_api.intake.schemas import EvidencePage, EvidencePublic, FilePublic, ManifestDigests
from evidence_api.registry import cases as registry_cases
from verifier.bundle import Bundle
from verifier.models import Entry, Manifest

MAX_PAGE = 200


@dataclass(frozen=True)
class Archive:
    """What reading evidence uses, handed out by the running service: its own short
    transactions and read connections, the evidence store, the log's origin (named in
    proofs), the custody recorder (receipt issuer, sealer nudge), and the integrity
    checks against the log (a refusal is recorded as an incident in a transaction of
    its own; see :mod:`evidence_api.integrity.service`)."""

    transaction: Transaction
    connect: Callable[[], AbstractContextManager[Connection]]
    store: ObjectStore
    origin: str
    sign_receipt: Callable[[Entry], tuple[bytes, str]]
    queued: Callable[[int], None]
    verified_manifest: Callable[[Evidence], Manifest]
    verified_manifests: Callable[[Sequence[Evidence]], list[Manifest]]
    verified_evidence: Callable[[Evidence, Iterable[str] | None], Manifest]


def public(row: Evidence, manifest: Manifest) -> EvidencePublic:
    """What users see of ``row``: every value the log covers is read from ``manifest``
    (checked against the log entry by :mod:`~evidence_api.integrity.service`), never
    from the row's own, unlogged copy of it."""
    return EvidencePublic(
        evidence_id=row.id,
        created_at=row.created_at,
        case_ref=manifest.case,
        platform=manifest.source.platform,
        entity=manifest.source.entity,
        source_url=manifest.source.url,
        captured_at=manifest.captured_at,
        manifest=ManifestDigests(sha256=row.manifest_sha256, sm3=row.manifest_sm3),
        leaf_hash=row.leaf_hash,
        files=[FilePublic(**f.model_dump()) for f in manifest.files],
    )


@dataclass(frozen=True)
class EvidenceFilter:
    case_ref: str | None = None
    platform: str | None = None
    entity: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: part of the source URL (a substring; SQLite compares ASCII letters case-blind)
    url: str | None = None
    #: a SHA-256 (64 hex digits): evidence having a file, or a manifest, of that digest
    sha256: str | None = None


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def require_evidence(session: Session, evidence_ids: Sequence[str]) -> None:
    """Refuse (422, field ``evidence_ids``) ids of evidence that does not exist."""
    found = set(session.execute(select(Evidence.id).where(Evidence.id.in_(evidence_ids))).scalars())
    unknown = [e for e in evidence_ids if e not in found]
    if unknown:
        raise InvalidInputError(
            f"evidence_ids: unknown evidence {', '.join(unknown)}", field="evidence_ids"
        )


def list_evidence(
    archive: Archive, flt: EvidenceFilter, *, limit: int, cursor: str | None
) -> EvidencePage:
    """Newest first; ``cursor`` continues after the last item of the previous page."""
    query = keyset(select(Evidence), Evidence.seq, limit=limit, cursor=cursor)
    if flt.case_ref is not None:  # named at submission, or linked to that case since
        linked = registry_cases.evidence_linked_to(flt.case_ref)
        query = query.where(or_(Evidence.case_ref == flt.case_ref, Evidence.id.in_(linked)))
    for column, value in (
        (Evidence.platform, flt.platform),
        (Evidence.entity, flt.entity),
    ):
        if value is not None:
            query = query.where(column == value)
    if flt.url is not None:
        query = query.where(Evidence.source_url.contains(flt.url, autoescape=True))
    if flt.sha256 is not None:
        digest = flt.sha256.strip().lower()
        if not _SHA256.fullmatch(digest):
            raise InvalidInputError("sha256: must be 64 hex digits", field="sha256")
        having_file = select(EvidenceFile.evidence_seq).where(EvidenceFile.sha256 == digest)
        query = query.where(or_(Evidence.seq.in_(having_file), Evidence.manifest_sha256 == digest))
    # Compared in UTC: SQLite stores the UTC wall time and would compare a
    # +08:00 bound as if it were UTC. A bound without a zone is ambiguous.
    for name, bound in (("since", flt.since), ("until", flt.until)):
        if bound is not None and bound.tzinfo is None:
            raise InvalidInputError(
                f"{name}: must include a time zone (e.g. 2026-11-26T14:00:00+08:00)", field=name
            )
    if flt.since is not None:
        query = query.where(Evidence.created_at >= flt.since.astimezone(UTC))
    if flt.until is not None:
        query = query.where(Evidence.created_at < flt.until.astimezone(UTC))
    with archive.transaction() as session:
        rows = list(session.execute(query).scalars())
    shown = rows[:limit]
    manifests = archive.verified_manifests(shown)
    items = [public(r, m) for r, m in zip(shown, manifests, strict=True)]
    next_cursor = cursor_after(rows, limit, lambda r: r.seq)
    return EvidencePage(items=items, next_cursor=next_cursor)


def load(archive: Archive, evidence_id: str) -> Evidence:
    """The evidence row with its files (404 if unknown)."""
    with archive.transaction() as session:
        row = session.execute(
            select(Evidence).where(Evidence.id == evidence_id)
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"no evidence {evidence_id!r}")
        _ = row.files  # load while the session is open
    return row


def get_evidence(archive: Archive, evidence_id: str) -> EvidencePublic:
    row = load(archive, evidence_id)
    return public(row, archive.verified_manifest(row))


def record_custody(
    archive: Archive,
    principal: Principal,
    evidence_id: str,
    action: str,
    purpose: str,
    file: str | None,
) -> str:
    """Append a ``custody`` entry: who (pseudonym) did what to which evidence, and why."""
    received = datetime.now(UTC)
    body: dict[str, object] = {
        "evidence_id": evidence_id,
        "action": action,
        "reader": principal.pseudonym,
        "role": principal.role,
        "purpose": purpose,
    }
    if file is not None:
        body["file"] = file
    entry = make_entry("custody", new_id("cu"), body, at=utc_timestamp(received))
    leaf, receipt = archive.sign_receipt(entry)
    with archive.transaction() as session:
        enqueue(session.connection(), [QueuedEntry(entry, leaf, received, receipt)])
    archive.queued(1)
    return entry.id


@dataclass(frozen=True)
class FileDownload:
    name: str
    media_type: str
    size: int
    sha256: str
    custody_entry: str
    chunks: Iterator[bytes]


def open_file(
    archive: Archive, principal: Principal, evidence_id: str, name: str, purpose: str
) -> FileDownload:
    row = load(archive, evidence_id)
    # The file as the logged manifest describes it (the row's copy may differ).
    logged = archive.verified_manifest(row)
    match = next((f for f in logged.files if f.name == name), None)
    if match is None:
        raise NotFoundError(f"evidence {evidence_id!r} has no file {name!r}")
    try:
        archive.store.check()
    except StorageError as exc:
        raise ServiceUnavailableError(f"evidence storage is unavailable: {exc}") from exc
    # The whole object is hashed before anything is sent: a mismatch is refused
    # (409 and an incident), not discovered after most of the file went out.
    try:
        archive.verified_evidence(row, [name])
    except StorageError as exc:
        raise ServiceUnavailableError(f"evidence storage is unavailable: {exc}") from exc
    # The custody entry is recorded before the first byte leaves.
    custody = record_custody(archive, principal, evidence_id, "download", purpose, name)
    # The version recorded at intake, not the newest: on S3 anyone with write
    # access can stack other bytes or a delete marker on the key, never on it.
    version = next((f.storage_version for f in row.files if f.name == name), None)
    chunks = archive.store.open_stream(content_key(match.sha256), version_id=version)
    return FileDownload(
        name=match.name,
        media_type=match.media_type,
        size=match.size,
        sha256=match.sha256,
        custody_entry=custody,
        # Checked again as it goes: the object could change between the two reads.
        chunks=_checked(chunks, match.size, match.sha256),
    )


def _checked(chunks: Iterator[bytes], size: int, sha256: str) -> Iterator[bytes]:
    """Pass ``chunks`` on, holding the last one back until all of them are shown to be
    ``size`` bytes hashing to ``sha256``.

    The response declares ``Content-Length: size``; were the last byte sent before
    the check, a client would hold a complete response of other bytes (say, a new
    version someone put over the key in S3) before any error could be raised. So
    the check runs first, and a mismatch leaves the response visibly cut short.
    """
    hasher = hashlib.sha256()
    seen = 0
    held = b""
    for chunk in chunks:
        seen += len(chunk)
        if seen > size:
            raise StorageIntegrityError(f"stored object is longer than the recorded {size} bytes")
        hasher.update(chunk)
        if held:
            yield held
        held = chunk
    if seen != size or hasher.hexdigest() != sha256:
        raise StorageIntegrityError(
            f"stored object ({seen} bytes, sha256 {hasher.hexdigest()}) is not the recorded "
            f"file ({size} bytes, sha256 {sha256}); nothing more is sent"
        )
    if held:
        yield held


def proof_bundle(archive: Archive, evidence_id: str) -> Bundle:
    row = load(archive, evidence_id)
    manifest = archive.verified_manifest(row)  # 409 if it is not the logged one
    with archive.connect() as conn:
        record = get_entry(conn, evidence_id)
        if record is None:  # pragma: no cover - evidence and entry commit together
            raise NotFoundError(f"no log entry for {evidence_id!r}")
        return bundle_for(conn, record, origin=archive.origin, manifest=manifest)
