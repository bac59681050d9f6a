"""Reading an evidence package (``evidence-package/v1``): a ZIP, or the same tree as a folder.

Consensus-critical in what it accepts: the layout and every refusal are
specified in ``docs/package-format.md``. A package is untrusted input from
anyone, so it is read defensively and refused as a whole (a
:class:`~verifier.errors.PackageError`) at the first sign of hostility or
inconsistency; nothing of a refused package is ever partly verified. The ZIP
itself is read by :mod:`verifier.zipread` (bounded, knowing nothing of the
layout); this module holds the layout, the folder form and the reading algorithm.

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

For a server capture (:func:`verifier.capture.is_capture`), reading does two things
more while each file streams through the hashers once: ``archive.wacz`` is spooled and
checked against its own ``datapackage.json`` (:func:`verifier.capture.check_wacz`; the
verdict rides on its :class:`~verifier.capture.CheckedFile` to tier 1, which fails on a
refusal), and the small records the report prints (environment.json, main-document.json,
the TLS chains, the screenshot) are kept, each up to its limit. A WACZ that does not
hold together fails tier 1; it does not make the package unusable.

The log key and chain facts a package carries are returned for display only:
the caller must never trust them implicitly (the log's operator publishes
them; the appraiser compares and passes them explicitly).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from verifier import capture
from verifier.bundle import MAX_BUNDLE_BYTES, Bundle, load_bundle
from verifier.canonical import parse_json
from verifier.digests import DualHasher, FileDigest, sm3_hex
from verifier.errors import (
    FormatError,
    LinkError,
    PackageLayoutError,
    PackageMismatchError,
    PackageReadError,
    TooManyEntriesError,
)
from verifier.models import ManifestFile
from verifier.note import VerifierKey
from verifier.zipread import (
    Budget,
    Member,
    MemberSource,
    Readable,
    ZipLimits,
    ZipSource,
    check_member_name,
    show,
    zip_errors,
)

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
#: A capture's WACZ is spooled (to be opened as a ZIP) in memory up to this, then on disk.
WACZ_SPOOL_BYTES = 16 << 20


@dataclass(frozen=True)
class PackageLimits(ZipLimits):
    """Every bound a package is held to (see docs/package-format.md, "Limits"): those
    of :class:`~verifier.zipread.ZipLimits`, which a folder is held to as well."""


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


# --- the folder form (a ZIP is read by verifier.zipread.ZipSource) ------------------------


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

    def members(self) -> dict[str, Member]:
        return {
            name: Member(name, info.st_size, info.st_size)
            for name, (_, info) in self._listed.items()
            if not name.endswith("/")
        }

    @contextmanager
    def open(self, member: Member) -> Iterator[Readable]:
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


# --- reading members, bounded --------------------------------------------------------------


def _read_small(budget: Budget, source: MemberSource, member: Member) -> bytes:
    limit = SMALL_MEMBERS[member.name]
    if member.declared_size > limit:
        raise PackageLayoutError(f"{member.name} is {member.declared_size} bytes, limit {limit}")
    parts: list[bytes] = []
    if budget.pump(source, member, parts.append, limit) > limit:
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


def _check_file_set(members: dict[str, Member], bundle: Bundle) -> None:
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


class _CaptureReading:
    """For a capture's file: the WACZ spooled (to run :func:`~verifier.capture.check_wacz`
    on the very bytes hashed) or a small record's bytes kept for the report, while the
    file streams through the hashers once."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.spool: IO[bytes] | None = (
            tempfile.SpooledTemporaryFile(max_size=WACZ_SPOOL_BYTES)  # noqa: SIM115
            if name == capture.WACZ
            else None
        )
        self.keep = capture.keep_limit(name)
        self.parts: list[bytes] | None = [] if self.keep is not None else None
        self.kept = 0

    def sink(self, hasher: DualHasher) -> Callable[[bytes], None]:
        def feed(chunk: bytes) -> None:
            hasher.update(chunk)
            if self.spool is not None:
                self.spool.write(chunk)
            if self.parts is not None and self.keep is not None:
                self.kept += len(chunk)
                if self.kept > self.keep:
                    self.parts = None  # too large to print: left out, not refused
                else:
                    self.parts.append(chunk)

        return feed

    def result(self, got: FileDigest) -> capture.CheckedFile:
        wacz = None
        if self.spool is not None:
            self.spool.seek(0)
            wacz = capture.wacz_verdict(self.spool)
        content = b"".join(self.parts) if self.parts is not None else None
        return capture.CheckedFile(got.name, got.size, got.sha256, got.sm3, wacz, content)

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()


def _hash_files(
    source: MemberSource, members: dict[str, Member], bundle: Bundle, budget: Budget
) -> tuple[FileDigest, ...]:
    assert bundle.manifest is not None
    is_capture = capture.is_capture(bundle.manifest)
    out = []
    for listed in bundle.manifest.files:
        member = members[f"{FILES_DIR}/{listed.name}"]
        if not is_capture:
            out.append(_hash_one(source, member, listed, budget, None))
            continue
        reading = _CaptureReading(listed.name)
        try:
            out.append(_hash_one(source, member, listed, budget, reading))
        finally:
            reading.close()
    return tuple(out)


def _hash_one(
    source: MemberSource,
    member: Member,
    listed: ManifestFile,
    budget: Budget,
    reading: _CaptureReading | None,
) -> FileDigest:
    """Stream one member through the hashers (and ``reading``), checked against its listing."""
    shown = show(member.name)
    if member.declared_size != listed.size:
        raise PackageMismatchError(
            f"{shown} declares {member.declared_size} bytes, the manifest {listed.size}"
        )
    hasher = DualHasher()
    sink = reading.sink(hasher) if reading is not None else hasher.update
    produced = budget.pump(source, member, sink, listed.size)
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
            raise PackageMismatchError(f"{shown} {label} {have} differs from the manifest's {want}")
    return got if reading is None else reading.result(got)


def _assemble(source: MemberSource, limits: PackageLimits) -> EvidencePackage:
    members = source.members()
    missing = [name for name in REQUIRED_MEMBERS if name not in members]
    if missing:
        raise PackageLayoutError(f"the package has no {missing[0]}")
    budget = Budget(limits)
    index = _check_index(_read_small(budget, source, members["package.json"]))
    bundle = _load_proof(_read_small(budget, source, members["proof.json"]))
    _check_manifest(bundle, _read_small(budget, source, members["manifest.json"]))
    _check_index_agrees(index, bundle)
    key_text = chain = None
    if "log-key.vkey" in members:
        key_text = _parse_key(_read_small(budget, source, members["log-key.vkey"]))
    if "chain.json" in members:
        chain = _parse_chain(_read_small(budget, source, members["chain.json"]), bundle)
    if "README.txt" in members:
        _read_text(_read_small(budget, source, members["README.txt"]), "README.txt")
    _check_file_set(members, bundle)
    files = _hash_files(source, members, bundle, budget)
    return EvidencePackage(bundle, files, key_text, chain, source.kind)


# --- entry points ----------------------------------------------------------------------------


def read_package_stream(
    fileobj: IO[bytes], limits: PackageLimits = PackageLimits()
) -> EvidencePackage:
    """Read a ZIP package from a seekable binary file (the caller opens and closes it)."""
    with zip_errors():
        source = ZipSource(fileobj, limits, check_layout)
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
