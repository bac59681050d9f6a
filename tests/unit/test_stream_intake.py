"""One-pass intake: a file is received into the store's spool folder while it is hashed,
and the local store takes that very file (fsync + rename): it stores exactly the bytes that
were hashed, without copying them or hashing them again."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence_api.core.config import Settings
from evidence_api.core.data_files import prepare_data_dir
from evidence_api.core.errors import BadRequestError, PayloadTooLargeError
from evidence_api.core.storage import StorageIntegrityError, content_key
from evidence_api.core.storage.local import LocalObjectStore
from evidence_api.intake import upload
from evidence_api.intake.upload import ReceivedForm, receive_form
from verifier.digests import sm3_hex

BOUNDARY = "h5-boundary-7d1c"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def body(files: dict[str, bytes], metadata: bytes = b'{"k": 1}') -> bytes:
    out = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="metadata"\r\n'.encode(),
        b"Content-Type: application/json\r\n\r\n" + metadata + b"\r\n",
    ]
    for name, data in files.items():
        out.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    out.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(out)


async def chunked(data: bytes, sizes: Sequence[int]) -> AsyncIterator[bytes]:
    """``data`` in pieces of the given sizes (cycled), as the server hands them over."""
    pos, i = 0, 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        yield data[pos : pos + size]
        pos += size
        i += 1


def receive(
    data: bytes,
    spool: Path,
    sizes: Sequence[int] = (65536,),
    max_file_bytes: int = 1 << 30,
) -> ReceivedForm:
    return asyncio.run(
        receive_form(
            chunked(data, sizes),
            CONTENT_TYPE,
            spool=spool,
            max_file_bytes=max_file_bytes,
            max_files=10,
            max_metadata_bytes=1 << 16,
        )
    )


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects")


def test_the_local_store_keeps_the_received_file_itself(store: LocalObjectStore) -> None:
    """The object is the spool file renamed (same inode): no copy, and its bytes are the
    ones that were hashed."""
    data = os.urandom(3 * upload.FEED_BYTES + 12345)  # several feeds, a ragged tail
    spool = store.spool_dir(store.root / "unused")
    assert spool == store.root / ".incoming"
    form = receive(body({"capture.bin": data}), spool)
    (received,) = form.files
    assert received.path.parent == spool
    inode = received.path.stat().st_ino

    stored = store.put_spooled(received.path, received.digest, received.media_type)

    target = store.path_of(stored.key)
    assert stored.key == content_key(hashlib.sha256(data).hexdigest())
    assert (stored.size, stored.sha256, stored.sm3) == (
        len(data),
        hashlib.sha256(data).hexdigest(),
        sm3_hex(data),
    )
    assert target.stat().st_ino == inode
    assert target.read_bytes() == data
    assert oct(target.stat().st_mode & 0o777) == oct(0o400)
    assert not received.path.exists()
    assert list(spool.iterdir()) == []
    assert b"".join(store.open_stream(stored.key)) == data


@settings(max_examples=40, deadline=None)
@given(
    data=st.binary(min_size=0, max_size=20_000),
    sizes=st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=5),
)
def test_any_chunking_stores_exactly_what_was_hashed(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, sizes: list[int]
) -> None:
    store = LocalObjectStore(tmp_path_factory.mktemp("objects"))
    # A body made of the boundary's own bytes tests the parser's look-behind too.
    payload = data + f"\r\n--{BOUNDARY}"[: len(data) % 9].encode()
    form = receive(body({"a.bin": payload}), store.spool_dir(store.root), sizes)
    (received,) = form.files
    assert received.digest.sha256 == hashlib.sha256(payload).hexdigest()
    assert received.digest.sm3 == sm3_hex(payload)
    stored = store.put_spooled(received.path, received.digest, received.media_type)
    assert store.path_of(stored.key).read_bytes() == payload


def test_content_already_stored_is_not_written_again(store: LocalObjectStore) -> None:
    data = os.urandom(5000)
    spool = store.spool_dir(store.root)
    first = receive(body({"a.bin": data}), spool).files[0]
    stored = store.put_spooled(first.path, first.digest, first.media_type)
    before = store.path_of(stored.key).stat()

    again = receive(body({"b.bin": data}), spool).files[0]
    assert store.put_spooled(again.path, again.digest, again.media_type) == stored

    after = store.path_of(stored.key).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert again.path.exists()  # left for the caller (ReceivedForm.cleanup) to delete


def test_a_received_file_of_another_size_is_refused(store: LocalObjectStore) -> None:
    form = receive(body({"a.bin": b"evidence"}), store.spool_dir(store.root))
    (received,) = form.files
    with pytest.raises(StorageIntegrityError, match="nothing stored"):
        store.put_spooled(
            received.path, replace(received.digest, size=received.digest.size + 1), "x/y"
        )
    assert not (store.root / "sha256").exists()


def test_a_file_outside_the_spool_is_copied_and_checked(
    store: LocalObjectStore, tmp_path: Path
) -> None:
    """Only a file in the store's own spool folder is taken as it is; another is hashed
    while it is copied, so a digest that lies is refused."""
    elsewhere = tmp_path / "spool"
    elsewhere.mkdir()
    form = receive(body({"a.bin": b"evidence bytes"}), elsewhere)
    (received,) = form.files
    lie = replace(received.digest, sm3=sm3_hex(b"other bytes"))
    with pytest.raises(StorageIntegrityError, match="not what its digest says"):
        store.put_spooled(received.path, lie, "x/y")
    stored = store.put_spooled(received.path, received.digest, "x/y")
    assert received.path.exists()  # copied, not moved
    assert store.path_of(stored.key).read_bytes() == b"evidence bytes"


def test_an_oversized_file_leaves_nothing_in_the_spool(store: LocalObjectStore) -> None:
    spool = store.spool_dir(store.root)
    data = body({"a.bin": os.urandom(3 * upload.FEED_BYTES)})
    with pytest.raises(PayloadTooLargeError):
        receive(data, spool, max_file_bytes=2 * upload.FEED_BYTES)
    assert list(spool.iterdir()) == []


def test_a_body_that_breaks_off_leaves_nothing_in_the_spool(store: LocalObjectStore) -> None:
    """The client goes away while a megabyte is being hashed and written in the worker."""
    spool = store.spool_dir(store.root)
    data = body({"a.bin": os.urandom(4 * upload.FEED_BYTES)})

    async def broken() -> AsyncIterator[bytes]:
        async for chunk in chunked(data[: 3 * upload.FEED_BYTES], (65536,)):
            yield chunk
        raise ConnectionResetError("client went away")

    with pytest.raises(BadRequestError, match="ConnectionResetError"):
        asyncio.run(
            receive_form(
                broken(),
                CONTENT_TYPE,
                spool=spool,
                max_file_bytes=1 << 30,
                max_files=10,
                max_metadata_bytes=1 << 16,
            )
        )
    assert list(spool.iterdir()) == []


def test_uploads_a_crash_left_in_the_local_store_are_removed_at_start(tmp_path: Path) -> None:
    """Uploads land in ``<objects>/.incoming`` now, so the start-up clean-up looks there too
    (only ``upload-*`` files nobody has touched for ``spool_stale_after``)."""
    settings = Settings(data_dir=tmp_path / "data", storage="local", spool_stale_after=60)
    incoming = LocalObjectStore(settings.resolved_storage_dir).spool_dir(tmp_path)
    stale, fresh, other = incoming / "upload-old", incoming / "upload-new", incoming / "object-x"
    for path in (stale, fresh, other):
        path.write_bytes(b"partial")
    os.utime(stale, (1_000_000, 1_000_000))
    os.utime(other, (1_000_000, 1_000_000))

    prepare_data_dir(settings)

    assert not stale.exists()
    assert fresh.exists() and other.exists()


def test_an_oversized_file_is_refused_while_the_client_waits(store: LocalObjectStore) -> None:
    """The client sends a little more than the limit, then waits for the answer without
    sending the rest: the 413 must not wait for more of the body."""
    spool = store.spool_dir(store.root)
    limit = upload.FEED_BYTES  # exactly one feed's worth: the refusal is in a later feed
    data = body({"a.bin": os.urandom(4 * upload.FEED_BYTES)})
    sent = len(data) - 3 * upload.FEED_BYTES + 1000  # the head and limit + ~1 KB of the file

    async def then_wait() -> AsyncIterator[bytes]:
        async for chunk in chunked(data[:sent], (65536,)):
            yield chunk
        await asyncio.Event().wait()  # never set: the client sends nothing more
        yield b""  # pragma: no cover

    async def scenario() -> None:
        # a generous deadline only so that a regression fails instead of hanging
        await asyncio.wait_for(
            receive_form(
                then_wait(),
                CONTENT_TYPE,
                spool=spool,
                max_file_bytes=limit,
                max_files=10,
                max_metadata_bytes=1 << 16,
            ),
            timeout=120,
        )

    with pytest.raises(PayloadTooLargeError, match="exceeds the limit"):
        asyncio.run(scenario())
    assert list(spool.iterdir()) == []
