"""The console's takedown pages on the real app (SQLite and PostgreSQL).

An officer logs in through the login form and issues, tracks and rules on orders through
pages only; orders made through the API show on the pages, and what a page POST did is
read back through the API. The history shows each change's log entry and, once sealed,
its leaf index with a working link to its inclusion proof; a bad field shows the API's
own reason next to it; no CSRF token: 403 and nothing changes; platform and appraiser
users get 403.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from evidence_api.takedowns import service as takedowns
from tests.integration.test_console_registry import untranslated
from tests.support.api import Stack, submit
from tests.support.console import DATABASES, Person, database_stack, field_error, tag
from tests.support.waiting import wait_until

BEIJING = timezone(timedelta(hours=8))
LISTING = "https://shop.example.com/item/42"  # tests.support.api.metadata's source_url


@pytest.fixture(scope="module", params=DATABASES)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with database_stack(request, tmp_path_factory, "console-takedowns") as running:
        yield running


@pytest.fixture(scope="module")
def officer(stack: Stack) -> Person:
    return Person(stack, "officer", f"陈警官{uuid.uuid4().hex[:4]}")


def api(stack: Stack, method: str, url: str, status: int = 200, **kwargs: Any) -> Any:
    role = kwargs.pop("role", "officer")
    answer = stack.client.request(method, url, headers=stack.auth(role), **kwargs)
    assert answer.status_code == status, answer.text
    return answer.json()


def evidence(stack: Stack) -> str:
    answer = submit(stack, {"listing.html": f"<html>假冒 {tag()}</html>".encode()})
    assert answer.status_code == 201, answer.text
    evidence_id: str = answer.json()["evidence_id"]
    return evidence_id


def new_case(stack: Stack) -> str:
    number = f"泉市监网案〔2026〕{tag()}号"
    api(stack, "POST", "/v1/cases", 201, json={"number": number, "title": "假冒商品"})
    return number


def issue(stack: Stack, case: str, evidence_ids: list[str], **overrides: Any) -> dict[str, Any]:
    body = {
        "platform": "example-mall",
        "listing_urls": [f"https://shop.example.com/item/{tag()}"],
        "legal_basis": "《电子商务法》第八十三条",
        "reason": "销售假冒商品",
        "evidence_ids": evidence_ids,
        "deadline": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        "case_number": case,
        **overrides,
    }
    order: dict[str, Any] = api(stack, "POST", "/v1/takedowns", 201, json=body)
    return order


def platform_acts(stack: Stack, order_id: str, action: str, body: dict[str, Any]) -> None:
    api(stack, "POST", f"/v1/platform/takedowns/{order_id}/{action}", role="platform", json=body)


def order_of(stack: Stack, order_id: str) -> dict[str, Any]:
    found: dict[str, Any] = api(stack, "GET", f"/v1/takedowns/{order_id}")
    return found


def rows(page: str) -> list[str]:
    """The order ids listed on a list page, in order."""
    return re.findall(r'<a class="mono" href="/console/takedowns/(td-[0-9a-f]{28})">', page)


def test_list_shows_api_orders_with_filters_and_pages(stack: Stack, officer: Person) -> None:
    case = new_case(stack)
    ev = evidence(stack)
    first, second, third = (issue(stack, case, [ev]) for _ in range(3))
    platform_acts(stack, second["order_id"], "ack", {})
    page = officer.get(f"/console/takedowns?case={case}")
    assert page.status_code == 200
    assert rows(page.text) == [third["order_id"], second["order_id"], first["order_id"]]
    assert "已确认 acknowledged" in page.text and "已下达 issued" in page.text
    acked = officer.get(f"/console/takedowns?case={case}&status=acknowledged").text
    assert rows(acked) == [second["order_id"]]
    assert rows(officer.get(f"/console/takedowns?case={case}&platform=other").text) == []
    paged = officer.get(f"/console/takedowns?case={case}&limit=2").text
    assert rows(paged) == [third["order_id"], second["order_id"]]
    found = re.search(r'<a href="([^"]+)" rel="next">', paged)
    assert found, "no next-page link"
    assert rows(officer.get(html.unescape(found.group(1))).text) == [first["order_id"]]
    bad = officer.get("/console/takedowns?status=lost")
    assert bad.status_code == 422 and "unknown status 'lost'" in field_error(bad.text, "status")


def test_overdue_filter_shows_the_orders_marked_overdue(stack: Stack, officer: Person) -> None:
    case = new_case(stack)
    ev = evidence(stack)
    soon = datetime.now(UTC) + timedelta(seconds=5)
    late = issue(stack, case, [ev], deadline=soon.isoformat())
    on_time = issue(stack, case, [ev])
    # The deadline scan, as the timer runs it, at a moment just past the short deadline.
    takedowns.scan_overdue(takedowns.ledger_of(stack.runtime), now=soon + timedelta(seconds=1))
    assert order_of(stack, late["order_id"])["status"] == "overdue"
    page = officer.get(f"/console/takedowns?case={case}&overdue=1").text
    assert rows(page) == [late["order_id"]] and on_time["order_id"] not in page
    both = officer.get(f"/console/takedowns?case={case}&overdue=1&status=issued")
    assert both.status_code == 422 and "contradicts" in field_error(both.text, "overdue")


def test_issue_an_order_from_evidence_through_the_form(stack: Stack, officer: Person) -> None:
    case = new_case(stack)
    ev = evidence(stack)
    form_page = officer.get(f"/console/takedowns/new?evidence={ev}&case={case}")
    assert form_page.status_code == 200
    assert LISTING in form_page.text  # the evidence's source URL, prefilled
    assert '<option value="example-mall" selected>' in form_page.text  # and its platform
    deadline = (datetime.now(BEIJING) + timedelta(days=5)).replace(second=0, microsecond=0)
    form = {
        "platform": "example-mall",
        "listing_urls": f"{LISTING}\nhttps://shop.example.com/item/43\n",
        "legal_basis": "《电子商务法》第三十八条",
        "reason": "销售假冒注册商标的商品",
        "evidence_ids": ev,
        "deadline": deadline.strftime("%Y-%m-%dT%H:%M"),  # datetime-local: Beijing time
        "case_number": case,
        "grant_files": "1",
    }
    answer = officer.post("/console/takedowns/new", form)
    assert answer.status_code == 303, answer.text
    order_id = answer.headers["location"].split("/")[-1].split("?")[0]
    stored = order_of(stack, order_id)
    assert stored["listing_urls"] == [LISTING, "https://shop.example.com/item/43"]
    assert (stored["evidence_ids"], stored["case_number"], stored["grant_files"]) == (
        [ev],
        case,
        True,
    )
    assert datetime.fromisoformat(stored["deadline"]) == deadline
    assert stored["legal_basis"] == "《电子商务法》第三十八条"
    # The platform sees it at once, citing that evidence.
    seen = api(stack, "GET", f"/v1/platform/takedowns/{order_id}", role="platform")
    assert [e["evidence_id"] for e in seen["evidence"]] == [ev]


def test_bad_fields_show_the_api_reason_and_nothing_is_issued(
    stack: Stack, officer: Person
) -> None:
    case = new_case(stack)
    ev = evidence(stack)
    form = {
        "platform": "example-mall",
        "listing_urls": LISTING,
        "legal_basis": "《电子商务法》第八十三条",
        "reason": "假冒",
        "evidence_ids": ev,
        "deadline": "2020-01-01T10:00",
        "case_number": case,
    }
    past = officer.post("/console/takedowns/new", form)
    assert past.status_code == 422
    body = {**form, "listing_urls": [LISTING], "evidence_ids": [ev]}
    body["deadline"] = "2020-01-01T10:00:00+08:00"
    problem = stack.client.post("/v1/takedowns", json=body, headers=stack.auth("officer"))
    assert problem.status_code == 422
    assert field_error(past.text, "deadline") == problem.json()["detail"]
    assert 'value="2020-01-01T10:00"' in past.text  # what was typed stays
    missing = "ev-" + "f" * 28
    future = (datetime.now(BEIJING) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    unknown = officer.post(
        "/console/takedowns/new", {**form, "deadline": future, "evidence_ids": missing}
    )
    assert unknown.status_code == 422 and missing in field_error(unknown.text, "evidence_ids")
    ftp = officer.post(
        "/console/takedowns/new", {**form, "deadline": future, "listing_urls": "ftp://x/y"}
    )
    assert ftp.status_code == 422 and "http" in field_error(ftp.text, "listing_urls")
    no_platform = officer.post(
        "/console/takedowns/new", {**form, "deadline": future, "platform": "nowhere"}
    )
    assert no_platform.status_code == 422 and "nowhere" in field_error(no_platform.text, "platform")
    no_case = officer.post(
        "/console/takedowns/new", {**form, "deadline": future, "case_number": "无此案"}
    )
    assert no_case.status_code == 422 and "无此案" in field_error(no_case.text, "case_number")
    no_csrf = officer.post("/console/takedowns/new", {**form, "deadline": future}, csrf=False)
    assert no_csrf.status_code == 403
    assert api(stack, "GET", "/v1/takedowns", params={"case": case})["items"] == []


def test_detail_shows_evidence_history_entries_and_proof_links(
    stack: Stack, officer: Person
) -> None:
    case = new_case(stack)
    ev = evidence(stack)
    order = issue(stack, case, [ev])
    oid = order["order_id"]
    platform_acts(stack, oid, "ack", {})
    removed = datetime.now(UTC).isoformat()
    platform_acts(stack, oid, "complete", {"note": "已下架", "removed_at": removed})

    def sealed() -> bool:
        entries = api(stack, "GET", f"/v1/takedowns/{oid}/proofs")["entries"]
        return len(entries) == 3 and all(e["bundle"]["inclusion"] for e in entries)

    wait_until(sealed, 60, "the order's three entries to be sealed")
    proofs = api(stack, "GET", f"/v1/takedowns/{oid}/proofs")["entries"]
    detail = order_of(stack, oid)
    page = officer.get(f"/console/takedowns/{oid}")
    assert page.status_code == 200
    assert f'href="/console/evidence/{ev}"' in page.text
    assert 'data-status="completed"' in page.text and "已完成 completed" in page.text
    history = page.text[page.text.index('id="history"') :]
    entry_ids = re.findall(r'data-testid="entry-id">([^<]+)<', history)
    assert entry_ids == [e["entry_id"] for e in detail["history"]]
    leaves = [int(i) for i in re.findall(r'data-testid="leaf-index">(\d+)<', history)]
    assert leaves == [p["bundle"]["inclusion"]["index"] for p in proofs]
    assert officer.display_name not in history  # issued through the API token, not by them
    assert "test officer" in history and "token-" not in history  # names, not pseudonyms
    assert "已下架" in history
    links = re.findall(r'data-testid="proof-link" href="([^"]+)"', history)
    assert len(links) == 3
    proof = stack.client.get(html.unescape(links[0]))
    assert proof.status_code == 200 and proof.json()["index"] == leaves[0]
    all_proofs = officer.get(f"/v1/takedowns/{oid}/proofs")  # the session cookie reads it
    assert all_proofs.status_code == 200 and len(all_proofs.json()["entries"]) == 3
    # The re-captures a completion schedules (one per listed URL per configured delay).
    checks = re.findall(r'data-testid="takedown-check" data-status="(\w+)"', page.text)
    assert len(checks) == len(detail["checks"]) > 0 and set(checks) == {"pending"}


def test_ruling_on_a_dispute_uphold_then_withdraw(stack: Stack, officer: Person) -> None:
    case = new_case(stack)
    order = issue(stack, case, [evidence(stack)])
    oid = order["order_id"]
    not_disputed = officer.post(
        f"/console/takedowns/{oid}/ruling", {"decision": "withdraw", "reason": "x"}
    )
    assert not_disputed.status_code == 409
    assert "cannot withdraw an order that is issued" in field_error(not_disputed.text, "ruling")
    assert 'id="withdraw-form"' not in officer.get(f"/console/takedowns/{oid}").text
    platform_acts(stack, oid, "dispute", {"reason": "商品为正品，有授权书"})
    page = officer.get(f"/console/takedowns/{oid}").text
    assert 'id="uphold-form"' in page and 'id="withdraw-form"' in page
    assert "商品为正品，有授权书" in page
    empty = officer.post(
        f"/console/takedowns/{oid}/ruling", {"decision": "uphold", "reason": "维持", "deadline": ""}
    )
    assert empty.status_code == 422
    problem = stack.client.post(
        f"/v1/takedowns/{oid}/ruling",
        json={"decision": "uphold", "reason": "维持"},
        headers=stack.auth("officer"),
    )
    assert field_error(empty.text, "uphold-deadline") == problem.json()["detail"]
    no_csrf = officer.post(
        f"/console/takedowns/{oid}/ruling", {"decision": "withdraw", "reason": "撤回"}, csrf=False
    )
    assert no_csrf.status_code == 403
    assert order_of(stack, oid)["status"] == "disputed"
    new_deadline = (datetime.now(BEIJING) + timedelta(days=7)).replace(second=0, microsecond=0)
    upheld = officer.post(
        f"/console/takedowns/{oid}/ruling",
        {
            "decision": "uphold",
            "reason": "授权书不涉及该商品",
            "deadline": new_deadline.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert upheld.status_code == 303, upheld.text
    stored = order_of(stack, oid)
    assert stored["status"] == "reopened"
    assert datetime.fromisoformat(stored["deadline"]) == new_deadline
    assert stored["ruling"]["decision"] == "uphold"
    assert stored["history"][-1]["actor"] != "system"
    platform_acts(stack, oid, "dispute", {"reason": "再次异议"})
    withdrawn = officer.post(
        f"/console/takedowns/{oid}/ruling", {"decision": "withdraw", "reason": "证据不足"}
    )
    assert withdrawn.status_code == 303, withdrawn.text
    assert order_of(stack, oid)["status"] == "withdrawn"
    page = officer.get(f"/console/takedowns/{oid}").text
    history = page[page.index('id="history"') :]
    assert history.count(officer.display_name) == 2  # both rulings, by name
    assert "证据不足" in page and 'id="uphold-form"' not in page


@pytest.mark.parametrize("role", ["platform", "appraiser"])
def test_platform_and_appraiser_users_get_403(stack: Stack, role: str) -> None:
    person = Person(stack, role, f"{role}{tag()}")
    order = issue(stack, new_case(stack), [evidence(stack)])
    oid = order["order_id"]
    platform_acts(stack, oid, "dispute", {"reason": "异议"})
    for url in ("/console/takedowns", "/console/takedowns/new", f"/console/takedowns/{oid}"):
        assert person.get(url).status_code == 403, url
    ruled = person.post(f"/console/takedowns/{oid}/ruling", {"decision": "withdraw", "reason": "x"})
    assert ruled.status_code == 403
    assert order_of(stack, oid)["status"] == "disputed"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_label_is_translated(stack: Stack, lang: str) -> None:
    reader = Person(stack, "officer", f"读者{tag()}")
    case = new_case(stack)
    ev = evidence(stack)
    done = issue(stack, case, [ev])["order_id"]
    platform_acts(stack, done, "ack", {})
    platform_acts(stack, done, "complete", {"note": "已下架", "removed_at": _now()})
    disputed = issue(stack, case, [ev])["order_id"]
    platform_acts(stack, disputed, "dispute", {"reason": "异议"})
    urls = (
        "/console/takedowns",
        f"/console/takedowns?case={case}&overdue=1",
        f"/console/takedowns/new?evidence={ev}&case={case}",
        f"/console/takedowns/{done}?saved=issued",
        f"/console/takedowns/{disputed}?saved=ruled",
    )
    for url in urls:
        page = reader.get(f"{url}{'&' if '?' in url else '?'}lang={lang}")
        assert page.status_code == 200, url
        assert untranslated(page.text) == [], url
    refused = reader.post(
        f"/console/takedowns/{done}/ruling?lang={lang}", {"decision": "withdraw", "reason": "x"}
    )
    assert refused.status_code == 409 and untranslated(refused.text) == []
    english = reader.get(f"/console/takedowns/{disputed}?lang=en").text
    assert "Rule on the dispute" in english and "异议裁决" not in english


def _now() -> str:
    return datetime.now(UTC).isoformat()
