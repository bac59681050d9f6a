"""The professional-complainant heuristics (evidence_api.complaints.flags): each fires on
its pattern with its figures, none on ordinary complaints, keywords never alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evidence_api.complaints import flags
from evidence_api.complaints.flags import THRESHOLDS, Seen

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def seen(
    key: str, text: str, target: str, *, category: str = "quality", days_ago: float = 0
) -> Seen:
    return Seen(
        complainant_key=key,
        text_sha256=flags.text_sha256(text),
        normalised=flags.normalise_text(text),
        target=target,
        category=category,
        received_at=NOW - timedelta(days=days_ago),
    )


def template(i: int) -> str:
    return f"我在第{i}家店买的东西标签不合格，订单号{1000 + i * 37}，要求十倍赔偿。"


def codes(reasons: list[flags.Reason]) -> set[str]:
    return {r.code for r in reasons}


def test_normalise_text_ignores_numbers_spacing_punctuation_and_the_target() -> None:
    a = flags.normalise_text("在 甲店 买的，订单 123！", "甲店")
    b = flags.normalise_text("在乙店买的,订单456!", "乙店")
    assert a == b == "在买的订单"
    assert flags.text_sha256("ＡＢＣ") == flags.text_sha256("abc")  # NFKC, case-folded


def test_the_professional_pattern_fires_every_structural_heuristic() -> None:
    recent = [seen("k", template(i), f"name:shop{i}", days_ago=i * 0.5) for i in range(1, 12)]
    new = seen("k", template(12), "name:shop12")
    reasons = flags.evaluate(new, template(12), recent)
    assert {"volume", "same_text", "near_text", "targets", "category_pattern", "keywords"} <= codes(
        reasons
    )
    figures = {r.code: r.as_dict() for r in reasons}
    assert figures["volume"]["count"] == 12
    assert figures["volume"]["threshold"] == THRESHOLDS["volume_count"]
    assert figures["targets"]["targets"] == 12
    assert figures["keywords"]["keywords"] == ["十倍赔偿"]
    assert figures["volume"]["label"] == "短期内投诉数量多"
    assert flags.flagged(reasons)


def test_ordinary_complaints_from_different_people_do_not_fire() -> None:
    recent = [
        seen("a", "电饭煲用了三天就坏了", "name:x"),
        seen("b", "退货申请一周无人处理", "name:y"),
        seen("c", "页面写着买一送一只发了一件", "name:z"),
    ]
    new = seen("d", "结算价格比标价高", "name:w")
    assert flags.evaluate(new, "结算价格比标价高", recent) == []


def test_keywords_alone_never_flag() -> None:
    new = seen("a", "假一赔十，要求十倍赔偿", "name:x")
    reasons = flags.evaluate(new, "假一赔十，要求十倍赔偿", [])
    assert reasons == [] and not flags.flagged(reasons)


def test_volume_counts_only_the_window() -> None:
    count = int(THRESHOLDS["volume_count"])
    days = THRESHOLDS["volume_days"]
    old = [seen("k", f"不同内容{i}号", f"name:{i}", days_ago=days + 1) for i in range(count)]
    new = seen("k", "新的内容", "name:n")
    assert "volume" not in codes(flags.evaluate(new, "新的内容", old))
    inside = [
        seen("k", f"不同内容{chr(0x4E00 + i * 97)}", "name:same", days_ago=1)
        for i in range(count - 1)
    ]
    assert "volume" in codes(flags.evaluate(new, "新的内容", inside))


def test_same_text_needs_several_targets() -> None:
    text = "完全相同的投诉文本内容"
    same_target = [seen(f"p{i}", text, "name:one") for i in range(5)]
    new = seen("q", text, "name:one")
    assert "same_text" not in codes(flags.evaluate(new, text, same_target))
    spread = [seen(f"p{i}", text, f"name:{i}") for i in range(2)]
    reasons = flags.evaluate(new, text, spread)
    assert "same_text" in codes(reasons)


@pytest.mark.parametrize(
    ("a", "b", "near"), [("abcdefgh", "abcdefgh", True), ("abcdefgh", "zyxwvuts", False)]
)
def test_similarity(a: str, b: str, near: bool) -> None:
    assert (flags.similarity(a, b) >= THRESHOLDS["near_text_similarity"]) is near
