"""The clue and 协查 state machines, deadlines and the bounds of their request bodies
(pure: no server, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from evidence_api.clues import workflow as wf
from evidence_api.clues.replies import MAX_REPLY_METADATA, reply_text
from evidence_api.clues.schemas import AssistCreate, ClueCreate, TransferCreate
from evidence_api.clues.service import MAX_DEADLINE_AHEAD, check_deadline
from evidence_api.core.errors import InvalidInputError

C, A = wf.ClueStatus, wf.ClueAction
S, R = wf.AssistStatus, wf.AssistAction


def test_every_allowed_clue_step_and_only_those() -> None:
    assert wf.CLUE_STEPS == {
        (C.HELD, A.SEND): C.PENDING,
        (C.RETURNED, A.SEND): C.PENDING,
        (C.ACCEPTED, A.SEND): C.PENDING,
        (C.PENDING, A.ACCEPT): C.ACCEPTED,
        (C.PENDING, A.RETURN): C.RETURNED,
    }
    for status in C:
        for action in A:
            if (status, action) in wf.CLUE_STEPS:
                assert wf.clue_next(status, action) is wf.CLUE_STEPS[(status, action)]
            else:
                with pytest.raises(wf.IllegalStepError):
                    wf.clue_next(status, action)


def test_a_refused_step_names_what_is_allowed() -> None:
    with pytest.raises(wf.IllegalStepError) as pending:
        wf.clue_next(C.PENDING, A.SEND)
    assert str(pending.value) == "a clue that is 'pending' cannot send; allowed: accept, return"
    with pytest.raises(wf.IllegalStepError) as held:
        wf.clue_next(C.HELD, A.ACCEPT)
    assert str(held.value) == "a clue that is 'held' cannot accept; allowed: send"
    with pytest.raises(wf.IllegalStepError) as closed:
        wf.assist_next(S.CLOSED, R.REPLY)
    assert str(closed.value) == (
        "an assistance request that is 'closed' cannot reply; allowed: none"
    )


def test_the_transfer_return_resend_accept_path() -> None:
    status = C.HELD
    for action in (A.SEND, A.RETURN, A.SEND, A.ACCEPT, A.SEND):
        status = wf.clue_next(status, action)
    assert status is C.PENDING


def test_every_allowed_assist_step() -> None:
    assert wf.assist_allowed(S.OPEN) == [R.REPLY, R.CLOSE]
    assert wf.assist_allowed(S.REPLIED) == [R.REPLY, R.CLOSE]
    assert wf.assist_allowed(S.CLOSED) == []
    assert wf.assist_next(S.OPEN, R.REPLY) is S.REPLIED
    assert wf.assist_next(S.REPLIED, R.CLOSE) is S.CLOSED


def test_every_state_has_a_chinese_label() -> None:
    assert set(wf.CLUE_LABELS) == set(C) and set(wf.ASSIST_LABELS) == set(S)
    assert wf.CLUE_LABELS[C.RETURNED] == "已退回"


def test_deadlines_future_and_at_most_366_days_ahead_cut_to_milliseconds() -> None:
    now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    assert check_deadline(now + MAX_DEADLINE_AHEAD, now) == now + MAX_DEADLINE_AHEAD
    with pytest.raises(InvalidInputError, match="at most 366 days"):
        check_deadline(now + MAX_DEADLINE_AHEAD + timedelta(milliseconds=1), now)
    with pytest.raises(InvalidInputError, match="in the future"):
        check_deadline(now, now)
    cut = check_deadline(now + timedelta(seconds=1, microseconds=123_456), now)
    assert cut.microsecond == 123_000


CLUE = {"title": "t", "summary": "s", "entity_id": 1}


@pytest.mark.parametrize(
    ("field", "ok", "over"),
    [
        ("title", "题" * 200, "题" * 201),
        ("summary", "s" * 8000, "s" * 8001),
        (
            "evidence_ids",
            [f"ev-{i:028x}" for i in range(100)],
            [f"ev-{i:028x}" for i in range(101)],
        ),
    ],
)
def test_clue_bodies_at_their_limits(field: str, ok: Any, over: Any) -> None:
    ClueCreate.model_validate(CLUE | {field: ok})
    with pytest.raises(ValidationError):
        ClueCreate.model_validate(CLUE | {field: over})


def test_bad_clue_and_transfer_bodies_are_refused() -> None:
    for bad in (
        {"evidence_ids": ["ev-" + "0" * 28] * 2},  # repeated
        {"entity_id": 0},
        {"alert_id": "alr-short"},
        {"unknown": 1},
    ):
        with pytest.raises(ValidationError):
            ClueCreate.model_validate(CLUE | bad)
    transfer = {"to_unit": "fj.qz", "reason": "r", "deadline": "2027-01-01T10:00:00+08:00"}
    TransferCreate.model_validate(transfer)
    for bad in (
        {"deadline": "2027-01-01T10:00:00"},  # no zone
        {"to_unit": "FJ QZ"},
        {"reason": "r" * 2001},
    ):
        with pytest.raises(ValidationError):
            TransferCreate.model_validate(transfer | bad)


def test_assist_topics_are_known_unique_and_at_most_six() -> None:
    body = {
        "to_unit": "fj.qz",
        "entity_id": 1,
        "topics": list(wf.TOPICS),
        "questions": "q",
        "deadline": "2027-01-01T10:00:00+08:00",
    }
    assert len(AssistCreate.model_validate(body).topics) == 6
    for topics in ([], ["order_data", "order_data"], ["weather"], [*wf.TOPICS, "other"]):
        with pytest.raises(ValidationError):
            AssistCreate.model_validate(body | {"topics": topics})


def test_reply_text_bounds_and_named_refusals() -> None:
    assert reply_text('{"text": " 见附件 "}'.encode()) == "见附件"
    limit = '{"text": "' + "x" * 2000 + '"}'
    assert reply_text(limit.encode()) == "x" * 2000
    refusals = {
        None: "metadata",
        b"{": "metadata",
        b'{"text": ""}': "metadata.text",
        ('{"text": "' + "x" * 2001 + '"}').encode(): "metadata.text",
        b'{"text": "a", "more": 1}': "metadata.more",
        b'{"text": "' + b"x" * MAX_REPLY_METADATA + b'"}': "metadata",
    }
    for raw, field in refusals.items():
        with pytest.raises(InvalidInputError) as refused:
            reply_text(raw)
        assert refused.value.field == field, (raw and raw[:40], refused.value.detail)
