"""The object-store interface: write-once, content-addressed evidence storage.

Adapters: :mod:`evidence_api.core.storage.local` (embedded default: a local folder,
written atomically and read-only afterwards) and :mod:`evidence_api.core.storage.s3`
(S3 with Object Lock through the ``minio`` SDK; every object under COMPLIANCE
retention). Both key objects by content: ``sha256/<64 hex>``.

A key names content, but on S3 it does not name one set of bytes: anyone with
write access to the bucket can put a newer version on top of the locked one,
or a delete marker. So a write reports the version it created
(:attr:`StoredObject.version_id`), the caller records it, and a read asks for
exactly that version; the locked original is then what is served, whatever
has been stacked on it since.

Intake writes each file once: it receives the upload into the folder the store
names (:meth:`ObjectStore.spool_dir`) while hashing it, and hands the file to
:meth:`ObjectStore.put_spooled`, which stores it without copying or hashing it
again where it can (docs/design.md §11.1, §11.2).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from verifier.digests import FileDigest


class StorageError(Exception):
    """Root of storage errors."""


class StorageUnavailableError(StorageError):
    """The store cannot be reached or refused service; the caller may retry later."""


class StorageIntegrityError(StorageError):
    """What the store holds is not what we wrote (size or checksum differs)."""


class ObjectNotFoundError(StorageError):
    """No object under that key."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str
    sm3: str
    #: The version of ``key`` that holds these bytes, to read back with
    #: ``open_stream(key, version_id=...)``. ``None`` where the store keeps a
    #: single version per key (the local folder, an S3 bucket without versions).
    version_id: str | None = None


def content_key(sha256_hex: str) -> str:
    """The content address of an object: ``sha256/<hex>``."""
    return f"sha256/{sha256_hex}"


class ObjectStore(Protocol):
    def put_file(self, path: Path, digest: FileDigest, media_type: str) -> StoredObject:
        """Store the file at ``path`` whose digests the caller computed while receiving it.

        Idempotent: storing the same content twice is not an error. Verifies
        the stored size and SHA-256 after the write (``StorageIntegrityError``).
        Large files go up in a multipart upload; memory stays bounded.
        """
        ...

    def spool_dir(self, default: Path) -> Path:
        """The folder to receive a file in for :meth:`put_spooled`: one the store can take
        it from without a copy (the local store: its own staging folder, on the objects'
        file system), else ``default``."""
        ...

    def put_spooled(self, path: Path, digest: FileDigest, media_type: str) -> StoredObject:
        """Store the file at ``path``, received into :meth:`spool_dir` while ``digest``
        was computed over exactly the bytes written to it: one pass, no copy and no
        second hash (the local store fsyncs it and renames it into place; S3 sends it in
        one PUT whose SHA-256 checksum the server verifies). The file is consumed: moved
        into the store, or left for the caller to delete. A file elsewhere is stored as
        :meth:`put_file` would."""
        ...

    def put_bytes(self, data: bytes, media_type: str) -> StoredObject:
        """Store a small object (e.g. a manifest) held in memory."""
        ...

    def open_stream(
        self, key: str, chunk_size: int = 1 << 20, version_id: str | None = None
    ) -> Iterator[bytes]:
        """Yield the object's bytes in chunks (``ObjectNotFoundError`` if absent).

        ``version_id`` (from :attr:`StoredObject.version_id`) reads exactly that
        version; ``None`` reads the newest. Either way the bytes are checked
        against the key and ``StorageIntegrityError`` raised after the last chunk
        if they differ.
        """
        ...

    def check(self) -> None:
        """Raise ``StorageUnavailableError`` unless the store is reachable and writable."""
        ...
