"""The 免罚清单 conditions as data and their check (evidence_api.leniency.conditions): pure,
no database. Bad condition documents are named after their defect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evidence_api.leniency.conditions import (
    MAX_NAMED,
    Conditions,
    ConditionsError,
    Facts,
    FirstOffence,
    PriorCase,
    check_conditions,
    day,
    offences_in_window,
    parse_conditions,
    refusal,
)
from evidence_api.leniency.service import builtin_items

AT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
ALL = Conditions(FirstOffence(730), corrected_in_time=True, minor_harm=True)


def prior(number: str, outcome: str, days_ago: float, item: str | None = None) -> PriorCase:
    return PriorCase(number, outcome, item, AT - timedelta(days=days_ago))


def facts(*priors: PriorCase, entity: int | None = 7, **stated: Any) -> Facts:
    stated = {"corrected_in_time": True, "minor_harm": True, **stated}
    return Facts(entity_id=entity, priors=priors, **stated)


def test_a_first_offence_with_every_condition_stated_passes() -> None:
    checks = check_conditions("qz-ec-01", ALL, facts(), AT)
    assert [(c.condition, c.passed) for c in checks] == [
        ("first_offence", True),
        ("corrected_in_time", True),
        ("minor_harm", True),
    ]
    assert checks[0].checked == (
        "经营主体 #7 在 2024-12-03 至 2026-12-03（730 日）内"
        "以行政处罚、减轻处罚或不予处罚结案的案件"
    )
    assert refusal("qz-ec-01", "no_penalty", checks) is None


def test_a_second_offence_names_the_earlier_case_in_china_time() -> None:
    # 2026-04-30T20:00Z is 2026-05-01 04:00 in Beijing: the date officers read
    earlier = PriorCase(
        "QZ-2026-0012", "no_penalty", "qz-ec-01", datetime(2026, 4, 30, 20, 0, tzinfo=UTC)
    )
    checks = check_conditions("qz-ec-01", ALL, facts(earlier), AT)
    assert checks[0].found == "非首次违法：案件 QZ-2026-0012 于 2026-05-01 以不予处罚结案"
    text = refusal("qz-ec-01", "no_penalty", checks)
    assert text == (
        "the conditions of leniency item 'qz-ec-01' for no_penalty (不予处罚) are not met: "
        "first_offence (首次违法): 非首次违法：案件 QZ-2026-0012 于 2026-05-01 以不予处罚结案"
    )


@pytest.mark.parametrize(
    ("days_ago", "counts"),
    [(729.99, True), (730, False), (731, False), (0, True), (-0.01, True)],
    ids=["inside-the-window", "at-the-edge", "outside", "same-moment", "closed-just-after"],
)
def test_the_window_is_open_at_its_start(days_ago: float, counts: bool) -> None:
    hits = offences_in_window([prior("A", "penalty", days_ago)], FirstOffence(730), "x", AT)
    assert bool(hits) is counts


def test_not_filed_is_no_offence_and_same_item_scope_reads_the_item() -> None:
    history = [prior("NF", "not_filed", 1), prior("P", "penalty", 2), prior("I", "reduced", 3, "i")]
    assert [p.number for p in offences_in_window(history, FirstOffence(730), "i", AT)] == ["P", "I"]
    same = FirstOffence(730, scope="same_item")
    assert [p.number for p in offences_in_window(history, same, "i", AT)] == ["I"]
    assert offences_in_window(history, same, "other", AT) == []


def test_many_earlier_cases_are_named_up_to_a_limit_newest_first() -> None:
    history = [prior(f"C{n}", "penalty", n + 1) for n in range(MAX_NAMED + 2)]
    found = check_conditions("x", ALL, facts(*history), AT)[0].found
    assert found.index("C0") < found.index("C1")
    assert f"C{MAX_NAMED - 1}" in found and f"C{MAX_NAMED} " not in found
    assert found.endswith("（另有 2 件）")


def test_a_case_of_another_unit_is_named_without_its_number() -> None:
    hidden = PriorCase("SECRET-1", "penalty", None, AT - timedelta(days=3), visible=False)
    found = check_conditions("x", ALL, facts(hidden), AT)[0].found
    assert "SECRET-1" not in found and "其他单位办理的一件案件 于" in found


def test_statements_false_or_missing_fail_each_with_its_reason() -> None:
    checks = check_conditions("x", ALL, facts(corrected_in_time=False, minor_harm=None), AT)
    assert [(c.condition, c.passed, c.found) for c in checks[1:]] == [
        ("corrected_in_time", False, "未在期限内改正"),
        ("minor_harm", False, "未说明危害后果是否轻微（minor_harm）"),
    ]
    text = refusal("x", "reduced", checks)
    assert text is not None and "减轻处罚" in text and "first_offence" not in text


def test_no_entity_means_first_offence_cannot_be_shown() -> None:
    (check,) = check_conditions("x", Conditions(FirstOffence(30)), facts(entity=None), AT)
    assert not check.passed and check.found == "案件未关联经营主体，无法核查是否首次违法"


def test_only_the_item_s_conditions_are_checked() -> None:
    only = Conditions(corrected_in_time=True)
    checks = check_conditions("x", only, facts(prior("P", "penalty", 1), minor_harm=False), AT)
    assert [c.condition for c in checks] == ["corrected_in_time"]


def test_evidence_cited_is_named_in_what_was_found() -> None:
    stated = Facts(7, True, True, evidence_ids=("ev-" + "a" * 28,))
    assert "ev-" + "a" * 28 in check_conditions("x", ALL, stated, AT)[1].found


def test_day_is_china_standard_time() -> None:
    assert day(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == "2027-01-01"
    assert day(datetime(2026, 12, 31, 15, 59, tzinfo=UTC)) == "2026-12-31"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "an item needs at least one condition"),
        ({"corrected_in_time": False}, "an item needs at least one condition"),
        ({"first_time": True}, "unknown condition 'first_time'"),
        ({"first_offence": 730}, "first_offence: an object"),
        ({"first_offence": {"window_days": 0}}, "window_days: an integer from 1 to 3650"),
        ({"first_offence": {"window_days": 3651}}, "window_days: an integer from 1 to 3650"),
        ({"first_offence": {"window_days": True}}, "window_days: an integer from 1 to 3650"),
        ({"first_offence": {"window_days": 30.0}}, "window_days: an integer from 1 to 3650"),
        ({"first_offence": {"window_days": 30, "scope": "unit"}}, "scope: one of"),
        ({"first_offence": {"window_days": 30, "since": 1}}, "unknown key 'since'"),
        ({"minor_harm": "yes"}, "minor_harm: true or false"),
    ],
    ids=[
        "empty",
        "nothing-required",
        "unknown-condition",
        "window-not-an-object",
        "window-zero",
        "window-over-ten-years",
        "window-boolean",
        "window-float",
        "unknown-scope",
        "unknown-window-key",
        "flag-not-boolean",
    ],
)
def test_bad_condition_documents_are_refused_naming_the_key(
    document: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConditionsError) as refused:
        parse_conditions(document)
    assert message in str(refused.value)


def test_a_document_round_trips_and_the_edges_pass() -> None:
    for days in (1, 3650):
        parsed = parse_conditions({"first_offence": {"window_days": days}, "minor_harm": True})
        assert parsed == Conditions(FirstOffence(days, "any_case"), minor_harm=True)
        assert parse_conditions(parsed.as_json()) == parsed


def test_the_built_in_list_parses_and_cites_the_penalty_law() -> None:
    items = builtin_items()
    assert 8 <= len(items) <= 12
    assert len({i.code for i in items}) == len(items)
    for item in items:
        parsed = parse_conditions(item.conditions.model_dump(mode="json"))
        assert parsed.first_offence is not None, item.code
        assert "《中华人民共和国行政处罚法》" in item.legal_basis, item.code
        assert len(item.code) <= 32
