"""What an officer asks to capture: ``POST /v1/captures``'s body and the step language.

Steps are a small, validated language (docs/capture.md §2) so an officer can record a
process (搜索 → 进入店铺 → 打开商品页 → 查看价格) without writing code. Every field is
bounded here; the runner (:mod:`evidence_api.capture.browser`) trusts nothing else.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Longest URL accepted (the manifest's ``source.url`` holds 2048 characters).
MAX_URL = 2048
#: Most steps in one ``steps`` capture.
MAX_STEPS = 50
#: Longest CSS selector, text to type, or key name.
MAX_SELECTOR = 512
MAX_TEXT = 2048
#: Longest single ``wait`` step (seconds); the whole capture has its own limit.
MAX_WAIT_SECONDS = 60.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


HttpUrl = Annotated[
    str,
    Field(
        min_length=8,
        max_length=MAX_URL,
        pattern=r"^https?://[^\s/?#]+[^\s]*$",
        description="an absolute http(s) URL",
    ),
]
Selector = Annotated[str, Field(min_length=1, max_length=MAX_SELECTOR, description="CSS selector")]
Label = Annotated[
    str | None, Field(default=None, max_length=64, description="what this step shows (中文可)")
]


class Goto(_Strict):
    action: Literal["goto"]
    url: HttpUrl
    label: Label = None


class Click(_Strict):
    action: Literal["click"]
    selector: Selector
    label: Label = None


class Fill(_Strict):
    action: Literal["fill"]
    selector: Selector
    text: Annotated[str, Field(max_length=MAX_TEXT)]
    label: Label = None


class Press(_Strict):
    action: Literal["press"]
    key: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9+]+$")]
    selector: Selector | None = None
    label: Label = None


class Scroll(_Strict):
    action: Literal["scroll"]
    #: pixels down (negative: up); or to the bottom of the page when ``to_bottom``
    pixels: Annotated[int, Field(ge=-100_000, le=100_000)] = 0
    to_bottom: bool = False
    label: Label = None


class Wait(_Strict):
    action: Literal["wait"]
    #: one of: a selector to appear, network idle, or a number of seconds
    selector: Selector | None = None
    network_idle: bool = False
    seconds: Annotated[float | None, Field(gt=0, le=MAX_WAIT_SECONDS)] = None
    label: Label = None

    @model_validator(mode="after")
    def _one_condition(self) -> Wait:
        given = sum((self.selector is not None, self.network_idle, self.seconds is not None))
        if given != 1:
            raise ValueError("wait needs exactly one of selector, network_idle, seconds")
        return self


class Screenshot(_Strict):
    action: Literal["screenshot"]
    full_page: bool = False
    label: Label = None


Step = Annotated[
    Goto | Click | Fill | Press | Scroll | Wait | Screenshot, Field(discriminator="action")
]


class WaitFor(_Strict):
    """When the page counts as loaded (exactly one condition)."""

    selector: Selector | None = None
    network_idle: bool = False
    seconds: Annotated[float | None, Field(gt=0, le=MAX_WAIT_SECONDS)] = None

    @model_validator(mode="after")
    def _one_condition(self) -> WaitFor:
        given = sum((self.selector is not None, self.network_idle, self.seconds is not None))
        if given != 1:
            raise ValueError("wait_for needs exactly one of selector, network_idle, seconds")
        return self


class Viewport(_Strict):
    width: Annotated[int, Field(ge=320, le=3840)]
    height: Annotated[int, Field(ge=320, le=4320)]


ShortText = Annotated[str | None, Field(default=None, max_length=256)]


class CaptureRequest(_Strict):
    """``POST /v1/captures``: what to capture and how (validated; nothing else is trusted)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://mall.example.com/item/10086",
                    "mode": "page",
                    "case_id": "泉市监网案〔2026〕12号",
                    "platform": "example-mall",
                    "device": "desktop",
                    "full_page": True,
                    "notes": "涉嫌虚假宣传的商品页",
                }
            ]
        }
    )

    url: HttpUrl
    mode: Literal["page", "video", "steps"] = "page"
    steps: Annotated[list[Step], Field(max_length=MAX_STEPS)] | None = None
    case_id: ShortText = None
    entity: ShortText = None
    platform: ShortText = None
    device: Literal["desktop", "mobile"] = "desktop"
    viewport: Viewport | None = None
    wait_for: WaitFor | None = None
    full_page: bool = True
    notes: Annotated[str | None, Field(default=None, max_length=4096)] = None

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: str) -> str:
        authority = url.split("://", 1)[1].split("/", 1)[0]
        if "@" in authority:
            raise ValueError("URL must not carry a user name or password")
        return url

    @model_validator(mode="after")
    def _steps_for_steps_mode(self) -> CaptureRequest:
        if self.mode == "steps" and not self.steps:
            raise ValueError("mode 'steps' needs at least one step")
        if self.mode != "steps" and self.steps:
            raise ValueError(f"steps are only for mode 'steps', not {self.mode!r}")
        return self
