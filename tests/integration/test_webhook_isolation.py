"""Webhook isolation: a receiver that drips its answer holds back no other platform.

Real HTTP servers on loopback (allowed through ``EVIDENCE_WEBHOOK_ALLOW_HOSTS``)
and the service's own in-process dispatcher: platform A's receiver reads the
request and then answers one byte every 4 s (the issue's reproduction, where
per-read timeouts never fire and one delivery took 158 s); platform B's
answers at once. B's delivery must arrive within seconds, while A's attempt is
cut at ``EVIDENCE_WEBHOOK_DEADLINE`` and logged as a failed attempt with its
retry backed off.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from evidence_api.core.auth import create_token
from evidence_api.core.config import Settings
from evidence_api.registry.models import Platform
from evidence_api.registry.platforms import sealed_secret
from evidence_api.takedowns import webhook_sign
from evidence_api.takedowns.models import WebhookAttempt, WebhookDelivery
from tests.support.api import Stack, running_stack, submit
from tests.support.waiting import wait_until

DEADLINE_S = 3.0
DRIP_EVERY_S = 4.0  # longer than nothing: per-read timeouts (10 s) never fire
BACKOFF_S = 60.0


@dataclass
class Receiver:
    """A loopback HTTP receiver: ``drip`` answers one byte per ``DRIP_EVERY_S``."""

    drip: bool
    url: str = ""
    requests: list[tuple[float, bytes]] = field(default_factory=list)
    closed_at: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def handle(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            while len(body) < length:
                body += conn.recv(65536)
            self.requests.append((time.monotonic(), head + b"\r\n\r\n" + body[:length]))
            answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            if not self.drip:
                conn.sendall(answer)
                return
            try:
                for byte in answer:
                    conn.sendall(bytes([byte]))
                    if self.stop.wait(DRIP_EVERY_S):
                        return
            except OSError:  # the service cut the connection: what the deadline is for
                self.closed_at.append(time.monotonic())


@contextmanager
def receiver(*, drip: bool) -> Iterator[Receiver]:
    found = Receiver(drip)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    found.url = f"http://127.0.0.1:{listener.getsockname()[1]}/hooks/takedown"

    def serve() -> None:
        while not found.stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=found.handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        found.stop.set()
        thread.join(5)
        listener.close()


def add_platform(stack: Stack, code: str, url: str, secret: str) -> None:
    now = datetime.now(UTC)
    with stack.runtime.session() as session:
        session.add(
            Platform(
                code=code,
                name=f"{code} 平台",
                webhook_enabled=True,
                webhook_url=url,
                webhook_secret=sealed_secret(stack.runtime.settings, code, secret),
                created_at=now,
                updated_at=now,
            )
        )
        create_token(session, role="platform", name=f"{code} ops", platform=code)


def issue(stack: Stack, code: str, evidence_id: str) -> str:
    body = {
        "platform": code,
        "listing_urls": [f"https://{code}.example/item/{uuid.uuid4().hex[:6]}"],
        "legal_basis": "《电子商务法》第三十八条",
        "reason": "销售假冒注册商标商品",
        "evidence_ids": [evidence_id],
        "deadline": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        "grant_files": False,
    }
    response = stack.client.post("/v1/takedowns", json=body, headers=stack.auth("officer"))
    assert response.status_code == 201, response.text
    return str(response.json()["order_id"])


def deliveries(stack: Stack, order_id: str) -> list[dict[str, Any]]:
    detail = stack.client.get(f"/v1/takedowns/{order_id}", headers=stack.auth("officer"))
    assert detail.status_code == 200, detail.text
    return list(detail.json()["deliveries"])


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    settings = Settings(
        data_dir=tmp_path / "data",
        chain="none",
        seal_interval=0.2,
        webhook_interval=0.1,
        webhook_timeout=10.0,
        webhook_deadline=DEADLINE_S,
        webhook_backoff=BACKOFF_S,
        webhook_allow_hosts="127.0.0.1",
    )
    with running_stack(settings) as running:
        yield running


def test_a_dripping_receiver_is_cut_at_the_deadline_and_holds_back_no_other_platform(
    stack: Stack,
) -> None:
    response = submit(stack, {"listing.html": "<html>假冒商品</html>".encode()})
    assert response.status_code == 201, response.text
    evidence_id = str(response.json()["evidence_id"])
    with receiver(drip=True) as slow, receiver(drip=False) as fast:
        secret_a, secret_b = "whsec_" + uuid.uuid4().hex, "whsec_" + uuid.uuid4().hex
        add_platform(stack, "mall-slow", slow.url, secret_a)
        add_platform(stack, "mall-fast", fast.url, secret_b)

        order_a = issue(stack, "mall-slow", evidence_id)
        wait_until(lambda: bool(slow.requests), 30, "A's delivery to reach its receiver")
        a_sent = slow.requests[0][0]
        # A's receiver is now dripping; B's order comes after and must not wait for it.
        order_b = issue(stack, "mall-fast", evidence_id)
        issued_b = time.monotonic()
        wait_until(lambda: bool(fast.requests), 15, "B's delivery while A's receiver drips")
        b_latency = fast.requests[0][0] - issued_b
        assert b_latency < DRIP_EVERY_S * 2, f"B waited {b_latency:.1f} s"

        def b_delivered() -> bool:
            found = deliveries(stack, order_b)
            return bool(found) and found[0]["state"] == "delivered"

        wait_until(b_delivered, 15, "B's delivery to be recorded")

        def a_attempted() -> bool:
            found = deliveries(stack, order_a)
            return bool(found and found[0]["log"])

        wait_until(a_attempted, DEADLINE_S + 30, "A's attempt to be cut and recorded")
        cut_after = time.monotonic() - a_sent
        wait_until(lambda: bool(slow.closed_at), DRIP_EVERY_S + 10, "A's connection to be cut")
    # B's request is signed with B's secret (opened from its sealed form)
    _, raw_b = fast.requests[0]
    head, _, body_b = raw_b.partition(b"\r\n\r\n")
    headers = dict(
        line.decode().split(": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line
    )
    webhook_sign.verify(secret_b, body_b, headers["X-Evidence-Signature"], now=int(time.time()))

    (delivery_a,) = deliveries(stack, order_a)
    assert delivery_a["state"] == "pending" and delivery_a["attempts"] == 1
    (attempt,) = delivery_a["log"]
    assert attempt["status_code"] is None
    assert attempt["error"].startswith(f"deadline: deadline of {DEADLINE_S:g} s passed"), attempt
    # cut at the deadline, long before the ~40 bytes x 4 s the receiver would have taken
    assert DEADLINE_S * 1000 <= attempt["duration_ms"] < (DEADLINE_S + 3) * 1000, attempt
    assert cut_after < DEADLINE_S + 10
    with stack.runtime.session() as session:
        row = session.execute(
            select(WebhookDelivery).where(WebhookDelivery.id == delivery_a["delivery_id"])
        ).scalar_one()
        at = session.execute(
            select(WebhookAttempt.at).where(WebhookAttempt.delivery_seq == row.seq)
        ).scalar_one()
        retry_in = (row.next_attempt_at - at).total_seconds()
    assert retry_in == pytest.approx(BACKOFF_S, abs=1)  # retried later, backed off
    assert len(slow.requests) == 1  # not retried at once
