"""Evidence packages (``evidence-package/v1``): valid ones verify from a ZIP and from a
folder; hostile or inconsistent ones are refused with a typed error and one clear
line, and ``evidence-verify`` exits 3.

Hostile archives are written byte by byte (:func:`raw_zip`), so that a test can put
in a ZIP exactly what an attacker would — a symlink mode, a NUL in a name, 100,000
entries, a deflate stream of 64 MiB of zeros — cheaply and without zipfile's
own sanitising. The full-size cases (a gigabyte of zeros; the 100,000-entry ZIP opened by
zipfile) are in tests/integration/test_package_full.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from anchoring.entries import evidence_entry, sealed_bundle, sign_checkpoint
from anchoring.log import MerkleLog
from anchoring.store import MemoryNodeStore
from tests.support.factories import Sealed, manifest_for, sealed_evidence, signer
from verifier.cli import run
from verifier.digests import CHUNK
from verifier.errors import (
    LinkError,
    PackageError,
    PackageLayoutError,
    PackageMismatchError,
    TooManyEntriesError,
    TruncatedPackageError,
    UnsafePathError,
    ZipBombError,
)
from verifier.models import Manifest
from verifier.package import PackageLimits, read_package, read_package_stream
from verifier.verify import Outcome, Status, verify_bundle
from verifier.zipread import Budget

MiB = 2**20
GiB = 2**30
#: The unit tier's zip bomb: 64 MiB of zeros deflated about 1000:1, well beyond the reader's
#: 200:1 (tests/integration/test_package_full.py inflates a gigabyte).
BOMB = 64 * MiB

# --- building packages ---------------------------------------------------------------------


def members_of(sealed: Sealed, *, key: bool = True) -> dict[str, bytes]:
    """The members of a valid package for ``sealed`` (name -> bytes), as the exporter
    writes them."""
    assert sealed.manifest is not None
    names = [f.name for f in sealed.manifest.files]
    out = {
        "package.json": json.dumps(
            {
                "format": "evidence-package/v1",
                "evidence_id": sealed.entry.id,
                "exported_at": "2026-11-26T06:00:05Z",
                "files": names,
            }
        ).encode(),
        "README.txt": "核验说明\nHow to verify\n".encode(),
        "manifest.json": sealed.manifest.canonical(),
        "proof.json": sealed.bundle.to_json().encode(),
        "chain.json": json.dumps(
            {"chain_id": 31337, "contract": "0x" + "ab" * 20, "log_id": "0x" + "cd" * 32}
        ).encode(),
    }
    if key:
        out["log-key.vkey"] = (sealed.signer.verifier().to_text() + "\n").encode()
    out |= {f"files/{name}": data for name, data in sealed.files.items()}
    return out


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    """A deflated ZIP of ``members``, the same bytes every time (a fixed member time): the
    shared vectors under testdata/ are built with it."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 26, 6, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16  # what writestr gives a name
            zf.writestr(info, data)
    return path


def write_dir(root: Path, members: dict[str, bytes]) -> Path:
    for name, data in members.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


@dataclass
class Raw:
    """One member of a hand-written ZIP; ``data`` as stored (deflated if ``method`` 8)."""

    name: str | bytes
    data: bytes = b""
    method: int = 0
    size: int | None = None  # uncompressed size; default len(data)
    crc: int | None = None  # default: the CRC-32 of data (right for stored members)
    mode: int = 0o100644
    flags: int = 0x800  # names in UTF-8
    offset: int | None = field(default=None)  # where the central record points


def raw_zip(members: list[Raw], *, declared_entries: int | None = None) -> bytes:
    """A ZIP written field by field (ZIP64 end records when there are 65,535+ entries)."""
    out = bytearray()
    central = bytearray()
    for m in members:
        name = m.name.encode() if isinstance(m.name, str) else m.name
        size = len(m.data) if m.size is None else m.size
        crc = zlib.crc32(m.data) if m.crc is None else m.crc
        offset = len(out) if m.offset is None else m.offset
        if m.offset is None:
            out += struct.pack(
                "<4s5H3L2H",
                b"PK\x03\x04",
                20,
                m.flags,
                m.method,
                0,
                33,
                crc,
                len(m.data),
                size,
                len(name),
                0,
            )
            out += name + m.data
        central += struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            (3 << 8) | 20,
            20,
            m.flags,
            m.method,
            0,
            33,
            crc,
            len(m.data),
            size,
            len(name),
            0,
            0,
            0,
            0,
            m.mode << 16,
            offset,
        )
        central += name
    count = len(members) if declared_entries is None else declared_entries
    cd_offset = len(out)
    out += central
    if count >= 0xFFFF:
        eocd64_at = len(out)
        out += struct.pack(
            "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(central), cd_offset
        )
        out += struct.pack("<4sLQL", b"PK\x06\x07", 0, eocd64_at, 1)
        count = 0xFFFF
    out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), cd_offset, 0)
    return bytes(out)


def raw_package(sealed: Sealed, *extra: Raw, skip: tuple[str, ...] = ()) -> list[Raw]:
    """A valid package as stored :class:`Raw` members, plus ``extra``."""
    return [Raw(n, d) for n, d in members_of(sealed).items() if n not in skip] + list(extra)


def zeros_deflated(size: int) -> bytes:
    """A raw deflate stream of ``size`` zero bytes (a multiple of 1 MiB), built in
    milliseconds: one flushed 1 MiB block (its back-references stay inside it) repeated,
    then an empty final block."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(bytes(1 << 20)) + comp.flush(zlib.Z_FULL_FLUSH)
    return block * (size >> 20) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()


def zeros_crc(size: int) -> int:
    crc, chunk = 0, bytes(1 << 20)
    for _ in range(size >> 20):
        crc = zlib.crc32(chunk, crc)
    return crc


def seal_manifest(manifest: Manifest) -> Sealed:
    """A sealed bundle for an arbitrary manifest (one whose files we do not hold)."""
    key = signer()
    log = MerkleLog(MemoryNodeStore())
    entry = evidence_entry(manifest, at="2026-11-26T06:00:01.000Z", salt="22" * 16)
    index = log.append([entry.leaf_data()])
    note = sign_checkpoint(log, key)
    bundle = sealed_bundle(log, entry, index, note, log.size, origin=key.name, manifest=manifest)
    return Sealed(log, key, manifest, entry, index, bundle, {})


def with_file_sizes(manifest: Manifest, sizes: dict[str, int]) -> Manifest:
    data = manifest.model_dump(mode="json")
    for f in data["files"]:
        f["size"] = sizes.get(f["name"], f["size"])
    return Manifest.model_validate(data)


@pytest.fixture(scope="module")
def sealed() -> Sealed:
    return sealed_evidence()


def bomb_sealed_of(size: int) -> Sealed:
    """A manifest naming one ``size``-byte file of zeros (digests never reached: refused)."""
    return seal_manifest(with_file_sizes(manifest_for({"zeros.bin": b""}), {"zeros.bin": size}))


def bomb_member_of(size: int) -> Raw:
    """``files/zeros.bin``: ``size`` zero bytes deflated, with honest sizes and CRC."""
    return Raw("files/zeros.bin", zeros_deflated(size), method=8, size=size, crc=zeros_crc(size))


@pytest.fixture(scope="module")
def bomb_sealed() -> Sealed:
    return bomb_sealed_of(BOMB)


@pytest.fixture(scope="module")
def bomb_member() -> Raw:
    return bomb_member_of(BOMB)


# --- valid packages ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["zip", "dir"])
def test_valid_package_verifies_tiers_1_to_4(kind: str, sealed: Sealed, tmp_path: Path) -> None:
    members = members_of(sealed)
    if kind == "zip":
        path = write_zip(tmp_path / "p.zip", members)
    else:
        path = write_dir(tmp_path / "p", members)
    package = read_package(path)
    assert package.source == kind
    assert package.bundle == sealed.bundle
    assert [(f.name, f.size) for f in package.files] == [
        (n, len(d)) for n, d in sealed.files.items()
    ]
    for f in package.files:
        data = sealed.files[f.name]
        assert f.sha256 == hashlib.sha256(data).hexdigest()
        assert f.sm3 == hashlib.new("sm3", data).hexdigest()
    assert package.log_key_text == sealed.signer.verifier().to_text()
    assert package.chain is not None
    assert package.chain.chain_id == 31337
    report = verify_bundle(
        package.bundle, files=package.files, log_keys=[sealed.signer.verifier()], through=4
    )
    assert report.outcome == Outcome.VERIFIED
    assert [t.status for t in report.tiers[:4]] == [Status.VERIFIED] * 4


def test_stream_reader_and_optional_members(sealed: Sealed) -> None:
    members = {k: v for k, v in members_of(sealed).items() if k not in ("README.txt", "chain.json")}
    buf = io.BytesIO(raw_zip([Raw(n, d) for n, d in members.items()]))
    package = read_package_stream(buf)
    assert package.chain is None
    assert len(package.files) == 2


def test_empty_file_and_directory_entries_are_accepted(tmp_path: Path) -> None:
    case = sealed_evidence({"empty.txt": b"", "a.bin": b"\x00" * 5000})
    raws = [Raw("files/", mode=0o040755), *raw_package(case)]
    assert len(read_package_stream(io.BytesIO(raw_zip(raws))).files) == 2


def test_entry_limit_is_exact(sealed: Sealed) -> None:
    data = raw_zip(raw_package(sealed))
    count = len(members_of(sealed))
    assert read_package_stream(io.BytesIO(data), PackageLimits(max_entries=count))
    with pytest.raises(TooManyEntriesError, match=f"holds {count} entries, limit {count - 1}"):
        read_package_stream(io.BytesIO(data), PackageLimits(max_entries=count - 1))


def test_ratio_limit_is_exact() -> None:
    # 3 MiB of zeros deflates to ~3 KiB: a 1,000:1 ratio. With a grace of exactly the
    # file's size it passes; one byte less, it is a bomb.
    size = 3 << 20
    case = seal_manifest(manifest_for({"z.bin": bytes(size)}))
    raws = raw_package(
        case, Raw("files/z.bin", zeros_deflated(size), method=8, size=size, crc=zeros_crc(size))
    )
    data = raw_zip(raws)
    assert read_package_stream(io.BytesIO(data), PackageLimits(ratio_grace_bytes=size))
    with pytest.raises(ZipBombError, match="200:1"):
        read_package_stream(io.BytesIO(data), PackageLimits(ratio_grace_bytes=size - 1))


# --- hostile and inconsistent packages ------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    build: Callable[[Sealed, Path], Path]
    error: type[PackageError]
    fragment: str


def zip_of(raws: list[Raw]) -> Callable[[Path], Path]:
    def write(tmp: Path) -> Path:
        path = tmp / "hostile.zip"
        path.write_bytes(raw_zip(raws))
        return path

    return write


def _extra(name: str | bytes, **kw: object) -> Callable[[Sealed, Path], Path]:
    return lambda s, tmp: zip_of(raw_package(s, Raw(name, b"x", **kw)))(tmp)  # type: ignore[arg-type]


def _truncated(cut: Callable[[int], int]) -> Callable[[Sealed, Path], Path]:
    def build(s: Sealed, tmp: Path) -> Path:
        data = raw_zip(raw_package(s))
        path = tmp / "cut.zip"
        path.write_bytes(data[: cut(len(data))])
        return path

    return build


def _cut_out_middle(s: Sealed, tmp: Path) -> Path:
    """The end records intact, 64 bytes of member data gone (a damaged copy)."""
    data = raw_zip(raw_package(s))
    at = data.index(b"evidence-proof/v1")
    return _write(tmp / "cut.zip", data[:at] + data[at + 64 :])


def _multi_disk(s: Sealed, tmp: Path) -> Path:
    data = bytearray(raw_zip(raw_package(s)))
    data[-18:-16] = struct.pack("<H", 1)  # "number of this disk" in the end record
    return _write(tmp / "disk.zip", bytes(data))


def _many_entries(s: Sealed, tmp: Path) -> Path:
    raws = [Raw(f"files/{i}") for i in range(100_000)]
    path = tmp / "many.zip"
    path.write_bytes(raw_zip(raws))
    return path


def _understated_count(s: Sealed, tmp: Path) -> Path:
    path = tmp / "understated.zip"
    path.write_bytes(raw_zip([Raw(f"files/{i}") for i in range(2000)], declared_entries=3))
    return path


def _replace(name: str, data: bytes, s: Sealed, tmp: Path) -> Path:
    members = members_of(s)
    members[name] = data
    return write_zip(tmp / "changed.zip", members)


def _altered_manifest(s: Sealed, tmp: Path) -> Path:
    """proof.json's manifest altered, and manifest.json with it: both agree, but no
    longer hash to the entry's digests."""
    data = s.manifest.model_dump(mode="json")
    data["source"]["url"] = "https://elsewhere.example.com/"
    manifest = Manifest.model_validate(data)
    members = members_of(s)
    members["manifest.json"] = manifest.canonical()
    members["proof.json"] = s.bundle.model_copy(update={"manifest": manifest}).to_json().encode()
    return write_zip(tmp / "changed.zip", members)


def _flip_stored_byte(s: Sealed, tmp: Path) -> Path:
    data = bytearray(raw_zip(raw_package(s)))
    at = data.index(b"<html>shop</html>")
    data[at] ^= 0x01
    path = tmp / "crc.zip"
    path.write_bytes(bytes(data))
    return path


def _overlap_zip(s: Sealed, tmp: Path) -> Path:
    """A second central record pointing at the first member's data: the non-recursive
    zip bomb's trick (one deflate stream counted many times)."""
    raws = raw_package(s)
    dup = Raw("files/alias", raws[0].data, offset=0)
    path = tmp / "overlap.zip"
    path.write_bytes(raw_zip([*raws, dup]))
    return path


HOSTILE: dict[str, Hostile] = {
    "path-traversal-dotdot": Hostile(_extra("../x"), UnsafePathError, "'..'"),
    "path-traversal-inner-dotdot": Hostile(_extra("files/../../x"), UnsafePathError, "'..'"),
    "absolute-path": Hostile(_extra("/etc/x"), UnsafePathError, "absolute"),
    "backslash-path": Hostile(_extra("files/..\\x"), UnsafePathError, "backslash"),
    "drive-letter": Hostile(_extra("C:/x"), UnsafePathError, "drive letter"),
    "nul-in-name": Hostile(_extra(b"files/a\x00.txt"), UnsafePathError, "NUL"),
    "newline-in-name": Hostile(_extra("files/a\nb"), UnsafePathError, "control character"),
    "empty-component": Hostile(_extra("files//x"), UnsafePathError, "empty"),
    "duplicate-member": Hostile(_extra("files/page.html"), UnsafePathError, "appears twice"),
    "symlink-member": Hostile(_extra("files/link", mode=0o120777), LinkError, "symbolic link"),
    "device-member": Hostile(_extra("files/dev", mode=0o020644), PackageLayoutError, "regular"),
    "unknown-member": Hostile(_extra("evil.sh"), PackageLayoutError, "unknown member"),
    "nested-file": Hostile(_extra("files/sub/x"), PackageLayoutError, "unknown member"),
    "100000-entries": Hostile(_many_entries, TooManyEntriesError, "100000 entries, limit 1100"),
    "understated-entry-count": Hostile(_understated_count, TooManyEntriesError, "2000 entries"),
    "truncated-half": Hostile(
        _truncated(lambda n: n // 2), TruncatedPackageError, "not a readable ZIP"
    ),
    "truncated-last-byte": Hostile(
        _truncated(lambda n: n - 1), TruncatedPackageError, "not a readable ZIP"
    ),
    "truncated-central-directory": Hostile(
        _truncated(lambda n: n - 30), TruncatedPackageError, "not a readable ZIP"
    ),
    "multi-disk": Hostile(_multi_disk, TruncatedPackageError, "multi-disk"),
    "member-data-cut-out": Hostile(_cut_out_middle, TruncatedPackageError, "not a readable ZIP"),
    "not-a-zip": Hostile(
        lambda s, tmp: _write(tmp / "x.zip", b"PK\x03\x04" + b"\x00" * 100),
        TruncatedPackageError,
        "end-of-central-directory",
    ),
    "crc-error": Hostile(_flip_stored_byte, TruncatedPackageError, "CRC"),
    "unsupported-compression": Hostile(
        _extra("files/x.bz2", method=12), TruncatedPackageError, "compression method 12"
    ),
    "encrypted-member": Hostile(_extra("files/x", flags=0x801), TruncatedPackageError, "encrypted"),
    "overlapping-members": Hostile(_overlap_zip, ZipBombError, "overlaps"),
    "manifest-not-the-proofs": Hostile(
        lambda s, tmp: _replace("manifest.json", s.manifest.canonical() + b" ", s, tmp),
        PackageMismatchError,
        "is not the canonical manifest in proof.json",
    ),
    "manifest-not-the-entrys": Hostile(_altered_manifest, PackageMismatchError, "not the entry's"),
    "file-not-the-manifests": Hostile(
        lambda s, tmp: _replace("files/page.html", b"<html>shoP</html>", s, tmp),
        PackageMismatchError,
        "'files/page.html' SHA-256",
    ),
    "file-longer-than-manifest": Hostile(
        lambda s, tmp: _replace("files/page.html", b"<html>shop</html>!", s, tmp),
        PackageMismatchError,
        "declares 18 bytes, the manifest 17",
    ),
    "file-missing": Hostile(
        lambda s, tmp: zip_of(raw_package(s, skip=("files/shot.png",)))(tmp),
        PackageMismatchError,
        "'files/shot.png' is in the manifest but missing",
    ),
    "file-extra": Hostile(
        _extra("files/planted.exe"),
        PackageMismatchError,
        "'files/planted.exe' is in the package but not",
    ),
    "no-proof": Hostile(
        lambda s, tmp: zip_of(raw_package(s, skip=("proof.json",)))(tmp),
        PackageLayoutError,
        "no proof.json",
    ),
    "unknown-format-version": Hostile(
        lambda s, tmp: _replace(
            "package.json", b'{"format":"evidence-package/v9","evidence_id":"x","files":[]}', s, tmp
        ),
        PackageLayoutError,
        "unknown package format 'evidence-package/v9'",
    ),
    "bad-log-key": Hostile(
        lambda s, tmp: _replace("log-key.vkey", b"not a key\n", s, tmp),
        PackageLayoutError,
        "log-key.vkey",
    ),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def one_stderr_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = run(argv)
    out, err = capsys.readouterr()
    assert code == 3, (out, err)
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("evidence-verify: unusable input: ")
    return lines[0]


@pytest.mark.parametrize("case", HOSTILE, ids=HOSTILE.keys())
def test_hostile_package_is_refused(
    case: str, sealed: Sealed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = HOSTILE[case]
    path = hostile.build(sealed, tmp_path)
    with pytest.raises(hostile.error) as caught:
        read_package(path)
    message = str(caught.value)
    assert hostile.fragment in message
    assert "\n" not in message
    line = one_stderr_line([str(path), "--log-key", sealed.signer.verifier().to_text()], capsys)
    assert hostile.fragment.replace("\n", "\\n") in line


def test_zip_bomb_is_refused_while_inflating(
    bomb_sealed: Sealed, bomb_member: Raw, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check_bomb_refused_while_inflating(bomb_sealed, bomb_member, tmp_path, capsys)


def check_bomb_refused_while_inflating(
    bomb_sealed: Sealed, bomb_member: Raw, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 64 MiB (or 1 GiB) of zeros in about a thousandth of that; every header is honest, so
    # only counting the bytes as they come out can stop it — at 200:1, long before the end.
    size = bomb_member.size
    assert size is not None
    path = _write(tmp_path / "bomb.zip", raw_zip(raw_package(bomb_sealed, bomb_member)))
    assert path.stat().st_size < size // 500
    with pytest.raises(ZipBombError, match=r"'files/zeros.bin' inflates beyond 200:1") as caught:
        read_package(path)
    # Stopped by the count within one chunk past 200:1, long before the end.
    counts = re.search(r"\((\d+) bytes from (\d+)\)", str(caught.value))
    assert counts is not None, caught.value
    produced, stored = int(counts[1]), int(counts[2])
    assert 200 * stored < produced <= 200 * stored + CHUNK
    assert produced < size // 4
    line = one_stderr_line([str(path)], capsys)
    assert "zip bomb" in line


def test_zip_bomb_beyond_the_member_limit_is_refused_from_its_header(
    bomb_sealed: Sealed, bomb_member: Raw, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "bomb.zip", raw_zip(raw_package(bomb_sealed, bomb_member)))
    monkeypatch.setattr(Budget, "pump", inflating_is_refused)
    with pytest.raises(ZipBombError, match=f"declares {BOMB} bytes, limit {BOMB - 1}"):
        read_package(path, PackageLimits(max_member_bytes=BOMB - 1))


def inflating_is_refused(*_args: object) -> int:
    raise AssertionError("a member was inflated: the declared sizes are checked first")


def test_total_limit_counts_inflated_bytes(sealed: Sealed) -> None:
    data = raw_zip(raw_package(sealed))
    total = sum(len(d) for d in members_of(sealed).values())
    assert read_package_stream(io.BytesIO(data), PackageLimits(max_total_bytes=total))
    with pytest.raises(ZipBombError, match="declares"):
        read_package_stream(io.BytesIO(data), PackageLimits(max_total_bytes=total - 1))


# --- folders -----------------------------------------------------------------------------------


def test_symlink_in_folder_is_refused(
    sealed: Sealed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_dir(tmp_path / "p", members_of(sealed))
    (root / "files" / "page.html").unlink()
    (root / "files" / "page.html").symlink_to("/etc/passwd")
    with pytest.raises(LinkError, match=r"'files/page\.html' is a symbolic link"):
        read_package(root)
    assert "symbolic link" in one_stderr_line([str(root)], capsys)


def test_symlinked_files_folder_is_refused(sealed: Sealed, tmp_path: Path) -> None:
    elsewhere = write_dir(tmp_path / "elsewhere", {"x": b""})
    members = {k: v for k, v in members_of(sealed).items() if not k.startswith("files/")}
    root = write_dir(tmp_path / "p", members)
    (root / "files").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(LinkError, match="'files' is a symbolic link"):
        read_package(root)


def test_fifo_in_folder_is_refused(sealed: Sealed, tmp_path: Path) -> None:
    root = write_dir(tmp_path / "p", members_of(sealed))
    os.mkfifo(root / "files" / "pipe")
    with pytest.raises(PackageLayoutError, match="'files/pipe' is not a regular file"):
        read_package(root)


def test_folder_entry_limit_stops_listing(sealed: Sealed, tmp_path: Path) -> None:
    root = write_dir(tmp_path / "p", members_of(sealed))
    for i in range(50):
        (root / "files" / f"x{i}").write_bytes(b"")
    with pytest.raises(TooManyEntriesError, match="more than 20 entries"):
        read_package(root, PackageLimits(max_entries=20))


def test_changed_file_in_folder_names_file_and_digests(sealed: Sealed, tmp_path: Path) -> None:
    root = write_dir(tmp_path / "p", members_of(sealed))
    (root / "files" / "shot.png").write_bytes(b"\x89PNG,,,")
    with pytest.raises(PackageMismatchError) as caught:
        read_package(root)
    message = str(caught.value)
    want = hashlib.sha256(sealed.files["shot.png"]).hexdigest()
    got = hashlib.sha256(b"\x89PNG,,,").hexdigest()
    assert f"'files/shot.png' SHA-256 {got} differs from the manifest's {want}" == message


# --- the CLI on packages -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["zip", "dir"])
def test_cli_verifies_a_package_and_shows_but_does_not_trust_its_key(
    kind: str, sealed: Sealed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    members = members_of(sealed)
    path = (
        write_zip(tmp_path / "evidence.bin", members)  # a ZIP by content, not by name
        if kind == "zip"
        else write_dir(tmp_path / "p", members)
    )
    assert run([str(path), "--through", "4"]) == 2  # the package's own key is not trusted
    out = capsys.readouterr().out
    assert "package log key (informational, NOT trusted)" in out
    assert "--log-key log-key.vkey" in out
    assert "--contract 0x" + "ab" * 20 + " --chain-id 31337" in out
    key_file = tmp_path / "log-key.vkey"
    key_file.write_bytes(members["log-key.vkey"])
    assert run([str(path), "--log-key", str(key_file), "--through", "4"]) == 0
    out = capsys.readouterr().out
    assert "核验通过 VERIFIED" in out
    assert "compare it with the key" not in out


def test_cli_json_reports_package_facts(
    sealed: Sealed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_zip(tmp_path / "p.zip", members_of(sealed))
    assert run([str(path), "--json", "--log-key", sealed.signer.verifier().to_text()]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["package"]["trusted"] is False
    assert report["package"]["files"] == 2
    assert report["package"]["chain"]["chain_id"] == 31337
    assert report["package"]["log_key_fingerprint"].startswith("evidence.test/log+")


def test_cli_refuses_file_with_a_package(
    sealed: Sealed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_zip(tmp_path / "p.zip", members_of(sealed))
    line = one_stderr_line([str(path), "--file", str(path)], capsys)
    assert "--file cannot be used with a package" in line


# --- the README's steps by hand ---------------------------------------------------------------


def test_format_document_states_the_readers_limits() -> None:
    """docs/package-format.md quotes the limits and member caps the reader enforces."""
    from verifier.package import SMALL_MEMBERS  # noqa: PLC0415
    from verifier.zipread import CD_BYTES_PER_ENTRY, MAX_NAME_CHARS  # noqa: PLC0415

    doc = (Path(__file__).parents[2] / "docs" / "package-format.md").read_text(encoding="utf-8")
    limits = PackageLimits()
    for row in (
        f"| `max_entries` | {limits.max_entries:,} |".replace(",", " "),
        f"| `max_member_bytes` | {limits.max_member_bytes >> 30} GiB |",
        f"| `max_total_bytes` | {limits.max_total_bytes >> 30} GiB |",
        f"| `max_ratio` | {limits.max_ratio} |",
        f"| `ratio_grace_bytes` | {limits.ratio_grace_bytes >> 20} MiB |",
        f"(`max_entries` + 1) × {CD_BYTES_PER_ENTRY} bytes",
        f"longer than {MAX_NAME_CHARS} characters",
    ):
        assert row in doc, row
    for name, cap in SMALL_MEMBERS.items():
        shown = f"{cap >> 20} MiB" if cap >= 1 << 20 else str(cap)
        assert f"| `{name}` |" in doc and shown in doc.split(f"| `{name}` |")[1].split("\n")[0]


# --- the report from the CLI ---------------------------------------------------------------------


def test_cli_writes_the_report_for_a_package(
    sealed: Sealed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pypdf  # noqa: PLC0415

    path = write_zip(tmp_path / "p.zip", members_of(sealed))
    out = tmp_path / "核验报告.pdf"
    argv = [str(path), "--log-key", sealed.signer.verifier().to_text(), "--through", "4"]
    assert run([*argv, "--report", str(out), "--lang", "en"]) == 0
    capsys.readouterr()
    assert out.read_bytes().startswith(b"%PDF-")
    text = "".join(page.extract_text() for page in pypdf.PdfReader(out).pages)
    assert sealed.entry.id in text
    for data in sealed.files.values():
        assert hashlib.sha256(data).hexdigest() in text
    assert not list(tmp_path.glob(".*.partial"))


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--report", "/nonexistent-folder/r.pdf"], "--report: no such folder"),
        (["--report", "{tmp}"], "is a folder"),
        (["--report", "{tmp}/r.pdf", "--portal-url", "ftp://x/verify"], "--portal-url"),
    ],
    ids=["missing-folder", "folder", "bad-portal-url"],
)
def test_cli_report_problems_exit_3_before_verifying(
    extra: list[str],
    fragment: str,
    sealed: Sealed,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_zip(tmp_path / "p.zip", members_of(sealed))
    argv = [str(path), *(a.replace("{tmp}", str(tmp_path)) for a in extra)]
    assert fragment in one_stderr_line(argv, capsys)
    assert not (tmp_path / "r.pdf").exists()
