"""A real chain node for tests: anvil from the pinned npm package, on a free loopback port.

The binary is ``contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil`` (installed by
``make install`` / ``npm ci --prefix contracts``); it is started directly, not through npx,
and answers ``eth_chainId`` in well under a second.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.process import stop_process, tail

REPO = Path(__file__).resolve().parents[2]
ANVIL = REPO / "contracts" / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
#: anvil's first well-known development account, funded on every anvil chain (public test key).
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEFAULT_CHAIN_ID = 31337
#: Seconds a test's anvil (ours or a ManagedAnvil of a test stack) may take to answer:
#: generous, as a loaded machine starts several stacks at once (the product's managed node
#: allows 20 s, which a CI run's first minute exceeded).
READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class Anvil:
    url: str
    chain_id: int
    process: subprocess.Popen[bytes]
    #: seconds from spawning anvil to its first answer
    startup_seconds: float


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rpc(url: str, method: str, params: list[object] | None = None, timeout: float = 2.0) -> object:
    """One JSON-RPC call with the standard library (no web3 needed to probe a node)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


@contextmanager
def anvil(
    *,
    block_time: float | None = None,
    state: Path | None = None,
    chain_id: int | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = READY_TIMEOUT,
) -> Iterator[Anvil]:
    """Start anvil on a free 127.0.0.1 port, wait until ``eth_chainId`` answers, stop it after.

    ``block_time``: seconds per block (default: a block per transaction, mined at once).
    ``state``: a file anvil loads at start (if present) and dumps at exit.
    ``extra_args``: more anvil flags, e.g. ``["--steps-tracing"]`` for opcode-level traces.
    """
    if not ANVIL.is_file():
        raise FileNotFoundError(f"anvil not found at {ANVIL}: run `npm ci --prefix contracts`")
    port = free_port()
    command = [str(ANVIL), "--port", str(port), "--host", "127.0.0.1", "--silent"]
    if block_time is not None:
        command += ["--block-time", str(block_time)]
    if state is not None:
        command += ["--state", str(state)]
    if chain_id is not None:
        command += ["--chain-id", str(chain_id)]
    command += list(extra_args)
    url = f"http://127.0.0.1:{port}"
    logdir = Path(tempfile.mkdtemp(prefix="evidence-anvil-"))
    try:
        with open(logdir / "anvil.out", "wb") as output:
            started = time.monotonic()
            process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            answered = _wait_ready(url, process, started, timeout, logdir / "anvil.out")
            yield Anvil(url, answered, process, time.monotonic() - started)
        finally:
            stop_process(process)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


def _wait_ready(
    url: str, process: subprocess.Popen[bytes], started: float, timeout: float, log: Path
) -> int:
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"anvil exited with {process.returncode}:\n{tail(log)}")
        try:
            return int(str(rpc(url, "eth_chainId", timeout=1.0)), 16)
        except (OSError, urllib.error.URLError, ValueError, RuntimeError) as exc:
            if time.monotonic() - started > timeout:
                raise RuntimeError(
                    f"anvil at {url} not ready after {timeout} s ({exc}):\n{tail(log)}"
                ) from exc
        time.sleep(0.02)
