"""``/v1/monitors``' bodies: every field bounded (at the limit and one past it), extra
fields refused, the search template's placeholder, the schedule's exactly-one rule, and
the service's pure checks (schedule against the minimum interval, a run's shaping)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from evidence_api.core.config import Settings
from evidence_api.core.errors import InvalidInputError
from evidence_api.monitoring import service
from evidence_api.monitoring.models import DONE, FAILED, MonitorRun
from evidence_api.monitoring.observation import PRICE_CHANGED, Finding, Observation
from evidence_api.monitoring.ruleset import Rules
from evidence_api.monitoring.schemas import (
    MAX_CRON,
    MAX_INTERVAL,
    MAX_KEYWORD,
    MAX_NAME,
    MonitorCreate,
    MonitorUpdate,
    PageTarget,
    Schedule,
    SearchTarget,
    fill,
)
from verifier.service.problem import field_path

URL = "https://mall.example/item/1"
TEMPLATE = "https://mall.example/search?q={keyword}&sort=new"
NOW = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)


def body(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "name": "示例旗舰店 商品1",
        "target": {"kind": "listing", "url": URL},
        "schedule": {"interval_seconds": 3600},
    }
    value.update(overrides)
    return value


def refused(model: type[Any], value: dict[str, Any]) -> str:
    """The field path of the first error (as the API's 422 names it)."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(value)
    return field_path(caught.value.errors()[0]["loc"])


# --- creating -------------------------------------------------------------------------------


def test_defaults_watch_with_every_rule_on_and_archive_on_alert() -> None:
    created = MonitorCreate.model_validate(body())
    assert isinstance(created.target, PageTarget) and created.target.url == URL
    assert created.archive == "on_alert" and created.enabled is True
    assert created.rules == Rules()
    assert created.rules.content_changed.enabled and created.rules.price.enabled
    assert created.rules.prohibited_words.enabled and created.rules.gone.enabled
    assert created.entity_id is None and created.platform is None


@pytest.mark.parametrize(
    ("value", "where"),
    [
        pytest.param(body(owner="x"), "owner", id="extra-top-level"),
        pytest.param(
            body(target={"kind": "listing", "url": URL, "depth": 2}),
            "target.listing.depth",
            id="extra-in-target",
        ),
        pytest.param(
            body(schedule={"interval_seconds": 3600, "every": 1}),
            "schedule.every",
            id="extra-in-schedule",
        ),
        pytest.param(
            body(rules={"price": {"enabled": True, "percent": 5}}),
            "rules.price.percent",
            id="extra-in-rules",
        ),
        pytest.param(body(name=""), "name", id="empty-name"),
        pytest.param(body(name="x" * (MAX_NAME + 1)), "name", id="name-over-limit"),
        pytest.param(body(target={"kind": "page", "url": URL}), "target", id="unknown-kind"),
        pytest.param(
            body(target={"kind": "shop", "url": "ftp://mall.example/"}),
            "target.shop.url",
            id="not-http",
        ),
        pytest.param(
            body(target={"kind": "shop", "url": "https://user:pw@mall.example/"}),
            "target.shop.url",
            id="credentials-in-url",
        ),
        pytest.param(
            body(target={"kind": "listing", "url": "https://m.example/" + "a" * 2048}),
            "target.listing.url",
            id="url-over-limit",
        ),
        pytest.param(body(archive="sometimes"), "archive", id="unknown-archive"),
        pytest.param(body(entity_id=0), "entity_id", id="entity-zero"),
        pytest.param(body(entity_id=2**63), "entity_id", id="entity-over-int64"),
        pytest.param(body(platform="Mall!"), "platform", id="platform-not-a-code"),
        pytest.param(body(enabled="maybe"), "enabled", id="enabled-not-bool"),
    ],
)
def test_bad_bodies_name_their_field(value: dict[str, Any], where: str) -> None:
    assert refused(MonitorCreate, value) == where


def test_limits_pass_at_the_limit() -> None:
    created = MonitorCreate.model_validate(
        body(name="名" * MAX_NAME, entity_id=2**63 - 1, platform="a" * 64)
    )
    assert len(created.name) == MAX_NAME and created.entity_id == 2**63 - 1
    assert refused(MonitorCreate, body(platform="a" * 65)) == "platform"


# --- the search target ----------------------------------------------------------------------


def search(template: str = TEMPLATE, keyword: str = "最佳 口红/正品&特价") -> dict[str, Any]:
    return body(target={"kind": "search", "url_template": template, "keyword": keyword})


def test_a_search_url_is_the_template_with_the_keyword_percent_encoded() -> None:
    target = MonitorCreate.model_validate(search()).target
    assert isinstance(target, SearchTarget)
    # UTF-8 bytes of 最佳 = e6 9c 80 e4 bd b3; space, / and & encoded too (RFC 3986)
    assert target.url == (
        "https://mall.example/search?q=%E6%9C%80%E4%BD%B3%20%E5%8F%A3%E7%BA%A2%2F"
        "%E6%AD%A3%E5%93%81%26%E7%89%B9%E4%BB%B7&sort=new"
    )
    assert fill("https://a.example/s/{keyword}", "a-b._~") == "https://a.example/s/a-b._~"


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("https://mall.example/search?q=", id="no-placeholder"),
        pytest.param("https://mall.example/{keyword}?q={keyword}", id="two-placeholders"),
        pytest.param("https://{keyword}.mall.example/", id="placeholder-in-host"),
        pytest.param("https://mall.example:{keyword}/", id="placeholder-in-port"),
        pytest.param("https://mall.example/search?q={KEYWORD}", id="wrong-case"),
    ],
)
def test_a_template_holds_the_placeholder_once_after_the_host(template: str) -> None:
    assert refused(MonitorCreate, search(template)) == "target.search.url_template"


def test_keyword_is_bounded_and_the_built_url_too() -> None:
    assert MonitorCreate.model_validate(search(keyword="k" * MAX_KEYWORD))
    assert refused(MonitorCreate, search(keyword="k" * (MAX_KEYWORD + 1))) == (
        "target.search.keyword"
    )
    assert refused(MonitorCreate, search(keyword="")) == "target.search.keyword"
    # 256 CJK characters encode to 256 × 9 = 2,304 characters: past the 2,048 of a URL
    assert refused(MonitorCreate, search(keyword="最" * MAX_KEYWORD)) == ("target.search.keyword")

    # the filled URL at exactly 2,048 characters passes, one more is refused
    def padded(extra: int) -> dict[str, Any]:
        head = "https://mall.example/"
        return search(
            head + "p" * (2048 - len(head) - len("?q=") - 20 + extra) + "?q={keyword}", "k" * 20
        )

    target = MonitorCreate.model_validate(padded(0)).target
    assert isinstance(target, SearchTarget) and len(target.url) == 2048
    assert refused(MonitorCreate, padded(1)) == "target.search.keyword"


# --- schedules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "where"),
    [
        pytest.param({}, "schedule", id="neither"),
        pytest.param({"interval_seconds": 3600, "cron": "0 * * * *"}, "schedule", id="both"),
        pytest.param({"interval_seconds": 0}, "schedule.interval_seconds", id="interval-zero"),
        pytest.param(
            {"interval_seconds": MAX_INTERVAL + 1},
            "schedule.interval_seconds",
            id="interval-over-a-year",
        ),
        pytest.param({"cron": ""}, "schedule.cron", id="empty-cron"),
        pytest.param({"cron": "0" * (MAX_CRON + 1)}, "schedule.cron", id="cron-over-limit"),
        pytest.param({"interval_seconds": "hourly"}, "schedule.interval_seconds", id="not-int"),
    ],
)
def test_a_schedule_is_exactly_one_bounded_value(schedule: dict[str, Any], where: str) -> None:
    assert refused(MonitorCreate, body(schedule=schedule)) == where


def test_schedule_limits_pass_at_the_limit() -> None:
    assert Schedule(interval_seconds=MAX_INTERVAL).interval_seconds == MAX_INTERVAL
    assert Schedule(cron="0" * MAX_CRON).cron is not None  # the length; its syntax is the service's


def settings(**extra: Any) -> Settings:
    return Settings(monitor_min_interval=300, **extra)


def field_of(schedule: Schedule) -> str | None:
    with pytest.raises(InvalidInputError) as caught:
        service.check_schedule(schedule, settings(), now=NOW)
    return caught.value.field


def test_an_interval_below_the_minimum_is_refused_at_limit_minus_one() -> None:
    assert service.check_schedule(Schedule(interval_seconds=300), settings(), now=NOW) == (
        300,
        None,
    )
    assert field_of(Schedule(interval_seconds=299)) == "schedule.interval_seconds"


def test_a_cron_firing_more_often_than_the_minimum_is_refused() -> None:
    assert service.check_schedule(Schedule(cron="*/5  * * * *"), settings(), now=NOW) == (
        None,
        "*/5 * * * *",
    )
    assert service.check_schedule(Schedule(cron="0 9 * * 1"), settings(), now=NOW)[1] == (
        "0 9 * * 1"
    )
    assert field_of(Schedule(cron="*/4 * * * *")) == "schedule.cron"
    assert field_of(Schedule(cron="* * * * *")) == "schedule.cron"
    # two firings 60 s apart once an hour: the smallest gap counts, not the average
    assert field_of(Schedule(cron="0,1 * * * *")) == "schedule.cron"


@pytest.mark.parametrize(
    "cron",
    [
        pytest.param("0 9 * *", id="four-fields"),
        pytest.param("0 0 9 * * *", id="six-fields"),
        pytest.param("61 * * * *", id="minute-out-of-range"),
        pytest.param("0 25 * * *", id="hour-out-of-range"),
        pytest.param("every day", id="garbage"),
        pytest.param("@reboot", id="reboot"),
    ],
)
def test_a_malformed_cron_names_schedule_cron(cron: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        service.check_schedule(Schedule(cron=cron), settings(), now=NOW)
    assert caught.value.field == "schedule.cron"
    assert caught.value.detail.startswith("schedule.cron: ")


# --- changing -------------------------------------------------------------------------------------


def test_a_patch_names_only_what_changes_and_never_the_target() -> None:
    patch = MonitorUpdate.model_validate({"enabled": False, "entity_id": None})
    assert patch.model_fields_set == {"enabled", "entity_id"}
    assert refused(MonitorUpdate, {"target": {"kind": "listing", "url": URL}}) == "target"
    assert refused(MonitorUpdate, {"schedule": {}}) == "schedule"
    assert refused(MonitorUpdate, {"name": ""}) == "name"


# --- a run as listed ---------------------------------------------------------------------------


def run_row(**values: Any) -> MonitorRun:
    fields: dict[str, Any] = {
        "id": "mrun-0123456789abcdef0123456789ab",
        "monitor_seq": 1,
        "status": DONE,
        "scheduled_at": NOW,
        "started_at": NOW,
        "finished_at": NOW,
        "attempts": 1,
        "deferrals": 0,
        "observation": None,
        "fired": None,
        "evidence_id": None,
        "entry_id": None,
        "reason": None,
    }
    fields.update(values)
    return MonitorRun(**fields)


def test_a_run_shows_what_it_saw_and_what_fired_but_not_the_page_text() -> None:
    seen = Observation(
        http_status=200,
        final_url=URL,
        title="示例商品",
        text="secret main text " * 10,
        prices=("152.25",),
        available=True,
    )
    finding = Finding(PRICE_CHANGED, "价格变动 23.5% / price changed by 23.5%", {"old": "199.00"})
    public = service.run_public(
        run_row(
            observation=seen.dumps(),
            fired=json.dumps([finding.to_json()]),
            evidence_id="ev-1",
            entry_id="monitor-1",
            reason="ignored while done",
        )
    )
    assert public.status_label == "已完成 done"
    assert public.observation is not None
    assert public.observation.model_dump() == {
        "http_status": 200,
        "title": "示例商品",
        "prices": ["152.25"],
        "available": True,
        "gone": False,
        "gone_reason": None,
    }
    assert "secret" not in public.model_dump_json()
    assert public.fired is not None and [f.rule for f in public.fired] == [PRICE_CHANGED]
    assert public.fired[0].rule_label == "价格变动 price changed"
    assert (public.evidence_url, public.entry_id) == ("/v1/evidence/ev-1", "monitor-1")
    assert public.reason is None


def test_a_failed_run_says_why_and_an_unfinished_one_has_no_findings() -> None:
    failed = service.run_public(run_row(status=FAILED, reason="refused: host gone"))
    assert (failed.status_label, failed.reason) == ("失败 failed", "refused: host gone")
    assert failed.observation is None and failed.fired is None
    quiet = service.run_public(run_row(fired="[]"))
    assert quiet.fired == []
