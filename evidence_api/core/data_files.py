"""The data folder at start: private permissions, and no crash's leftovers in the spool.

Evidence, the SQLite database and the keys are nobody else's business on the
machine: the data folder, the spool and the object folder are created 0700, the
SQLite database 0600 (SQLite gives its ``-wal`` and ``-shm`` files the database's
mode), and an existing folder or database loses any access for others
(``o-rwx``; what its owner chose for the group stays).

A process killed while receiving an upload leaves its ``upload-*`` spool file
behind (nothing else ever removes it). Several processes may share one spool
(API replicas on one host), and a file another process is still writing must
not vanish under it, so only files nobody has written to for
``spool_stale_after`` seconds (default an hour) are removed; an upload that
stalls that long has timed out long before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import time
from pathlib import Path

from sqlalchemy import make_url

from evidence_api.core.config import Settings

log = logging.getLogger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SPOOL_PREFIX = "upload-"


def private_dir(path: Path) -> None:
    """Create ``path`` (0700) if missing; otherwise take away others' access."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    _no_others(path)


def _no_others(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o007:
        path.chmod(mode & ~0o007)


def private_sqlite(url: str) -> None:
    """Create the SQLite database file of ``url`` 0600 before SQLite does (0644)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database or "")
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    _no_others(path)
    for suffix in ("-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            _no_others(path.with_name(path.name + suffix))


def clean_spool(spool: Path, older_than: float, *, now: float | None = None) -> list[Path]:
    """Remove ``upload-*`` files in ``spool`` untouched for ``older_than`` seconds."""
    cutoff = (time.time() if now is None else now) - older_than
    removed = []
    for path in spool.glob(SPOOL_PREFIX + "*"):
        try:
            info = path.lstat()
            if stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:  # another process cleaned it first
            continue
    if removed:
        log.warning(
            "removed %d partial upload(s) left in %s by an earlier crash", len(removed), spool
        )
    return removed


def prepare_data_dir(settings: Settings) -> None:
    """Private data, spool and object folders and database; the spool cleaned."""
    private_dir(settings.data_dir)
    spool = settings.resolved_spool_dir
    private_dir(spool)
    clean_spool(spool, settings.spool_stale_after)
    if settings.storage == "local":
        private_dir(settings.resolved_storage_dir)
        incoming = settings.resolved_storage_dir / ".incoming"  # uploads land here too
        if incoming.is_dir():
            clean_spool(incoming, settings.spool_stale_after)
    private_sqlite(settings.resolved_database_url)
