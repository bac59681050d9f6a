"""SplitHasher: DualHasher's digests, SM3 of a large file on its own thread."""

from __future__ import annotations

import hashlib
import os
import threading
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from evidence_api.intake import hashing
from evidence_api.intake.hashing import SplitHasher
from verifier.digests import DualHasher, FileDigest, sm3_hex


def expected(data: bytes) -> FileDigest:
    return FileDigest("f", len(data), hashlib.sha256(data).hexdigest(), sm3_hex(data))


def feed(chunks: list[bytes | bytearray | memoryview]) -> FileDigest:
    hasher = SplitHasher()
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.result("f")


def cut(data: bytes, sizes: list[int]) -> list[bytes]:
    out, at = [], 0
    for size in sizes:
        out.append(data[at : at + size])
        at += size
    out.append(data[at:])
    return out


def test_a_large_file_has_dualhashers_digests_and_its_sm3_ran_on_another_thread() -> None:
    data = os.urandom(5 * (1 << 20) + 12_345)
    threads: set[str] = set()

    class Watched(SplitHasher):
        def _digest(self, batch: list[bytes | memoryview]) -> None:
            if batch:
                threads.add(threading.current_thread().name)
            super()._digest(batch)

    hasher = Watched()
    reference = DualHasher()
    for chunk in cut(data, [65_536] * 90):  # what a server hands over: 64 KiB pieces
        hasher.update(memoryview(chunk))
        reference.update(chunk)
    assert hasher.result("f") == reference.result("f") == expected(data)
    assert any(name.startswith("sm3") for name in threads), threads


def test_a_small_file_is_hashed_inline() -> None:
    data = os.urandom(1_000)
    hasher = SplitHasher()
    hasher.update(data)
    assert hasher._running is None and not hasher._batch
    assert hasher.result("f") == expected(data)


def test_an_empty_file() -> None:
    assert feed([]) == expected(b"")


def test_a_writable_buffer_reused_after_update_does_not_change_the_digest() -> None:
    """The receiver may reuse a bytearray: what waits for the SM3 thread is a copy."""
    data = os.urandom(3 * (1 << 20))
    hasher = SplitHasher()
    buffer = bytearray(1 << 16)
    for at in range(0, len(data), len(buffer)):
        piece = data[at : at + len(buffer)]
        buffer[: len(piece)] = piece
        hasher.update(memoryview(buffer)[: len(piece)])
        buffer[:] = b"\xff" * len(buffer)  # overwritten before SM3 may have read it
    assert hasher.result("f") == expected(data)


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(min_size=0, max_size=600),
    sizes=st.lists(st.integers(min_value=0, max_value=90), max_size=12),
    kinds=st.lists(st.sampled_from(["bytes", "bytearray", "view", "view-of-bytearray"])),
)
def test_any_chunking_and_buffer_kind_gives_the_same_digests(
    data: bytes, sizes: list[int], kinds: list[str]
) -> None:
    """Thresholds shrunk to bytes so every path (inline, hand-over, a batch waiting on
    the one before, the rest at the end) is taken by small inputs."""
    chunks: list[bytes | bytearray | memoryview] = []
    for n, piece in enumerate(cut(data, sizes)):
        kind = kinds[n % len(kinds)] if kinds else "bytes"
        if kind == "bytearray":
            chunks.append(bytearray(piece))
        elif kind == "view":
            chunks.append(memoryview(piece))
        elif kind == "view-of-bytearray":
            chunks.append(memoryview(bytearray(piece)))
        else:
            chunks.append(piece)
    with (
        mock.patch.object(hashing, "PARALLEL_FROM", 100),
        mock.patch.object(hashing, "BATCH_BYTES", 64),
    ):
        assert feed(chunks) == expected(data)
