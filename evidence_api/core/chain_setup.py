"""Connecting the service to its chain, and refusing the wrong one.

The first start binds the log to (chain id, genesis hash, contract address,
contract code hash); every later start compares and refuses to run against a
different chain unless ``evidence chain rebind`` is run explicitly.

Two steps, so that ``evidence serve`` listens before the chain is bound:
:func:`plan_chain` decides the chain and launches the managed node (no web3; what
refuses a start at once, such as a held lock or a taken port, raises here), and
:func:`bind_chain` waits for the node, connects (web3 is imported then) and binds.
:class:`ChainBinding` runs the second step in a background thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine, delete, insert, select, update

from anchoring.anchorer import AnchorConfig
from anchoring.log import MerkleLog
from anchoring.node import (
    ANVIL_DEV_KEY,
    ManagedAnvil,
    NodeError,
    PortInUseError,
    anvil_binary,
    rpc_ready,
)
from anchoring.schema import anchor_tx, chain_binding
from anchoring.store.sql import SqlNodeStore
from evidence_api.core.config import ConfigurationError, Settings

if TYPE_CHECKING:  # web3 is imported when the chain is bound, not when this module is
    from web3 import Web3

    from anchoring.chain import ChainClient

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


@dataclass
class ChainPlan:
    """The chain a start binds to, decided (and its managed node launched) before the
    server listens: :func:`plan_chain`. Nothing here has imported web3 yet."""

    settings: Settings
    #: ``anvil``, ``rpc`` or ``tester`` (anvil asked for but not installed)
    mode: str
    #: the sender's key (None for the tester chain: its own funded account)
    key: str | None
    node: ManagedAnvil | None = None

    def connect(self) -> tuple[Web3, str]:
        """Wait for the managed node, then connect (this imports web3): ``(w3, key)``."""
        from web3 import EthereumTesterProvider, Web3  # noqa: PLC0415 - ~1 s of imports

        if self.node is not None:
            try:
                url = self.node.wait_ready()
            except NodeError as exc:
                raise ConfigurationError(str(exc)) from exc
            w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10}))
            assert self.key is not None
            return w3, self.key
        if self.mode == "rpc":
            rpc_url = self.settings.chain_rpc_url
            assert rpc_url is not None and self.key is not None
            return Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10})), self.key
        provider = EthereumTesterProvider()
        tester = provider.ethereum_tester
        assert tester is not None
        return Web3(provider), tester.backend.account_keys[0].to_hex()

    def abandon(self) -> None:
        """Stop the managed node (a start refused, or stopped before the chain was bound)."""
        if self.node is not None:
            self.node.stop()


def plan_chain(settings: Settings) -> ChainPlan | None:
    """Decide the chain and launch the managed node; None for ``EVIDENCE_CHAIN=none``.
    Raises :class:`ConfigurationError` (no key, the node's lock or port taken, ...)."""
    mode = settings.chain
    if mode == "none":
        return None
    if mode == "anvil" and anvil_binary() is None:
        if settings.mode == "production":
            raise ConfigurationError("anvil is not installed")
        mode = "tester"
    if mode == "anvil":
        key = _key(settings, ANVIL_DEV_KEY)
        node = ManagedAnvil(
            settings.data_dir / "anvil-state.json",
            port=settings.anvil_port,
            block_time=settings.anvil_block_time,
        )
        try:
            node.launch()
        except PortInUseError as exc:
            raise ConfigurationError(
                f"the managed anvil cannot listen: {exc}; set EVIDENCE_ANVIL_PORT "
                "(setting anvil_port) to a free port, or 0 for any free port"
            ) from exc
        except NodeError as exc:  # another service on this data folder, or no anvil
            raise ConfigurationError(str(exc)) from exc
        return ChainPlan(settings, mode, key, node)
    if mode == "rpc":
        if not settings.chain_rpc_url:
            raise ConfigurationError("chain=rpc needs EVIDENCE_CHAIN_RPC_URL")
        return ChainPlan(settings, mode, _key(settings, None))
    log.warning(TESTER_WARNING)
    return ChainPlan(settings, mode, None)


def open_chain(settings: Settings, engine: Engine, *, rebind: bool = False) -> ChainContext | None:
    """Connect, then bind to (or check) the recorded chain and contract."""
    plan = plan_chain(settings)
    return None if plan is None else bind_chain(plan, engine, rebind=rebind)


def bind_chain(plan: ChainPlan, engine: Engine, *, rebind: bool = False) -> ChainContext:
    """Connect to the planned chain, then bind to (or check) the recorded chain and
    contract; the node is stopped if this fails."""
    from anchoring.chain import ChainClient, deploy  # noqa: PLC0415 - web3, eth-account
    from anchoring.contract import log_id_for  # noqa: PLC0415 - keccak

    settings, mode, node = plan.settings, plan.mode, plan.node
    try:
        w3, key = plan.connect()
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
            if node is not None:  # the deployment is on disk before the binding records it
                node.wait_saved(w3.eth.block_number)
            _bind(engine, client, log_id, replace=binding is not None)
        else:
            assert address is not None
            client = ChainClient(w3, address, key)
            _check(client, binding)
        _check_history(client, engine, log_id)
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
        plan.abandon()
        raise


#: ``/readyz``'s chain check while the chain is being bound
STARTING = "starting: the chain is being bound"


@dataclass
class ChainBinding:
    """:func:`bind_chain` in a background thread (``evidence serve`` listens meanwhile).

    Once bound, each ``on_bound`` callback runs in order with the context (in the
    thread); if binding or a callback fails, ``on_failed`` gets the exception.
    :meth:`readiness` is ``/readyz``'s chain check throughout."""

    plan: ChainPlan
    engine: Engine
    rebind: bool = False
    on_bound: list[Callable[[ChainContext], None]] = field(default_factory=list)
    on_failed: list[Callable[[BaseException], None]] = field(default_factory=list)
    #: the bound chain, once every ``on_bound`` callback has run
    chain: ChainContext | None = None
    error: BaseException | None = None
    _thread: threading.Thread | None = None
    _cancelled: threading.Event = field(default_factory=threading.Event)
    _done: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="chain-binding", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        context: ChainContext | None = None
        try:
            context = bind_chain(self.plan, self.engine, rebind=self.rebind)
            for callback in self.on_bound:
                if self._cancelled.is_set():
                    break
                callback(context)
            self.chain = context
        except BaseException as exc:
            if context is not None:
                context.close()
            self.error = exc
            if not self._cancelled.is_set():
                for failed in self.on_failed:
                    failed(exc)
        finally:
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the binding has finished (bound or failed) within ``timeout`` s."""
        return self._done.wait(timeout)

    def readiness(self) -> str:
        if self.error is not None:
            return f"unavailable: {self.error}"[:300]
        if self.chain is None:
            return STARTING
        return self.chain.readiness()

    def cancel(self, timeout: float = 30.0) -> None:
        """Stop binding (the process stops before the chain was bound): the node is stopped,
        which ends a wait for it; the thread is given ``timeout`` s to finish."""
        self._cancelled.set()
        if not self._done.is_set():
            self.plan.abandon()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)


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


def _check_history(client: ChainClient, engine: Engine, log_id: bytes) -> None:
    """Refuse a log that does not hold the chain's newest anchored checkpoint: a database
    restored from a backup older than that anchor, or another log's. Sealing on would sign
    a second checkpoint of a size already signed and anchored with other contents (a fork),
    so neither the service nor a worker starts (docs/deployment.md §7.3)."""
    onchain = client.latest(log_id)
    if not onchain.size:
        return
    with engine.connect() as conn:
        tree = MerkleLog(SqlNodeStore(conn))
        size = tree.size
        if size >= onchain.size and tree.root(onchain.size) == onchain.root:
            return
    anchored = f"size {onchain.size} root {onchain.root.hex()}"
    if size < onchain.size:
        why = (
            f"the log holds {size} entries but the chain's newest anchor is at {anchored}: "
            "this database is behind the anchored history (restored from an older backup?)"
        )
    else:
        why = f"the log's first {onchain.size} entries do not have the anchored {anchored}"
    raise ChainBindingError(
        f"refusing to start: {why}. Sealing would sign a fork; restore a backup that holds "
        "the anchored checkpoint (docs/deployment.md §7.3)."
    )


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
