"""``EVIDENCE_WORKERS``: ``evidence serve`` runs worker processes on its own socket; they
serve the API while the first process does not answer, they die with it (even when it
is killed with SIGKILL), and more than one process is refused with a chain that lives
inside one process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from evidence_api.core.config import Settings
from tests.support.api import auth_header, evidence_form, provision_tokens, serve_subprocess
from tests.support.waiting import wait_until

EVIDENCE = Path(sys.executable).parent / "evidence"


def test_a_worker_serves_while_the_first_process_is_stopped_and_dies_with_it(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    token = provision_tokens(Settings(data_dir=data))["officer"]
    env = {"EVIDENCE_DATA_DIR": str(data), "EVIDENCE_WORKERS": "2", "EVIDENCE_CHAIN": "none"}
    with serve_subprocess(env, tmp_path / "serve.log") as server:
        parent = psutil.Process(server.process.pid)
        wait_until(lambda: len(parent.children()) == 1, 120, "the worker process")
        (worker,) = parent.children()
        assert "serve-worker" in worker.cmdline()

        def worker_answers() -> bool:
            try:
                return httpx.get(f"{server.base_url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(worker_answers, 120, "the worker's first answer")
        parent.send_signal(signal.SIGSTOP)  # from now on only the worker can answer
        try:
            wait_until(worker_answers, 120, "an answer from the worker alone")
            response = httpx.post(
                f"{server.base_url}/v1/evidence",
                files=evidence_form({"page.html": b"<p>worker</p>"}),
                headers=auth_header(token),
                timeout=60,
            )
            assert response.status_code == 201, response.text
        finally:
            parent.send_signal(signal.SIGCONT)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(60)
        worker.wait(60)  # PR_SET_PDEATHSIG: SIGTERM when the first process is gone
        assert not worker.is_running()


def test_more_than_one_process_is_refused_with_the_managed_anvil(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "EVIDENCE_DATA_DIR": str(tmp_path / "data"),
        "EVIDENCE_WORKERS": "2",
        "EVIDENCE_CHAIN": "anvil",
    }
    done = subprocess.run(
        [str(EVIDENCE), "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: EVIDENCE_WORKERS=2 needs EVIDENCE_CHAIN=rpc or none: "
        "the anvil chain runs inside one process"
    ]


def test_default_worker_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVIDENCE_WORKERS", raising=False)  # tests/conftest.py pins 1
    cores = min(os.cpu_count() or 1, 4)
    assert Settings(chain="none").resolved_workers == cores  # SQLite too
    assert Settings(chain="anvil").resolved_workers == 1
    postgres = "postgresql+psycopg://u@h/db"
    assert Settings(database_url=postgres, chain="anvil").resolved_workers == 1
    assert Settings(database_url=postgres, chain="rpc").resolved_workers == min(
        os.cpu_count() or 1, 4
    )
    assert Settings(database_url=postgres, chain="none", workers=3).resolved_workers == 3
