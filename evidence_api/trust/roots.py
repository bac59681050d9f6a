"""What a verifier needs to check tier 5, said where a newcomer looks.

The log key (and its C2SP key id), the chain's RPC URL, the chain id, the
EvidenceLog contract and the log's id in it are printed in the ``evidence serve``
banner and by ``evidence chain status``, and stated in every package's README.
They are given to verifiers out of band: a verifier trusts its own copy, never
one read from a bundle or a package.

Light on purpose (no web3): ``evidence chain status`` reads them from the
settings, the key file and the database without connecting to the chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, select

from anchoring.schema import chain_binding
from evidence_api.core.config import Settings
from verifier.chain.rpc import endpoint_name
from verifier.errors import VerifierError
from verifier.note import VerifierKey

if TYPE_CHECKING:
    from evidence_api.core.runtime import Runtime


@dataclass(frozen=True)
class TrustRoots:
    vkey: str | None = None
    rpc_url: str | None = None
    chain_id: int | None = None
    contract: str | None = None
    log_id: str | None = None

    @property
    def key_id(self) -> str | None:
        """The C2SP signed-note key id (4 bytes, hex) of :attr:`vkey`."""
        if self.vkey is None:
            return None
        try:
            return VerifierKey.from_text(self.vkey).key_id.hex()
        except VerifierError:
            return None

    def lines(self) -> list[str]:
        """One fact per line, aligned, for a banner or a status command."""
        out = []
        if self.vkey is not None:
            out.append(f"log key   {self.vkey} (key id {self.key_id})")
        if self.contract is None:
            out.append("chain     not bound to a chain yet")
            return out
        out += [
            "RPC URL   "
            + (
                endpoint_name(self.rpc_url)
                if self.rpc_url
                else "(none: the in-process tester chain)"
            ),
            f"chain id  {self.chain_id}",
            f"contract  {self.contract}",
            f"log id    {self.log_id}",
        ]
        return out


def configured_rpc_url(settings: Settings) -> str | None:
    """The chain's RPC URL as the settings give it (the managed anvil's fixed port, or
    ``EVIDENCE_CHAIN_RPC_URL``); None when it is only known once running (port 0)."""
    if settings.chain == "anvil" and settings.anvil_port:
        return f"http://127.0.0.1:{settings.anvil_port}"
    if settings.chain == "rpc":
        return settings.chain_rpc_url
    return None


def bound_chain(engine: Engine) -> tuple[int, str, str] | None:
    """(chain id, contract, log id) of the recorded chain binding, if any."""
    with engine.connect() as conn:
        row = conn.execute(
            select(
                chain_binding.c.chain_id, chain_binding.c.contract_address, chain_binding.c.log_id
            )
        ).first()
    if row is None:
        return None
    return int(row.chain_id), str(row.contract_address), str(row.log_id)


def runtime_trust_roots(runtime: Runtime) -> TrustRoots:
    """The running service's trust roots: its key, the chain it anchors to and how it
    reaches it (the managed anvil's actual URL)."""
    rpc_url = runtime.chain.rpc_url if runtime.chain is not None else None
    return trust_roots(
        runtime.engine,
        runtime.signer.verifier().to_text(),
        rpc_url or configured_rpc_url(runtime.settings),
    )


def trust_roots(engine: Engine, vkey: str | None, rpc_url: str | None) -> TrustRoots:
    bound = bound_chain(engine)
    if bound is None:
        return TrustRoots(vkey=vkey, rpc_url=rpc_url)
    chain_id, contract, log_id = bound
    return TrustRoots(vkey, rpc_url, chain_id, contract, log_id)


class StatusUnavailableError(Exception):
    """``evidence chain status`` cannot read the deployment; the message is one line."""


def _existing_key(settings: Settings) -> str | None:
    """The log's vkey if its key exists (never creates one: a status command changes
    nothing)."""
    from evidence_api.core.config import ConfigurationError  # noqa: PLC0415
    from evidence_api.core.keys import load_signer  # noqa: PLC0415

    configured = settings.log_key is not None or settings.log_key_file is not None
    if not configured and not settings.dev_key_path.exists():
        return None
    try:
        return load_signer(settings).verifier().to_text()
    except ConfigurationError:
        return None


def chain_status_lines(settings: Settings, *, newest: int = 10) -> list[str]:
    """What ``evidence chain status`` prints: the binding (first line, ``chain <id>
    contract <address> log <log id>``), the trust roots, the newest anchors.

    Raises :class:`StatusUnavailableError` (one line) when there is no database yet
    or it cannot be read; an SQLite database is never created by asking.
    """
    from sqlalchemy import make_url  # noqa: PLC0415
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    from anchoring.schema import anchor_tx  # noqa: PLC0415
    from evidence_api.core.db import make_engine  # noqa: PLC0415

    url = make_url(settings.resolved_database_url)
    shown = url.render_as_string(hide_password=True)
    sqlite_file = url.database if url.get_backend_name() == "sqlite" else None
    if sqlite_file not in (None, "", ":memory:") and not Path(str(sqlite_file)).exists():
        raise StatusUnavailableError(
            f"no database yet at {Path(str(sqlite_file)).resolve()}: nothing has run in data "
            f"folder {settings.data_dir.resolve()} (start `evidence serve`, or set "
            "EVIDENCE_DATA_DIR to the deployment's folder)"
        )
    engine = make_engine(settings.resolved_database_url)
    try:
        roots = trust_roots(engine, _existing_key(settings), configured_rpc_url(settings))
        with engine.connect() as conn:
            rows = conn.execute(
                select(anchor_tx).order_by(anchor_tx.c.id.desc()).limit(newest)
            ).all()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise StatusUnavailableError(
            f"cannot read the database {shown}: {type(exc).__name__}: "
            + (reason[0][:200] if reason else "")
        ) from exc
    finally:
        engine.dispose()
    if roots.contract is None:
        lines = ["not bound to a chain yet"]
    else:
        lines = [f"chain {roots.chain_id} contract {roots.contract} log {roots.log_id}"]
    lines += ["  " + line for line in roots.lines()]
    if rows:
        lines.append("newest anchors:")
    lines += [
        f"  size {row.size:>10}  {row.state:<10} tx {row.tx_hash} block {row.block_number}"
        for row in rows
    ]
    return lines
