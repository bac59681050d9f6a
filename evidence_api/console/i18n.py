"""The console's messages in Simplified Chinese (default) and English.

Each page area keeps its own catalog, ``i18n/<area>.json``: ``{"key": {"zh": "…",
"en": "…"}}``. They are merged at first use; a key defined twice, or missing a
language, is an error (a unit test loads them all). Templates call ``t("key")`` or
``t("key", name=…)`` (``str.format`` fields); an unknown key shows as itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

LANGS = ("zh", "en")
CATALOGS = Path(__file__).parent / "i18n"


class CatalogError(ValueError):
    """A catalog file defines a key twice or leaves a language out."""


@lru_cache(maxsize=1)
def messages() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for path in sorted(CATALOGS.glob("*.json")):
        catalog = json.loads(path.read_text(encoding="utf-8"))
        for key, texts in catalog.items():
            if key in merged:
                raise CatalogError(f"{path.name}: {key!r} is already defined")
            missing = [lang for lang in LANGS if not isinstance(texts.get(lang), str)]
            if missing:
                raise CatalogError(f"{path.name}: {key!r} has no {', '.join(missing)} text")
            merged[key] = texts
    return merged


def translator(lang: str) -> Callable[..., str]:
    """``t(key, **fields)`` in ``lang``."""
    table = messages()

    def t(key: str, **fields: Any) -> str:
        texts = table.get(key)
        if texts is None:
            return key
        text = texts[lang]
        return text.format(**fields) if fields else text

    return t
