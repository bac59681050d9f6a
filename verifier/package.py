"""Reading an evidence package (``evidence-package/v1``): a ZIP, or the same tree as a folder.

Consensus-critical in what it accepts: the layout and every refusal are
specified in ``docs/package-format.md``. A package is untrusted input from
anyone, so it is read defensively and refused as a whole (a
:class:`~verifier.errors.PackageError`) at the first sign of hostility or
inconsistency; nothing of a refused package is ever partly verified.

- Nothing is extracted to disk and no member is held whole in memory: the
  evidence files stream through the SHA-256 + SM3 hashers of
  :mod:`verifier.digests` a megabyte at a time.
- Limits (:class:`PackageLimits`) bound the member count (checked from the
  end-of-central-directory record *before* the central directory is parsed),
  each member's and the total inflated size, and the inflation ratio; sizes
  and ratios are counted on the bytes actually produced, not taken from the
  ZIP headers, which a hostile archive can set to anything.
- Member names must be plain relative paths (no absolute, ``..``, ``\\``, drive
  letter, NUL or control character), unique, and in the layout; links and
  other non-regular files are refused, in a ZIP (its Unix mode) and in a
  folder (``lstat``, ``O_NOFOLLOW``, and the opened file must be the one listed).
- The package must agree with itself: ``manifest.json`` is exactly the proof's
  manifest and hashes to the entry's digests; each ``files/<name>`` has its
  manifest size, SHA-256 and SM3; no file is missing and none is extra.

The log key and chain facts a package carries are returned for display only:
the caller must never trust them implicitly (the log's operator publishes
them; the appraiser compares and passes them explicitly).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol

from verifier.bundle import MAX_BUNDLE_BYTES, Bundle, load_bundle
from verifier.canonical import parse_json
from verifier.digests import CHUNK, DualHasher, FileDigest, sm3_hex
from verifier.errors import (
    FormatError,
    LinkError,
    PackageError,
    PackageLayoutError,
    PackageMismatchError,
    PackageReadError,
    TooManyEntriesError,
    TruncatedPackageError,
    UnsafePathError,
    ZipBombError,
)
from verifier.note import VerifierKey

PACKAGE_FORMAT_V1 = "evidence-package/v1"
FILES_DIR = "files"

#: Top-level members and the most bytes each may hold.
SMALL_MEMBERS: dict[str, int] = {
    "package.json": 1 << 20,
    "README.txt": 1 << 20,
    "manifest.json": 1 << 20,
    "proof.json": MAX_BUNDLE_BYTES,
    "log-key.vkey": 4096,
    "chain.json": 4096,
}
REQUIRED_MEMBERS = ("package.json", "manifest.json", "proof.json")
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
class PackageLimits:
    """Every bound a package is held to (see docs/package-format.md, "Limits")."""

    max_entries: int = 1100
    max_total_bytes: int = 8 * 2**30
    max_member_bytes: int = 4 * 2**30
    max_ratio: int = 200
    #: Inflated bytes a member (and the package) may produce beyond ``max_ratio`` times
    #: its compressed bytes: small, very compressible members (JSON, a blank page)
    #: legitimately exceed 200:1 and cost nothing.
    ratio_grace_bytes: int = 1 << 20


@dataclass(frozen=True)
class PackageChain:
    """``chain.json``: the chain facts the exporter states. Informational, never trusted."""

    chain_id: int
    contract: str
    log_id: str


@dataclass(frozen=True)
class EvidencePackage:
    bundle: Bundle
    #: Each manifest file as hashed while reading the package, in manifest order.
    files: tuple[FileDigest, ...]
    #: ``log-key.vkey`` without its final newline. Informational, never trusted.
    log_key_text: str | None
    chain: PackageChain | None
    source: str  # "zip" | "dir"


def show(name: str) -> str:
    """A member name for a one-line message: quoted, control characters escaped."""
    return repr(name)


# --- member names ---------------------------------------------------------------------


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


def check_layout(name: str) -> None:
    """Refuse a (safe) name that has no place in an ``evidence-package/v1``."""
    if name in SMALL_MEMBERS or name == f"{FILES_DIR}/":
        return
    parts = name.split("/")
    if len(parts) == 2 and parts[0] == FILES_DIR and parts[1]:
        return
    raise PackageLayoutError(
        f"unknown member {show(name)}: a package holds only {', '.join(SMALL_MEMBERS)} "
        f"and {FILES_DIR}/<name>"
    )


# --- sources: a ZIP or a folder -----------------------------------------------------------


@dataclass(frozen=True)
class _Member:
    name: str
    #: Uncompressed size as declared (ZIP header) or listed (``lstat``); checked, not trusted.
    declared_size: int
    #: Most bytes of the archive this member can consume: the ratio's denominator.
    stored_size: int


class _Readable(Protocol):
    def read(self, n: int, /) -> bytes: ...


class _Source(Protocol):
    kind: str

    def members(self) -> dict[str, _Member]: ...

    def open(self, member: _Member) -> AbstractContextManager[_Readable]: ...


def _end_of_central_directory(fp: IO[bytes]) -> tuple[int, int, int]:
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


class _ZipSource:
    kind = "zip"

    def __init__(self, fp: IO[bytes], limits: PackageLimits) -> None:
        self._limits = limits
        entries, cd_size, self._archive_size = _end_of_central_directory(fp)
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
        with _zip_errors():
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
        check_layout(name)
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

    def members(self) -> dict[str, _Member]:
        return {
            name: _Member(name, info.file_size, min(info.compress_size, self._archive_size))
            for name, info in self._infos.items()
            if not name.endswith("/")
        }

    @contextmanager
    def open(self, member: _Member) -> Iterator[_Readable]:
        with _zip_errors():
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
        with _zip_errors():
            return self._stream.read(n)


@contextmanager
def _zip_errors() -> Iterator[None]:
    try:
        yield
    except PackageError:
        raise
    except _ZIP_ERRORS as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise TruncatedPackageError(f"not a readable ZIP: {text}") from exc
    except OSError as exc:
        raise PackageReadError(f"cannot read the package: {exc.strerror or exc}") from exc


class _DirSource:
    """A package unpacked into a folder. Links are refused; each file is opened
    without following links and must be the very file that was listed."""

    kind = "dir"

    def __init__(self, root: Path, limits: PackageLimits) -> None:
        self._root = root
        self._limits = limits
        self._listed: dict[str, tuple[Path, os.stat_result]] = {}
        self._scan(root, "")

    def _scan(self, folder: Path, prefix: str) -> None:
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    self._add(folder, prefix + entry.name)
        except OSError as exc:
            raise PackageReadError(f"cannot list {folder}: {exc.strerror}") from exc

    def _add(self, folder: Path, name: str) -> None:
        if len(self._listed) >= self._limits.max_entries:
            raise TooManyEntriesError(
                f"the folder holds more than {self._limits.max_entries} entries"
            )
        check_member_name(name)
        path = folder / name.rsplit("/", 1)[-1]
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            raise LinkError(f"{show(name)} is a symbolic link; links are refused")
        if stat.S_ISDIR(info.st_mode):
            check_layout(name + "/")
            self._listed[name + "/"] = (path, info)
            self._scan(path, name + "/")
            return
        if not stat.S_ISREG(info.st_mode):
            raise PackageLayoutError(f"{show(name)} is not a regular file")
        check_layout(name)
        self._listed[name] = (path, info)

    def members(self) -> dict[str, _Member]:
        return {
            name: _Member(name, info.st_size, info.st_size)
            for name, (_, info) in self._listed.items()
            if not name.endswith("/")
        }

    @contextmanager
    def open(self, member: _Member) -> Iterator[_Readable]:
        path, listed = self._listed[member.name]
        try:
            fd = os.open(
                path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
            )
        except OSError as exc:
            if os.path.islink(path):
                raise LinkError(f"{show(member.name)} became a symbolic link") from exc
            raise PackageReadError(f"cannot open {show(member.name)}: {exc.strerror}") from exc
        with os.fdopen(fd, "rb") as fh:
            opened = os.fstat(fh.fileno())
            if (opened.st_dev, opened.st_ino) != (listed.st_dev, listed.st_ino):
                raise LinkError(f"{show(member.name)} was replaced while being read")
            yield _OsErrors(fh, member.name)


class _OsErrors:
    def __init__(self, stream: BinaryIO, name: str) -> None:
        self._stream = stream
        self._name = name

    def read(self, n: int, /) -> bytes:
        try:
            return self._stream.read(n)
        except OSError as exc:
            raise PackageReadError(f"cannot read {show(self._name)}: {exc.strerror}") from exc


# --- bounded reading ------------------------------------------------------------------------


class _Budget:
    """Counts inflated bytes as they are produced; refuses past any limit."""

    def __init__(self, limits: PackageLimits) -> None:
        self.limits = limits
        self.total_out = 0
        self.total_in = 0

    def pump(
        self, source: _Source, member: _Member, sink: Callable[[bytes], None], cap: int
    ) -> int:
        """Feed ``member``'s bytes to ``sink``; stop with an error past ``cap`` bytes
        (raised by the caller's check) or any package limit. Returns the byte count."""
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

    def read_small(self, source: _Source, member: _Member) -> bytes:
        limit = SMALL_MEMBERS[member.name]
        if member.declared_size > limit:
            raise PackageLayoutError(
                f"{member.name} is {member.declared_size} bytes, limit {limit}"
            )
        parts: list[bytes] = []
        if self.pump(source, member, parts.append, limit) > limit:
            raise PackageLayoutError(f"{member.name} is larger than its limit of {limit} bytes")
        return b"".join(parts)


# --- the package's own consistency ------------------------------------------------------------


def _json_member(name: str, data: bytes) -> dict[str, Any]:
    try:
        obj = parse_json(data, max_bytes=SMALL_MEMBERS[name], what=name)
    except FormatError as exc:
        raise PackageLayoutError(str(exc)) from exc
    if not isinstance(obj, dict):
        raise PackageLayoutError(f"{name} must be a JSON object")
    return obj


def _check_index(data: bytes) -> dict[str, Any]:
    index = _json_member("package.json", data)
    fmt = index.get("format")
    if fmt != PACKAGE_FORMAT_V1:
        if isinstance(fmt, str) and fmt.startswith("evidence-package/"):
            raise PackageLayoutError(
                f"unknown package format {fmt[:40]!r}; this verifier reads {PACKAGE_FORMAT_V1}"
            )
        raise PackageLayoutError(f"package.json: format must be {PACKAGE_FORMAT_V1!r}")
    files = index.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise PackageLayoutError("package.json: files must be a list of names")
    if not isinstance(index.get("evidence_id"), str):
        raise PackageLayoutError("package.json: evidence_id must be a string")
    return index


def _load_proof(data: bytes) -> Bundle:
    try:
        bundle = load_bundle(data)
    except FormatError as exc:
        raise PackageLayoutError(f"proof.json: {exc}") from exc
    if bundle.entry.kind != "evidence":
        raise PackageLayoutError(
            f"proof.json is for a {bundle.entry.kind!r} entry, not an evidence package"
        )
    if bundle.manifest is None:
        raise PackageLayoutError("proof.json carries no manifest")
    return bundle


def _check_manifest(bundle: Bundle, data: bytes) -> None:
    assert bundle.manifest is not None
    expected = bundle.manifest.canonical()
    if data != expected:
        raise PackageMismatchError(
            f"manifest.json (SHA-256 {hashlib.sha256(data).hexdigest()}) is not the canonical "
            f"manifest in proof.json (SHA-256 {hashlib.sha256(expected).hexdigest()})"
        )
    body = bundle.entry.body
    for label, got, want in (
        ("SHA-256", hashlib.sha256(data).hexdigest(), body["manifest_sha256"]),
        ("SM3", sm3_hex(data), body["manifest_sm3"]),
    ):
        if got != want:
            raise PackageMismatchError(
                f"manifest.json {label} {got} is not the entry's manifest {label} {want}"
            )
    if bundle.manifest.evidence_id != bundle.entry.id:
        raise PackageMismatchError(
            f"manifest.json is for {bundle.manifest.evidence_id}, the entry for {bundle.entry.id}"
        )


def _check_index_agrees(index: dict[str, Any], bundle: Bundle) -> None:
    assert bundle.manifest is not None
    if index["evidence_id"] != bundle.entry.id:
        raise PackageMismatchError(
            f"package.json names {show(index['evidence_id'])}, proof.json {bundle.entry.id}"
        )
    names = [f.name for f in bundle.manifest.files]
    if sorted(index["files"]) != sorted(names):
        raise PackageMismatchError("package.json lists other files than the manifest")


def _parse_key(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
        VerifierKey.from_text(text)
    except (UnicodeDecodeError, FormatError) as exc:
        raise PackageLayoutError(f"log-key.vkey is not a verifier key: {exc}") from exc
    return text.strip()


_CHAIN_KEYS = {"chain_id", "contract", "log_id"}


def _parse_chain(data: bytes, bundle: Bundle) -> PackageChain:
    obj = _json_member("chain.json", data)
    chain_id, contract, log_id = obj.get("chain_id"), obj.get("contract"), obj.get("log_id")
    if (
        set(obj) != _CHAIN_KEYS
        or type(chain_id) is not int
        or not 1 <= chain_id <= 2**53 - 1
        or not isinstance(contract, str)
        or not re.fullmatch(r"0x[0-9a-fA-F]{40}", contract)
        or not isinstance(log_id, str)
        or not re.fullmatch(r"0x[0-9a-f]{64}", log_id)
    ):
        raise PackageLayoutError(
            "chain.json must be exactly {chain_id: 1..2^53-1, contract: 0x+40 hex, "
            "log_id: 0x+64 hex}"
        )
    chain = PackageChain(chain_id, contract, log_id)
    anchor = bundle.anchor
    if anchor is not None and (
        anchor.chain_id,
        anchor.contract.lower(),
        anchor.log_id,
    ) != (chain.chain_id, chain.contract.lower(), chain.log_id):
        raise PackageMismatchError(
            f"chain.json (chain {chain.chain_id}, contract {chain.contract}) differs from the "
            f"anchor in proof.json (chain {anchor.chain_id}, contract {anchor.contract})"
        )
    return chain


def _read_text(data: bytes, name: str) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PackageLayoutError(f"{name} is not UTF-8 text") from exc


def _check_file_set(members: dict[str, _Member], bundle: Bundle) -> None:
    assert bundle.manifest is not None
    listed = {f"{FILES_DIR}/{f.name}" for f in bundle.manifest.files}
    present = {name for name in members if name.startswith(f"{FILES_DIR}/")}
    missing = sorted(listed - present)
    if missing:
        raise PackageMismatchError(
            f"{show(missing[0])} is in the manifest but missing from the package"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    extra = sorted(present - listed)
    if extra:
        raise PackageMismatchError(
            f"{show(extra[0])} is in the package but not in the manifest"
            + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else "")
        )


def _hash_files(
    source: _Source, members: dict[str, _Member], bundle: Bundle, budget: _Budget
) -> tuple[FileDigest, ...]:
    assert bundle.manifest is not None
    out = []
    for listed in bundle.manifest.files:
        member = members[f"{FILES_DIR}/{listed.name}"]
        shown = show(member.name)
        if member.declared_size != listed.size:
            raise PackageMismatchError(
                f"{shown} declares {member.declared_size} bytes, the manifest {listed.size}"
            )
        hasher = DualHasher()
        produced = budget.pump(source, member, hasher.update, listed.size)
        if produced != listed.size:
            raise PackageMismatchError(
                f"{shown} holds {'more than ' if produced > listed.size else ''}{produced} "
                f"bytes, the manifest {listed.size}"
            )
        got = hasher.result(listed.name)
        for label, have, want in (
            ("SHA-256", got.sha256, listed.sha256),
            ("SM3", got.sm3, listed.sm3),
        ):
            if have != want:
                raise PackageMismatchError(
                    f"{shown} {label} {have} differs from the manifest's {want}"
                )
        out.append(got)
    return tuple(out)


def _assemble(source: _Source, limits: PackageLimits) -> EvidencePackage:
    members = source.members()
    missing = [name for name in REQUIRED_MEMBERS if name not in members]
    if missing:
        raise PackageLayoutError(f"the package has no {missing[0]}")
    budget = _Budget(limits)
    index = _check_index(budget.read_small(source, members["package.json"]))
    bundle = _load_proof(budget.read_small(source, members["proof.json"]))
    _check_manifest(bundle, budget.read_small(source, members["manifest.json"]))
    _check_index_agrees(index, bundle)
    key_text = chain = None
    if "log-key.vkey" in members:
        key_text = _parse_key(budget.read_small(source, members["log-key.vkey"]))
    if "chain.json" in members:
        chain = _parse_chain(budget.read_small(source, members["chain.json"]), bundle)
    if "README.txt" in members:
        _read_text(budget.read_small(source, members["README.txt"]), "README.txt")
    _check_file_set(members, bundle)
    files = _hash_files(source, members, bundle, budget)
    return EvidencePackage(bundle, files, key_text, chain, source.kind)


# --- entry points ----------------------------------------------------------------------------


def read_package_stream(
    fileobj: IO[bytes], limits: PackageLimits = PackageLimits()
) -> EvidencePackage:
    """Read a ZIP package from a seekable binary file (the caller opens and closes it)."""
    with _zip_errors():
        source = _ZipSource(fileobj, limits)
    try:
        return _assemble(source, limits)
    finally:
        source.close()


def read_package_dir(root: str | Path, limits: PackageLimits = PackageLimits()) -> EvidencePackage:
    """Read a package unpacked into the folder ``root``."""
    return _assemble(_DirSource(Path(root), limits), limits)


def read_package(path: str | Path, limits: PackageLimits = PackageLimits()) -> EvidencePackage:
    """Read the package at ``path``: a folder, or a ZIP file (told apart by what they are,
    not by name). Raises a :class:`~verifier.errors.PackageError` subclass."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise PackageReadError(f"cannot read {path}: {exc.strerror}") from exc
    if stat.S_ISDIR(info.st_mode):
        return read_package_dir(path, limits)
    if not stat.S_ISREG(info.st_mode):
        raise PackageReadError(f"{path} is neither a file nor a folder")
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise PackageReadError(f"cannot read {path}: {exc.strerror}") from exc
    with fh:
        return read_package_stream(fh, limits)


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
