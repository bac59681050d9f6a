"""Monitor runs' state machine on SQLite without a browser.

The capture runner (Chromium in production) is injected: it writes the page a test sets
(its HTML and HTTP status) as ``dom.html`` and ``main-document.json``, as the browser's
would, and records whether each capture was light. Everything else is real: the
database, the local store, the intake core, the rules and the word lists, the alert log.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence_api.capture.outcome import (
    DOM,
    ENVIRONMENT,
    MAIN_DOCUMENT,
    SCREENSHOT,
    CapturedFile,
    CaptureError,
    CaptureOutput,
    Progress,
)
from evidence_api.capture.request import CaptureRequest
from evidence_api.capture.service import Runner
from evidence_api.core.auth import Principal
from evidence_api.core.errors import ConflictError, NotFoundError
from evidence_api.intake.models import Evidence
from evidence_api.monitoring import dispatch, hosts, runs
from evidence_api.monitoring import schedule as _schedule  # noqa: F401 - see below
from evidence_api.monitoring.models import (
    DONE,
    FAILED,
    QUEUED,
    Alert,
    AlertEvent,
    Monitor,
    MonitorRun,
)
from evidence_api.monitoring.observation import Observation
from evidence_api.monitoring.observe import main_status, observe, observer_of
from evidence_api.runtime import Runtime
from tests.support.monitors import latest_run, monitor_row, queue_and_run
from tests.support.offline import new_officer, offline_runtime

URL = "https://127.0.0.1:9/item/a"
# ``schedule`` is imported above, at collection: croniter's first import runs `file` (a
# subprocess, refused while a unit test runs); the tick imports it lazily.


def listing(price: str = "199.00", description: str = "传统工艺制作，香气持久。") -> str:
    return (
        "<!DOCTYPE html><html><head><title>安溪铁观音 500g</title></head><body>"
        '<h1>安溪铁观音 500g</h1><span class="price">¥' + price + "</span>"
        f"<div>有货</div><div>{description}</div></body></html>"
    )


@dataclass
class Page:
    """What the fake browser sees next, and what it was asked."""

    html: str = field(default_factory=listing)
    status: int = 200
    fail: str | None = None
    light: list[bool] = field(default_factory=list)
    workdirs: list[Path] = field(default_factory=list)


def page_runner(page: Page) -> Callable[[], Runner]:
    def run(
        request: CaptureRequest,
        *,
        capture_id: str,
        workdir: Path,
        config: Any,
        progress: Progress,
    ) -> CaptureOutput:
        page.light.append(config.light)
        page.workdirs.append(workdir)
        if page.fail is not None:
            raise CaptureError(page.fail)
        files = {
            SCREENSHOT: b"\x89PNG fake",
            DOM: page.html.encode(),
            MAIN_DOCUMENT: json.dumps(
                {"final_url": request.url, "final_response": {"status": page.status}}
            ).encode(),
            ENVIRONMENT: json.dumps({"capture_id": capture_id}).encode(),
        }
        if not config.light:
            files["page.mhtml"] = b"MIME-Version: 1.0 fake"
        captured = []
        for name, data in files.items():
            (workdir / name).write_bytes(data)
            captured.append(CapturedFile(name, "application/octet-stream", workdir / name))
        return CaptureOutput(
            files=captured,
            environment={"capture_id": capture_id},
            manifest_environment={"os": "Debian 12"},
            tool=config.tool + " / Chromium 131",
            final_url=request.url,
            title="listing",
            started_at="2026-12-02T10:00:00.250Z",
        )

    return lambda: run


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    with offline_runtime(tmp_path / "data", run_monitors=False, monitor_host_spacing=0) as built:
        yield built


@pytest.fixture
def officer(runtime: Runtime) -> Principal:
    return new_officer(runtime)


def add_monitor(
    runtime: Runtime, who: Principal, *, archive: str = "on_alert", due: bool = True
) -> Monitor:
    now = datetime.now(UTC)
    with runtime.session() as session:
        monitor = monitor_row(
            URL,
            created_by_token_id=who.token_id,
            created_by=who.pseudonym,
            now=now,
            interval_seconds=600,
            archive=archive,
            next_run_at=None if due else now + timedelta(hours=1),
        )
        session.add(monitor)
    return monitor


class Harness:
    def __init__(self, runtime: Runtime, page: Page) -> None:
        self.runtime = runtime
        self.page = page
        self.ctx = runs.monitoring_of(runtime, page_runner(page))

    def run(self, monitor: Monitor) -> runs.RunResult:
        return queue_and_run(self.runtime, monitor, self.ctx)

    def last_run(self, monitor: Monitor) -> MonitorRun:
        return latest_run(self.runtime, monitor)

    def monitor(self, monitor: Monitor) -> Monitor:
        with self.runtime.session() as session:
            found = session.get(Monitor, monitor.seq)
            assert found is not None
            return found

    def alerts(self, run: MonitorRun) -> list[Alert]:
        with self.runtime.session() as session:
            return list(session.execute(select(Alert).where(Alert.run_seq == run.seq)).scalars())


def load_evidence(session: Session, evidence_id: str | None) -> Evidence | None:
    return session.execute(select(Evidence).where(Evidence.id == evidence_id)).scalar_one_or_none()


@pytest.fixture
def harness(runtime: Runtime) -> Harness:
    return Harness(runtime, Page())


def test_an_unchanged_listing_fires_nothing_and_keeps_only_digests(
    harness: Harness, officer: Principal
) -> None:
    monitor = add_monitor(harness.runtime, officer)
    for _ in range(2):
        result = harness.run(monitor)
        assert (result.status, result.fired, result.evidence_id) == (DONE, (), None)
    assert harness.page.light == [True, True]
    assert all(not w.exists() for w in harness.page.workdirs)  # the captures' folders went
    run = harness.last_run(monitor)
    assert run.fired == "[]" and run.entry_id is not None and run.evidence_id is None
    observation = Observation.loads(run.observation or "")
    assert observation.prices == ("199.00",) and set(observation.digests) == {
        SCREENSHOT,
        DOM,
        MAIN_DOCUMENT,
        ENVIRONMENT,
    }
    with harness.runtime.session() as session:
        assert session.execute(select(Evidence.id)).first() is None
        assert session.execute(select(Alert.id)).first() is None
    assert harness.monitor(monitor).baseline == run.observation


def test_on_alert_captures_again_in_full_and_keeps_that(
    harness: Harness, officer: Principal
) -> None:
    monitor = add_monitor(harness.runtime, officer)
    harness.run(monitor)
    harness.page.html = listing(price="150.00")
    result = harness.run(monitor)
    assert result.fired == ("price_changed",)
    assert harness.page.light == [True, True, False]
    run = harness.last_run(monitor)
    [alert] = harness.alerts(run)
    assert alert.evidence_id == run.evidence_id == result.evidence_id
    assert alert.recipient == officer.pseudonym
    with harness.runtime.session() as session:
        evidence = load_evidence(session, run.evidence_id)
        assert evidence is not None and evidence.source_url == URL
        assert evidence.submitter_token_id == officer.token_id
        names = {f.name for f in evidence.files}
        events = list(session.execute(select(AlertEvent)).scalars())
    assert "page.mhtml" in names  # the full capture is the evidence
    assert [e.to_status for e in events] == ["open"]
    observation = Observation.loads(run.observation or "")
    assert "page.mhtml" in observation.digests  # the entry commits to what was kept


def test_on_alert_keeps_the_light_capture_when_the_full_one_no_longer_fires(
    harness: Harness, officer: Principal
) -> None:
    monitor = add_monitor(harness.runtime, officer)
    harness.run(monitor)
    harness.page.html = listing(price="150.00")
    original = page_runner(harness.page)()
    calls: list[int] = []

    def flip(request: CaptureRequest, **kwargs: Any) -> CaptureOutput:
        calls.append(1)
        if len(calls) == 2:  # the price went back before the full capture
            harness.page.html = listing(price="199.00")
        return original(request, **kwargs)

    ctx = runs.monitoring_of(harness.runtime, lambda: flip)
    result = queue_and_run(harness.runtime, monitor, ctx)
    assert result.fired == ("price_changed",)
    with harness.runtime.session() as session:
        evidence = load_evidence(session, result.evidence_id)
        assert evidence is not None
        assert "page.mhtml" not in {f.name for f in evidence.files}


def test_never_keeps_the_light_capture_and_always_keeps_every_run(
    harness: Harness, officer: Principal
) -> None:
    never = add_monitor(harness.runtime, officer, archive="never")
    harness.run(never)
    harness.page.html = listing(description="国家级传统工艺，香气持久。")
    assert harness.run(never).fired == ("prohibited_words",)
    assert harness.page.light == [True, True]
    always = add_monitor(harness.runtime, officer, archive="always")
    result = harness.run(always)
    assert harness.page.light[-1] is False
    assert result.evidence_id is not None
    # the words were there at the first look: no baseline, the word still fires
    run = harness.last_run(always)
    assert [a.rule for a in harness.alerts(run)] == list(result.fired)


def test_gone_keeps_the_live_baseline_and_back_clears_it(
    harness: Harness, officer: Principal
) -> None:
    monitor = add_monitor(harness.runtime, officer, archive="never")
    harness.run(monitor)
    live = harness.monitor(monitor).baseline
    harness.page.status, harness.page.html = 404, "<html><body>商品不存在</body></html>"
    assert harness.run(monitor).fired == ("gone",)
    state = harness.monitor(monitor)
    assert state.gone and state.baseline == live
    assert harness.run(monitor).fired == ()
    harness.page.status, harness.page.html = 200, listing()
    assert harness.run(monitor).fired == ("back",)
    state = harness.monitor(monitor)
    assert not state.gone and state.baseline == harness.last_run(monitor).observation


def test_a_capture_failure_fails_the_run_and_changes_nothing(
    harness: Harness, officer: Principal
) -> None:
    monitor = add_monitor(harness.runtime, officer)
    harness.run(monitor)
    before = harness.monitor(monitor).baseline
    harness.page.fail = "page did not load: net::ERR_CONNECTION_REFUSED"
    result = harness.run(monitor)
    assert (result.status, result.reason) == (FAILED, harness.page.fail)
    run = harness.last_run(monitor)
    assert run.status == FAILED and run.reason == harness.page.fail and run.entry_id is None
    assert harness.monitor(monitor).baseline == before
    assert harness.alerts(run) == []


def test_a_busy_host_defers_and_gives_the_attempt_back(
    harness: Harness, officer: Principal
) -> None:
    monitor = add_monitor(harness.runtime, officer)
    limit = harness.runtime.settings.monitor_host_concurrency
    for i in range(limit):
        assert (
            hosts.acquire(
                harness.runtime.session,
                "127.0.0.1",
                concurrency=limit,
                spacing=0,
                holder=f"other{i}",
                lease_seconds=600,
            )
            == i
        )
    result = harness.run(monitor)
    assert result.deferred and result.status == QUEUED
    run = harness.last_run(monitor)
    assert (run.status, run.attempts, run.deferrals, run.owner) == (QUEUED, 0, 1, None)
    assert harness.page.light == []  # nothing captured
    assert hosts.release(harness.runtime.session, "127.0.0.1", 0, "other0")
    assert runs.sweep(harness.runtime.session, now=run.scheduled_at) == [run.id]
    assert runs.run_monitor(harness.ctx, run.id).status == DONE
    # the slot it took was released at the end
    assert (
        hosts.acquire(
            harness.runtime.session,
            "127.0.0.1",
            concurrency=limit,
            spacing=0,
            holder="again",
            lease_seconds=600,
        )
        == 0
    )


def test_a_run_is_claimed_once(harness: Harness, officer: Principal) -> None:
    monitor = add_monitor(harness.runtime, officer)
    harness.run(monitor)
    run = harness.last_run(monitor)
    again = runs.run_monitor(harness.ctx, run.id)
    assert not again.claimed and again.status == DONE


def test_a_deleted_monitor_fails_its_queued_run(harness: Harness, officer: Principal) -> None:
    monitor = add_monitor(harness.runtime, officer)
    with harness.runtime.session() as session:
        found = session.get(Monitor, monitor.seq)
        assert found is not None
        found.deleted_at = datetime.now(UTC)
    result = harness.run(monitor)
    assert (result.status, result.reason) == (FAILED, runs.MONITOR_GONE)


def test_the_tick_queues_due_monitors_once_and_moves_them_on(
    harness: Harness, officer: Principal
) -> None:
    due = add_monitor(harness.runtime, officer)
    later = add_monitor(harness.runtime, officer, due=False)
    ids = dispatch.queue_due(harness.runtime.session, jitter=0.0)
    assert len(ids) == 1
    assert harness.last_run(due).id == ids[0]
    with harness.runtime.session() as session:
        assert (
            session.execute(
                select(MonitorRun.id).where(MonitorRun.monitor_seq == later.seq)
            ).first()
            is None
        )
    # due again (moved back by hand), its run still queued: the occurrence is skipped
    with harness.runtime.session() as session:
        found = session.get(Monitor, due.seq)
        assert found is not None
        found.next_run_at = datetime.now(UTC) - timedelta(seconds=1)
    assert dispatch.queue_due(harness.runtime.session, jitter=0.0) == []
    assert harness.monitor(due).next_run_at > datetime.now(UTC) + timedelta(seconds=500)


def test_run_now_refuses_a_second_pending_run_and_unknown_monitors(
    harness: Harness, officer: Principal
) -> None:
    monitor = add_monitor(harness.runtime, officer, due=False)
    run_id = dispatch.queue_run(harness.runtime, monitor.seq)
    assert dispatch.RUN_ID.fullmatch(run_id)
    with pytest.raises(ConflictError, match=run_id):
        dispatch.queue_run(harness.runtime, monitor.seq)
    with pytest.raises(NotFoundError):
        dispatch.queue_run(harness.runtime, 10**9)


def test_observe_reads_the_main_documents_status_and_removes_its_folder(
    harness: Harness,
) -> None:
    harness.page.status = 410
    observer = observer_of(harness.runtime, page_runner(harness.page))
    with observe(observer, URL, full=False, run_id=runs.new_run_id()) as seen:
        assert main_status(seen.output) == (410, URL)
        assert seen.observation.http_status == 410 and seen.observation.gone
        folder = harness.page.workdirs[-1]
        assert folder.is_dir()
    assert not folder.exists()


def test_observe_refuses_a_target_the_address_policy_refuses(harness: Harness) -> None:
    observer = observer_of(harness.runtime, page_runner(harness.page))
    with (
        pytest.raises(CaptureError, match=r"10\.0\.0\.1"),
        observe(observer, "https://10.0.0.1/x", full=False, run_id=runs.new_run_id()),
    ):
        pass
    assert harness.page.light == []


def test_the_celery_task_ignores_what_is_not_a_run_id() -> None:
    registered: dict[str, Callable[..., object]] = {}

    class App:
        class conf:  # noqa: N801 - Celery's attribute name
            task_routes: dict[str, Any] | None = None

        def task(self, **options: Any) -> Callable[[Callable[..., object]], object]:
            assert options["acks_late"] and options["reject_on_worker_lost"]

            def register(fn: Callable[..., object]) -> object:
                registered[options["name"]] = fn
                return fn

            return register

    app = App()
    dispatch.register_celery(app, lambda: pytest.fail("no runtime for a bad id"))
    assert app.conf.task_routes == {dispatch.TASK: {"queue": "capture"}}
    task = registered[dispatch.TASK]
    for bad in ("", "mrun-xyz", "../etc", 42, "mrun-" + "0" * 29):
        assert task(bad) == "ignored"
    assert dispatch.RUN_ID.fullmatch(runs.new_run_id())
