"""The real service stack for API tests: app + runtime on a real database and store."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery import Celery
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute
from web3 import Web3

from anchoring.node import ANVIL_DEV_KEY, ManagedAnvil
from anchoring.schema import anchor_tx, chain_binding
from evidence_api.app import create_app
from evidence_api.core.auth import create_token
from evidence_api.core.config import Settings
from evidence_api.core.db import make_engine, upgrade
from evidence_api.core.routing import declared_routes
from evidence_api.core.storage.local import LocalObjectStore
from evidence_api.registry.models import Platform
from evidence_api.runtime import Runtime, build_runtime
from tests.support.anvil import READY_TIMEOUT
from tests.support.migrated import postgres_template, seed_sqlite, seed_sqlite_env
from tests.support.postgres import throwaway_database
from tests.support.redis import redis_server
from tests.support.seaweed import SeaweedS3
from tests.support.waiting import wait_until

ROLES = ("admin", "officer", "appraiser", "platform")


def metadata(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "source_url": "https://shop.example.com/item/42",
        "platform": "example-mall",
        "entity": "示例旗舰店",
        "captured_at": "2026-11-26T10:00:00+08:00",
        "case_ref": "泉市监案〔2026〕1号",
        "capture_tool": "chromium 156 headless",
        "capture_environment": {"os": "debian-12"},
    }
    base.update(overrides)
    return base


def evidence_form(
    files: dict[str, bytes], meta: dict[str, Any] | None = None
) -> list[tuple[str, tuple[str | None, bytes | str, str]]]:
    parts: list[tuple[str, tuple[str | None, bytes | str, str]]] = [
        ("metadata", (None, json.dumps(meta or metadata()), "application/json"))
    ]
    parts += [("files", (name, data, "application/octet-stream")) for name, data in files.items()]
    return parts


@dataclass
class Stack:
    """A running app (in-process ASGI client) with one token per role."""

    settings: Settings
    runtime: Runtime
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def client_at(stack: Stack, address: str) -> TestClient:
    """A client of the same app calling from ``address`` (the rate limit's client)."""
    return TestClient(stack.client.app, client=(address, 50000))


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    """The JSON object of a ``status`` answer (200 unless told)."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def problem(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    """The problem+json of a ``status`` refusal, whose detail says each of ``words``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    for word in words:
        assert word in body["detail"], body
    return body


@cache
def published_document() -> dict[str, Any]:
    """The app's OpenAPI document, built once per test process (building it costs a second
    or two of CPU, and test modules parametrize on it at collection, in every xdist
    worker). Read it, never change it. Building the app connects to nothing."""
    document: dict[str, Any] = create_app(Settings()).openapi()
    return document


def ensure_example_platform(session: Session) -> None:
    """Register ``example-mall`` (the test platform token's binding) if it is not yet."""
    if session.execute(select(Platform.id).where(Platform.code == "example-mall")).first():
        return
    now = datetime.now(UTC)
    session.add(Platform(code="example-mall", name="示例商城", created_at=now, updated_at=now))


def example_platform_id(session: Session) -> int:
    """The id of ``example-mall``, registered first if it is not yet."""
    ensure_example_platform(session)
    session.flush()
    return int(
        session.execute(select(Platform.id).where(Platform.code == "example-mall")).scalar_one()
    )


def make_tokens(runtime: Runtime) -> dict[str, str]:
    tokens = {}
    with runtime.session() as session:
        ensure_example_platform(session)
        for role in ROLES:
            _, tokens[role] = create_token(
                session,
                role=role,
                name=f"test {role}",
                platform="example-mall" if role == "platform" else None,
            )
    return tokens


#: The routers' built routes, by router, shared by every app this process makes for a test
#: (:func:`shared_routes`); each value keeps its router alive, so an id is never reused.
_BUILT_ROUTES: dict[int, tuple[object, BaseRoute]] = {}


def shared_routes(app: FastAPI) -> FastAPI:
    """``app`` with the routes of its included routers replaced by those of the first app
    this process made: FastAPI builds an included router's routes (their parameter and
    body validators) on an app's first request through it, about 0.3 s of CPU for the
    routers a test touches, which every test's new app paid again (40% of the console
    tests' CPU). The routers are module-level and included the same way in every app, and
    an endpoint finds its runtime through ``request.app``, so a shared route serves each
    app's own state. No test overrides dependencies (the one thing a built route takes
    from the app it was built for)."""
    routes = app.router.routes
    for position, route in enumerate(routes):
        original = getattr(route, "original_router", None)
        if original is None:
            continue
        kept = _BUILT_ROUTES.setdefault(id(original), (original, route))
        if kept[0] is original:
            routes[position] = kept[1]
    return app


@contextmanager
def running_stack(settings: Settings, tokens: dict[str, str] | None = None) -> Iterator[Stack]:
    seed_sqlite(settings)
    runtime = build_runtime(settings)
    try:
        tokens = tokens or make_tokens(runtime)
        with TestClient(shared_routes(create_app(runtime=runtime))) as client:
            yield Stack(settings, runtime, client, tokens)
    finally:
        runtime.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """``evidence serve`` in a real subprocess (uvicorn), for tests that need a socket."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def started(base_url: str) -> bool:
    """Whether the service's start is over: its chain bound (``evidence serve`` listens
    first; ``/readyz``'s chain check says "starting" until then) or refused."""
    checks = httpx.get(f"{base_url}/readyz", timeout=30).json().get("checks", {})
    return not str(checks.get("chain", "")).startswith("starting")


@contextmanager
def serve_subprocess(env: dict[str, str], log_path: Path) -> Iterator[Server]:
    # A free port can be taken by another test process before the server binds it: then
    # the server exits saying so, and is started again on another port (three tries).
    for attempt in range(3):
        server = _start_serve(env, log_path)
        try:
            ready = _wait_started(server, log_path)
        except BaseException:
            server.stop()
            raise
        if ready:
            break
        server.stop()
        if attempt == 2:
            raise RuntimeError(f"evidence serve exited: {log_path.read_text()[-2000:]}")
    try:
        yield server
    finally:
        server.stop()


def _start_serve(env: dict[str, str], log_path: Path) -> Server:
    port = free_port()
    full_env = {**os.environ, **env, "EVIDENCE_HOST": "127.0.0.1", "EVIDENCE_PORT": str(port)}
    seed_sqlite_env(full_env)
    evidence = Path(sys.executable).parent / "evidence"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [str(evidence), "serve"], env=full_env, stdout=log, stderr=subprocess.STDOUT
        )
    return Server(f"http://127.0.0.1:{port}", process, log_path)


def _wait_started(server: Server, log_path: Path) -> bool:
    """True once the server answers; False if it exited because its port was taken."""
    # Generous: a cold start (imports, every migration, anvil) on a loaded machine
    # has taken over 20 s.
    deadline = time.monotonic() + 120
    while True:
        if server.process.poll() is not None:
            if "address already in use" in log_path.read_text()[-2000:]:
                return False
            raise RuntimeError(f"evidence serve exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200 and (
                started(server.base_url)
            ):
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"evidence serve did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.1)


# --- helpers for the API integration and e2e tests ----------------------------------
#
# Everything below builds on the real services: settings for each backend
# combination, a fresh PostgreSQL database per test, the offline verifier as a
# real subprocess, hand-built multipart bodies (for bytes httpx would escape),
# and a TCP proxy that can make a real server unreachable on demand.

BIN = Path(sys.executable).parent
EVIDENCE_CLI = BIN / "evidence"
VERIFY_CLI = BIN / "evidence-verify"

#: The backend combinations the core API tests run on: database + object store.
BACKENDS = ("sqlite-local", "sqlite-s3", "postgres-s3")


def s3_env(s3: SeaweedS3) -> dict[str, str]:
    """The ``EVIDENCE_S3_*`` settings for a fresh bucket (Object Lock, retention one day)
    on the SeaweedFS server ``s3``."""
    return {
        "EVIDENCE_STORAGE": "s3",
        "EVIDENCE_S3_ENDPOINT": s3.endpoint,
        "EVIDENCE_S3_ACCESS_KEY": s3.access_key,
        "EVIDENCE_S3_SECRET_KEY": s3.secret_key,
        "EVIDENCE_S3_BUCKET": random_bucket(),
        "EVIDENCE_RETENTION_DAYS": "1",
    }


def random_bucket() -> str:
    """A bucket name nobody used before (buckets with locked objects cannot be emptied)."""
    return f"evidence-api-{uuid.uuid4().hex[:16]}"


def s3_settings(endpoint: str, access_key: str, secret_key: str) -> dict[str, Any]:
    """Settings fields for the S3 store on ``endpoint``, a fresh bucket, retention one day."""
    return {
        "storage": "s3",
        "s3_endpoint": endpoint,
        "s3_access_key": access_key,
        "s3_secret_key": secret_key,
        "s3_bucket": random_bucket(),
        "retention_days": 1,
    }


@contextmanager
def fresh_postgres_database(server_url: str, *, migrated: bool = True) -> Iterator[str]:
    """A database of its own on the PostgreSQL server of ``server_url``; dropped afterwards.

    A fresh database (rather than truncating a shared one) keeps every test's
    log starting at size 0, whatever ran before it. ``migrated``: a copy of the
    process's template at head (:func:`tests.support.migrated.postgres_template`), which
    the service's start then leaves alone; else empty.
    """
    template = postgres_template(server_url) if migrated else None
    with throwaway_database(server_url, "evidence_api", template=template) as url:
        yield url


def auth_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def submit(
    stack: Stack,
    files: dict[str, bytes],
    meta: dict[str, Any] | None = None,
    *,
    role: str = "officer",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """``POST /v1/evidence`` with ``files`` (name -> bytes) and ``meta`` (default metadata)."""
    return stack.client.post(
        "/v1/evidence",
        files=evidence_form(files, meta),
        headers={**stack.auth(role), **(headers or {})},
    )


def wait_for_bundle(
    client: httpx.Client | TestClient,
    evidence_id: str,
    headers: dict[str, str],
    *,
    status: str = "sealed",
    timeout: float = 60.0,
    started: float | None = None,
) -> dict[str, Any]:
    """Poll the proof bundle until it reaches ``status`` or a later one (pending, sealed,
    anchored); fail after ``timeout`` seconds counted from ``started`` (a
    ``time.monotonic()`` value; default now). The default only bounds a wait on a loaded
    machine; a test of a promised delay (sealed within 2 s of the 201) passes its own."""
    order = ("pending", "sealed", "anchored")
    deadline = (started if started is not None else time.monotonic()) + timeout
    while True:
        response = client.get(f"/v1/evidence/{evidence_id}/proof", headers=headers)
        assert response.status_code == 200, response.text
        bundle: dict[str, Any] = response.json()
        if order.index(bundle["status"]) >= order.index(status):
            return bundle
        if time.monotonic() > deadline:
            raise AssertionError(
                f"bundle of {evidence_id} still {bundle['status']!r} after {timeout} s"
            )
        time.sleep(0.05)


def run_verifier(
    bundle: dict[str, Any] | str,
    files: dict[str, bytes],
    vkey: str,
    workdir: Path,
    *,
    through: int = 4,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``evidence-verify`` console script on a bundle and its files (``--json``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    bundle_path = workdir / "bundle.json"
    bundle_path.write_text(bundle if isinstance(bundle, str) else json.dumps(bundle), "utf-8")
    (workdir / "files").mkdir(exist_ok=True)
    args = [str(VERIFY_CLI), str(bundle_path), "--log-key", vkey.strip(), "--json"]
    for name, data in files.items():
        path = workdir / "files" / name
        path.write_bytes(data)
        args += ["--file", str(path)]
    args += ["--through", str(through)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def assert_verifies(
    bundle: dict[str, Any] | str, files: dict[str, bytes], vkey: str, workdir: Path
) -> dict[str, Any]:
    """``evidence-verify --through 4`` exits 0 with tiers 1-4 verified; returns its report."""
    result = run_verifier(bundle, files, vkey, workdir)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["outcome"] == "verified", report
    statuses = {t["tier"]: t["status"] for t in report["tiers"]}
    assert statuses == {1: "verified", 2: "verified", 3: "verified", 4: "verified", 5: "skipped"}
    return report


def assert_change_entries_verify(
    client: httpx.Client | TestClient,
    proofs_url: str,
    headers: dict[str, str],
    *,
    kind: str,
    id_field: str,
    object_id: str,
    changes: int,
    workdir: Path,
    timeout: float,
) -> list[dict[str, Any]]:
    """Every change of a tracked object (a takedown order, an alert) is a ``kind`` entry
    naming it (``id_field``) and the status it went to, sealed within ``timeout`` s, whose
    bundle the real ``evidence-verify`` accepts (tiers 3 and 4 verified). ``proofs_url``
    lists them (``GET .../proofs``); there must be ``changes`` of them. Returns them."""
    vkey = client.get("/v1/log/key").text

    def sealed() -> bool:
        got = client.get(proofs_url, headers=headers)
        return all(e["bundle"]["status"] != "pending" for e in got.json()["entries"])

    wait_until(sealed, timeout, f"the entries of {object_id} to be sealed")
    proofs = client.get(proofs_url, headers=headers).json()
    assert len(proofs["entries"]) == changes
    for i, entry in enumerate(proofs["entries"]):
        bundle = entry["bundle"]
        assert bundle["entry"]["kind"] == kind
        assert bundle["entry"]["body"][id_field] == object_id
        assert bundle["entry"]["body"]["to"] == entry["to_status"]
        done = run_verifier(bundle, {}, vkey, workdir / f"{object_id}-{i}")
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert report["outcome"] == "verified", report
        statuses = {t["tier"]: t["status"] for t in report["tiers"]}
        assert statuses[3] == statuses[4] == "verified", statuses
    return list(proofs["entries"])


def table_counts(engine: Engine, *tables: str) -> dict[str, int]:
    """Row counts of ``tables`` (names from the migration history), read directly."""
    with engine.connect() as conn:
        return {
            name: int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())
            for name in tables
        }


def multipart_body(
    parts: list[tuple[bytes, bytes]], boundary: bytes = b"evidence-test-boundary"
) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body from raw (Content-Disposition value, content) pairs.

    Built by hand so that a test can put any byte (a NUL, a bare backslash) in
    a header, which httpx would percent-escape. Returns the body and its
    Content-Type.
    """
    out = bytearray()
    for disposition, content in parts:
        out += b"--" + boundary + b"\r\n"
        out += b"Content-Disposition: " + disposition + b"\r\n"
        out += b"Content-Type: application/octet-stream\r\n\r\n"
        out += content + b"\r\n"
    out += b"--" + boundary + b"--\r\n"
    return bytes(out), f"multipart/form-data; boundary={boundary.decode('ascii')}"


def create_token_cli(
    env: dict[str, str], role: str, name: str, platform: str | None = None, *extra: str
) -> subprocess.CompletedProcess[str]:
    """``evidence admin create-token`` in a subprocess with ``env`` added to the environment
    (``extra``: more options, e.g. ``--init`` in a data folder with no deployment yet)."""
    args = [str(EVIDENCE_CLI), "admin", "create-token", "--role", role, "--name", name, *extra]
    if platform is not None:
        args += ["--platform", platform]
    return subprocess.run(
        args, env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=False
    )


class TcpProxy:
    """A loopback TCP forwarder to a real server, which a test can cut and restore.

    :meth:`cut` closes the listening socket and resets every forwarded
    connection, so the service sees exactly what it sees when the server
    behind it stops: pooled connections break and new ones are refused
    (nothing listens on the port). :meth:`restore` listens again on the same
    port. The server itself keeps running for the other tests.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.port = 0
        self._listen()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = int(listener.getsockname()[1])
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets |= {client, upstream}
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            with suppress(OSError):
                while data := src.recv(65536):
                    dst.sendall(data)
        finally:
            for s in (src, dst):
                self._drop(s)

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def cut(self) -> None:
        """Stop listening and reset every forwarded connection."""
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would
            # leave the socket listening until that accept() returned.
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            live = list(self._sockets)
        for sock in live:
            self._drop(sock)

    def restore(self) -> None:
        """Listen again, on the same port."""
        if self._listener is None:
            self._listen()

    def close(self) -> None:
        self.cut()


@contextmanager
def tcp_proxy(target_host: str, target_port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(target_host, target_port)
    try:
        yield proxy
    finally:
        proxy.close()


def backend_params() -> list[Any]:
    """``pytest.param`` for each of :data:`BACKENDS`, marked with the services it needs."""
    marks = {
        "sqlite-local": [],
        "sqlite-s3": [pytest.mark.s3],
        "postgres-s3": [pytest.mark.postgres, pytest.mark.s3],
    }
    return [pytest.param(kind, marks=marks[kind], id=kind) for kind in BACKENDS]


@dataclass
class Backend:
    """One backend combination: its settings, and the S3 server when it uses one."""

    kind: str
    settings: Settings
    seaweed: SeaweedS3 | None = None

    def stored_bytes(self, key: str) -> bytes:
        """An object's bytes read straight from the store, bypassing the service."""
        if self.seaweed is None:
            return LocalObjectStore(self.settings.resolved_storage_dir).path_of(key).read_bytes()
        response = self.seaweed.client().get_object(self.settings.s3_bucket, key)
        try:
            return bytes(response.read())
        finally:
            response.close()
            response.release_conn()


@contextmanager
def open_backend(
    request: pytest.FixtureRequest, kind: str, data_dir: Path, **overrides: Any
) -> Iterator[Backend]:
    """Settings for ``kind`` (one of :data:`BACKENDS`) on fresh storage and a fresh database.

    The S3 kinds use the session's SeaweedFS (fixture ``seaweed``) with a new
    bucket; ``postgres-s3`` a new database on the session's server (fixture
    ``postgres_url``).
    """
    fields: dict[str, Any] = {"data_dir": data_dir, **overrides}
    seaweed: SeaweedS3 | None = None
    if kind.endswith("-s3"):
        seaweed = request.getfixturevalue("seaweed")
        fields |= s3_settings(seaweed.endpoint, seaweed.access_key, seaweed.secret_key)
    if kind.startswith("postgres"):
        with fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
            yield Backend(kind, Settings(database_url=url, **fields), seaweed)
    else:
        yield Backend(kind, Settings(**fields), seaweed)


def provision_tokens(settings: Settings) -> dict[str, str]:
    """One token per role in the database of ``settings``, starting nothing else
    (for a service that runs in a subprocess)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            ensure_example_platform(session)
            return {
                role: create_token(
                    session,
                    role=role,
                    name=f"test {role}",
                    platform="example-mall" if role == "platform" else None,
                )[1]
                for role in ROLES
            }
    finally:
        engine.dispose()


# --- the anchoring stack: anvil, Redis, `evidence serve`, Celery worker and beat ----------
#
# The production shape on one machine, for the e2e anchoring tests and
# ``bench.anchor``. anvil runs as a ManagedAnvil (a fixed port and state file,
# so a test can stop it and start it again as the same chain); Celery runs on
# a real redis-server; every process is a real subprocess that a test can kill.


def evidence_subprocess(
    command: Sequence[str], env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """``evidence COMMAND...`` (``worker``, ``beat``) with ``env`` added, output to
    ``log_path``; in a session of its own, so a signal a test sends reaches it alone."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [str(EVIDENCE_CLI), *command],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_subprocess(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@dataclass(frozen=True)
class ChainFacts:
    """What a verifier is told out of band (never read from a bundle): the chain's
    RPC endpoint and id, the EvidenceLog contract, and the log's id in it."""

    rpc_url: str
    chain_id: int
    contract: str
    log_id: bytes

    def verifier_args(self) -> list[str]:
        """``evidence-verify`` options for tier 5."""
        return [
            "--rpc",
            self.rpc_url,
            "--contract",
            self.contract,
            "--chain-id",
            str(self.chain_id),
        ]


def evidence_verify(
    path: Path, vkey: str, chain: ChainFacts, timeout: float = 300.0
) -> tuple[int, dict[str, Any], dict[int, str]]:
    """The real ``evidence-verify`` console script on a bundle or package, the log key and
    tier 5's chain given out of band, ``--json``: (exit status, report, status by tier).
    It must not print a traceback."""
    done = subprocess.run(
        [str(VERIFY_CLI), str(path), "--log-key", vkey.strip(), *chain.verifier_args(), "--json"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, report, {t["tier"]: t["status"] for t in report["tiers"]}


def chain_facts(engine: Engine, rpc_url: str) -> ChainFacts:
    """The chain binding the service recorded at its first start."""
    with engine.connect() as conn:
        binding = conn.execute(select(chain_binding)).one()
    return ChainFacts(
        rpc_url, binding.chain_id, binding.contract_address, bytes.fromhex(binding.log_id[2:])
    )


@dataclass
class AnchoringStack:
    """A running anchoring deployment; see :func:`anchoring_stack`."""

    root: Path
    env: dict[str, str]
    node: ManagedAnvil
    server: Server
    engine: Engine
    token: str
    vkey: str
    chain: ChainFacts
    redis_url: str | None
    worker: subprocess.Popen[bytes] | None = None
    beat: subprocess.Popen[bytes] | None = None

    def headers(self) -> dict[str, str]:
        return auth_header(self.token)

    def client(self, timeout: float = 60.0) -> httpx.Client:
        return httpx.Client(base_url=self.server.base_url, headers=self.headers(), timeout=timeout)

    def w3(self) -> Web3:
        return Web3(Web3.HTTPProvider(self.node.url, request_kwargs={"timeout": 30}))

    def start_worker(self, timeout: float = 60.0) -> None:
        """Start ``evidence worker``; return once it consumes tasks (it has checked the
        database, the key and the chain binding by then)."""
        assert self.worker is None or self.worker.poll() is not None, "worker already running"
        log_path = self.root / "worker.log"
        seen = log_path.stat().st_size if log_path.exists() else 0
        self.worker = evidence_subprocess(["worker"], self.env, log_path)
        deadline = time.monotonic() + timeout
        while b" ready." not in log_path.read_bytes()[seen:]:
            if self.worker.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"evidence worker did not come up: {tail}")
            time.sleep(0.05)

    def kill_worker(self) -> int:
        """``kill -9`` the worker (``--pool=solo``: one process); returns its exit status."""
        assert self.worker is not None
        os.kill(self.worker.pid, signal.SIGKILL)
        return self.worker.wait(10)

    def start_beat(self) -> None:
        assert self.beat is None or self.beat.poll() is not None, "beat already running"
        self.beat = evidence_subprocess(["beat"], self.env, self.root / "beat.log")

    def stop_beat(self) -> None:
        if self.beat is not None:
            stop_subprocess(self.beat)

    def stop_celery(self) -> None:
        for process in (self.beat, self.worker):
            if process is not None:
                stop_subprocess(process)

    def anchor_rows(self) -> list[Any]:
        """Every ``anchor_tx`` row, oldest first."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(anchor_tx).order_by(anchor_tx.c.id)).all())

    def confirmed_size(self) -> int:
        """The largest tree size with a confirmed anchor (0: none yet)."""
        sizes = [row.size for row in self.anchor_rows() if row.state == "confirmed"]
        return max(sizes, default=0)


@contextmanager
def anchoring_stack(
    root: Path,
    *,
    celery: bool = True,
    database_url: str | None = None,
    block_time: float | None = 1.0,
    seal_interval: float = 0.5,
    anchor_interval: float = 0.5,
    confirmations: int = 1,
    extra_env: dict[str, str] | None = None,
) -> Iterator[AnchoringStack]:
    """anvil (``block_time`` s blocks) -> ``evidence serve`` with ``EVIDENCE_CHAIN=rpc`` (its
    first start deploys EvidenceLog and records the chain binding) -> with ``celery``, Redis,
    ``evidence worker`` and ``evidence beat`` sealing and anchoring (the service seals and
    anchors nothing itself); without, the service's in-process sealer and anchorer do it.

    An officer token is made on the database; the log key is read from ``/v1/log/key``.
    """
    root.mkdir(parents=True, exist_ok=True)
    data = root / "data"
    database_url = database_url or f"sqlite:///{data / 'evidence.db'}"
    node = ManagedAnvil(root / "anvil-state.json", block_time=block_time)
    with ExitStack() as stack:
        node.start(timeout=READY_TIMEOUT)
        stack.callback(node.stop)
        env = {
            "EVIDENCE_DATA_DIR": str(data),
            "EVIDENCE_DATABASE_URL": database_url,
            "EVIDENCE_CHAIN": "rpc",
            "EVIDENCE_CHAIN_RPC_URL": node.url,
            "EVIDENCE_CHAIN_KEY": ANVIL_DEV_KEY,
            "EVIDENCE_CONFIRMATIONS": str(confirmations),
            "EVIDENCE_SEAL_INTERVAL": str(seal_interval),
            "EVIDENCE_ANCHOR_INTERVAL": str(anchor_interval),
            "EVIDENCE_RUN_SEALER": "false" if celery else "true",
            "EVIDENCE_RUN_ANCHORER": "false" if celery else "true",
            # A transaction a restarted node forgot is re-sent after this many seconds.
            "EVIDENCE_ANCHOR_DROP_AFTER": "8",
            # The first credit regrade installs the built-in credit policy: one more log
            # entry, 300 s after the start by default. The anchoring tests count the log's
            # entries (the last anchor covers exactly what they submitted) and may run longer.
            "EVIDENCE_CREDIT_REGRADE_INTERVAL": "86400",
        }
        redis_url = None
        if celery:
            redis_url = stack.enter_context(redis_server())
            env |= {
                "EVIDENCE_BROKER_URL": f"{redis_url}/0",
                "EVIDENCE_RESULT_BACKEND": f"{redis_url}/1",
            }
        env |= extra_env or {}
        server = stack.enter_context(serve_subprocess(env, root / "serve.log"))
        engine = make_engine(database_url)
        stack.callback(engine.dispose)
        with Session(engine) as session, session.begin():
            _, token = create_token(session, role="officer", name="anchoring stack officer")
        vkey = httpx.get(f"{server.base_url}/v1/log/key", timeout=30).text
        deployment = AnchoringStack(
            root, env, node, server, engine, token, vkey, chain_facts(engine, node.url), redis_url
        )
        if celery:
            stack.callback(deployment.stop_celery)
            deployment.start_worker()
            deployment.start_beat()
        yield deployment


def send_celery_task(redis_url: str, name: str) -> None:
    """Queue one task by name on the stack's broker (as beat would)."""
    app = Celery("evidence-test", broker=f"{redis_url}/0")
    try:
        app.send_task(name)
    finally:
        app.close()


#: The person behind the officer token of :func:`named_officer`.
OFFICER_NAME, OFFICER_UNIT = "张三", "泉州市市场监督管理局"


def named_officer(stack: Stack) -> tuple[str, str]:
    """An officer token with a display name and unit: (its pseudonym, the token)."""
    with stack.runtime.session() as session:
        row, token = create_token(
            session,
            role="officer",
            name="officer Zhang",
            display_name=OFFICER_NAME,
            unit=OFFICER_UNIT,
        )
        return f"token-{row.id}", token


def api_routes(routes: Iterable[object]) -> Iterator[tuple[str, APIRoute]]:
    """(full path, route) of every API route, included routers' routes one by one."""
    for path, route in declared_routes(routes):
        if isinstance(route, APIRoute):
            yield path, route
