"""The appraisal report's 取证过程 / Capture process section (verifier.report.capture).

A capture package is read by the real package reader (which keeps the small records
for the report), verified by the real verify_bundle, and rendered; what the PDF says is
read back with pypdf, and its images are counted from the pages' XObjects.
"""

from __future__ import annotations

import functools
import io
import json
import struct
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from pypdf import PdfReader

from tests.support import capture_evidence as ce
from tests.support.factories import Sealed, signer
from verifier.digests import digest_stream
from verifier.package import read_package_stream
from verifier.report import ReportInput, render_pdf
from verifier.report.capture import (
    MAX_SHOT_HEIGHT,
    ThumbnailError,
    png_size,
    thumbnail_png,
)
from verifier.verify import verify_bundle
from verifier.x509 import certificate_info, pem_certificates

GENERATED = datetime(2026, 12, 2, 19, 0, 0, tzinfo=UTC)


def report_input(sealed: Sealed, lang: str = "zh") -> ReportInput:
    package = read_package_stream(io.BytesIO(ce.zip_of(ce.package_members(sealed))))
    key = signer().verifier()
    report = verify_bundle(package.bundle, files=package.files, log_keys=[key])
    return ReportInput(
        report=report,
        bundle=package.bundle,
        files=package.files,
        generated_at=GENERATED,
        portal_url=None,
        trusted_keys=[key.to_text()],
        rpc_endpoints=[],
        lang="en" if lang == "en" else "zh",
    )


@functools.cache
def capture_sealed() -> Sealed:
    return ce.sealed_capture()


@functools.cache
def rendered(lang: str = "zh") -> bytes:
    return render_pdf(report_input(capture_sealed(), lang))


@functools.cache
def upload_pdf() -> bytes:
    files = {"商品页面.html": b"<html>shop</html>", "shot.png": ce.screenshot((32, 32))}
    return render_pdf(report_input(ce.seal(ce.capture_manifest(files, {"os": "x"}), files)))


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def flat(text: str) -> str:
    return "".join(text.split())


def images_of(pdf: bytes) -> list[dict[str, Any]]:
    """Every image XObject drawn on a page: its width and height."""
    found = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        resources = page.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources else None
        if not xobjects:
            continue
        for ref in xobjects.get_object().values():
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image":
                found.append({"width": int(obj["/Width"]), "height": int(obj["/Height"])})
    return found


# --- a capture's report ------------------------------------------------------------------------


def test_chinese_report_has_the_capture_process_section() -> None:
    text = text_of(rendered("zh"))
    compact = flat(text)
    assert "二、取证过程" in text and "三、文件及其哈希值" in text and "九、鉴定人签名" in text
    for expected in (
        ce.CAPTURE_ID,
        ce.URL,
        ce.FINAL_URL,
        "过程取证（steps）",
        f"goto{ce.STEP_LABEL}",  # the step, its label
        "2026-12-03 02:26:37 (UTC+08:00)",  # the step's start, 18:26:37Z, in Beijing time
        "https://shop.test/r/1",
        "302",
        "301",
        f"CN={ce.LEAF_CN},O=取证测试,C=CN",  # subject
        f"CN={ce.CA_CN},O=取证测试,C=CN",  # issuer
        "2026-01-01T00:00:00Z—2027-01-01T00:00:00Z",
        "shop.test:443",
        "192.0.2.7(192.0.2.53:5353)",
        "127.0.0.1:123+2500.2msstratum2",
        "127.0.0.1:123error:timedout",
        "passed;sha256:9f86d081884c7d65",
        "max_page_height:cutat20000px",
        flat(ce.WARNING),
        ce.HOST_ID,
        "DebianGNU/Linux12(bookworm)",
        f"Chromium{ce.CHROMIUM}",
        "203.0.113.9",
        "服务器取证",
    ):
        assert flat(expected) in compact, expected
    assert "由提交人提供" not in text


def test_report_shows_the_tls_leaf_fingerprint() -> None:
    pem = capture_sealed().files["tls-shop.test-443.pem"]
    fingerprint = certificate_info(pem_certificates(pem)[0]).sha256
    assert fingerprint in flat(text_of(rendered("zh")))


def test_english_report_has_the_capture_process_section() -> None:
    text = text_of(rendered("en"))
    assert "2. Capture process" in text and "3. Files and their digests" in text
    for expected in ("Redirect chain", "Clock offset before", "Server capture", ce.FINAL_URL):
        assert flat(expected) in flat(text), expected


def test_report_draws_the_screenshot_thumbnail_scaled_to_fit() -> None:
    images = images_of(rendered("zh"))
    assert len(images) == 1
    (image,) = images
    width, height = ce.SHOT_SIZE
    # scaled to the thumbnail box (400 x 800 px at 2 px per point), aspect kept
    assert image["height"] == 800
    assert image["width"] == round(width * 800 / height)
    assert "缩略图按比例缩小" in text_of(rendered("zh"))


def test_tier1_row_explains_the_wacz() -> None:
    text = flat(text_of(rendered("zh")))
    assert (
        flat("archive.wacz：其 datapackage.json 所列全部 3 个资源的大小与 SHA-256 均一致") in text
    )


def test_failed_wacz_shows_in_the_report_conclusion() -> None:
    members = ce.wacz_members()
    path = "archive/data.warc.gz"
    members[path] = members[path][:-1] + bytes([members[path][-1] ^ 1])
    pdf = render_pdf(report_input(ce.sealed_capture(**{"archive.wacz": ce.wacz(members)})))
    text = flat(text_of(pdf))
    assert flat("核验失败") in text
    assert flat(f"archive.wacz：资源 '{path}' 的 SHA-256 实测为") in text
    assert flat("不应据此回放网页") in text


# --- what is not there, or not drawable -----------------------------------------------------------


def test_upload_has_no_capture_section_and_says_officer_supplied() -> None:
    pdf = upload_pdf()
    text = text_of(pdf)
    assert "取证过程" not in text
    assert "二、文件及其哈希值" in text and "八、鉴定人签名" in text
    assert "由提交人提供" in text
    assert images_of(pdf) == []


def test_capture_without_its_records_says_not_recorded() -> None:
    """Digests only (the service's JSON form): the section comes from the manifest alone."""
    sealed = capture_sealed()
    key = signer().verifier()
    files = [digest_stream(n, io.BytesIO(d)) for n, d in sealed.files.items()]
    report = verify_bundle(sealed.bundle, files=files, log_keys=[key])
    pdf = render_pdf(
        ReportInput(
            report=report,
            bundle=sealed.bundle,
            files=files,
            generated_at=GENERATED,
            portal_url=None,
            trusted_keys=[key.to_text()],
            rpc_endpoints=[],
        )
    )
    text = flat(text_of(pdf))
    assert flat("取证过程") in text and ce.CAPTURE_ID in text
    assert flat("未记录") in text
    assert flat("未提供截图文件") in text
    assert flat("未提供或无法读取的取证记录: environment.json, main-document.json") in text
    assert images_of(pdf) == []


def fake_png(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (its data is one tiny row)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00"))
        + chunk(b"IEND", b"")
    )


def test_screenshot_taller_than_the_limit_is_skipped_with_a_note() -> None:
    sealed = ce.sealed_capture(**{"screenshot.png": fake_png(1280, MAX_SHOT_HEIGHT + 1)})
    pdf = render_pdf(report_input(sealed))
    assert images_of(pdf) == []
    assert flat(f"未生成缩略图: 1280×{MAX_SHOT_HEIGHT + 1} px") in flat(text_of(pdf))


def test_screenshot_that_is_not_a_png_is_skipped_with_a_note() -> None:
    sealed = ce.sealed_capture(**{"screenshot.png": b"GIF89a not a png"})
    pdf = render_pdf(report_input(sealed))
    assert images_of(pdf) == []
    assert flat("未生成缩略图: not a PNG image") in flat(text_of(pdf))


def test_mistyped_environment_record_still_renders() -> None:
    bad = json.dumps({"steps": "x", "dns": [1], "clock": 5, "warnings": {"a": None}}).encode()
    sealed = ce.sealed_capture(**{"environment.json": bad, "main-document.json": b"[]"})
    text = flat(text_of(render_pdf(report_input(sealed))))
    assert flat("取证过程") in text and flat("未记录") in text


# --- the thumbnail itself ------------------------------------------------------------------


def test_thumbnail_edges() -> None:
    # at the height limit the header passes (the pixels are then checked by decoding)
    assert png_size(fake_png(10, MAX_SHOT_HEIGHT)) == (10, MAX_SHOT_HEIGHT)
    with pytest.raises(ThumbnailError, match="beyond"):
        thumbnail_png(fake_png(10, MAX_SHOT_HEIGHT + 1))
    with pytest.raises(ThumbnailError, match="more than"):
        thumbnail_png(fake_png(5000, 10_000))
    with pytest.raises(ThumbnailError, match=r"not a readable PNG|disagree"):
        thumbnail_png(fake_png(10, MAX_SHOT_HEIGHT))  # the data is not 10 x 20000 pixels


def test_small_screenshot_is_not_enlarged() -> None:
    png, width, height = thumbnail_png(ce.screenshot((64, 48)))
    assert (width, height) == (64, 48)
    assert png_size(png) == (64, 48)


def test_same_capture_same_report_bytes() -> None:
    assert render_pdf(report_input(capture_sealed())) == rendered("zh")
