"""Evidence object storage (write once, content-addressed)."""

from evidence_api.core.storage.base import (
    ObjectNotFoundError,
    ObjectStore,
    StorageError,
    StorageIntegrityError,
    StorageUnavailableError,
    StoredObject,
    content_key,
)

__all__ = [
    "ObjectNotFoundError",
    "ObjectStore",
    "StorageError",
    "StorageIntegrityError",
    "StorageUnavailableError",
    "StoredObject",
    "content_key",
]
