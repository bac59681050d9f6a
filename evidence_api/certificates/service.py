"""Issuing and reading 存证证书.

:func:`issue` renders an evidence item's certificate from its logged manifest (checked
against the log first: a damaged item gets no certificate), signs it (PAdES, with the
statement embedded: :mod:`verifier.certificate`), stores the PDF in the object store
(content-addressed, like every object) and records an :class:`EvidenceCertificate` row.
One certificate per item: issuing is idempotent, and two issuers racing keep the first
row (the loser's object is an orphan, which costs nothing). :func:`read` serves the
stored bytes only after their SHA-256 and size are shown to be the row's.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from evidence_api.certificates.content import CertificateInput, issued_now
from evidence_api.certificates.devca import SigningMaterial
from evidence_api.certificates.models import EvidenceCertificate
from evidence_api.certificates.pdf import PdfJob, make_pdf
from evidence_api.core.db import Transaction
from evidence_api.core.errors import NotFoundError, ServiceUnavailableError
from evidence_api.core.models import ApiToken
from evidence_api.core.storage import ObjectStore, StorageError, StorageIntegrityError
from evidence_api.intake.models import Evidence
from verifier.certificate import STATEMENT_NAME, statement_for
from verifier.models import Manifest
from verifier.pades import Attachment

log = logging.getLogger(__name__)

#: A certificate is a few hundred KB at most (1,000 files listed); a stored object larger
#: than this is not one of ours.
MAX_STORED_BYTES = 16 * 1024 * 1024
#: Failed items a process remembers setting aside (beyond them, the oldest failures are
#: retried at every tick).
MAX_SET_ASIDE = 1000
#: Longest a :meth:`Backlog.drain` goes on issuing batches before it returns (seconds).
DRAIN_SECONDS = 10.0
SIGN_REASON = "电子数据存证证书 / evidence certificate"


class NoSigningCertificateError(ServiceUnavailableError):
    """Production without a configured signing certificate: no certificate is issued."""


@dataclass(frozen=True)
class Issuer:
    """What issuing uses, handed out by the running service."""

    transaction: Transaction
    store: ObjectStore
    origin: str
    #: the signing material, read (or, for the development CA, generated) on first use;
    #: None: no certificate may be signed here (production without one configured)
    material: Callable[[], SigningMaterial | None]
    portal_url: str | None
    #: the logged manifest of a row (raises a 409 ApiError, and records an incident,
    #: when the item is not what the log committed to)
    verified_manifest: Callable[[Evidence], Manifest]
    #: renders and signs a certificate (:func:`~evidence_api.certificates.pdf.make_pdf`
    #: here, or a :class:`~evidence_api.certificates.pdf.HelperProcess`)
    make_pdf: Callable[[PdfJob], bytes] = make_pdf


def _submitter(token: ApiToken | None) -> str:
    if token is None:
        return "—"
    name = token.display_name or token.name
    shown = f"{name}（{token.unit}）" if token.unit else name
    return f"{shown} [token-{token.id}]"


def find(transaction: Transaction, evidence_id: str) -> EvidenceCertificate | None:
    with transaction() as session:
        return session.get(EvidenceCertificate, evidence_id)


def issue(issuer: Issuer, evidence_id: str) -> EvidenceCertificate:
    """The item's certificate: the one recorded, or a new one issued now."""
    existing = find(issuer.transaction, evidence_id)
    if existing is not None:
        return existing
    material = issuer.material()
    if material is None:
        raise NoSigningCertificateError(
            "no usable certificate signs 存证证书 here: configure "
            "EVIDENCE_CERTIFICATE_CERT_FILE and EVIDENCE_CERTIFICATE_KEY_FILE (see the log)"
        )
    with issuer.transaction() as session:
        row = session.execute(
            select(Evidence).where(Evidence.id == evidence_id)
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"no evidence {evidence_id!r}")
        token = session.get(ApiToken, row.submitter_token_id)
        submitter = _submitter(token)
        _ = row.files
    manifest = issuer.verified_manifest(row)  # what the log committed to, or a 409
    statement = statement_for(
        manifest, leaf_hash=row.leaf_hash, log_origin=issuer.origin, issued_at=issued_now()
    )
    data = CertificateInput(
        statement=statement,
        submitter=submitter,
        received_at=row.created_at,
        captured_at=manifest.captured_at,
        source_url=manifest.source.url,
        platform=manifest.source.platform,
        case_ref=manifest.case,
        signer=material.subject,
        signer_fingerprint=material.fingerprint,
        development=material.development,
        # as the report's QR code: the portal looks the entry up by its leaf hash
        portal_url=f"{issuer.portal_url}?leaf={row.leaf_hash}" if issuer.portal_url else None,
    )
    job = PdfJob(
        data,
        material.cert_pem,
        material.key_pem,
        reason=SIGN_REASON,
        location=issuer.origin,
        attachments=(
            Attachment(
                STATEMENT_NAME,
                statement.to_bytes(),
                "application/json",
                "evidence-certificate/v1 statement (docs/certificates.md)",
            ),
        ),
    )
    pdf = issuer.make_pdf(job)
    try:
        stored = issuer.store.put_bytes(pdf, "application/pdf")
    except StorageError as exc:
        raise ServiceUnavailableError(f"evidence storage is unavailable: {exc}") from exc
    record = EvidenceCertificate(
        evidence_id=evidence_id,
        object_key=stored.key,
        sha256=hashlib.sha256(pdf).digest(),
        size=len(pdf),
        signer=material.subject[:512],
        signer_fingerprint=material.fingerprint,
        created_at=datetime.now(UTC),
    )
    try:
        with issuer.transaction() as session:
            session.add(record)
    except IntegrityError:  # issued meanwhile by another process: theirs stands
        again = find(issuer.transaction, evidence_id)
        if again is None:  # pragma: no cover - the conflicting row is committed
            raise
        return again
    return record


def read(issuer: Issuer, record: EvidenceCertificate) -> bytes:
    """The stored PDF of ``record``, shown to be the recorded bytes (SHA-256, size) before
    it is returned; anything else is a 409 refusal, never served."""
    from evidence_api.integrity.service import IntegrityFailureError  # noqa: PLC0415

    chunks: list[bytes] = []
    seen = 0
    try:
        for chunk in issuer.store.open_stream(record.object_key):
            seen += len(chunk)
            if seen > min(record.size, MAX_STORED_BYTES):
                raise StorageIntegrityError(f"longer than the recorded {record.size} bytes")
            chunks.append(chunk)
    except StorageIntegrityError as exc:
        raise IntegrityFailureError(
            f"the stored certificate of {record.evidence_id} is not the one issued: {exc}"
        ) from exc
    except StorageError as exc:
        raise ServiceUnavailableError(f"evidence storage is unavailable: {exc}") from exc
    pdf = b"".join(chunks)
    if len(pdf) != record.size or hashlib.sha256(pdf).digest() != bytes(record.sha256):
        raise IntegrityFailureError(
            f"the stored certificate of {record.evidence_id} ({len(pdf)} bytes, sha256 "
            f"{hashlib.sha256(pdf).hexdigest()}) is not the one issued"
        )
    return pdf


@dataclass
class Backlog:
    """Issues certificates for the items without one, oldest first, ``batch`` per tick.

    An item that fails (a damaged item) is logged and set aside for ``retry_after``
    seconds in this process, so it never holds up the items behind it. An outage (the
    store down: ``ServiceUnavailableError``) ends the tick instead: the next one starts
    again at the same item.

    A tick does not scan every item: it looks above a floor, the highest ``seq`` it has
    handled, so its cost stays that of the new items. Below the floor, an item committed
    late (a lower ``seq`` can commit after a higher one) or set aside is picked up by the
    full look every ``full_scan_every`` ticks (and the first).

    The background job runs :meth:`drain`: batch after batch while each one is full, so
    the certificates keep up with intake faster than ``batch`` per interval. Once
    ``stopping`` is set, no further certificate is started.
    """

    issuer: Issuer
    batch: int = 20
    retry_after: float = 600.0
    full_scan_every: int = 120
    #: once set, no further certificate is started (the one being made is finished)
    stopping: threading.Event | None = None
    _set_aside: dict[str, float] = field(default_factory=dict)
    _floor: int = 0
    _ticks: int = 0

    def _waiting(self, aside: dict[str, float]) -> list[tuple[int, str]]:
        with self.issuer.transaction() as session:
            query = (
                select(Evidence.seq, Evidence.id)
                .where(
                    Evidence.seq > self._floor,
                    ~select(EvidenceCertificate.evidence_id)
                    .where(EvidenceCertificate.evidence_id == Evidence.id)
                    .exists(),
                )
                .order_by(Evidence.seq)
                .limit(self.batch + min(len(aside), MAX_SET_ASIDE))
            )
            return [(seq, i) for seq, i in session.execute(query).all()]

    def drain(self, budget: float = DRAIN_SECONDS) -> int:
        """:meth:`tick` again while the last tick issued a full batch (more may be
        waiting), for at most ``budget`` seconds; the number issued."""
        started = time.monotonic()
        issued = 0
        while True:
            count = self.tick()
            issued += count
            if count < self.batch or time.monotonic() - started >= budget:
                return issued

    def tick(self) -> int:
        """Issue up to ``batch`` certificates; the number issued."""
        now = time.monotonic()
        aside = self._set_aside = {k: v for k, v in self._set_aside.items() if v > now}
        if self._ticks % self.full_scan_every == 0:
            self._floor = 0
        self._ticks += 1
        rows = self._waiting(aside)
        todo = [(seq, i) for seq, i in rows if i not in aside][: self.batch]
        # Nothing waiting: the signing material is not even read (a CLI command's runtime
        # generates no development CA).
        if not todo:
            self._floor = max([self._floor, *(seq for seq, _ in rows)])
            return 0
        if self.issuer.material() is None:
            return 0
        issued = 0
        for seq, evidence_id in todo:
            if self.stopping is not None and self.stopping.is_set():
                break
            try:
                issue(self.issuer, evidence_id)
                issued += 1
            except ServiceUnavailableError as exc:
                # An outage (the store down), not this item's fault: stop here and let the
                # next tick start again from this item, rather than wait on the outage
                # for every item of the batch (holding a worker from sealing) and then
                # set them all aside.
                log.warning("certificates wait for the next tick: %s", str(exc)[:300])
                break
            except Exception as exc:  # one item's failure is its own
                log.warning(
                    "certificate for %s not issued: %s: %s; retried in %.0f s",
                    evidence_id,
                    type(exc).__name__,
                    str(exc)[:300],
                    self.retry_after,
                )
                aside[evidence_id] = now + self.retry_after
            self._floor = max(self._floor, seq)  # every row up to here is handled
        return issued
