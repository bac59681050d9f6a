"""Case histories name people, not tokens: an event's actor and an evidence link's author
carry the token holder's display name and unit, resolved when shown; what is stored
(and anything logged) keeps only the pseudonym ``token-<id>``.

Before, a court reading a case history saw only ``token-1``.
"""

from __future__ import annotations

from sqlalchemy import select

from evidence_api.core.auth import create_token
from evidence_api.registry.models import CaseEvent, CaseEvidence
from tests.support.api import Stack, auth_header, named_officer, submit


def test_case_history_shows_display_name_and_unit(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    pseudonym, token = named_officer(stack)
    with stack.runtime.session() as session:
        _, plain = create_token(session, role="officer", name="officer Li")
    officer = auth_header(token)
    made = stack.client.post(
        "/v1/cases", json={"number": "泉市监网案〔2026〕88号", "title": "t"}, headers=officer
    )
    assert made.status_code == 201, made.text
    case_id = made.json()["id"]
    evidence_id = submit(stack, {"a.html": b"<p>a</p>"}).json()["evidence_id"]
    linked = stack.client.post(
        f"/v1/cases/{case_id}/evidence", json={"evidence_ids": [evidence_id]}, headers=officer
    )
    assert linked.status_code == 200, linked.text
    edited = stack.client.patch(
        f"/v1/cases/{case_id}", json={"title": "销售假冒商品"}, headers=auth_header(plain)
    )
    assert edited.status_code == 200, edited.text

    events = stack.client.get(f"/v1/cases/{case_id}/events", headers=officer).json()["items"]
    assert [(e["kind"], e["actor_name"]) for e in events] == [
        ("created", "张三（泉州市市场监督管理局）"),
        ("evidence_linked", "张三（泉州市市场监督管理局）"),
        ("updated", "officer Li"),  # no display name on record: the token's name
    ]
    assert events[0]["actor"] == pseudonym
    case = stack.client.get(f"/v1/cases/{case_id}", headers=officer).json()
    assert case["evidence"][0]["linked_by"] == pseudonym
    assert case["evidence"][0]["linked_by_name"] == "张三（泉州市市场监督管理局）"

    # Stored: the pseudonym only; the name is looked up each time it is shown.
    with stack.runtime.session() as session:
        actors = set(session.execute(select(CaseEvent.actor)).scalars())
        authors = set(session.execute(select(CaseEvidence.linked_by)).scalars())
    assert pseudonym in actors and authors == {pseudonym}
    assert not any("张三" in a for a in actors | authors)
