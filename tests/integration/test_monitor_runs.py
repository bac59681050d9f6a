"""Monitor runs end to end in one process: REAL Chromium (light captures) on the HTTPS
market fixture (tests/support/market_site.py) whose listings the tests change between
runs; the rules, the ``monitor`` log entries and their proofs, the evidence a firing run
keeps (verified by the library verifier through tier 5, on the embedded anvil) and the
alerts citing it; the per-host gate (measured at the fixture server), the scheduler's
tick (due monitors only), deferral and recovery of abandoned runs. The gate alone also
runs on PostgreSQL.
"""

from __future__ import annotations

import io
import itertools
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from anchoring.proofs import bundle_for
from anchoring.queue import get_entry
from evidence_api.core.auth import Principal, create_token
from evidence_api.core.models import ApiToken
from evidence_api.core.runtime import Runtime
from evidence_api.monitoring import dispatch, hosts, runs
from evidence_api.monitoring.models import (
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    Alert,
    Monitor,
    MonitorRun,
)
from evidence_api.monitoring.observation import Observation
from evidence_api.monitoring.ruleset import Rules
from evidence_api.registry.models import Platform
from evidence_api.runtime import NO_TIMERS, build_runtime
from tests.support.api import Backend, Stack, running_stack
from tests.support.market_site import Listing, MarketSite
from tests.support.monitors import latest_run, market_settings, monitor_row, queue_and_run
from verifier.bundle import Bundle
from verifier.chain.anchor import make_anchor_check
from verifier.digests import digest_stream
from verifier.verify import Status, verify_bundle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: One run on the loaded 2-core test machine: Chromium start, self-check, page, files.
RUN_DEADLINE = 240.0


@pytest.fixture(scope="module")
def stack(market: MarketSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Runs driven by the test (no embedded timer: ``run_monitors`` false), anchored on
    the embedded anvil so kept evidence verifies through tier 5."""
    data = tmp_path_factory.mktemp("monitors") / "data"
    settings = market_settings(
        data, market.ca_file, run_monitors=False, chain="anvil", anchor_interval=0.2
    )
    with running_stack(settings) as running:
        yield running


def officer(runtime: Runtime) -> Principal:
    with runtime.session() as session:
        token = session.execute(
            select(ApiToken).where(ApiToken.role == "officer").order_by(ApiToken.id)
        ).scalar_one()
        return Principal(token.id, token.name, token.role, token.platform)


def make_monitor(
    runtime: Runtime,
    url: str,
    *,
    archive: str = "on_alert",
    rules: Rules | None = None,
    due: bool = True,
    interval: int = 3600,
) -> Monitor:
    """A monitor row as the API would create it (ORM; the API has its own tests)."""
    who = officer(runtime)
    now = datetime.now(UTC)
    with runtime.session() as session:
        platform = session.execute(
            select(Platform.id).where(Platform.code == "example-mall")
        ).scalar_one()
        monitor = monitor_row(
            url,
            created_by_token_id=who.token_id,
            created_by=who.pseudonym,
            now=now,
            name="铁观音礼盒 listing",
            interval_seconds=interval,
            rules=rules,
            archive=archive,
            next_run_at=None if due else now + timedelta(days=1),
            platform_id=platform,
        )
        session.add(monitor)
    return monitor


def run_now(runtime: Runtime, monitor: Monitor) -> runs.RunResult:
    """Queue a run of ``monitor`` and run it here."""
    result = queue_and_run(runtime, monitor, runs.monitoring_of(runtime))
    assert result.claimed
    return result


def load_monitor(runtime: Runtime, monitor: Monitor) -> Monitor:
    with runtime.session() as session:
        found = session.get(Monitor, monitor.seq)
        assert found is not None
        return found


def sealed_entry_bundle(runtime: Runtime, entry_id: str) -> Bundle:
    deadline = time.monotonic() + 30
    while True:
        runtime.seal()
        with runtime.engine.connect() as conn:
            record = get_entry(conn, entry_id)
            assert record is not None, entry_id
            bundle = bundle_for(conn, record, origin=runtime.signer.name)
        if bundle.status != "pending":
            return bundle
        assert time.monotonic() < deadline, f"{entry_id} not sealed"
        time.sleep(0.1)


def assert_entry_verifies(runtime: Runtime, entry_id: str) -> dict[str, Any]:
    bundle = sealed_entry_bundle(runtime, entry_id)
    report = verify_bundle(bundle, log_keys=[runtime.signer.verifier()], through=4)
    statuses = [t.status for t in report.tiers[2:4]]
    assert statuses == [Status.VERIFIED, Status.VERIFIED], report.to_dict()
    assert bundle.entry.kind == "monitor"
    return dict(bundle.entry.body)


def assert_evidence_verifies(stack: Stack, evidence_id: str) -> list[str]:
    """The kept evidence's bundle, once anchored, verifies through tier 5 (the embedded
    anvil, asked by the library's RPC check) with its files; returns its names."""
    headers = stack.auth("officer")
    deadline = time.monotonic() + 90
    while True:
        stack.runtime.seal()
        data = stack.client.get(f"/v1/evidence/{evidence_id}/proof", headers=headers).json()
        if data["status"] == "anchored":
            break
        assert time.monotonic() < deadline, f"{evidence_id} not anchored: {data['status']}"
        time.sleep(0.2)
    bundle = Bundle.model_validate(data)
    assert bundle.manifest is not None
    names = [f.name for f in bundle.manifest.files]
    files = []
    for name in names:
        got = stack.client.get(
            f"/v1/evidence/{evidence_id}/files/{name}",
            params={"purpose": "monitor test"},
            headers=headers,
        )
        assert got.status_code == 200, got.text
        files.append(digest_stream(name, io.BytesIO(got.content)))
    chain = stack.runtime.chain
    assert chain is not None and chain.node is not None, "the stack runs the embedded anvil"
    check = make_anchor_check(
        [chain.node.url], contract=chain.client.address, chain_id=chain.client.chain_id()
    )
    report = verify_bundle(
        bundle, files=files, log_keys=[stack.runtime.signer.verifier()], anchor_check=check
    )
    assert [t.status for t in report.tiers] == [Status.VERIFIED] * 5, report.to_dict()
    return names


def alerts_of(runtime: Runtime, run: MonitorRun) -> list[Alert]:
    with runtime.session() as session:
        return list(
            session.execute(select(Alert).where(Alert.run_seq == run.seq).order_by(Alert.seq))
            .scalars()
            .all()
        )


# -- the rules on real captures -------------------------------------------------------------


def test_unchanged_runs_fire_nothing_and_leave_a_verifiable_monitor_entry(
    stack: Stack, market: MarketSite
) -> None:
    market.market.put("same")
    monitor = make_monitor(stack.runtime, market.url("same"))
    for _ in range(2):
        result = run_now(stack.runtime, monitor)
        assert (result.status, result.fired, result.evidence_id) == (DONE, (), None)
    run = latest_run(stack.runtime, monitor)
    assert run.status == DONE and run.fired == "[]" and run.evidence_id is None
    assert run.entry_id is not None and run.leaf_hash is not None
    assert alerts_of(stack.runtime, run) == []
    observation = Observation.loads(run.observation or "")
    assert observation.http_status == 200 and observation.prices == ("199.00",)
    body = assert_entry_verifies(stack.runtime, run.entry_id)
    assert body["monitor_id"] == monitor.id and body["run_id"] == run.id
    assert body["fired"] == [] and "evidence_id" not in body
    assert body["target_sha256"] == runs.target_sha256(market.url("same"))
    assert body["observed"] == observation.summary()
    assert "dom.html" in body["observed"]["files"]
    assert "page.mhtml" not in body["observed"]["files"]  # light: no archive
    saved = load_monitor(stack.runtime, monitor)
    assert saved.baseline == run.observation and saved.last_run_at is not None


def test_a_price_change_fires_exactly_price_changed_with_evidence(
    stack: Stack, market: MarketSite
) -> None:
    market.market.put("price")
    monitor = make_monitor(stack.runtime, market.url("price"))
    assert run_now(stack.runtime, monitor).fired == ()
    market.market.update("price", price="150.00")
    result = run_now(stack.runtime, monitor)
    assert result.fired == ("price_changed",)
    run = latest_run(stack.runtime, monitor)
    assert run.evidence_id == result.evidence_id is not None
    [alert] = alerts_of(stack.runtime, run)
    assert alert.rule == "price_changed" and alert.evidence_id == run.evidence_id
    assert alert.recipient == monitor.created_by and alert.monitor_seq == monitor.seq
    assert alert.platform_id == monitor.platform_id
    detail = json.loads(alert.detail)
    assert "150" in json.dumps(detail) and "199" in json.dumps(detail)
    names = assert_evidence_verifies(stack, run.evidence_id or "")
    # on_alert: the run captured again in full, and the full capture is what is kept
    assert {"page.mhtml", "archive.wacz", "dom.html", "environment.json"} <= set(names)
    body = assert_entry_verifies(stack.runtime, run.entry_id or "")
    assert body["fired"] == ["price_changed"] and body["evidence_id"] == run.evidence_id
    # the baseline moved: the same price again fires nothing
    assert run_now(stack.runtime, monitor).fired == ()


def test_a_prohibited_word_appearing_fires_exactly_prohibited_words(
    stack: Stack, market: MarketSite
) -> None:
    market.market.put("words")
    monitor = make_monitor(stack.runtime, market.url("words"), archive="never")
    assert run_now(stack.runtime, monitor).fired == ()
    market.market.update("words", description="产自福建安溪，国家级传统工艺，香气持久。")
    result = run_now(stack.runtime, monitor)
    assert result.fired == ("prohibited_words",)
    run = latest_run(stack.runtime, monitor)
    [alert] = alerts_of(stack.runtime, run)
    assert alert.rule == "prohibited_words" and "国家级" in alert.detail
    assert alert.evidence_id == run.evidence_id is not None
    names = assert_evidence_verifies(stack, run.evidence_id or "")
    assert "page.mhtml" not in names and "dom.html" in names  # never: the light one kept


def test_removed_then_restored_fires_gone_then_back(stack: Stack, market: MarketSite) -> None:
    market.market.put("gone")
    monitor = make_monitor(stack.runtime, market.url("gone"), archive="never")
    assert run_now(stack.runtime, monitor).fired == ()
    live = load_monitor(stack.runtime, monitor).baseline
    market.market.update("gone", state="404")
    assert run_now(stack.runtime, monitor).fired == ("gone",)
    gone = load_monitor(stack.runtime, monitor)
    assert gone.gone and gone.baseline == live  # the baseline stays the live listing
    gone_run = latest_run(stack.runtime, monitor)
    observation = Observation.loads(gone_run.observation or "")
    assert observation.http_status == 404 and observation.gone
    [gone_alert] = alerts_of(stack.runtime, gone_run)
    assert gone_alert.rule == "gone" and gone_alert.evidence_id == gone_run.evidence_id
    assert_evidence_verifies(stack, gone_run.evidence_id or "")  # the 404 page, kept
    assert run_now(stack.runtime, monitor).fired == ()  # still gone: not again
    market.market.update("gone", state="removed")  # a 200 "该商品已下架" page: still gone
    assert run_now(stack.runtime, monitor).fired == ()
    market.market.update("gone", state="live")
    result = run_now(stack.runtime, monitor)
    assert result.fired == ("back",)
    back = load_monitor(stack.runtime, monitor)
    assert not back.gone
    run = latest_run(stack.runtime, monitor)
    [alert] = alerts_of(stack.runtime, run)
    assert alert.rule == "back" and alert.evidence_id == run.evidence_id
    assert_evidence_verifies(stack, run.evidence_id or "")


def test_a_failed_capture_fails_the_run_without_alert_or_baseline_change(
    stack: Stack, market: MarketSite
) -> None:
    market.market.put("refused")
    monitor = make_monitor(stack.runtime, market.url("refused"))
    with stack.runtime.session() as session:  # a target the address policy refuses
        session.execute(
            update(Monitor)
            .where(Monitor.seq == monitor.seq)
            .values(url="https://10.0.0.1/item/refused")
        )
    result = run_now(stack.runtime, monitor)
    assert result.status == FAILED and result.reason
    run = latest_run(stack.runtime, monitor)
    assert run.status == FAILED and run.reason and run.entry_id is None
    assert alerts_of(stack.runtime, run) == []
    assert load_monitor(stack.runtime, monitor).baseline is None
    assert market.market.hits("refused") == 0


# -- scheduling, deferral, recovery ---------------------------------------------------------


def test_the_tick_reads_only_due_monitors_through_the_index(stack: Stack) -> None:
    runtime = stack.runtime
    now = datetime.now(UTC)
    with runtime.session() as session:  # leftovers of other tests are not due
        session.execute(update(Monitor).values(next_run_at=now + timedelta(days=2)))
    with runtime.session() as session:
        who = officer(runtime)
        rows = [
            monitor_row(
                f"https://localhost/item/n{i}",
                created_by_token_id=who.token_id,
                created_by=who.pseudonym,
                now=now,
                name=f"not due {i}",
                next_run_at=now + timedelta(hours=1, seconds=i),
            )
            for i in range(1000)
        ]
        session.add_all(rows)
    due = [make_monitor(runtime, f"https://localhost/item/due{i}") for i in range(3)]
    statements: list[str] = []

    me = threading.get_ident()

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.get_ident() == me:  # not the sealer's, running meanwhile
            statements.append(statement)

    from sqlalchemy import event  # noqa: PLC0415

    event.listen(runtime.engine, "before_cursor_execute", seen)
    try:
        ids = dispatch.queue_due(runtime.session, jitter=0.0)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", seen)
    assert len(ids) == 3
    with runtime.session() as session:
        queued = set(
            session.execute(select(MonitorRun.monitor_seq).where(MonitorRun.id.in_(ids))).scalars()
        )
        assert queued == {m.seq for m in due}
        moved = session.execute(
            select(Monitor.next_run_at).where(Monitor.seq.in_([m.seq for m in due]))
        ).scalars()
        assert all(at > now + timedelta(minutes=59) for at in moved)
        # the due query is an index search, never a scan of every monitor
        query = dispatch.due_query(now, dispatch.BATCH, "sqlite")
        compiled = query.compile(
            dialect=runtime.engine.dialect, compile_kwargs={"literal_binds": True}
        )
        plan = " ".join(
            str(row[-1]) for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
        )
    assert "USING INDEX ix_monitor_due" in plan, plan
    assert "SCAN monitor" not in plan.replace("USING INDEX", ""), plan
    # one read of due monitors (bounded by LIMIT), one of their pending runs, no other read
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 2, "\n\n".join(r[:300] for r in reads)
    assert "LIMIT" in reads[0].upper()
    # and nothing is due now: a second tick reads no monitor and queues nothing
    assert dispatch.queue_due(runtime.session, jitter=0.0) == []


def test_a_busy_host_defers_the_run_without_spending_an_attempt(
    stack: Stack, market: MarketSite
) -> None:
    runtime = stack.runtime
    market.market.put("defer")
    monitor = make_monitor(runtime, market.url("defer"))
    settings = runtime.settings
    held = [
        hosts.acquire(
            runtime.session,
            "localhost",
            concurrency=settings.monitor_host_concurrency,
            spacing=0,
            holder=f"test-holder-{i}",
            lease_seconds=600,
        )
        for i in range(settings.monitor_host_concurrency)
    ]
    assert None not in held
    try:
        before = datetime.now(UTC)
        result = run_now(runtime, monitor)
        assert result.deferred and result.status == QUEUED
        run = latest_run(runtime, monitor)
        assert (run.status, run.attempts, run.deferrals) == (QUEUED, 0, 1)
        assert run.scheduled_at > before and run.owner is None
        assert market.market.hits("defer") == 0  # nothing fetched
        assert runs.sweep(runtime.session, now=before) == []  # not due yet
    finally:
        for i, slot in enumerate(held):
            assert slot is not None
            hosts.release(runtime.session, "localhost", slot, f"test-holder-{i}")
    swept = runs.sweep(runtime.session, now=run.scheduled_at + timedelta(seconds=1))
    assert run.id in swept
    assert run.id not in runs.sweep(runtime.session, now=run.scheduled_at + timedelta(seconds=2))
    done = runs.run_monitor(runs.monitoring_of(runtime), run.id)
    assert done.status == DONE
    run = latest_run(runtime, monitor)
    assert (run.status, run.attempts, run.deferrals) == (DONE, 1, 1)


def test_an_abandoned_run_is_retried_once_then_failed(stack: Stack, market: MarketSite) -> None:
    runtime = stack.runtime
    market.market.put("abandoned")
    monitor = make_monitor(runtime, market.url("abandoned"))
    long_ago = datetime.now(UTC) - timedelta(minutes=10)

    def abandoned_run(attempts: int) -> str:
        with runtime.session() as session:
            run = MonitorRun(
                id=runs.new_run_id(),
                monitor_seq=monitor.seq,
                status=RUNNING,
                scheduled_at=long_ago,
                started_at=long_ago,
                heartbeat_at=long_ago,
                owner="another-host:4242:feedface",
                attempts=attempts,
                deferrals=0,
            )
            session.add(run)
            return run.id

    first = abandoned_run(1)
    assert first in runs.sweep(runtime.session)
    assert runs.run_monitor(runs.monitoring_of(runtime), first).status == DONE
    second = abandoned_run(2)
    assert second not in runs.sweep(runtime.session)
    with runtime.session() as session:
        row = session.execute(select(MonitorRun).where(MonitorRun.id == second)).scalar_one()
        assert (row.status, row.reason) == (FAILED, runs.INTERRUPTED)


# -- per-host limits measured at the server (embedded threads) ------------------------------


def test_per_host_concurrency_and_spacing_hold_with_more_threads_than_slots(
    market: MarketSite, tmp_path: Path
) -> None:
    spacing = 1.5
    settings = market_settings(
        tmp_path / "data",
        market.ca_file,
        run_monitors=True,
        monitor_concurrency=4,
        monitor_host_concurrency=2,
        monitor_host_spacing=spacing,
        monitor_tick_interval=0.5,
    )
    names = [f"load{i}" for i in range(5)]
    for name in names:
        market.market.put(name, Listing(hold=6.0))
    market.market.reset_load()
    with running_stack(settings) as running:
        monitors = [make_monitor(running.runtime, market.url(n)) for n in names]
        deadline = time.monotonic() + RUN_DEADLINE * 2
        while True:
            finished = [latest_run(running.runtime, m) for m in monitors if _has_run(running, m)]
            if len(finished) == len(monitors) and all(r.status == DONE for r in finished):
                break
            assert not [r for r in finished if r.status == FAILED], [r.reason for r in finished]
            assert time.monotonic() < deadline, [(r.status, r.deferrals) for r in finished]
            time.sleep(0.5)
    print(  # the figures, for the record (pytest -s)
        f"host gate: max in flight {market.market.max_in_flight()}, deferrals "
        f"{[r.deferrals for r in finished]}, start gaps {[round(g, 2) for g in _gaps(finished)]}"
    )
    assert market.market.max_in_flight() <= 2
    assert sum(r.deferrals for r in finished) > 0  # the gate turned runs away
    gaps = _gaps(finished)
    # started_at is the claim, just before the gate: allow for the time between the two
    assert len(gaps) == len(names) - 1 and min(gaps) >= spacing - 0.5, gaps
    for name in names:
        market.market.update(name, hold=0.0)


def _gaps(finished: list[MonitorRun]) -> list[float]:
    """Seconds between successive starts (claim, then the gate) of the runs that ran."""
    starts = sorted(r.started_at for r in finished if r.started_at is not None)
    return [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]


def _has_run(stack: Stack, monitor: Monitor) -> bool:
    with stack.runtime.session() as session:
        return (
            session.execute(
                select(MonitorRun.id).where(MonitorRun.monitor_seq == monitor.seq).limit(1)
            ).first()
            is not None
        )


# -- the gate alone, on each backend ---------------------------------------------------------


@pytest.fixture
def gate_runtime(backend: Backend) -> Iterator[Runtime]:
    runtime = build_runtime(backend.settings, **NO_TIMERS)
    try:
        yield runtime
    finally:
        runtime.close()


def test_the_host_gate_holds_under_concurrent_acquirers(gate_runtime: Runtime) -> None:
    runtime = gate_runtime
    got: list[int | None] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def take(i: int) -> None:
        barrier.wait()
        slot = hosts.acquire(
            runtime.session,
            "shop.example",
            concurrency=3,
            spacing=0,
            holder=f"h{i}",
            lease_seconds=60,
        )
        with lock:
            got.append(slot)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    taken = sorted(s for s in got if s is not None)
    assert taken == [0, 1, 2]
    # released, a slot is free again; an expired lease frees itself
    now = datetime.now(UTC)
    with runtime.session() as session:
        holder = session.execute(
            text("SELECT holder FROM monitor_host_slot WHERE host = 'shop.example' AND slot = 1")
        ).scalar_one()
    assert hosts.release(runtime.session, "shop.example", 1, holder)
    assert not hosts.release(runtime.session, "shop.example", 1, holder)
    assert (
        hosts.acquire(
            runtime.session,
            "shop.example",
            concurrency=3,
            spacing=0,
            holder="next",
            lease_seconds=1,
        )
        == 1
    )
    later = now + timedelta(seconds=120)
    assert hosts.acquire(
        runtime.session,
        "shop.example",
        concurrency=3,
        spacing=0,
        holder="after-expiry",
        lease_seconds=60,
        now=later,
    ) in (0, 1, 2)


def test_the_host_gate_spaces_starts_and_keeps_them_when_no_slot(gate_runtime: Runtime) -> None:
    runtime = gate_runtime
    now = datetime.now(UTC)

    def take(holder: str, at: datetime, concurrency: int = 2) -> int | None:
        return hosts.acquire(
            runtime.session,
            "spaced.example",
            concurrency=concurrency,
            spacing=10,
            holder=holder,
            lease_seconds=600,
            now=at,
        )

    assert take("a", now) == 0
    assert take("b", now + timedelta(seconds=9)) is None  # not due: 10 s apart
    assert take("b", now + timedelta(seconds=10)) == 1
    assert take("c", now + timedelta(seconds=20)) is None  # due, but no free slot
    # the failed attempt did not consume the start: due still at +20 s
    assert hosts.next_start(runtime.session, "spaced.example") == now + timedelta(seconds=20)
    assert hosts.renew(runtime.session, "spaced.example", 0, "a", lease_seconds=600, now=now)
    assert not hosts.renew(runtime.session, "spaced.example", 0, "b", lease_seconds=600)
    assert hosts.release(runtime.session, "spaced.example", 0, "a")
    assert take("c", now + timedelta(seconds=20)) == 0


def test_two_ticks_at_once_queue_each_due_monitor_once(gate_runtime: Runtime) -> None:
    runtime = gate_runtime
    now = datetime.now(UTC)
    with runtime.session() as session:
        who, _ = create_token(session, role="officer", name="tick officer")
        session.add_all(
            monitor_row(
                f"https://shop.example/item/{i}",
                created_by_token_id=who.id,
                created_by=f"token-{who.id}",
                now=now,
                name=f"due {i}",
                next_run_at=now - timedelta(seconds=i),
            )
            for i in range(40)
        )
    queued: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(2)

    def tick() -> None:
        barrier.wait()
        ids = dispatch.queue_due(runtime.session, jitter=0.0, now=now)
        with lock:
            queued.extend(ids)

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(queued) == len(set(queued)) == 40
    with runtime.session() as session:
        per_monitor = session.execute(
            select(MonitorRun.monitor_seq, func.count()).group_by(MonitorRun.monitor_seq)
        ).all()
    assert len(per_monitor) == 40 and {count for _, count in per_monitor} == {1}
