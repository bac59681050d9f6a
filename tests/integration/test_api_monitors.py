"""``/v1/monitors`` through the real API on SQLite and PostgreSQL: create (201, Location,
the first run's time), read, list with filters and cursors, change (a new schedule moves
the next run), soft delete (then 404; runs and alerts stay), the runs a monitor made, and
bad input refused with 422 naming the field (nothing recorded). The last test queues a
run now and watches it finish in real Chromium on the HTTPS fixture website.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from evidence_api.core.config import Settings
from evidence_api.core.ids import new_id
from evidence_api.monitoring import schedule as schedules
from evidence_api.monitoring import service
from evidence_api.monitoring.models import (
    ALERT_OPEN,
    DONE,
    FAILED,
    QUEUED,
    Alert,
    Monitor,
    MonitorRun,
)
from evidence_api.monitoring.observation import GONE, PRICE_CHANGED, Finding, Observation
from evidence_api.monitoring.ruleset import Rules
from tests.support.api import Stack, fresh_postgres_database, running_stack
from tests.support.browser import chromium_missing
from tests.support.market_site import Listing, MarketSite, market_site

ALLOW = "127.0.0.1,localhost,::1"
ITEM = "https://127.0.0.1:9/item/1"
#: A run in real Chromium on the loaded 2-core test machine.
RUN_DEADLINE = 240.0


def monitor_settings(data: Path, **extra: Any) -> Settings:
    """No monitor runs in these stacks (nothing ticks, nothing is sent): only the API."""
    fields: dict[str, Any] = {
        "data_dir": data,
        "seal_interval": 0.1,
        "chain": "none",
        "run_integrity": False,
        "capture_allow": ALLOW,
        "run_monitors": False,
        "monitor_min_interval": 300,
    }
    return Settings(**(fields | extra))


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("monitors") / "data"
    if request.param == "postgres":
        with (
            fresh_postgres_database(request.getfixturevalue("postgres_url")) as url,
            running_stack(monitor_settings(data, database_url=url)) as running,
        ):
            yield running
    else:
        with running_stack(monitor_settings(data)) as running:
            yield running


def body(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "name": "示例旗舰店 商品1",
        "target": {"kind": "listing", "url": ITEM},
        "schedule": {"interval_seconds": 3600},
    }
    value.update(overrides)
    return value


def post(stack: Stack, value: dict[str, Any], role: str = "officer") -> Any:
    return stack.client.post("/v1/monitors", json=value, headers=stack.auth(role))


def created(stack: Stack, **overrides: Any) -> dict[str, Any]:
    response = post(stack, body(**overrides))
    assert response.status_code == 201, response.text
    out: dict[str, Any] = response.json()
    return out


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def count_monitors(stack: Stack) -> int:
    with stack.runtime.session() as session:
        return int(session.execute(select(func.count()).select_from(Monitor)).scalar_one())


def entity(stack: Stack, platform: str = "example-mall", shop: str = "示例旗舰店") -> int:
    response = stack.client.post(
        "/v1/entities",
        json={"platform": platform, "shop_name": shop},
        headers=stack.auth("officer"),
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def platform(stack: Stack, code: str) -> str:
    response = stack.client.post(
        "/v1/platforms", json={"code": code, "name": code}, headers=stack.auth("admin")
    )
    assert response.status_code == 201, response.text
    return code


# --- the life of a monitor ---------------------------------------------------------------------


def test_create_read_change_delete(stack: Stack) -> None:
    officer = stack.auth("officer")
    before = datetime.now(UTC)
    response = post(stack, body(target={"kind": "listing", "url": "https://LocalHost:9/item/1"}))
    assert response.status_code == 201, response.text
    mon = response.json()
    assert response.headers["Location"] == f"/v1/monitors/{mon['id']}"
    assert mon["id"].startswith("mon-") and len(mon["id"]) == 32
    assert mon["target"] == {
        "kind": "listing",
        "kind_label": "商品页 listing",
        "url": "https://LocalHost:9/item/1",
        "url_template": None,
        "keyword": None,
    }
    assert mon["host"] == "localhost"  # the per-host limits' key
    assert mon["schedule"] == {"interval_seconds": 3600, "cron": None}
    assert mon["rules"] == Rules().model_dump(mode="json")
    assert (mon["archive"], mon["archive_label"]) == (
        "on_alert",
        "预警时完整存档 full archive when a rule fires",
    )
    assert mon["enabled"] is True and mon["gone"] is False
    assert mon["last_run"] is None and mon["last_run_at"] is None and mon["open_alerts"] == 0
    assert mon["created_by"].startswith("token-")
    assert mon["runs_url"] == f"/v1/monitors/{mon['id']}/runs"
    created_at = at(mon["created_at"])
    assert before <= created_at <= datetime.now(UTC)
    # the first run: the schedule's own function, keyed (jittered) by the monitor's id
    assert at(mon["next_run_at"]) == schedules.first_run(
        now=created_at,
        interval_seconds=3600,
        cron=None,
        jitter=stack.settings.monitor_jitter,
        key=mon["id"],
    )

    read = stack.client.get(f"/v1/monitors/{mon['id']}", headers=officer)
    assert read.status_code == 200 and read.json() == mon

    # a new schedule: cron, normalised, and the next run computed again from now
    changed = stack.client.patch(
        f"/v1/monitors/{mon['id']}",
        json={"name": "改名", "schedule": {"cron": "0  9 * * *"}, "archive": "always"},
        headers=officer,
    )
    assert changed.status_code == 200, changed.text
    now = changed.json()
    assert (now["name"], now["archive"]) == ("改名", "always")
    assert now["schedule"] == {"interval_seconds": None, "cron": "0 9 * * *"}
    updated_at = at(now["updated_at"])
    assert updated_at > created_at
    assert at(now["next_run_at"]) == schedules.first_run(
        now=updated_at,
        interval_seconds=None,
        cron="0 9 * * *",
        jitter=stack.settings.monitor_jitter,
        key=mon["id"],
    )
    assert now["target"] == mon["target"] and now["created_at"] == mon["created_at"]

    # disabled: no next run shown; the filter finds it
    off = stack.client.patch(f"/v1/monitors/{mon['id']}", json={"enabled": False}, headers=officer)
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert off.json()["next_run_at"] is None
    listed = stack.client.get("/v1/monitors", params={"enabled": "false"}, headers=officer)
    assert mon["id"] in [m["id"] for m in listed.json()["items"]]
    listed = stack.client.get("/v1/monitors", params={"enabled": "true"}, headers=officer)
    assert mon["id"] not in [m["id"] for m in listed.json()["items"]]
    # enabled again: the next run counts from now, not from a time passed meanwhile
    on = stack.client.patch(f"/v1/monitors/{mon['id']}", json={"enabled": True}, headers=officer)
    assert on.status_code == 200 and on.json()["enabled"] is True
    assert at(on.json()["next_run_at"]) == schedules.first_run(
        now=at(on.json()["updated_at"]),
        interval_seconds=None,
        cron="0 9 * * *",
        jitter=stack.settings.monitor_jitter,
        key=mon["id"],
    )
    # a PATCH of something else leaves the next run where it was
    renamed = stack.client.patch(
        f"/v1/monitors/{mon['id']}", json={"name": "再改名"}, headers=officer
    )
    assert renamed.json()["next_run_at"] == on.json()["next_run_at"]

    # deleted: gone from the API, the row and its history kept
    gone = stack.client.delete(f"/v1/monitors/{mon['id']}", headers=officer)
    assert gone.status_code == 204 and gone.content == b""
    for method, path in (
        ("GET", f"/v1/monitors/{mon['id']}"),
        ("GET", f"/v1/monitors/{mon['id']}/runs"),
        ("PATCH", f"/v1/monitors/{mon['id']}"),
        ("DELETE", f"/v1/monitors/{mon['id']}"),
        ("POST", f"/v1/monitors/{mon['id']}/run"),
    ):
        answer = stack.client.request(
            method, path, headers=officer, json={"name": "x"} if method == "PATCH" else None
        )
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["detail"] == f"no monitor {mon['id']}"
    listed = stack.client.get("/v1/monitors", params={"limit": 200}, headers=officer)
    assert mon["id"] not in [m["id"] for m in listed.json()["items"]]
    with stack.runtime.session() as session:
        row = session.execute(select(Monitor).where(Monitor.id == mon["id"])).scalar_one()
        assert row.deleted_at is not None and row.enabled is False


def test_a_search_monitor_watches_the_template_with_the_keyword_encoded(stack: Stack) -> None:
    mon = created(
        stack,
        target={
            "kind": "search",
            "url_template": "https://localhost:9/search?q={keyword}&page=1",
            "keyword": "国家级 特效药",
        },
        schedule={"cron": "30 */6 * * *"},
    )
    assert mon["target"] == {
        "kind": "search",
        "kind_label": "平台搜索 search",
        "url": "https://localhost:9/search?q=%E5%9B%BD%E5%AE%B6%E7%BA%A7%20%E7%89%B9%E6%95%88%E8%8D%AF&page=1",
        "url_template": "https://localhost:9/search?q={keyword}&page=1",
        "keyword": "国家级 特效药",
    }
    assert mon["schedule"] == {"interval_seconds": None, "cron": "30 */6 * * *"}
    # the target is fixed: a new target is a new monitor
    patch = stack.client.patch(
        f"/v1/monitors/{mon['id']}",
        json={"target": {"kind": "listing", "url": ITEM}},
        headers=stack.auth("officer"),
    )
    assert patch.status_code == 422 and patch.json()["field"] == "target"


def test_entity_and_platform(stack: Stack) -> None:
    officer = stack.auth("officer")
    shop = entity(stack)
    mon = created(stack, entity_id=shop)
    assert (mon["entity_id"], mon["platform"]) == (shop, "example-mall")  # the entity's
    other = platform(stack, f"other-{shop}")
    elsewhere = created(stack, platform=other)
    assert (elsewhere["entity_id"], elsewhere["platform"]) == (None, other)

    for params, expect in (
        ({"entity_id": shop}, {mon["id"]}),
        ({"platform": other}, {elsewhere["id"]}),
        ({"platform": "no-such-mall"}, set()),
    ):
        page = stack.client.get("/v1/monitors", params=params, headers=officer)
        assert page.status_code == 200
        assert {m["id"] for m in page.json()["items"]} == expect, params

    # a shop on example-mall is not on the other platform
    mismatch = post(stack, body(entity_id=shop, platform=other))
    assert mismatch.status_code == 422
    assert mismatch.json()["field"] == "entity_id"
    assert "example-mall" in mismatch.json()["detail"]

    # PATCH: a new entity brings its platform; null clears; a platform must be the entity's
    moved = stack.client.patch(
        f"/v1/monitors/{elsewhere['id']}", json={"entity_id": shop}, headers=officer
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["entity_id"], moved.json()["platform"]) == (shop, "example-mall")
    refused = stack.client.patch(
        f"/v1/monitors/{elsewhere['id']}", json={"platform": other}, headers=officer
    )
    assert refused.status_code == 422 and refused.json()["field"] == "entity_id"
    cleared = stack.client.patch(
        f"/v1/monitors/{elsewhere['id']}", json={"entity_id": None}, headers=officer
    )
    assert (cleared.json()["entity_id"], cleared.json()["platform"]) == (None, "example-mall")
    cleared = stack.client.patch(
        f"/v1/monitors/{elsewhere['id']}", json={"platform": None}, headers=officer
    )
    assert (cleared.json()["entity_id"], cleared.json()["platform"]) == (None, None)
    for name in ("name", "schedule", "rules", "archive", "enabled"):
        null = stack.client.patch(
            f"/v1/monitors/{elsewhere['id']}", json={name: None}, headers=officer
        )
        assert null.status_code == 422 and null.json()["field"] == name, null.text


def test_lists_are_paged_newest_first_and_filtered(stack: Stack) -> None:
    officer = stack.auth("officer")
    mine = [
        created(stack, target={"kind": "shop", "url": f"https://[::1]:9/shop/{i}"})["id"]
        for i in range(5)
    ]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"host": "::1", "kind": "shop", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = stack.client.get("/v1/monitors", params=params, headers=officer)
        assert page.status_code == 200, page.text
        items = page.json()["items"]
        assert len(items) <= 2 and all(m["host"] == "::1" for m in items)
        seen += [m["id"] for m in items]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == mine[::-1]
    bad = stack.client.get("/v1/monitors", params={"cursor": "bm90LW91cnM"}, headers=officer)
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"
    bad = stack.client.get("/v1/monitors", params={"kind": "page"}, headers=officer)
    assert bad.status_code == 422 and bad.json()["field"] == "kind"


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        pytest.param(
            {"schedule": {"cron": "0 0 9 * * *"}}, "schedule.cron", "", id="cron-6-fields"
        ),
        pytest.param({"schedule": {"cron": "0 25 * * *"}}, "schedule.cron", "", id="cron-hour-25"),
        pytest.param(
            {"schedule": {"cron": "*/2 * * * *"}},
            "schedule.cron",
            "EVIDENCE_MONITOR_MIN_INTERVAL",
            id="cron-too-often",
        ),
        pytest.param(
            {"schedule": {"interval_seconds": 299}},
            "schedule.interval_seconds",
            "EVIDENCE_MONITOR_MIN_INTERVAL",
            id="interval-below-minimum",
        ),
        pytest.param(
            {"target": {"kind": "listing", "url": "https://10.1.2.3/item"}},
            "target.url",
            "EVIDENCE_CAPTURE_ALLOW",
            id="private-address",
        ),
        pytest.param(
            {"target": {"kind": "shop", "url": "http://169.254.169.254/latest/meta-data/"}},
            "target.url",
            "EVIDENCE_CAPTURE_ALLOW",
            id="metadata-address",
        ),
        pytest.param(
            {
                "target": {
                    "kind": "search",
                    "url_template": "https://192.168.0.1/s?q={keyword}",
                    "keyword": "k",
                }
            },
            "target.url_template",
            "EVIDENCE_CAPTURE_ALLOW",
            id="search-on-private-address",
        ),
        pytest.param(
            {"target": {"kind": "search", "url_template": "https://localhost/s", "keyword": "k"}},
            "target.search.url_template",
            "{keyword}",
            id="template-without-keyword",
        ),
        pytest.param({"entity_id": 987654321}, "entity_id", "987654321", id="unknown-entity"),
        pytest.param(
            {"platform": "no-such-mall"}, "platform", "no-such-mall", id="unknown-platform"
        ),
        pytest.param(
            {"rules": {"prohibited_words": {"lists": ["advertising-law-art9", "no-such-list"]}}},
            "rules.prohibited_words.lists",
            "no-such-list",
            id="unknown-word-list",
        ),
        pytest.param({"owner": "me"}, "owner", "", id="extra-field"),
        pytest.param({"name": "x" * 257}, "name", "", id="name-too-long"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    stack: Stack, overrides: dict[str, Any], field: str, says: str
) -> None:
    before = count_monitors(stack)
    response = post(stack, body(**overrides))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] == field, problem
    assert problem["detail"].startswith(f"{field}: "), problem
    assert says in problem["detail"], problem
    assert count_monitors(stack) == before  # nothing recorded


def test_a_patch_is_checked_as_a_creation(stack: Stack) -> None:
    mon = created(stack)
    officer = stack.auth("officer")
    for change, field in (
        ({"schedule": {"interval_seconds": 60}}, "schedule.interval_seconds"),
        ({"schedule": {"cron": "not a cron"}}, "schedule.cron"),
        ({"rules": {"prohibited_words": {"lists": ["nope"]}}}, "rules.prohibited_words.lists"),
        ({"entity_id": 987654321}, "entity_id"),
        ({"platform": "no-such-mall"}, "platform"),
    ):
        answer = stack.client.patch(f"/v1/monitors/{mon['id']}", json=change, headers=officer)
        assert answer.status_code == 422 and answer.json()["field"] == field, answer.text
    again = stack.client.get(f"/v1/monitors/{mon['id']}", headers=officer).json()
    assert again == mon  # nothing of the refused changes stuck


def test_only_officers_and_admins(stack: Stack) -> None:
    for role in ("appraiser", "platform"):
        assert post(stack, body(), role=role).status_code == 403
        listed = stack.client.get("/v1/monitors", headers=stack.auth(role))
        assert listed.status_code == 403
    assert post(stack, body(), role="admin").status_code == 201
    assert stack.client.get("/v1/monitors").status_code == 401


# --- runs, as the engine leaves them ---------------------------------------------------------


def add_run(stack: Stack, seq: int, **values: Any) -> str:
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "id": new_id("mrun"),
        "monitor_seq": seq,
        "status": DONE,
        "scheduled_at": now,
        "started_at": now,
        "finished_at": now + timedelta(seconds=3),
        "attempts": 1,
        "deferrals": 0,
    }
    fields.update(values)
    with stack.runtime.session() as session:
        session.add(MonitorRun(**fields))
    return str(fields["id"])


def seq_of(stack: Stack, monitor_id: str) -> int:
    with stack.runtime.session() as session:
        return int(
            session.execute(select(Monitor.seq).where(Monitor.id == monitor_id)).scalar_one()
        )


def test_runs_newest_first_with_what_they_saw_and_what_fired(stack: Stack) -> None:
    officer = stack.auth("officer")
    mon = created(stack)
    seq = seq_of(stack, mon["id"])
    seen = Observation(
        http_status=200,
        final_url=ITEM,
        title="示例商品",
        text="正文 " * 50,
        prices=("199.00",),
        available=True,
        text_sha256="ab" * 32,
    )
    quiet = add_run(stack, seq, observation=seen.dumps(), fired="[]", entry_id="e-quiet")
    changed = Observation(**{**seen.to_json(), "prices": ("152.25",)})
    finding = Finding(PRICE_CHANGED, "价格变动 23.5% / price changed by 23.5%", {"old": "199.00"})
    fired = add_run(
        stack,
        seq,
        observation=changed.dumps(),
        fired=json.dumps([finding.to_json()]),
        entry_id="e-fired",
    )
    failed = add_run(stack, seq, status=FAILED, reason="refused: 127.0.0.1 port 9 closed")
    with stack.runtime.session() as session:
        now = datetime.now(UTC)
        for status in (ALERT_OPEN, ALERT_OPEN, "dismissed"):
            session.add(
                Alert(
                    id=new_id("alr"),
                    rule=GONE,
                    reason="商品下架 listing gone",
                    detail="{}",
                    monitor_seq=seq,
                    status=status,
                    recipient=mon["created_by"],
                    created_at=now,
                    updated_at=now,
                )
            )

    detail = stack.client.get(f"/v1/monitors/{mon['id']}", headers=officer).json()
    assert detail["open_alerts"] == 2
    assert detail["last_run"]["id"] == failed
    assert detail["last_run"]["status_label"] == "失败 failed"
    assert detail["last_run"]["reason"] == "refused: 127.0.0.1 port 9 closed"

    page1 = stack.client.get(
        f"/v1/monitors/{mon['id']}/runs", params={"limit": 2}, headers=officer
    ).json()
    assert [r["id"] for r in page1["items"]] == [failed, fired]
    page2 = stack.client.get(
        f"/v1/monitors/{mon['id']}/runs",
        params={"limit": 2, "cursor": page1["next_cursor"]},
        headers=officer,
    ).json()
    assert [r["id"] for r in page2["items"]] == [quiet] and page2["next_cursor"] is None

    run = page1["items"][1]
    assert run["observation"] == {
        "http_status": 200,
        "title": "示例商品",
        "prices": ["152.25"],
        "available": True,
        "gone": False,
        "gone_reason": None,
    }
    assert run["fired"] == [
        {
            "rule": PRICE_CHANGED,
            "rule_label": "价格变动 price changed",
            "reason": "价格变动 23.5% / price changed by 23.5%",
        }
    ]
    assert (run["entry_id"], run["status"], run["reason"]) == ("e-fired", "done", None)
    assert page2["items"][0]["fired"] == []
    assert "正文" not in json.dumps(page1) + json.dumps(page2)  # the page text is not shown


def test_deleting_ends_its_queued_runs_and_keeps_the_rest(stack: Stack) -> None:
    mon = created(stack)
    seq = seq_of(stack, mon["id"])
    done = add_run(stack, seq, fired="[]")
    waiting = add_run(stack, seq, status=QUEUED, started_at=None, finished_at=None, attempts=0)
    answer = stack.client.delete(f"/v1/monitors/{mon['id']}", headers=stack.auth("officer"))
    assert answer.status_code == 204
    with stack.runtime.session() as session:
        rows = {
            r.id: r
            for r in session.execute(select(MonitorRun).where(MonitorRun.monitor_seq == seq))
            .scalars()
            .all()
        }
        assert rows[done].status == DONE and rows[done].reason is None
        assert rows[waiting].status == FAILED and rows[waiting].reason == service.DELETED
        assert rows[waiting].finished_at is not None


# --- a run now, in real Chromium ---------------------------------------------------------------


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MarketSite]:
    """The monitoring fixture market (HTTPS listings); skipped (a failure under CI=true)
    without the browser."""
    missing = chromium_missing()
    if missing:
        pytest.skip(missing)
    with market_site(tmp_path_factory.mktemp("market")) as running:
        yield running


@pytest.mark.browser
@pytest.mark.slow
def test_run_now_queues_a_run_that_sees_the_listing(
    market: MarketSite, tmp_path_factory: pytest.TempPathFactory
) -> None:
    listing = Listing(title="安溪铁观音 特级 500g 礼盒装", price="199.00", in_stock=True)
    market.market.put("run-now", listing)
    url = market.url("run-now")
    settings = monitor_settings(
        tmp_path_factory.mktemp("run-now") / "data",
        run_monitors=True,
        capture_upstream_ca=market.ca_file,
        capture_total_seconds=180,
        monitor_host_spacing=0,
    )
    with running_stack(settings) as stack:
        officer = stack.auth("officer")
        # yearly: the scheduler leaves it alone, only the run asked for runs
        mon = created(stack, target={"kind": "listing", "url": url}, schedule={"cron": "0 0 1 1 *"})
        off = created(stack, target={"kind": "listing", "url": url}, enabled=False)
        refused = stack.client.post(f"/v1/monitors/{off['id']}/run", headers=officer)
        assert refused.status_code == 409 and refused.json()["field"] == "enabled"
        accepted = stack.client.post(f"/v1/monitors/{mon['id']}/run", headers=officer)
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]
        assert accepted.json() == {
            "run_id": run_id,
            "status": "queued",
            "runs_url": mon["runs_url"],
        }
        assert accepted.headers["Location"] == mon["runs_url"]
        # one run at a time: another "run now" meanwhile is refused
        again = stack.client.post(f"/v1/monitors/{mon['id']}/run", headers=officer)
        assert again.status_code == 409, again.text

        deadline = time.monotonic() + RUN_DEADLINE
        run: dict[str, Any] = {}
        while time.monotonic() < deadline:
            items = stack.client.get(mon["runs_url"], headers=officer).json()["items"]
            assert [r["id"] for r in items] == [run_id]
            run = items[0]
            if run["status"] in ("done", "failed"):
                break
            time.sleep(0.5)
        assert run.get("status") == "done", run
        assert run["observation"] == {
            "http_status": 200,
            "title": listing.title,
            "prices": ["199.00"],
            "available": True,
            "gone": False,
            "gone_reason": None,
        }
        # the first look at a plain listing fires nothing: no evidence, one log entry
        assert run["fired"] == [] and run["evidence_id"] is None and run["entry_id"]
        assert run["attempts"] == 1 and run["reason"] is None
        detail = stack.client.get(f"/v1/monitors/{mon['id']}", headers=officer).json()
        assert detail["last_run"] == run and detail["last_run_at"] is not None
        assert detail["open_alerts"] == 0
