"""Building a process's :class:`~evidence_api.core.runtime.Runtime`: check the
settings, migrate, open the store, load the key, connect the chain, start the
background jobs' in-process timers (:mod:`evidence_api.jobs`).

A composition root: it imports the features; no feature imports it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from anchoring.schema import log_entry
from evidence_api import schema as _schema  # noqa: F401 - every feature's models mapped
from evidence_api.accounts import passwords
from evidence_api.core.config import Settings, check_production
from evidence_api.core.data_files import prepare_data_dir
from evidence_api.core.db import make_engine, upgrade
from evidence_api.core.keys import load_signer
from evidence_api.core.runtime import Runtime
from evidence_api.core.storage import ObjectStore
from evidence_api.core.storage.factory import store_for
from evidence_api.jobs import start_timers

if TYPE_CHECKING:  # web3 is imported only when a chain is configured
    from evidence_api.core.chain_setup import ChainBinding, ChainContext

__all__ = ["NO_TIMERS", "Runtime", "build_runtime", "build_store"]

log = logging.getLogger(__name__)


def build_store(settings: Settings) -> ObjectStore:
    return store_for(settings)


#: ``build_runtime`` options for a process that runs none of the in-process timers
#: (sealer, anchorer, takedown supervision, captures, certificates, monitors): an admin
#: command, a Celery worker, a benchmark's writer. Those timers then run elsewhere, or
#: not at all.
NO_TIMERS: dict[str, bool] = {
    "start_sealer": False,
    "start_anchorer": False,
    "start_supervisor": False,
    "start_integrity": False,
    "start_captures": False,
    "start_certificates": False,
    "start_monitors": False,
}


def _log_started(engine: Engine) -> bool:
    """Whether the database holds any log entry (sealed or queued)."""
    with engine.connect() as conn:
        return conn.execute(select(log_entry.c.seq).limit(1)).first() is not None


def _watch_chain(runtime: Runtime, chain: ChainContext) -> None:
    """``/readyz`` reports the chain; a restarted managed node wakes the anchorer."""
    runtime.checks["chain"] = chain.readiness
    if chain.node is not None:
        chain.node.on_restart.append(lambda: runtime.poke("anchorer"))


def _bind_later(runtime: Runtime, binding: ChainBinding, switches: dict[str, bool | None]) -> None:
    """The chain is bound in the background: ``/readyz`` says so meanwhile; once bound,
    the runtime holds it and the anchorer's timer starts (:attr:`ChainBinding.on_bound`'s
    first callback; ``binding.start()`` is the caller's)."""

    def bound(chain: ChainContext) -> None:
        from evidence_api.core.limits import restore_recursion_limit  # noqa: PLC0415

        restore_recursion_limit()  # web3's imports raised it (see evidence_api.core.limits)
        runtime.chain = chain
        if chain.node is not None:
            chain.node.on_restart.append(lambda: runtime.poke("anchorer"))
        start_timers(runtime, switches, needing_chain=True)  # the anchorer's

    runtime.binding = binding
    runtime.checks["chain"] = binding.readiness
    binding.on_bound.insert(0, bound)


def build_runtime(
    settings: Settings,
    *,
    start_sealer: bool | None = None,
    start_anchorer: bool | None = None,
    connect_chain: bool = True,
    rebind_chain: bool = False,
    start_supervisor: bool | None = None,
    init: bool = False,
    start_integrity: bool | None = None,
    bind_later: bool = False,
    start_captures: bool | None = None,
    start_certificates: bool | None = None,
    start_monitors: bool | None = None,
) -> Runtime:
    """Check the settings, migrate the database, open the store, load the key,
    connect the chain; start the background jobs' in-process timers if asked.

    With ``bind_later`` the chain is only planned (its managed node launched): the
    runtime's :attr:`~Runtime.binding` binds it once the caller starts it, and the
    anchorer's timer starts then."""
    check_production(settings)
    passwords.use_profile(settings.password_profile)
    key_given = settings.log_key is not None or settings.log_key_file is not None
    if key_given or settings.mode == "production" or settings.dev_key_path.exists():
        load_signer(settings, may_create=False)  # a bad key: refused before anything is migrated
    prepare_data_dir(settings)  # private folders and database; a crash's uploads removed
    url = settings.resolved_database_url
    upgrade(url)
    engine = make_engine(url)
    # A log already in the database with its key missing is the wrong data folder,
    # not a new deployment: no new key then, unless ``init`` (``--init``) says so.
    signer = load_signer(settings, may_create=init or not _log_started(engine))
    runtime = Runtime(
        settings=settings,
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        store=build_store(settings),
        signer=signer,
    )
    try:
        from evidence_api.registry.platforms import seal_stored_secrets  # noqa: PLC0415

        # webhook secrets an older version left in clear
        seal_stored_secrets(runtime.session, runtime.settings)
        switches = {
            "run_sealer": start_sealer,
            "run_anchorer": start_anchorer,
            "run_supervisor": start_supervisor,
            "run_integrity": start_integrity,
            "run_captures": start_captures,
            "run_certificates": start_certificates,
            "run_monitors": start_monitors,
        }
        if connect_chain and settings.chain != "none" and bind_later:
            from evidence_api.core.chain_setup import ChainBinding, plan_chain  # noqa: PLC0415

            plan = plan_chain(settings)  # no web3 yet; the node launched
            if plan is not None:
                _bind_later(runtime, ChainBinding(plan, engine, rebind=rebind_chain), switches)
        elif connect_chain and settings.chain != "none":
            from evidence_api.core.chain_setup import open_chain  # noqa: PLC0415 - loads web3

            runtime.chain = open_chain(settings, engine, rebind=rebind_chain)
            from evidence_api.core.limits import restore_recursion_limit  # noqa: PLC0415

            restore_recursion_limit()  # web3's imports raised it (see evidence_api.core.limits)
    except Exception:
        engine.dispose()
        raise
    if runtime.chain is not None:
        _watch_chain(runtime, runtime.chain)
    start_timers(runtime, switches)
    log.info("log %s ready; verifier key %s", settings.log_origin, signer.verifier().to_text())
    return runtime
