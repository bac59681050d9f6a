"""Tier 5 findable by a newcomer: the trust roots (RPC URL, chain id, contract, log key
id) as ``evidence chain status``, the verification service's banner and every package's
README state them; ``evidence chain status`` without a database is one line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from evidence_api.cli import app
from evidence_api.core.config import Settings, get_settings
from evidence_api.intake.package_readme import ChainFacts, render_readme
from evidence_api.trust.roots import TrustRoots, configured_rpc_url
from tests.support.factories import sealed_evidence
from verifier.service.config import ServiceConfig

CONTRACT = "0x" + "ab" * 20
LOG_ID = "0x" + "cd" * 32


def test_the_managed_anvil_defaults_to_a_fixed_port() -> None:
    settings = Settings(chain="anvil", anvil_port=8545)
    assert Settings.model_fields["anvil_port"].default == 8545
    assert configured_rpc_url(settings) == "http://127.0.0.1:8545"
    # 0: any free port, known only once it runs
    assert configured_rpc_url(settings.model_copy(update={"anvil_port": 0})) is None
    rpc = settings.model_copy(update={"chain": "rpc", "chain_rpc_url": "https://node.example"})
    assert configured_rpc_url(rpc) == "https://node.example"
    assert configured_rpc_url(settings.model_copy(update={"chain": "none"})) is None


@pytest.mark.parametrize("port", ["-1", "65536", "eighty"])
def test_a_bad_anvil_port_is_refused_naming_it(port: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVIDENCE_ANVIL_PORT", port)
    with pytest.raises(ValidationError, match="anvil_port"):
        Settings()


def test_trust_roots_lines_name_every_fact_and_the_key_id() -> None:
    vkey = sealed_evidence().signer.verifier()
    roots = TrustRoots(vkey.to_text(), "http://127.0.0.1:8545", 31337, CONTRACT, LOG_ID)
    assert roots.key_id == vkey.key_id.hex() and len(roots.key_id) == 8
    assert roots.lines() == [
        f"log key   {vkey.to_text()} (key id {vkey.key_id.hex()})",
        "RPC URL   http://127.0.0.1:8545",
        "chain id  31337",
        f"contract  {CONTRACT}",
        f"log id    {LOG_ID}",
    ]
    assert TrustRoots(rpc_url="http://x").lines() == ["chain     not bound to a chain yet"]


@pytest.fixture
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """``get_settings()`` re-read from the environment this test sets."""
    monkeypatch.delenv("EVIDENCE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_chain_status_without_a_database_is_one_line_and_creates_none(
    tmp_path: Path, fresh_settings: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "nothing-here"
    fresh_settings.setenv("EVIDENCE_DATA_DIR", str(data))
    result = CliRunner().invoke(app, ["chain", "status"])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no database yet" in errors[0], result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    assert not data.exists(), "asking for the status created a database"


def test_chain_status_with_an_unreachable_database_is_one_line(
    fresh_settings: pytest.MonkeyPatch,
) -> None:
    fresh_settings.setenv(
        "EVIDENCE_DATABASE_URL", "postgresql+psycopg://nobody:secret@127.0.0.1:1/none"
    )
    result = CliRunner().invoke(app, ["chain", "status"])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot read the database" in errors[0], result.output
    assert "secret" not in result.output  # the password is not printed
    assert isinstance(result.exception, SystemExit), result.exception


def test_the_verification_service_states_its_trust_roots() -> None:
    vkey = sealed_evidence().signer.verifier()
    config = ServiceConfig(
        log_keys=(vkey,),
        rpc_urls=("http://127.0.0.1:8545", "https://mainnet.example/v3/SECRETKEY"),
        contract=CONTRACT,
        chain_id=31337,
    )
    lines = config.describe()
    assert f"trusted log key  {vkey.to_text()} (key id {vkey.key_id.hex()})" in lines
    assert "chain id         31337" in lines and f"contract         {CONTRACT}" in lines
    assert "RPC URL          http://127.0.0.1:8545" in lines
    assert "RPC URL          https://mainnet.example/…" in lines
    assert not any("SECRETKEY" in line for line in lines)
    bare = ServiceConfig().describe()
    assert any("tier 5 is skipped" in line for line in bare)
    assert any("VERIFIER_LOG_KEYS" in line for line in bare)


def test_the_package_readme_states_the_rpc_url_and_the_key_id() -> None:
    sealed = sealed_evidence()
    vkey = sealed.signer.verifier()
    chain = ChainFacts(31337, CONTRACT, LOG_ID, "http://127.0.0.1:8545")
    readme = render_readme(sealed.bundle, vkey.to_text(), chain, "2026-11-26T06:00:05.000Z")
    assert "RPC URL 节点地址          : http://127.0.0.1:8545" in readme
    assert f"key id 公钥标识        : {vkey.key_id.hex()}" in readme
    assert f"contract 合约地址         : {CONTRACT}" in readme
    without = render_readme(
        sealed.bundle, vkey.to_text(), ChainFacts(31337, CONTRACT, LOG_ID), "2026-11-26T06:00:05Z"
    )
    assert "RPC URL 节点地址" not in without
