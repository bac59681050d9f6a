"""Bounded ZIP reading: an untrusted archive read defensively, member by member.

Knows ZIP and nothing of what the members mean (the evidence package's layout is
:mod:`verifier.package`'s). Refusals are :class:`~verifier.errors.PackageError`
subclasses, the same as for the package, and the whole archive is refused at the
first of them.

- The end-of-central-directory record (ZIP64 included) is read *before* the central
  directory is parsed, so a hostile archive cannot make us build 100,000 entries;
  data before the first local header (a self-extractor stub) is tolerated as
  Python's ``zipfile`` tolerates it.
- Each member's name must be a plain relative path; links, other non-regular
  files, duplicates, encrypted members and methods other than stored and deflate
  are refused; members must not overlap (the non-recursive zip bomb).
- Inflation is counted on the bytes actually produced, never on the headers: a
  member's and the archive's size and ratio (:class:`ZipLimits`, :class:`Budget`).
"""

from __future__ import annotations

import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import IO, Protocol

from verifier.digests import CHUNK
from verifier.errors import (
    LinkError,
    PackageError,
    PackageLayoutError,
    PackageReadError,
    TooManyEntriesError,
    TruncatedPackageError,
    UnsafePathError,
    ZipBombError,
)

#: Longest member name accepted ("files/" + a 255-character manifest name, with room).
MAX_NAME_CHARS = 512
#: Central-directory bytes allowed per permitted entry (46-byte record, name, extras).
CD_BYTES_PER_ENTRY = 2048
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"

_EOCD = struct.Struct("<4s4H2LH")
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_LOCAL_HEADER_BYTES = 30
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ALLOWED_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
#: What zipfile, zlib and a seekable stream raise on a damaged archive.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    EOFError,
    zlib.error,
    struct.error,
    ValueError,
    NotImplementedError,
    RuntimeError,
    UnicodeDecodeError,
)


@dataclass(frozen=True)
class ZipLimits:
    """The bounds an archive's reading is held to."""

    max_entries: int = 1100
    max_total_bytes: int = 8 * 2**30
    max_member_bytes: int = 4 * 2**30
    max_ratio: int = 200
    #: Inflated bytes a member (and the archive) may produce beyond ``max_ratio`` times
    #: its compressed bytes: small, very compressible members (JSON, a blank page)
    #: legitimately exceed 200:1 and cost nothing.
    ratio_grace_bytes: int = 1 << 20


def show(name: str) -> str:
    """A member name for a one-line message: quoted, control characters escaped."""
    return repr(name)


def check_member_name(name: str) -> None:
    """Refuse a name that is not a plain relative path (:class:`UnsafePathError`)."""
    reason = None
    if not name:
        reason = "is empty"
    elif "\x00" in name:
        reason = "contains a NUL byte"
    elif _CONTROL.search(name):
        reason = "contains a control character"
    elif "\\" in name:
        reason = "contains a backslash"
    elif name.startswith("/"):
        reason = "is an absolute path"
    elif _DRIVE.match(name):
        reason = "starts with a drive letter"
    elif len(name) > MAX_NAME_CHARS:
        reason = f"is longer than {MAX_NAME_CHARS} characters"
    else:
        parts = name.removesuffix("/").split("/")
        if ".." in parts:
            reason = "climbs out of the package with '..'"
        elif any(p in ("", ".") for p in parts):
            reason = "has an empty or '.' path component"
    if reason is not None:
        raise UnsafePathError(f"unsafe member name {show(name)}: it {reason}")


# --- members and where they come from -------------------------------------------------------


@dataclass(frozen=True)
class Member:
    name: str
    #: Uncompressed size as declared (ZIP header) or listed (``lstat``); checked, not trusted.
    declared_size: int
    #: Most bytes of the archive this member can consume: the ratio's denominator.
    stored_size: int


class Readable(Protocol):
    def read(self, n: int, /) -> bytes: ...


class MemberSource(Protocol):
    """Named members to read: a ZIP (:class:`ZipSource`) or a folder laid out alike."""

    kind: str

    def members(self) -> dict[str, Member]: ...

    def open(self, member: Member) -> AbstractContextManager[Readable]: ...


# --- the archive ------------------------------------------------------------------------------


def end_of_central_directory(fp: IO[bytes]) -> tuple[int, int, int]:
    """(entries, central directory bytes, archive bytes) from the end records, before
    anything else is parsed: a hostile archive must not make us build 100,000 entries."""
    fp.seek(0, os.SEEK_END)
    size = fp.tell()
    tail_len = min(size, _EOCD.size + 0xFFFF)
    fp.seek(size - tail_len)
    tail = fp.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        raise TruncatedPackageError(
            "not a readable ZIP: no end-of-central-directory record (truncated, or not a ZIP)"
        )
    _, disk, cd_disk, _, entries, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
    # As zipfile does: a ZIP64 locator right before the end record wins, whatever the
    # end record says, so its counts are the ones to bound.
    loc_at = at - _EOCD64_LOCATOR.size
    has_locator = loc_at >= 0 and tail[loc_at : loc_at + 4] == b"PK\x06\x07"
    if has_locator:
        record_at = loc_at - _EOCD64.size
        record = _EOCD64.unpack_from(tail, record_at) if record_at >= 0 else None
        if record is None or record[0] != b"PK\x06\x06":
            raise TruncatedPackageError("not a readable ZIP: the ZIP64 end record is damaged")
        disk, cd_disk, entries, cd_size = record[4], record[5], record[7], record[8]
    elif entries == 0xFFFF or 0xFFFFFFFF in (cd_size, cd_offset):
        raise TruncatedPackageError("not a readable ZIP: the ZIP64 end records are missing")
    if disk != 0 or cd_disk != 0:
        raise TruncatedPackageError("not a readable ZIP: multi-disk archives are not supported")
    return entries, cd_size, size


class ZipSource:
    """The members of a ZIP read from ``fp``, every entry checked when opened.

    ``check_name`` refuses (by raising) a safe, unique name the caller has no place
    for; it runs for each entry after the name, link and duplicate checks and before
    the encryption, method and size checks.
    """

    kind = "zip"

    def __init__(
        self, fp: IO[bytes], limits: ZipLimits, check_name: Callable[[str], None] | None = None
    ) -> None:
        self._limits = limits
        self._check_name = check_name
        entries, cd_size, self._archive_size = end_of_central_directory(fp)
        if entries > limits.max_entries:
            raise TooManyEntriesError(
                f"the ZIP holds {entries} entries, limit {limits.max_entries}"
            )
        if cd_size > (limits.max_entries + 1) * CD_BYTES_PER_ENTRY:
            raise TooManyEntriesError(
                f"the ZIP's central directory is {cd_size} bytes, more than "
                f"{limits.max_entries} entries can need"
            )
        fp.seek(0)
        with zip_errors():
            # Does not own ``fp``: closing it (see close()) leaves the caller's file open.
            self._zip = zipfile.ZipFile(fp)
        infos = self._zip.infolist()
        if len(infos) > limits.max_entries:  # the end record understated the count
            raise TooManyEntriesError(
                f"the ZIP holds {len(infos)} entries, limit {limits.max_entries}"
            )
        self._infos: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            self._check(info)
        self._check_extent(infos)

    def _check(self, info: zipfile.ZipInfo) -> None:
        name = info.orig_filename  # before zipfile cuts it at a NUL
        check_member_name(name)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise LinkError(f"member {show(name)} is a symbolic link; links are refused")
        kind = stat.S_IFMT(mode)
        if kind and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise PackageLayoutError(f"member {show(name)} is not a regular file")
        if name in self._infos:
            raise UnsafePathError(f"member {show(name)} appears twice")
        if self._check_name is not None:
            self._check_name(name)
        if info.flag_bits & 0x1:
            raise TruncatedPackageError(f"member {show(name)} is encrypted")
        if info.compress_type not in _ALLOWED_METHODS:
            raise TruncatedPackageError(
                f"member {show(name)} uses compression method {info.compress_type}; "
                "only stored (0) and deflate (8) are allowed"
            )
        if name.endswith("/") and info.file_size != 0:
            raise PackageLayoutError(f"directory entry {show(name)} holds data")
        if info.file_size > self._limits.max_member_bytes:
            raise ZipBombError(
                f"member {show(name)} declares {info.file_size} bytes, "
                f"limit {self._limits.max_member_bytes}"
            )
        self._infos[name] = info

    def _check_extent(self, infos: list[zipfile.ZipInfo]) -> None:
        """Members whose data overlap (one deflate stream counted many times) are the
        non-recursive zip bomb; each member must end before the next begins."""
        ordered = sorted(infos, key=lambda i: i.header_offset)
        ends = [i.header_offset for i in ordered[1:]] + [self._zip.start_dir]
        for info, limit in zip(ordered, ends, strict=True):
            if not 0 <= info.header_offset <= self._zip.start_dir - _LOCAL_HEADER_BYTES:
                raise TruncatedPackageError(
                    f"not a readable ZIP: member {show(info.orig_filename)} lies outside the "
                    "archive (damaged or truncated)"
                )
            end = info.header_offset + _LOCAL_HEADER_BYTES + info.compress_size
            if end > limit:
                raise ZipBombError(
                    f"member {show(info.orig_filename)} overlaps the next member or the "
                    "central directory"
                )
        declared = sum(i.file_size for i in infos)
        if declared > self._limits.max_total_bytes:
            raise ZipBombError(
                f"the ZIP declares {declared} bytes in all, limit {self._limits.max_total_bytes}"
            )

    def close(self) -> None:
        self._zip.close()

    def members(self) -> dict[str, Member]:
        """The file members (directory entries left out)."""
        return {
            name: Member(name, info.file_size, min(info.compress_size, self._archive_size))
            for name, info in self._infos.items()
            if not name.endswith("/")
        }

    @contextmanager
    def open(self, member: Member) -> Iterator[Readable]:
        with zip_errors():
            stream = self._zip.open(self._infos[member.name])
        try:
            yield _Translated(stream)
        finally:
            stream.close()


class _Translated:
    """A member stream whose damage surfaces as :class:`TruncatedPackageError`."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def read(self, n: int, /) -> bytes:
        with zip_errors():
            return self._stream.read(n)


@contextmanager
def zip_errors() -> Iterator[None]:
    """Damage to the archive becomes :class:`TruncatedPackageError`, an OS error
    :class:`PackageReadError`; refusals pass through."""
    try:
        yield
    except PackageError:
        raise
    except _ZIP_ERRORS as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise TruncatedPackageError(f"not a readable ZIP: {text}") from exc
    except OSError as exc:
        raise PackageReadError(f"cannot read the package: {exc.strerror or exc}") from exc


# --- bounded inflation ----------------------------------------------------------------------


class Budget:
    """Counts inflated bytes as they are produced; refuses past any limit."""

    def __init__(self, limits: ZipLimits) -> None:
        self.limits = limits
        self.total_out = 0
        self.total_in = 0

    def pump(
        self, source: MemberSource, member: Member, sink: Callable[[bytes], None], cap: int
    ) -> int:
        """Feed ``member``'s bytes to ``sink``; stop with an error past ``cap`` bytes
        (raised by the caller's check) or any limit. Returns the byte count."""
        lim = self.limits
        allowed = max(lim.max_ratio * member.stored_size, lim.ratio_grace_bytes)
        self.total_in += member.stored_size
        produced = 0
        with source.open(member) as stream:
            while chunk := stream.read(CHUNK):
                produced += len(chunk)
                self.total_out += len(chunk)
                if produced > lim.max_member_bytes:
                    raise ZipBombError(
                        f"member {show(member.name)} inflates beyond {lim.max_member_bytes} bytes"
                    )
                if produced > allowed:
                    raise ZipBombError(
                        f"member {show(member.name)} inflates beyond {lim.max_ratio}:1 "
                        f"({produced} bytes from {member.stored_size}): a zip bomb"
                    )
                if self.total_out > lim.max_total_bytes:
                    raise ZipBombError(f"the package inflates beyond {lim.max_total_bytes} bytes")
                if self.total_out > lim.max_ratio * self.total_in + lim.ratio_grace_bytes:
                    raise ZipBombError(
                        f"the package inflates beyond {lim.max_ratio}:1 overall: a zip bomb"
                    )
                if produced > cap:
                    return produced
                sink(chunk)
        return produced


# --- telling a ZIP ------------------------------------------------------------------------------


def looks_like_zip(head: bytes) -> bool:
    """True if ``head`` (a file's first bytes) starts a ZIP archive."""
    return head.startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC))


def has_zip_end_record(tail: bytes) -> bool:
    """True if ``tail`` (a file's last 65 557 bytes, or all of it) ends with a ZIP
    end-of-central-directory record: ``PK\x05\x06``, then 18 bytes, then exactly the
    comment length it declares. This is what makes a file a ZIP (format §3): data
    before the first local header, such as a self-extractor stub, changes nothing."""
    at = tail.rfind(EMPTY_ZIP_MAGIC)
    while at >= 0:
        if len(tail) - at >= _EOCD.size:
            comment = int.from_bytes(tail[at + 20 : at + 22], "little")
            if at + _EOCD.size + comment == len(tail):
                return True
        at = tail.rfind(EMPTY_ZIP_MAGIC, 0, at)
    return False


def is_zip_file(fp: IO[bytes]) -> bool:
    """Whether the seekable file ``fp`` is a ZIP archive, told by its start or its end
    record (a stub before the first local header is allowed); leaves ``fp`` at 0."""
    fp.seek(0)
    head = fp.read(4)
    if looks_like_zip(head):
        fp.seek(0)
        return True
    size = fp.seek(0, os.SEEK_END)
    fp.seek(max(0, size - (_EOCD.size + 0xFFFF)))
    tail = fp.read()
    fp.seek(0)
    return has_zip_end_record(tail)
