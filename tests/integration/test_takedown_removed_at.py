"""A platform cannot report a removal (下架时间) from before the order was issued: the
listing was not taken down in answer to an order that did not exist yet. 422 naming
``removed_at`` and the issue time; the order stays as it was.

It used to be accepted as long as it was not in the future.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from evidence_api.core.config import Settings
from tests.integration.test_api_takedowns import World
from tests.support.api import running_stack

BEIJING = timezone(timedelta(hours=8))  # the platform may report in its own zone


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    settings = Settings(data_dir=tmp_path / "data", chain="none", seal_interval=0.1)
    with running_stack(settings) as stack:
        found = World(stack, {})
        found.add_platform("mall-a")
        found.add_platform("mall-b")
        yield found


def test_removal_before_the_order_was_issued_is_refused(world: World) -> None:
    order = world.issue("mall-a", [world.evidence()])
    oid = order["order_id"]
    issued = datetime.fromisoformat(order["issued_at"])
    acked = world.client.post(f"/v1/platform/takedowns/{oid}/ack", headers=world.platform("mall-a"))
    assert acked.status_code == 200, acked.text
    url = f"/v1/platform/takedowns/{oid}/complete"

    for before in (timedelta(microseconds=1), timedelta(days=3)):
        early = (issued - before).astimezone(BEIJING)
        refused = world.client.post(
            url,
            json={"note": "已下架", "removed_at": early.isoformat()},
            headers=world.platform("mall-a"),
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert problem["field"] == "removed_at"
        assert problem["detail"] == (
            f"removed_at: {(issued - before).astimezone(UTC).isoformat()} is before the order "
            f"was issued ({issued.astimezone(UTC).isoformat()})"
        )
    still = world.client.get(f"/v1/takedowns/{oid}", headers=world.officer()).json()
    assert still["status"] == "acknowledged"

    # Another platform's order: 404 first, whatever the time says.
    other = world.client.post(
        url,
        json={"note": "x", "removed_at": (issued - timedelta(days=1)).isoformat()},
        headers=world.platform("mall-b"),
    )
    assert other.status_code == 404

    # At the issue time exactly: accepted.
    done = world.client.post(
        url,
        json={"note": "已下架", "removed_at": issued.isoformat()},
        headers=world.platform("mall-a"),
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
