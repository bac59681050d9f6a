"""``GET /v1/stats/monitoring`` from a known set of alerts and takedown orders, on SQLite
and on PostgreSQL: every figure equals the one worked out by hand below.

Orders, their state changes and their re-capture checks are written as the takedown
workflow and the re-capture job write them (rows of ``takedown_order``,
``takedown_event``, ``takedown_check``) with chosen times, so durations and medians are
exact; alerts are opened through ``alert_log.open_alert`` at chosen times.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from evidence_api.monitoring.models import (
    CHECK_PENDING,
    CHECK_REAPPEARED,
    CHECK_VERIFIED,
    TakedownCheck,
)
from evidence_api.monitoring.observation import GONE, PRICE_CHANGED, PROHIBITED_WORDS
from evidence_api.runtime import Runtime
from evidence_api.takedowns.models import TakedownEvent, TakedownOrder
from tests.integration.test_api_alerts import KINDS, draft, open_alerts, platform_id
from tests.support.api import Stack, open_backend, running_stack

SINCE = datetime(2026, 12, 28, tzinfo=UTC)  # a Monday: ISO week 2026-W53 (2026 has 53)
UNTIL = datetime(2027, 1, 11, tzinfo=UTC)


def order(
    runtime: Runtime,
    platform: int,
    issued: datetime,
    changes: list[tuple[str, float]],
    checks: list[str] | None = None,
) -> None:
    """An order issued at ``issued``, changed to each status at +seconds, with checks."""
    with runtime.session() as session:
        row = TakedownOrder(
            id=f"td-{uuid.uuid4().hex[:28]}",
            platform_id=platform,
            change_seq=int(uuid.uuid4().int % 10**12),
            status=changes[-1][0] if changes else "issued",
            listing_urls=json.dumps(["https://shop.example.com/item/1"]),
            legal_basis="《电子商务法》第三十八条",
            reason="test",
            deadline=issued + timedelta(days=2),
            grant_files=False,
            case_number=None,
            issued_by="token-1",
            issued_at=issued,
            updated_at=issued,
            content_sha256="0" * 64,
        )
        session.add(row)
        session.flush()
        previous = None
        for n, (status, seconds) in enumerate([("issued", 0.0), *changes]):
            session.add(
                TakedownEvent(
                    order_seq=row.seq,
                    change_seq=n,
                    from_status=previous,
                    to_status=status,
                    at=issued + timedelta(seconds=seconds),
                    actor="system",
                    note=None,
                    removed_at=None,
                    entry_id=f"td-entry-{uuid.uuid4().hex}",
                    leaf_hash="0" * 64,
                )
            )
            previous = status
        for n, status in enumerate(checks or []):
            session.add(
                TakedownCheck(
                    order_seq=row.seq,
                    round=1,
                    delay_seconds=3600 * (n + 1),
                    url="https://shop.example.com/item/1",
                    due_at=issued + timedelta(hours=n + 1),
                    status=status,
                    attempts=1,
                )
            )


@pytest.fixture(params=KINDS)
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    with (
        open_backend(request, request.param, tmp_path / "data") as backend,
        running_stack(backend.settings) as running,
    ):
        yield running


def entity(stack: Stack, shop: str) -> int:
    got = stack.client.post(
        "/v1/entities",
        json={"platform": "example-mall", "shop_name": shop},
        headers=stack.auth("officer"),
    )
    assert got.status_code == 201, got.text
    return int(got.json()["id"])


def stats(stack: Stack, query: str) -> Any:
    got = stack.client.get(f"/v1/stats/monitoring?{query}", headers=stack.auth("officer"))
    assert got.status_code == 200, got.text
    return got.json()


def window(since: datetime = SINCE, until: datetime = UNTIL) -> str:
    return f"since={quote(since.isoformat())}&until={quote(until.isoformat())}"


def test_figures_from_a_known_set(stack: Stack) -> None:
    runtime = stack.runtime
    a, b = platform_id(runtime, "example-mall"), platform_id(runtime, "mall-b")
    shop1, shop2 = entity(stack, "一号店"), entity(stack, "二号店")
    t = SINCE + timedelta(days=1, hours=9)  # Tue 2026-12-29 09:00 UTC
    # platform A (example-mall): 4 orders in the window
    order(
        runtime,
        a,
        t,
        [("acknowledged", 100), ("completed", 1000), ("completed", 5000)],
        [CHECK_VERIFIED, CHECK_VERIFIED, CHECK_PENDING],
    )
    order(
        runtime,
        a,
        t,
        [("acknowledged", 300), ("completed", 3000)],
        [CHECK_REAPPEARED, CHECK_REAPPEARED],
    )
    order(runtime, a, t, [("acknowledged", 200), ("overdue", 172800)])
    order(runtime, a, t, [("overdue", 172800)])
    # platform B (mall-b): 2 in the window, one before it (not counted)
    order(runtime, b, t, [("acknowledged", 50), ("completed", 500)], [CHECK_VERIFIED])
    order(runtime, b, t, [("acknowledged", 150)])
    order(runtime, b, SINCE - timedelta(seconds=1), [("acknowledged", 9999), ("completed", 1)])
    open_alerts(
        runtime,
        [
            (draft(PRICE_CHANGED, platform_id=a, entity_id=shop1), SINCE),  # W53 (from)
            (
                draft(PRICE_CHANGED, platform_id=a, entity_id=shop1),
                datetime(2027, 1, 3, 23, 30, tzinfo=UTC),
            ),
            (draft(GONE, platform_id=b, entity_id=shop2), datetime(2027, 1, 4, 0, 30, tzinfo=UTC)),
            (draft(PRICE_CHANGED), UNTIL - timedelta(microseconds=1)),  # W01, no platform
            (draft(PROHIBITED_WORDS, platform_id=a), UNTIL),  # until is exclusive
            (draft(PROHIBITED_WORDS, platform_id=b), SINCE - timedelta(seconds=1)),
        ],
    )
    got = stats(stack, window())
    assert got["since"].startswith("2026-12-28T00:00:00") and got["platform"] is None
    alerts = got["alerts"]
    assert alerts["total"] == 4
    assert alerts["by_rule"] == [
        {"rule": PRICE_CHANGED, "label": "价格变动 price changed", "count": 3},
        {"rule": GONE, "label": "商品下架 listing gone", "count": 1},
    ]
    counts = {p["platform"]: p["count"] for p in alerts["by_platform"]}
    assert counts == {"example-mall": 2, "mall-b": 1, None: 1}
    assert alerts["by_entity"] == [
        {"entity_id": shop1, "name": "一号店", "count": 2},
        {"entity_id": shop2, "name": "二号店", "count": 1},
    ]
    assert alerts["by_week"] == [{"week": "2026-W53", "count": 2}, {"week": "2027-W01", "count": 2}]

    by_platform = {p["platform"]: p for p in got["takedowns"]}
    assert [p["platform"] for p in got["takedowns"]] == ["example-mall", "mall-b"]
    assert by_platform["example-mall"] == {
        "platform": "example-mall",
        "orders": 4,
        "acknowledged": 3,
        "completed": 2,
        "median_ack_seconds": 200.0,  # of 100, 200, 300
        "median_complete_seconds": 2000.0,  # of 1000 (the first completion), 3000
        "verified_removed": 1,
        "verified_share": 0.5,
        "reappearances": 2,
        "reappeared_orders": 1,
        "overdue": 2,
    }
    assert by_platform["mall-b"] == {
        "platform": "mall-b",
        "orders": 2,
        "acknowledged": 2,
        "completed": 1,
        "median_ack_seconds": 100.0,  # of 50, 150
        "median_complete_seconds": 500.0,
        "verified_removed": 1,
        "verified_share": 1.0,
        "reappearances": 0,
        "reappeared_orders": 0,
        "overdue": 0,
    }

    only_b = stats(stack, window() + "&platform=mall-b")
    assert only_b["alerts"]["total"] == 1 and only_b["alerts"]["by_rule"][0]["rule"] == GONE
    assert [p["platform"] for p in only_b["takedowns"]] == ["mall-b"]
    # a window of one hour around nothing: empty, not an error
    empty = stats(stack, window(SINCE + timedelta(days=3), SINCE + timedelta(days=3, hours=1)))
    assert empty["alerts"] == {
        "total": 0,
        "by_rule": [],
        "by_platform": [],
        "by_entity": [],
        "by_week": [],
    }
    assert empty["takedowns"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (window(UNTIL, SINCE), "since"),
        (window(SINCE, SINCE), "since"),
        (window(SINCE, SINCE + timedelta(days=732)), "since"),
        ("since=2026-12-28T00:00:00", "since"),
        ("until=tomorrow", "until"),
        ("platform=no-such-mall", "platform"),
        ("platform=" + "p" * 65, "platform"),
    ],
    ids=["reversed", "empty", "too-long", "naive", "not-a-time", "unknown-platform", "long-code"],
)
def test_bad_windows_are_422_naming_the_field(stack: Stack, query: str, field: str) -> None:
    got = stack.client.get(f"/v1/stats/monitoring?{query}", headers=stack.auth("officer"))
    assert got.status_code == 422, got.text
    assert field in json.dumps(got.json()), got.text


def test_the_longest_window_and_roles(stack: Stack) -> None:
    assert stats(stack, window(SINCE, SINCE + timedelta(days=731)))["alerts"]["total"] == 0
    for role, status in (("admin", 200), ("appraiser", 403), ("platform", 403)):
        got = stack.client.get("/v1/stats/monitoring", headers=stack.auth(role))
        assert got.status_code == status, (role, got.text)
