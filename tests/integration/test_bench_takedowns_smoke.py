"""Smoke test of the ``takedowns`` benchmark with small numbers (5 clients, 50 orders) on a
real ``evidence serve``: every client's view holds its platform's orders exactly once,
and the latency rows carry positive figures beside the idle baseline."""

from __future__ import annotations

from bench import takedowns
from bench.common import Progress


def test_quick_takedowns_bench_loses_and_duplicates_nothing() -> None:
    settings = takedowns.TakedownSettings(
        clients=5, platforms=3, orders=50, officers=2, idle_polls=20
    )
    result = takedowns.run(settings, Progress())
    assert result.problems == []
    # each of the 5 clients saw every order of its platform once: 3 platforms get
    # 17/17/16 orders and 2/2/1 clients
    assert result.orders_seen == 17 * 2 + 17 * 2 + 16 * 1
    assert len(result.idle_ms) == 20 and result.polls >= 5
    rows = {row.id: row for row in takedowns.rows(result)}
    assert set(rows) == {"takedowns.poll.p50", "takedowns.poll.p99", "takedowns.issue_rate"}
    for q in ("p50", "p99"):
        row = rows[f"takedowns.poll.{q}"]
        assert row.ours > 0 and row.baseline is not None and row.baseline > 0
    assert rows["takedowns.issue_rate"].ours > 0
    assert "none lost or duplicated" in takedowns.legend(result)
