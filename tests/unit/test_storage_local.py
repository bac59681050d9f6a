"""The embedded object store: a local folder, atomic writes, read-only objects."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence_api.core.storage import (
    ObjectNotFoundError,
    StorageIntegrityError,
    StorageUnavailableError,
    content_key,
)
from evidence_api.core.storage.factory import make_store
from evidence_api.core.storage.local import LocalObjectStore
from evidence_api.core.storage.s3 import S3ObjectStore
from verifier.digests import FileDigest, digest_stream, sm3_hex

# sha256sum /dev/null
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def write(path: Path, data: bytes) -> FileDigest:
    path.write_bytes(data)
    with open(path, "rb") as stream:
        return digest_stream(path.name, stream)


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects")


def leftovers(root: Path) -> list[Path]:
    """Temp files: anything hidden but the store's lock file and staging folder."""
    return [p for p in root.rglob("*") if p.name.startswith(".") and p.name not in KEPT]


KEPT = (".lock", ".incoming")


def test_put_file_stores_a_read_only_copy_under_its_content_key(
    store: LocalObjectStore, tmp_path: Path
) -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # several copy chunks
    source = tmp_path / "capture.warc"
    digest = write(source, data)

    stored = store.put_file(source, digest, "application/warc")

    assert stored.key == content_key(digest.sha256)
    assert (stored.size, stored.sha256, stored.sm3) == (len(data), digest.sha256, digest.sm3)
    target = store.root / "sha256" / digest.sha256[:2] / digest.sha256
    assert store.path_of(stored.key) == target
    assert target.read_bytes() == data
    assert stat.S_IMODE(target.stat().st_mode) == 0o400
    assert source.read_bytes() == data  # the caller's file stays usable
    assert leftovers(store.root) == []


def test_a_folder_reports_no_version_and_reads_its_one_copy_whatever_is_asked(
    store: LocalObjectStore, tmp_path: Path
) -> None:
    """Versions are an S3 matter: a folder keeps one copy per key, so a write
    reports none and a version recorded elsewhere does not stop the read."""
    source = tmp_path / "page.html"
    digest = write(source, b"<p>evidence</p>")
    assert store.put_file(source, digest, "text/html").version_id is None
    stored = store.put_bytes(b'{"v":1}', "application/json")
    assert stored.version_id is None
    key = content_key(digest.sha256)
    assert b"".join(store.open_stream(key, version_id=None)) == b"<p>evidence</p>"
    assert b"".join(store.open_stream(key, version_id="3HL4kqtJlcpXroDTDmJ")) == (
        b"<p>evidence</p>"
    )


def test_open_stream_yields_chunks_of_at_most_chunk_size(store: LocalObjectStore) -> None:
    data = bytes(range(256)) * 40
    stored = store.put_bytes(data, "application/octet-stream")
    chunks = list(store.open_stream(stored.key, chunk_size=1000))
    assert b"".join(chunks) == data
    assert [len(c) for c in chunks] == [1000] * 10 + [240]


def test_put_bytes_digests_match_hashlib(store: LocalObjectStore) -> None:
    data = b'{"v":1,"files":[]}'
    stored = store.put_bytes(data, "application/json")
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.sm3 == sm3_hex(data)
    assert stored.size == len(data)


def test_empty_object(store: LocalObjectStore) -> None:
    stored = store.put_bytes(b"", "application/octet-stream")
    assert stored.sha256 == EMPTY_SHA256
    assert list(store.open_stream(stored.key)) == []


@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=5000), chunk_size=st.integers(min_value=1, max_value=700))
def test_round_trip(tmp_path_factory: pytest.TempPathFactory, data: bytes, chunk_size: int) -> None:
    store = LocalObjectStore(tmp_path_factory.mktemp("objects"))
    stored = store.put_bytes(data, "application/octet-stream")
    assert b"".join(store.open_stream(stored.key, chunk_size)) == data


def test_storing_the_same_content_again_is_idempotent(
    store: LocalObjectStore, tmp_path: Path
) -> None:
    source = tmp_path / "a.bin"
    digest = write(source, b"same bytes")
    first = store.put_file(source, digest, "application/octet-stream")
    target = store.path_of(first.key)
    before = target.stat()

    again = store.put_file(source, replace(digest, name="b.bin"), "text/plain")
    also = store.put_bytes(b"same bytes", "application/octet-stream")

    assert again == first == also
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_write_is_atomic_and_durable(
    store: LocalObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes are fsynced in a temp file, renamed into place, then the
    directory is fsynced; the object never appears half-written."""
    source = tmp_path / "a.bin"
    digest = write(source, os.urandom(10_000))
    target = store.path_of(content_key(digest.sha256))
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
        events.append("fsync-dir" if is_dir else "fsync-file")
        real_fsync(fd)

    def replace_(src: str | Path, dst: str | Path) -> None:
        assert not target.exists()
        assert Path(src).parent == store.root / ".incoming"  # same file system
        assert Path(src).read_bytes() == source.read_bytes()
        assert stat.S_IMODE(Path(src).stat().st_mode) == 0o400
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace_)
    store.put_file(source, digest, "application/octet-stream")

    # Only directory fsyncs (of a newly created object directory) may come between.
    before_rename = events[: events.index("rename")]
    assert set(before_rename[before_rename.index("fsync-file") :]) == {
        "fsync-file",
        "fsync-dir",
    } or (before_rename[-1] == "fsync-file")
    assert events[-1] == "fsync-dir"
    assert events.index("fsync-file") < events.index("rename") < len(events) - 1


def test_a_failed_rename_leaves_no_object_and_no_temp_file(
    store: LocalObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "a.bin"
    digest = write(source, b"evidence")

    def fail(src: str | Path, dst: str | Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(StorageUnavailableError, match="No space left"):
        store.put_file(source, digest, "application/octet-stream")
    assert not store.path_of(content_key(digest.sha256)).exists()
    assert leftovers(store.root) == []


@pytest.mark.parametrize(
    "defect",
    ["sha256-of-other-bytes", "sm3-of-other-bytes", "size-off-by-one", "size-short-by-one"],
)
def test_a_file_that_does_not_match_its_digest_is_refused(
    store: LocalObjectStore, tmp_path: Path, defect: str
) -> None:
    source = tmp_path / "a.bin"
    real = write(source, b"the bytes that were received")
    claimed = {
        "sha256-of-other-bytes": replace(real, sha256=hashlib.sha256(b"other").hexdigest()),
        "sm3-of-other-bytes": replace(real, sm3=sm3_hex(b"other")),
        "size-off-by-one": replace(real, size=real.size + 1),
        "size-short-by-one": replace(real, size=real.size - 1),
    }[defect]

    with pytest.raises(StorageIntegrityError, match="not what its digest says"):
        store.put_file(source, claimed, "application/octet-stream")

    assert not store.path_of(content_key(claimed.sha256)).exists()
    assert not store.path_of(content_key(real.sha256)).exists()
    assert leftovers(store.root) == []


def test_an_altered_object_is_detected(store: LocalObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "a.bin"
    digest = write(source, b"original evidence")
    stored = store.put_file(source, digest, "application/octet-stream")
    target = store.path_of(stored.key)
    target.chmod(0o644)
    target.write_bytes(b"altered  evidence")  # same size, other bytes

    stream = store.open_stream(stored.key)
    with pytest.raises(StorageIntegrityError, match="altered"):
        list(stream)

    target.write_bytes(b"truncated")
    with pytest.raises(StorageIntegrityError, match="has been altered"):
        store.put_file(source, digest, "application/octet-stream")


@pytest.mark.parametrize(
    "key",
    [
        "../../etc/passwd",
        "sha256/../../../etc/passwd",
        "/etc/passwd",
        "sha256/" + "A" * 64,  # upper case
        "sha256/" + "0" * 63,  # one short
        "sha256/" + "0" * 65,  # one long
        "sha256/" + "0" * 64 + "/",
        "sha512/" + "0" * 64,
        "sha256/" + "0" * 62 + "..",
        "",
    ],
)
def test_keys_that_are_not_content_keys_are_not_found(store: LocalObjectStore, key: str) -> None:
    with pytest.raises(ObjectNotFoundError, match="not a content key"):
        store.open_stream(key)
    with pytest.raises(ObjectNotFoundError):
        store.path_of(key)


def test_a_malformed_digest_is_a_programming_error(store: LocalObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "a.bin"
    digest = write(source, b"x")
    with pytest.raises(ValueError, match="64 lowercase hex"):
        store.put_file(source, replace(digest, sha256="../" + digest.sha256[3:]), "x/y")


def test_missing_object_is_not_found_when_opened(store: LocalObjectStore) -> None:
    with pytest.raises(ObjectNotFoundError):
        store.open_stream(content_key(EMPTY_SHA256))  # raised at the call, not at iteration


def test_check_creates_a_missing_root(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "new" / "objects")
    store.check()
    assert store.root.is_dir()
    assert list(store.root.iterdir()) == []  # the probe file is gone


def test_a_root_that_is_a_file_is_unavailable(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    root.write_text("not a directory")
    store = LocalObjectStore(root)
    with pytest.raises(StorageUnavailableError, match="not a writable directory"):
        store.check()
    with pytest.raises(StorageUnavailableError):
        store.put_bytes(b"evidence", "application/octet-stream")
    with pytest.raises(StorageUnavailableError):
        store.open_stream(content_key(hashlib.sha256(b"evidence").hexdigest()))
    assert root.read_text() == "not a directory"


def test_make_store_builds_either_adapter_without_connecting(tmp_path: Path) -> None:
    local = make_store("local", root=str(tmp_path / "objects"))
    assert isinstance(local, LocalObjectStore)
    assert local.root == tmp_path / "objects"
    assert not local.root.exists()
    s3 = make_store(
        "s3",
        endpoint="127.0.0.1:1",  # nothing listens there; nothing is asked
        access_key="key",
        secret_key="secret",
        bucket="evidence",
        secure=False,
        region=None,
        retention_days=3650,
    )
    assert isinstance(s3, S3ObjectStore)
    with pytest.raises(ValueError, match="unknown object store kind"):
        make_store("ftp", root="x")  # type: ignore[arg-type]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_objects_and_their_directories_are_read_only_and_private(
    store: LocalObjectStore, tmp_path: Path
) -> None:
    """The service's user cannot remove or replace a stored object: the object is
    0400 and the directories holding it 0500 (no write, so no unlink or rename in
    them). Tests run as root, which ignores modes, so the modes are what is checked;
    nothing is readable by others."""
    first = store.put_bytes(b"first object", "application/octet-stream")
    source = tmp_path / "b.bin"
    digest = write(source, b"second object")
    second = store.put_file(source, digest, "application/octet-stream")

    for stored in (first, second):
        target = store.path_of(stored.key)
        assert mode(target) == 0o400
        assert mode(target.parent) == 0o500
    assert mode(store.root / "sha256") == 0o500
    assert mode(store.root / ".incoming") == 0o700
    assert [p for p in (store.root / ".incoming").iterdir()] == []


def test_a_second_object_in_a_sealed_directory_is_stored_and_sealed_again(
    store: LocalObjectStore,
) -> None:
    """Writing reopens the object's directory only under the store's lock, for the
    rename, and seals it again (objects sharing the first two hex digits)."""
    blobs: dict[str, bytes] = {}
    n = 0
    while len(blobs) < 2:  # two contents whose SHA-256 starts with the same byte
        data = n.to_bytes(4, "big")
        n += 1
        digest = hashlib.sha256(data).hexdigest()
        if digest.startswith("00"):
            blobs[digest] = data
    for data in blobs.values():
        store.put_bytes(data, "application/octet-stream")
    directory = store.root / "sha256" / "00"
    assert sorted(p.name for p in directory.iterdir()) == sorted(blobs)
    assert mode(directory) == 0o500
    assert all(mode(p) == 0o400 for p in directory.iterdir())
