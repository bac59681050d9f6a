"""The embedded chain: a supervised anvil subprocess with its state in the data folder.

One node per state file (a ``flock``), restarted when it dies, killed with its parent, started
from the last complete state dump (docs/design.md §11.6).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
ANVIL_PACKAGE_BIN = REPO / "contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
#: anvil's first well-known development account (funded on every anvil chain).
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_CHAIN_ID = 31337
#: The managed anvil's port unless configured (``EVIDENCE_ANVIL_PORT``): anvil's own default.
DEFAULT_ANVIL_PORT = 8545

#: Restart pauses: 1, 2, 4, 8, then 10 s; back to 1 s once a node stayed up this long.
BACKOFF_FIRST = 1.0
BACKOFF_CAP = 10.0
STABLE_AFTER = 30.0
#: How often the supervisor looks at the process.
WATCH_INTERVAL = 0.1
#: How long a start waits for its port to be released (a predecessor still exiting).
PORT_RELEASE_WAIT = 5.0
#: How often the supervisor copies a complete state dump aside (see :func:`backup_state`).
BACKUP_INTERVAL = 5.0

_PR_SET_PDEATHSIG = 1


class NodeError(Exception):
    """The managed chain node could not be started."""


class NodeLockedError(NodeError):
    """Another process already runs the node of this state file."""


class PortInUseError(NodeError):
    """Something else listens on the node's port."""

    def __init__(self, port: int) -> None:
        super().__init__(f"port 127.0.0.1:{port} is already in use by another program")
        self.port = port


def anvil_binary() -> Path | None:
    configured = os.environ.get("EVIDENCE_ANVIL_BIN")
    for candidate in (configured, str(ANVIL_PACKAGE_BIN), shutil.which("anvil")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on ``host:port`` (a socket in TIME_WAIT does not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


_CHAIN_ID_CALL = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})


def rpc_ready(url: str, timeout: float = 1.0) -> bool:
    """Whether a JSON-RPC node answers ``eth_chainId`` at ``url``.

    Plain urllib: ``/readyz`` asks this on every probe, and httpx would log each
    request at INFO.
    """
    request = urllib.request.Request(  # noqa: S310 - http(s) URLs from our settings
        url,
        data=_CHAIN_ID_CALL.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310
            return reply.status == 200 and "result" in json.loads(reply.read(65536))
    except (OSError, ValueError):  # URLError, HTTPError and timeouts are OSErrors
        return False


def backoff(attempt: int, *, first: float = BACKOFF_FIRST, cap: float = BACKOFF_CAP) -> float:
    """Seconds to wait before restart ``attempt`` (0-based): doubling from ``first`` up to
    ``cap``, so a node that keeps dying does not spin while one that died once is back soon."""
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    return float(min(cap, first * 2 ** min(attempt, 32)))


def next_attempt(attempt: int, uptime: float, *, stable_after: float = STABLE_AFTER) -> int:
    """The restart attempt number after a node that ran ``uptime`` seconds died: a node
    that was up for ``stable_after`` s starts over at 0; one that died sooner keeps
    backing off (a crash loop must not restart every second forever)."""
    return 0 if uptime >= stable_after else attempt + 1


def exit_reason(returncode: int) -> str:
    """``anvil exited with 3`` / ``anvil killed by SIGKILL``."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"anvil killed by {name}"
    return f"anvil exited with {returncode}"


def _block_number(block: dict[str, dict[str, str]]) -> int:
    return int(block["header"]["number"], 16)


def backup_path(state_file: Path) -> Path:
    return state_file.with_name(state_file.name + ".last-good")


def _complete_dump(data: bytes) -> bool:
    try:
        state = json.loads(data)
    except ValueError:
        return False
    return isinstance(state, dict) and isinstance(state.get("blocks"), list)


def saved_block(state_file: Path) -> int | None:
    """The newest block number in the complete dump at ``state_file`` (None: no complete
    dump there yet)."""
    try:
        data = state_file.read_bytes()
    except OSError:
        return None
    if not _complete_dump(data):
        return None
    try:
        return int(json.loads(data).get("best_block_number", -1))
    except (TypeError, ValueError):
        return None


def backup_state(state_file: Path) -> bool:
    """Copy ``state_file`` aside (atomically) if it holds a complete dump.

    anvil rewrites its state file in place (``O_TRUNC``, then write): a node killed
    mid-write leaves it cut short, and a node started on that would fail, or start
    a fresh chain. A dump read while anvil writes it does not parse and is skipped.
    """
    try:
        data = state_file.read_bytes()
    except OSError:
        return False
    if not _complete_dump(data):
        return False
    backup = backup_path(state_file)
    temporary = backup.with_name(backup.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, backup)
    return True


def restore_state(state_file: Path) -> bool:
    """Before a start: a state file left cut short is replaced by the last complete copy.

    Returns whether it was restored. Without a complete copy, :class:`NodeError`: a
    fresh chain in place of the log's would be worse than no chain (the operator
    decides; ``/readyz`` says why).
    """
    try:
        data = state_file.read_bytes()
    except FileNotFoundError:
        return False
    if _complete_dump(data):
        return False
    backup = backup_path(state_file)
    try:
        good = backup.read_bytes()
    except FileNotFoundError:
        good = b""
    if not _complete_dump(good):
        raise NodeError(
            f"the chain state {state_file} is incomplete ({len(data)} bytes; anvil was "
            f"killed while writing it) and there is no complete copy at {backup.name}"
        )
    temporary = state_file.with_name(state_file.name + ".tmp")
    temporary.write_bytes(good)
    os.replace(temporary, state_file)
    log.warning(
        "chain state %s was cut short (%d bytes); restored the copy from %s: the newest "
        "blocks are lost and anchors in them are sent again",
        state_file,
        len(data),
        backup.name,
    )
    return True


def keep_first_genesis(state_file: Path) -> None:
    """Work around anvil (1.7.1) adding a genesis block to its state at every start.

    Each start with ``--state`` makes a fresh genesis block, stamped with the start
    time, and the dump keeps it beside the loaded ones; at the next load any of them
    may become block 0. The chain's genesis hash, which the chain binding checks at
    every start, then changes between restarts and the service refuses its own chain.
    The earliest genesis is the chain's (the first start made it; block 1 builds on
    it), and a state holding only that one loads with it as block 0.
    """
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        blocks = state["blocks"]
        genesis = [block for block in blocks if _block_number(block) == 0]
        if len(genesis) < 2:
            return
        first = min(genesis, key=lambda block: int(block["header"]["timestamp"], 16))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("anvil state %s left as it is: %s", state_file, exc)
        return
    state["blocks"] = [b for b in blocks if b is first or _block_number(b) != 0]
    temporary = state_file.with_name(state_file.name + ".tmp")
    temporary.write_text(json.dumps(state), encoding="utf-8")
    os.replace(temporary, state_file)


class StateLock:
    """An exclusive, non-blocking ``flock`` on ``<state file>.lock``, held until released.

    The kernel drops it when the holder dies (even by ``kill -9``), so a stale lock
    file never blocks a later start. The holder's pid is written into it for the
    error message of the process that is refused.
    """

    def __init__(self, state_file: Path) -> None:
        self.path = state_file.with_name(state_file.name + ".lock")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise NodeLockedError(
                f"another process (pid {holder}) already runs the chain node of "
                f"{self.path.parent.resolve()} (lock {self.path.name}); a second node on the "
                "same state would rewind the chain: stop the other service, or give this "
                "one another data folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None


def libc_prctl() -> Callable[[int, int], int] | None:
    """libc's ``prctl`` (Linux), looked up now: call it before forking."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes  # noqa: PLC0415 - only to start a node

        libc = ctypes.CDLL(None, use_errno=True)
        prctl: Callable[[int, int], int] = libc.prctl
    except (OSError, AttributeError):
        return None
    return prctl


def die_with_parent(
    prctl: Callable[[int, int], int] | None, parent: int, signum: int = signal.SIGKILL
) -> Callable[[], None]:
    """A ``preexec_fn``: the child gets ``signum`` when the thread that forked it exits.

    Runs between fork and exec: only async-signal-safe work (``prctl`` was looked up
    before the fork). If the parent died before the ``prctl``, exit at once.
    """

    def preexec() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signum)
            if os.getppid() != parent:
                os._exit(1)

    return preexec


class ManagedAnvil:
    """Start, supervise and stop an anvil process whose state lives in ``state_file``.

    :meth:`start` takes the state file's lock, starts anvil from a supervisor
    thread and returns its URL once it answers; from then on the supervisor
    restarts it (same port, same state) whenever it dies, until :meth:`stop`.
    """

    def __init__(
        self,
        state_file: Path,
        *,
        port: int | None = None,
        block_time: float | None = None,
        log_file: Path | None = None,
    ) -> None:
        self.state_file = state_file
        self.port = port or free_port()
        self.block_time = block_time
        self.log_file = log_file or state_file.with_suffix(".log")
        self.process: subprocess.Popen[bytes] | None = None
        #: called (from the supervisor thread) after each restart
        self.on_restart: list[Callable[[], None]] = []
        self.restarts = 0
        #: when the node last came back after dying (None: never restarted)
        self.restarted_at: datetime | None = None
        self._lock = StateLock(state_file)
        self._down: str | None = "not started"
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        #: set once the first spawn has a process (or failed), and once it answers (or failed)
        self._launched = threading.Event()
        self._answered = threading.Event()
        self._failure: list[NodeError] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def lock_path(self) -> Path:
        return self._lock.path

    def status(self) -> str:
        """``"ok"`` while the node runs, else ``"unavailable: <why>"`` (for ``/readyz``)."""
        down = self._down
        if down is None and (self.process is None or self.process.poll() is not None):
            down = "anvil is not running"  # died since the supervisor last looked
        return "ok" if down is None else f"unavailable: {down}"

    def start(self, timeout: float = 20.0) -> str:
        """Start the node and return its URL once it answers (:meth:`launch`, then
        :meth:`wait_ready`)."""
        self.launch(timeout)
        return self.wait_ready()

    def launch(self, timeout: float = 20.0) -> None:
        """Take the state file's lock and start anvil from the supervisor thread; return
        as soon as its process runs, before it answers (:meth:`wait_ready` waits for
        that). What refuses a start at once (no anvil, the lock held by another process,
        the port taken, a state file cut short without a copy) raises here."""
        if anvil_binary() is None:
            raise NodeError(
                "anvil is not installed (run `make install`, or set EVIDENCE_ANVIL_BIN)"
            )
        self._lock.acquire()
        self._stopping.clear()
        self._launched.clear()
        self._answered.clear()
        self._failure.clear()
        self._thread = threading.Thread(
            target=self._supervise,
            args=(timeout,),
            name=f"anvil-supervisor-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._launched.wait()
        if self._failure:
            self._failed()

    def wait_ready(self) -> str:
        """Wait until the node launched by :meth:`launch` answers; its URL. Raises
        :class:`NodeError` if it exited, did not answer in time, or was stopped first."""
        self._answered.wait()
        if self._failure:
            self._failed()
        log.info("managed anvil on %s (state %s)", self.url, self.state_file)
        return self.url

    def _failed(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._lock.release()
        raise self._failure[0]

    def wait_saved(self, block: int, timeout: float = 30.0) -> None:
        """Wait until the node's state file holds ``block`` (anvil dumps it every second):
        what is recorded as bound to this chain must survive a ``kill -9`` right after.
        ``NodeError`` if it is not saved within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (saved := saved_block(self.state_file)) is None or saved < block:
            if time.monotonic() > deadline:
                raise NodeError(
                    f"the chain node did not save block {block} to {self.state_file} within "
                    f"{timeout:.0f} s (newest saved: {saved})"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop supervising; SIGTERM anvil so it dumps its state (kill if it lingers);
        release the state file's lock."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()  # the supervisor terminates the node as it leaves
            self._thread = None
        self._terminate()  # never started by a supervisor, or it is this thread
        self._down = "stopped"
        self._lock.release()

    def _terminate(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    # --- the supervisor thread -------------------------------------------------------

    def _supervise(self, timeout: float) -> None:
        try:
            self._spawn(timeout)
        except NodeError as exc:
            self._failure.append(exc)
            return
        finally:
            self._launched.set()
            self._answered.set()
        try:
            self._watch(timeout)
        finally:
            # Here, not in stop(): the kernel SIGKILLs the node when this thread ends
            # (PR_SET_PDEATHSIG), before it could dump its state on a SIGTERM.
            self._terminate()

    def _watch(self, timeout: float) -> None:
        attempt = 0
        while not self._stopping.is_set():
            up_since = time.monotonic()
            process = self.process
            assert process is not None
            backed_up = time.monotonic()
            while process.poll() is None:
                if self._stopping.wait(WATCH_INTERVAL):
                    return
                if time.monotonic() - backed_up >= BACKUP_INTERVAL:
                    backup_state(self.state_file)
                    backed_up = time.monotonic()
            died = time.monotonic()
            attempt = next_attempt(attempt, died - up_since) if self.restarts else 0
            self._went_down(exit_reason(process.returncode) + "; restarting")
            if not self._restart(timeout, attempt, died):
                return

    def _restart(self, timeout: float, attempt: int, died: float) -> bool:
        """Restart until it answers or :meth:`stop`; False when stopped first."""
        while not self._stopping.wait(backoff(attempt)):
            try:
                self._spawn(timeout)
            except NodeError as exc:
                self._went_down(f"restart failed ({exc}); retrying")
                attempt += 1
                continue
            self.restarts += 1
            self.restarted_at = datetime.now(UTC)
            log.info(
                "managed anvil back on %s after %.1f s down (restart %d)",
                self.url,
                time.monotonic() - died,
                self.restarts,
            )
            for callback in self.on_restart:
                try:
                    callback()
                except Exception:  # a listener's bug must not stop the supervision
                    log.exception("anvil restart listener failed")
            return True
        return False

    def _went_down(self, why: str) -> None:
        """Record the node as down; one WARNING per change of reason, not per attempt."""
        if why != self._down:
            log.warning("managed anvil on %s is down: %s", self.url, why)
        self._down = why

    def _spawn(self, timeout: float) -> None:
        binary = anvil_binary()
        if binary is None:
            raise NodeError(
                "anvil is not installed (run `make install`, or set EVIDENCE_ANVIL_BIN)"
            )
        self._wait_for_port()
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        if self.state_file.exists():
            restore_state(self.state_file)
            keep_first_genesis(self.state_file)
            backup_state(self.state_file)
        args = [
            str(binary),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(ANVIL_CHAIN_ID),
            "--state",
            str(self.state_file),
            "--state-interval",
            "1",
            "--silent",
        ]
        if self.block_time:
            args += ["--block-time", str(self.block_time)]
        preexec = die_with_parent(libc_prctl(), os.getpid())
        with open(self.log_file, "ab") as out:
            process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                process_group=0,  # a Ctrl-C to the service's group is the service's to handle
                preexec_fn=preexec,  # noqa: PLW1509 - prctl only, looked up before the fork
            )
        self.process = process
        self._launched.set()
        deadline = time.monotonic() + timeout
        while not rpc_ready(self.url):
            if process.poll() is not None:
                raise NodeError(f"{exit_reason(process.returncode)}; see {self.log_file}")
            if time.monotonic() > deadline or self._stopping.is_set():
                self._terminate()
                raise NodeError(f"anvil did not answer within {timeout} s; see {self.log_file}")
            time.sleep(0.05)
        self._down = None

    def _wait_for_port(self) -> None:
        """A predecessor being killed may hold the port a moment; anything else is an error."""
        deadline = time.monotonic() + PORT_RELEASE_WAIT
        while port_in_use(self.port):
            if time.monotonic() > deadline or self._stopping.is_set():
                raise PortInUseError(self.port)
            time.sleep(0.1)
