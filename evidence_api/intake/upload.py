"""Streaming ``multipart/form-data`` intake with bounded memory.

Each file part is hashed (SHA-256 and SM3, one pass) and written to a temp
file *as the bytes arrive*, in the folder the object store names
(``ObjectStore.spool_dir``), so that storing it takes no second pass: the
local store renames that very file into place, S3 receives it in one PUT with
the SHA-256 computed here. Limits are enforced while reading, so an oversized
file is refused with 413 before the rest of the body is read.

The event loop only collects the body a megabyte at a time; parsing, hashing
and writing run in a worker thread (hashlib releases the GIL), one megabyte
behind, so receiving the next megabyte overlaps hashing the last one. SM3 of a
file past a megabyte runs on a thread of its own beside that worker
(:mod:`evidence_api.intake.hashing`): on one thread it was the ceiling.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from evidence_api.core.errors import BadRequestError, InvalidInputError, PayloadTooLargeError
from evidence_api.intake.hashing import SplitHasher
from verifier.digests import FileDigest

_MEDIA_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}"
)
MAX_FILENAME_BYTES = 255
#: Bytes handed to the parser thread at a time (bounds the memory of one upload).
FEED_BYTES = 1 << 20


@dataclass
class ReceivedFile:
    name: str
    media_type: str
    path: Path
    digest: FileDigest


@dataclass
class ReceivedForm:
    metadata: bytes | None = None
    files: list[ReceivedFile] = field(default_factory=list)

    def cleanup(self) -> None:
        for f in self.files:
            f.path.unlink(missing_ok=True)


def check_filename(raw: bytes) -> str:
    """A file name we can put in a manifest and serve back: no paths, no controls."""
    if not raw:
        raise InvalidInputError("file name is empty", field="files")
    if len(raw) > MAX_FILENAME_BYTES:
        raise InvalidInputError(f"file name exceeds {MAX_FILENAME_BYTES} bytes", field="files")
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError("file name is not valid UTF-8", field="files") from exc
    if "\x00" in name:
        raise InvalidInputError("file name contains a NUL character", field="files")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise InvalidInputError(
            f"file name {name!r} contains a path (no '/', '\\', '.' or '..')", field="files"
        )
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise InvalidInputError("file name contains a control character", field="files")
    return name


#: Longest media type a manifest records (RFC 6838 allows 127 per name; we keep 127 in all).
MAX_MEDIA_TYPE = 127
_FILENAME = re.compile(rb'(?:^|;)\s*filename\s*=\s*"((?:[^"\\]|\\.)*)"', re.IGNORECASE)


def _raw_filename(disposition: bytes) -> bytes | None:
    """The quoted ``filename`` of a Content-Disposition header, exactly as sent."""
    match = _FILENAME.search(disposition)
    return match.group(1) if match else None


class _Receiver:
    def __init__(
        self, spool: Path, *, max_file_bytes: int, max_files: int, max_metadata_bytes: int
    ) -> None:
        self.spool = spool
        self.max_file_bytes = max_file_bytes
        self.max_files = max_files
        self.max_metadata_bytes = max_metadata_bytes
        self.form = ReceivedForm()
        self._headers: dict[bytes, bytes] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._kind: str | None = None
        self._meta = bytearray()
        self._fh: IO[bytes] | None = None
        self._hasher: SplitHasher | None = None
        self._name = ""
        self._media_type = ""
        self._path: Path | None = None

    # python-multipart callbacks -------------------------------------------------
    def on_part_begin(self) -> None:
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"")
        if disposition != b"form-data" or not name:
            raise BadRequestError("every part needs Content-Disposition: form-data; name=...")
        if name == b"metadata":
            if self.form.metadata is not None:
                raise InvalidInputError("more than one metadata part", field="metadata")
            self._kind = "metadata"
        elif name == b"files":
            if len(self.form.files) >= self.max_files:
                raise InvalidInputError(
                    f"too many files: at most {self.max_files} per submission", field="files"
                )
            if b"filename" not in options:
                raise InvalidInputError("a files part needs a filename", field="files")
            self._kind = "file"
            raw_name = _raw_filename(self._headers.get(b"content-disposition", b""))
            # python-multipart turns 'C:\\x' into 'x' (an old browser fix-up): a name with
            # a backslash is refused as a path instead of being shortened silently.
            self._name = check_filename(
                raw_name if raw_name is not None and b"\\" in raw_name else options[b"filename"]
            )
            if any(f.name == self._name for f in self.form.files):
                raise InvalidInputError(f"duplicate file name {self._name!r}", field="files")
            ctype = self._headers.get(b"content-type", b"application/octet-stream")
            media = parse_options_header(ctype)[0].decode("latin-1").lower()
            if len(media) > MAX_MEDIA_TYPE:
                raise InvalidInputError(
                    f"file {self._name!r}: Content-Type exceeds {MAX_MEDIA_TYPE} characters",
                    field="files",
                )
            self._media_type = media if _MEDIA_TYPE.fullmatch(media) else "application/octet-stream"
            fd, path = tempfile.mkstemp(dir=self.spool, prefix="upload-")
            self._fh = os.fdopen(fd, "wb")
            self._path = Path(path)
            self._hasher = SplitHasher()
        else:
            raise InvalidInputError(
                f"unexpected form field {name.decode('latin-1')[:64]!r}"
                " (expected 'metadata' and 'files')",
                field=name.decode("latin-1")[:64],
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = memoryview(data)[start:end]  # hashed and written without a copy
        if self._kind == "metadata":
            if len(self._meta) + len(chunk) > self.max_metadata_bytes:
                raise PayloadTooLargeError(
                    f"metadata part exceeds {self.max_metadata_bytes} bytes", field="metadata"
                )
            self._meta += chunk
        elif self._kind == "file":
            assert self._hasher is not None and self._fh is not None
            if self._hasher.size + len(chunk) > self.max_file_bytes:
                raise PayloadTooLargeError(
                    f"file {self._name!r} exceeds the limit of {self.max_file_bytes} bytes",
                    field="files",
                )
            self._hasher.update(chunk)
            self._fh.write(chunk)

    def on_part_end(self) -> None:
        if self._kind == "metadata":
            self.form.metadata = bytes(self._meta)
        elif self._kind == "file":
            assert self._hasher is not None and self._fh is not None and self._path is not None
            self._fh.close()
            self._fh = None
            self.form.files.append(
                ReceivedFile(
                    self._name, self._media_type, self._path, self._hasher.result(self._name)
                )
            )
            self._path = None
        self._kind = None

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)
        self.form.cleanup()


def _feed(parser: MultipartParser, chunks: list[bytes]) -> None:
    # Chunk by chunk, as the server received them: joining them would copy every byte.
    for chunk in chunks:
        parser.write(chunk)


def boundary_of(content_type: str | None) -> bytes:
    if not content_type:
        raise BadRequestError("Content-Type multipart/form-data with a boundary is required")
    ctype, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary or len(boundary) > 200:
        raise BadRequestError("Content-Type must be multipart/form-data with a boundary")
    return boundary


async def receive_form(
    chunks: AsyncIterator[bytes],
    content_type: str | None,
    *,
    spool: Path,
    max_file_bytes: int,
    max_files: int,
    max_metadata_bytes: int,
) -> ReceivedForm:
    """Parse a multipart body from ``chunks``; on any error, leave no temp file behind."""
    boundary = boundary_of(content_type)
    receiver = _Receiver(
        spool,
        max_file_bytes=max_file_bytes,
        max_files=max_files,
        max_metadata_bytes=max_metadata_bytes,
    )
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": receiver.on_part_begin,
            "on_part_data": receiver.on_part_data,
            "on_part_end": receiver.on_part_end,
            "on_header_field": receiver.on_header_field,
            "on_header_value": receiver.on_header_value,
            "on_header_end": receiver.on_header_end,
            "on_headers_finished": receiver.on_headers_finished,
        },
    )
    # Parse (hash, spool) in a worker thread, a megabyte at a time, while the event loop
    # collects the next megabyte; at most one feed is in flight, so parts stay in order
    # and one upload holds about two megabytes.
    in_flight: asyncio.Future[None] | None = None
    received = 0
    try:
        batch: list[bytes] = []
        batched = 0
        async for chunk in chunks:
            batch.append(chunk)
            batched += len(chunk)
            received += len(chunk)
            if in_flight is not None and in_flight.done():
                await in_flight  # raises what the worker refused (e.g. 413) at once
                in_flight = None
            if received > max_file_bytes:
                # A file may now be over its limit: feed and await every chunk as it
                # comes, so that the 413 goes out even if the client stops sending.
                if in_flight is not None:
                    await in_flight
                    in_flight = None
                await run_in_threadpool(_feed, parser, batch)
                batch, batched = [], 0
            elif batched >= FEED_BYTES:
                if in_flight is not None:
                    await in_flight
                in_flight = asyncio.ensure_future(run_in_threadpool(_feed, parser, batch))
                batch, batched = [], 0
        if in_flight is not None:
            await in_flight
            in_flight = None
        if batch:
            await run_in_threadpool(_feed, parser, batch)
        parser.finalize()
    except BaseException as exc:
        if in_flight is not None:  # let the worker finish before its file is closed
            with contextlib.suppress(BaseException):
                await asyncio.shield(in_flight)
        receiver.abort()
        if isinstance(exc, (InvalidInputError, BadRequestError, PayloadTooLargeError)):
            raise
        if not isinstance(exc, Exception):
            raise
        raise BadRequestError(f"malformed multipart body: {type(exc).__name__}") from exc
    if receiver._kind is not None:  # body ended inside a part
        receiver.abort()
        raise BadRequestError("multipart body is truncated")
    return receiver.form
