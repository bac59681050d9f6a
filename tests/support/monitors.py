"""Builders the monitoring tests share; nothing here starts a server or a browser, so unit
tests may use them too.

:func:`monitor_row` is a ``monitor`` row as ``POST /v1/monitors`` leaves one, for tests
that put monitors in the database directly (the API has its own tests);
:func:`market_settings` the settings of a service whose light captures run in Chromium
against the HTTPS market fixture (tests/support/market_site.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from evidence_api.core.config import Settings
from evidence_api.core.ids import new_id
from evidence_api.core.runtime import Runtime
from evidence_api.monitoring import dispatch, runs
from evidence_api.monitoring.models import Monitor, MonitorRun
from evidence_api.monitoring.ruleset import Rules

#: The fixture sites listen on loopback; ``localhost`` is their URLs' host.
MARKET_ALLOW = "127.0.0.1,localhost,::1"


def monitor_row(
    url: str,
    *,
    created_by_token_id: int,
    created_by: str,
    now: datetime,
    name: str = "listing",
    interval_seconds: int = 3600,
    rules: Rules | None = None,
    archive: str = "on_alert",
    next_run_at: datetime | None = None,
    platform_id: int | None = None,
) -> Monitor:
    """An enabled, not gone ``listing`` monitor of ``url`` (its host the URL's), created and
    updated at ``now`` and due then unless ``next_run_at`` says otherwise; not yet added
    to a session."""
    host = urlsplit(url).hostname
    assert host, url
    return Monitor(
        id=new_id("mon"),
        name=name,
        target_kind="listing",
        url=url,
        host=host,
        interval_seconds=interval_seconds,
        platform_id=platform_id,
        rules=(rules or Rules()).model_dump_json(),
        archive=archive,
        enabled=True,
        next_run_at=now if next_run_at is None else next_run_at,
        gone=False,
        created_by_token_id=created_by_token_id,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )


def queue_and_run(runtime: Runtime, monitor: Monitor, ctx: runs.Monitoring) -> runs.RunResult:
    """Queue a run of ``monitor`` now (as the tick or "run now" would) and run it here, in
    this thread, with ``ctx``: the test drives the run instead of a worker."""
    with runtime.session() as session:
        run = dispatch.new_run(monitor.seq, datetime.now(UTC))
        session.add(run)
        run_id = run.id
    return runs.run_monitor(ctx, run_id)


def latest_run(runtime: Runtime, monitor: Monitor) -> MonitorRun:
    """The monitor's most recently queued run (there must be one)."""
    with runtime.session() as session:
        return session.execute(
            select(MonitorRun)
            .where(MonitorRun.monitor_seq == monitor.seq)
            .order_by(MonitorRun.seq.desc())
            .limit(1)
        ).scalar_one()


def market_settings(data: Path, upstream_ca: Path, **extra: Any) -> Settings:
    """A service on SQLite under ``data`` (sealing every 0.1 s, no chain, no integrity
    timer) capturing the market fixture: loopback allowed, the fixture's CA trusted by the
    recording proxy, 180 s for a capture on a loaded machine, no spacing between starts on
    the one host; ``extra`` added or overriding (e.g. ``run_monitors``)."""
    values: dict[str, Any] = {
        "data_dir": data,
        "seal_interval": 0.1,
        "chain": "none",
        "run_integrity": False,
        "capture_allow": MARKET_ALLOW,
        "capture_upstream_ca": upstream_ca,
        "capture_total_seconds": 180,
        "monitor_host_spacing": 0.0,
    }
    return Settings(**(values | extra))
