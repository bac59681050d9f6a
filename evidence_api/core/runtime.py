"""What a running service holds: settings, engine, store, key, chain, timers.

Built by :func:`evidence_api.runtime.build_runtime` when a process starts (never
at import time). Service functions take a session and the collaborators they
use; routes, the CLI and the background jobs hand them out of this object.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from anchoring.anchorer import anchor_step, confirm_step
from anchoring.issuing import issue_receipt, issue_receipts
from anchoring.periodic import Periodic
from anchoring.sealer import SealResult, seal_pending
from evidence_api.core.config import Settings
from evidence_api.core.db import WriterLock, writer_lock
from evidence_api.core.storage import ObjectStore
from verifier.models import Entry
from verifier.note import SignerKey

if TYPE_CHECKING:  # web3 is imported only when a chain is configured
    from evidence_api.core.chain_setup import ChainBinding, ChainContext


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: ObjectStore
    signer: SignerKey
    chain: ChainContext | None = field(default=None)
    #: the chain being bound in the background (``evidence serve``); ``chain`` is None
    #: until it is bound
    binding: ChainBinding | None = field(default=None)
    #: the in-process timers of the background jobs (:mod:`evidence_api.jobs`), by job name
    timers: dict[str, Periodic] = field(default_factory=dict)
    #: extra readiness checks by name (see :meth:`readiness`)
    checks: dict[str, Callable[[], str]] = field(default_factory=dict)
    _since_poke: int = field(default=0)
    _poke_lock: threading.Lock = field(default_factory=threading.Lock)
    #: Stores a submission's objects concurrently (S3 round trips dominate small files).
    io_pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(8, thread_name_prefix="store")
    )

    @cached_property
    def writer_lock(self) -> WriterLock:
        """Held around each group commit: on a SQLite file, this database's lock file
        (:func:`evidence_api.core.db.writer_lock`)."""
        return writer_lock(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def poke(self, job: str) -> None:
        """Run ``job``'s in-process timer now (nothing if it runs elsewhere)."""
        if (timer := self.timers.get(job)) is not None:
            timer.poke()

    def queued(self, count: int) -> None:
        """Note ``count`` newly queued entries; seal early once ``max_batch`` are waiting."""
        with self._poke_lock:  # requests queue entries from many threads
            self._since_poke += count
            due = self._since_poke >= self.settings.max_batch
            if due:
                self._since_poke = 0
        if due:
            self.poke("sealer")

    def sign_receipt(self, entry: Entry) -> tuple[bytes, str]:
        """The entry's leaf hash and the log's signed receipt promising its inclusion."""
        return issue_receipt(self.signer, entry, self.settings.max_merge_delay)

    def sign_receipts(self, leaves: Sequence[bytes], received_at: str) -> list[str]:
        """The log's signed receipts for leaves received together, at ``received_at``."""
        return issue_receipts(self.signer, leaves, received_at, self.settings.max_merge_delay)

    def seal(self) -> list[SealResult]:
        """Seal every queued entry (in batches of ``max_batch``)."""
        return seal_pending(
            self.engine,
            self.signer,
            max_batch=self.settings.max_batch,
            exclusive=self.writer_lock,
        )

    def confirm(self) -> None:
        """Advance the anchoring transactions in flight (confirmed, dropped, resent)."""
        if self.chain is not None:
            confirm_step(
                self.engine,
                self.chain.client,
                self.chain.config,
                node_restarted_at=self.chain.node_restarted_at,
            )

    def anchor(self) -> str:
        """Send the newest checkpoint's anchoring transaction if one is due."""
        if self.chain is None:
            return "no chain"
        return anchor_step(self.engine, self.chain.client, self.chain.config)

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

    @property
    def chain_pending(self) -> bool:
        """Whether a chain is configured but not bound yet (requests needing it: 503)."""
        return self.binding is not None and self.binding.chain is None

    def close(self) -> None:
        if self.binding is not None:
            self.binding.cancel()
        for timer in self.timers.values():
            timer.stop()
        if self.chain is not None:
            self.chain.close()
        self.io_pool.shutdown(wait=True)
        self.engine.dispose()
