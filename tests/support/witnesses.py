"""Real ``evidence witness serve`` processes for tests: keys, vkeys, URLs, stop and start.

    with running_witnesses(tmp_path, [log_vkey], count=2) as (court, notary):
        settings = Settings(..., witnesses=[w.endpoint() for w in (court, notary)])
        court.stop(); ...; court.start()   # same port, key and state: a restart

Each witness has its own key (written as its PRIVATE+KEY file), state folder, port and
log file under ``<tmp>/witness-<i>/``.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support import reference
from tests.support.waiting import wait_until
from verifier.checkpoint import Checkpoint
from verifier.cosignature import WitnessKey, WitnessSigner
from verifier.note import SignerKey

EVIDENCE_CLI = Path(sys.executable).parent / "evidence"
#: Example witnesses, as in docker-compose.yml: a court and a notary office.
NAMES = ("court.example.cn/witness", "notary.example.cn/witness", "third.example.cn/witness")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class WitnessProcess:
    """One witness process (not running until :meth:`start`)."""

    signer: WitnessSigner
    folder: Path
    log_keys: Sequence[str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    extra_args: Sequence[str] = ()

    @property
    def name(self) -> str:
        return self.signer.name

    @property
    def key(self) -> WitnessKey:
        return self.signer.key()

    @property
    def vkey(self) -> str:
        return self.key.to_text()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def key_file(self) -> Path:
        return self.folder / "witness.key"

    @property
    def state_dir(self) -> Path:
        return self.folder / "state"

    @property
    def log_path(self) -> Path:
        return self.folder / "witness.log"

    def endpoint(self) -> dict[str, str]:
        """This witness as an ``EVIDENCE_WITNESSES`` item."""
        return {"url": self.url, "vkey": self.vkey}

    def command(self) -> list[str]:
        args = [
            str(EVIDENCE_CLI),
            "witness",
            "serve",
            "--key-file",
            str(self.key_file),
            "--state-dir",
            str(self.state_dir),
            "--port",
            str(self.port),
        ]
        for key in self.log_keys:
            args += ["--log-key", key]
        return [*args, *self.extra_args]

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 90.0) -> None:
        """Start the process and wait until it answers ``/healthz``."""
        if self.running:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.key_file.exists():
            fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(self.signer.to_text() + "\n")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)

        def up() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"witness {self.name} exited:\n{self.tail()}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout, f"witness {self.name} on port {self.port}", poll=0.1)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; the state folder stays."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def info(self) -> dict[str, Any]:
        """``GET /``: name, vkey and per log the checkpoint last cosigned."""
        answer: dict[str, Any] = httpx.get(f"{self.url}/", timeout=10).json()
        return answer

    def recorded(self) -> dict[str, tuple[int, str]]:
        """The state on disk: origin -> (size, root hex), read from its files."""
        out = {}
        for path in sorted(self.state_dir.glob("log-*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            out[data["origin"]] = (int(data["size"]), base64.b64decode(data["root"]).hex())
        return out

    def add_checkpoint(self, body: bytes | str) -> httpx.Response:
        data = body.encode("utf-8") if isinstance(body, str) else body
        return httpx.post(f"{self.url}/add-checkpoint", content=data, timeout=10)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no output)"


@contextmanager
def running_witnesses(
    folder: Path,
    log_keys: Sequence[str],
    *,
    count: int = 2,
    names: Sequence[str] = NAMES,
    start: bool = True,
) -> Iterator[list[WitnessProcess]]:
    """``count`` witnesses trusting ``log_keys`` (vkeys), started unless ``start`` is
    False; every one still running is stopped at the end."""
    witnesses = [
        WitnessProcess(WitnessSigner.generate(names[i]), folder / f"witness-{i}", log_keys)
        for i in range(count)
    ]
    with ExitStack() as stack:
        for witness in witnesses:
            stack.callback(witness.stop)
        if start:
            for witness in witnesses:
                witness.start()
        yield witnesses


# --- a log of our own, to feed witnesses by hand (split views, rollbacks, bad proofs) ------


@dataclass
class FakeLog:
    """A log's signer and leaves: signed checkpoints and consistency proofs of any size,
    computed by the RFC 9162 reference (tests/support/reference.py), not by our log."""

    signer: SignerKey
    leaves: list[bytes] = field(default_factory=list)

    @classmethod
    def new(cls, origin: str = "example.cn/evidence-test-log", leaves: int = 40) -> FakeLog:
        return cls(SignerKey.generate(origin), [f"leaf {i}".encode() for i in range(leaves)])

    @property
    def vkey(self) -> str:
        return self.signer.verifier().to_text()

    def root(self, size: int, leaves: Sequence[bytes] | None = None) -> bytes:
        return reference.mth((self.leaves if leaves is None else leaves)[:size])

    def checkpoint(self, size: int, leaves: Sequence[bytes] | None = None) -> str:
        """The signed checkpoint note of the first ``size`` leaves (of ``leaves``)."""
        return Checkpoint(self.signer.name, size, self.root(size, leaves)).sign(self.signer)

    def proof(self, old: int, new: int) -> list[bytes]:
        return reference.proof(old, self.leaves[:new]) if 0 < old < new else []

    def body(
        self,
        old: int,
        new: int,
        *,
        note: str | None = None,
        proof: Sequence[bytes] | None = None,
    ) -> str:
        """An ``add-checkpoint`` body from ``old`` to the checkpoint of ``new``."""
        hashes = self.proof(old, new) if proof is None else proof
        lines = [f"old {old}\n"] + [base64.b64encode(h).decode() + "\n" for h in hashes]
        return "".join(lines) + "\n" + (self.checkpoint(new) if note is None else note)
