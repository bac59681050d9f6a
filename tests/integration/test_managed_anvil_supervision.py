"""The managed chain node under faults, with a real ``evidence serve`` and a real anvil
(``EVIDENCE_CHAIN=anvil``, the embedded default):

* ``kill -9`` of the managed anvil while items keep arriving: ``/readyz`` turns
  not-ready with the chain named while the node is down, the service restarts the
  node by itself on the same port and state, anchoring resumes within 10 s, and
  every acknowledged item ends anchored exactly once (database, contract and proof
  bundles agree); the outage is a handful of log lines, not a traceback per tick;
* ``kill -9`` of the service: its anvil dies with it (no orphan), and the next start
  on the same data folder gets the lock, the port and the same chain back;
* a second service on the same data folder is refused in one line (the state file's
  lock), never starting a second anvil that would rewind the chain;
* a port taken by another program is refused in one line naming the setting.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import Engine, select
from web3 import Web3

from anchoring.contract import load_artifact
from anchoring.node import ManagedAnvil, NodeLockedError, anvil_binary, rpc_ready
from anchoring.schema import anchor_tx, chain_binding, log_entry
from evidence_api.core.db import make_engine
from tests.support.api import (
    EVIDENCE_CLI,
    Server,
    auth_header,
    create_token_cli,
    evidence_form,
    free_port,
    metadata,
    serve_subprocess,
)
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.chain, pytest.mark.slow]

#: The acceptance bound: anchoring resumes this soon after the node is killed.
RESUMES_WITHIN = 10.0


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    if anvil_binary() is None:
        pytest.skip("anvil is not installed: run `make install`")
    for name in list(os.environ):
        if name.startswith("EVIDENCE_"):  # the embedded default, as a user meets it
            monkeypatch.delenv(name)
    return {
        "EVIDENCE_DATA_DIR": str(tmp_path / "data"),
        "EVIDENCE_CHAIN": "anvil",
        "EVIDENCE_ANVIL_PORT": str(free_port()),
        "EVIDENCE_SEAL_INTERVAL": "0.2",
        "EVIDENCE_ANCHOR_INTERVAL": "0.5",
    }


def anvil_of(server: Server) -> psutil.Process:
    """The anvil the service runs (its child)."""
    for child in psutil.Process(server.process.pid).children(recursive=True):
        with_name = child.cmdline()
        if with_name and Path(with_name[0]).name == "anvil" and child.is_running():
            return child
    raise AssertionError("the service runs no anvil")


def gone(process: psutil.Process) -> bool:
    try:
        return bool(process.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def engine_of(env: dict[str, str]) -> Engine:
    return make_engine(f"sqlite:///{Path(env['EVIDENCE_DATA_DIR']) / 'evidence.db'}")


def anchor_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(anchor_tx).order_by(anchor_tx.c.id)).all())


def confirmed_size(engine: Engine) -> int:
    return max((r.size for r in anchor_rows(engine) if r.state == "confirmed"), default=0)


class Stream:
    """One client thread posting evidence until stopped."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url, self.token = base_url, token
        self.accepted: list[str] = []
        self.refused: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=60) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                files = {f"capture-{n}.html": f"<html>{n} {uuid.uuid4()}</html>".encode()}
                response = client.post(
                    "/v1/evidence",
                    files=evidence_form(files, metadata(case_ref=f"node-{n}")),
                    headers=auth_header(self.token),
                )
                with self._lock:
                    if response.status_code == 201:
                        self.accepted.append(response.json()["evidence_id"])
                    else:
                        self.refused.append(f"{response.status_code} {response.text[:200]}")
                self._stop.wait(0.03)

    def count(self) -> int:
        with self._lock:
            return len(self.accepted)

    @contextmanager
    def running(self) -> Iterator[Stream]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(60)


def anchored_sizes(engine: Engine, rpc_url: str) -> list[tuple[int, int]]:
    """(size, prev_size) of the contract's ``Anchored`` events for this log, in chain order."""
    with engine.connect() as conn:
        binding = conn.execute(select(chain_binding)).one()
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    contract = w3.eth.contract(address=binding.contract_address, abi=load_artifact().abi)
    events = contract.events.Anchored.get_logs(
        from_block=0, argument_filters={"logId": bytes.fromhex(binding.log_id[2:])}
    )
    ordered = sorted(events, key=lambda e: (e["blockNumber"], e["logIndex"]))
    return [(int(e["args"]["size"]), int(e["args"]["prevSize"])) for e in ordered]


def test_kill_9_of_the_managed_anvil_mid_stream_every_item_anchored_once(
    tmp_path: Path, env: dict[str, str]
) -> None:
    log_path = tmp_path / "serve.log"
    engine = engine_of(env)
    try:
        with (
            serve_subprocess(env, log_path) as server,
            httpx.Client(base_url=server.base_url, timeout=30) as client,
        ):
            made = create_token_cli(env, "officer", "officer Wu")  # on the service's folder
            assert made.returncode == 0, made.stderr
            token = made.stdout.strip()
            ready = client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["checks"]["chain"] == "ok"
            node = anvil_of(server)
            port = node.cmdline()[node.cmdline().index("--port") + 1]
            assert port == env["EVIDENCE_ANVIL_PORT"]
            with Stream(server.base_url, token).running() as stream:
                wait_until(lambda: confirmed_size(engine) >= 3, 60, "a first anchor")
                logged_before = log_path.stat().st_size

                node.send_signal(signal.SIGKILL)
                killed_at = time.monotonic()
                at_kill = stream.count()
                anchored_at_kill = confirmed_size(engine)
                wait_until(lambda: gone(node), 10, "anvil to die")

                # Not ready while the node is down, and the check says why.
                seen: list[dict[str, Any]] = []

                def not_ready() -> bool:
                    reply = client.get("/readyz")
                    seen.append(reply.json())
                    return reply.status_code == 503

                wait_until(not_ready, 10, "/readyz to report the chain down", poll=0.02)
                down = seen[-1]
                assert down["status"] == "unavailable", down
                assert down["checks"]["chain"].startswith("unavailable: "), down
                assert down["checks"]["database"] == "ok", down

                # Back by itself: ready again, a new anvil on the same port.
                wait_until(
                    lambda: client.get("/readyz").status_code == 200, 20, "/readyz ready again"
                )
                again = anvil_of(server)
                assert again.pid != node.pid
                assert again.cmdline()[again.cmdline().index("--port") + 1] == port

                # Anchoring resumes within 10 s of the kill, past what was accepted then.
                wait_until(
                    lambda: confirmed_size(engine) >= max(at_kill, anchored_at_kill + 1),
                    killed_at + RESUMES_WITHIN - time.monotonic(),
                    f"anchoring past {at_kill} items within {RESUMES_WITHIN} s of the kill",
                )
                resumed_after = time.monotonic() - killed_at
                wait_until(lambda: stream.count() >= at_kill + 5, 30, "more items after it")
            items = stream.accepted
            assert not stream.refused, stream.refused[:5]

            # Every acknowledged item anchored, exactly once.
            def settled() -> bool:
                rows = anchor_rows(engine)
                return confirmed_size(engine) == len(items) and not [
                    r for r in rows if r.state in ("submitted", "included")
                ]

            wait_until(settled, 60, f"all {len(items)} items anchored", poll=0.2)
            for evidence_id in items:
                bundle = client.get(
                    f"/v1/evidence/{evidence_id}/proof", headers=auth_header(token)
                ).json()
                assert bundle["status"] == "anchored", bundle
                assert bundle["inclusion"]["index"] < bundle["anchor"]["size"]
            with engine.connect() as conn:
                leaves = sorted(r.leaf_index for r in conn.execute(select(log_entry)).all())
            assert leaves == list(range(len(items)))
            events = anchored_sizes(engine, f"http://127.0.0.1:{port}")
            sizes = [size for size, _ in events]
            assert sizes == sorted(set(sizes)), f"a checkpoint anchored twice: {sizes}"
            assert [prev for _, prev in events] == [0, *sizes[:-1]]
            assert sizes[-1] == len(items)
            confirmed = sorted(r.size for r in anchor_rows(engine) if r.state == "confirmed")
            assert confirmed == sizes, "the database's confirmed anchors are the chain's"
    finally:
        engine.dispose()

    # The outage in the log: one line when the node went down, one when it came back,
    # at most a few from the anchorer; no traceback per tick.
    outage = log_path.read_bytes()[logged_before:].decode(errors="replace")  # a byte offset
    assert outage.count("is down: anvil killed by SIGKILL") == 1, outage[-3000:]
    assert outage.count("managed anvil back on") == 1, outage[-3000:]
    assert outage.count("anchorer failing") <= 2, outage[-3000:]
    assert "Traceback" not in outage, outage[-3000:]
    print(f"anchoring resumed {resumed_after:.1f} s after kill -9 of anvil")


def test_kill_9_of_the_service_leaves_no_orphan_anvil_and_it_starts_again(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with serve_subprocess(env, tmp_path / "serve-1.log") as server:
        node = anvil_of(server)
        server.process.send_signal(signal.SIGKILL)
        assert server.process.wait(10) == -signal.SIGKILL
        wait_until(lambda: gone(node), 5, "the orphaned anvil to die with its parent")
    # The lock died with the service and the port is free: the next start takes both
    # and finds its chain (the binding check passes).
    with (
        serve_subprocess(env, tmp_path / "serve-2.log") as server,
        httpx.Client(base_url=server.base_url, timeout=30) as client,
    ):
        assert client.get("/readyz").json()["checks"]["chain"] == "ok"


def test_a_second_service_on_the_same_data_folder_is_refused(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with serve_subprocess(env, tmp_path / "serve-1.log") as server:
        node = anvil_of(server)
        second = subprocess.run(
            [str(EVIDENCE_CLI), "serve"],
            env={**os.environ, **env, "EVIDENCE_PORT": str(free_port())},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert second.returncode == 2, second.stderr[-2000:]
        assert "already runs the chain node" in second.stderr, second.stderr[-2000:]
        assert "Traceback" not in second.stderr
        # The first one's node is untouched: the same process, still answering.
        assert anvil_of(server).pid == node.pid
        assert httpx.get(f"{server.base_url}/readyz", timeout=30).status_code == 200


def test_a_taken_anvil_port_is_refused_naming_the_setting(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        done = subprocess.run(
            [str(EVIDENCE_CLI), "serve"],
            env={
                **os.environ,
                **env,
                "EVIDENCE_ANVIL_PORT": str(taken),
                "EVIDENCE_PORT": str(free_port()),
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"127.0.0.1:{taken} is already in use" in done.stderr
    assert "EVIDENCE_ANVIL_PORT" in done.stderr and "Traceback" not in done.stderr


def test_the_banner_and_chain_status_state_the_trust_roots(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Item 9: what tier 5 needs is printed where a newcomer looks, and it is right."""
    log_path = tmp_path / "serve.log"
    with serve_subprocess(env, log_path) as server:
        vkey = httpx.get(f"{server.base_url}/v1/log/key", timeout=30).text.strip()
        status = subprocess.run(
            [str(EVIDENCE_CLI), "chain", "status"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    engine = engine_of(env)
    try:
        with engine.connect() as conn:
            binding = conn.execute(select(chain_binding)).one()
    finally:
        engine.dispose()
    key_id = vkey.split("+")[1]
    rpc_url = f"http://127.0.0.1:{env['EVIDENCE_ANVIL_PORT']}"
    expected = [
        f"log key   {vkey} (key id {key_id})",
        f"RPC URL   {rpc_url}",
        f"chain id  {binding.chain_id}",
        f"contract  {binding.contract_address}",
        f"log id    {binding.log_id}",
    ]
    banner = log_path.read_text(errors="replace")
    for line in expected:
        assert f"  {line}\n" in banner, (line, banner[-3000:])
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines()[0] == (
        f"chain {binding.chain_id} contract {binding.contract_address} log {binding.log_id}"
    )
    for line in expected:
        assert f"  {line}\n" in status.stdout, (line, status.stdout)


# --- the supervisor itself, on a real anvil ------------------------------------------------


def test_a_killed_node_comes_back_on_its_port_and_a_stop_lets_it_dump_its_state(
    tmp_path: Path, env: dict[str, str]
) -> None:
    state = tmp_path / "anvil-state.json"
    node = ManagedAnvil(state, port=free_port())
    url = node.start()
    try:
        assert node.status() == "ok" and node.restarted_at is None
        with pytest.raises(NodeLockedError):  # one node per state file
            ManagedAnvil(state, port=free_port()).start()
        first = node.process
        assert first is not None
        first.send_signal(signal.SIGKILL)
        wait_until(lambda: node.status() != "ok", 10, "the node reported down")
        assert node.status().startswith("unavailable: "), node.status()
        wait_until(lambda: node.restarts == 1 and node.status() == "ok", 20, "a restart")
        assert node.process is not first and node.url == url
        assert node.restarted_at is not None
        assert rpc_ready(url)
    finally:
        node.stop()
    # Stopped by SIGTERM from the supervisor, not SIGKILLed by the kernel as the
    # supervisor thread ended: anvil exits cleanly and its state is a complete dump.
    assert node.process is not None and node.process.returncode == 0
    assert json.loads(state.read_text())["blocks"]
    assert node.status() == "unavailable: stopped"
    again = ManagedAnvil(state, port=free_port())
    again.start()  # the lock was released
    again.stop()
