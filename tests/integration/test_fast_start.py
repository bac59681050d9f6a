"""``evidence serve`` listens before its chain is bound (the binding runs in the background)
and still ends a start whose chain cannot be bound with one error line and exit 2, as a
start refused before it listened does: here an RPC endpoint nobody listens on."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from anchoring.node import ANVIL_DEV_KEY
from tests.support.api import EVIDENCE_CLI, free_port

pytestmark = [pytest.mark.slow]


def test_a_chain_that_cannot_be_bound_ends_the_start_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("EVIDENCE_"):
            monkeypatch.delenv(name)
    nobody = free_port()  # closed: connections are refused
    done = subprocess.run(
        [str(EVIDENCE_CLI), "serve"],
        env={
            **os.environ,
            "EVIDENCE_DATA_DIR": str(tmp_path / "data"),
            "EVIDENCE_CHAIN": "rpc",
            "EVIDENCE_CHAIN_RPC_URL": f"http://127.0.0.1:{nobody}",
            "EVIDENCE_CHAIN_KEY": ANVIL_DEV_KEY,
            "EVIDENCE_HOST": "127.0.0.1",
            "EVIDENCE_PORT": str(free_port()),
        },
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines, done.stdout[-2000:]
    (error,) = [line for line in lines if line.startswith("error:")]
    assert error == lines[-1]
    assert error.startswith("error: the chain could not be bound: "), error
    # the start's held logs were dropped, the banner never printed: the error is the output
    assert lines == [error], lines
    assert "Trust roots" not in done.stdout
