"""Build the configured object store (the settings decide which one)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evidence_api.core.storage.base import ObjectStore
from evidence_api.core.storage.local import LocalObjectStore

if TYPE_CHECKING:
    from evidence_api.core.config import Settings


def make_store(kind: Literal["local", "s3"], **kwargs: Any) -> ObjectStore:
    """Build a store from settings; connects to nothing.

    ``local``: ``root``. ``s3``: ``endpoint``, ``access_key``, ``secret_key``,
    ``bucket``, ``secure``, ``region``, ``retention_days`` (optionally
    ``part_size``); its bucket is checked (and created with Object Lock if
    absent) before the first write, or at start-up by ``ensure_bucket()``.
    """
    if kind == "local":
        return LocalObjectStore(Path(kwargs["root"]))
    if kind == "s3":
        # minio and the S3 store cost most of a second to import: only S3 deployments pay it
        from evidence_api.core.storage.s3 import S3ObjectStore  # noqa: PLC0415

        return S3ObjectStore(**kwargs)
    raise ValueError(f"unknown object store kind {kind!r} (want 'local' or 's3')")


def store_for(settings: Settings) -> ObjectStore:
    """The object store ``settings`` configure (``EVIDENCE_STORAGE``); connects to nothing."""
    if settings.storage == "s3":
        return make_store(
            "s3",
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            bucket=settings.s3_bucket,
            secure=settings.s3_secure,
            region=settings.s3_region,
            retention_days=settings.retention_days,
            # Skip the HEAD before each write: a repeat writes a fresh locked version.
            check_existing=False,
        )
    return make_store("local", root=settings.resolved_storage_dir)
