"""The witness's own state: per log origin, the checkpoint it last cosigned.

One JSON file per log in the state folder, ``log-<SHA-256(origin) hex>.json``::

    {"origin": "...", "size": 42, "root": "<base64>", "note": "<signed checkpoint>",
     "updated": 1764758400}

Each is replaced atomically (a temporary file written and fsync'ed, renamed over the old
one, the folder fsync'ed) before the witness answers. The folder is locked (``flock`` on
``<state>/lock``) for as long as one witness process serves it: two processes on one
state could each cosign a different history.

Checks and updates of one log are serialised by :meth:`StateStore.locked`; the check of
the old size and the write of the new state happen under the same lock (the spec's race
of a rollback by two concurrent requests cannot happen).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from evidence_api.witness.protocol import LogState
from verifier.merkle import HASH_SIZE

#: Folders of misbehaviour evidence keep at most this many refused checkpoints.
MAX_EVIDENCE_FILES = 100


class StateError(Exception):
    """The state folder cannot be used (locked by another witness, or a file is corrupt)."""


def _file_name(origin: str) -> str:
    return f"log-{hashlib.sha256(origin.encode('utf-8')).hexdigest()}.json"


def _to_json(state: LogState) -> str:
    return json.dumps(
        {
            "origin": state.origin,
            "size": state.size,
            "root": base64.b64encode(state.root).decode(),
            "note": state.note,
            "updated": state.updated,
        },
        ensure_ascii=False,
        indent=1,
    )


def _from_json(text: str, where: Path) -> LogState:
    try:
        data = json.loads(text)
        state = LogState(
            str(data["origin"]),
            int(data["size"]),
            base64.b64decode(data["root"], validate=True),
            str(data["note"]),
            int(data["updated"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise StateError(f"{where}: not a witness state file: {exc}") from exc
    if len(state.root) != HASH_SIZE or state.size < 0:
        raise StateError(f"{where}: bad size or root")
    if where.name != _file_name(state.origin):
        raise StateError(f"{where}: holds the state of another origin, {state.origin!r}")
    return state


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temp file, fsync, rename, fsync of the folder."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class StateStore:
    """The state folder of one witness process (see the module's docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._lock_file: IO[bytes] | None = open(folder / "lock", "ab")  # noqa: SIM115
        try:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock_file.close()
            self._lock_file = None
            raise StateError(f"state folder {folder} is in use by another witness process") from exc
        self._states: dict[str, LogState] = {}
        for path in sorted(folder.glob("log-*.json")):
            state = _from_json(path.read_text(encoding="utf-8"), path)
            self._states[state.origin] = state
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def close(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def get(self, origin: str) -> LogState | None:
        return self._states.get(origin)

    def all(self) -> list[LogState]:
        return sorted(self._states.values(), key=lambda s: s.origin)

    @contextmanager
    def locked(self, origin: str) -> Iterator[None]:
        """Hold the lock of ``origin``'s state (check and update under it)."""
        with self._guard:
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:
            yield

    def put(self, state: LogState) -> None:
        """Persist ``state`` (durably, before the witness answers), then hold it."""
        data = _to_json(state).encode("utf-8")
        write_atomically(self.folder / _file_name(state.origin), data)
        self._states[state.origin] = state

    def keep_evidence(self, origin: str, size: int, note: str) -> Path | None:
        """Keep a refused but validly signed checkpoint (a split view, an inconsistent
        tree) as evidence of the log's misbehaviour; at most ``MAX_EVIDENCE_FILES``."""
        folder = self.folder / "evidence"
        folder.mkdir(exist_ok=True)
        if sum(1 for _ in folder.iterdir()) >= MAX_EVIDENCE_FILES:
            return None
        digest = hashlib.sha256(note.encode("utf-8")).hexdigest()[:16]
        name = f"{_file_name(origin).removesuffix('.json')}-{size}-{digest}.note"
        path = folder / name
        if not path.exists():
            write_atomically(path, note.encode("utf-8"))
        return path
