"""pytest fixtures for chain tests: a session-wide anvil node and web3 clients.

Register them for the whole suite in ``tests/conftest.py``::

    pytest_plugins = ["tests.support.chain_fixtures"]

(a test module may also import the fixtures it uses from here).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import EthereumTesterProvider, Web3

from tests.support.anvil import ANVIL, Anvil
from tests.support.anvil import anvil as start_anvil


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    """A real anvil node (pinned npm package) on a free loopback port, for this session."""
    if not ANVIL.is_file():
        pytest.skip(f"anvil not found at {ANVIL}: run `npm ci --prefix contracts`")
    with start_anvil() as node:
        yield node


@pytest.fixture
def anvil_w3(anvil: Anvil) -> Web3:
    """A web3 client of the session's anvil node (its dev accounts are unlocked)."""
    return Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 30}))


@pytest.fixture
def tester_w3() -> Web3:
    """A fresh in-process eth-tester (py-evm) chain."""
    return Web3(EthereumTesterProvider())
