"""The appraisal report PDF (verifier.report) and the tier-5 facts it prints.

The bundle is a real sealed log entry (tests.support.factories) with a
synthetic anchor record consistent with its checkpoint; the verification
report comes from the real verify_bundle. What the PDF says is read back with
pypdf, and page 1 is rendered with poppler's pdftoppm (as a court's viewer would).
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from anchoring.entries import make_entry, sealed_bundle, sign_checkpoint
from anchoring.log import MerkleLog
from anchoring.store import MemoryNodeStore
from tests.support.factories import ORIGIN, Sealed, sealed_evidence
from verifier.bundle import Bundle
from verifier.chain.abi import log_id_for
from verifier.chain.anchor import EndpointResult, Expected, combine
from verifier.digests import FileDigest, digest_stream
from verifier.report import (
    ReportError,
    ReportFontError,
    ReportInput,
    qr_drawing,
    render_pdf,
    report_number,
)
from verifier.report.font import DEBIAN_FONTS, FONT_ENV, report_font
from verifier.report.sections import match_files
from verifier.verify import AnchorVerdict, Report, Status, TierResult, verify_bundle

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TX = "0x" + "a1" * 32
BLOCK_HASH = "0x" + "b2" * 32
TIMESTAMP = 1_795_000_000  # date -u -d @1795000000: 2026-11-18T11:06:40Z (19:06:40 +08:00)
GENERATED = datetime(2026, 11, 26, 6, 0, 1, tzinfo=UTC)
PORTAL = "https://verify.example.invalid/verify"
WQY = Path(DEBIAN_FONTS[0][0])
FILES = {
    "商品页面.html": b"<html>shop</html>",
    "shot.png": b"\x89PNG" + bytes(range(256)) * 4,
    "<b>x<br>&amp;.txt": b"a name that is markup",
}
FACTS = {"confirmations": 7, "min_confirmations": 2, "endpoints": "http://node-a.test:8545"}

SEALED = sealed_evidence(FILES)


def anchored(sealed: Sealed = SEALED) -> Bundle:
    """The sealed bundle with an anchor record for its very checkpoint (size, root)."""
    record = {
        "chain_id": 31337,
        "contract": CONTRACT,
        "log_id": "0x" + log_id_for(ORIGIN).hex(),
        "tx_hash": TX,
        "block_number": 10,
        "block_hash": BLOCK_HASH,
        "block_timestamp": TIMESTAMP,
        "size": sealed.log.size,
        "root": sealed.log.root().hex(),
    }
    data = {**sealed.bundle.model_dump(mode="json"), "status": "anchored", "anchor": record}
    return Bundle.model_validate(data)


BUNDLE = anchored()


def digests(files: Mapping[str, bytes]) -> list[FileDigest]:
    return [digest_stream(name, io.BytesIO(data)) for name, data in files.items()]


def chain_says(bundle: Bundle) -> AnchorVerdict:
    """A tier-5 check that answers with facts."""
    size = bundle.anchor.size if bundle.anchor else 0
    return AnchorVerdict(Status.VERIFIED, f"size {size} recorded", FACTS)


def make_input(
    files: Mapping[str, bytes] = FILES, bundle: Bundle = BUNDLE, **changes: Any
) -> ReportInput:
    hashed = digests(files)
    report = verify_bundle(
        bundle, files=hashed, log_keys=[SEALED.signer.verifier()], anchor_check=chain_says
    )
    fields: dict[str, Any] = {
        "report": report,
        "bundle": bundle,
        "files": hashed,
        "generated_at": GENERATED,
        "portal_url": f"{PORTAL}?leaf={report.leaf_hash}",
        "trusted_keys": [SEALED.signer.verifier().to_text()],
        "rpc_endpoints": ["http://node-a.test:8545"],
        "lang": "zh",
        **changes,
    }
    return ReportInput(**fields)


@functools.lru_cache(maxsize=16)  # the same report's text is read by several tests
def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@functools.cache
def rendered(lang: str = "zh", *, portal: bool = True) -> bytes:
    """The report of :func:`make_input` in ``lang``, with or without its portal URL, rendered
    once for the tests that read it (``test_same_input_same_bytes`` renders it again)."""
    return render_pdf(make_input(lang=lang) if portal else make_input(lang=lang, portal_url=None))


def flat(text: str) -> str:
    """Without whitespace: a digest wrapped inside its cell still reads as one string."""
    return "".join(text.split())


@pytest.fixture(scope="module")
def zh() -> tuple[ReportInput, bytes]:
    return make_input(), rendered("zh")


@pytest.fixture(scope="module")
def en() -> tuple[ReportInput, bytes]:
    return make_input(lang="en"), rendered("en")


# --- what the report says ----------------------------------------------------------------------


def assert_has_the_facts(data: ReportInput, text: str) -> None:
    squeezed = flat(text)
    assert data.report.outcome.value == "verified"
    assert "ev-0001" in text
    assert len(SEALED.manifest.files) == 3
    for listed in SEALED.manifest.files:
        assert listed.sha256 in squeezed, listed.name
        assert listed.sm3 in squeezed, listed.name
        assert flat(listed.name) in squeezed
    assert data.report.leaf_hash in squeezed
    assert BUNDLE.entry.body["manifest_sha256"] in squeezed
    assert TX in squeezed
    assert BLOCK_HASH in squeezed
    assert SEALED.log.root().hex() in squeezed
    assert report_number(data.report.leaf_hash, GENERATED) in text
    assert "2026-11-18 11:06:40 UTC" in text  # the block time, both ways
    assert "2026-11-18 19:06:40 (UTC+08:00)" in text
    assert "2026-11-26 14:00:01 (UTC+08:00)" in text  # generated, Beijing time
    for article in ("第十六条", "第十七条", "第十八条", "第十九条", "第十一条"):
        assert article in text
    assert flat("《人民法院在线诉讼规则》") in squeezed
    assert flat("《最高人民法院关于互联网法院审理案件若干问题的规定》") in squeezed


def test_chinese_report_states_every_fact(zh: tuple[ReportInput, bytes]) -> None:
    data, pdf = zh
    text = text_of(pdf)
    assert_has_the_facts(data, text)
    assert "电子证据核验报告" in text
    assert "核验通过 VERIFIED" in text
    assert text.count("通过 verified") == 5  # one result label per tier
    for name in ("文件哈希", "清单与条目", "默克尔包含证明", "检查点签名", "区块链锚定"):
        assert name in text
    assert "7 (要求至少 2)" in text  # tier 5's confirmations, from its facts
    assert "鉴定人签名" in text
    assert "<b>x<br>&amp;.txt" in text  # a file name is printed, never read as markup
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    assert f"第 1 页 共 {pages} 页" in text
    assert f"第 {pages} 页 共 {pages} 页" in text


def test_english_report_states_every_fact(en: tuple[ReportInput, bytes]) -> None:
    data, pdf = en
    text = text_of(pdf)
    assert_has_the_facts(data, text)
    assert "Electronic Evidence Verification Report" in text
    assert "VERIFIED 核验通过" in text
    assert text.count("verified 通过") == 5
    for name in ("File digests", "Manifest and entry", "Merkle inclusion", "Blockchain anchor"):
        assert name in text
    assert "7 (required at least 2)" in text
    assert "Appraiser's signature" in text
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    assert f"Page {pages} of {pages}" in text


def test_metadata_names_the_report(zh: tuple[ReportInput, bytes]) -> None:
    data, pdf = zh
    info = PdfReader(io.BytesIO(pdf)).metadata
    assert info is not None
    number = report_number(data.report.leaf_hash, GENERATED)
    assert info.title == f"电子证据核验报告 {number}"
    assert info.author == "evidence-verify"
    assert info.subject is not None and "ev-0001" in info.subject
    assert info["/CreationDate"] == "D:20261126060001+00'00'"  # generated_at, not "now"


def test_failed_file_is_the_conclusion_with_its_reason() -> None:
    changed = {**FILES, "shot.png": FILES["shot.png"][:-1] + b"\x00"}
    data = make_input(changed)
    assert data.report.outcome.value == "failed"
    failing = data.report.tiers[0]
    assert failing.status is Status.FAILED
    text = text_of(render_pdf(data))
    assert "核验失败 FAILED" in text
    assert "核验通过" not in text
    assert "第 1 层（文件哈希）未通过" in text
    assert flat(failing.detail) in flat(text)  # e.g. "shot.png: SHA-256 … differs …"
    assert "不一致" in text
    assert digests(changed)[1].sha256 in flat(text)  # the hashed digest beside the listed one


def test_incomplete_report_names_what_was_not_checked() -> None:
    report = verify_bundle(BUNDLE, files=[], log_keys=[])
    data = make_input(files={}, report=report, trusted_keys=[], rpc_endpoints=[])
    text = text_of(render_pdf(data))
    assert "核验未完成 INCOMPLETE" in text
    assert "未提供文件" in text
    assert "未查询（离线）" in text  # no confirmations without a chain check
    # The tier's detail in Chinese in a Chinese report, not the verifier's English.
    assert "未提供可信日志公钥（请用 --log-key 提供）" in flat(text) or "未提供可信日志公钥" in text
    assert "no trusted log key given" not in text


def test_a_sealed_stamp_shows_its_digest_and_no_anchor() -> None:
    log = MerkleLog(MemoryNodeStore())
    data = b"stamped bytes"
    stamp = make_entry(
        "stamp",
        "st-report",
        {"sha256": digest_stream("x", io.BytesIO(data)).sha256},
        at="2026-11-26T06:00:00.000Z",
        salt="33" * 16,
    )
    index = log.append([stamp.leaf_data()])
    note = sign_checkpoint(log, SEALED.signer)
    bundle = sealed_bundle(log, stamp, index, note, log.size, origin=ORIGIN)
    given = digests({"x.bin": data})
    report = verify_bundle(bundle, files=given, log_keys=[SEALED.signer.verifier()])
    data = ReportInput(report, bundle, given, GENERATED, None, [], [])
    text = text_of(render_pdf(data))
    assert "st-report" in text
    assert given[0].sha256 in flat(text)
    assert "尚未锚定到区块链" in text
    assert "核验未完成" in text  # tier 5: not yet anchored


# --- the PDF itself ----------------------------------------------------------------------------


def test_the_cjk_font_is_embedded(zh: tuple[ReportInput, bytes]) -> None:
    if not WQY.is_file():
        pytest.skip(f"{WQY} is not installed (make sysdeps installs fonts-wqy-microhei)")
    _, pdf = zh
    assert b"/FontFile2" in pdf
    info = PdfReader(io.BytesIO(pdf)).metadata
    assert info is not None and info.creator == "evidence-verify; font wqy-microhei.ttc (embedded)"
    assert "wqy-microhei.ttc (embedded)" in text_of(pdf)


def test_without_a_truetype_font_the_report_says_it_is_not_embedded() -> None:
    font = report_font(environ={}, candidates=())
    assert not font.embedded
    pdf = render_pdf(make_input(lang="en"), font=font)
    assert b"/FontFile2" not in pdf
    assert b"/STSong-Light" in pdf
    assert "STSong-Light (not embedded)" in text_of(pdf)
    info = PdfReader(io.BytesIO(pdf)).metadata
    assert info is not None and info.creator == "evidence-verify; font STSong-Light (not embedded)"


def test_a_font_named_in_the_environment_must_load(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-font.ttf"
    bogus.write_bytes(b"hello")
    for value in (str(bogus), str(tmp_path / "missing.ttf"), f"{WQY}#x"):
        with pytest.raises(ReportFontError, match=FONT_ENV):
            report_font(environ={FONT_ENV: value})
    if WQY.is_file():
        assert report_font(environ={FONT_ENV: f"{WQY}#0"}).embedded


def test_same_input_same_bytes(zh: tuple[ReportInput, bytes]) -> None:
    data, pdf = zh
    assert render_pdf(data) == pdf
    later = make_input(generated_at=GENERATED + timedelta(seconds=1))
    assert render_pdf(later) != pdf


def test_the_qr_code_points_to_the_portal(zh: tuple[ReportInput, bytes]) -> None:
    data, pdf = zh
    assert data.portal_url is not None
    assert qr_drawing(data.portal_url).value == data.portal_url
    # Drawn as vector modules on page 1: hundreds of filled rectangles ("re" operators).
    with_qr = count_rectangles(pdf)
    without_qr = count_rectangles(rendered("zh", portal=False))
    assert with_qr - without_qr > 200, (with_qr, without_qr)
    assert "扫码在线核验" in text_of(pdf)


def test_the_qr_code_drawn_is_the_encoders_modules_once_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every dark module of reportlab's own symbol is covered by exactly one drawn
    rectangle and no light module by any, inside the quiet zone; the symbol is built once."""
    from reportlab.graphics.barcode import qrencoder  # type: ignore[import-untyped]  # noqa: PLC0415
    from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]  # noqa: PLC0415

    built: list[bool] = []
    make_impl = qrencoder.QRCode.makeImpl
    monkeypatch.setattr(
        qrencoder.QRCode,
        "makeImpl",
        lambda self, test, mask: built.append(test) or make_impl(self, test, mask),
    )
    value = PORTAL + "?leaf=" + "ab" * 32
    code = qr_drawing(value)
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(code.size, code.size), invariant=1, pageCompression=0)
    assert code.wrap(500, 500) == (code.size, code.size)
    code.drawOn(canvas, 0, 0)
    canvas.save()
    assert built.count(False) == 1  # the symbol is built once, with its mask

    reference = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    reference.addData(value)
    reference.make()
    count = reference.getModuleCount()
    drawn = [[0] * count for _ in range(count)]
    content = PdfReader(out).pages[0].get_contents().get_data()  # type: ignore[union-attr]
    for x, y, w, h in re.findall(rb"(\S+) (\S+) (\S+) (\S+) re", content):
        col, bottom, width = int(float(x)), int(float(y)), int(float(w))
        assert (col, bottom, width, 1) == (float(x), float(y), float(w), float(h))  # whole modules
        assert col >= 0 and col + width <= count and 0 <= bottom < count
        for c in range(col, col + width):
            drawn[count - 1 - bottom][c] += 1
    expected = [[int(reference.isDark(r, c)) for c in range(count)] for r in range(count)]
    assert drawn == expected
    assert sum(map(sum, expected)) > 200


def count_rectangles(pdf: bytes) -> int:
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    return len(re.findall(rb"\sre\s", page.get_contents().get_data()))  # type: ignore[union-attr]


# --- input checks and helpers --------------------------------------------------------------------


def test_report_number_is_time_and_leaf() -> None:
    beijing = GENERATED.astimezone(timezone(timedelta(hours=8)))
    assert report_number("800e1f67" + "0" * 56, beijing) == "VR-20261126-060001-800E1F67"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"generated_at": datetime(2026, 11, 26, 6, 0, 1)}, "aware"),
        ({"portal_url": "javascript:alert(1)"}, "http"),
        ({"portal_url": PORTAL + "?" + "x" * 1024}, "1024"),
        ({"portal_url": PORTAL + "\n"}, "http"),
        ({"trusted_keys": ["k"] * 17}, "at most 16"),
        ({"lang": "fr"}, "lang"),
    ],
    ids=["naive-time", "javascript-url", "url-too-long", "url-newline", "too-many-keys", "lang"],
)
def test_unusable_input_is_refused(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(ReportError, match=reason):
        make_input(**change)


def test_files_are_paired_as_tier_1_pairs_them() -> None:
    listed = SEALED.manifest.files
    html, png, _ = digests(FILES)
    renamed = FileDigest("copy.png", png.size, png.sha256, png.sm3)
    stray = digests({"stray.txt": b"stray"})[0]
    lines = {line.name: line for line in match_files(listed, [renamed, html, stray])}
    assert lines["shot.png"].state == "match"  # a renamed copy, matched by content
    assert lines["商品页面.html"].state == "match"
    assert lines["<b>x<br>&amp;.txt"].state == "not_given"
    assert lines["stray.txt"].state == "not_listed"
    assert lines["shot.png"].hashed == renamed


# --- tier 5 facts (verifier.verify and verifier.chain) ----------------------------------------


def expected() -> Expected:
    record = BUNDLE.anchor
    assert record is not None
    return Expected.of(record, 31337, bytes.fromhex(CONTRACT[2:]), log_id_for(ORIGIN))


def confirmed(name: str, confirmations: int) -> EndpointResult:
    return EndpointResult(
        name, "confirmed", confirmations=confirmations, prev_size=0, genesis=b"\x01" * 32
    )


def test_chain_facts_give_the_least_confirmations_of_all_endpoints() -> None:
    verdict = combine([confirmed("a", 5), confirmed("b", 3)], expected(), 2)
    assert verdict.status is Status.VERIFIED
    assert verdict == AnchorVerdict(Status.VERIFIED, verdict.detail, dict(verdict.facts))
    assert dict(verdict.facts) == {
        "confirmations": 3,
        "min_confirmations": 2,
        "block_number": 10,
        "block_timestamp": TIMESTAMP,
        "block_time": "2026-11-18T11:06:40Z",
        "endpoints": "a, b",
    }


def test_chain_facts_when_not_final_and_when_failed() -> None:
    waiting = combine([confirmed("a", 1)], expected(), 4)
    assert waiting.status is Status.NOT_CHECKED
    assert waiting.facts["confirmations"] == 1
    failed = combine(
        [confirmed("a", 5), EndpointResult("b", "failed", "wrong root")], expected(), 1
    )
    assert failed.status is Status.FAILED
    assert dict(failed.facts) == {"endpoints": "a, b"}  # no chain facts from a disputed chain


def test_facts_reach_the_report_and_its_json() -> None:
    plain = verify_bundle(BUNDLE, anchor_check=lambda b: AnchorVerdict(Status.VERIFIED, "ok"))
    assert dict(plain.tiers[4].facts) == {}
    assert "facts" not in plain.to_dict()["tiers"][4]  # type: ignore[index]
    with_pair = verify_bundle(
        BUNDLE, anchor_check=lambda b: AnchorVerdict(Status.VERIFIED, "ok", FACTS)
    )
    with_check = verify_bundle(BUNDLE, anchor_check=chain_says)
    for report in (with_pair, with_check):
        tiers: list[dict[str, object]] = report.to_dict()["tiers"]  # type: ignore[assignment]
        assert tiers[4]["facts"] == FACTS
        assert all("facts" not in t for t in tiers[:4])


def test_tier_facts_cannot_change_after_the_fact() -> None:
    given: dict[str, str | int] = {"confirmations": 1}
    result = TierResult(5, Status.VERIFIED, "ok", given)
    given["confirmations"] = 99
    assert result.facts["confirmations"] == 1
    with pytest.raises(TypeError):
        result.facts["confirmations"] = 2  # type: ignore[index]
    assert hash(result) == hash(TierResult(5, Status.VERIFIED, "ok"))
    assert isinstance(Report("e", "evidence", "00", (result,)).to_dict(), dict)
