"""One look at a target through the capture feature, and keeping it as evidence.

:func:`observe` runs a capture of the URL (light unless ``full``: see
:attr:`~evidence_api.capture.outcome.CaptureConfig.light`) with the capture's own safety
(the address checked, the browser pinned to it through the recording proxy) in a private
folder under ``<data_dir>/captures``, and extracts the :class:`Observation` from its DOM
and main-document record (the final HTTP status), with the SHA-256 of every captured
file. The folder goes when the ``with`` block ends: a run that fires nothing keeps only
those digests (in its ``monitor`` log entry); one that fires keeps the files as evidence
through :func:`keep_as_evidence`, which records them through the SAME intake core as
uploads and capture jobs (:func:`evidence_api.capture.service.record_capture`).

Monitor runs (:mod:`.runs`) and takedown re-captures (:mod:`.takedown_checks`) both look
through here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from evidence_api.capture import service as capture_service
from evidence_api.capture.netpolicy import check_url
from evidence_api.capture.outcome import DOM, MAIN_DOCUMENT, CaptureError, CaptureOutput
from evidence_api.capture.request import CaptureRequest
from evidence_api.capture.service import CaptureSource, Runner, browser_runner
from evidence_api.core.config import Settings
from evidence_api.core.db import Transaction
from evidence_api.core.runtime import Runtime
from evidence_api.intake import submit as intake
from evidence_api.monitoring.extract import observe_page
from evidence_api.monitoring.observation import Observation

#: Most bytes of a captured DOM read for the observation (a page beyond it is cut there).
MAX_DOM_BYTES = 20 * 1024 * 1024
#: Read chunk when a captured file is hashed.
CHUNK = 1 << 20


@dataclass(frozen=True)
class Observer:
    """What looking at targets uses: transactions, the intake's recorder, the settings,
    and the browser runner (the real one unless a test injects one)."""

    transaction: Transaction
    recorder: intake.Recorder
    settings: Settings
    runner: Callable[[], Runner] = browser_runner


def observer_of(runtime: Runtime, runner: Callable[[], Runner] = browser_runner) -> Observer:
    """The observer of a process's runtime (the same recorder as capture jobs use)."""
    return Observer(
        transaction=runtime.session,
        recorder=intake.recorder_of(runtime),
        settings=runtime.settings,
        runner=runner,
    )


@dataclass
class Observed:
    """A capture and what was seen in it (its files exist until ``observe`` returns)."""

    output: CaptureOutput
    observation: Observation
    full: bool
    run_id: str
    url: str


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def main_status(output: CaptureOutput) -> tuple[int | None, str]:
    """The main document's final HTTP status and URL, from ``main-document.json`` (None
    and the runner's final URL when the record lacks them)."""
    for captured in output.files:
        if captured.name == MAIN_DOCUMENT:
            record: dict[str, Any] = json.loads(captured.path.read_text(encoding="utf-8"))
            final = record.get("final_response") or {}
            status = final.get("status")
            url = str(record.get("final_url") or output.final_url)
            return (status if isinstance(status, int) else None), url
    return None, output.final_url


def observation_of(output: CaptureOutput, patterns: Sequence[str] = ()) -> Observation:
    """What a finished capture shows: its DOM read (at most :data:`MAX_DOM_BYTES`), the
    main document's status, and every file's SHA-256 by name."""
    digests = {f.name: file_sha256(f.path) for f in output.files}
    dom = next((f for f in output.files if f.name == DOM), None)
    if dom is None:
        raise CaptureError("the capture has no DOM (dom.html) to observe")
    with dom.path.open("rb") as source:
        html = source.read(MAX_DOM_BYTES).decode("utf-8", errors="replace")
    status, final_url = main_status(output)
    return observe_page(
        html, http_status=status, final_url=final_url, patterns=patterns, digests=digests
    )


@contextmanager
def observe(
    observer: Observer,
    url: str,
    *,
    full: bool,
    patterns: Sequence[str] = (),
    run_id: str,
    progress: Callable[[str], None] = lambda _step: None,
) -> Iterator[Observed]:
    """Capture ``url`` (light unless ``full``) and observe it; the capture's folder is
    removed when the block ends. Raises :class:`CaptureError` when the capture fails
    (its reason precise, as a capture job's)."""
    settings = observer.settings
    config = dataclasses.replace(capture_service.capture_config(settings), light=not full)
    check_url(url, config.policy)  # again at each run: DNS may have changed
    request = CaptureRequest.model_validate({"url": url})
    base = settings.data_dir / "captures"
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    workdir = Path(tempfile.mkdtemp(prefix=f"{run_id}-", dir=base))
    try:
        output = observer.runner()(
            request, capture_id=run_id, workdir=workdir, config=config, progress=progress
        )
        yield Observed(output, observation_of(output, patterns), full, run_id, url)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def keep_as_evidence(
    observer: Observer,
    observed: Observed,
    *,
    submitter_token_id: int,
    platform: str | None,
    entity: str | None,
    case_ref: str | None,
    notes: str | None,
    link: Callable[[Session, str], None] | None = None,
) -> str:
    """Record the observed capture as one evidence item (the intake core, as uploads and
    capture jobs); ``link(session, evidence_id)`` runs in the evidence's own transaction
    (a run's result, its alerts and their log entries: all or nothing). Returns the
    evidence id."""
    principal = capture_service.submitter(observer.transaction, submitter_token_id)
    source = CaptureSource(
        capture_id=observed.run_id,
        url=observed.url,
        platform=platform,
        entity=entity,
        case_ref=case_ref,
        notes=notes,
    )
    return capture_service.record_capture(
        observer.recorder, observer.settings, principal, observed.output, source, link=link
    )
