"""``GET /v1/alerts/stream`` from a real uvicorn server over a real socket, read with httpx.

The app is the service's own (``create_app`` on a running runtime), served by uvicorn in
a thread so the test can give it a small stream gate (two streams, a four-second
lifetime, fast polls and keepalives): events arrive in id order with the webhook's
payload, a triage made meanwhile arrives as it commits, ``Last-Event-ID`` and ``?after=``
resume exactly after what was seen, ``recipient=me`` narrows, a third stream gets 503
with ``Retry-After`` and a closed one frees its place, and a connection ends by itself at
its lifetime after telling the client when to come back (``retry:``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from evidence_api.app import create_app
from evidence_api.core.config import Settings
from evidence_api.monitoring.stream import StreamGate
from tests.integration.test_api_alerts import draft, open_alerts
from tests.support.api import Stack, free_port, running_stack

LIFETIME = 4.0


def small_gate() -> StreamGate:
    return StreamGate(limit=2, lifetime=LIFETIME, poll=0.1, heartbeat=0.5, retry_ms=500)


@dataclass
class Live:
    stack: Stack
    url: str
    gate: StreamGate

    def headers(self, role: str = "officer", **extra: str) -> dict[str, str]:
        return {**self.stack.auth(role), **extra}


@contextmanager
def live(tmp_path: Path) -> Iterator[Live]:
    settings = Settings(data_dir=tmp_path / "data", seal_interval=0.2)
    with running_stack(settings) as stack:
        app = create_app(runtime=stack.runtime)
        gate = small_gate()
        app.state.alert_streams = gate
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, name="uvicorn-alerts", daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        try:
            yield Live(stack, f"http://127.0.0.1:{port}", gate)
        finally:
            server.should_exit = True
            thread.join(15)


@dataclass
class Event:
    id: int
    name: str
    data: dict[str, Any]


@dataclass
class Reader:
    """The stream's text as it arrives, parsed into events, comments and ``retry``."""

    response: httpx.Response
    events: list[Event] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    retry: int | None = None
    ended: bool = False

    def __post_init__(self) -> None:
        self._lines = self.response.iter_lines()
        self._fields: dict[str, str] = {}

    def _line(self, line: str) -> None:
        if line == "":
            if "data" in self._fields:
                self.events.append(
                    Event(
                        int(self._fields["id"]),
                        self._fields["event"],
                        json.loads(self._fields["data"]),
                    )
                )
            self._fields = {}
        elif line.startswith(":"):
            self.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "retry":
                self.retry = int(value)
            else:
                self._fields[name] = value

    def until(self, done: Any, timeout: float = 20.0) -> None:
        """Read until ``done(self)`` or the stream ends; fail after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not done(self):
            assert not self.ended, f"the stream ended first: {self.events}"
            assert time.monotonic() < deadline, f"timed out; read so far: {self.events}"
            try:
                self._line(next(self._lines))
            except StopIteration:
                self.ended = True


@contextmanager
def reading(client: httpx.Client, live_: Live, query: str = "", **headers: str) -> Iterator[Reader]:
    with client.stream(
        "GET", f"/v1/alerts/stream{query}", headers=live_.headers(**headers)
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Reader(response)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Live]:
    with live(tmp_path) as running:
        yield running


def client_of(world: Live) -> httpx.Client:
    return httpx.Client(base_url=world.url, timeout=httpx.Timeout(10.0))


def test_events_in_order_live_triage_and_resume(world: Live) -> None:
    runtime = world.stack.runtime
    ids = open_alerts(runtime, [(draft(reason=f"第{i}个 alert {i}"), None) for i in range(3)])
    with client_of(world) as client:
        with reading(client, world, "?after=0") as reader:
            reader.until(lambda r: len(r.events) == 3)
            assert reader.retry == 500
            assert [e.data["alert_id"] for e in reader.events] == ids
            assert [e.name for e in reader.events] == ["alert.open"] * 3
            event_ids = [e.id for e in reader.events]
            assert event_ids == sorted(event_ids) and len(set(event_ids)) == 3
            first = reader.events[0].data
            assert first["event_id"] == event_ids[0] and first["status"] == "open"
            assert (
                first["reason"] == "第0个 alert 0" and first["alert_url"] == f"/v1/alerts/{ids[0]}"
            )
            assert first["rule_label"] == "价格变动 price changed"
            # a triage while connected arrives as it commits
            dismissed = world.stack.client.post(
                f"/v1/alerts/{ids[1]}/dismiss", json={"reason": "误报"}, headers=world.headers()
            )
            assert dismissed.status_code == 200, dismissed.text
            reader.until(lambda r: len(r.events) == 4)
            last = reader.events[3]
            assert (last.name, last.data["alert_id"], last.data["previous_status"]) == (
                "alert.dismissed",
                ids[1],
                "open",
            )
            assert last.data["entry_id"] == dismissed.json()["history"][-1]["entry_id"]
            assert last.id == dismissed.json()["history"][-1]["id"]
        # resume: after the second event, by header and by query
        for how in (
            {"query": "", "Last-Event-ID": str(event_ids[1])},
            {"query": f"?after={event_ids[1]}"},
        ):
            query = how.pop("query")
            with reading(client, world, query, **how) as reader:
                reader.until(lambda r: len(r.events) == 2)
                assert [e.id for e in reader.events] == [event_ids[2], last.id]
        # no resume point: only what happens after connecting
        with reading(client, world) as reader:
            reader.until(lambda r: r.retry is not None)
            (new,) = open_alerts(runtime, [(draft(), None)])
            reader.until(lambda r: len(r.events) == 1)
            assert reader.events[0].data["alert_id"] == new


def test_recipient_me_keepalives_and_the_lifetime(world: Live) -> None:
    runtime = world.stack.runtime
    with client_of(world) as client:
        me = client.get("/v1/alerts?recipient=me&limit=1", headers=world.headers())
        assert me.status_code == 200
        from evidence_api.core.auth import authenticate  # noqa: PLC0415

        with runtime.session() as session:
            pseudonym = authenticate(session, world.headers()["Authorization"]).pseudonym
        mine, other = open_alerts(runtime, [(draft(recipient=pseudonym), None), (draft(), None)])
        started = time.monotonic()
        with reading(client, world, "?after=0&recipient=me") as reader:
            reader.until(lambda r: r.ended, timeout=30)
        lasted = time.monotonic() - started
    assert [e.data["alert_id"] for e in reader.events] == [mine]
    assert other not in json.dumps([e.data for e in reader.events])
    assert "keepalive" in reader.comments  # every 0.5 s while nothing happens
    assert LIFETIME - 0.5 <= lasted < LIFETIME + 10


def test_a_third_stream_gets_503_and_a_closed_one_frees_its_place(world: Live) -> None:
    with client_of(world) as client:
        with reading(client, world) as one, reading(client, world) as two:
            one.until(lambda r: r.retry is not None)
            two.until(lambda r: r.retry is not None)
            refused = client.get("/v1/alerts/stream", headers=world.headers())
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["Retry-After"]) >= 1
            assert "2 alert streams" in refused.json()["detail"]
        deadline = time.monotonic() + 20  # the server notices the hang-ups at its next write
        while world.gate.open > 0:
            assert time.monotonic() < deadline, f"{world.gate.open} streams still held"
            time.sleep(0.05)
        with reading(client, world) as again:
            again.until(lambda r: r.retry is not None)


@pytest.mark.parametrize("value", ["abc", "-1", "1" * 20, "１２"])
def test_a_bad_last_event_id_is_422(world: Live, value: str) -> None:
    headers = {k.encode(): v.encode() for k, v in world.headers(**{"Last-Event-ID": "0"}).items()}
    headers[b"Last-Event-ID"] = value.encode()  # UTF-8 bytes: httpx sends str as ASCII only
    with client_of(world) as client:
        got = client.get("/v1/alerts/stream", headers=headers)
    assert got.status_code == 422, got.text
    assert got.json()["field"] == "Last-Event-ID"
    assert world.gate.open == 0


def test_roles(world: Live) -> None:
    with client_of(world) as client:
        for role in ("appraiser", "platform"):
            assert client.get("/v1/alerts/stream", headers=world.headers(role)).status_code == 403
        assert client.get("/v1/alerts/stream").status_code == 401
        assert client.get("/v1/alerts/stream?after=-1", headers=world.headers()).status_code == 422
    assert world.gate.open == 0
