"""SHA-256 and SM3 of a byte stream in one pass, in bounded memory.

Consensus-critical: these digests are what the manifest commits to. SM3
(GB/T 32905-2016) comes from OpenSSL through :mod:`hashlib`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import BinaryIO

CHUNK = 1 << 20


def sm3() -> hashlib._Hash:
    """A new SM3 hash object (OpenSSL's implementation)."""
    return hashlib.new("sm3")


@dataclass(frozen=True)
class FileDigest:
    name: str
    size: int
    sha256: str
    sm3: str


class DualHasher:
    """Feeds every chunk to SHA-256 and SM3 together and counts the bytes."""

    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self._sm3 = sm3()
        self.size = 0

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        """Hash ``chunk`` (a memoryview must be of bytes: its length counts them)."""
        self._sha256.update(chunk)
        self._sm3.update(chunk)
        self.size += len(chunk)

    def result(self, name: str) -> FileDigest:
        return FileDigest(name, self.size, self._sha256.hexdigest(), self._sm3.hexdigest())


def digest_stream(name: str, stream: BinaryIO) -> FileDigest:
    """Hash ``stream`` to its end; the caller opens and closes it."""
    hasher = DualHasher()
    while chunk := stream.read(CHUNK):
        hasher.update(chunk)
    return hasher.result(name)


def sm3_hex(data: bytes) -> str:
    h = sm3()
    h.update(data)
    return h.hexdigest()
