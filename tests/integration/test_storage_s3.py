"""The S3 adapter against a real SeaweedFS with Object Lock (no mocks: moto does
not enforce COMPLIANCE retention, and WORM is the point of these tests)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import time
import tracemalloc
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from minio import Minio
from minio.commonconfig import COMPLIANCE, ENABLED, GOVERNANCE
from minio.error import S3Error
from minio.retention import Retention

from evidence_api.core.storage import (
    ObjectNotFoundError,
    StorageError,
    StorageIntegrityError,
    StorageUnavailableError,
    content_key,
)
from evidence_api.core.storage.s3 import MIN_PART_SIZE, S3ObjectStore
from tests.support.seaweed import SeaweedS3, free_port
from verifier.digests import DualHasher, FileDigest, digest_stream

pytestmark = pytest.mark.s3

MIB = 1 << 20


def write_random(path: Path, size: int) -> FileDigest:
    """Write ``size`` random bytes to ``path`` in 1 MiB pieces and return their digest."""
    with open(path, "wb") as out:
        for offset in range(0, size, MIB):
            out.write(os.urandom(min(MIB, size - offset)))
    with open(path, "rb") as stream:
        return digest_stream(path.name, stream)


def read_all(
    store: S3ObjectStore, key: str, chunk_size: int = 1 << 20, version_id: str | None = None
) -> bytes:
    return b"".join(store.open_stream(key, chunk_size, version_id=version_id))


def versions(client: Minio, bucket: str, key: str) -> list[tuple[str | None, bool]]:
    """(version id, is delete marker) of every version under ``key``, newest first."""
    return [
        (o.version_id, o.is_delete_marker)
        for o in client.list_objects(bucket, key, include_version=True)
    ]


def the_only_version(client: Minio, bucket: str, key: str) -> str:
    found = versions(client, bucket, key)
    assert len(found) == 1, found
    version_id = found[0][0]
    assert version_id is not None
    return version_id


def test_bucket_has_object_lock_and_versioning(s3_store: S3ObjectStore, seaweed: SeaweedS3) -> None:
    client = seaweed.client()
    client.get_object_lock_config(s3_store.bucket)  # raises if the bucket has no Object Lock
    assert client.get_bucket_versioning(s3_store.bucket).status == ENABLED


def test_ensure_bucket_is_idempotent(s3_store: S3ObjectStore) -> None:
    s3_store.ensure_bucket()
    s3_store.ensure_bucket()
    s3_store.check()


def test_bucket_without_object_lock_is_refused(seaweed: SeaweedS3, tmp_path: Path) -> None:
    bucket = f"plain-{uuid.uuid4().hex[:16]}"
    seaweed.client().make_bucket(bucket)  # no Object Lock
    store = S3ObjectStore(
        seaweed.endpoint, seaweed.access_key, seaweed.secret_key, bucket, retention_days=1
    )
    with pytest.raises(StorageError, match="without Object Lock"):
        store.ensure_bucket()
    # Writing checks the bucket first, so no evidence lands there unprotected.
    path = tmp_path / "evidence.bin"
    digest = write_random(path, 1000)
    with pytest.raises(StorageError, match="without Object Lock"):
        store.put_file(path, digest, "application/octet-stream")
    assert list(seaweed.client().list_objects(bucket, recursive=True)) == []


def test_stored_bytes_read_back_and_hash_to_the_digests(
    s3_store: S3ObjectStore, tmp_path: Path
) -> None:
    path = tmp_path / "page.warc"
    digest = write_random(path, 300_000)

    stored = s3_store.put_file(path, digest, "application/warc")

    assert stored.key == content_key(digest.sha256)
    assert (stored.size, stored.sha256, stored.sm3) == (digest.size, digest.sha256, digest.sm3)
    hasher = DualHasher()
    chunks = list(s3_store.open_stream(stored.key, chunk_size=64 * 1024))
    assert max(len(c) for c in chunks) <= 64 * 1024
    for chunk in chunks:
        hasher.update(chunk)
    assert hasher.result(path.name) == digest
    assert path.read_bytes() == b"".join(chunks)  # the caller's file is untouched


def test_put_sends_and_the_server_keeps_the_sha256_checksum(
    s3_store: S3ObjectStore, seaweed: SeaweedS3, tmp_path: Path
) -> None:
    path = tmp_path / "shot.png"
    digest = write_random(path, 4096)
    stored = s3_store.put_file(path, digest, "image/png")
    head = seaweed.client().stat_object(
        s3_store.bucket, stored.key, extra_headers={"x-amz-checksum-mode": "ENABLED"}
    )
    assert head.metadata is not None
    assert (
        head.metadata["x-amz-checksum-sha256"]
        == base64.b64encode(bytes.fromhex(digest.sha256)).decode()
    )
    assert head.content_type == "image/png"


def test_a_file_goes_up_in_one_put_streamed_from_disk_with_its_full_sha256(
    s3_store: S3ObjectStore, seaweed: SeaweedS3, tmp_path: Path
) -> None:
    """Above the part size, still one PUT (up to ``single_put_max``): the whole-object
    SHA-256 from intake is its checksum, and the file streams from disk a block at a
    time instead of being read into memory."""
    path = tmp_path / "capture.mp4"
    digest = write_random(path, s3_store.part_size + 3 * MIB + 7)
    spool = s3_store.spool_dir(tmp_path)
    assert spool == tmp_path  # S3 takes the file from wherever intake put it

    tracemalloc.start()
    try:
        stored = s3_store.put_spooled(path, digest, "video/mp4")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 4 * MIB, f"peak {peak} bytes for a {digest.size}-byte file"
    head = seaweed.client().stat_object(
        s3_store.bucket, stored.key, extra_headers={"x-amz-checksum-mode": "ENABLED"}
    )
    assert head.etag is not None and "-" not in head.etag  # not a multipart upload
    assert head.metadata is not None
    assert (
        head.metadata["x-amz-checksum-sha256"]
        == base64.b64encode(bytes.fromhex(digest.sha256)).decode()
    )
    assert head.version_id == stored.version_id
    retention = seaweed.client().get_object_retention(s3_store.bucket, stored.key)
    assert retention is not None
    assert retention.mode == COMPLIANCE
    assert read_all(s3_store, stored.key) == path.read_bytes()


def test_a_file_changed_after_it_was_hashed_is_refused_by_the_server(
    s3_store: S3ObjectStore, seaweed: SeaweedS3, tmp_path: Path
) -> None:
    """Nothing on our side hashes the file again: the server checks the streamed bytes
    against the SHA-256 intake computed, so what is stored is exactly what was hashed."""
    path = tmp_path / "evidence.bin"
    digest = write_random(path, 3 * MIB)
    with open(path, "r+b") as fh:  # one byte flipped, same size
        fh.seek(2 * MIB)
        byte = fh.read(1)
        fh.seek(2 * MIB)
        fh.write(bytes([byte[0] ^ 1]))

    with pytest.raises(StorageIntegrityError, match="not what its digest says"):
        s3_store.put_spooled(path, digest, "application/octet-stream")

    client = seaweed.client()
    assert list(client.list_objects(s3_store.bucket, recursive=True, include_version=True)) == []


def test_server_refuses_a_put_whose_checksum_does_not_match(
    s3_store: S3ObjectStore, seaweed: SeaweedS3
) -> None:
    """What the checksum header buys: the server recomputes it (SeaweedFS: BadDigest)."""
    data = b"evidence bytes"
    wrong = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()
    with pytest.raises(S3Error) as refused:
        seaweed.client().put_object(
            s3_store.bucket,
            "sha256/" + hashlib.sha256(data).hexdigest(),
            io.BytesIO(data),
            len(data),
            metadata={"x-amz-checksum-sha256": wrong},
        )
    assert refused.value.code == "BadDigest"


def test_object_is_under_compliance_retention_until_a_future_date(
    s3_store: S3ObjectStore, seaweed: SeaweedS3
) -> None:
    before = datetime.now(UTC)
    stored = s3_store.put_bytes(b'{"manifest": 1}', "application/json")
    retention = seaweed.client().get_object_retention(s3_store.bucket, stored.key)
    assert retention is not None
    assert retention.mode == COMPLIANCE
    assert retention.retain_until_date is not None
    one_day = before + timedelta(days=1)
    assert one_day - timedelta(seconds=5) <= retention.retain_until_date
    assert retention.retain_until_date <= one_day + timedelta(minutes=1)


def test_deleting_the_locked_version_is_refused(
    s3_store: S3ObjectStore, seaweed: SeaweedS3
) -> None:
    client = seaweed.client()
    data = os.urandom(2048)
    stored = s3_store.put_bytes(data, "application/octet-stream")
    version_id = the_only_version(client, s3_store.bucket, stored.key)

    with pytest.raises(S3Error) as refused:
        client.remove_object(s3_store.bucket, stored.key, version_id=version_id)
    assert refused.value.code == "AccessDenied"
    assert read_all(s3_store, stored.key) == data


def test_retention_cannot_be_shortened_or_weakened(
    s3_store: S3ObjectStore, seaweed: SeaweedS3
) -> None:
    client = seaweed.client()
    stored = s3_store.put_bytes(os.urandom(100), "application/octet-stream")
    version_id = the_only_version(client, s3_store.bucket, stored.key)
    soon = datetime.now(UTC) + timedelta(minutes=5)
    later = datetime.now(UTC) + timedelta(days=30)

    with pytest.raises(S3Error, match="AccessDenied"):
        client.set_object_retention(
            s3_store.bucket, stored.key, Retention(COMPLIANCE, soon), version_id=version_id
        )
    with pytest.raises(S3Error, match="AccessDenied"):
        client.set_object_retention(
            s3_store.bucket, stored.key, Retention(GOVERNANCE, later), version_id=version_id
        )
    retention = client.get_object_retention(s3_store.bucket, stored.key, version_id=version_id)
    assert retention is not None
    assert retention.mode == COMPLIANCE
    assert retention.retain_until_date is not None
    assert retention.retain_until_date > datetime.now(UTC) + timedelta(hours=23)


def test_overwrite_adds_a_version_and_leaves_the_locked_one_intact(
    s3_store: S3ObjectStore, seaweed: SeaweedS3
) -> None:
    """S3 semantics under Object Lock: a PUT to an existing key never replaces a
    version; it stacks a new one on top (SeaweedFS accepts it). The locked
    version keeps its bytes and its retention and still cannot be deleted."""
    client = seaweed.client()
    original = os.urandom(5000)
    stored = s3_store.put_bytes(original, "application/octet-stream")
    locked = the_only_version(client, s3_store.bucket, stored.key)

    forged = b"forged evidence"
    result = client.put_object(s3_store.bucket, stored.key, io.BytesIO(forged), len(forged))

    assert result.version_id not in (None, locked)
    assert [v for v, _ in versions(client, s3_store.bucket, stored.key)] == [
        result.version_id,
        locked,
    ]
    response = client.get_object(s3_store.bucket, stored.key, version_id=locked)
    try:
        assert response.read() == original
    finally:
        response.close()
        response.release_conn()
    retention = client.get_object_retention(s3_store.bucket, stored.key, version_id=locked)
    assert retention is not None
    assert retention.mode == COMPLIANCE
    with pytest.raises(S3Error, match="AccessDenied"):
        client.remove_object(s3_store.bucket, stored.key, version_id=locked)

    # The version recorded at the write still reads back as the evidence; the
    # newest is refused rather than handed out as evidence …
    assert stored.version_id == locked
    assert read_all(s3_store, stored.key, version_id=stored.version_id) == original
    with pytest.raises(StorageIntegrityError, match="not its content"):
        read_all(s3_store, stored.key)
    # … and storing the evidence again puts a retained copy back on top, a new version.
    again = s3_store.put_bytes(original, "application/octet-stream")
    assert replace(again, version_id=None) == replace(stored, version_id=None)
    assert again.version_id not in (None, locked, result.version_id)
    assert read_all(s3_store, stored.key) == original
    assert read_all(s3_store, stored.key, version_id=again.version_id) == original
    assert len(versions(client, s3_store.bucket, stored.key)) == 3


def test_delete_without_version_only_hides_the_locked_version(
    s3_store: S3ObjectStore, seaweed: SeaweedS3
) -> None:
    """A DELETE without a version id is allowed, but only adds a delete marker."""
    client = seaweed.client()
    original = os.urandom(700)
    stored = s3_store.put_bytes(original, "application/octet-stream")
    locked = the_only_version(client, s3_store.bucket, stored.key)

    client.remove_object(s3_store.bucket, stored.key)

    # The locked version plus a delete marker (SeaweedFS lists markers after versions).
    after = versions(client, s3_store.bucket, stored.key)
    assert len(after) == 2
    assert (locked, False) in after
    assert [marker for _, marker in after].count(True) == 1
    with pytest.raises(ObjectNotFoundError):
        s3_store.open_stream(stored.key)
    with pytest.raises(S3Error, match="AccessDenied"):
        client.remove_object(s3_store.bucket, stored.key, version_id=locked)
    s3_store.put_bytes(original, "application/octet-stream")
    assert read_all(s3_store, stored.key) == original


def test_a_write_returns_the_version_it_created(
    s3_store: S3ObjectStore, seaweed: SeaweedS3, tmp_path: Path
) -> None:
    client = seaweed.client()
    path = tmp_path / "page.html"
    digest = write_random(path, 5000)
    from_file = s3_store.put_file(path, digest, "text/html")
    from_bytes = s3_store.put_bytes(b'{"v":1}', "application/json")
    for stored in (from_file, from_bytes):
        assert stored.version_id, stored
        assert stored.version_id == the_only_version(client, s3_store.bucket, stored.key)


def test_the_recorded_version_is_read_whatever_is_put_over_the_key(
    s3_store: S3ObjectStore, seaweed: SeaweedS3
) -> None:
    """A newer version of other bytes, then a delete marker on top: reading the
    version the write returned still yields the evidence, while the newest is
    refused and then gone."""
    client = seaweed.client()
    original = os.urandom(3000)
    stored = s3_store.put_bytes(original, "application/octet-stream")

    planted = os.urandom(len(original))
    client.put_object(s3_store.bucket, stored.key, io.BytesIO(planted), len(planted))
    with pytest.raises(StorageIntegrityError, match="not its content"):
        read_all(s3_store, stored.key)
    assert read_all(s3_store, stored.key, 1000, version_id=stored.version_id) == original

    client.remove_object(s3_store.bucket, stored.key)  # a delete marker, newest of three
    assert [marker for _, marker in versions(client, s3_store.bucket, stored.key)].count(True) == 1
    with pytest.raises(ObjectNotFoundError):
        s3_store.open_stream(stored.key)
    assert read_all(s3_store, stored.key, version_id=stored.version_id) == original


def test_a_recorded_version_that_does_not_hold_the_content_is_refused(
    s3_store: S3ObjectStore, seaweed: SeaweedS3
) -> None:
    """The integrity check covers versioned reads too: a version id naming other
    bytes under the key (a mix-up, or a forged database row) yields no evidence."""
    client = seaweed.client()
    original = os.urandom(2000)
    key = content_key(hashlib.sha256(original).hexdigest())
    planted = os.urandom(len(original))
    forged = client.put_object(s3_store.bucket, key, io.BytesIO(planted), len(planted))
    assert forged.version_id is not None

    with pytest.raises(StorageIntegrityError, match="version recorded at intake"):
        read_all(s3_store, key, version_id=forged.version_id)


def test_a_version_that_is_not_there_is_not_found(s3_store: S3ObjectStore) -> None:
    stored = s3_store.put_bytes(os.urandom(100), "application/octet-stream")
    assert stored.version_id is not None
    other = s3_store.put_bytes(os.urandom(100), "application/octet-stream")
    assert other.version_id is not None
    # A real version id, but of another key.
    with pytest.raises(ObjectNotFoundError):
        s3_store.open_stream(stored.key, version_id=other.version_id)


def test_storing_the_same_content_again_is_idempotent(
    s3_store: S3ObjectStore, seaweed: SeaweedS3, tmp_path: Path
) -> None:
    client = seaweed.client()
    path = tmp_path / "same.bin"
    digest = write_random(path, 10_000)
    first = s3_store.put_file(path, digest, "application/octet-stream")
    version_id = the_only_version(client, s3_store.bucket, first.key)
    retained = client.get_object_retention(s3_store.bucket, first.key)
    assert retained is not None
    time.sleep(1.1)  # retention dates have second precision

    again = s3_store.put_file(path, replace(digest, name="other-name.bin"), "text/plain")

    assert again == first
    assert the_only_version(client, s3_store.bucket, first.key) == version_id
    assert again.version_id == version_id
    extended = client.get_object_retention(s3_store.bucket, first.key)
    assert extended is not None
    assert extended.mode == COMPLIANCE
    # The second submission is retained for its full period too.
    assert extended.retain_until_date is not None
    assert retained.retain_until_date is not None
    assert extended.retain_until_date > retained.retain_until_date


def test_storing_content_someone_preseeded_without_retention_locks_it(
    s3_store: S3ObjectStore, seaweed: SeaweedS3
) -> None:
    """Content keys are predictable: whoever can write to the bucket could plant
    the right bytes without retention and delete them later. A put of that
    content must leave it locked."""
    client = seaweed.client()
    data = os.urandom(3000)
    key = content_key(hashlib.sha256(data).hexdigest())
    planted = client.put_object(s3_store.bucket, key, io.BytesIO(data), len(data))

    stored = s3_store.put_bytes(data, "application/octet-stream")

    assert the_only_version(client, s3_store.bucket, key) == planted.version_id
    assert stored.version_id == planted.version_id  # proven to hold the bytes, then locked
    retention = client.get_object_retention(s3_store.bucket, key, version_id=planted.version_id)
    assert retention is not None
    assert retention.mode == COMPLIANCE
    with pytest.raises(S3Error, match="AccessDenied"):
        client.remove_object(s3_store.bucket, key, version_id=planted.version_id)


def test_a_planted_same_size_object_is_not_taken_for_the_evidence(
    s3_store: S3ObjectStore, seaweed: SeaweedS3
) -> None:
    """Same key, same size, other bytes, no checksum: the adapter hashes what is
    there, finds it is not the evidence and writes the evidence on top."""
    client = seaweed.client()
    original = os.urandom(4000)
    key = content_key(hashlib.sha256(original).hexdigest())
    planted = os.urandom(4000)
    client.put_object(s3_store.bucket, key, io.BytesIO(planted), len(planted))

    stored = s3_store.put_bytes(original, "application/octet-stream")

    assert len(versions(client, s3_store.bucket, key)) == 2
    assert stored.version_id == versions(client, s3_store.bucket, key)[0][0]
    assert read_all(s3_store, key) == original
    retention = client.get_object_retention(s3_store.bucket, key)
    assert retention is not None
    assert retention.mode == COMPLIANCE


def test_large_file_goes_up_in_a_checksummed_multipart_upload(
    s3_store: S3ObjectStore, seaweed: SeaweedS3, tmp_path: Path
) -> None:
    store = S3ObjectStore(
        seaweed.endpoint,
        seaweed.access_key,
        seaweed.secret_key,
        s3_store.bucket,
        retention_days=1,
        part_size=MIN_PART_SIZE,
        single_put_max=MIN_PART_SIZE,
    )
    path = tmp_path / "capture.mp4"
    digest = write_random(path, 12 * MIB + 123)

    tracemalloc.start()
    try:
        stored = store.put_file(path, digest, "video/mp4")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 2 * MIN_PART_SIZE, f"peak {peak} bytes for a {digest.size}-byte file"
    hasher = DualHasher()
    for chunk in store.open_stream(stored.key):
        hasher.update(chunk)
    assert hasher.result(path.name) == digest
    client = seaweed.client()
    head = client.stat_object(
        store.bucket, stored.key, extra_headers={"x-amz-checksum-mode": "ENABLED"}
    )
    # Three parts (5 + 5 + 2 MiB) and a COMPOSITE checksum: SHA-256 of the part digests.
    data = path.read_bytes()
    parts = [data[i : i + MIN_PART_SIZE] for i in range(0, len(data), MIN_PART_SIZE)]
    composite = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
    assert stored.version_id is not None
    assert stored.version_id == head.version_id
    assert head.etag is not None
    assert head.etag.endswith("-3")
    assert head.metadata is not None
    assert head.metadata["x-amz-checksum-sha256"] == base64.b64encode(composite).decode() + "-3"
    retention = client.get_object_retention(store.bucket, stored.key)
    assert retention is not None
    assert retention.mode == COMPLIANCE
    with pytest.raises(S3Error, match="AccessDenied"):
        client.remove_object(store.bucket, stored.key, version_id=head.version_id)
    # Storing it again is recognised by the composite checksum: no new version.
    assert store.put_file(path, digest, "video/mp4") == stored
    assert the_only_version(client, store.bucket, stored.key) == head.version_id


@pytest.mark.parametrize(
    ("defect", "size"),
    [
        ("sha256-of-other-bytes", 2000),
        ("sha256-of-other-bytes", 6 * MIB),
        ("size-off-by-one", 2000),
    ],
)
def test_a_file_that_does_not_match_its_digest_is_refused(
    s3_store: S3ObjectStore, seaweed: SeaweedS3, tmp_path: Path, defect: str, size: int
) -> None:
    """A tampered expectation stores nothing: neither under the claimed key nor
    under the file's real one (single PUT: a wrong size is refused before sending,
    a wrong SHA-256 by the server, which checks the checksum we send; multipart:
    aborted before completion)."""
    store = S3ObjectStore(
        seaweed.endpoint,
        seaweed.access_key,
        seaweed.secret_key,
        s3_store.bucket,
        retention_days=1,
        part_size=MIN_PART_SIZE,
        single_put_max=MIN_PART_SIZE,
    )
    path = tmp_path / "evidence.bin"
    real = write_random(path, size)
    if defect == "size-off-by-one":
        claimed = replace(real, size=real.size + 1)
    else:
        claimed = replace(real, sha256=hashlib.sha256(b"other bytes").hexdigest())

    with pytest.raises(StorageIntegrityError, match="not what its digest says"):
        store.put_file(path, claimed, "application/octet-stream")

    client = seaweed.client()
    assert list(client.list_objects(store.bucket, recursive=True, include_version=True)) == []
    # A refused multipart upload is aborted, not left pending.
    assert client._list_multipart_uploads(store.bucket).uploads == []


def test_unreachable_endpoint_fails_fast(tmp_path: Path) -> None:
    store = S3ObjectStore(f"127.0.0.1:{free_port()}", "key", "secret", "evidence", retention_days=1)
    path = tmp_path / "evidence.bin"
    digest = write_random(path, 100)
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError, match="unreachable"):
        store.put_file(path, digest, "application/octet-stream")
    with pytest.raises(StorageUnavailableError):
        store.check()
    with pytest.raises(StorageUnavailableError):
        store.open_stream(digest.sha256.join(["sha256/", ""]))
    assert time.monotonic() - started < 10


def test_wrong_credentials_or_missing_bucket_are_unavailable(seaweed: SeaweedS3) -> None:
    wrong_secret = S3ObjectStore(
        seaweed.endpoint, seaweed.access_key, "not-the-secret", "evidence", retention_days=1
    )
    with pytest.raises(StorageUnavailableError, match="SignatureDoesNotMatch"):
        wrong_secret.check()
    no_bucket = S3ObjectStore(
        seaweed.endpoint,
        seaweed.access_key,
        seaweed.secret_key,
        f"missing-{uuid.uuid4().hex[:12]}",
        retention_days=1,
    )
    with pytest.raises(StorageUnavailableError, match="does not exist"):
        no_bucket.check()


def test_missing_and_malformed_keys_are_not_found(s3_store: S3ObjectStore) -> None:
    with pytest.raises(ObjectNotFoundError):
        s3_store.open_stream(content_key("0" * 64))
    for bad in ("../sha256/" + "0" * 64, "sha256/" + "A" * 64, "sha256/" + "0" * 63, "x"):
        with pytest.raises(ObjectNotFoundError):
            s3_store.open_stream(bad)


def test_empty_object_round_trips(s3_store: S3ObjectStore) -> None:
    stored = s3_store.put_bytes(b"", "application/octet-stream")
    # sha256sum /dev/null
    assert stored.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert read_all(s3_store, stored.key) == b""
