"""Codes of 轻违不罚 / 容错减罚 and their Chinese labels.

Codes are stored and logged; labels are for people (console, API ``*_label`` fields)."""

from __future__ import annotations

from typing import Final

#: How a closed case ended (``case_file.outcome``), in the order the close form offers them.
OUTCOMES: Final[dict[str, str]] = {
    "penalty": "行政处罚",
    "reduced": "减轻处罚",
    "no_penalty": "不予处罚",
    "not_filed": "不予立案",
}
#: The outcomes a 免罚清单 item may allow.
LENIENT: Final[tuple[str, ...]] = ("reduced", "no_penalty")
#: The outcomes that count as an earlier offence for ``first_offence``.
OFFENCES: Final[tuple[str, ...]] = ("penalty", "reduced", "no_penalty")

#: Condition code -> label.
CONDITIONS: Final[dict[str, str]] = {
    "first_offence": "首次违法",
    "corrected_in_time": "及时改正",
    "minor_harm": "危害后果轻微",
}
#: ``first_offence`` scope -> label.
SCOPES: Final[dict[str, str]] = {
    "any_case": "任何违法案件",
    "same_item": "援引同一清单事项的案件",
}
#: The credit record kind written for each outcome of a case with an entity.
CREDIT_KINDS: Final[dict[str, str]] = {
    "penalty": "case_penalty",
    "reduced": "case_reduced",
    "no_penalty": "case_no_penalty",
}
