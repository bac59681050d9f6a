"""Monitoring (监测预警): monitor runs per minute, and the scheduler's own cost at 10,000
monitors, each beside a baseline measured in the same run.

* Runs per minute on 2 workers: the service's embedded dispatch
  (``EVIDENCE_RUN_MONITORS=true``, ``monitor_concurrency=2``: two run threads of one
  process, as ``evidence serve`` runs them) runs light-mode monitor runs of listings on
  the HTTPS monitoring fixture market (``tests/support/market_site.py``) in real Chromium:
  claim, per-host gate, light capture, extraction, rules, the ``monitor`` log entry. The
  monitors are created through the API's service (:mod:`evidence_api.monitoring.service`)
  with a yearly cron, so the scheduler leaves them alone, and one run of each is queued
  at once with :func:`evidence_api.monitoring.dispatch.queue_run` (the "run now" route's
  function); the figure is runs finished per minute, from the first queued to the last
  finished. The per-host start spacing is set to 0 (the concurrency gate stays at 2):
  with the default 2 s spacing a single host is capped at 30 starts a minute by design,
  which would measure the politeness setting, not the engine. Baseline: a plain HTTPS
  GET loop of the same pages on 2 threads (urllib, a new TLS connection per GET, the
  test CA trusted), run in the same section: what fetching the pages costs without a
  browser.
* The scheduler's tick at 10,000 monitors, on SQLite and on PostgreSQL (a throwaway
  database, :mod:`bench.databases`): the tick's own transaction
  (:func:`evidence_api.monitoring.dispatch.queue_due`) timed with none due and with 50
  due (50 other monitors made due before each round, untimed), beside ``SELECT * FROM
  monitor`` (every row fetched) on the same connection, interleaved round by round.
  What a tick reads, shown three ways: the plan of the tick's own due query (captured
  from the driver as the tick ran it, then ``EXPLAIN QUERY PLAN`` / ``EXPLAIN ANALYZE``),
  which must use ``ix_monitor_due`` and no scan of ``monitor``; on PostgreSQL the rows the
  server read from ``monitor`` (``pg_stat_user_tables``: ``seq_tup_read`` +
  ``idx_tup_fetch``) per tick, beside the same counters for the full scan; on SQLite the
  virtual-machine steps per tick (a progress handler), beside the full scan's.

The issue sets no numeric target; the section's checks (a failure exits 1): every run
finishes ``done`` with the listing's title observed, every GET answers 200 with the
title, every due tick queues exactly its 50 runs and an idle tick none, and the due
query uses the index without scanning ``monitor`` on both databases.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ssl
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event, insert, select, text, update
from sqlalchemy.orm import Session

from bench.common import Latency, Progress, Row, support, time_interleaved
from bench.databases import BACKENDS, LABELS, POSTGRES, SQLITE, scratch_engine

CHROMIUM = Path("/usr/bin/chromium")
#: A run on a loaded machine (Chromium start, light capture, entry) before the section gives up.
RUN_DEADLINE_S = 300.0
#: Monitors the scheduler's figure holds, and how many are due in a busy tick.
MONITORS = 10_000
DUE = 50
#: A cron firing once a year: the bench's run monitors are never due by schedule.
YEARLY = "0 0 1 1 *"


@dataclass(frozen=True)
class MonitoringSettings:
    #: runs timed on the 2 workers (one per monitor, all queued at once)
    runs: int
    #: timed ticks per line (idle, 50 due, full scan)
    tick_rounds: int
    #: ticks counted (rows, VM steps) per line, untimed
    count_rounds: int

    @classmethod
    def make(cls, quick: bool) -> MonitoringSettings:
        return cls(runs=4, tick_rounds=10, count_rounds=3) if quick else cls(16, 50, 10)


@dataclass
class TickFigures:
    """One database's tick figures."""

    backend: str
    idle: Latency | None = None
    due: Latency | None = None
    scan: Latency | None = None
    #: the due query's plan as the database explains it
    plan: list[str] = field(default_factory=list)
    uses_index: bool = False
    #: PostgreSQL: rows read from ``monitor`` per tick / per full scan (server counters);
    #: SQLite: virtual-machine steps per tick / per full scan
    reads_idle: float | None = None
    reads_due: float | None = None
    reads_scan: float | None = None
    reads_unit: str = ""


@dataclass
class MonitoringResult:
    settings: MonitoringSettings
    #: runs finished per minute on 2 workers, and their wall time
    per_minute: float = 0.0
    run_seconds: float = 0.0
    #: each run's own time (started_at → finished_at), seconds
    run_times: list[float] = field(default_factory=list)
    fired: int = 0
    #: the baseline: plain HTTPS GETs of the same pages per minute on 2 threads
    get_per_minute: float = 0.0
    gets: int = 0
    ticks: dict[str, TickFigures] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


# --- runs per minute ------------------------------------------------------------------------


def _service_settings(folder: Path, ca_file: Path) -> Any:
    from evidence_api.core.config import Settings  # noqa: PLC0415

    return Settings(
        data_dir=folder / "data",
        chain="none",
        seal_interval=0.2,
        run_integrity=False,
        capture_allow="127.0.0.1,localhost,::1",
        capture_upstream_ca=ca_file,
        run_monitors=True,
        monitor_concurrency=2,
        monitor_host_concurrency=2,
        monitor_host_spacing=0.0,
    )


def _create_monitors(runtime: Any, urls: list[str]) -> list[int]:
    """One monitor per URL through the API's service (a yearly cron: never due here)."""
    from evidence_api.core.auth import Principal, create_token  # noqa: PLC0415
    from evidence_api.monitoring import service  # noqa: PLC0415
    from evidence_api.monitoring.schemas import MonitorCreate  # noqa: PLC0415

    with runtime.session() as session:
        token, _ = create_token(session, role="officer", name="bench monitoring")
        principal = Principal(token.id, token.name, token.role, None)
    seqs = []
    for i, url in enumerate(urls):
        body = MonitorCreate.model_validate(
            {
                "name": f"bench listing {i}",
                "target": {"kind": "listing", "url": url},
                "schedule": {"cron": YEARLY},
            }
        )
        created = service.create_monitor(runtime.session, runtime.settings, principal, body)
        seqs.append(service.runnable_seq(runtime.session, created.id))
    return seqs


def _wait_runs(runtime: Any, run_ids: list[str]) -> list[Any]:
    """The runs once all are done or failed (raises past :data:`RUN_DEADLINE_S`)."""
    from evidence_api.monitoring.models import DONE, FAILED, MonitorRun  # noqa: PLC0415

    deadline = time.monotonic() + RUN_DEADLINE_S * max(1, len(run_ids) // 2)
    while True:
        with runtime.session() as session:
            rows = list(
                session.execute(select(MonitorRun).where(MonitorRun.id.in_(run_ids))).scalars()
            )
        if len(rows) == len(run_ids) and all(r.status in (DONE, FAILED) for r in rows):
            return rows
        if time.monotonic() > deadline:
            states = sorted(r.status for r in rows)
            raise RuntimeError(f"monitor runs not finished in time: {states}")
        time.sleep(0.1)


def _check_runs(rows: list[Any], title: str, result: MonitoringResult) -> None:
    from evidence_api.monitoring.models import DONE  # noqa: PLC0415
    from evidence_api.monitoring.observation import Observation  # noqa: PLC0415

    for row in rows:
        if row.status != DONE:
            result.problems.append(f"monitor run {row.id} {row.status}: {row.reason}")
            continue
        seen = Observation.loads(row.observation)
        if title not in seen.title:
            result.problems.append(f"monitor run {row.id} saw the title {seen.title!r}")
        if row.fired and row.fired != "[]":
            result.fired += 1


def _queue_all(runtime: Any, seqs: list[int]) -> list[str]:
    from evidence_api.monitoring import dispatch  # noqa: PLC0415

    return [dispatch.queue_run(runtime, seq) for seq in seqs]


def _get_loop(urls: list[str], ca_file: Path, title: str, total: int) -> tuple[float, int]:
    """``total`` plain HTTPS GETs of ``urls`` (round robin) on 2 threads: (seconds, bad)."""
    context = ssl.create_default_context(cafile=str(ca_file))
    bad = 0
    lock = threading.Lock()

    def fetch(i: int) -> None:
        nonlocal bad
        with urllib.request.urlopen(urls[i % len(urls)], context=context, timeout=60) as answer:
            page = answer.read().decode("utf-8", "replace")
            ok = answer.status == 200 and title in page
        if not ok:
            with lock:
                bad += 1

    with concurrent.futures.ThreadPoolExecutor(2) as threads:
        started = time.perf_counter()
        for done in [threads.submit(fetch, i) for i in range(total)]:
            done.result()
        return time.perf_counter() - started, bad


def _runs(result: MonitoringResult, folder: Path, progress: Progress) -> None:
    market = support("market_site")
    from evidence_api.runtime import build_runtime  # noqa: PLC0415

    with market.market_site(folder / "site") as site:
        names = [f"bench-{i}" for i in range(result.settings.runs + 1)]
        for name in names:
            site.market.put(name)
        urls = [site.url(name) for name in names]
        title = market.Listing().title
        runtime = build_runtime(_service_settings(folder, site.ca_file))
        try:
            seqs = _create_monitors(runtime, urls)
            # warm-up, untimed: the first run starts the run threads and imports Playwright
            _check_runs(_wait_runs(runtime, _queue_all(runtime, seqs[:1])), title, result)
            started = time.perf_counter()
            run_ids = _queue_all(runtime, seqs[1:])
            rows = _wait_runs(runtime, run_ids)
            result.run_seconds = time.perf_counter() - started
        finally:
            runtime.close()
        _check_runs(rows, title, result)
        result.run_times = [
            (r.finished_at - r.started_at).total_seconds()
            for r in rows
            if r.started_at and r.finished_at
        ]
        result.per_minute = len(rows) / result.run_seconds * 60
        progress(
            f"monitoring: {len(rows)} runs on 2 workers in {result.run_seconds:.1f} s "
            f"({result.per_minute:.1f}/min)"
        )
        # the baseline: the same pages by plain GETs, enough of them to time (>= 200)
        result.gets = max(200, 20 * len(rows))
        _get_loop(urls, site.ca_file, title, 10)  # warm-up
        seconds, bad = _get_loop(urls[1:], site.ca_file, title, result.gets)
        if bad:
            result.problems.append(f"{bad} of {result.gets} plain GETs lacked the listing")
        result.get_per_minute = result.gets / seconds * 60
        progress(f"monitoring: {result.gets} plain GETs: {result.get_per_minute:.0f}/min")


# --- the scheduler's tick at 10,000 monitors ---------------------------------------------------


def _one_connection(conn: Connection) -> Callable[[], contextlib.AbstractContextManager[Session]]:
    """A Transaction (as the service takes one) on the single connection ``conn``, so every
    statement of a tick runs on one database session (its server counters flush together)."""

    @contextlib.contextmanager
    def transaction() -> Iterator[Session]:
        with Session(bind=conn, expire_on_commit=False) as session, session.begin():
            yield session

    return transaction


def _fill(engine: Engine, now: datetime) -> None:
    """:data:`MONITORS` enabled monitors, hourly, none due (next runs from a day ahead)."""
    from evidence_api.core.auth import create_token  # noqa: PLC0415
    from evidence_api.monitoring.models import Monitor  # noqa: PLC0415
    from evidence_api.monitoring.ruleset import Rules  # noqa: PLC0415

    rules = Rules().model_dump_json()
    with Session(engine) as session, session.begin():
        token, _ = create_token(session, role="officer", name="bench tick")
        token_id = token.id
    rows = [
        {
            "id": f"mon-{i:028x}",
            "name": f"bench monitor {i}",
            "target_kind": "listing",
            "url": f"https://shop{i % 97}.example/item/{i}",
            "host": f"shop{i % 97}.example",
            "interval_seconds": 3600,
            "rules": rules,
            "archive": "on_alert",
            "enabled": True,
            "next_run_at": now + timedelta(days=1, seconds=i),
            "gone": False,
            "created_by_token_id": token_id,
            "created_by": f"token-{token_id}",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(MONITORS)
    ]
    with engine.begin() as conn:
        for start in range(0, MONITORS, 1000):
            conn.execute(insert(Monitor), rows[start : start + 1000])
        if conn.dialect.name == POSTGRES:
            conn.execute(text("ANALYZE monitor"))
            conn.execute(text("ANALYZE monitor_run"))


class DueQuery:
    """Captures the driver-level statement and parameters of the tick's due query (the
    SELECT from ``monitor`` filtered on ``next_run_at``) as the tick runs it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statement: str | None = None
        self.parameters: Any = None
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        flat = " ".join(statement.split())
        if (
            self.statement is None
            and flat.upper().startswith("SELECT")
            and "FROM monitor WHERE" in flat
            and "next_run_at <=" in flat
        ):
            self.statement, self.parameters = statement, parameters

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def _plan(conn: Connection, due: DueQuery) -> list[str]:
    if due.statement is None:
        raise RuntimeError("the tick ran no due query on monitor")
    with conn.begin() as trans:
        if conn.dialect.name == SQLITE:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + due.statement, due.parameters)
            plan = [str(r[-1]) for r in rows]
        else:
            rows = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + due.statement, due.parameters
            )
            plan = [str(r[0]) for r in rows]
        trans.rollback()  # EXPLAIN ANALYZE ran the FOR UPDATE: let its locks go
    return plan


def _uses_index(plan: list[str], backend: str) -> bool:
    joined = "\n".join(plan)
    if backend == SQLITE:
        return "USING INDEX ix_monitor_due" in joined and "SCAN monitor" not in joined
    return "ix_monitor_due" in joined and "Seq Scan on monitor" not in joined


def _pg_reads(conn: Connection, admin: Connection) -> int:
    """Rows the server has read from ``monitor`` so far (sequential scans and index
    fetches), once ``conn``'s session has flushed its counters: a forced flush happens
    as its transaction ends, before the server answers it."""
    with conn.begin():
        conn.exec_driver_sql("SELECT pg_stat_force_next_flush()")
    admin.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
    row = admin.exec_driver_sql(
        "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) "
        "FROM pg_stat_user_tables WHERE relname = 'monitor'"
    ).one()
    admin.commit()
    return int(row[0])


Work = Callable[[], object]


def _pg_count(
    conn: Connection, admin: Connection, work: Work, rounds: int, setup: Work | None = None
) -> float:
    """Rows read from ``monitor`` per call of ``work`` (run on ``conn``; ``setup`` before
    each call, not counted), by the server's own counters."""
    total = 0
    for _ in range(rounds):
        if setup is not None:
            setup()
        before = _pg_reads(conn, admin)
        work()
        total += _pg_reads(conn, admin) - before
    return total / rounds


def _sqlite_steps(conn: Connection, work: Work, rounds: int, setup: Work | None = None) -> float:
    """SQLite virtual-machine steps per call of ``work`` (a progress handler called at every
    step; ``setup`` before each call, not counted)."""
    raw: Any = conn.connection.dbapi_connection
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    for _ in range(rounds):
        if setup is not None:
            setup()
        raw.set_progress_handler(count, 1)
        try:
            work()
        finally:
            raw.set_progress_handler(None, 0)
    return steps / rounds


def _tick_backend(
    backend: str, settings: MonitoringSettings, folder: Path, progress: Progress
) -> tuple[TickFigures, list[str]]:
    """The tick's figures on one database, and the problems its checks found."""
    from evidence_api.monitoring import dispatch  # noqa: PLC0415
    from evidence_api.monitoring.models import Monitor  # noqa: PLC0415

    figures = TickFigures(backend)
    problems: list[str] = []
    now = datetime.now(UTC)
    with scratch_engine(backend, folder) as engine:
        _fill(engine, now)
        progress(f"monitoring: {MONITORS:,} monitors in {LABELS[backend]}")
        due_query = DueQuery(engine)
        with engine.connect() as conn, engine.connect() as admin:
            transaction = _one_connection(conn)
            rounds = {"due": 0}
            with conn.begin():
                order = list(conn.execute(select(Monitor.seq).order_by(Monitor.seq)).scalars())

            def tick() -> list[str]:
                return dispatch.queue_due(transaction, jitter=0.1, now=datetime.now(UTC))

            def make_due() -> None:
                first = rounds["due"] * DUE % MONITORS
                rounds["due"] += 1
                seqs = order[first : first + DUE]
                with conn.begin():
                    conn.execute(
                        update(Monitor)
                        .where(Monitor.seq.in_(seqs))
                        .values(next_run_at=datetime.now(UTC) - timedelta(seconds=1))
                    )

            def idle(_: int) -> None:
                if queued := tick():
                    problems.append(f"{LABELS[backend]}: an idle tick queued {len(queued)}")

            def due(_: int) -> None:
                queued = tick()
                if len(queued) != DUE:
                    problems.append(f"{LABELS[backend]}: a due tick queued {len(queued)}")

            def scan(_: int) -> None:
                with conn.begin():
                    rows = conn.execute(text("SELECT * FROM monitor")).fetchall()
                if len(rows) != MONITORS:
                    problems.append(f"{LABELS[backend]}: the full scan read {len(rows)}")

            make_due()  # warm-up, untimed: each line once
            for warm in (due, idle, scan):
                warm(0)
            lines = time_interleaved(
                {"idle": idle, "due": due, "scan": scan},
                settings.tick_rounds,
                warmup=0,
                before={"idle": lambda: None, "due": make_due, "scan": lambda: None},
            )
            figures.idle, figures.due, figures.scan = lines["idle"], lines["due"], lines["scan"]
            figures.plan = _plan(conn, due_query)
            figures.uses_index = _uses_index(figures.plan, backend)
            n = settings.count_rounds
            if backend == POSTGRES:
                figures.reads_unit = "rows read from monitor (pg_stat_user_tables)"
                figures.reads_idle = _pg_count(conn, admin, lambda: idle(0), n)
                figures.reads_due = _pg_count(conn, admin, lambda: due(0), n, setup=make_due)
                figures.reads_scan = _pg_count(conn, admin, lambda: scan(0), n)
            else:
                figures.reads_unit = "SQLite VM steps (progress handler)"
                figures.reads_idle = _sqlite_steps(conn, lambda: idle(0), n)
                figures.reads_due = _sqlite_steps(conn, lambda: due(0), n, setup=make_due)
                figures.reads_scan = _sqlite_steps(conn, lambda: scan(0), n)
        due_query.close()
    if not figures.uses_index:
        problems.append(f"{LABELS[backend]}: the due query does not use ix_monitor_due alone")
    assert figures.idle and figures.due and figures.scan
    progress(
        f"monitoring: {LABELS[backend]} tick p50 idle {figures.idle.p50_ms:.2f} ms, "
        f"{DUE} due {figures.due.p50_ms:.2f} ms, full scan {figures.scan.p50_ms:.2f} ms; "
        f"plan: {' | '.join(figures.plan[:2])}"
    )
    return figures, problems


# --- the section ----------------------------------------------------------------------------------


def run(settings: MonitoringSettings, progress: Progress) -> MonitoringResult:
    if not CHROMIUM.is_file():
        raise RuntimeError(f"monitoring section needs {CHROMIUM} (make sysdeps)")
    result = MonitoringResult(settings)
    with tempfile.TemporaryDirectory(prefix="evidence-bench-monitoring-") as tmp:
        folder = Path(tmp)
        _runs(result, folder / "runs", progress)
        for backend in BACKENDS:
            figures, problems = _tick_backend(backend, settings, folder / backend, progress)
            result.ticks[backend] = figures
            result.problems += problems
    return result


# --- rows ---------------------------------------------------------------------------------------

SCAN = f"SELECT * FROM monitor ({MONITORS:,} rows)"


def rows(result: MonitoringResult) -> list[Row]:
    out = [
        Row(
            id="monitoring.runs_per_min.w2",
            figure="monitor runs per minute, 2 workers, light mode, real Chromium",
            unit="/min",
            ours=result.per_minute,
            baseline=result.get_per_minute,
            baseline_name="plain HTTPS GET of the same pages, 2 threads",
            ratio_kind="share",
            higher_is_better=True,
            note=(
                "one monitor run takes the time of "
                f"{result.get_per_minute / result.per_minute:.0f} plain GETs of its page (a "
                "browser, its self-check, the capture's files, the rules and a log entry, "
                "against one HTML download)"
                if result.per_minute > 0
                else ""
            ),
        )
    ]
    for backend, t in result.ticks.items():
        label = LABELS[backend]
        if t.idle is None or t.due is None or t.scan is None:
            continue
        for name, latency, what in (
            ("idle", t.idle, "none due"),
            ("due50", t.due, f"{DUE} due"),
        ):
            for q in ("p50", "p99"):
                out.append(
                    Row(
                        id=f"monitoring.tick.{backend}.{name}.{q}",
                        figure=f"scheduler tick, {MONITORS:,} monitors, {what}, {label}, {q}",
                        unit="ms",
                        ours=latency.stat(q),
                        baseline=t.scan.stat(q),
                        baseline_name=f"{SCAN}, {q}",
                        ratio_kind="share",
                    )
                )
        for name, reads, what in (
            ("idle", t.reads_idle, "none due"),
            ("due50", t.reads_due, f"{DUE} due"),
        ):
            if reads is None:
                continue
            out.append(
                Row(
                    id=f"monitoring.tick.{backend}.{name}.reads",
                    figure=f"{t.reads_unit} per tick, {what}, {label}",
                    unit="rows" if backend == POSTGRES else "steps",
                    ours=reads,
                    baseline=t.reads_scan,
                    baseline_name=f"the same for {SCAN}",
                    ratio_kind="share",
                )
            )
    return out


TITLE = (
    "Monitoring: runs per minute on the fixture market, and the scheduler's tick at 10,000 monitors"
)


def legend(result: MonitoringResult) -> str:
    s = result.settings
    times = sorted(result.run_times)
    pg = result.ticks.get(POSTGRES)
    lines = [
        f"ratio = ours / baseline. Runs: {s.runs} monitors' runs queued at once (run now) on the "
        "embedded dispatch, monitor_concurrency=2, host concurrency 2, host spacing 0 (the "
        "default 2 s would cap one host at 30 starts/min by design); each run a light capture "
        f"in real Chromium, extraction, rules and a monitor log entry; {result.fired} fired. "
        + (f"A run's own time: {times[len(times) // 2]:.2f} s median. " if times else "")
        + f"Baseline: {result.gets} urllib GETs (new TLS connection each) on 2 threads.",
        f"Tick: dispatch.queue_due on one connection, {s.tick_rounds} rounds interleaved with the "
        f"full scan; the {DUE}-due line makes {DUE} other monitors due before each round, "
        f"untimed. Reads: {s.count_rounds} ticks of each line counted apart (untimed), the "
        "setup outside the count; PostgreSQL's are the server's own counters for the table "
        "monitor."
        + (
            f" A due tick's {3 * DUE}: the due SELECT, each due monitor's UPDATE and the new "
            f"runs' foreign-key checks, {DUE} each."
            if pg is not None and pg.reads_due == 3 * DUE
            else ""
        ),
    ]
    for backend, t in result.ticks.items():
        verdict = "uses ix_monitor_due, no scan" if t.uses_index else "SCANS monitor"
        lines.append(f"{LABELS[backend]} due-query plan ({verdict}):")
        lines += [f"    {line.strip()}" for line in _plan_lines(t.plan)]
    lines += [f"  ! {p}" for p in result.problems]
    return "\n".join(lines)


def _plan_lines(plan: list[str]) -> list[str]:
    """The plan's lines that say how ``monitor`` is read (all of SQLite's short plan)."""
    keys = ("Scan", "Index Cond", "Filter", "SEARCH", "SCAN")
    return [line for line in plan if any(k in line for k in keys)][:8]


def _latency(lat: Latency | None) -> dict[str, float] | None:
    return None if lat is None else {"p50_ms": lat.p50_ms, "p99_ms": lat.p99_ms}


def raw(result: MonitoringResult) -> dict[str, Any]:
    return {
        "runs": result.settings.runs,
        "tick_rounds": result.settings.tick_rounds,
        "per_minute": result.per_minute,
        "run_seconds": result.run_seconds,
        "run_times": result.run_times,
        "fired": result.fired,
        "get_per_minute": result.get_per_minute,
        "gets": result.gets,
        "ticks": {
            backend: {
                "idle": _latency(t.idle),
                "due": _latency(t.due),
                "scan": _latency(t.scan),
                "plan": t.plan,
                "uses_index": t.uses_index,
                "reads_unit": t.reads_unit,
                "reads_idle": t.reads_idle,
                "reads_due": t.reads_due,
                "reads_scan": t.reads_scan,
            }
            for backend, t in result.ticks.items()
        },
        "problems": result.problems,
    }
