"""Everything a running service holds: settings, engine, store, key, sealer.

Built by :func:`build_runtime` when the app starts (never at import time) and
shared by routes, the CLI and (later) the workers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from anchoring.anchorer import anchor_step, confirm_step
from anchoring.periodic import Periodic
from anchoring.schema import log_entry
from anchoring.sealer import seal_pending
from evidence_api.core.config import Settings, check_production
from evidence_api.core.data_files import prepare_data_dir
from evidence_api.core.db import make_engine, upgrade
from evidence_api.core.keys import load_signer
from evidence_api.core.storage import ObjectStore
from evidence_api.core.storage.factory import make_store
from verifier.merkle import leaf_hash
from verifier.models import Entry
from verifier.note import SignerKey
from verifier.receipt import Receipt

if TYPE_CHECKING:  # web3 is imported only when a chain is configured
    from evidence_api.core.chain_setup import ChainContext

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: ObjectStore
    signer: SignerKey
    chain: ChainContext | None = field(default=None)
    sealer: Periodic | None = field(default=None)
    anchorer: Periodic | None = field(default=None)
    #: overdue scan and webhook dispatch timers (embedded mode)
    supervisors: list[Periodic] = field(default_factory=list)
    #: extra readiness checks by name (see :meth:`readiness`)
    checks: dict[str, Callable[[], str]] = field(default_factory=dict)
    _since_poke: int = field(default=0)
    _poke_lock: threading.Lock = field(default_factory=threading.Lock)
    #: Stores a submission's objects concurrently (S3 round trips dominate small files).
    io_pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(8, thread_name_prefix="store")
    )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def queued(self, count: int) -> None:
        """Note ``count`` newly queued entries; seal early once ``max_batch`` are waiting."""
        with self._poke_lock:  # requests queue entries from many threads
            self._since_poke += count
            due = self._since_poke >= self.settings.max_batch
            if due:
                self._since_poke = 0
        if due and self.sealer is not None:
            self.sealer.poke()

    def sign_receipt(self, entry: Entry) -> tuple[bytes, str]:
        """The entry's leaf hash and the log's signed receipt promising its inclusion."""
        leaf = leaf_hash(entry.leaf_data())
        note = Receipt(self.signer.name, leaf, entry.at, self.settings.max_merge_delay).sign(
            self.signer
        )
        return leaf, note

    def seal(self) -> None:
        seal_pending(self.engine, self.signer, max_batch=self.settings.max_batch)

    def anchor(self) -> None:
        """One anchoring round: advance in-flight transactions, then send the newest."""
        if self.chain is None:
            return
        confirm_step(
            self.engine,
            self.chain.client,
            self.chain.config,
            node_restarted_at=self.chain.node_restarted_at,
        )
        anchor_step(self.engine, self.chain.client, self.chain.config)

    def readiness(self) -> dict[str, str]:
        """Each dependency's state for ``/readyz``: ``"ok"`` or why it is not ready.

        Features add their own check to :attr:`checks` (name -> callable returning
        ``"ok"`` or a reason); a check that raises is reported as not ready.
        """
        states: dict[str, str] = {}
        for name, check in (
            ("database", self._database_ready),
            ("storage", self._storage_ready),
            *self.checks.items(),
        ):
            try:
                states[name] = check()
            except Exception as exc:  # a check must never turn /readyz into a 500
                states[name] = f"unavailable: {type(exc).__name__}: {exc}"[:300]
        return states

    def _database_ready(self) -> str:
        from sqlalchemy import text  # noqa: PLC0415
        from sqlalchemy.exc import DBAPIError  # noqa: PLC0415

        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except DBAPIError as exc:
            return f"unavailable: {type(exc.orig).__name__}"
        return "ok"

    def _storage_ready(self) -> str:
        from evidence_api.core.storage import StorageError  # noqa: PLC0415

        try:
            self.store.check()
        except StorageError as exc:
            return f"unavailable: {exc}"
        return "ok"

    def close(self) -> None:
        for worker in (self.sealer, self.anchorer, *self.supervisors):
            if worker is not None:
                worker.stop()
        if self.chain is not None:
            self.chain.close()
        self.io_pool.shutdown(wait=True)
        self.engine.dispose()


def build_store(settings: Settings) -> ObjectStore:
    if settings.storage == "s3":
        return make_store(
            "s3",
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            bucket=settings.s3_bucket,
            secure=settings.s3_secure,
            region=settings.s3_region,
            retention_days=settings.retention_days,
            # Skip the HEAD before each write: a repeat writes a fresh locked version.
            check_existing=False,
        )
    return make_store("local", root=settings.resolved_storage_dir)


#: ``build_runtime`` options for a process that runs none of the in-process timers
#: (sealer, anchorer, takedown supervision): an admin command, a Celery worker, a
#: benchmark's writer. Those timers then run elsewhere, or not at all.
NO_TIMERS: dict[str, bool] = {
    "start_sealer": False,
    "start_anchorer": False,
    "start_supervisor": False,
    "start_integrity": False,
}


def _log_started(engine: Engine) -> bool:
    """Whether the database holds any log entry (sealed or queued)."""
    with engine.connect() as conn:
        return conn.execute(select(log_entry.c.seq).limit(1)).first() is not None


def _watch_chain(runtime: Runtime, chain: ChainContext) -> None:
    """``/readyz`` reports the chain; a restarted managed node wakes the anchorer."""
    runtime.checks["chain"] = chain.readiness
    if chain.node is not None and runtime.anchorer is not None:
        chain.node.on_restart.append(runtime.anchorer.poke)


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
) -> Runtime:
    """Check the settings, migrate the database, open the store, load the key,
    connect the chain; start the in-process sealer and anchorer if asked."""
    check_production(settings)
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
        # imported here: the platform services import this module
        from evidence_api.registry.platforms import seal_stored_secrets  # noqa: PLC0415

        seal_stored_secrets(runtime)  # webhook secrets an older version left in clear
        if connect_chain and settings.chain != "none":
            from evidence_api.core.chain_setup import open_chain  # noqa: PLC0415 - loads web3

            runtime.chain = open_chain(settings, engine, rebind=rebind_chain)
            from evidence_api.core.limits import restore_recursion_limit  # noqa: PLC0415

            restore_recursion_limit()  # web3's imports raised it (see evidence_api.core.limits)
    except Exception:
        engine.dispose()
        raise
    if start_sealer if start_sealer is not None else settings.run_sealer:
        runtime.sealer = Periodic("sealer", settings.seal_interval, runtime.seal)
        runtime.sealer.start()
    run_anchorer = start_anchorer if start_anchorer is not None else settings.run_anchorer
    if run_anchorer and runtime.chain is not None:
        runtime.anchorer = Periodic("anchorer", settings.anchor_interval, runtime.anchor)
        runtime.anchorer.start()
    if runtime.chain is not None:
        _watch_chain(runtime, runtime.chain)
    if start_supervisor if start_supervisor is not None else settings.run_supervisor:
        # imported here: the takedown services import this module
        from evidence_api.takedowns.supervision import start_in_process  # noqa: PLC0415

        runtime.supervisors = start_in_process(runtime)
    from evidence_api.integrity.service import start_integrity_checks  # noqa: PLC0415

    run_integrity = start_integrity if start_integrity is not None else settings.run_integrity
    if (integrity := start_integrity_checks(runtime, run=run_integrity)) is not None:
        runtime.supervisors.append(integrity)
    log.info("log %s ready; verifier key %s", settings.log_origin, signer.verifier().to_text())
    return runtime
