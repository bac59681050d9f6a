"""The alert stream's pieces, without a server: the event frame, the resume point, the
gate's limit (at limit − 1 and at the limit), the payload beside the webhook's, and the
reading loop holding back what follows a gap in the ids until it fills or times out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest

from anchoring.entries import make_entry
from evidence_api.core.errors import InvalidInputError, ServiceUnavailableError
from evidence_api.monitoring import alert_log, stream
from evidence_api.monitoring.models import Alert, AlertEvent
from evidence_api.monitoring.stream import Read, StreamGate, event_payload, frame, resume_point

AT = datetime(2026, 12, 3, 4, 5, 6, tzinfo=UTC)


def alert() -> Alert:
    return Alert(
        seq=1,
        id="alr-" + "a" * 28,
        rule="price_changed",
        reason="价格变动 23.5%",
        detail="{}",
        status="dismissed",
        recipient="token-7",
        evidence_id="ev-" + "b" * 28,
    )


def event(event_id: int, to: str = "dismissed") -> AlertEvent:
    return AlertEvent(
        id=event_id,
        alert_seq=1,
        from_status="open",
        to_status=to,
        at=AT,
        actor="token-7",
        entry_id="al-1",
        leaf_hash="0" * 64,
    )


def test_frame_is_one_event_with_one_data_line() -> None:
    payload = event_payload(event(42), alert(), "mon-1", None)
    text = frame(payload)
    lines = text.split("\n")
    assert lines[:2] == ["id: 42", "event: alert.dismissed"]
    assert lines[2].startswith("data: ") and lines[3:] == ["", ""]
    data = json.loads(lines[2][len("data: ") :])
    assert data == payload
    assert data["at"] == "2026-12-03T04:05:06.000Z" and data["reason"] == "价格变动 23.5%"


def test_payload_carries_every_field_of_the_webhook_payload() -> None:
    """The stream's data and the department webhook's body name the same facts."""
    item, change = alert(), event(9)
    entry = make_entry("alert", "al-1", {"alert_id": item.id}, at="2026-12-03T04:05:06Z")
    webhook = json.loads(alert_log._payload(item, change, entry, {"monitor_id": "mon-1"}))
    streamed = event_payload(change, item, "mon-1", None)
    assert set(webhook) - {"delivery_id"} <= set(streamed)
    for key in set(webhook) - {"delivery_id"}:
        assert streamed[key] == webhook[key], key


@pytest.mark.parametrize(
    ("header", "after", "expected"),
    [
        (None, None, None),
        (None, 5, 5),
        ("", 5, 5),
        ("  ", None, None),
        ("17", 5, 17),  # the header wins
        ("9" * 19, None, int("9" * 19)),  # the longest accepted
    ],
)
def test_resume_point(header: str | None, after: int | None, expected: int | None) -> None:
    assert resume_point(header, after) == expected


@pytest.mark.parametrize("header", ["1" * 20, "x", "-1", "1.5", "１２", "0x10"])
def test_a_bad_last_event_id_is_refused_naming_it(header: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        resume_point(header, None)
    assert caught.value.field == "Last-Event-ID"


def test_gate_admits_up_to_its_limit_and_frees_places() -> None:
    gate = StreamGate(limit=3)
    for _ in range(3):
        gate.enter()
    assert gate.open == 3
    with pytest.raises(ServiceUnavailableError) as caught:
        gate.enter()
    assert caught.value.status == 503 and caught.value.headers["Retry-After"] == "2"
    gate.leave()
    gate.enter()  # the freed place is taken again
    assert gate.open == 3


def run_stream(
    monkeypatch: pytest.MonkeyPatch, reads: list[list[int]], *, gap_wait: float, lifetime: float
) -> list[int]:
    """The ids the stream sends when successive database reads see ``reads`` (each the ids
    after the cursor, every recipient's; the last read repeats)."""
    seen: list[int] = []

    def read_after(_t: Any, after: int, _recipient: str | None, _batch: int) -> Read:
        ids = [i for i in reads[min(len(seen), len(reads) - 1)] if i > after]
        seen.append(after)
        return Read(ids, [{"event_id": i, "event": "alert.open"} for i in ids])

    monkeypatch.setattr(stream, "read_after", read_after)
    monkeypatch.setattr(stream, "GAP_WAIT", gap_wait)
    gate = StreamGate(lifetime=lifetime, poll=0.01, heartbeat=100)

    async def collect() -> list[int]:
        out: list[int] = []
        async for text in stream.events(lambda: None, gate, 0, None):  # type: ignore[arg-type,return-value]
            out += [int(line[4:]) for line in text.split("\n") if line.startswith("id: ")]
        return out

    return anyio.run(collect)


def test_a_gap_is_waited_for_and_filled_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # 2 commits late: 3 is held back until it does, then 2 and 3 go out in order
    reads = [[1, 3], [1, 3], [1, 2, 3]]
    assert run_stream(monkeypatch, reads, gap_wait=60, lifetime=0.5) == [1, 2, 3]


def test_a_gap_that_never_fills_is_passed_after_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    # 2 was rolled back: 3 goes out once the wait is over, and nothing is sent twice
    assert run_stream(monkeypatch, [[1, 3, 4]], gap_wait=0.1, lifetime=0.6) == [1, 3, 4]
    assert run_stream(monkeypatch, [[1, 3, 4]], gap_wait=60, lifetime=0.3) == [1]
