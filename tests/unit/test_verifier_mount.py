"""The verifier mounted in the API app (``EVIDENCE_VERIFIER_MOUNT``): prefix checks, the URL the
service reaches itself on, and trust roots taken from the runtime (a real SQLite runtime)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from evidence_api.app import create_app
from evidence_api.core.config import ConfigurationError, Settings
from evidence_api.runtime import Runtime, build_runtime
from evidence_api.verifier_mount import (
    api_base_url,
    chain_trust,
    mount_prefix,
    mount_verifier,
    verifier_config,
)
from verifier.service.static import CSP


@pytest.mark.parametrize(
    ("raw", "want"),
    [("/verifier", "/verifier"), (" /a/b-c.d ", "/a/b-c.d"), ("", None), ("  ", None)],
)
def test_mount_prefix_accepts_paths_and_empty(raw: str, want: str | None) -> None:
    assert mount_prefix(raw) == want


@pytest.mark.parametrize(
    "raw", ["/", "verifier", "/verifier/", "//x", "/a/../b", "/.hidden", "/a b", "/a?b", "/中文"]
)
def test_mount_prefix_refuses_other_text(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="EVIDENCE_VERIFIER_MOUNT"):
        mount_prefix(raw)


@pytest.mark.parametrize(
    ("host", "want"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("0.0.0.0", "http://127.0.0.1:8000"),
        ("::", "http://[::1]:8000"),
        ("::1", "http://[::1]:8000"),
        ("evidence.example.gov.cn", "http://evidence.example.gov.cn:8000"),
    ],
)
def test_api_base_url_reaches_the_service_itself(host: str, want: str) -> None:
    assert api_base_url(host, 8000) == want


@pytest.fixture(scope="module")
def module_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """One runtime for the module (building one migrates a database): no test writes to it."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("mount") / "data",
        chain="none",
        confirmations=3,
        run_sealer=False,
        run_anchorer=False,
        run_supervisor=False,
    )
    built = build_runtime(settings)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def runtime(module_runtime: Runtime) -> Iterator[Runtime]:
    """The module's runtime, its ``verifier_mount`` setting restored after each test."""
    mount = module_runtime.settings.verifier_mount
    try:
        yield module_runtime
    finally:
        module_runtime.settings.verifier_mount = mount


def test_trust_roots_are_the_runtimes_own(runtime: Runtime) -> None:
    config = verifier_config(runtime, "http://127.0.0.1:8000")
    assert config.log_keys == (runtime.signer.verifier(),)
    assert chain_trust(runtime) is None  # no chain: tier 5 is not checked, not guessed
    assert (config.rpc_urls, config.contract, config.chain_id) == ((), None, None)
    assert config.min_confirmations == 3
    assert config.log_url == "http://127.0.0.1:8000"
    assert config.spool_dir == runtime.settings.resolved_spool_dir


def test_the_mount_serves_portal_and_config_beside_the_api(runtime: Runtime) -> None:
    app = create_app(runtime=runtime)
    portal = mount_verifier(app, runtime, "http://127.0.0.1:8000")
    assert portal == "http://127.0.0.1:8000/verifier/verify"
    with TestClient(app) as client:
        config = client.get("/verifier/v1/config").json()
        assert config["log_keys"] == [runtime.signer.verifier().to_text()]
        assert config["chain"] is None
        page = client.get("/verifier/verify")
        assert page.status_code == 200
        assert page.headers["content-security-policy"] == CSP
        assert client.get("/v1/log/key").text.strip() == runtime.signer.verifier().to_text()
        assert client.get("/verifier/nothing").status_code == 404


def test_an_empty_mount_adds_nothing(runtime: Runtime) -> None:
    runtime.settings.verifier_mount = ""
    app = create_app(runtime=runtime)
    assert mount_verifier(app, runtime, "http://127.0.0.1:8000") is None
    with TestClient(app) as client:
        assert client.get("/verifier/v1/config").status_code == 404


@pytest.mark.parametrize("prefix", ["/v1", "/v1/log", "/docs", "/healthz"])
def test_a_mount_on_the_apis_paths_is_refused(runtime: Runtime, prefix: str) -> None:
    runtime.settings.verifier_mount = prefix
    with pytest.raises(ConfigurationError, match="overlaps the API's own"):
        mount_verifier(create_app(runtime=runtime), runtime, "http://127.0.0.1:8000")
