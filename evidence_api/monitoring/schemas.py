"""Request and response bodies of ``/v1/monitors`` (监测任务) and their runs.

Every field of a request is bounded here and extra fields are refused, so the service
(:mod:`evidence_api.monitoring.service`) only checks what needs the settings or the
database: the cron expression and the minimum interval, the capture address policy,
the entity and platform, the word lists. A PATCH body has the same field rules, every
field optional; which fields it named is ``model_fields_set`` (``null`` clears the
entity or the platform, and is refused for the rest).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from evidence_api.capture.request import MAX_URL, HttpUrl
from evidence_api.core.auth import PLATFORM_CODE
from evidence_api.monitoring.models import DONE, FAILED, QUEUED, RUNNING
from evidence_api.monitoring.ruleset import Rules
from evidence_api.units.schemas import Owned, OwnerField, UnitCode

MONITOR_ID = r"^mon-[0-9a-f]{28}$"
RUN_ID = r"^mrun-[0-9a-f]{28}$"
#: The placeholder a search template carries exactly once.
KEYWORD = "{keyword}"
#: Longest monitor name and search keyword.
MAX_NAME = 256
MAX_KEYWORD = 256
#: Longest cron expression (``monitor.cron`` holds 128 characters).
MAX_CRON = 128
#: Longest interval between runs: a year (the shortest is a setting, monitor_min_interval).
MAX_INTERVAL = 366 * 86400
#: Largest entity id (a signed 64-bit key).
MAX_ID = 2**63 - 1

Kind = Literal["listing", "shop", "search"]
Archive = Literal["on_alert", "always", "never"]
RunStatus = Literal["queued", "running", "done", "failed"]

#: Labels for officers (Chinese with the English alongside).
KIND_LABELS: dict[str, str] = {
    "listing": "商品页 listing",
    "shop": "店铺页 shop",
    "search": "平台搜索 search",
}
ARCHIVE_LABELS: dict[str, str] = {
    "on_alert": "预警时完整存档 full archive when a rule fires",
    "always": "每次完整存档 full archive on every run",
    "never": "仅轻量存档 light capture only",
}
RUN_STATUS_LABELS: dict[str, str] = {
    QUEUED: "排队中 queued",
    RUNNING: "运行中 running",
    DONE: "已完成 done",
    FAILED: "失败 failed",
}

PlatformCode = Annotated[str, Field(pattern=PLATFORM_CODE, description="platform code")]
EntityId = Annotated[int, Field(ge=1, le=MAX_ID, description="trading entity id")]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME, description="监测任务名称")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


def _authority(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]


def _no_credentials(url: str) -> str:
    if "@" in _authority(url):
        raise ValueError("URL must not carry a user name or password")
    return url


class PageTarget(_Body):
    """One listing (商品页) or one shop page (店铺页), watched at ``url``."""

    kind: Literal["listing", "shop"]
    url: HttpUrl

    _url = field_validator("url")(_no_credentials)


class SearchTarget(_Body):
    """A platform search (平台搜索): ``url_template`` with ``{keyword}`` replaced by the
    URL-encoded ``keyword`` (every byte but letters, digits and ``-._~`` percent-encoded)."""

    kind: Literal["search"]
    url_template: HttpUrl = Field(
        description="an http(s) URL holding {keyword} exactly once, after the host, e.g. "
        "https://mall.example/search?q={keyword}"
    )
    keyword: Annotated[str, Field(min_length=1, max_length=MAX_KEYWORD)]

    @field_validator("url_template")
    @classmethod
    def _one_placeholder(cls, template: str) -> str:
        count = template.count(KEYWORD)
        if count != 1:
            raise ValueError(f"must hold {KEYWORD} exactly once (found {count})")
        if KEYWORD in _authority(template) or "{" in _authority(template):
            raise ValueError(f"{KEYWORD} must come after the host, not in it")
        return _no_credentials(template)

    @field_validator("keyword")
    @classmethod
    def _fits(cls, keyword: str, info: ValidationInfo) -> str:
        template = info.data.get("url_template")
        if isinstance(template, str) and len(fill(template, keyword)) > MAX_URL:
            raise ValueError(
                f"the search URL with the keyword encoded would exceed {MAX_URL} characters"
            )
        return keyword

    @property
    def url(self) -> str:
        return fill(self.url_template, self.keyword)


def fill(template: str, keyword: str) -> str:
    """The search URL: ``template`` with its ``{keyword}`` replaced by ``keyword``
    percent-encoded as UTF-8 (RFC 3986 unreserved characters kept)."""
    return template.replace(KEYWORD, quote(keyword, safe=""), 1)


Target = Annotated[PageTarget | SearchTarget, Field(discriminator="kind")]


class Schedule(_Body):
    """When the monitor runs: every ``interval_seconds``, or at a 5-field ``cron``
    expression's times (UTC); exactly one. Neither may run it more often than
    EVIDENCE_MONITOR_MIN_INTERVAL allows."""

    interval_seconds: Annotated[int, Field(ge=1, le=MAX_INTERVAL)] | None = None
    cron: Annotated[str, Field(min_length=1, max_length=MAX_CRON)] | None = Field(
        None, description="minute hour day-of-month month day-of-week, UTC, e.g. '0 9 * * *'"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Schedule:
        if (self.interval_seconds is None) == (self.cron is None):
            raise ValueError("give exactly one of interval_seconds and cron")
        return self


class MonitorCreate(_Body):
    """``POST /v1/monitors``: what to watch, when, for which entity, with which rules."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "某某旗舰店 保健品商品页",
                    "target": {"kind": "listing", "url": "https://mall.example.com/item/10086"},
                    "schedule": {"cron": "0 9 * * *"},
                    "platform": "example-mall",
                    "rules": {
                        "price": {"change_percent": 20.0},
                        "prohibited_words": {"lists": ["advertising-law-art9"], "extra": ["根治"]},
                    },
                    "archive": "on_alert",
                    "enabled": True,
                }
            ]
        }
    )

    name: Name
    target: Target
    schedule: Schedule
    entity_id: EntityId | None = None
    platform: PlatformCode | None = Field(
        None, description="platform code; default: the entity's platform"
    )
    rules: Rules = Field(default_factory=Rules)
    archive: Archive = Field(
        "on_alert",
        description="on_alert: light runs, a full capture when a rule fires; always: every "
        "run a full capture; never: the light capture is the evidence",
    )
    enabled: bool = True
    unit: UnitCode | None = OwnerField


class MonitorUpdate(_Body):
    """``PATCH /v1/monitors/{id}``: the named fields change, checked as on creation; the
    target is fixed (a new target is a new monitor: the baseline would not compare)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"schedule": {"interval_seconds": 3600}, "enabled": False}]}
    )

    name: Name | None = None
    schedule: Schedule | None = None
    entity_id: EntityId | None = None
    platform: PlatformCode | None = None
    rules: Rules | None = None
    archive: Archive | None = None
    enabled: bool | None = None
    unit: UnitCode | None = Field(
        None, description="assign to this unit (所属单位), in the caller's jurisdiction"
    )


# --- answers ----------------------------------------------------------------------------


class TargetPublic(BaseModel):
    kind: Kind
    kind_label: str
    url: str = Field(description="the URL each run captures")
    url_template: str | None
    keyword: str | None


class SchedulePublic(BaseModel):
    interval_seconds: int | None
    cron: str | None = Field(description="normalised (single spaces)")


class RunObservation(BaseModel):
    """What a run saw (the page's text itself is not shown here)."""

    http_status: int | None
    title: str
    prices: list[str] = Field(description="prices shown, decimal strings, page order")
    available: bool | None = Field(description="in stock; null: unknown")
    gone: bool
    gone_reason: str | None


class FiredRule(BaseModel):
    rule: str
    rule_label: str
    reason: str = Field(description="why it fired (Chinese, with the English alongside)")


class RunPublic(BaseModel):
    """One run of a monitor."""

    id: str
    status: RunStatus
    status_label: str
    scheduled_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int = Field(description="runs started (an interrupted run is retried once)")
    deferrals: int = Field(description="times the run waited because its host was busy")
    observation: RunObservation | None = Field(description="once done: what the run saw")
    fired: list[FiredRule] | None = Field(description="once done: the rules that fired")
    evidence_id: str | None = Field(description="the evidence kept, if any")
    evidence_url: str | None
    entry_id: str | None = Field(description="the `monitor` log entry recording the run")
    reason: str | None = Field(description="once failed: why")


class MonitorPublic(Owned):
    """A monitor (监测任务) as listed."""

    id: str
    name: str
    target: TargetPublic
    host: str = Field(description="the target's host (per-host limits apply to it)")
    schedule: SchedulePublic
    entity_id: int | None
    platform: str | None = Field(description="platform code")
    rules: Rules
    archive: Archive
    archive_label: str
    enabled: bool
    next_run_at: datetime | None = Field(description="the next scheduled run (null: disabled)")
    last_run_at: datetime | None
    gone: bool = Field(description="the listing was gone when last seen")
    created_by: str = Field(description="the officer who created it (pseudonym)")
    created_at: datetime
    updated_at: datetime
    runs_url: str


class MonitorDetail(MonitorPublic):
    """One monitor with its last run and its open alerts."""

    last_run: RunPublic | None
    open_alerts: int = Field(description="alerts of this monitor still open (待处理)")


class MonitorPage(BaseModel):
    items: list[MonitorPublic]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class RunPage(BaseModel):
    items: list[RunPublic]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class RunAccepted(BaseModel):
    """``202``: a run is queued now; follow it in ``runs_url``."""

    run_id: str
    status: RunStatus
    runs_url: str
