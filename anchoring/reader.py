"""The log as its public readers see it: one :class:`LogReader` per database (engine) in a
process, holding the latest signed checkpoint and a cache of tree nodes in memory.

A proof is answered with one statement: the published size comes from the
checkpoint held in memory, and the statement that reads the nodes the cache
lacks also reads the log's size (:meth:`~anchoring.store.base.NodeStore.size_and_nodes`),
run in autocommit and repeated once on a fresh connection if the first was dead
(:func:`~anchoring.store.sql.read_retrying`).

The checkpoint held is kept current two ways. In this process, the sealer
hands every checkpoint it signs to :func:`announce` once it is committed.
Another process's seals are noticed by size, never by a timer: every proof read
returns the log's size, and a size beyond the held checkpoint makes the next
answer for "the latest" read the checkpoint again; ``GET /v1/log/checkpoint``
compares the log's size (one primary-key read) before serving the held note.
The sealer appends and signs in one transaction, so the log's size is always
the latest checkpoint's.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine

from anchoring.log import MerkleLog
from anchoring.queue import CheckpointRecord, latest_checkpoint
from anchoring.store.cache import NodeCache
from anchoring.store.sql import SqlNodeStore, read_retrying

T = TypeVar("T")


class LogReader:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.cache = NodeCache()
        self._checkpoint: CheckpointRecord | None = None
        self._lock = threading.Lock()

    def run(self, read: Callable[[Connection], T]) -> T:
        """``read(conn)`` in autocommit, once more on a new connection if this one was dead."""
        return read_retrying(self.engine, read)

    def tree(self, conn: Connection) -> MerkleLog:
        """The log read through ``conn`` (autocommit: see :meth:`run`) and the node cache."""
        return MerkleLog(SqlNodeStore(conn), cache=self.cache)

    def held(self, conn: Connection) -> CheckpointRecord | None:
        """The checkpoint held in memory (read if none is held yet), unchecked: a proof
        read checks the log's size in the same statement as its nodes."""
        return self._checkpoint or self.refresh(conn)

    def latest(self, conn: Connection) -> CheckpointRecord | None:
        """The latest signed checkpoint: the one held, while the log's size says it still
        is the latest (one primary-key read), else read again."""
        held = self._checkpoint
        if held is not None:
            size = SqlNodeStore(conn).size()
            self.cache.saw_size(size)
            if size == held.size:
                return held
        return self.refresh(conn)

    def stale(self, checkpoint: CheckpointRecord) -> bool:
        """Whether a read has seen the log beyond ``checkpoint``: a newer one is signed."""
        return self.cache.known_size > checkpoint.size

    def refresh(self, conn: Connection) -> CheckpointRecord | None:
        """Read the latest checkpoint from the database and hold it."""
        record = latest_checkpoint(conn)
        if record is not None:
            self.announce(record)
        return self._checkpoint

    def announce(self, record: CheckpointRecord) -> None:
        """Hold ``record`` if it is newer than the one held (sealers and readers race)."""
        with self._lock:
            if self._checkpoint is None or record.size > self._checkpoint.size:
                self._checkpoint = record


_readers: weakref.WeakKeyDictionary[Engine, LogReader] = weakref.WeakKeyDictionary()
_readers_lock = threading.Lock()


def reader_for(engine: Engine) -> LogReader:
    """This process's reader of the log in ``engine``'s database (made on first use)."""
    with _readers_lock:
        reader = _readers.get(engine)
        if reader is None:
            reader = _readers[engine] = LogReader(engine)
        return reader


def announce(engine: Engine, record: CheckpointRecord) -> None:
    """A checkpoint was signed and committed in ``engine``'s database (by this process)."""
    reader_for(engine).announce(record)
