"""Anchoring in the embedded default, as a user meets it: ``evidence serve`` with nothing
configured but a data folder (and ``EVIDENCE_CHAIN=anvil``, the default, said out loud
because the test suite turns chains off). The service starts its own anvil, keeps the
chain's state in the data folder, seals and anchors in-process.

* a submission ends ``anchored`` and verifies through tier 5 against that chain;
* after a restart the old bundle still verifies (the chain came back from the state
  file) and the log keeps anchoring on the same contract;
* a start against another chain (the state file deleted: a fresh chain comes up) is
  refused in one line that names ``evidence chain rebind``; ``evidence chain rebind --yes``
  binds the new chain and the log is anchored again there.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from anchoring.entries import make_entry, utc_timestamp
from anchoring.node import anvil_binary
from anchoring.queue import QueuedEntry, enqueue
from evidence_api.core.db import make_engine
from evidence_api.core.ids import new_id
from tests.support.api import (
    EVIDENCE_CLI,
    VERIFY_CLI,
    Server,
    auth_header,
    create_token_cli,
    evidence_form,
    free_port,
    serve_subprocess,
    wait_for_bundle,
)
from verifier import cli as verify_cli
from verifier.merkle import leaf_hash

pytestmark = [pytest.mark.chain, pytest.mark.slow]

ANCHORED_WITHIN = 30.0


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    if anvil_binary() is None:
        pytest.skip("anvil is not installed: run `make install`")
    for name in list(os.environ):
        if name.startswith("EVIDENCE_"):  # nothing configured but these
            monkeypatch.delenv(name)
    return {
        "EVIDENCE_DATA_DIR": str(tmp_path / "data"),
        "EVIDENCE_CHAIN": "anvil",
        # the default 8545 is fixed; tests run side by side
        "EVIDENCE_ANVIL_PORT": str(free_port()),
    }


def evidence(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EVIDENCE_CLI), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def managed_anvil_url(server: Server) -> str:
    """The RPC URL of the anvil the service started (its child process)."""
    for child in psutil.Process(server.process.pid).children(recursive=True):
        command = child.cmdline()
        if command and Path(command[0]).name == "anvil":
            return f"http://127.0.0.1:{command[command.index('--port') + 1]}"
    raise AssertionError("the service runs no anvil")


def trusted_chain(env: dict[str, str]) -> tuple[int, str]:
    """(chain id, contract) as the operator reads them: ``evidence chain status``."""
    status = evidence(env, "chain", "status")
    assert status.returncode == 0, status.stderr
    found = re.search(
        r"^chain (\d+) contract (0x[0-9a-fA-F]{40}) log 0x[0-9a-f]{64}$", status.stdout, re.M
    )
    assert found, status.stdout
    return int(found[1]), found[2]


@contextlib.contextmanager
def service(env: dict[str, str], log: Path) -> Any:
    with (
        serve_subprocess(env, log) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as client,
    ):
        yield server, client


def submit(client: httpx.Client, token: str, files: dict[str, bytes]) -> tuple[str, float]:
    started = time.monotonic()
    response = client.post("/v1/evidence", files=evidence_form(files), headers=auth_header(token))
    assert response.status_code == 201, response.text
    return response.json()["evidence_id"], started


def tier5(
    folder: Path,
    bundle: dict[str, Any],
    files: dict[str, bytes],
    vkey: str,
    rpc_url: str,
    chain: tuple[int, str],
) -> dict[str, Any]:
    """``verifier.cli.run`` on the bundle and its files, tier 5 against ``rpc_url``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bundle.json").write_text(json.dumps(bundle), encoding="utf-8")
    args = [str(folder / "bundle.json"), "--log-key", vkey.strip(), "--json"]
    for name, data in files.items():
        (folder / name).write_bytes(data)
        args += ["--file", str(folder / name)]
    args += ["--rpc", rpc_url, "--contract", chain[1], "--chain-id", str(chain[0])]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = verify_cli.run(args)
    report: dict[str, Any] = json.loads(out.getvalue())
    report["exit_code"] = code
    report["statuses"] = [t["status"] for t in report["tiers"]]
    return report


def assert_verified(report: dict[str, Any]) -> None:
    assert report["exit_code"] == 0 and report["statuses"] == ["verified"] * 5, report


def test_embedded_chain_anchors_survives_restart_and_refuses_another_chain(
    tmp_path: Path, env: dict[str, str]
) -> None:
    data = Path(env["EVIDENCE_DATA_DIR"])
    made = create_token_cli(env, "officer", "officer Lin", None, "--init")  # before the first start
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    first_files = {"listing.html": "<html>假冒 手袋 ¥199 (1)</html>".encode()}
    second_files = {"listing.html": "<html>假冒 手袋 ¥199 (2)</html>".encode()}

    # 1. First start: the service starts anvil, deploys EvidenceLog, binds the log to it.
    with service(env, tmp_path / "serve-1.log") as (server, client):
        rpc_url = managed_anvil_url(server)
        first_id, started = submit(client, token, first_files)
        first = wait_for_bundle(
            client,
            first_id,
            auth_header(token),
            status="anchored",
            timeout=ANCHORED_WITHIN,
            started=started,
        )
        vkey = client.get("/v1/log/key").text
    chain = trusted_chain(env)
    assert first["anchor"]["chain_id"] == chain[0] and first["anchor"]["contract"] == chain[1]
    assert (data / "anvil-state.json").is_file()

    # 2. Restart: the same chain comes back from the data folder.
    with service(env, tmp_path / "serve-2.log") as (server, client):
        rpc_url = managed_anvil_url(server)
        assert_verified(tier5(tmp_path / "v-first", first, first_files, vkey, rpc_url, chain))
        second_id, started = submit(client, token, second_files)
        second = wait_for_bundle(
            client,
            second_id,
            auth_header(token),
            status="anchored",
            timeout=ANCHORED_WITHIN,
            started=started,
        )
        assert second["anchor"]["contract"] == chain[1]
        assert second["anchor"]["size"] > first["anchor"]["size"]
        assert_verified(tier5(tmp_path / "v-second", second, second_files, vkey, rpc_url, chain))
        # The first item's bundle now cites the newer anchor; it verifies as well.
        again = client.get(f"/v1/evidence/{first_id}/proof", headers=auth_header(token)).json()
        assert again["anchor"]["size"] == second["anchor"]["size"]
        assert_verified(tier5(tmp_path / "v-first-2", again, first_files, vkey, rpc_url, chain))
        # The real console script agrees.
        folder = tmp_path / "v-first"
        done = subprocess.run(
            [
                str(VERIFY_CLI),
                str(folder / "bundle.json"),
                "--file",
                str(folder / "listing.html"),
                "--log-key",
                vkey.strip(),
                "--rpc",
                rpc_url,
                "--contract",
                chain[1],
                "--chain-id",
                str(chain[0]),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "核验通过 VERIFIED" in done.stdout

    # 3. Another chain: without its state file the service's anvil is a fresh chain.
    (data / "anvil-state.json").unlink()
    refused = evidence(env, "serve")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr
    # the start's log lines, then one error line, last
    lines = [x for x in refused.stderr.splitlines() if x.strip()]
    (line,) = [x for x in lines if x.startswith("error:")]
    assert line == lines[-1]
    assert line.startswith("error: refusing to anchor on a different chain: ")
    assert "genesis hash" in line and "`evidence chain rebind`" in line

    unconfirmed = evidence(env, "chain", "rebind")
    assert unconfirmed.returncode == 2 and "pass --yes" in unconfirmed.stderr
    rebound = evidence(env, "chain", "rebind", "--yes")
    assert rebound.returncode == 0, rebound.stdout + rebound.stderr
    assert re.search(r"^bound to chain \d+ contract 0x[0-9a-fA-F]{40}$", rebound.stdout, re.M)
    assert " rebound " in evidence(env, "chain", "status").stdout
    new_chain = trusted_chain(env)

    # 4. On the new chain the log is anchored again; the old chain's bundle proves nothing here.
    with service(env, tmp_path / "serve-3.log") as (server, client):
        rpc_url = managed_anvil_url(server)
        started = time.monotonic()
        while True:
            bundle = client.get(f"/v1/evidence/{first_id}/proof", headers=auth_header(token)).json()
            if bundle["status"] == "anchored":
                break
            assert time.monotonic() - started < ANCHORED_WITHIN, bundle["status"]
            time.sleep(0.1)
        assert bundle["anchor"]["tx_hash"] != again["anchor"]["tx_hash"]
        assert bundle["anchor"]["size"] == second["anchor"]["size"]
        assert_verified(tier5(tmp_path / "v-new", bundle, first_files, vkey, rpc_url, new_chain))
        stale = tier5(tmp_path / "v-stale", again, first_files, vkey, rpc_url, new_chain)
        assert stale["exit_code"] == 1 and stale["statuses"][4] == "failed", stale


def checkpoint_sizes(db: Path) -> list[int]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [row[0] for row in conn.execute("SELECT size FROM log_checkpoint ORDER BY size")]


def test_a_log_restored_behind_the_chain_is_refused_at_start(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A backup taken before the newest anchor, restored: the start is refused in one line
    naming both sizes, and nothing is sealed on that log meanwhile (an entry acknowledged
    before the backup stays pending: sealing it would sign a second checkpoint of a size
    the chain already holds with other contents, a fork)."""
    data = Path(env["EVIDENCE_DATA_DIR"])
    made = create_token_cli(env, "officer", "officer Lin", None, "--init")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    db, backup = data / "evidence.db", tmp_path / "backup.db"
    with service(env, tmp_path / "serve-1.log") as (_server, client):
        first_id, started = submit(client, token, {"a.html": b"<html>one</html>"})
        first = wait_for_bundle(
            client,
            first_id,
            auth_header(token),
            status="anchored",
            timeout=ANCHORED_WITHIN,
            started=started,
        )
        # The backup: SQLite's online backup of the running service's database.
        with (
            contextlib.closing(sqlite3.connect(db)) as src,
            contextlib.closing(sqlite3.connect(backup)) as dst,
        ):
            src.backup(dst)
        second_id, started = submit(client, token, {"b.html": b"<html>two</html>"})
        second = wait_for_bundle(
            client,
            second_id,
            auth_header(token),
            status="anchored",
            timeout=ANCHORED_WITHIN,
            started=started,
        )
    anchored = second["anchor"]["size"]
    assert anchored > first["anchor"]["size"]

    # The restore, with one more entry acknowledged before the backup and not yet sealed.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(backup, db)
    restored = checkpoint_sizes(db)
    assert max(restored) < anchored
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            enqueue(conn, [pending_stamp()])
    finally:
        engine.dispose()

    refused = evidence(env, "serve")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr
    (line,) = [x for x in refused.stderr.splitlines() if x.startswith("error:")]
    assert line.startswith(f"error: refusing to start: the log holds {max(restored)} entries")
    assert f"newest anchor is at size {anchored} root " in line
    assert "docs/deployment.md" in line
    assert checkpoint_sizes(db) == restored  # nothing signed on the restored log
    with contextlib.closing(sqlite3.connect(db)) as conn:
        unsealed = conn.execute("SELECT count(*) FROM log_entry WHERE leaf_index IS NULL")
        assert unsealed.fetchone()[0] == 1


def pending_stamp() -> QueuedEntry:
    """A stamp entry as intake queues it (acknowledged, not sealed)."""
    entry = make_entry("stamp", new_id("st"), {"sha256": "ab" * 32}, at=utc_timestamp())
    return QueuedEntry(entry, leaf_hash(entry.leaf_data()), datetime.now(UTC), "(unread)")
