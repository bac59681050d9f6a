"""Capture jobs: accept (``POST /v1/captures``), run, record as evidence, report.

* :func:`submit` checks the target (:func:`~evidence_api.capture.netpolicy.check_url`)
  and the case, and commits the job ``queued`` before the caller answers 202.
* :func:`run` claims the job atomically (``queued`` → ``running``: of two workers
  handed the same job, one runs it), runs the browser
  (:func:`evidence_api.capture.browser.run_capture`) in a private folder, and records
  the files through the SAME intake core as uploads
  (:func:`evidence_api.intake.submit.record_evidence`); the job becomes ``done`` in
  the evidence's own transaction, so neither exists without the other. Any failure
  ends it ``failed`` with a precise reason; nothing half-written is ever logged.
* :func:`sweep` finds what a lost message or a dead process left behind: ``queued``
  jobs nobody picked up, ``running`` jobs whose process is gone (heartbeat stale, or
  its pid dead on this host). Such a run is retried once (re-queued); a second
  interruption fails it with :data:`INTERRUPTED`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata as distribution
from pathlib import Path
from typing import Protocol, cast

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from anchoring.entries import utc_timestamp
from evidence_api.capture.models import DONE, FAILED, QUEUED, RUNNING, Capture
from evidence_api.capture.netpolicy import check_url, policy_from_setting
from evidence_api.capture.outcome import (
    CaptureConfig,
    CaptureError,
    CaptureLimits,
    CaptureOutput,
    Progress,
)
from evidence_api.capture.request import CaptureRequest, Goto
from evidence_api.capture.schemas import CaptureAccepted, CapturePage, CapturePublic, Status
from evidence_api.core.auth import Principal, principal_of
from evidence_api.core.config import Settings
from evidence_api.core.db import Transaction
from evidence_api.core.errors import (
    ApiError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from evidence_api.core.ids import new_id
from evidence_api.core.leases import Leases, abandoned, process_owner, set_where
from evidence_api.core.models import ApiToken
from evidence_api.core.pagination import cursor_after, keyset
from evidence_api.intake import submit as intake
from evidence_api.intake.upload import ReceivedFile
from evidence_api.registry.models import CaseFile
from verifier.digests import DualHasher

log = logging.getLogger(__name__)

#: Most captures one page lists.
MAX_PAGE = 200
#: Seconds between a running capture's heartbeats.
HEARTBEAT_SECONDS = 5.0
#: A running capture without a heartbeat for this long lost its process.
STALE_AFTER = 60.0
#: A queued capture nobody claimed for this long lost its message: sent again.
REQUEUE_AFTER = 60.0
#: Runs of one capture: an interrupted run is retried once, then the capture fails.
MAX_ATTEMPTS = 2
#: Least seconds between two progress writes of one capture.
PROGRESS_EVERY = 0.5
#: Why a capture whose process died (twice) failed.
INTERRUPTED = "interrupted: the service restarted during the capture"
#: Why a capture failed on an unexpected error (its traceback is in the log).
UNEXPECTED = "internal error during the capture; it has been logged"
#: Copy chunk when a captured file is hashed into the store's spool.
CHUNK = 1 << 20


class Runner(Protocol):
    """:func:`evidence_api.capture.browser.run_capture`'s signature (injectable in tests)."""

    def __call__(
        self,
        request: CaptureRequest,
        *,
        capture_id: str,
        workdir: Path,
        config: CaptureConfig,
        progress: Progress,
    ) -> CaptureOutput: ...


def browser_runner() -> Runner:
    """The real runner, imported when a capture first runs (Playwright is heavy)."""
    from evidence_api.capture.browser import run_capture  # noqa: PLC0415

    return run_capture


@dataclass(frozen=True)
class Captures:
    """What the capture service uses: its transactions, the intake's recorder, the
    settings, and the browser runner (the real one unless a test injects one)."""

    transaction: Transaction
    recorder: intake.Recorder
    settings: Settings
    runner: Callable[[], Runner] = browser_runner


# -- who runs a capture -----------------------------------------------------------------

_HOST = socket.gethostname()[:100]

#: The capture table's leases (claim, ownership, recovery: :mod:`evidence_api.core.leases`).
LEASES = Leases(Capture, "capture", waiting=QUEUED, running=RUNNING, cleared={"step": None})


# -- configuration ------------------------------------------------------------------------


def version() -> str:
    try:
        return distribution.version("evidence-anchor")
    except distribution.PackageNotFoundError:  # a source tree without installed metadata
        return "0+unknown"


def host_id() -> str:
    """The capture host as recorded in the environment: its name and a digest of its
    machine id (the id itself is not disclosed)."""
    try:
        machine = Path("/etc/machine-id").read_text(encoding="ascii").strip()
    except OSError:
        machine = ""
    digest = hashlib.sha256(machine.encode()).hexdigest()[:16] if machine else "no-machine-id"
    return f"{_HOST} ({digest})"


def capture_config(settings: Settings) -> CaptureConfig:
    """The runner's configuration out of the service's settings (``EVIDENCE_CAPTURE_*``)."""
    return CaptureConfig(
        chromium=settings.capture_chromium,
        limits=CaptureLimits(
            total_seconds=settings.capture_total_seconds,
            max_bytes=settings.capture_max_bytes,
            max_resources=settings.capture_max_resources,
        ),
        policy=policy_from_setting(settings.capture_allow),
        upstream_ca=settings.capture_upstream_ca,
        second_resolver=settings.capture_second_resolver or None,
        ntp_servers=tuple(s.strip() for s in settings.capture_ntp_servers.split(",") if s.strip()),
        echo_url=settings.capture_echo_url or None,
        tool=f"evidence-anchor capture {version()}",
        host_id=host_id(),
    )


# -- accepting ---------------------------------------------------------------------------


def _check_targets(request: CaptureRequest, settings: Settings) -> None:
    """Every address the request names (the URL, each ``goto``) allowed now; 422 naming
    the refused address and the setting otherwise (checked again when the run starts:
    DNS may change meanwhile)."""
    policy = policy_from_setting(settings.capture_allow)
    targets = [("url", request.url)]
    for i, step in enumerate(request.steps or []):
        if isinstance(step, Goto):
            targets.append((f"steps[{i}].url", step.url))
    for name, url in targets:
        try:
            check_url(url, policy)
        except CaptureError as exc:
            raise InvalidInputError(f"{name}: {exc.reason}", field=name) from exc


def _case_number(session: Session, case_id: str | None) -> str | None:
    """The number of the case ``case_id`` names (its number, or its id when all digits);
    422 if there is none: a capture is never filed under a case that does not exist."""
    if case_id is None:
        return None
    match: ColumnElement[bool] = CaseFile.number == case_id
    if case_id.isdigit() and len(case_id) <= 18:
        match = or_(match, CaseFile.id == int(case_id))
    number = session.execute(select(CaseFile.number).where(match).limit(1)).scalar_one_or_none()
    if number is None:
        raise InvalidInputError(
            f"case_id: no case numbered {case_id!r} (create it with POST /v1/cases)",
            field="case_id",
        )
    return number


def _fingerprint(request: CaptureRequest) -> str:
    return hashlib.sha256(request.model_dump_json().encode()).hexdigest()


def _accepted(capture_id: str, status: str) -> CaptureAccepted:
    return CaptureAccepted(
        capture_id=capture_id,
        status=cast(Status, status),
        status_url=f"/v1/captures/{capture_id}",
    )


@dataclass(frozen=True)
class Submitted:
    accepted: CaptureAccepted
    #: an Idempotency-Key seen before: nothing new was queued
    replayed: bool


def _previous(
    session: Session, principal: Principal, key: str | None, fingerprint: str
) -> Capture | None:
    if key is None:
        return None
    row = session.execute(
        select(Capture).where(
            Capture.submitter_token_id == principal.token_id, Capture.idempotency_key == key
        )
    ).scalar_one_or_none()
    if row is not None and row.fingerprint != fingerprint:
        raise ConflictError(
            "Idempotency-Key was already used for a different request", field="Idempotency-Key"
        )
    return row


def submit(
    captures: Captures,
    principal: Principal,
    request: CaptureRequest,
    idempotency_key: str | None = None,
) -> Submitted:
    """Check and record a capture request, ``queued``; committed when this returns (the
    caller then dispatches it and answers 202)."""
    fingerprint = _fingerprint(request)
    with captures.transaction() as session:
        row = _previous(session, principal, idempotency_key, fingerprint)
    if row is not None:
        return Submitted(_accepted(row.id, row.status), replayed=True)
    _check_targets(request, captures.settings)
    capture_id = new_id("cap")
    try:
        with captures.transaction() as session:
            session.add(
                Capture(
                    id=capture_id,
                    status=QUEUED,
                    request=request.model_dump_json(exclude_none=True),
                    url=request.url,
                    mode=request.mode,
                    case_ref=_case_number(session, request.case_id),
                    entity=request.entity,
                    platform=request.platform,
                    submitter_token_id=principal.token_id,
                    idempotency_key=idempotency_key,
                    fingerprint=fingerprint,
                    created_at=datetime.now(UTC),
                    attempts=0,
                )
            )
    except IntegrityError:  # a concurrent retry with the same Idempotency-Key won
        with captures.transaction() as session:
            row = _previous(session, principal, idempotency_key, fingerprint)
        if row is None:
            raise
        return Submitted(_accepted(row.id, row.status), replayed=True)
    return Submitted(_accepted(capture_id, QUEUED), replayed=False)


# -- reading -------------------------------------------------------------------------------


def _public(row: Capture) -> CapturePublic:
    done = row.status == DONE and row.evidence_id is not None
    return CapturePublic(
        capture_id=row.id,
        status=cast(Status, row.status),
        step=row.step if row.status == RUNNING else None,
        evidence_id=row.evidence_id if done else None,
        evidence_url=f"/v1/evidence/{row.evidence_id}" if done else None,
        reason=row.reason if row.status == FAILED else None,
        limit=row.limit_name if row.status == FAILED else None,
        request=CaptureRequest.model_validate_json(row.request),
        case_ref=row.case_ref,
        submitter=f"token-{row.submitter_token_id}",
        attempts=row.attempts,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def get_capture(transaction: Transaction, capture_id: str) -> CapturePublic:
    with transaction() as session:
        row = session.execute(select(Capture).where(Capture.id == capture_id)).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"no capture {capture_id}")
        return _public(row)


@dataclass(frozen=True)
class CaptureFilter:
    status: str | None = None
    case_ref: str | None = None
    entity: str | None = None
    platform: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_captures(
    transaction: Transaction, flt: CaptureFilter, *, limit: int, cursor: str | None
) -> CapturePage:
    """Newest first; ``cursor`` continues after the last item of the previous page."""
    query = keyset(select(Capture), Capture.seq, limit=limit, cursor=cursor)
    for column, value in (
        (Capture.status, flt.status),
        (Capture.case_ref, flt.case_ref),
        (Capture.entity, flt.entity),
        (Capture.platform, flt.platform),
    ):
        if value is not None:
            query = query.where(column == value)
    # Compared in UTC (SQLite keeps UTC wall times); a bound without a zone is ambiguous.
    for name, bound in (("since", flt.since), ("until", flt.until)):
        if bound is not None and bound.tzinfo is None:
            raise InvalidInputError(f"{name}: must include a time zone", field=name)
    if flt.since is not None:
        query = query.where(Capture.created_at >= flt.since.astimezone(UTC))
    if flt.until is not None:
        query = query.where(Capture.created_at < flt.until.astimezone(UTC))
    with transaction() as session:
        rows = list(session.execute(query).scalars())
        items = [_public(row) for row in rows[:limit]]
    return CapturePage(items=items, next_cursor=cursor_after(rows, limit, lambda r: r.seq))


# -- running -------------------------------------------------------------------------------


def _claim(transaction: Transaction, capture_id: str, owner: str) -> bool:
    """``queued`` → ``running`` for ``owner``, atomically; False if another got it first
    (or it is not queued)."""
    return LEASES.claim(transaction, capture_id, owner, datetime.now(UTC))


def _mine(capture_id: str, owner: str) -> tuple[ColumnElement[bool], ...]:
    return LEASES.mine(capture_id, owner)


def _finish_failed(
    transaction: Transaction, capture_id: str, owner: str, reason: str, limit: str | None
) -> None:
    with transaction() as session:
        set_where(
            session,
            Capture,
            *_mine(capture_id, owner),
            status=FAILED,
            reason=reason[:1024],
            limit_name=limit[:64] if limit else None,
            finished_at=datetime.now(UTC),
            step=None,
        )


class CaptureSupersededError(Exception):
    """The run's row is no longer this run's (the sweep took it over): record nothing."""


class Heartbeat:
    """Keeps a running capture's row fresh and shows its current step: a heartbeat every
    :data:`HEARTBEAT_SECONDS`, a step written at most every :data:`PROGRESS_EVERY`
    seconds (the newest one wins; none is written after :meth:`stop`)."""

    def __init__(self, transaction: Transaction, capture_id: str, owner: str) -> None:
        self._transaction = transaction
        self._where = _mine(capture_id, owner)
        self._lock = threading.Lock()
        self._step: str | None = None
        self._written: str | None = None
        self._last = 0.0
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"capture-heartbeat-{capture_id}", daemon=True
        )
        self._thread.start()

    def progress(self, step: str) -> None:
        """The runner's progress callback: the current step, e.g. "2/5 click #search"."""
        with self._lock:
            self._step = step[:256]
            due = time.monotonic() - self._last >= PROGRESS_EVERY
        if due:
            self._write()

    def _write(self) -> None:
        with self._lock:
            if self._stopped.is_set():
                return
            step, self._last = self._step, time.monotonic()
        values: dict[str, object] = {"heartbeat_at": datetime.now(UTC)}
        if step != self._written:
            values["step"] = step
        try:
            with self._transaction() as session:
                set_where(session, Capture, *self._where, **values)
            self._written = step
        except SQLAlchemyError as exc:  # progress is best effort; the run goes on
            log.warning("capture progress not written: %s", exc)

    def _beat(self) -> None:
        while not self._stopped.wait(HEARTBEAT_SECONDS):
            self._write()

    def stop(self) -> None:
        with self._lock:
            self._stopped.set()
        self._thread.join(timeout=HEARTBEAT_SECONDS * 2)


def _spool_file(source: Path, name: str, media_type: str, spool: Path) -> ReceivedFile:
    """A copy of a captured file in the store's spool, hashed (SHA-256, SM3) over exactly
    the bytes written, as an upload is received (named like one: a crash's leftover is
    removed at the next start)."""
    spool.mkdir(parents=True, exist_ok=True)
    hasher = DualHasher()
    fd, raw = tempfile.mkstemp(prefix="upload-capture-", dir=spool)
    path = Path(raw)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            while chunk := src.read(CHUNK):
                hasher.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return ReceivedFile(name=name, media_type=media_type, path=path, digest=hasher.result(name))


def submitter(transaction: Transaction, token_id: int) -> Principal:
    """The principal a capture is recorded for: the token that asked for it (a capture
    job's submitter, a monitor's creator)."""
    with transaction() as session:
        token = session.get(ApiToken, token_id)
        if token is None:  # the foreign key keeps it; defensive
            raise CaptureError(f"the submitting token {token_id} no longer exists")
        return principal_of(session, token)


def _captured_at(text: str) -> str:
    """The runner's start time as the manifest writes times (RFC 3339 UTC, ms)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise CaptureError(f"the runner's start time {text!r} has no time zone")
    return utc_timestamp(moment)


def environment_of(output: CaptureOutput, capture_id: str) -> dict[str, str]:
    """The manifest's ``capture.environment``: the runner's flat record, with
    ``capture_id`` and ``recorded_by: server`` set here (never taken from the page)."""
    environment = dict(output.manifest_environment)
    environment["capture_id"] = capture_id
    environment[intake.RECORDED_BY] = "server"
    return environment


@dataclass(frozen=True)
class CaptureSource:
    """What a captured evidence item says of itself beside its files: the capture's id
    (``capture.environment.capture_id``: a capture job's, a monitor run's), the URL asked
    for, and the submission's platform, entity, case and notes."""

    capture_id: str
    url: str
    platform: str | None
    entity: str | None
    case_ref: str | None
    notes: str | None


def record_capture(
    recorder: intake.Recorder,
    settings: Settings,
    principal: Principal,
    output: CaptureOutput,
    source: CaptureSource,
    *,
    link: intake.Link | None = None,
) -> str:
    """A finished capture's files and facts recorded as one evidence item through the
    intake core (:func:`~evidence_api.intake.submit.record_evidence`), with ``link`` run
    in the evidence's own transaction; returns the evidence id. Capture jobs and monitor
    runs both record through here."""
    spool = recorder.store.spool_dir(settings.resolved_spool_dir)
    received: list[ReceivedFile] = []
    try:
        for captured in output.files:
            received.append(_spool_file(captured.path, captured.name, captured.media_type, spool))
        item = intake.Intake(
            source_url=source.url,
            platform=source.platform,
            entity=source.entity,
            captured_at=_captured_at(output.started_at),
            case_ref=source.case_ref,
            notes=source.notes,
            capture_tool=output.tool[:256],
            capture_environment=environment_of(output, source.capture_id),
        )
        created = intake.record_evidence(recorder, principal, item, received, link=link)
        return created.evidence_id
    finally:
        for f in received:  # stored ones were moved into the store; the rest go
            f.path.unlink(missing_ok=True)


def _record(
    captures: Captures,
    row: Capture,
    request: CaptureRequest,
    output: CaptureOutput,
    owner: str,
) -> str:
    """The capture's files and facts recorded as one evidence item through the intake
    core; the row marked ``done`` in the evidence's own transaction."""

    def link(session: Session, evidence_id: str) -> None:
        if not set_where(
            session,
            Capture,
            *_mine(row.id, owner),
            status=DONE,
            evidence_id=evidence_id,
            finished_at=datetime.now(UTC),
            step=None,
        ):
            raise CaptureSupersededError(row.id)

    principal = submitter(captures.transaction, row.submitter_token_id)
    source = CaptureSource(
        capture_id=row.id,
        url=request.url,
        platform=request.platform,
        entity=request.entity,
        case_ref=row.case_ref,
        notes=request.notes,
    )
    return record_capture(
        captures.recorder, captures.settings, principal, output, source, link=link
    )


@dataclass
class RunResult:
    """What :func:`run` did: ``claimed`` false when another process has (or had) it."""

    claimed: bool
    status: str | None = None
    evidence_id: str | None = None
    reason: str | None = None


def _load(transaction: Transaction, capture_id: str) -> Capture | None:
    with transaction() as session:
        return session.execute(select(Capture).where(Capture.id == capture_id)).scalar_one_or_none()


def run(captures: Captures, capture_id: str) -> RunResult:
    """Run the capture ``capture_id`` if it is queued (or its last run's process is
    gone): claim it, capture, record; never leaves it ``running`` on return."""
    owner = process_owner()
    if not _claim(captures.transaction, capture_id, owner):
        row = _load(captures.transaction, capture_id)
        if row is None or row.status != RUNNING or not _abandoned(row, datetime.now(UTC)):
            return RunResult(claimed=False, status=None if row is None else row.status)
        # A redelivered message of a run whose process died: retried (once) right here.
        if _recover(captures.transaction, row) != QUEUED:
            return RunResult(claimed=False, status=FAILED)
        if not _claim(captures.transaction, capture_id, owner):
            return RunResult(claimed=False)
    row = _load(captures.transaction, capture_id)
    assert row is not None  # claimed just now; rows are never deleted
    heartbeat = Heartbeat(captures.transaction, capture_id, owner)
    workdir: Path | None = None
    try:
        request = CaptureRequest.model_validate_json(row.request)
        config = capture_config(captures.settings)
        for target in [request.url] + [s.url for s in request.steps or [] if isinstance(s, Goto)]:
            check_url(target, config.policy)  # again: DNS may have changed since the POST
        base = captures.settings.data_dir / "captures"
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        workdir = Path(tempfile.mkdtemp(prefix=f"{capture_id}-", dir=base))
        output = captures.runner()(
            request,
            capture_id=capture_id,
            workdir=workdir,
            config=config,
            progress=heartbeat.progress,
        )
        # The heartbeat goes on while the files are stored: a slow store is not a dead run.
        heartbeat.progress("recording the evidence (保存证据)")
        evidence_id = _record(captures, row, request, output, owner)
    except CaptureSupersededError:
        log.warning("capture %s was taken over while it ran; its result is dropped", capture_id)
        return RunResult(claimed=True, status=None)
    except CaptureError as exc:
        heartbeat.stop()
        _finish_failed(captures.transaction, capture_id, owner, exc.reason, exc.limit)
        log.info("capture %s failed: %s", capture_id, exc.reason)
        return RunResult(claimed=True, status=FAILED, reason=exc.reason)
    except ApiError as exc:  # the intake's own refusal, e.g. the evidence store unavailable
        heartbeat.stop()
        _finish_failed(captures.transaction, capture_id, owner, exc.detail, None)
        log.warning("capture %s not recorded: %s", capture_id, exc.detail)
        return RunResult(claimed=True, status=FAILED, reason=exc.detail)
    except Exception:
        heartbeat.stop()
        log.exception("capture %s failed unexpectedly", capture_id)
        _finish_failed(captures.transaction, capture_id, owner, UNEXPECTED, None)
        return RunResult(claimed=True, status=FAILED, reason=UNEXPECTED)
    finally:
        heartbeat.stop()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    log.info("capture %s done: evidence %s", capture_id, evidence_id)
    return RunResult(claimed=True, status=DONE, evidence_id=evidence_id)


# -- what was left behind ------------------------------------------------------------------


def _abandoned(row: Capture, now: datetime) -> bool:
    """A running capture whose process is gone: its pid dead on this host, or no
    heartbeat for :data:`STALE_AFTER` seconds."""
    beat = row.heartbeat_at or row.started_at or row.created_at
    return abandoned(row.owner, beat, now, STALE_AFTER)


def _recover(transaction: Transaction, row: Capture) -> str | None:
    """An abandoned run: re-queued if it has a run left, else failed with
    :data:`INTERRUPTED`. Conditional on the row still being that run's; returns the new
    status, or None when something else changed it first."""
    return LEASES.recover(transaction, row, max_attempts=MAX_ATTEMPTS, reason=INTERRUPTED)


def sweep(
    transaction: Transaction,
    *,
    now: datetime | None = None,
    queued_before: datetime | None = None,
    skip: frozenset[str] = frozenset(),
) -> list[str]:
    """Recover abandoned runs and return the queued captures to dispatch again: those
    queued before ``queued_before`` (default: :data:`REQUEUE_AFTER` seconds ago; a lost
    message), and those just re-queued; minus ``skip`` (already waiting here)."""
    now = now or datetime.now(UTC)
    cutoff = queued_before or now - timedelta(seconds=REQUEUE_AFTER)
    with transaction() as session:
        running = list(session.execute(select(Capture).where(Capture.status == RUNNING)).scalars())
    again: list[str] = []
    for row in running:
        if _abandoned(row, now) and _recover(transaction, row) == QUEUED:
            again.append(row.id)
    with transaction() as session:
        waiting = session.execute(
            select(Capture.id)
            .where(Capture.status == QUEUED, Capture.created_at < cutoff)
            .order_by(Capture.seq)
            .limit(1000)
        ).scalars()
        again.extend(capture_id for capture_id in waiting if capture_id not in again)
    return [capture_id for capture_id in again if capture_id not in skip]
