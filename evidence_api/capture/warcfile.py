"""The recording proxy's WARC file: WARC/1.1, one gzip member per record, via warcio.

Records hold the HTTP messages exactly as they crossed the wire between the proxy and the
origin: the request as the proxy sent it, the response as the origin sent it (status
line, header block and body byte for byte; a chunked body stays chunked, a compressed
body stays compressed). warcio would re-serialize the header block it parses; the
:class:`_WireHeaders` below keeps the received bytes instead, so the block digest covers
what was actually received. Digests are SHA-256 (``sha256:<base32>``), not warcio's SHA-1;
the payload digest covers the body as transferred (a chunked body with its chunk framing),
which is what warcio computes and checks when reading. Each exchange is a ``response``
record then its ``request`` record, each naming the other in ``WARC-Concurrent-To``, both
with the pinned ``WARC-IP-Address``; a response cut by a limit, a timeout or a vanished
browser carries ``WARC-Truncated`` (``length``, ``time``, ``disconnect``, ``unspecified``).

Not thread-safe: the proxy writes from its event loop thread only.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from warcio.statusandheaders import (  # type: ignore[import-untyped]
    StatusAndHeaders,
    StatusAndHeadersParser,
)
from warcio.utils import Digester  # type: ignore[import-untyped]
from warcio.warcwriter import WARCWriter  # type: ignore[import-untyped]

SOFTWARE = "evidence-anchor capture"


@dataclass(frozen=True)
class WarcEntry:
    """Where one record sits in the WARC file (the gzip member's offset and length)."""

    record_type: str
    url: str
    offset: int
    length: int


class _WireHeaders(StatusAndHeaders):  # type: ignore[misc]
    """Parsed HTTP headers whose serialized form is the bytes as received, not re-made."""

    def __init__(self, parsed: Any, wire: bytes) -> None:
        super().__init__(
            parsed.statusline,
            parsed.headers,
            protocol=parsed.protocol,
            total_len=len(wire),
            is_http_request=parsed.is_http_request if hasattr(parsed, "is_http_request") else False,
        )
        self.headers_buff = wire

    def compute_headers_buffer(self, header_filter: Any = None) -> None:
        return  # keep the wire bytes


class _Writer(WARCWriter):  # type: ignore[misc]
    @staticmethod
    def _create_digester() -> Any:
        return Digester("sha256")


class Slice(io.RawIOBase):
    """``length`` bytes of a seekable file from ``start``, as a readable, seekable stream."""

    def __init__(self, source: IO[bytes], start: int, length: int) -> None:
        super().__init__()
        self._source, self._start, self._length, self._pos = source, start, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, min(self._length, base + pos))
        return self._pos

    def read(self, size: int = -1) -> bytes:
        left = self._length - self._pos
        size = left if size is None or size < 0 else min(size, left)
        if size <= 0:
            return b""
        self._source.seek(self._start + self._pos)
        data = self._source.read(size)
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


class WarcFile:
    """An open WARC file the proxy appends request/response records to."""

    def __init__(self, path: Path, *, capture_id: str) -> None:
        self.path = path
        self._file = path.open("wb")
        self._writer = _Writer(self._file, gzip=True, warc_version="1.1")
        self.entries: list[WarcEntry] = []
        info = {
            "software": SOFTWARE,
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "capture-id": capture_id,
        }
        self._write(self._writer.create_warcinfo_record(path.name, info), "warcinfo", "")

    def _write(self, record: Any, record_type: str, url: str) -> None:
        offset = self._file.tell()
        self._writer.write_record(record)
        self.entries.append(WarcEntry(record_type, url, offset, self._file.tell() - offset))

    def write_message(
        self,
        record_type: str,
        url: str,
        source: IO[bytes],
        start: int,
        header_length: int,
        end: int,
        *,
        headers: dict[str, str],
    ) -> None:
        """Append a ``request`` or ``response`` record: ``source[start:end]`` is the whole
        HTTP message as on the wire, its header block ``header_length`` bytes long."""
        source.seek(start)
        wire = source.read(header_length)
        parsed = StatusAndHeadersParser([], verify=False).parse(io.BytesIO(wire))
        http_headers = _WireHeaders(parsed, wire)
        body = Slice(source, start + header_length, end - start - header_length)
        record = self._writer.create_warc_record(
            url,
            record_type,
            payload=body,
            length=end - start - header_length,
            warc_headers_dict=headers,
            http_headers=http_headers,
        )
        self._write(record, record_type, url)

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            self._file.close()
