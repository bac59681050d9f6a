"""The monitor and alert pages through the real forms (TestClient), on SQLite and on
PostgreSQL (+ SeaweedFS S3): a monitor made through the form is the one ``GET
/v1/monitors`` lists, with its schedule and rules; a bad form shows the API's reason next
to each field and records nothing; pause, resume, run now (409 when paused or already
queued, shown on the page) and delete; alerts listed with their reason and evidence,
filtered, dismissed (reason required) and converted to a case through the page; the
live list's hooks; CSRF missing -> 403 and nothing changed."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from evidence_api.core.config import Settings
from evidence_api.monitoring import stream
from evidence_api.monitoring.alert_log import AlertDraft, ledger_of, open_alert
from evidence_api.monitoring.observation import GONE, PRICE_CHANGED, RULE_LABELS
from evidence_api.runtime import Runtime
from evidence_api.units import service as units
from evidence_api.units.schemas import UnitCreate
from tests.support.api import Stack, running_stack, submit
from tests.support.browser import browser, live_server  # noqa: F401 - fixture
from tests.support.console import (
    BACKEND_KINDS,
    backend_stack,
    browser_login,
    field_error,
    log_in_as,
    make_user,
)

ITEM = "https://127.0.0.1:9/item/1"
#: No monitor runs here (nothing ticks); a "run now" is sent to a broker that is not
#: there (refused at once: the run stays queued, as the dispatcher documents).
SETTINGS: dict[str, Any] = {
    "seal_interval": 0.1,
    "capture_allow": "127.0.0.1,localhost,::1",
    "run_monitors": False,
    "monitor_min_interval": 300,
    "broker_url": "redis://127.0.0.1:1/0",
}


@pytest.fixture(params=BACKEND_KINDS)
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    with backend_stack(request, tmp_path, **SETTINGS) as running:
        yield running


def log_in(stack: Stack, role: str = "officer") -> str:
    return log_in_as(stack, role, display_name="李四")


def api(stack: Stack, url: str) -> Any:
    answer = stack.client.get(url, headers=stack.auth("officer"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def form(csrf: str, **overrides: str) -> dict[str, str]:
    value = {
        "csrf_token": csrf,
        "name": "示例旗舰店 商品1",
        "kind": "listing",
        "url": ITEM,
        "schedule_mode": "interval",
        "interval_value": "2",
        "interval_unit": "hours",
        "content_enabled": "on",
        "content_threshold": "0.3",
        "price_enabled": "on",
        "price_change_percent": "15",
        "price_min": "10.5",
        "price_max": "",
        "words_enabled": "on",
        "words_extra": "全网最低价\n 第一品牌 \n",
        "gone_enabled": "on",
        "gone_patterns": "商品已下架",
        "archive": "always",
        "enabled": "on",
    }
    return value | overrides


def test_a_monitor_made_through_the_form(stack: Stack) -> None:
    csrf = log_in(stack)
    new = stack.client.get("/console/monitors/new")
    assert new.status_code == 200 and 'name="words_lists"' in new.text
    data = form(csrf)
    created = stack.client.post(
        "/console/monitors/new",
        data={**data, "words_lists": ["advertising-law-art9"]},
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    monitor_id = created.headers["location"].split("/")[-1].split("?")[0]
    (listed,) = api(stack, "/v1/monitors")["items"]
    assert listed["id"] == monitor_id and listed["name"] == "示例旗舰店 商品1"
    assert listed["target"] == {
        "kind": "listing",
        "kind_label": "商品页 listing",
        "url": ITEM,
        "url_template": None,
        "keyword": None,
    }
    assert listed["schedule"] == {"interval_seconds": 7200, "cron": None}
    rules = listed["rules"]
    assert rules["content_changed"] == {"enabled": True, "threshold": 0.3}
    assert rules["price"]["change_percent"] == 15
    assert Decimal(str(rules["price"]["min"])) == Decimal("10.5")
    assert rules["price"]["max"] is None
    assert rules["prohibited_words"]["lists"] == ["advertising-law-art9"]
    assert rules["prohibited_words"]["extra"] == ["全网最低价", "第一品牌"]
    assert rules["gone"]["patterns"] == ["商品已下架"]
    assert listed["archive"] == "always" and listed["enabled"]
    assert listed["created_by"] != ""

    page = stack.client.get(created.headers["location"])
    assert page.status_code == 200 and "监测任务已创建" in page.text and "李四" in page.text
    listing = stack.client.get("/console/monitors")
    assert monitor_id in listing.text
    english = stack.client.get("/console/monitors?lang=en")
    assert '<html lang="en">' in english.text and "New monitor" in english.text
    assert monitor_id not in stack.client.get("/console/monitors?status=paused").text
    bad = stack.client.get("/console/monitors?entity_id=abc")
    assert bad.status_code == 422 and "not an entity id" in field_error(bad.text, "entity_id")

    search = stack.client.post(
        "/console/monitors/new",
        data=form(
            csrf,
            name="平台搜索 假冒",
            kind="search",
            url="",
            url_template="https://127.0.0.1:9/search?q={keyword}",
            keyword="假冒 耐克",
            schedule_mode="cron",
            cron="0 1 * * *",
        ),
        follow_redirects=False,
    )
    assert search.status_code == 303, search.text
    newest = api(stack, "/v1/monitors")["items"][0]
    assert (
        newest["target"]["url"]
        == "https://127.0.0.1:9/search?q=%E5%81%87%E5%86%92%20%E8%80%90%E5%85%8B"
    )
    assert newest["schedule"] == {"interval_seconds": None, "cron": "0 1 * * *"}


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        (
            {"interval_value": "1", "interval_unit": "minutes"},
            "interval_value",
            "below the minimum",
        ),
        ({"interval_value": "often"}, "interval_value", "not a whole number"),
        ({"schedule_mode": "cron", "cron": "61 * * * *"}, "cron", "schedule.cron"),
        ({"url": "ftp://127.0.0.1/x"}, "url", "target.listing.url"),
        ({"kind": "search", "url_template": "https://127.0.0.1:9/s"}, "url_template", "{keyword}"),
        ({"name": ""}, "name", "name:"),
        ({"price_min": "20", "price_max": "10"}, "price_min", "min must not be above max"),
        ({"content_threshold": "2"}, "content_threshold", "threshold"),
        ({"entity_id": "999"}, "entity_id", "entity_id"),
        ({"platform": "no-such-mall"}, "platform", "no platform 'no-such-mall'"),
    ],
)
def test_a_bad_form_shows_the_reason_next_to_the_field(
    stack: Stack, overrides: dict[str, str], field: str, reason: str
) -> None:
    csrf = log_in(stack)
    refused = stack.client.post("/console/monitors/new", data=form(csrf, **overrides))
    assert refused.status_code == 422, refused.text
    assert reason in field_error(refused.text, field), refused.text
    assert 'value="示例旗舰店 商品1"' in refused.text or field == "name"  # typed input stays
    assert api(stack, "/v1/monitors")["items"] == []


def test_an_unknown_word_list_is_named_next_to_the_lists(stack: Stack) -> None:
    csrf = log_in(stack)
    refused = stack.client.post(
        "/console/monitors/new", data={**form(csrf), "words_lists": ["no-such-list"]}
    )
    assert refused.status_code == 422
    assert "unknown word list(s) no-such-list" in field_error(refused.text, "words_lists")


def test_pause_resume_run_now_and_delete(stack: Stack) -> None:
    csrf = log_in(stack)
    created = stack.client.post("/console/monitors/new", data=form(csrf), follow_redirects=False)
    url = created.headers["location"].split("?")[0]
    monitor_id = url.split("/")[-1]

    paused = stack.client.post(f"{url}/pause", data={"csrf_token": csrf}, follow_redirects=False)
    assert paused.status_code == 303
    assert api(stack, f"/v1/monitors/{monitor_id}")["enabled"] is False
    refused = stack.client.post(f"{url}/run", data={"csrf_token": csrf})
    assert refused.status_code == 409 and "is disabled" in refused.text
    assert 'id="resume"' in refused.text

    resumed = stack.client.post(f"{url}/resume", data={"csrf_token": csrf})
    assert resumed.status_code == 200 and "监测任务已恢复" in resumed.text
    assert api(stack, f"/v1/monitors/{monitor_id}")["enabled"] is True
    queued = stack.client.post(f"{url}/run", data={"csrf_token": csrf})
    assert queued.status_code == 200 and 'data-testid="run-row"' in queued.text
    (run,) = api(stack, f"/v1/monitors/{monitor_id}/runs")["items"]
    assert run["status"] == "queued"
    again = stack.client.post(f"{url}/run", data={"csrf_token": csrf})
    assert again.status_code == 409 and "already queued or running" in again.text

    assert stack.client.post(f"{url}/delete", data={}).status_code == 403  # no CSRF token
    assert api(stack, f"/v1/monitors/{monitor_id}")["enabled"] is True
    deleted = stack.client.post(f"{url}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 200 and "监测任务已删除" in deleted.text
    gone = stack.client.get(f"/v1/monitors/{monitor_id}", headers=stack.auth("officer"))
    assert gone.status_code == 404
    assert stack.client.get(url).status_code == 404
    assert stack.client.get("/console/monitors/mon-nonsense").status_code == 404


def open_alerts(runtime: Runtime, drafts: list[AlertDraft]) -> list[str]:
    """Open each alert as the runs engine does (one transaction each); their ids."""
    ledger = ledger_of(runtime)
    ids = []
    for draft in drafts:
        with runtime.session() as session:
            ids.append(open_alert(ledger, session, draft).id)
        ledger.queued(1)
    return ids


def test_alerts_listed_dismissed_and_converted(stack: Stack) -> None:
    evidence = submit(stack, {"listing.html": "<html>全网最低价 ¥99</html>".encode()})
    assert evidence.status_code == 201, evidence.text
    evidence_id = evidence.json()["evidence_id"]
    price, gone = open_alerts(
        stack.runtime,
        [
            AlertDraft(
                rule=PRICE_CHANGED,
                reason="价格变动：¥99 → ¥59 / price changed",
                recipient="token-999",
                detail={"from": "99", "to": "59"},
                evidence_id=evidence_id,
            ),
            AlertDraft(
                rule=GONE, reason="商品下架：HTTP 404 / listing gone", recipient="token-999"
            ),
        ],
    )
    csrf = log_in(stack)
    listing = stack.client.get("/console/alerts")
    assert listing.status_code == 200
    assert "价格变动：¥99 → ¥59" in listing.text and "商品下架：HTTP 404" in listing.text
    assert f'href="/console/evidence/{evidence_id}"' in listing.text
    # alerts of no monitor and no order belong to the top (所属单位 column, unit filter)
    assert listing.text.count('<td data-testid="unit">（全局）</td>') >= 2
    assert '<select id="f-unit" name="unit"' in listing.text
    assert 'data-live="1"' in listing.text and "/console/static/monitoring.js" in listing.text
    only = stack.client.get(f"/console/alerts?rule={GONE}")
    assert gone in only.text and price not in only.text
    assert 'data-rule="gone"' in only.text
    bad = stack.client.get("/console/alerts?rule=nonsense")
    assert bad.status_code == 422 and "unknown rule 'nonsense'" in field_error(bad.text, "rule")
    paged = stack.client.get("/console/alerts?limit=1")
    assert 'rel="next"' in paged.text and 'data-live="1"' in paged.text

    url = f"/console/alerts/{price}"
    page = stack.client.get(url)
    assert page.status_code == 200 and RULE_LABELS[PRICE_CHANGED] in page.text
    assert evidence_id in page.text and f"/v1/alerts/{price}/proofs" in page.text

    assert stack.client.post(f"{url}/dismiss", data={"reason": "正常促销"}).status_code == 403
    empty = stack.client.post(f"{url}/dismiss", data={"csrf_token": csrf, "reason": " "})
    assert empty.status_code == 422 and field_error(empty.text, "reason").startswith("reason:")
    assert api(stack, f"/v1/alerts/{price}")["status"] == "open"
    done = stack.client.post(f"{url}/dismiss", data={"csrf_token": csrf, "reason": "正常促销"})
    assert done.status_code == 200 and "预警已排除" in done.text
    dismissed = api(stack, f"/v1/alerts/{price}")
    assert dismissed["status"] == "dismissed" and dismissed["history"][-1]["note"] == "正常促销"
    assert "李四" in done.text  # the officer by name in the history
    assert 'id="form-dismiss"' not in done.text

    missing_case = stack.client.post(
        f"/console/alerts/{gone}/convert", data={"csrf_token": csrf, "case_number": "无此案"}
    )
    assert missing_case.status_code == 422
    assert "无此案" in field_error(missing_case.text, "case_number")
    converted = stack.client.post(
        f"/console/alerts/{gone}/convert",
        data={"csrf_token": csrf, "title": "下架复查线索", "convert_note": "转线索核查"},
    )
    assert converted.status_code == 200 and "预警已转为线索" in converted.text
    after = api(stack, f"/v1/alerts/{gone}")
    assert after["status"] == "converted" and after["case"]
    case = api(stack, f"/v1/cases/{after['case_id']}")
    assert case["title"] == "下架复查线索"


# --- the live list in a real browser -------------------------------------------------------


@pytest.fixture
def sqlite_stack(tmp_path: Path) -> Iterator[Stack]:
    """One backend: what is under test is the page's script and the stream's cookie."""
    with running_stack(Settings(data_dir=tmp_path / "data", **SETTINGS)) as running:
        yield running


@pytest.mark.browser
def test_the_alert_list_updates_live_in_a_browser(
    sqlite_stack: Stack,
    browser: Any,  # noqa: F811 - the fixture
) -> None:
    """static/monitoring.js: the stream (authenticated by the session cookie) prepends a
    new alert, its text as text (no markup), with its 所属单位 as the list shows it, and
    updates a dismissed one's status."""
    stack = sqlite_stack
    with stack.runtime.session() as session:
        units.create_unit(session, UnitCreate(code="qz", name="泉州市市场监督管理局", level="city"))
    (first,) = open_alerts(
        stack.runtime,
        [AlertDraft(rule=PRICE_CHANGED, reason="价格变动：¥99 → ¥59", recipient="token-9")],
    )
    username, password = make_user(stack.runtime, "officer")
    with live_server(stack.client.app) as server:
        context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            browser_login(page, server.url, username, password)
            page.goto(f"{server.url}/console/alerts", wait_until="load")
            assert page.get_attribute("#alerts-live", "data-live") == "1"
            # The stream resumes after the newest event when the page was read: an alert
            # opened before the page's stream has even connected still arrives.
            assert page.get_attribute("#alerts-live", "data-after") == str(
                stream.newest(stack.runtime.session)
            )
            ledger = ledger_of(stack.runtime)
            with stack.runtime.session() as session:  # as a monitor of 泉州市 opens one
                opened = open_alert(
                    ledger,
                    session,
                    AlertDraft(rule=GONE, reason="商品下架 <b>404</b>", recipient="token-9"),
                )
                opened.unit_id = units.unit_by_code(session, "qz").id
                fresh = opened.id
            ledger.queued(1)
            page.wait_for_selector(f"tr[data-alert-id='{fresh}']", timeout=30_000)
            assert page.get_attribute("#alerts-body tr:first-child", "data-alert-id") == fresh
            cell = f"tr[data-alert-id='{fresh}'] td:nth-child(3)"
            assert page.inner_text(cell) == "商品下架 <b>404</b>"  # shown as text
            assert "收到新预警" in page.inner_text("#alerts-live")
            units_shown = page.locator("#alerts-body [data-testid='unit']").all_inner_texts()
            assert units_shown == ["泉州市市场监督管理局", "（全局）"]  # the new row, the first

            dismissed = stack.client.post(
                f"/v1/alerts/{first}/dismiss",
                json={"reason": "正常促销"},
                headers=stack.auth("officer"),
            )
            assert dismissed.status_code == 200, dismissed.text
            status = f"tr[data-alert-id='{first}'] [data-role='status']"
            page.wait_for_function(
                "s => document.querySelector(s).textContent.includes('已排除')",
                arg=status,
                timeout=30_000,
            )
            assert errors == []
        finally:
            context.close()
