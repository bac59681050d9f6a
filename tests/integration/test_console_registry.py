"""The console's registry pages on the real app (SQLite and PostgreSQL): 主体库 and cases.

An officer logs in through the login form (tests/support/console.py) and works only
through pages; what a page shows was created through the API, and what a page POST
changed is read back through the API with a bearer token. A bad field shows the API's
own reason (the same text ``/v1`` answers) next to the field; a form without its CSRF
token is refused with 403 and changes nothing; platform and appraiser users get 403.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from evidence_api.registry.models import TradingEntity
from tests.support.api import Stack, metadata, submit
from tests.support.console import (
    DATABASES,
    Person,
    database_stack,
    field_error,
    tag,
)

ALIBABA = "91330100716105852F"  # a real 统一社会信用代码 (check character F)
BAD_USCC = "91330100716105852X"  # the same with a wrong check character
PAGES = (
    "/console/entities",
    "/console/entities/new",
    "/console/cases",
    "/console/cases/new",
)


@pytest.fixture(scope="module", params=DATABASES)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with database_stack(request, tmp_path_factory, "console-registry") as running:
        yield running


@pytest.fixture(scope="module")
def officer(stack: Stack) -> Person:
    return Person(stack, "officer", f"王警官{uuid.uuid4().hex[:4]}", unit="网络交易监管科")


def api(stack: Stack, method: str, url: str, status: int = 200, **kwargs: Any) -> Any:
    answer = stack.client.request(method, url, headers=stack.auth("officer"), **kwargs)
    assert answer.status_code == status, answer.text
    return answer.json()


def new_platform(stack: Stack) -> str:
    """A platform of the test's own (admins register platforms through the API)."""
    code = f"mall-{tag()}"
    headers = stack.auth("admin")
    answer = stack.client.post(
        "/v1/platforms", json={"code": code, "name": "某商城"}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    return code


def new_entity(
    stack: Stack, platform: str, grade: str | None = None, **fields: Any
) -> dict[str, Any]:
    """An entity made through the API; ``grade``: then given that grade as the credit
    service mirrors it (``risk_grade`` is computed from credit records, never typed in)."""
    body = {"platform": platform, "shop_name": f"店铺{tag()}", **fields}
    created: dict[str, Any] = api(stack, "POST", "/v1/entities", 201, json=body)
    if grade is not None:
        with stack.runtime.session() as session:
            session.execute(
                update(TradingEntity)
                .where(TradingEntity.id == created["id"])
                .values(risk_grade=grade)
            )
        created["risk_grade"] = grade
    return created


def new_case(stack: Stack, **fields: Any) -> dict[str, Any]:
    body = {"number": f"泉市监网案〔2026〕{tag()}号", "title": f"案件{tag()}", **fields}
    created: dict[str, Any] = api(stack, "POST", "/v1/cases", 201, json=body)
    return created


def evidence(stack: Stack) -> str:
    answer = submit(stack, {"listing.html": f"<html>{tag()}</html>".encode()})
    assert answer.status_code == 201, answer.text
    evidence_id: str = answer.json()["evidence_id"]
    return evidence_id


# --- entities -------------------------------------------------------------------------


def test_entity_list_shows_api_entities_with_grade_and_filters(
    stack: Stack, officer: Person
) -> None:
    platform = new_platform(stack)
    graded = new_entity(stack, platform, "D", uscc=ALIBABA, shop_name=f"假货{tag()}")
    plain = new_entity(stack, platform, "A")
    page = officer.get(f"/console/entities?platform={platform}")
    assert page.status_code == 200
    assert graded["shop_name"] in page.text and plain["shop_name"] in page.text
    assert "D · 信用风险高" in page.text and "A · 信用风险低" in page.text
    assert f'href="/console/entities/{graded["id"]}"' in page.text
    by_grade = officer.get(f"/console/entities?platform={platform}&grade=D").text
    assert graded["shop_name"] in by_grade and plain["shop_name"] not in by_grade
    by_name = officer.get(f"/console/entities?q={graded['shop_name'][2:]}").text
    assert graded["shop_name"] in by_name and plain["shop_name"] not in by_name
    by_uscc = officer.get(f"/console/entities?uscc={ALIBABA.lower()}&platform={platform}").text
    assert graded["shop_name"] in by_uscc and plain["shop_name"] not in by_uscc
    bad = officer.get("/console/entities?grade=Z")
    assert bad.status_code == 422
    assert "A, B, C, D" in field_error(bad.text, "grade")


def test_entity_list_paginates_with_the_api_cursor(stack: Stack, officer: Person) -> None:
    platform = new_platform(stack)
    names = [new_entity(stack, platform)["shop_name"] for _ in range(3)]
    first = officer.get(f"/console/entities?platform={platform}&limit=2").text
    assert names[2] in first and names[1] in first and names[0] not in first  # newest first
    found = re.search(r'<a href="([^"]+)" rel="next">', first)
    assert found, "no next-page link"
    second = officer.get(html.unescape(found.group(1))).text
    assert names[0] in second and names[1] not in second
    assert 'rel="next"' not in second


def test_create_entity_through_the_form(stack: Stack, officer: Person) -> None:
    platform = new_platform(stack)
    name = f"新店{tag()}"
    # a grade posted anyway is not a field of the form: the grade is computed
    form = {"platform": platform, "shop_name": name, "uscc": ALIBABA.lower(), "risk_grade": "B"}
    new_form = officer.get("/console/entities/new").text
    assert 'name="risk_grade"' not in new_form
    answer = officer.post("/console/entities/new", form)
    assert answer.status_code == 303, answer.text
    entity_id = int(answer.headers["location"].split("/")[-1].split("?")[0])
    stored = api(stack, "GET", f"/v1/entities/{entity_id}")
    assert (stored["shop_name"], stored["platform"], stored["risk_grade"]) == (name, platform, None)
    assert stored["uscc"]["code"] == ALIBABA  # upper-cased by the service
    assert stored["shop_id"] is None  # an empty field is not sent
    page = officer.get(answer.headers["location"]).text
    assert name in page and ALIBABA in page
    assert f'href="/console/entities/{entity_id}/credit"' in page


def test_bad_uscc_shows_the_api_reason_next_to_the_field(stack: Stack, officer: Person) -> None:
    platform = new_platform(stack)
    name = f"坏码{tag()}"
    body = {"platform": platform, "shop_name": name, "uscc": BAD_USCC}
    problem = stack.client.post("/v1/entities", json=body, headers=stack.auth("officer"))
    assert problem.status_code == 422
    answer = officer.post("/console/entities/new", body)
    assert answer.status_code == 422
    assert field_error(answer.text, "uscc") == problem.json()["detail"]
    assert f'value="{name}"' in answer.text  # the form keeps what was typed
    unknown = officer.post("/console/entities/new", {"platform": "no-such", "shop_name": name})
    assert unknown.status_code == 422
    assert "no-such" in field_error(unknown.text, "platform")
    empty = officer.post("/console/entities/new", {"platform": platform, "shop_name": ""})
    assert empty.status_code == 422 and field_error(empty.text, "shop_name").startswith("shop_name")
    assert api(stack, "GET", f"/v1/entities?platform={platform}")["items"] == []


def test_entity_form_without_csrf_is_refused_and_changes_nothing(
    stack: Stack, officer: Person
) -> None:
    platform = new_platform(stack)
    form = {"platform": platform, "shop_name": f"无令牌{tag()}"}
    answer = officer.post("/console/entities/new", form, csrf=False)
    assert answer.status_code == 403
    wrong = officer.post("/console/entities/new", {**form, "csrf_token": "x" * 43}, csrf=False)
    assert wrong.status_code == 403
    assert api(stack, "GET", f"/v1/entities?platform={platform}")["items"] == []
    entity = new_entity(stack, platform, "A")
    edit = officer.post(
        f"/console/entities/{entity['id']}",
        {"platform": platform, "shop_name": "改名", "risk_grade": "D"},
        csrf=False,
    )
    assert edit.status_code == 403
    assert api(stack, "GET", f"/v1/entities/{entity['id']}")["risk_grade"] == "A"


def test_entity_detail_shows_cases_evidence_and_saves_edits(stack: Stack, officer: Person) -> None:
    platform = new_platform(stack)
    entity = new_entity(stack, platform, "C", shop_id=f"s{tag()}", risk_class="食品")
    case = new_case(stack, entity_id=entity["id"])
    ev = evidence(stack)
    api(stack, "POST", f"/v1/cases/{case['id']}/evidence", json={"evidence_ids": [ev]})
    named = submit(stack, {"shop.html": b"<html>shop</html>"}, metadata(entity=entity["shop_name"]))
    assert named.status_code == 201, named.text
    page = officer.get(f"/console/entities/{entity['id']}")
    assert page.status_code == 200
    assert case["number"] in page.text and f'href="/console/cases/{case["id"]}"' in page.text
    shown = re.findall(
        r'data-testid="entity-evidence"><a class="mono" href="/console/evidence/([^"]+)"', page.text
    )
    assert shown == [ev, named.json()["evidence_id"]]  # linked to a case, named at submission
    assert "C · 信用风险较高" in page.text
    form = {
        "platform": platform,
        "shop_name": entity["shop_name"],
        "shop_id": "",  # cleared
        "risk_grade": "A",  # not a field of the form: the computed grade stays
        "risk_class": "化妆品",
        "uscc": ALIBABA,
    }
    saved = officer.post(f"/console/entities/{entity['id']}", form)
    assert saved.status_code == 303, saved.text
    stored = api(stack, "GET", f"/v1/entities/{entity['id']}")
    assert (stored["risk_grade"], stored["risk_class"], stored["shop_id"]) == ("C", "化妆品", None)
    assert stored["uscc"]["code"] == ALIBABA
    bad = officer.post(f"/console/entities/{entity['id']}", {**form, "uscc": BAD_USCC})
    assert bad.status_code == 422 and "check character" in field_error(bad.text, "uscc")
    assert api(stack, "GET", f"/v1/entities/{entity['id']}")["uscc"]["code"] == ALIBABA
    assert officer.get("/console/entities/999999999").status_code == 404


# --- cases ----------------------------------------------------------------------------


def board_column(page: str, status: str) -> str:
    found = re.search(rf'data-status="{status}">(.*?)</section>', page, re.S)
    assert found, f"no column {status}"
    return found.group(1)


def test_case_board_has_a_column_per_status_with_cards(stack: Stack, officer: Person) -> None:
    platform = new_platform(stack)
    entity = new_entity(stack, platform)
    officer_name = f"李{tag()}"
    lead = new_case(stack, entity_id=entity["id"], officer=officer_name)
    filed = new_case(stack, officer=officer_name)
    api(stack, "POST", f"/v1/cases/{filed['id']}/transition", json={"to": "立案"})
    ev = evidence(stack)
    api(stack, "POST", f"/v1/cases/{lead['id']}/evidence", json={"evidence_ids": [ev]})
    page = officer.get(f"/console/cases?officer={officer_name}")
    assert page.status_code == 200
    for label in ("线索", "立案", "调查", "处理", "结案"):
        assert f">{label} <span" in page.text
    clue = board_column(page.text, "clue")
    assert lead["title"] in clue and entity["shop_name"] in clue and filed["title"] not in clue
    assert re.search(r'data-testid="evidence-count">1<', clue)
    assert filed["title"] in board_column(page.text, "filed")
    only = officer.get(f"/console/cases?officer={officer_name}&status=立案").text
    assert filed["title"] in only and lead["title"] not in only and 'data-status="clue"' not in only
    bad = officer.get("/console/cases?status=nonsense")
    assert bad.status_code == 422 and "nonsense" in field_error(bad.text, "status")


def test_new_case_prelinks_evidence_and_reports_field_errors(stack: Stack, officer: Person) -> None:
    ev = evidence(stack)
    form_page = officer.get(f"/console/cases/new?evidence={ev}")
    assert form_page.status_code == 200 and ev in form_page.text
    number = f"泉市监网案〔2026〕{tag()}号"
    answer = officer.post(
        "/console/cases/new", {"number": number, "title": "销售假冒商品", "evidence_ids": ev}
    )
    assert answer.status_code == 303, answer.text
    case_id = int(answer.headers["location"].split("/")[-1].split("?")[0])
    stored = api(stack, "GET", f"/v1/cases/{case_id}")
    assert (stored["number"], stored["status"]["code"]) == (number, "clue")
    assert [e["evidence_id"] for e in stored["evidence"]] == [ev]
    # no officer named: the case's 承办人 is the person who opened it, by name
    assert stored["officer"] == officer.display_name
    again = officer.post("/console/cases/new", {"number": number, "title": "重复"})
    assert again.status_code == 409
    assert "already exists" in field_error(again.text, "number")
    missing = "ev-" + "0" * 28
    other = f"泉市监网案〔2026〕{tag()}号"
    unknown = officer.post(
        "/console/cases/new", {"number": other, "title": "x", "evidence_ids": missing}
    )
    assert unknown.status_code == 404 and missing in field_error(unknown.text, "evidence_ids")
    assert api(stack, "GET", f"/v1/cases?number={other}")["items"] == []  # all or nothing
    no_entity = officer.post(
        "/console/cases/new", {"number": other, "title": "x", "entity_id": "999999999"}
    )
    assert no_entity.status_code == 422
    assert "no trading entity" in field_error(no_entity.text, "entity_id")


def test_transition_buttons_move_the_case_and_history_names_people(
    stack: Stack, officer: Person
) -> None:
    case = new_case(stack)
    page = officer.get(f"/console/cases/{case['id']}").text
    assert 'id="move-filed"' in page and 'id="move-closed"' in page  # 立案 and 不予立案
    assert 'id="move-investigating"' not in page
    moved = officer.post(
        f"/console/cases/{case['id']}/transition", {"to": "filed", "note": "证据充分"}
    )
    assert moved.status_code == 303, moved.text
    assert api(stack, "GET", f"/v1/cases/{case['id']}")["status"]["code"] == "filed"
    page = officer.get(f"/console/cases/{case['id']}").text
    assert 'id="move-investigating"' in page and 'id="move-filed"' not in page
    history = page[page.index('id="history"') :]
    assert officer.display_name in history and "证据充分" in history
    assert "token-" not in history
    stale = officer.post(f"/console/cases/{case['id']}/transition", {"to": "closed"})
    assert stale.status_code == 409
    assert "allowed: investigating" in field_error(stale.text, "to")
    assert api(stack, "GET", f"/v1/cases/{case['id']}")["status"]["code"] == "filed"


def test_case_forms_without_csrf_change_nothing(stack: Stack, officer: Person) -> None:
    case = new_case(stack)
    ev = evidence(stack)
    for url, form in (
        (f"/console/cases/{case['id']}/transition", {"to": "filed"}),
        (f"/console/cases/{case['id']}/evidence", {"evidence_ids": ev}),
        (f"/console/cases/{case['id']}", {"title": "改", "officer": "x"}),
        ("/console/cases/new", {"number": f"N{tag()}", "title": "x"}),
    ):
        assert officer.post(url, form, csrf=False).status_code == 403, url
    stored = api(stack, "GET", f"/v1/cases/{case['id']}")
    assert (stored["status"]["code"], stored["evidence"], stored["title"]) == (
        "clue",
        [],
        case["title"],
    )


def test_link_evidence_and_edit_a_case(stack: Stack, officer: Person) -> None:
    platform = new_platform(stack)
    entity = new_entity(stack, platform)
    case = new_case(stack)
    first, second = evidence(stack), evidence(stack)
    linked = officer.post(
        f"/console/cases/{case['id']}/evidence", {"evidence_ids": f"{first}\n{second}"}
    )
    assert linked.status_code == 303, linked.text
    stored = api(stack, "GET", f"/v1/cases/{case['id']}")
    assert [e["evidence_id"] for e in stored["evidence"]] == [first, second]
    page = officer.get(f"/console/cases/{case['id']}").text
    assert f'href="/console/evidence/{first}"' in page
    assert f"/console/takedowns/new?evidence={first}" in page  # issue from the case
    assert officer.display_name in page  # linked by, by name
    bad = officer.post(f"/console/cases/{case['id']}/evidence", {"evidence_ids": "not-an-id"})
    assert bad.status_code == 422 and "evidence_ids" in field_error(bad.text, "evidence_ids")
    edited = officer.post(
        f"/console/cases/{case['id']}",
        {"title": "新标题", "entity_id": str(entity["id"]), "officer": "赵"},
    )
    assert edited.status_code == 303, edited.text
    stored = api(stack, "GET", f"/v1/cases/{case['id']}")
    assert (stored["title"], stored["entity_id"], stored["officer"]) == (
        "新标题",
        entity["id"],
        "赵",
    )
    bad_entity = officer.post(
        f"/console/cases/{case['id']}", {"title": "x", "entity_id": "abc", "officer": "赵"}
    )
    assert bad_entity.status_code == 422
    assert field_error(bad_entity.text, "entity_id").startswith("entity_id")
    assert api(stack, "GET", f"/v1/cases/{case['id']}")["title"] == "新标题"


# --- who may look -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["platform", "appraiser"])
def test_platform_and_appraiser_users_get_403(stack: Stack, role: str) -> None:
    person = Person(stack, role, f"{role}{tag()}")
    case = new_case(stack)
    platform = new_platform(stack)
    entity = new_entity(stack, platform)
    for url in (*PAGES, f"/console/cases/{case['id']}", f"/console/entities/{entity['id']}"):
        assert person.get(url).status_code == 403, url
    moved = person.post(f"/console/cases/{case['id']}/transition", {"to": "filed"})
    assert moved.status_code == 403
    created = person.post("/console/entities/new", {"platform": platform, "shop_name": "x"})
    assert created.status_code == 403
    assert api(stack, "GET", f"/v1/cases/{case['id']}")["status"]["code"] == "clue"
    assert len(api(stack, "GET", f"/v1/entities?platform={platform}")["items"]) == 1


def test_without_a_session_pages_send_to_login(stack: Stack) -> None:
    anonymous = TestClient(stack.client.app)
    for url in PAGES:
        answer = anonymous.get(url, follow_redirects=False)
        assert answer.status_code == 303, url
        assert answer.headers["location"].startswith("/console/login?next=")


def untranslated(page: str) -> list[str]:
    """Message keys shown as themselves (a key missing from the catalogs) in the page's
    text or its labelling attributes."""
    text = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", page, flags=re.S)
    shown = re.findall(r">([^<]+)<", text) + re.findall(
        r'(?:aria-label|title|placeholder)="([^"]*)"', text
    )
    key = re.compile(r"\b(?:registry|takedowns|common|nav|app)\.[a-z_]+(?:\.[a-z_0-9]+)*")
    return [found for part in shown for found in key.findall(part)]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_label_is_translated(stack: Stack, lang: str) -> None:
    reader = Person(stack, "officer", f"读者{tag()}")
    platform = new_platform(stack)
    entity = new_entity(stack, platform, "B", uscc=ALIBABA)
    case = new_case(stack, entity_id=entity["id"])
    api(stack, "POST", f"/v1/cases/{case['id']}/evidence", json={"evidence_ids": [evidence(stack)]})
    api(stack, "POST", f"/v1/cases/{case['id']}/transition", json={"to": "filed"})
    urls = (
        *PAGES,
        f"/console/entities/{entity['id']}?saved=1",
        f"/console/cases/{case['id']}?saved=moved",
        "/console/cases?status=filed",
    )
    for url in urls:
        page = reader.get(f"{url}{'&' if '?' in url else '?'}lang={lang}")
        assert page.status_code == 200, url
        assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in page.text
        assert untranslated(page.text) == [], url
    english = reader.get("/console/cases?lang=en").text
    assert "Open a case" in english and "新建案件" not in english
