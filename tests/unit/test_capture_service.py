"""Capture requests and the capture service's state machine, on SQLite without a browser.

The runner (Chromium in production) is injected: a function writing a few files into
its folder, or failing the way the real one does. Everything else is real: the
database, the local store, the intake core that records the evidence and its log entry.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select, update

from anchoring.schema import log_entry
from evidence_api.capture import dispatch, service
from evidence_api.capture.models import Capture
from evidence_api.capture.outcome import (
    ENVIRONMENT,
    SCREENSHOT,
    CapturedFile,
    CaptureError,
    CaptureOutput,
    Progress,
)
from evidence_api.capture.request import MAX_STEPS, CaptureRequest
from evidence_api.capture.schemas import CapturePublic
from evidence_api.core.auth import Principal
from evidence_api.core.config import Settings
from evidence_api.core.errors import ConflictError, InvalidInputError, NotFoundError
from evidence_api.core.storage import StorageError
from evidence_api.intake.models import Evidence
from evidence_api.registry.models import CaseFile
from evidence_api.runtime import Runtime
from tests.support.offline import new_officer, offline_runtime
from tests.support.waiting import wait_until
from verifier.models import Manifest

URL = "http://127.0.0.1:9/listing"

# -- the request language ------------------------------------------------------------------


def request(**fields: Any) -> CaptureRequest:
    return CaptureRequest.model_validate({"url": URL, **fields})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"url": "ftp://example.com/x"}, "String should match pattern"),
        ({"url": "http://"}, "String should have at least 8 characters"),
        ({"url": "https://exa mple.com/"}, "String should match pattern"),
        ({"url": "https://user:pw@example.com/"}, "must not carry a user name or password"),
        ({"url": "https://user@example.com/"}, "must not carry a user name or password"),
        ({"url": "https://example.com/" + "a" * 2048}, "at most 2048 characters"),
        ({"mode": "steps"}, "mode 'steps' needs at least one step"),
        ({"mode": "steps", "steps": []}, "mode 'steps' needs at least one step"),
        (
            {"mode": "page", "steps": [{"action": "scroll", "to_bottom": True}]},
            "steps are only for mode 'steps', not 'page'",
        ),
        (
            {"mode": "steps", "steps": [{"action": "scroll"}] * (MAX_STEPS + 1)},
            f"at most {MAX_STEPS} items",
        ),
        (
            {"mode": "steps", "steps": [{"action": "click", "selector": "a" * 513}]},
            "at most 512 characters",
        ),
        ({"mode": "steps", "steps": [{"action": "eval", "code": "1"}]}, "does not match any"),
        (
            {"mode": "steps", "steps": [{"action": "wait", "seconds": 1, "network_idle": True}]},
            "exactly one of selector, network_idle, seconds",
        ),
        ({"mode": "steps", "steps": [{"action": "wait", "seconds": 61}]}, "less than or equal"),
        ({"mode": "steps", "steps": [{"action": "press", "key": "a;b"}]}, "match pattern"),
        ({"wait_for": {}}, "exactly one of selector, network_idle, seconds"),
        ({"viewport": {"width": 100, "height": 800}}, "greater than or equal to 320"),
        ({"notes": "x" * 4097}, "at most 4096 characters"),
        ({"case_id": "x" * 257}, "at most 256 characters"),
        ({"device": "tablet"}, "'desktop' or 'mobile'"),
        ({"cookies": "a=b"}, "Extra inputs are not permitted"),
    ],
    ids=[
        "ftp",
        "no-host",
        "space",
        "credentials",
        "user-only",
        "url-too-long",
        "steps-missing",
        "steps-empty",
        "steps-in-page-mode",
        "too-many-steps",
        "selector-too-long",
        "unknown-action",
        "wait-two-conditions",
        "wait-too-long",
        "bad-key",
        "wait-for-nothing",
        "viewport-too-small",
        "notes-too-long",
        "case-too-long",
        "unknown-device",
        "extra-field",
    ],
)
def test_request_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        request(**fields)


def test_request_accepted_with_every_step_kind() -> None:
    steps: list[dict[str, Any]] = [
        {"action": "goto", "url": "https://example.com/shop", "label": "进入店铺"},
        {"action": "fill", "selector": "#q", "text": "手机"},
        {"action": "press", "key": "Enter", "selector": "#q"},
        {"action": "click", "selector": "a.item"},
        {"action": "scroll", "to_bottom": True},
        {"action": "wait", "network_idle": True},
        {"action": "screenshot", "full_page": True, "label": "查看价格"},
    ]
    parsed = request(mode="steps", steps=steps, device="mobile", wait_for={"seconds": 2})
    assert [s.action for s in parsed.steps or []] == [s["action"] for s in steps]


# -- the service ---------------------------------------------------------------------------


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    with offline_runtime(tmp_path / "data") as built:
        yield built


@pytest.fixture
def officer(runtime: Runtime) -> Principal:
    return new_officer(runtime)


def fake_runner(
    *, before: Callable[[str, Progress], object] = lambda _id, _p: None
) -> Callable[[], service.Runner]:
    """A runner writing a screenshot and environment.json, as the browser's would."""

    def run(
        request: CaptureRequest,
        *,
        capture_id: str,
        workdir: Path,
        config: Any,
        progress: Progress,
    ) -> CaptureOutput:
        progress("1/2 goto " + request.url)
        before(capture_id, progress)
        shot = workdir / SCREENSHOT
        shot.write_bytes(b"\x89PNG fake " + capture_id.encode())
        env = workdir / ENVIRONMENT
        env.write_text(json.dumps({"capture_id": capture_id}), encoding="utf-8")
        assert config.tool.startswith("evidence-anchor capture ")
        return CaptureOutput(
            files=[
                CapturedFile(SCREENSHOT, "image/png", shot),
                CapturedFile(ENVIRONMENT, "application/json", env),
            ],
            environment={"capture_id": capture_id},
            manifest_environment={"os": "Debian 12", "recorded_by": "page", "capture_id": "x"},
            tool=config.tool + " / Chromium 131",
            final_url=request.url,
            title="listing",
            started_at="2026-12-02T10:00:00.250Z",
        )

    return lambda: run


def failing_runner(exc: BaseException) -> Callable[[], service.Runner]:
    def run(request: CaptureRequest, **_: Any) -> CaptureOutput:
        raise exc

    return lambda: run


def captures(runtime: Runtime, runner: Callable[[], service.Runner]) -> service.Captures:
    return dispatch.captures_of(runtime, runner)


def counts(runtime: Runtime) -> tuple[int, int]:
    with runtime.session() as session:
        evidence = session.execute(select(func.count()).select_from(Evidence)).scalar_one()
        entries = session.execute(select(func.count()).select_from(log_entry)).scalar_one()
    return evidence, entries


def row_of(runtime: Runtime, capture_id: str) -> Capture:
    with runtime.session() as session:
        return session.execute(select(Capture).where(Capture.id == capture_id)).scalar_one()


def test_a_capture_becomes_one_evidence_item_through_the_intake(
    runtime: Runtime, officer: Principal
) -> None:
    seen: list[CapturePublic] = []

    def during(capture_id: str, progress: Progress) -> None:
        seen.append(service.get_capture(runtime.session, capture_id))

    work = captures(runtime, fake_runner(before=during))
    body = request(platform="example-mall", entity="示例旗舰店", notes="价格页")
    submitted = service.submit(work, officer, body)
    capture_id = submitted.accepted.capture_id
    assert submitted.accepted.status == "queued"
    assert submitted.accepted.status_url == f"/v1/captures/{capture_id}"
    assert service.get_capture(runtime.session, capture_id).status == "queued"

    result = service.run(work, capture_id)
    assert result.status == "done" and result.evidence_id is not None
    # while it ran: running, with the step the runner reported
    assert seen[0].status == "running" and seen[0].step == f"1/2 goto {URL}"
    public = service.get_capture(runtime.session, capture_id)
    assert public.status == "done" and public.evidence_id == result.evidence_id
    assert public.evidence_url == f"/v1/evidence/{result.evidence_id}"
    assert public.step is None and public.reason is None
    assert public.submitter == officer.pseudonym and public.attempts == 1
    assert public.request == body
    assert public.started_at is not None and public.finished_at is not None
    assert public.created_at <= public.started_at <= public.finished_at

    with runtime.session() as session:
        evidence = session.execute(
            select(Evidence).where(Evidence.id == result.evidence_id)
        ).scalar_one()
        manifest = Manifest.model_validate_json(evidence.manifest)
        assert [f.name for f in evidence.files] == [SCREENSHOT, ENVIRONMENT]
    assert manifest.source.url == URL and manifest.source.platform == "example-mall"
    assert manifest.source.entity == "示例旗舰店" and manifest.notes == "价格页"
    assert manifest.captured_at == "2026-12-02T10:00:00.250Z"
    assert manifest.capture.tool.endswith(" / Chromium 131")
    # the server's keys win over whatever the runner (or a page) put there
    assert manifest.capture.environment == {
        "os": "Debian 12",
        "recorded_by": "server",
        "capture_id": capture_id,
    }
    assert manifest.submitter == officer.pseudonym
    assert counts(runtime) == (1, 1)
    # the captures folder is emptied; nothing is left in the spool
    assert list((runtime.settings.data_dir / "captures").iterdir()) == []
    spool = runtime.store.spool_dir(runtime.settings.resolved_spool_dir)
    assert [p for p in spool.iterdir() if p.name.startswith("upload-")] == []


def test_a_second_run_of_the_same_capture_does_nothing(
    runtime: Runtime, officer: Principal
) -> None:
    work = captures(runtime, fake_runner())
    capture_id = service.submit(work, officer, request()).accepted.capture_id
    assert service.run(work, capture_id).status == "done"
    again = service.run(work, capture_id)
    assert again.claimed is False and again.status == "done"
    assert counts(runtime) == (1, 1)
    assert service.run(work, "cap-" + "0" * 28).claimed is False


def test_concurrent_runs_claim_once(runtime: Runtime, officer: Principal) -> None:
    gate = threading.Event()
    work = captures(runtime, fake_runner(before=lambda _id, _p: gate.wait(30)))
    capture_id = service.submit(work, officer, request()).accepted.capture_id
    results: list[service.RunResult] = []
    threads = [
        threading.Thread(target=lambda: results.append(service.run(work, capture_id)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(results) == 2, 30, "the two losing runs to return")
    gate.set()
    for thread in threads:
        thread.join(30)
    assert sorted(r.claimed for r in results) == [False, False, True]
    assert counts(runtime) == (1, 1)


def test_a_limit_fails_the_capture_with_the_limit_named(
    runtime: Runtime, officer: Principal
) -> None:
    reason = "the page kept loading past 120 s (EVIDENCE_CAPTURE_TOTAL_SECONDS)"
    work = captures(runtime, failing_runner(CaptureError(reason, limit="total_seconds")))
    capture_id = service.submit(work, officer, request()).accepted.capture_id
    assert service.run(work, capture_id).status == "failed"
    public = service.get_capture(runtime.session, capture_id)
    assert (public.status, public.reason, public.limit) == ("failed", reason, "total_seconds")
    assert public.evidence_id is None and public.finished_at is not None
    assert counts(runtime) == (0, 0)
    assert list((runtime.settings.data_dir / "captures").iterdir()) == []


def test_an_unexpected_error_fails_the_capture_generically(
    runtime: Runtime, officer: Principal, caplog: pytest.LogCaptureFixture
) -> None:
    work = captures(runtime, failing_runner(RuntimeError("secret internals")))
    capture_id = service.submit(work, officer, request()).accepted.capture_id
    service.run(work, capture_id)
    public = service.get_capture(runtime.session, capture_id)
    assert (public.status, public.reason, public.limit) == ("failed", service.UNEXPECTED, None)
    assert "secret internals" in caplog.text  # logged with its traceback, not shown
    assert counts(runtime) == (0, 0)


def test_a_refused_address_at_run_time_fails_the_capture(
    runtime: Runtime, officer: Principal
) -> None:
    """Checked at submission, and again when the run starts (here the allow-list changed)."""
    work = captures(runtime, fake_runner())
    capture_id = service.submit(work, officer, request()).accepted.capture_id
    strict = runtime.settings.model_copy(update={"capture_allow": ""})
    service.run(service.Captures(work.transaction, work.recorder, strict, work.runner), capture_id)
    public = service.get_capture(runtime.session, capture_id)
    assert public.status == "failed" and public.reason is not None
    assert "127.0.0.1" in public.reason and "EVIDENCE_CAPTURE_ALLOW" in public.reason
    assert counts(runtime) == (0, 0)


def test_a_run_taken_over_records_nothing(runtime: Runtime, officer: Principal) -> None:
    """The row is no longer this run's when it ends (a sweep gave it to another process):
    its evidence is not recorded, so a capture never has two."""

    def stolen(capture_id: str, _progress: Progress) -> None:
        with runtime.session() as session:
            session.execute(
                update(Capture).where(Capture.id == capture_id).values(owner="elsewhere:1:x")
            )

    work = captures(runtime, fake_runner(before=stolen))
    capture_id = service.submit(work, officer, request()).accepted.capture_id
    service.run(work, capture_id)
    row = row_of(runtime, capture_id)
    assert (row.status, row.owner, row.evidence_id) == ("running", "elsewhere:1:x", None)
    assert counts(runtime) == (0, 0)


def test_the_target_is_checked_at_submission(runtime: Runtime, officer: Principal) -> None:
    strict = runtime.settings.model_copy(update={"capture_allow": ""})
    work = dispatch.captures_of(runtime)
    work = service.Captures(work.transaction, work.recorder, strict, work.runner)
    with pytest.raises(InvalidInputError) as refused:
        service.submit(work, officer, request())
    assert refused.value.field == "url"
    assert "127.0.0.1" in refused.value.detail
    assert "EVIDENCE_CAPTURE_ALLOW" in refused.value.detail
    steps = [{"action": "goto", "url": "http://10.0.0.1/admin"}]
    with pytest.raises(InvalidInputError) as refused:
        service.submit(
            dispatch.captures_of(runtime),
            officer,
            request(url="http://127.0.0.1:9/", mode="steps", steps=steps),
        )
    assert refused.value.field == "steps[0].url" and "10.0.0.1" in refused.value.detail
    with runtime.session() as session:
        assert session.execute(select(func.count()).select_from(Capture)).scalar_one() == 0


def test_the_case_must_exist(runtime: Runtime, officer: Principal) -> None:
    work = dispatch.captures_of(runtime)
    with pytest.raises(InvalidInputError, match="case_id: no case numbered 'NOPE-1'"):
        service.submit(work, officer, request(case_id="NOPE-1"))
    now = datetime.now(UTC)
    with runtime.session() as session:
        case = CaseFile(
            number="泉市监-2026-7",
            title="t",
            officer=officer.pseudonym,
            status="filed",
            created_at=now,
            updated_at=now,
        )
        session.add(case)
        session.flush()
        case_id = case.id
    by_number = service.submit(work, officer, request(case_id="泉市监-2026-7"))
    by_id = service.submit(work, officer, request(case_id=str(case_id)))
    for accepted in (by_number, by_id):
        public = service.get_capture(runtime.session, accepted.accepted.capture_id)
        assert public.case_ref == "泉市监-2026-7"


def test_idempotency_key(runtime: Runtime, officer: Principal) -> None:
    work = dispatch.captures_of(runtime)
    first = service.submit(work, officer, request(), "key-1")
    again = service.submit(work, officer, request(), "key-1")
    assert again.replayed and again.accepted.capture_id == first.accepted.capture_id
    with pytest.raises(ConflictError):
        service.submit(work, officer, request(notes="other"), "key-1")


def test_unknown_capture(runtime: Runtime) -> None:
    with pytest.raises(NotFoundError):
        service.get_capture(runtime.session, "cap-" + "0" * 28)


def test_list_filters_and_pages(runtime: Runtime, officer: Principal) -> None:
    work = captures(runtime, fake_runner())
    ids = [
        service.submit(work, officer, request(platform=p)).accepted.capture_id
        for p in ("a", "b", "a")
    ]
    service.run(work, ids[0])
    everything = service.CaptureFilter()
    page = service.list_captures(runtime.session, everything, limit=2, cursor=None)
    assert [c.capture_id for c in page.items] == [ids[2], ids[1]]
    rest = service.list_captures(runtime.session, everything, limit=2, cursor=page.next_cursor)
    assert [c.capture_id for c in rest.items] == [ids[0]] and rest.next_cursor is None
    on_a = service.list_captures(
        runtime.session, service.CaptureFilter(platform="a"), limit=10, cursor=None
    )
    assert [c.capture_id for c in on_a.items] == [ids[2], ids[0]]
    done = service.list_captures(
        runtime.session, service.CaptureFilter(status="done"), limit=10, cursor=None
    )
    assert [c.capture_id for c in done.items] == [ids[0]]
    later = datetime.now(UTC) + timedelta(minutes=1)
    none = service.list_captures(
        runtime.session, service.CaptureFilter(since=later), limit=10, cursor=None
    )
    assert none.items == []
    with pytest.raises(InvalidInputError, match="since: must include a time zone"):
        service.list_captures(
            runtime.session,
            service.CaptureFilter(since=datetime(2026, 1, 1)),
            limit=10,
            cursor=None,
        )


def _abandon(runtime: Runtime, capture_id: str, owner: str, *, ago: float) -> None:
    beat = datetime.now(UTC) - timedelta(seconds=ago)
    with runtime.session() as session:
        session.execute(
            update(Capture)
            .where(Capture.id == capture_id)
            .values(
                status="running",
                owner=owner,
                started_at=beat,
                heartbeat_at=beat,
                attempts=Capture.attempts + 1,
            )
        )


def test_an_interrupted_run_is_retried_once_then_failed(
    runtime: Runtime, officer: Principal
) -> None:
    work = captures(runtime, fake_runner())
    capture_id = service.submit(work, officer, request()).accepted.capture_id
    # another host's process, heartbeat fresh: alive as far as anyone can tell
    _abandon(runtime, capture_id, "other-host:1:t", ago=1)
    assert service.sweep(runtime.session) == []
    assert row_of(runtime, capture_id).status == "running"
    # its heartbeat stale: gone; queued again (attempt 1 of 2)
    with runtime.session() as session:
        session.execute(
            update(Capture)
            .where(Capture.id == capture_id)
            .values(heartbeat_at=datetime.now(UTC) - timedelta(seconds=service.STALE_AFTER + 5))
        )
    assert service.sweep(runtime.session) == [capture_id]
    row = row_of(runtime, capture_id)
    assert (row.status, row.owner, row.attempts) == ("queued", None, 1)
    # the second run's process dies too (a dead pid on this host): failed, interrupted
    _abandon(runtime, capture_id, f"{service.process_owner().split(':')[0]}:{dead_pid()}:t", ago=1)
    assert service.sweep(runtime.session) == []
    public = service.get_capture(runtime.session, capture_id)
    assert (public.status, public.reason) == ("failed", service.INTERRUPTED)
    assert public.attempts == 2
    assert service.run(work, capture_id).claimed is False  # a late redelivery: nothing


def test_a_redelivered_message_retries_an_abandoned_run(
    runtime: Runtime, officer: Principal
) -> None:
    work = captures(runtime, fake_runner())
    capture_id = service.submit(work, officer, request()).accepted.capture_id
    _abandon(runtime, capture_id, f"{service.process_owner().split(':')[0]}:{dead_pid()}:t", ago=1)
    result = service.run(work, capture_id)
    assert result.status == "done"
    assert row_of(runtime, capture_id).attempts == 2


def test_sweep_returns_queued_captures_left_behind(runtime: Runtime, officer: Principal) -> None:
    work = dispatch.captures_of(runtime)
    capture_id = service.submit(work, officer, request()).accepted.capture_id
    assert service.sweep(runtime.session) == []  # young: its message is probably on its way
    later = datetime.now(UTC) + timedelta(seconds=service.REQUEUE_AFTER + 1)
    assert service.sweep(runtime.session, now=later) == [capture_id]
    assert service.sweep(runtime.session, now=later, skip=frozenset({capture_id})) == []


def dead_pid() -> int:
    """A pid no process has (the kernel's maximum is below it)."""
    limit = int(Path("/proc/sys/kernel/pid_max").read_text())
    pid = limit + 1000
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    return pid


def test_embedded_executor_runs_captures_and_resumes_at_start(
    runtime: Runtime, officer: Principal
) -> None:
    left = [service.submit(dispatch.captures_of(runtime), officer, request()) for _ in range(2)]
    local = dispatch.start_embedded(runtime, fake_runner())
    try:
        assert dispatch.embedded(runtime) is local
        # the first sweep after a start hands every queued capture to the threads
        assert sorted(local.sweep()) == sorted(s.accepted.capture_id for s in left)
        fresh = service.submit(dispatch.captures_of(runtime), officer, request())
        dispatch.enqueue(runtime, fresh.accepted.capture_id)
        ids = [s.accepted.capture_id for s in (*left, fresh)]
        wait_until(
            lambda: all(row_of(runtime, i).status == "done" for i in ids),
            60,
            "the embedded threads to finish the captures",
        )
        # a thread forgets its id just after the capture's row is committed done
        wait_until(lambda: local.waiting == frozenset(), 60, "the threads to forget the ids")
        assert counts(runtime) == (3, 3)
    finally:
        local.stop(30)
    assert dispatch.embedded(runtime) is None


class _UnavailableStore:
    """The runtime's store, whose writes fail as an unreachable S3 endpoint's do."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def spool_dir(self, default: Path) -> Path:
        return Path(self._store.spool_dir(default))

    def put_spooled(self, *_: Any) -> Any:
        raise StorageError("connection refused")

    def put_bytes(self, *_: Any) -> Any:
        raise StorageError("connection refused")


def test_an_unavailable_store_fails_the_capture_with_that_reason(
    runtime: Runtime, officer: Principal
) -> None:
    work = captures(runtime, fake_runner())
    broken = dataclasses.replace(work.recorder, store=_UnavailableStore(runtime.store))  # type: ignore[arg-type]
    work = dataclasses.replace(work, recorder=broken)
    capture_id = service.submit(work, officer, request()).accepted.capture_id
    service.run(work, capture_id)
    public = service.get_capture(runtime.session, capture_id)
    assert public.status == "failed"
    assert public.reason == "evidence storage is unavailable: connection refused"
    assert counts(runtime) == (0, 0)
    spool = runtime.store.spool_dir(runtime.settings.resolved_spool_dir)
    assert [p for p in spool.iterdir() if p.name.startswith("upload-")] == []


def test_worker_arguments_consume_the_capture_queue_with_its_concurrency() -> None:
    from evidence_api.worker import worker_arguments  # noqa: PLC0415

    settings = Settings(capture_concurrency=3)
    captures_only = worker_arguments(settings, loglevel="INFO", queues="capture", concurrency=None)
    assert captures_only == [
        "worker",
        "--loglevel=INFO",
        "--pool=threads",
        "--concurrency=3",
        "--queues=capture",
        "--without-gossip",
        "--without-mingle",
    ]
    jobs = worker_arguments(settings, loglevel="INFO", queues="celery", concurrency=None)
    assert "--pool=solo" in jobs and "--queues=celery" in jobs
    both = worker_arguments(settings, loglevel="INFO", queues=" capture, celery ", concurrency=1)
    assert "--pool=solo" in both and "--queues=capture,celery" in both
    with pytest.raises(SystemExit, match="names no queue"):
        worker_arguments(settings, loglevel="INFO", queues=" , ", concurrency=None)
