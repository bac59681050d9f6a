"""The rules a monitor applies, as configured (``POST /v1/monitors``' ``rules``).

Each rule has its own switch and parameters; docs/monitoring.md §3 says exactly when
each fires and with which reason. Validated here (bounded; extra fields refused); the
evaluation is :func:`evidence_api.monitoring.rules.evaluate`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

Word = Annotated[str, Field(min_length=1, max_length=64)]
Pattern = Annotated[str, Field(min_length=1, max_length=128)]
ListName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
Price = Annotated[Decimal, Field(ge=0, le=Decimal("1e12"), max_digits=16, decimal_places=2)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContentRule(_Strict):
    """``content_changed``: the main text changed by more than ``threshold`` (0–1, the
    share of the text that differs: 1 − difflib's similarity ratio)."""

    enabled: bool = True
    threshold: Annotated[float, Field(gt=0, le=1)] = 0.2


class PriceRule(_Strict):
    """``price_changed``: the first price moved by more than ``change_percent`` % from
    the baseline's; ``price_bound``: the first price is below ``min`` or above ``max``."""

    enabled: bool = True
    change_percent: Annotated[float | None, Field(gt=0, le=10_000)] = 10.0
    min: Price | None = None
    max: Price | None = None

    @model_validator(mode="after")
    def _ordered(self) -> PriceRule:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not be above max")
        return self


class WordsRule(_Strict):
    """``prohibited_words``: a word of the named lists (shipped data files, each with its
    legal basis) or of ``extra`` appears in the title or main text (and did not in the
    baseline, unless ``every_run``)."""

    enabled: bool = True
    lists: Annotated[list[ListName], Field(max_length=32)] = Field(
        default_factory=lambda: ["advertising-law-art9", "prohibited-goods"]
    )
    extra: Annotated[list[Word], Field(max_length=200)] = Field(default_factory=list)
    #: fire on every run that finds a word, not only when a word first appears
    every_run: bool = False


class GoneRule(_Strict):
    """``gone``: the listing answers 404/410 or shows a removed-page pattern (shipped
    ones plus ``patterns``); ``back``: a gone listing is found again."""

    enabled: bool = True
    patterns: Annotated[list[Pattern], Field(max_length=50)] = Field(default_factory=list)


class Rules(_Strict):
    content_changed: ContentRule = Field(default_factory=ContentRule)
    price: PriceRule = Field(default_factory=PriceRule)
    prohibited_words: WordsRule = Field(default_factory=WordsRule)
    gone: GoneRule = Field(default_factory=GoneRule)
