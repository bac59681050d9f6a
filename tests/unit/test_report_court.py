"""The appraisal report speaks to a Chinese court: times in 北京时间 with their offset,
each tier's detail in Chinese, and the portal URL of the QR code printed under it.

Before: the capture and entry times were printed as recorded (``…Z``), the tiers'
details in the verifier's English, and the QR code's target was not shown at all.
"""

from __future__ import annotations

import pytest

from tests.unit.test_report import BUNDLE, flat, make_input, rendered, text_of
from verifier.explain import detail_zh
from verifier.report import render_pdf
from verifier.verify import Status, TierResult, verify_bundle


@pytest.fixture(scope="module")
def zh_text() -> str:
    return text_of(rendered("zh"))


def test_times_are_in_beijing_time_with_the_offset(zh_text: str) -> None:
    assert "生成时间（北京时间）: 2026-11-26 14:00:01 (UTC+08:00)" in zh_text
    manifest = BUNDLE.manifest
    assert manifest is not None and manifest.captured_at == "2026-11-26T06:00:00Z"
    squeezed = flat(zh_text)
    assert flat("2026-11-26 14:00:00 (UTC+08:00)（记录值 2026-11-26T06:00:00Z）") in squeezed
    assert flat(f"（记录值 {BUNDLE.entry.at}）") in squeezed
    assert "取证时间（北京时间）" in zh_text and "记录时间（北京时间）" in zh_text


def test_the_english_report_keeps_the_recorded_times() -> None:
    text = text_of(rendered("en"))
    assert "Generated (UTC): 2026-11-26 06:00:01 UTC" in text
    assert "2026-11-26T06:00:00Z" in text and "记录值" not in text


def test_the_portal_url_is_printed_under_the_qr_code(zh_text: str) -> None:
    data = make_input()
    assert data.portal_url is not None
    assert flat(data.portal_url) in flat(zh_text)
    without = text_of(rendered("zh", portal=False))
    assert "leaf=" not in without


@pytest.mark.parametrize("case", ["verified", "incomplete"])
def test_every_tier_detail_is_in_chinese_in_the_chinese_report(case: str) -> None:
    data = make_input()
    pdf = rendered("zh")
    if case == "incomplete":
        report = verify_bundle(BUNDLE, files=[], log_keys=[])
        data = make_input(files={}, report=report, trusted_keys=[], rpc_endpoints=[])
        pdf = render_pdf(data)
    text = flat(text_of(pdf))
    for tier in data.report.tiers:
        assert flat(detail_zh(tier)) in text, tier
        if tier.tier < 5:  # tier 5's detail here comes from the tests' stand-in chain
            assert "原文" not in detail_zh(tier), tier  # every detail has a translation
            assert flat(tier.detail) not in text, tier  # and the English is not printed


@pytest.mark.parametrize(
    ("detail", "status", "expected"),
    [
        (
            "all 3 files match SHA-256 and SM3",
            Status.VERIFIED,
            "全部 3 个文件的 SHA-256 与 SM3 均一致",
        ),
        ("no files given (3 in the manifest)", Status.NOT_CHECKED, "未提供文件（清单列有 3 个）"),
        (
            "a.html: SHA-256 ab12 differs from the manifest's cd34",
            Status.FAILED,
            "a.html：SHA-256 实测为 ab12，与清单记载的 cd34 不一致",
        ),
        ("leaf 4 is in the tree of size 9", Status.VERIFIED, "第 4 号叶子在规模为 9 的日志树中"),
        ("chain not checked (offline)", Status.NOT_CHECKED, "未查询区块链（离线核验）"),
        ("skipped (--through 4)", Status.SKIPPED, "已跳过（--through 4）"),
        (
            "size 9 recorded in block 12 at 2026-11-18 11:06:40 (UTC) by tx 0xab; "
            "7 confirmations (need 2); endpoints: http://node-a.test:8545",
            Status.VERIFIED,
            "规模 9 的日志树根于 2026-11-18 11:06:40（UTC）记录在第 12 号区块（交易 0xab）；"
            "已有 7 个确认（要求至少 2 个）；查询节点：http://node-a.test:8545",
        ),
        ("something new", Status.FAILED, "未通过（原文：something new）"),  # never bare English
    ],
)
def test_detail_translations(detail: str, status: Status, expected: str) -> None:
    assert detail_zh(TierResult(1, status, detail)) == expected
