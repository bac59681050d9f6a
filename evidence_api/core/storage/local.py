"""The embedded object store: a local folder, written atomically, read-only afterwards.

Layout ``<root>/sha256/<2 hex>/<64 hex>``. Uploads are received into ``.incoming``
(:meth:`LocalObjectStore.spool_dir`) while intake hashes them, then fsynced and renamed into
place (:meth:`~LocalObjectStore.put_spooled`): each byte written once, hashed once. Any other
file is hashed while it is copied into ``.incoming``, then fsynced and renamed the same way.
Renames happen under a lock; files end 0o400 and directories 0o500. Keys other than
``sha256/<64 hex>`` never reach the file system (docs/design.md §11.2).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from evidence_api.core.storage.base import (
    ObjectNotFoundError,
    StorageIntegrityError,
    StorageUnavailableError,
    StoredObject,
    content_key,
)
from verifier.digests import CHUNK, DualHasher, FileDigest

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_KEY = re.compile(r"sha256/([0-9a-f]{64})")
#: An object: its owner may read it, nobody may write it, others see nothing.
READ_ONLY = 0o400
#: A sealed object directory: listable and traversable by its owner only.
SEALED_DIR = 0o500
#: A directory while a new object is renamed into it (under the store's lock).
OPEN_DIR = 0o700
#: Where uploads are received and copies staged, on the objects' file system.
INCOMING = ".incoming"


def _sha256_of_key(key: str) -> str:
    """The hex digest a well-formed key names; ``ObjectNotFoundError`` otherwise."""
    match = _KEY.fullmatch(key)
    if match is None:
        raise ObjectNotFoundError(f"not a content key (want sha256/<64 lowercase hex>): {key!r}")
    return match.group(1)


def _check_digest(digest: FileDigest) -> None:
    # A FileDigest from DualHasher is always well formed; anything else is a bug
    # in the caller, and must not be turned into a path.
    if not _SHA256_HEX.fullmatch(digest.sha256):
        raise ValueError(f"digest.sha256 is not 64 lowercase hex: {digest.sha256!r}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalObjectStore:
    """Content-addressed, write-once evidence files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_of(self, key: str) -> Path:
        """Where the object ``key`` lives (``ObjectNotFoundError`` for a malformed key)."""
        hex_digest = _sha256_of_key(key)
        return self.root / "sha256" / hex_digest[:2] / hex_digest

    def put_file(self, path: Path, digest: FileDigest, media_type: str) -> StoredObject:
        """Copy ``path`` into the store, re-checking it against ``digest``.

        The caller's file is left as it was. ``StorageIntegrityError`` if the
        file's size, SHA-256 or SM3 differ from ``digest`` (nothing is stored),
        or if an object already stored under that key has another size.
        """
        _check_digest(digest)
        with open(path, "rb") as source:
            return self._put(source, digest)

    def spool_dir(self, default: Path) -> Path:
        """``<root>/.incoming``: a file received there is renamed into place, never copied."""
        return self._staging()

    def _staging(self) -> Path:
        """``<root>/.incoming`` (made if missing), on the objects' file system: where uploads
        are received and :meth:`put_file`'s copies are staged before their rename."""
        staging = self.root / INCOMING
        try:
            staging.mkdir(mode=OPEN_DIR, parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailableError(f"cannot write to {self.root}: {exc}") from exc
        return staging

    def put_spooled(self, path: Path, digest: FileDigest, media_type: str) -> StoredObject:
        """fsync the received file, make it read-only and rename it under its key.

        ``digest`` is what the receiver computed over the bytes it wrote, so the file is
        neither copied nor hashed again. ``StorageIntegrityError`` if its size is not
        ``digest.size`` (nothing stored). Already stored: the file is left for the
        caller to delete. A file outside ``.incoming`` is copied by :meth:`put_file`.
        """
        _check_digest(digest)
        if path.parent != self.root / INCOMING:
            return self.put_file(path, digest, media_type)
        target, stored, present = self._addressed(digest)
        if present:
            return stored
        key = stored.key
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                size = os.fstat(fd).st_size
                if size != digest.size:
                    raise StorageIntegrityError(
                        f"the received file {path.name} has {size} bytes, its digest says "
                        f"{digest.size}; nothing stored"
                    )
                os.fsync(fd)
            finally:
                os.close(fd)
            os.chmod(path, READ_ONLY)
            self._rename_into(path, target)
        except OSError as exc:
            raise StorageUnavailableError(f"cannot store {key} in {self.root}: {exc}") from exc
        return stored

    def put_bytes(self, data: bytes, media_type: str) -> StoredObject:
        hasher = DualHasher()
        hasher.update(data)
        digest = hasher.result("")
        with io.BytesIO(data) as source:  # shares the buffer, no copy
            return self._put(source, digest)

    def open_stream(
        self, key: str, chunk_size: int = 1 << 20, version_id: str | None = None
    ) -> Iterator[bytes]:
        """Open the object now (so a missing one fails here) and yield its chunks.

        ``version_id`` is ignored: a folder keeps one version per key, and the
        objects this store writes report none (a version recorded by another
        store names nothing here).

        The chunks are hashed as they go out; if they do not hash to the key,
        ``StorageIntegrityError`` is raised after the last one, so a consumer
        that reads to the end never takes altered bytes for evidence.
        """
        target = self.path_of(key)
        try:
            handle = open(target, "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError:
            raise ObjectNotFoundError(f"no object {key}") from None
        except OSError as exc:
            raise StorageUnavailableError(f"cannot read {target}: {exc}") from exc
        return _read_verified(handle, key, chunk_size)

    def check(self) -> None:
        """Create the root if missing and prove it writable with a probe file."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.root, prefix=".probe-")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise StorageUnavailableError(
                f"evidence folder {self.root} is not a writable directory: {exc}"
            ) from exc

    def _addressed(self, digest: FileDigest) -> tuple[Path, StoredObject, bool]:
        """Where ``digest``'s content lives, what storing it gives, and whether it is
        there already (content addressing: stored once)."""
        key = content_key(digest.sha256)
        target = self.path_of(key)
        present = self._existing(target, key, digest.size)
        return target, StoredObject(key, digest.size, digest.sha256, digest.sm3), present

    def _put(self, source: BinaryIO, digest: FileDigest) -> StoredObject:
        target, stored, present = self._addressed(digest)
        if present:
            return stored
        key = stored.key
        staging = self._staging()
        try:
            fd, temp_name = tempfile.mkstemp(dir=staging, prefix="object-")
        except OSError as exc:
            raise StorageUnavailableError(f"cannot write to {self.root}: {exc}") from exc
        temp = Path(temp_name)
        try:
            written = self._copy(source, fd)
            if (written.size, written.sha256, written.sm3) != (
                digest.size,
                digest.sha256,
                digest.sm3,
            ):
                raise StorageIntegrityError(
                    f"the file is not what its digest says: got size {written.size}, "
                    f"sha256 {written.sha256}, sm3 {written.sm3}; expected size "
                    f"{digest.size}, sha256 {digest.sha256}, sm3 {digest.sm3}; nothing stored"
                )
            os.chmod(temp, READ_ONLY)
            self._rename_into(temp, target)
        except OSError as exc:
            raise StorageUnavailableError(f"cannot store {key} in {self.root}: {exc}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        return stored

    def _rename_into(self, source: Path, target: Path) -> None:
        with self._opened(target.parent):
            # Same file system, so the rename is atomic; identical content under
            # a content key makes replacing a concurrent twin harmless.
            os.replace(source, target)
        # Outside the store's lock: concurrent writers' fsyncs then share journal commits.
        _fsync_dir(target.parent)

    @staticmethod
    def _copy(source: BinaryIO, fd: int) -> FileDigest:
        hasher = DualHasher()
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                hasher.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        return hasher.result("")

    @staticmethod
    def _existing(target: Path, key: str, size: int) -> bool:
        """True if ``key`` is already stored with the expected size (idempotent put)."""
        try:
            found = target.stat()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageUnavailableError(f"cannot inspect {target}: {exc}") from exc
        if not stat.S_ISREG(found.st_mode) or found.st_size != size:
            raise StorageIntegrityError(
                f"{key} is already stored with size {found.st_size}, expected {size}: "
                f"the store at {target} has been altered and needs investigation"
            )
        return True

    @contextlib.contextmanager
    def _opened(self, directory: Path) -> Iterator[None]:
        """``directory`` (``<root>/sha256/<2 hex>``) created if missing and writable for
        the duration, under the store's lock; sealed read-only again afterwards, its
        parent too."""
        parents = [directory.parent, directory]
        lock_fd = os.open(self.root / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(lock_fd, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                for path in parents:
                    if path.is_dir():
                        path.chmod(OPEN_DIR)
                self._make_dirs(directory)
                yield
            finally:
                for path in reversed(parents):
                    with contextlib.suppress(FileNotFoundError):
                        path.chmod(SEALED_DIR)
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _make_dirs(self, directory: Path) -> None:
        """Create ``directory`` and its parents, fsyncing each parent that gained an entry."""
        missing: list[Path] = []
        current = directory
        while not current.is_dir():
            missing.append(current)
            current = current.parent
        for new in reversed(missing):
            try:
                new.mkdir(mode=OPEN_DIR)
            except FileExistsError:
                if not new.is_dir():  # a file in the way, not a concurrent writer's dir
                    raise
            _fsync_dir(new.parent)


def _read_verified(handle: BinaryIO, key: str, chunk_size: int) -> Iterator[bytes]:
    expected = _sha256_of_key(key)
    hasher = DualHasher()
    with handle:
        try:
            while chunk := handle.read(chunk_size):
                hasher.update(chunk)
                yield chunk
        except OSError as exc:
            raise StorageUnavailableError(f"cannot read {key}: {exc}") from exc
    actual = hasher.result("").sha256
    if actual != expected:
        raise StorageIntegrityError(
            f"{key} read back with sha256 {actual}: the stored file has been altered"
        )
