"""WACZ packaging of a capture's WARC: layout, stored entries, index, pages and digests.

The WARC is written here with warcio itself (not by the proxy), so these tests check
:func:`build_wacz` against an independent writer. ``wacz validate`` itself runs in
tests/integration/test_capture_proxy.py on a real proxy's WARC.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders  # type: ignore[import-untyped]
from warcio.warcwriter import WARCWriter  # type: ignore[import-untyped]

from evidence_api.capture.wacz import WACZ_VERSION, WaczPage, build_wacz, cdxj_lines, surt

LISTING = "https://shop.example/item?id=7&b=1"


def _response(writer: WARCWriter, url: str, body: bytes, mime: str, status: str) -> None:
    headers = StatusAndHeaders(
        status, [("Content-Type", mime), ("Content-Length", str(len(body)))], protocol="HTTP/1.1"
    )
    record = writer.create_warc_record(
        url,
        "response",
        payload=io.BytesIO(body),
        length=len(body),
        http_headers=headers,
        warc_headers_dict={"WARC-Date": "2026-12-02T08:30:01.250000Z"},
    )
    writer.write_record(record)
    request = writer.create_warc_record(
        url,
        "request",
        payload=io.BytesIO(b""),
        length=0,
        http_headers=StatusAndHeaders(
            "GET / HTTP/1.1", [("Host", "shop.example")], is_http_request=True
        ),
    )
    writer.write_record(request)


@pytest.fixture
def warc(tmp_path: Path) -> Path:
    path = tmp_path / "capture.warc.gz"
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True, warc_version="1.1")
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test"}))
        _response(
            writer, LISTING, "<title>铁观音</title>".encode(), "text/html; charset=utf-8", "200 OK"
        )
        _response(writer, "https://www.shop.example/a.css", b"body{}", "text/css", "200 OK")
        _response(writer, "https://shop.example/r1", b"", "text/html", "301 Moved Permanently")
    return path


def _build(warc: Path, out: Path, pages: list[WaczPage] | None = None) -> zipfile.ZipFile:
    if pages is None:
        pages = [WaczPage(LISTING, "泉州特产 铁观音", "2026-12-02T08:30:01Z")]
    build_wacz(warc, pages, out, title="取证 C-1", software="evidence-anchor capture 1.0")
    return zipfile.ZipFile(out)


def test_layout_is_wacz_with_every_entry_stored(warc: Path, tmp_path: Path) -> None:
    archive = _build(warc, tmp_path / "a.wacz")
    assert archive.namelist() == [
        "archive/data.warc.gz",
        "indexes/index.cdxj",
        "pages/pages.jsonl",
        "datapackage.json",
        "datapackage-digest.json",
    ]
    assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
    assert archive.read("archive/data.warc.gz") == warc.read_bytes()
    assert archive.testzip() is None


def test_local_headers_carry_no_extra_field_the_central_directory_lacks(
    warc: Path, tmp_path: Path
) -> None:
    """ReplayWeb.page reads entries by range, taking the data to start right after the local
    header's name when the central entry has no extra field: a ZIP64 extra in the local
    header only (zipfile's ``force_zip64``) would shift every byte it reads."""
    out = tmp_path / "a.wacz"
    archive = _build(warc, out)
    data = out.read_bytes()
    for info in archive.infolist():
        at = info.header_offset
        assert data[at : at + 4] == b"PK\x03\x04"
        name_length = int.from_bytes(data[at + 26 : at + 28], "little")
        extra_length = int.from_bytes(data[at + 28 : at + 30], "little")
        assert (extra_length, info.extra) == (0, b""), info.filename
        start = at + 30 + name_length
        assert data[start : start + info.file_size] == archive.read(info), info.filename


def test_datapackage_lists_each_file_with_its_sha256(warc: Path, tmp_path: Path) -> None:
    archive = _build(warc, tmp_path / "a.wacz")
    package_bytes = archive.read("datapackage.json")
    package = json.loads(package_bytes)
    assert package["profile"] == "data-package"
    assert package["wacz_version"] == WACZ_VERSION == "1.1.1"
    assert package["title"] == "取证 C-1"
    assert package["software"] == "evidence-anchor capture 1.0"
    assert package["created"].endswith("Z")
    assert package["mainPageURL"] == LISTING
    resources = {item["path"]: item for item in package["resources"]}
    assert set(resources) == {"archive/data.warc.gz", "indexes/index.cdxj", "pages/pages.jsonl"}
    for path, item in resources.items():
        data = archive.read(path)
        assert item["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
        assert item["bytes"] == len(data)
        assert item["name"] == path.rsplit("/", 1)[1]
    digest = json.loads(archive.read("datapackage-digest.json"))
    assert digest == {
        "path": "datapackage.json",
        "hash": "sha256:" + hashlib.sha256(package_bytes).hexdigest(),
    }


def test_index_has_one_sorted_line_per_response_pointing_at_its_record(
    warc: Path, tmp_path: Path
) -> None:
    archive = _build(warc, tmp_path / "a.wacz")
    lines = archive.read("indexes/index.cdxj").decode().splitlines()
    assert lines == sorted(lines)
    assert len(lines) == 3  # responses only: the warcinfo and request records are not indexed
    data = archive.read("archive/data.warc.gz")
    seen = {}
    for line in lines:
        key, timestamp, block = line.split(" ", 2)
        entry = json.loads(block)
        assert timestamp == "20261202083001"
        assert key == surt(entry["url"])
        assert entry["filename"] == "data.warc.gz"
        assert entry["digest"].startswith("sha1:")  # warcio's own writer's digest, kept as is
        offset, length = int(entry["offset"]), int(entry["length"])
        member = data[offset : offset + length]
        # each indexed range is one whole gzip member holding that URL's response record
        record = gzip.decompress(member)
        assert record.startswith(b"WARC/1.1\r\n")
        assert b"WARC-Type: response" in record
        assert f"WARC-Target-URI: {entry['url']}".encode() in record
        seen[entry["url"]] = entry
    assert seen[LISTING]["mime"] == "text/html"
    assert seen[LISTING]["status"] == "200"
    assert seen["https://shop.example/r1"]["status"] == "301"
    assert seen["https://www.shop.example/a.css"]["mime"] == "text/css"


def test_pages_jsonl_header_then_pages(warc: Path, tmp_path: Path) -> None:
    pages = [
        WaczPage(LISTING, "泉州特产 铁观音", "2026-12-02T08:30:01Z"),
        WaczPage("https://shop.example/r1", "", "2026-12-02T08:30:05Z"),
    ]
    archive = _build(warc, tmp_path / "a.wacz", pages)
    lines = [json.loads(line) for line in archive.read("pages/pages.jsonl").splitlines()]
    assert lines[0] == {"format": "json-pages-1.0", "id": "pages", "title": "取证 C-1"}
    assert [(x["url"], x["title"], x["ts"]) for x in lines[1:]] == [
        (p.url, p.title, p.ts) for p in pages
    ]
    assert len({x["id"] for x in lines[1:]}) == 2


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://www.Example.com/A?b=2&a=1", "com,example)/a?a=1&b=2"),
        ("http://shop.example:8080/x", "example,shop:8080)/x"),
        ("https://shop.example:443/", "example,shop)/"),
        ("https://127.0.0.1:3000/listing", "127.0.0.1:3000)/listing"),
        ("https://[::1]:8443/", "[::1]:8443)/"),
        ("https://shop.example", "example,shop)/"),
    ],
)
def test_surt(url: str, key: str) -> None:
    assert surt(url) == key


def test_index_of_an_empty_warc_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.warc.gz"
    path.write_bytes(b"")
    with path.open("rb") as warc:
        assert cdxj_lines(warc) == []


@pytest.mark.parametrize(
    ("page", "why"),
    [
        (WaczPage("ftp://shop.example/", "", "2026-12-02T08:30:01Z"), "not an http(s) URL"),
        (WaczPage(LISTING, "", "2026-12-02 08:30"), "not an RFC 3339"),
        (WaczPage(LISTING, "", "2026-12-02T08:30:01"), "not an RFC 3339"),  # no offset
        (WaczPage(LISTING, "", "yesterday"), "not an RFC 3339"),
    ],
)
def test_bad_pages_are_refused_before_anything_is_written(
    warc: Path, tmp_path: Path, page: WaczPage, why: str
) -> None:
    out = tmp_path / "a.wacz"
    with pytest.raises(ValueError, match=re.escape(why)):
        build_wacz(warc, [page], out, title="t", software="s")
    assert not out.exists()
