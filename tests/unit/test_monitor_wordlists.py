"""Word lists: the shipped files, the validated format (bad files named after their
defect), and matching (each word once, first-occurrence order, longest at a place,
Latin case-insensitive, cached) — docs/monitoring.md §5."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from evidence_api.monitoring.wordlists import (
    EXTRA,
    MAX_WORD_CHARS,
    MAX_WORDS,
    SHIPPED,
    WordHit,
    WordList,
    WordListError,
    WordLists,
    load_wordlists,
    shipped_wordlists,
)

BOTH = ["advertising-law-art9", "prohibited-goods"]


def good(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "name": "test-list",
        "title": "测试 test",
        "legal_basis": "《某法》 some law",
        "category": "advertising",
        "words": ["最佳", "Best"],
    }
    value.update(changes)
    return value


def write(folder: Path, data: object, name: str = "test-list") -> Path:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_shipped_lists_load_and_name_their_legal_basis() -> None:
    lists = shipped_wordlists()
    assert set(BOTH) <= set(lists.names())
    art9 = lists.get("advertising-law-art9")
    assert "《中华人民共和国广告法》第九条第（三）项" in art9.legal_basis
    assert art9.category == "advertising"
    for word in ("最佳", "最好", "最优", "第一", "唯一", "顶级", "国家级", "世界级", "最高级"):
        assert word in art9.words
    assert len(art9.words) >= 40
    goods = lists.get("prohibited-goods")
    assert "《中华人民共和国电子商务法》第十三条" in goods.legal_basis
    for word in ("枪支", "弹药", "管制刀具", "仿真枪", "毒品", "迷药", "窃听器", "假币", "象牙"):
        assert word in goods.words
    assert shipped_wordlists() is lists  # cached
    assert sorted(path.stem for path in SHIPPED.glob("*.json")) == list(lists.names())


def test_shipped_files_are_in_the_package_data() -> None:
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"monitoring/wordlists/*.json"' in pyproject


def test_match_reports_each_word_once_in_first_occurrence_order() -> None:
    lists = shipped_wordlists()
    text = "全网最低价！本店最佳，国家级品质，最佳之选。另售仿真枪与象牙制品"
    hits = lists.match(text, lists=BOTH)
    assert [(hit.word, hit.list) for hit in hits] == [
        ("全网最低价", "advertising-law-art9"),  # longest at its place, not 最低价
        ("最佳", "advertising-law-art9"),
        ("国家级", "advertising-law-art9"),
        ("仿真枪", "prohibited-goods"),
        ("象牙制品", "prohibited-goods"),
    ]
    assert hits[0].legal_basis == lists.get("advertising-law-art9").legal_basis


def test_match_only_the_lists_asked_for() -> None:
    lists = shipped_wordlists()
    text = "最佳仿真枪"
    assert [hit.word for hit in lists.match(text, lists=["prohibited-goods"])] == ["仿真枪"]
    assert [hit.word for hit in lists.match(text, lists=["advertising-law-art9"])] == ["最佳"]
    assert lists.match(text, lists=[]) == []
    assert lists.match("", lists=BOTH) == []
    # a list no longer loaded is ignored at match time (unknown() refuses it up front)
    assert [hit.word for hit in lists.match(text, lists=["gone-list", "prohibited-goods"])] == [
        "仿真枪"
    ]


def test_extra_words_and_latin_case() -> None:
    lists = shipped_wordlists()
    hits = lists.match(
        "The NO.1 choice, no.1 again; Miracle  Cure here", lists=BOTH, extra=["miracle cure"]
    )
    assert hits == [
        WordHit("NO.1", "advertising-law-art9", lists.get("advertising-law-art9").legal_basis),
    ]  # text is matched as given; a caller normalises whitespace first (extract does)
    hits = lists.match("The no.1 choice; Miracle Cure here", lists=BOTH, extra=["miracle cure"])
    assert hits[1] == WordHit("miracle cure", EXTRA, "")
    assert hits[0].word == "NO.1"  # as written in the list


def test_word_in_two_places_is_reported_under_the_first_list_given(tmp_path: Path) -> None:
    write(tmp_path, good(name="aaa", words=["共同", "甲"]), "aaa")
    write(tmp_path, good(name="bbb", words=["共同", "乙"], legal_basis="乙法"), "bbb")
    lists = load_wordlists(tmp_path)
    assert lists.match("共同", lists=["bbb", "aaa"], extra=["共同"])[0].list == "bbb"
    assert lists.match("共同", lists=["aaa", "bbb"])[0].list == "aaa"
    assert lists.match("共同", lists=[], extra=["共同"])[0].list == EXTRA


def test_unknown_names() -> None:
    lists = shipped_wordlists()
    assert lists.unknown(["prohibited-goods", "nope", "advertising-law-art9", "x"]) == [
        "nope",
        "x",
    ]
    assert lists.unknown([]) == []


def test_matcher_is_cached_per_combination() -> None:
    lists = load_wordlists()
    lists.match("最佳", lists=BOTH)
    cached = dict(lists._cache)
    lists.match("另一段文字", lists=BOTH)
    assert lists._cache == cached  # the same compiled expression reused
    lists.match("最佳", lists=BOTH, extra=["新词"])
    assert len(lists._cache) == len(cached) + 1


def test_matching_a_long_text_against_many_words_is_fast(tmp_path: Path) -> None:
    words = [f"词{n:04d}" for n in range(MAX_WORDS)]
    write(tmp_path, good(words=words))
    lists = load_wordlists(tmp_path)
    text = "普通的商品描述 abc 词12 " * 8000 + "词4999"
    start = time.monotonic()
    hits = lists.match(text, lists=["test-list"])
    assert [hit.word for hit in hits] == ["词4999"]
    assert time.monotonic() - start < 10


def test_a_folder_replaces_the_shipped_lists(tmp_path: Path) -> None:
    write(tmp_path, good())
    lists = load_wordlists(tmp_path)
    assert lists.names() == ("test-list",)
    assert lists.get("test-list") == WordList(
        "test-list", "测试 test", "《某法》 some law", "advertising", ("最佳", "Best")
    )
    (tmp_path / "notes.txt").write_text("not a list")
    assert load_wordlists(tmp_path).names() == ("test-list",)


def test_limits_exactly_at_the_edge(tmp_path: Path) -> None:
    words = [f"w{n}" for n in range(MAX_WORDS)]
    words[0] = "字" * MAX_WORD_CHARS
    write(tmp_path, good(words=words))
    assert len(load_wordlists(tmp_path).get("test-list").words) == MAX_WORDS
    write(tmp_path, good(words=[*words, "one-more"]))
    with pytest.raises(WordListError, match="1 to 5000 words"):
        load_wordlists(tmp_path)
    write(tmp_path, good(words=["字" * (MAX_WORD_CHARS + 1)]))
    with pytest.raises(WordListError, match=r"words\[0\] must be a string of 1 to 64"):
        load_wordlists(tmp_path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be a JSON object"),
        (good(words=[]), "words must be a list of 1 to 5000"),
        (good(words="最佳"), "words must be a list"),
        (good(words=["最佳", "最佳"]), r"words\[1\] '最佳' repeats words\[0\]"),
        (good(words=["Best", "best"]), r"words\[1\] 'best' repeats words\[0\]"),
        (good(words=["最佳", ""]), r"words\[1\] must be a string of 1 to 64"),
        (good(words=["最佳", 7]), r"words\[1\] must be a string"),
        (good(words=[" 最佳"]), "leading, trailing or repeated whitespace"),
        (good(words=["最  佳"]), "leading, trailing or repeated whitespace"),
        (good(name="Test-List"), "name must match"),
        (good(name="-x"), "name must match"),
        (good(name="other-name"), "name 'other-name' differs from the file name"),
        (good(title=""), "title must be a non-empty string"),
        (good(title="x" * 257), "title must be a non-empty string of ≤ 256"),
        (good(legal_basis=None), "legal_basis must be a non-empty string"),
        (good(category="Ads!"), "category must match"),
        ({k: v for k, v in good().items() if k != "legal_basis"}, "missing legal_basis"),
        (good(description="extra"), "unexpected description"),
    ],
    ids=[
        "not-an-object",
        "no-words",
        "words-not-a-list",
        "duplicate-word",
        "duplicate-word-by-case",
        "empty-word",
        "word-not-a-string",
        "word-leading-space",
        "word-double-space",
        "name-upper-case",
        "name-leading-dash",
        "name-not-the-file-name",
        "empty-title",
        "title-too-long",
        "legal-basis-missing-value",
        "bad-category",
        "legal-basis-key-missing",
        "unexpected-key",
    ],
)
def test_malformed_files_are_refused_naming_the_file(
    tmp_path: Path, data: object, message: str
) -> None:
    write(tmp_path, data)
    with pytest.raises(WordListError, match=message) as raised:
        load_wordlists(tmp_path)
    assert str(raised.value).startswith("test-list.json: ")


def test_not_json_and_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "test-list.json").write_text('{"name": ', encoding="utf-8")
    with pytest.raises(WordListError, match=r"^test-list.json: not JSON"):
        load_wordlists(tmp_path)
    (tmp_path / "test-list.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(WordListError, match=r"^test-list.json: cannot be read"):
        load_wordlists(tmp_path)
    (tmp_path / "test-list.json").write_text("[" * 100_000, encoding="utf-8")
    with pytest.raises(WordListError, match=r"^test-list.json: not JSON"):
        load_wordlists(tmp_path)


def test_too_large_file(tmp_path: Path) -> None:
    (tmp_path / "test-list.json").write_text(" " * 1_000_001, encoding="utf-8")
    with pytest.raises(WordListError, match="larger than 1000000 bytes"):
        load_wordlists(tmp_path)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(WordListError, match="not a folder of word lists"):
        load_wordlists(tmp_path / "absent")


def test_wordlists_from_lists_directly() -> None:
    lists = WordLists([WordList("a", "A", "法", "c", ("x",))])
    assert lists.names() == ("a",)
    assert lists.match("XYZ", lists=["a"]) == [WordHit("x", "a", "法")]


def test_loaded_folder_is_kept_until_a_file_changes(tmp_path: Path) -> None:
    write(tmp_path, good())
    first = load_wordlists(tmp_path)
    assert load_wordlists(tmp_path) is first  # unchanged: the same lists and matchers
    assert load_wordlists() is shipped_wordlists()
    write(tmp_path, good(words=["最佳", "Best", "新增词"]))
    edited = load_wordlists(tmp_path)
    assert edited is not first
    assert edited.get("test-list").words == ("最佳", "Best", "新增词")
    write(tmp_path, good(words=["重复", "重复"]))
    with pytest.raises(WordListError, match="repeats"):
        load_wordlists(tmp_path)  # a broken edit is refused, not served from the cache
