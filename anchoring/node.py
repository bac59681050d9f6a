"""The embedded chain: a managed anvil subprocess with its state in the data folder.

anvil comes from the pinned npm package ``@foundry-rs/anvil-linux-amd64``
(installed under ``contracts/node_modules`` by ``make``). Its state is dumped
to ``<data_dir>/anvil-state.json`` every second and at exit, and reloaded at
the next start, so anchors survive restarts.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
ANVIL_PACKAGE_BIN = REPO / "contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
#: anvil's first well-known development account (funded on every anvil chain).
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_CHAIN_ID = 31337


class NodeError(Exception):
    """The managed chain node could not be started."""


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


def rpc_ready(url: str, timeout: float = 1.0) -> bool:
    try:
        r = httpx.post(
            url,
            json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
            timeout=timeout,
        )
        return r.status_code == 200 and "result" in r.json()
    except (httpx.HTTPError, ValueError):
        return False


def _block_number(block: dict[str, dict[str, str]]) -> int:
    return int(block["header"]["number"], 16)


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


class ManagedAnvil:
    """Start, watch and stop an anvil process whose state lives in ``state_file``."""

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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> str:
        binary = anvil_binary()
        if binary is None:
            raise NodeError(
                "anvil is not installed (run `make install`, or set EVIDENCE_ANVIL_BIN)"
            )
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        if self.state_file.exists():
            keep_first_genesis(self.state_file)
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
        with open(self.log_file, "ab") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
        deadline = time.monotonic() + timeout
        while not rpc_ready(self.url):
            if self.process.poll() is not None:
                raise NodeError(f"anvil exited with {self.process.returncode}; see {self.log_file}")
            if time.monotonic() > deadline:
                self.stop()
                raise NodeError(f"anvil did not answer within {timeout} s")
            time.sleep(0.05)
        log.info("managed anvil on %s (state %s)", self.url, self.state_file)
        return self.url

    def stop(self) -> None:
        """SIGTERM, so anvil dumps its state; kill if it does not exit."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
