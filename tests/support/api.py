"""The real service stack for API tests: app + runtime on a real database and store."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from evidence_api.app import create_app
from evidence_api.auth import create_token
from evidence_api.config import Settings
from evidence_api.runtime import Runtime, build_runtime

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


def make_tokens(runtime: Runtime) -> dict[str, str]:
    tokens = {}
    with runtime.session() as session:
        for role in ROLES:
            _, tokens[role] = create_token(
                session,
                role=role,
                name=f"test {role}",
                platform="example-mall" if role == "platform" else None,
            )
    return tokens


@contextmanager
def running_stack(settings: Settings, tokens: dict[str, str] | None = None) -> Iterator[Stack]:
    runtime = build_runtime(settings)
    try:
        tokens = tokens or make_tokens(runtime)
        with TestClient(create_app(runtime=runtime)) as client:
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


@contextmanager
def serve_subprocess(env: dict[str, str], log_path: Path) -> Iterator[Server]:
    port = free_port()
    full_env = {**os.environ, **env, "EVIDENCE_HOST": "127.0.0.1", "EVIDENCE_PORT": str(port)}
    evidence = Path(sys.executable).parent / "evidence"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [str(evidence), "serve"], env=full_env, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"evidence serve exited: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"evidence serve did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        yield server
    finally:
        server.stop()
