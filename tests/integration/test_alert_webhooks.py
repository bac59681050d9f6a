"""Department webhooks of alert events, against a real HTTP server on loopback.

The service runs its ``alert-webhooks`` job on its in-process timer; a receiver checks
each delivery's signature with ``webhook_sign.verify`` (the function integrators are
pointed to), answers 500 first to see the retry carry the same delivery id, and then
the triage's events follow in order. Giving up after ``webhook_max_attempts``, and the
address checks (a loopback address outside ``webhook_allow_hosts`` is refused unsent),
are the platforms' webhooks' own.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from evidence_api.core.config import Settings
from evidence_api.monitoring import notify
from evidence_api.monitoring.models import AlertDelivery
from evidence_api.takedowns import webhook_sign
from tests.integration.test_api_alerts import draft, open_alerts
from tests.support.api import Stack, running_stack
from tests.support.receiver import receiver
from tests.support.waiting import wait_until

SECRET = "alert-hook-" + uuid.uuid4().hex  # 43 characters


@contextmanager
def hooked_stack(tmp_path: Path, url: str, **extra: Any) -> Iterator[Stack]:
    settings = Settings(
        data_dir=tmp_path / "data",
        seal_interval=0.1,
        webhook_interval=0.1,
        webhook_backoff=0.3,
        webhook_allow_hosts="127.0.0.1",
        alert_webhook_url=url,
        alert_webhook_secret=SECRET,
        **extra,
    )
    with running_stack(settings) as stack:
        yield stack


def deliveries(stack: Stack) -> list[AlertDelivery]:
    with stack.runtime.session() as session:
        rows = list(session.execute(select(AlertDelivery).order_by(AlertDelivery.seq)).scalars())
        session.expunge_all()
        return rows


def test_signed_retried_after_500_then_triage_in_order(tmp_path: Path) -> None:
    with receiver([500], path="/hooks/alerts") as (url, got), hooked_stack(tmp_path, url) as stack:
        (alert_id,) = open_alerts(stack.runtime, [(draft(reason="价格变动 23.5%"), None)])
        wait_until(lambda: len(got) >= 2, 20, "the opening's delivery and its retry")
        dismissed = stack.client.post(
            f"/v1/alerts/{alert_id}/dismiss",
            json={"reason": "促销"},
            headers=stack.auth("officer"),
        )
        assert dismissed.status_code == 200, dismissed.text
        wait_until(lambda: len(got) >= 3, 20, "the dismissal's delivery")
        wait_until(
            lambda: all(d.state == "delivered" for d in deliveries(stack)), 20, "all delivered"
        )
    now = int(time.time())
    for request in got:
        stamp = webhook_sign.verify(
            SECRET, request.body, request.headers["X-Evidence-Signature"], now=now
        )
        assert abs(stamp - now) < 120
    with pytest.raises(webhook_sign.SignatureMismatch):
        webhook_sign.verify("x" * 40, got[0].body, got[0].headers["X-Evidence-Signature"], now=now)
    first, retry, third = got
    assert first.body == retry.body  # the exact stored payload, again
    assert first.headers["X-Evidence-Delivery"] == retry.headers["X-Evidence-Delivery"]
    assert third.headers["X-Evidence-Delivery"] != first.headers["X-Evidence-Delivery"]
    assert [r.headers["X-Evidence-Event"] for r in got] == [
        "alert.open",
        "alert.open",
        "alert.dismissed",
    ]
    opened, gone = json.loads(first.body), json.loads(third.body)
    assert opened["delivery_id"] == first.headers["X-Evidence-Delivery"]
    assert (opened["alert_id"], opened["status"], opened["previous_status"]) == (
        alert_id,
        "open",
        None,
    )
    assert opened["reason"] == "价格变动 23.5%" and opened["rule_label"] == "价格变动 price changed"
    assert opened["alert_url"] == f"/v1/alerts/{alert_id}"
    assert (gone["event"], gone["status"], gone["previous_status"]) == (
        "alert.dismissed",
        "dismissed",
        "open",
    )
    assert gone["entry_id"] != opened["entry_id"]
    rows = deliveries(stack)
    assert [(d.state, d.attempts, d.last_error) for d in rows] == [
        ("delivered", 2, None),
        ("delivered", 1, None),
    ]


def test_gives_up_after_max_attempts(tmp_path: Path) -> None:
    with (
        receiver([500] * 10, path="/hooks/alerts") as (url, got),
        hooked_stack(tmp_path, url, webhook_max_attempts=3) as stack,
    ):
        open_alerts(stack.runtime, [(draft(), None)])
        wait_until(lambda: deliveries(stack)[0].state == "failed", 30, "the delivery to fail")
        (row,) = deliveries(stack)
        assert (row.attempts, row.last_error, row.delivered_at) == (3, "HTTP 500", None)
        time.sleep(1.0)  # three backoffs' worth: nothing more is sent once it failed
        assert len(got) == 3


def test_a_loopback_address_not_allowed_is_refused_unsent(tmp_path: Path) -> None:
    with receiver([], path="/hooks/alerts") as (url, got):
        with hooked_stack(tmp_path, url.replace("127.0.0.1", "127.0.0.2")) as stack:
            open_alerts(stack.runtime, [(draft(), None)])
            wait_until(lambda: deliveries(stack)[0].attempts >= 1, 20, "an attempt")
            (row,) = deliveries(stack)
        assert got == []
        assert row.last_error is not None and "non-public address 127.0.0.2" in row.last_error
        assert row.state == "pending"  # retried later, as a platform's delivery would be


def test_no_deliveries_without_a_configured_webhook(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", alert_webhook_url="http://127.0.0.1:9/x")
    assert notify.configured(settings) is None  # a URL without a secret sends nothing
    with running_stack(settings) as stack:
        open_alerts(stack.runtime, [(draft(), None)])
        assert deliveries(stack) == []
        assert notify.Notifier(stack.runtime.session, settings).tick() is False
