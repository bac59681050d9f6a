"""Package the recording proxy's WARC as WACZ 1.1.1, so it replays in standard tools
(ReplayWeb.page) and ``wacz validate`` accepts it.

Layout (every entry stored, not deflated, so a reader can seek into ``archive/``)::

    archive/data.warc.gz        the proxy's WARC, byte for byte
    indexes/index.cdxj          one line per response/resource/revisit record, sorted
    pages/pages.jsonl           the pages header line, then one line per page
    datapackage.json            every file above with its size and sha256
    datapackage-digest.json     the sha256 of datapackage.json

The index is built by reading the WARC back with warcio (offsets and lengths of each
gzip member), not from what the proxy believes it wrote, so it indexes the file as it is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from warcio.archiveiterator import ArchiveIterator  # type: ignore[import-untyped]

WACZ_VERSION = "1.1.1"
WARC_NAME = "data.warc.gz"
#: Most records indexed (the proxy's own resource limit is far lower).
MAX_RECORDS = 200_000
#: Most pages listed.
MAX_PAGES = 10_000
_INDEXED = frozenset({"response", "resource", "revisit"})
_COPY = 1024 * 1024


@dataclass(frozen=True)
class WaczPage:
    """One entry of ``pages/pages.jsonl``: a page the capture loaded."""

    url: str
    title: str
    ts: str  #: RFC 3339, e.g. "2026-12-02T08:30:00Z"


def surt(url: str) -> str:
    """The index key of ``url`` (SURT): host name labels reversed (an IP address kept as
    is), ``www.`` dropped, lower case, the query's parameters sorted."""
    lowered = url.lower()
    try:
        parts = urlsplit(lowered)
        port = parts.port
    except ValueError:
        return lowered
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return lowered
    host = parts.hostname
    if host.startswith("www.") or (host.startswith("www") and host.split(".", 1)[0][3:].isdigit()):
        host = host.split(".", 1)[1] if "." in host else host
    is_ip = ":" in host or host.replace(".", "").isdigit()
    key = f"[{host}]" if ":" in host else host if is_ip else ",".join(reversed(host.split(".")))
    default = 443 if parts.scheme == "https" else 80
    if port is not None and port != default:
        key += f":{port}"
    key += ")" + (parts.path or "/")
    if parts.query:
        key += "?" + urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return key


def _timestamp(warc_date: str) -> str:
    """A WARC-Date (``2026-12-02T08:30:00.123456Z``) as the 14 digits of a CDX line."""
    digits = "".join(c for c in warc_date if c.isdigit())
    return (digits + "0" * 14)[:14]


def cdxj_lines(warc: IO[bytes], filename: str = WARC_NAME) -> list[str]:
    """The sorted CDXJ index of a WARC (response, resource and revisit records)."""
    lines: list[str] = []
    iterator = ArchiveIterator(warc)
    for record in iterator:
        if len(lines) >= MAX_RECORDS:
            raise ValueError(f"the WARC has more than {MAX_RECORDS} indexable records")
        record_type = record.rec_type
        url = record.rec_headers.get_header("WARC-Target-URI") or ""
        date = record.rec_headers.get_header("WARC-Date") or ""
        digest = record.rec_headers.get_header("WARC-Payload-Digest") or ""
        status, mime = "", ""
        if record.http_headers is not None and record_type in ("response", "revisit"):
            status = record.http_headers.get_statuscode() or ""
            mime = record.http_headers.get_header("Content-Type") or ""
        elif record_type == "resource":
            status = "200"
            mime = record.rec_headers.get_header("Content-Type") or ""
        iterator.read_to_end(record)
        if record_type not in _INDEXED or not url:
            continue
        entry: dict[str, Any] = {
            "url": url,
            "mime": mime.split(";", 1)[0].strip().lower(),
            "status": status,
            "digest": digest,
            "length": str(iterator.get_record_length()),
            "offset": str(iterator.get_record_offset()),
            "filename": filename,
        }
        if record_type == "revisit":
            entry["mime"] = "warc/revisit"
        lines.append(f"{surt(url)} {_timestamp(date)} {json.dumps(entry, ensure_ascii=False)}")
    return sorted(lines)


def _check_page(page: WaczPage) -> None:
    """Refuse a page a replay tool could not list: not http(s), or ts not RFC 3339."""
    if not page.url.startswith(("http://", "https://")) or len(page.url) > 8192:
        raise ValueError(f"page URL {page.url[:200]!r} is not an http(s) URL")
    try:
        stamp = dt.datetime.fromisoformat(page.ts)
    except ValueError:
        stamp = None
    if stamp is None or stamp.tzinfo is None or "T" not in page.ts:
        raise ValueError(f"page ts {page.ts[:64]!r} is not an RFC 3339 date-time with offset")


def _pages_jsonl(pages: Sequence[WaczPage], title: str) -> bytes:
    if len(pages) > MAX_PAGES:
        raise ValueError(f"more than {MAX_PAGES} pages")
    out = [json.dumps({"format": "json-pages-1.0", "id": "pages", "title": title})]
    for page in pages:
        _check_page(page)
        page_id = hashlib.sha256(f"{page.ts} {page.url}".encode()).hexdigest()[:24]
        line = {"id": page_id, "url": page.url, "title": page.title, "ts": page.ts}
        out.append(json.dumps(line, ensure_ascii=False))
    return ("\n".join(out) + "\n").encode("utf-8")


def _chunks(source: IO[bytes]) -> Iterator[bytes]:
    while chunk := source.read(_COPY):
        yield chunk


class _Zip:
    """Writes stored entries and remembers each one's size and sha256."""

    def __init__(self, archive: zipfile.ZipFile, when: tuple[int, int, int, int, int, int]):
        self.archive, self.when = archive, when
        self.resources: list[dict[str, Any]] = []

    def add(self, path: str, source: IO[bytes], size_hint: int, *, listed: bool = True) -> None:
        """Store ``source`` as ``path``. ZIP64 only when the entry needs it (``size_hint``
        over the ZIP limit): a ZIP64 extra in the local header but not in the central
        directory (what ``force_zip64`` writes for a small entry) makes range readers such
        as ReplayWeb.page's read every byte of the entry at the wrong offset."""
        info = zipfile.ZipInfo(path, self.when)
        info.compress_type = zipfile.ZIP_STORED
        digest, size = hashlib.sha256(), 0
        large = size_hint >= zipfile.ZIP64_LIMIT
        with self.archive.open(info, "w", force_zip64=large) as out:
            for chunk in _chunks(source):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        if listed:
            self.resources.append(
                {
                    "name": path.rsplit("/", 1)[-1].lower(),
                    "path": path,
                    "hash": f"sha256:{digest.hexdigest()}",
                    "bytes": size,
                }
            )


def build_wacz(
    warc_path: Path, pages: Sequence[WaczPage], out: Path, *, title: str, software: str
) -> None:
    """Write ``out`` (a WACZ 1.1.1 file) from one WARC and the capture's pages.

    Inputs are checked and the index built before ``out`` is created; if writing fails
    part-way, ``out`` is removed (nothing half-written is left to be taken as evidence).
    """
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    when = (now.year, now.month, now.day, now.hour, now.minute, now.second)
    page_list = _pages_jsonl(pages, title)
    with warc_path.open("rb") as warc:
        index = ("\n".join(cdxj_lines(warc)) + "\n").encode("utf-8")
    try:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            _write(zf, when, warc_path, index, page_list, pages, title, software, now)
    except BaseException:
        out.unlink(missing_ok=True)
        raise


def _write(
    archive: zipfile.ZipFile,
    when: tuple[int, int, int, int, int, int],
    warc_path: Path,
    index: bytes,
    page_list: bytes,
    pages: Sequence[WaczPage],
    title: str,
    software: str,
    now: dt.datetime,
) -> None:
    entries = _Zip(archive, when)
    with warc_path.open("rb") as warc:
        entries.add(f"archive/{WARC_NAME}", warc, os.fstat(warc.fileno()).st_size)
    entries.add("indexes/index.cdxj", io.BytesIO(index), len(index))
    entries.add("pages/pages.jsonl", io.BytesIO(page_list), len(page_list))
    package: dict[str, Any] = {
        "profile": "data-package",
        "resources": entries.resources,
        "title": title,
        "created": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wacz_version": WACZ_VERSION,
        "software": software,
    }
    if pages:
        package["mainPageURL"] = pages[0].url
        package["mainPageDate"] = pages[0].ts
    package_bytes = json.dumps(package, indent=2, ensure_ascii=False).encode("utf-8")
    entries.add("datapackage.json", io.BytesIO(package_bytes), len(package_bytes), listed=False)
    digest = {
        "path": "datapackage.json",
        "hash": f"sha256:{hashlib.sha256(package_bytes).hexdigest()}",
    }
    digest_bytes = json.dumps(digest, indent=2).encode("utf-8")
    entries.add(
        "datapackage-digest.json", io.BytesIO(digest_bytes), len(digest_bytes), listed=False
    )
