"""Connecting the service to its chain, and refusing the wrong one.

The first start binds the log to (chain id, genesis hash, contract address,
contract code hash); every later start compares and refuses to run against a
different chain unless ``evidence chain rebind`` is run explicitly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert, select, update
from web3 import EthereumTesterProvider, Web3

from anchoring.anchorer import AnchorConfig
from anchoring.chain import ChainClient, deploy
from anchoring.contract import log_id_for
from anchoring.node import (
    ANVIL_DEV_KEY,
    ManagedAnvil,
    NodeError,
    PortInUseError,
    anvil_binary,
    rpc_ready,
)
from anchoring.schema import anchor_tx, chain_binding
from evidence_api.core.config import ConfigurationError, Settings

log = logging.getLogger(__name__)

TESTER_WARNING = (
    "\n" + "!" * 78 + "\n"
    "!! Anchoring to the IN-PROCESS eth-tester chain: every anchor VANISHES when this\n"
    "!! process exits. Install anvil (`make install`) or set EVIDENCE_CHAIN=rpc.\n" + "!" * 78
)


class ChainBindingError(ConfigurationError):
    """The configured chain is not the one this log was anchored to."""


#: How long ``/readyz`` waits for the chain's RPC to answer.
READY_TIMEOUT = 2.0


@dataclass
class ChainContext:
    client: ChainClient
    config: AnchorConfig
    node: ManagedAnvil | None
    mode: str
    #: the JSON-RPC endpoint anchoring uses (None: the in-process tester chain)
    rpc_url: str | None = None

    @property
    def node_restarted_at(self) -> datetime | None:
        """When the managed node last came back after dying: transactions sent before
        that and unknown to it were forgotten with its pool, not merely slow."""
        return self.node.restarted_at if self.node is not None else None

    def readiness(self) -> str:
        """``"ok"``, or why anchoring cannot reach its chain (the ``chain`` check of
        ``/readyz``): the managed node down or restarting, or the RPC not answering."""
        if self.node is not None:
            state = self.node.status()
            if state != "ok":
                return state
        if self.rpc_url is None:
            return "ok"
        if not rpc_ready(self.rpc_url, timeout=READY_TIMEOUT):
            return f"unavailable: the chain RPC {self.rpc_url} does not answer"
        return "ok"

    def close(self) -> None:
        if self.node is not None:
            self.node.stop()


def _key(settings: Settings, default: str | None) -> str:
    if settings.chain_key is not None:
        return settings.chain_key.get_secret_value().strip()
    if settings.chain_key_file is not None:
        try:
            return settings.chain_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(f"cannot read {settings.chain_key_file}: {exc}") from exc
    if default is None:
        raise ConfigurationError("EVIDENCE_CHAIN_KEY (or _FILE) is required for chain=rpc")
    if settings.mode == "production":
        raise ConfigurationError("production mode refuses the development chain key")
    return default


def _connect(settings: Settings) -> tuple[Web3, str, ManagedAnvil | None, str]:
    mode = settings.chain
    if mode == "anvil" and anvil_binary() is None:
        if settings.mode == "production":
            raise ConfigurationError("anvil is not installed")
        mode = "tester"
    if mode == "anvil":
        node = ManagedAnvil(
            settings.data_dir / "anvil-state.json",
            port=settings.anvil_port,
            block_time=settings.anvil_block_time,
        )
        try:
            url = node.start()
        except PortInUseError as exc:
            raise ConfigurationError(
                f"the managed anvil cannot listen: {exc}; set EVIDENCE_ANVIL_PORT "
                "(setting anvil_port) to a free port, or 0 for any free port"
            ) from exc
        except NodeError as exc:  # another service on this data folder, or no anvil
            raise ConfigurationError(str(exc)) from exc
        return (
            Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10})),
            _key(settings, ANVIL_DEV_KEY),
            node,
            mode,
        )
    if mode == "rpc":
        if not settings.chain_rpc_url:
            raise ConfigurationError("chain=rpc needs EVIDENCE_CHAIN_RPC_URL")
        w3 = Web3(Web3.HTTPProvider(settings.chain_rpc_url, request_kwargs={"timeout": 10}))
        return w3, _key(settings, None), None, mode
    log.warning(TESTER_WARNING)
    provider = EthereumTesterProvider()
    tester = provider.ethereum_tester
    assert tester is not None
    key = tester.backend.account_keys[0].to_hex()
    return Web3(provider), key, None, mode


def open_chain(settings: Settings, engine: Engine, *, rebind: bool = False) -> ChainContext | None:
    """Connect, then bind to (or check) the recorded chain and contract."""
    if settings.chain == "none":
        return None
    w3, key, node, mode = _connect(settings)
    try:
        log_id = log_id_for(settings.log_origin)
        with engine.begin() as conn:
            binding = conn.execute(select(chain_binding)).first()
        if binding is not None and mode == "tester":
            rebind = True  # a new in-process chain every start, by design
        address = settings.contract_address or (binding.contract_address if binding else None)
        if binding is None or rebind:
            if address is None or (rebind and not settings.contract_address):
                address = deploy(w3, key)
            client = ChainClient(w3, address, key)
            if not client.is_submitter(log_id):
                client.set_submitter(log_id, client.sender)
            _bind(engine, client, log_id, replace=binding is not None)
        else:
            assert address is not None
            client = ChainClient(w3, address, key)
            _check(client, binding)
        confirmations = settings.confirmations
        return ChainContext(
            client,
            AnchorConfig(
                log_id, confirmations=confirmations, drop_after=settings.anchor_drop_after
            ),
            node,
            mode,
            rpc_url=node.url if node is not None else settings.chain_rpc_url,
        )
    except Exception:
        if node is not None:
            node.stop()
        raise


def _bind(engine: Engine, client: ChainClient, log_id: bytes, *, replace: bool) -> None:
    values = {
        "chain_id": client.chain_id(),
        "genesis_hash": client.genesis_hash(),
        "contract_address": client.address,
        "code_hash": client.code_hash(),
        "log_id": "0x" + log_id.hex(),
        "bound_at": datetime.now(UTC),
    }
    with engine.begin() as conn:
        if replace:
            conn.execute(delete(chain_binding))
            # Anchors on the old chain prove nothing on the new one: send again.
            conn.execute(
                update(anchor_tx)
                .where(anchor_tx.c.state.in_(("submitted", "included", "confirmed")))
                .values(state="rebound", updated_at=datetime.now(UTC), detail="chain rebound")
            )
        conn.execute(insert(chain_binding).values(id=1, **values))
    log.info("log bound to chain %s contract %s", values["chain_id"], values["contract_address"])


def _check(client: ChainClient, binding: object) -> None:
    b = binding._mapping  # type: ignore[attr-defined]
    found = {
        "chain id": (client.chain_id(), b["chain_id"]),
        "genesis hash": (client.genesis_hash(), b["genesis_hash"]),
        "contract code hash": (client.code_hash(), b["code_hash"]),
    }
    wrong = [
        f"{name} {got} (recorded {want})" for name, (got, want) in found.items() if got != want
    ]
    if wrong:
        raise ChainBindingError(
            "refusing to anchor on a different chain: "
            + "; ".join(wrong)
            + ". If this is intended, run `evidence chain rebind`."
        )
