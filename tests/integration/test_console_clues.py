"""The console's 线索协查 pages on the real app (PostgreSQL).

Officers of two units register a clue, transfer it, return it with a reason, send it
again and accept it through pages only; a 协查 request goes to a platform, whose user
replies with a file the way ``static/clues.js`` does (multipart to the API's reply
route with the session's CSRF header); the sender closes it. Refused fields show the
API's reason beside them; a POST without the CSRF token is 403 and changes nothing;
every label is translated; each role sees only its own pages.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api import Stack
from tests.support.clues import ClueWorld, reply_form, seed_clue_world
from tests.support.console import (
    Person,
    csrf_of,
    database_stack,
    field_error,
    login,
    make_user,
)

pytestmark = pytest.mark.postgres
#: A deadline as a ``datetime-local`` field holds it: Beijing time, a week ahead.
SOON = (
    (datetime.now(UTC) + timedelta(days=7))
    .astimezone(timezone(timedelta(hours=8)))
    .strftime("%Y-%m-%dT%H:%M")
)


@pytest.fixture(scope="module", params=[pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with database_stack(request, tmp_path_factory, "console-clues") as running:
        yield running


@pytest.fixture(scope="module")
def world(stack: Stack) -> ClueWorld:
    with stack.runtime.session() as session:
        return seed_clue_world(session)


def untranslated(page: str) -> list[str]:
    """Message keys of this feature shown as themselves (missing from the catalogs)."""
    text = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", page, flags=re.S)
    shown = re.findall(r">([^<]+)<", text)
    key = re.compile(r"\b(?:clues|common|nav)\.[a-z_]+(?:\.[a-z_0-9]+)*")
    return [found for part in shown for found in key.findall(part)]


def located(answer: Any, prefix: str) -> str:
    assert answer.status_code == 303, answer.text[:2000]
    location: str = answer.headers["location"]
    assert location.startswith(prefix), location
    return location


def test_a_clue_through_the_pages_and_a_platform_reply(stack: Stack, world: ClueWorld) -> None:
    a = Person(stack, "officer", "丰泽所王警官", unit=world.units["a"])
    b = Person(stack, "officer", "晋江局李警官", unit=world.units["b"])
    board = a.get("/console/clues")
    assert board.status_code == 200 and "线索转办与协查" in board.text
    assert untranslated(board.text) == []

    refused = a.post(
        "/console/clues",
        {"title": "假冒", "summary": "摘要", "entity_id": str(2**40)},
    )
    assert refused.status_code == 422
    assert field_error(refused.text, "entity_id") == f"entity_id: no entity {2**40}"
    made = located(
        a.post(
            "/console/clues",
            {"title": "某店疑似售假", "summary": "价格异常", "entity_id": str(world.entity_id)},
        ),
        "/console/clues/clu-",
    )
    clue_id = made.split("/")[-1].split("?")[0]
    page = a.get(made)
    assert 'data-status="held"' in page.text and "在办" in page.text

    unprotected = a.post(
        f"/console/clues/{clue_id}/transfers",
        {"to_unit": world.units["b"], "reason": "属地", "deadline": SOON},
        csrf=False,
    )
    assert unprotected.status_code == 403
    assert 'data-status="held"' in a.get(made).text
    located(
        a.post(
            f"/console/clues/{clue_id}/transfers",
            {"to_unit": world.units["b"], "reason": "属地管辖", "deadline": SOON},
        ),
        f"/console/clues/{clue_id}",
    )
    incoming = b.get(f"/console/clues/{clue_id}")
    assert incoming.status_code == 200 and 'id="return-form"' in incoming.text
    transfer_id = re.search(r"/transfers/(ctr-[0-9a-f]{28})/accept", incoming.text)
    assert transfer_id is not None
    url = f"/console/clues/{clue_id}/transfers/{transfer_id.group(1)}"
    empty = b.post(f"{url}/return", {"reason": ""})
    assert empty.status_code == 422
    assert field_error(empty.text, "reason") == "reason: required to return a clue"
    located(b.post(f"{url}/return", {"reason": "不属本局管辖"}), "/console/clues")
    back = a.get(made)
    assert "已退回" in back.text and "重新转办" in back.text and "不属本局管辖" in back.text

    located(
        a.post(
            f"/console/clues/{clue_id}/transfers",
            {
                "to_unit": world.units["b"],
                "reason": "补充材料后再转",
                "deadline": SOON,
            },
        ),
        f"/console/clues/{clue_id}",
    )
    again = b.get(f"/console/clues/{clue_id}")
    second = re.search(r"/transfers/(ctr-[0-9a-f]{28})/accept", again.text)
    assert second is not None and second.group(1) != transfer_id.group(1)
    located(
        b.post(f"/console/clues/{clue_id}/transfers/{second.group(1)}/accept", {}),
        f"/console/clues/{clue_id}",
    )
    done = b.get(f"/console/clues/{clue_id}")
    assert f'id="clue-unit">{world.units["b"]}<' in done.text
    steps = re.findall(r'data-testid="step" data-step="([a-z_]+)"', done.text)
    assert steps == [
        "created",
        "transfer_sent",
        "transfer_returned",
        "transfer_sent",
        "transfer_accepted",
    ]
    assert a.get(f"/console/clues/{clue_id}").status_code == 404
    assert untranslated(done.text) == []

    # 协查 to a platform, answered by its console user with a file
    mall = next(iter(world.platforms))
    sent = located(
        a.post(
            "/console/clues/assists",
            {
                "target": "platform",
                "to_platform": mall,
                "entity_id": str(world.entity_id),
                "topic_seller_identity": "1",
                "questions": "请提供经营者实名信息",
                "deadline": SOON,
            },
        ),
        "/console/assists/ast-",
    )
    assist_id = sent.split("/")[-1].split("?")[0]
    user = TestClient(stack.client.app)
    username, password = make_user(stack.runtime, "platform", platform=mall)
    csrf = login(user, username, password)
    listed = user.get("/console/platform/assists")
    assert listed.status_code == 200 and assist_id in listed.text
    assert "经营者身份信息" in listed.text and untranslated(listed.text) == []
    detail = user.get(f"/console/platform/assists/{assist_id}")
    endpoint = f"/v1/platform/assists/{assist_id}/reply"
    assert f'data-endpoint="{endpoint}"' in detail.text
    assert csrf_of(detail.text) == csrf
    no_header = user.post(endpoint, files=reply_form("实名信息见附件", {"id.txt": b"x"}))
    assert no_header.status_code == 403
    replied = user.post(
        endpoint,
        files=reply_form("实名信息见附件", {"seller.txt": "张某 350503".encode()}),
        headers={"X-CSRF-Token": csrf},
    )
    assert replied.status_code == 200, replied.text
    evidence_id = replied.json()["replies"][0]["evidence_ids"][0]
    shown = a.get(sent)
    assert "实名信息见附件" in html.unescape(shown.text)
    assert f'href="/console/evidence/{evidence_id}"' in shown.text
    located(a.post(f"/console/assists/{assist_id}/close", {"note": "已取得"}), sent.split("?")[0])
    closed = a.get(f"/console/assists/{assist_id}")
    assert 'data-status="closed"' in closed.text and 'id="reply-form"' not in closed.text

    assert user.get("/console/clues").status_code == 403
    assert a.get("/console/platform/assists").status_code == 403
