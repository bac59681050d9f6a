"""Registries through the real API on SQLite and PostgreSQL: platforms, online
trading entities (统一社会信用代码 checked per GB 32100-2015) and cases with the
workflow 线索 → 立案 → 调查 → 处理 → 结案, linked evidence and their history.

Each test works in its own platform / officer namespace, so one running stack
per backend serves the module. Expected USCC check characters come from the
independent reference in ``tests/unit/test_uscc.py``; expected allowed moves are
written out here, not read from the workflow module.
"""

from __future__ import annotations

import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from itertools import product
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from evidence_api.core.auth import authenticate, create_token
from evidence_api.core.config import Settings
from evidence_api.core.errors import InvalidInputError, NotFoundError
from evidence_api.registry import cases as registry_cases
from evidence_api.registry.entities import entity_by_id
from evidence_api.registry.models import CaseEvent, Platform, TradingEntity
from evidence_api.registry.schemas import CaseTransition
from tests.support.api import (
    EVIDENCE_CLI,
    Stack,
    auth_header,
    fresh_postgres_database,
    running_stack,
    submit,
)
from tests.unit.test_uscc import reference_check

ALIBABA = "91330100716105852F"
TENCENT = "9144030071526726XG"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp(f"registry-{request.param}") / "data"
    if request.param == "sqlite":
        with running_stack(Settings(data_dir=data, seal_interval=0.1)) as running:
            yield running
        return
    server = request.getfixturevalue("postgres_url")
    with (
        fresh_postgres_database(server) as url,
        running_stack(Settings(data_dir=data, database_url=url, seal_interval=0.1)) as running,
    ):
        yield running


def tag() -> str:
    return uuid.uuid4().hex[:10]


def call(stack: Stack, method: str, url: str, role: str = "officer", **kwargs: Any) -> Any:
    return stack.client.request(method, url, headers=stack.auth(role), **kwargs)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def new_platform(stack: Stack, **fields: Any) -> dict[str, Any]:
    body = {"code": f"p-{tag()}", "name": "某某商城", **fields}
    return ok(call(stack, "POST", "/v1/platforms", "admin", json=body), 201)  # type: ignore[no-any-return]


def new_entity(stack: Stack, platform: str, **fields: Any) -> dict[str, Any]:
    body = {"platform": platform, "shop_name": "示例旗舰店", **fields}
    return ok(call(stack, "POST", "/v1/entities", json=body), 201)  # type: ignore[no-any-return]


def graded(stack: Stack, grades: dict[int, str]) -> None:
    """Give entities a grade as the credit service mirrors it (``risk_grade`` is computed
    from credit records, never typed in; evidence_api.credit.grading)."""
    with stack.runtime.session() as session:
        for entity_id, grade in grades.items():
            session.execute(
                update(TradingEntity).where(TradingEntity.id == entity_id).values(risk_grade=grade)
            )


def new_case(stack: Stack, **fields: Any) -> dict[str, Any]:
    body = {"number": f"泉市监网案〔2026〕{tag()}号", "title": "销售假冒商品", **fields}
    return ok(call(stack, "POST", "/v1/cases", json=body), 201)  # type: ignore[no-any-return]


def all_pages(stack: Stack, url: str, limit: int, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        page = ok(
            call(
                stack,
                "GET",
                url,
                params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})},
            )
        )
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert len(page["items"]) == limit
    raise AssertionError("pagination did not end")


# --- platforms --------------------------------------------------------------------------


def stored_secret(stack: Stack, code: str) -> str | None:
    """The platform's secret as the service opens it; the row holds it only sealed."""
    from evidence_api.core import secretbox  # noqa: PLC0415 - the webhook secrets' at-rest format

    with stack.runtime.session() as session:
        raw = session.execute(
            select(Platform.webhook_secret).where(Platform.code == code)
        ).scalar_one()
    if raw is None:
        return None
    assert secretbox.is_sealed(raw), "a webhook secret stored in clear"
    key = secretbox.load_key(stack.settings)
    opened = secretbox.open_sealed(key, raw, secretbox.platform_context(code))
    assert opened not in raw
    return opened


def test_platform_secret_is_shown_once_and_never_read_back(stack: Stack) -> None:
    created = new_platform(stack, webhook_url="https://hooks.example.com/ea", webhook_enabled=True)
    secret = created["webhook_secret"]
    assert isinstance(secret, str) and len(secret) >= 43
    assert stored_secret(stack, created["code"]) == secret
    assert created["webhook_secret_set"] is True
    for role in ("admin", "officer"):
        read = ok(call(stack, "GET", f"/v1/platforms/{created['code']}", role))
        assert "webhook_secret" not in read and secret not in str(read)
        assert read["webhook_secret_set"] is True
        assert read["webhook_enabled"] is True
    rotated = ok(call(stack, "POST", f"/v1/platforms/{created['code']}/webhook-secret", "admin"))
    assert rotated["webhook_secret"] != secret
    assert stored_secret(stack, created["code"]) == rotated["webhook_secret"]


def test_platform_secret_from_the_admin_is_kept_not_echoed(stack: Stack) -> None:
    mine = "s" * 20 + "-chosen-by-the-admin-" + tag()
    created = new_platform(
        stack, webhook_url="http://hooks.platform.example:8080/hook", webhook_secret=mine
    )
    assert created["webhook_secret"] is None
    assert stored_secret(stack, created["code"]) == mine
    other = "o" * 40
    updated = ok(
        call(
            stack,
            "PATCH",
            f"/v1/platforms/{created['code']}",
            "admin",
            json={"webhook_secret": other},
        )
    )
    assert "webhook_secret" not in updated
    assert stored_secret(stack, created["code"]) == other


def test_webhook_urls_to_literal_private_addresses_are_refused_at_registration(
    stack: Stack,
) -> None:
    """Literal loopback, private and link-local targets are refused up front (names are
    resolved and checked at every delivery instead)."""
    created = new_platform(stack)
    url = f"/v1/platforms/{created['code']}"
    for bad, shown in (
        ("http://127.0.0.1:9000/hook", "'127.0.0.1'"),
        ("http://10.0.0.8/hook", "'10.0.0.8'"),
        ("http://169.254.169.254/latest/meta-data", "'169.254.169.254'"),
        ("http://[::1]:8080/h", "'::1'"),
        ("http://localhost/h", "'localhost' is loopback"),
    ):
        body = problem(call(stack, "PATCH", url, "admin", json={"webhook_url": bad}), 422)
        assert body["field"] == "webhook_url", bad
        assert shown in body["detail"] and "EVIDENCE_WEBHOOK_ALLOW_HOSTS" in body["detail"], body
    refused = problem(
        call(
            stack,
            "POST",
            "/v1/platforms",
            "admin",
            json={"code": f"p-{tag()}", "name": "x", "webhook_url": "http://192.168.1.5/h"},
        ),
        422,
    )
    assert refused["field"] == "webhook_url"
    public = ok(call(stack, "PATCH", url, "admin", json={"webhook_url": "http://8.8.8.8/h"}))
    assert public["webhook_url"] == "http://8.8.8.8/h"


def test_platform_update_and_its_checks(stack: Stack) -> None:
    created = new_platform(stack, webhook_url="https://a.example.com/h", webhook_enabled=True)
    url = f"/v1/platforms/{created['code']}"
    renamed = ok(call(stack, "PATCH", url, "admin", json={"name": "新名称"}))
    assert (renamed["name"], renamed["webhook_url"], renamed["webhook_enabled"]) == (
        "新名称",
        "https://a.example.com/h",
        True,
    )
    # Removing the URL disables the webhook; enabling without a URL is refused.
    cleared = ok(call(stack, "PATCH", url, "admin", json={"webhook_url": None}))
    assert (cleared["webhook_url"], cleared["webhook_enabled"]) == (None, False)
    refused = problem(call(stack, "PATCH", url, "admin", json={"webhook_enabled": True}), 422)
    assert refused["detail"] == "webhook_enabled: a webhook needs a webhook_url"
    assert ok(call(stack, "GET", url))["webhook_enabled"] is False
    for bad in (
        "ftp://a.example.com/h",
        "https://",
        "https:///path",
        "http://a b.example.com",
        "a.example.com",
    ):
        body = problem(call(stack, "PATCH", url, "admin", json={"webhook_url": bad}), 422)
        assert body["field"] == "webhook_url", bad
        assert "http:// or https://" in body["detail"] or "spaces" in body["detail"], body
    assert (
        problem(call(stack, "PATCH", url, "admin", json={"code": "other"}), 422)["field"] == "code"
    )
    assert problem(call(stack, "PATCH", url, "admin", json={"name": None}), 422)["field"] == "name"
    short = problem(call(stack, "PATCH", url, "admin", json={"webhook_secret": "x" * 31}), 422)
    assert short["field"] == "webhook_secret"


def test_platform_conflicts_and_unknowns(stack: Stack) -> None:
    created = new_platform(stack)
    again = call(
        stack, "POST", "/v1/platforms", "admin", json={"code": created["code"], "name": "x"}
    )
    assert problem(again, 409)["detail"] == f"platform {created['code']!r} already exists"
    assert problem(call(stack, "GET", "/v1/platforms/no-such-platform"), 404)["detail"] == (
        "no platform 'no-such-platform'"
    )
    bad_code = call(stack, "POST", "/v1/platforms", "admin", json={"code": "Upper", "name": "x"})
    assert problem(bad_code, 422)["field"] == "code"
    officer = call(
        stack, "POST", "/v1/platforms", "officer", json={"code": f"p-{tag()}", "name": "x"}
    )
    assert problem(officer, 403)["detail"] == "role 'officer' may not do this; allowed: admin"


def test_platform_pages_hold_every_platform_once(stack: Stack) -> None:
    mine = {new_platform(stack)["code"] for _ in range(7)}
    listed = [p["code"] for p in all_pages(stack, "/v1/platforms", 3)]
    assert len(listed) == len(set(listed))
    assert mine <= set(listed)


# --- entities ---------------------------------------------------------------------------


def test_entity_round_trip_with_a_real_uscc(stack: Stack) -> None:
    platform = new_platform(stack)["code"]
    created = new_entity(
        stack,
        platform,
        shop_id="shop-1",
        shop_url="https://shop.example.com/1",
        uscc=f"  {ALIBABA.lower()} ",  # trimmed and upper-cased
        risk_class="食品",
    )
    assert created["uscc"] == {
        "code": ALIBABA,
        "authority": "9 工商（市场监管）",
        "organisation_type": "1 企业",
        "division": "330100",
    }
    # not graded until it has a credit record (the grade is computed: tests/integration/
    # test_credit.py)
    assert (created["risk_grade"], created["risk_grade_label"]) == (None, None)
    read = ok(call(stack, "GET", f"/v1/entities/{created['id']}", "admin"))
    assert read == created
    changed = ok(
        call(
            stack,
            "PATCH",
            f"/v1/entities/{created['id']}",
            json={"uscc": TENCENT, "risk_class": "化妆品"},
        )
    )
    assert (changed["uscc"]["code"], changed["risk_class"], changed["shop_id"]) == (
        TENCENT,
        "化妆品",
        "shop-1",
    )
    cleared = ok(
        call(stack, "PATCH", f"/v1/entities/{created['id']}", json={"uscc": None, "shop_url": None})
    )
    assert (cleared["uscc"], cleared["shop_url"], cleared["shop_name"]) == (
        None,
        None,
        "示例旗舰店",
    )


def uscc_with_check(first17: str) -> str:
    return first17 + reference_check(first17)


@pytest.mark.parametrize(
    ("name", "code", "reason"),
    [
        ("too-short", ALIBABA[:17], "must be 18 characters, got 17"),
        (
            "letter-O",
            "9133010071610585OF",
            "character 17 is 'O': the letters I, O, Z, S and V are not used",
        ),
        (
            "authority-B",
            "B1330100716105852F",
            "registration authority code (character 1) 'B' is not one of 1 2 3 4 5 6 7 8 9 A N Y",
        ),
        (
            "type-5-for-民政",
            uscc_with_check("54330100716105852"),
            "organisation type (character 2) '4' is not allowed for authority 5 (民政); "
            "allowed: 1 2 3 9",
        ),
        ("wrong-check", ALIBABA[:17] + "E", "check character should be 'F', got 'E'"),
        (
            "transposed",
            "91331000716105852F",
            f"check character should be {reference_check('91331000716105852')!r}, got 'F'",
        ),
    ],
)
def test_invalid_uscc_is_422_with_the_reason(
    stack: Stack, name: str, code: str, reason: str | None
) -> None:
    platform = new_platform(stack)["code"]
    body = problem(
        call(
            stack,
            "POST",
            "/v1/entities",
            json={"platform": platform, "shop_name": "店", "uscc": code},
        ),
        422,
    )
    assert body["field"] == "uscc", name
    assert body["detail"].startswith("uscc: not a valid 统一社会信用代码 (GB 32100-2015): "), name
    if reason is not None:
        assert body["detail"].endswith(reason), (name, body["detail"])
    # Updates are checked the same way and change nothing when refused.
    entity = new_entity(stack, platform, uscc=ALIBABA)
    again = problem(call(stack, "PATCH", f"/v1/entities/{entity['id']}", json={"uscc": code}), 422)
    assert again["detail"] == body["detail"]
    assert ok(call(stack, "GET", f"/v1/entities/{entity['id']}"))["uscc"]["code"] == ALIBABA
    assert ok(call(stack, "GET", "/v1/entities", params={"platform": platform}))["items"] == [
        ok(call(stack, "GET", f"/v1/entities/{entity['id']}"))
    ]


def test_entity_references_and_duplicates(stack: Stack) -> None:
    platform = new_platform(stack)["code"]
    unknown = call(stack, "POST", "/v1/entities", json={"platform": "no-such", "shop_name": "店"})
    assert (
        problem(unknown, 422)["detail"]
        == "platform: no platform 'no-such' (an admin registers it first)"
    )
    first = new_entity(stack, platform, shop_id="s-1")
    dup = call(
        stack,
        "POST",
        "/v1/entities",
        json={"platform": platform, "shop_name": "店", "shop_id": "s-1"},
    )
    assert (
        problem(dup, 409)["detail"]
        == f"platform {platform!r} already has an entity with shop_id 's-1'"
    )
    other = new_platform(stack)["code"]
    assert new_entity(stack, other, shop_id="s-1")["platform"] == other  # same shop id elsewhere
    url = f"/v1/entities/{first['id']}"
    assert (
        problem(call(stack, "PATCH", url, json={"platform": "no-such"}), 422)["field"] == "platform"
    )
    assert problem(call(stack, "PATCH", url, json={"shop_name": None}), 422)["detail"] == (
        "shop_name: may not be null"
    )
    assert (
        problem(call(stack, "PATCH", url, json={"risk_grade": "A"}), 422)["field"] == "risk_grade"
    )  # computed, never typed in (docs/credit.md §6)
    assert problem(call(stack, "PATCH", url, json={"shop_url": "javascript:alert(1)"}), 422)[
        "field"
    ] == ("shop_url")
    moved = ok(call(stack, "PATCH", url, json={"platform": other, "shop_id": "s-2"}))
    assert moved["platform"] == other
    taken = problem(call(stack, "PATCH", url, json={"shop_id": "s-1"}), 409)
    assert taken["detail"] == f"platform {other!r} already has an entity with shop_id 's-1'"
    assert ok(call(stack, "GET", url))["shop_id"] == "s-2"
    assert (
        problem(call(stack, "GET", "/v1/entities/999999999"), 404)["detail"]
        == "no trading entity 999999999"
    )


def test_entity_filters_and_pages(stack: Stack) -> None:
    platform, other = new_platform(stack)["code"], new_platform(stack)["code"]
    made = []
    for i in range(11):
        made.append(
            new_entity(
                stack,
                platform,
                shop_name=f"{'Flagship' if i % 2 else '旗舰'}店_{i}%",
                uscc=ALIBABA if i % 3 == 0 else None,
            )["id"]
        )
    graded(stack, {entity: "ABCD"[i % 4] for i, entity in enumerate(made)})
    graded(
        stack, {new_entity(stack, other, shop_name="Flagship elsewhere", uscc=ALIBABA)["id"]: "A"}
    )
    every = all_pages(stack, "/v1/entities", 4, platform=platform)
    assert [e["id"] for e in every] == sorted(made, reverse=True)

    def ids(**params: Any) -> set[int]:
        return {e["id"] for e in all_pages(stack, "/v1/entities", 2, platform=platform, **params)}

    assert ids(uscc=ALIBABA.lower()) == {made[i] for i in range(11) if i % 3 == 0}
    assert ids(risk_grade="B") == {made[i] for i in range(11) if i % 4 == 1}
    assert ids(q="flagSHIP") == {made[i] for i in range(11) if i % 2}
    assert ids(q="旗舰") == {made[i] for i in range(11) if not i % 2}
    assert ids(q="_1") == {made[1], made[10]}  # LIKE wildcards are literal
    assert ids(q="%") == set(made)
    assert ids(q="店_1%", risk_grade="B") == {made[1]}
    assert len({e["id"] for e in all_pages(stack, "/v1/entities", 50, uscc=ALIBABA)}) >= 5
    assert len(ok(call(stack, "GET", "/v1/entities", params={"limit": 200}))["items"]) >= 12
    too_many = call(stack, "GET", "/v1/entities", params={"limit": 201})
    assert problem(too_many, 422)["field"] == "limit"
    bad = call(stack, "GET", "/v1/entities", params={"cursor": "bm90LWEtY3Vyc29y"})
    assert problem(bad, 422)["detail"] == "cursor is not one this API issued"
    assert (
        problem(call(stack, "GET", "/v1/entities", params={"risk_grade": "Z"}), 422)["field"]
        == "risk_grade"
    )


# --- cases ------------------------------------------------------------------------------

ORDER = ["clue", "filed", "investigating", "handling", "closed"]
LABELS = {
    "clue": "线索",
    "filed": "立案",
    "investigating": "调查",
    "handling": "处理",
    "closed": "结案",
}
ALLOWED = {
    "clue": ["filed", "closed"],
    "filed": ["investigating"],
    "investigating": ["handling"],
    "handling": ["closed"],
    "closed": [],
}
PATH_TO = {"clue": [], "filed": ["filed"], "investigating": ["filed", "investigating"],
           "handling": ["filed", "investigating", "handling"],
           "closed": ["filed", "investigating", "handling", "closed"]}  # fmt: skip


def move(stack: Stack, case_id: int, to: str, **extra: Any) -> Any:
    return call(stack, "POST", f"/v1/cases/{case_id}/transition", json={"to": to, **extra})


def case_at(stack: Stack, status: str, **fields: Any) -> dict[str, Any]:
    case = new_case(stack, **fields)
    for step in PATH_TO[status]:
        extra = {"outcome": "penalty"} if step == "closed" else {}  # closed after handling
        case = ok(move(stack, case["id"], step, **extra))
    assert case["status"] == {"code": status, "label": LABELS[status]}
    return case


def test_the_whole_workflow_and_its_history(stack: Stack) -> None:
    platform = new_platform(stack)["code"]
    entity = new_entity(stack, platform, uscc=TENCENT)
    case = new_case(stack, entity_id=entity["id"])
    assert case["status"] == {"code": "clue", "label": "线索"}
    assert case["officer"] == "test officer"  # the caller, by default
    assert [s["code"] for s in case["allowed_next"]] == ["filed", "closed"]
    for step in ["filed", "调查", "handling", "结案"]:  # codes or labels
        extra = {"outcome": "penalty"} if step == "结案" else {}
        case = ok(move(stack, case["id"], step, note=f"note {step}", **extra))
    assert case["status"]["code"] == "closed" and case["allowed_next"] == []
    assert case["outcome"] == {"code": "penalty", "label": "行政处罚"}
    events = all_pages(stack, f"/v1/cases/{case['id']}/events", 2)
    with stack.runtime.session() as session:
        officer = authenticate(session, f"Bearer {stack.tokens['officer']}").pseudonym
        actors = session.execute(select(CaseEvent.actor).where(CaseEvent.case_id == case["id"]))
        assert set(actors.scalars()) == {officer}
    assert {e["actor"] for e in events} == {officer}
    assert [
        (e["kind"], (e["from_status"] or {}).get("code"), e["to_status"]["code"], e["step"])
        for e in events
    ] == [
        ("created", None, "clue", None),
        ("transition", "clue", "filed", "立案"),
        ("transition", "filed", "investigating", "调查"),
        ("transition", "investigating", "handling", "处理"),
        ("transition", "handling", "closed", "结案"),
        ("outcome", None, "closed", None),
    ]
    assert [e["note"] for e in events[1:]] == [
        "note filed",
        "note 调查",
        "note handling",
        "note 结案",
        "行政处罚",
    ]
    assert all(e["at"].endswith(("Z", "+00:00")) for e in events)
    # 结案 is final: no edits, no links, no moves.
    closed = problem(call(stack, "PATCH", f"/v1/cases/{case['id']}", json={"title": "x"}), 409)
    assert closed["detail"].endswith("is closed (结案); it can no longer be changed")


def test_clue_closed_directly_is_recorded_as_not_filed(stack: Stack) -> None:
    case = new_case(stack)
    ok(move(stack, case["id"], "closed", note="证据不足"))
    events = ok(call(stack, "GET", f"/v1/cases/{case['id']}/events"))["items"]
    assert (events[-1]["step"], events[-1]["note"]) == ("不予立案", "证据不足")


@pytest.mark.parametrize(
    ("current", "target"),
    [(c, t) for c, t in product(ORDER, ORDER) if t not in ALLOWED[c]],
    ids=str,
)
def test_invalid_transition_is_409_naming_the_allowed_ones(
    stack: Stack, current: str, target: str
) -> None:
    case = case_at(stack, current)
    body = problem(move(stack, case["id"], target), 409)
    assert body["field"] == "to"
    if ALLOWED[current]:
        allowed = body["detail"].split("; allowed: ")[1]
        assert [part.split(" ")[0] for part in allowed.split(", ")] == ALLOWED[current]
    else:
        assert (
            body["detail"]
            == f"a case in closed (结案) is final; it cannot move to {target} ({LABELS[target]})"
        )
    after = ok(call(stack, "GET", f"/v1/cases/{case['id']}"))
    assert after["status"]["code"] == current
    kinds = [e["kind"] for e in ok(call(stack, "GET", f"/v1/cases/{case['id']}/events"))["items"]]
    assert kinds.count("transition") == len(PATH_TO[current])


def test_unknown_status_is_422(stack: Stack) -> None:
    case = new_case(stack)
    body = problem(move(stack, case["id"], "open"), 422)
    assert body["field"] == "to"
    assert "unknown case status 'open'; statuses: clue (线索), filed (立案)" in body["detail"]
    assert (
        problem(call(stack, "GET", "/v1/cases", params={"status": "open"}), 422)["field"]
        == "status"
    )
    assert problem(move(stack, 999999999, "filed"), 404)["detail"] == "no case 999999999"


def test_concurrent_transitions_let_exactly_one_win(stack: Stack) -> None:
    case = new_case(stack)
    results: list[str] = []
    start = threading.Barrier(4)
    with stack.runtime.session() as session:
        _, token = create_token(session, role="officer", name="racer")
    with stack.runtime.session() as session:
        principal = authenticate(session, f"Bearer {token}")

    def race() -> None:
        start.wait()
        try:
            with stack.runtime.session() as session:
                registry_cases.transition_case(
                    session,
                    stack.runtime.sign_receipt,
                    principal,
                    case["id"],
                    CaseTransition(to="filed"),
                )
            results.append("moved")
        except Exception as exc:  # the type is what is asserted
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=race) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ConflictError"] * 3 + ["moved"]
    events = ok(call(stack, "GET", f"/v1/cases/{case['id']}/events"))["items"]
    assert [e["kind"] for e in events] == ["created", "transition"]


def test_case_edits_are_checked_and_recorded(stack: Stack) -> None:
    platform = new_platform(stack)["code"]
    entity = new_entity(stack, platform)
    case = new_case(stack, officer="执法人员 张三")
    dup = call(stack, "POST", "/v1/cases", json={"number": case["number"], "title": "x"})
    assert problem(dup, 409)["detail"] == f"case number {case['number']!r} already exists"
    unknown = call(
        stack,
        "POST",
        "/v1/cases",
        json={"number": f"n-{tag()}", "title": "x", "entity_id": 99999999},
    )
    assert problem(unknown, 422)["detail"] == "entity_id: no trading entity 99999999"
    url = f"/v1/cases/{case['id']}"
    assert (
        problem(call(stack, "PATCH", url, json={"entity_id": 99999999}), 422)["field"]
        == "entity_id"
    )
    assert problem(call(stack, "PATCH", url, json={"status": "filed"}), 422)["field"] == "status"
    assert problem(call(stack, "PATCH", url, json={"number": "other"}), 422)["field"] == "number"
    assert problem(call(stack, "PATCH", url, json={"title": ""}), 422)["field"] == "title"
    changed = ok(
        call(stack, "PATCH", url, json={"entity_id": entity["id"], "officer": "执法人员 李四"})
    )
    assert (changed["entity_id"], changed["officer"], changed["title"]) == (
        entity["id"],
        "执法人员 李四",
        case["title"],
    )
    ok(call(stack, "PATCH", url, json={"title": case["title"]}))  # no change, no event
    events = ok(call(stack, "GET", f"{url}/events"))["items"]
    assert [(e["kind"], e["note"]) for e in events] == [
        ("created", None),
        ("updated", "changed: entity_id, officer"),
    ]
    bad_number = call(stack, "POST", "/v1/cases", json={"number": "a\nb", "title": "x"})
    assert problem(bad_number, 422)["field"] == "number"


def test_linking_evidence(stack: Stack) -> None:
    first = ok(submit(stack, {"page.html": b"<p>1</p>"}), 201)["evidence_id"]
    second = ok(submit(stack, {"page.html": b"<p>2</p>"}), 201)["evidence_id"]
    case = new_case(stack)
    url = f"/v1/cases/{case['id']}/evidence"
    missing = [f"ev-{'0' * 27}1", f"ev-{'0' * 27}2"]
    body = problem(call(stack, "POST", url, json={"evidence_ids": [first, *missing]}), 404)
    assert body["detail"] == f"no evidence {missing[0]}, {missing[1]}"
    assert ok(call(stack, "GET", f"/v1/cases/{case['id']}"))["evidence"] == []  # all or nothing
    assert ok(call(stack, "POST", url, json={"evidence_ids": [first]})) == {
        "linked": [first],
        "already_linked": [],
    }
    again = ok(call(stack, "POST", url, json={"evidence_ids": [second, first, second]}))
    assert again == {"linked": [second], "already_linked": [first]}
    linked = ok(call(stack, "GET", f"/v1/cases/{case['id']}"))["evidence"]
    assert [e["evidence_id"] for e in linked] == [first, second]
    events = ok(call(stack, "GET", f"/v1/cases/{case['id']}/events"))["items"]
    assert [(e["kind"], e["evidence_id"]) for e in events] == [
        ("created", None),
        ("evidence_linked", first),
        ("evidence_linked", second),
    ]
    malformed = problem(call(stack, "POST", url, json={"evidence_ids": ["nope"]}), 422)
    assert malformed["field"] == "evidence_ids[0]"
    assert (
        problem(call(stack, "POST", url, json={"evidence_ids": []}), 422)["field"] == "evidence_ids"
    )
    ok(move(stack, case["id"], "closed"))
    assert problem(call(stack, "POST", url, json={"evidence_ids": [first]}), 409)[
        "detail"
    ].endswith("it can no longer be changed")


def test_case_filters_and_pages(stack: Stack) -> None:
    platform = new_platform(stack)["code"]
    entity = new_entity(stack, platform)["id"]
    officer = f"officer {tag()}"
    made: dict[int, str] = {}
    for i in range(12):
        status = ORDER[i % 5]
        case = case_at(stack, status, officer=officer, entity_id=entity if i % 2 else None)
        made[case["id"]] = status
    every = all_pages(stack, "/v1/cases", 5, officer=officer)
    assert [c["id"] for c in every] == sorted(made, reverse=True)

    def ids(**params: Any) -> set[int]:
        return {c["id"] for c in all_pages(stack, "/v1/cases", 2, officer=officer, **params)}

    assert ids(status="filed") == {i for i, s in made.items() if s == "filed"}
    assert ids(status="立案") == ids(status="filed")
    assert ids(entity_id=entity) == {c["id"] for c in every if c["entity_id"] == entity}
    assert ids(entity_id=entity, status="clue") == {
        c["id"] for c in every if c["entity_id"] == entity and c["status"]["code"] == "clue"
    }
    one = every[3]
    assert [c["id"] for c in all_pages(stack, "/v1/cases", 2, number=one["number"])] == [one["id"]]


# --- who may call -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["appraiser", "platform"])
def test_registries_are_closed_to_appraisers_and_platforms(stack: Stack, role: str) -> None:
    for method, url in [
        ("GET", "/v1/platforms"),
        ("GET", "/v1/entities"),
        ("GET", "/v1/cases"),
        ("POST", "/v1/cases"),
    ]:
        body = problem(call(stack, method, url, role, json={}), 403)
        assert body["detail"].startswith(f"role {role!r} may not do this"), (method, url)


def test_the_responsible_officer_defaults_to_the_caller(stack: Stack) -> None:
    with stack.runtime.session() as session:
        _, admin = create_token(session, role="admin", name="second admin")
    case = ok(
        stack.client.post(
            "/v1/cases", json={"number": f"n-{tag()}", "title": "t"}, headers=auth_header(admin)
        ),
        201,
    )
    assert case["officer"] == "second admin"


# --- the command line ---------------------------------------------------------------------


def test_admin_create_platform_command(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")},
        "EVIDENCE_DATA_DIR": str(tmp_path / "data"),
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(EVIDENCE_CLI), "admin", "create-platform", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    bad = run("--code", "Bad Code", "--name", "x")
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[-1].startswith("error: --code: ")
    assert not (tmp_path / "data").exists()  # refused before the database
    made = run(
        "--code",
        "example-mall",
        "--name",
        "示例商城",
        "--webhook-url",
        "https://h.example.com/x",
        "--init",
    )
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert len(secret) == 43
    assert made.stderr.splitlines() == [
        f"data folder {(tmp_path / 'data').resolve()}",
        "platform 'example-mall' created; its webhook secret is shown only once",
    ]
    again = run("--code", "example-mall", "--name", "x")
    assert (again.returncode, again.stderr.splitlines()[-1]) == (
        2,
        "error: platform 'example-mall' already exists",
    )
    with running_stack(Settings(data_dir=tmp_path / "data")) as stack:
        read = ok(call(stack, "GET", "/v1/platforms/example-mall"))
        assert (read["name"], read["webhook_url"], read["webhook_secret_set"]) == (
            "示例商城",
            "https://h.example.com/x",
            True,
        )
        assert stored_secret(stack, "example-mall") == secret


def test_ids_beyond_64_bits_are_refused_not_crashing(stack: Stack) -> None:
    """An id no 64-bit column can hold (SQLite cannot even bind it) is a 422 in a body and
    names no row in the service (schemathesis found PATCH /v1/cases with such an id)."""
    case = new_case(stack)
    huge = 24863750346377860743168
    body = {"entity_id": huge}
    assert problem(call(stack, "PATCH", f"/v1/cases/{case['id']}", json=body), 422)["field"]
    created = {**body, "number": tag(), "title": "t"}
    assert problem(call(stack, "POST", "/v1/cases", json=created), 422)["field"]
    with stack.runtime.session() as session:
        with pytest.raises(InvalidInputError, match="no trading entity"):
            entity_by_id(session, huge, field="entity_id")
        with pytest.raises(NotFoundError):
            entity_by_id(session, 2**63)
