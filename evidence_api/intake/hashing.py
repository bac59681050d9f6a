"""SHA-256 and SM3 of a received file, SM3 on its own thread once the file is large.

OpenSSL's SM3 runs at about a third of a gigabyte a second on one core here, five
times slower than SHA-256 with the CPU's SHA extensions: hashing both in the thread
that parses and writes the upload made SM3 the ceiling of a large upload (166 MB/s
against 466 MB/s for the disk). :class:`SplitHasher` gives the same digests as
:class:`verifier.digests.DualHasher`, but once a file passes :data:`PARALLEL_FROM`
bytes it hands SM3 the bytes a batch of :data:`BATCH_BYTES` at a time to a thread of
its own (hashlib releases the GIL), while the calling thread goes on with SHA-256,
parsing and writing. At most one batch is hashed while the next one fills, so a file
holds at most two batches (two megabytes) in memory, and SM3 sees the batches in
order. Small files (a thousand bytes, a screenshot) are hashed inline: a hand-over
would cost more than it saves.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor

from verifier.digests import FileDigest, sm3

#: A file is hashed inline up to this many bytes; past it SM3 moves to its own thread.
PARALLEL_FROM = 1 << 20
#: Bytes handed to the SM3 thread at a time.
BATCH_BYTES = 1 << 20
#: Files whose SM3 runs at once, process-wide (each holds one thread while a batch runs).
SM3_THREADS = 4

_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """The process's SM3 threads, started on the first large file (none at import)."""
    global _POOL  # noqa: PLW0603 - one pool per process, made on first use
    if _POOL is None:
        _POOL = ThreadPoolExecutor(SM3_THREADS, thread_name_prefix="sm3")
    return _POOL


def _held(chunk: bytes | bytearray | memoryview) -> bytes | memoryview:
    """``chunk`` as something that cannot change while it waits for the SM3 thread: bytes
    and views of bytes as they are (no copy), anything writable copied."""
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, memoryview) and isinstance(chunk.obj, bytes):
        return chunk
    return bytes(chunk)


class SplitHasher:
    """:class:`~verifier.digests.DualHasher`'s interface and digests; SM3 of a large file
    runs beside the caller (see the module docstring). Not for use from two threads."""

    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self._sm3 = sm3()
        self.size = 0
        self._batch: list[bytes | memoryview] = []
        self._batched = 0
        self._running: Future[None] | None = None

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        """Hash ``chunk`` (a memoryview must be of bytes: its length counts them)."""
        self._sha256.update(chunk)
        self.size += len(chunk)
        if self.size <= PARALLEL_FROM:  # size only grows: nothing has been batched yet
            self._sm3.update(chunk)
            return
        self._batch.append(_held(chunk))
        self._batched += len(chunk)
        if self._batched >= BATCH_BYTES:
            self._hand_over()

    def _hand_over(self) -> None:
        batch, self._batch, self._batched = self._batch, [], 0
        if self._running is not None:
            self._running.result()  # the batch before, so SM3 sees the bytes in order
        self._running = _pool().submit(self._digest, batch)

    def _digest(self, batch: list[bytes | memoryview]) -> None:
        for chunk in batch:
            self._sm3.update(chunk)

    def result(self, name: str) -> FileDigest:
        if self._running is not None:
            self._running.result()
            self._running = None
        self._digest(self._batch)
        self._batch, self._batched = [], 0
        return FileDigest(name, self.size, self._sha256.hexdigest(), self._sm3.hexdigest())
