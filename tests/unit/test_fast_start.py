"""``evidence serve``'s fast start, in process: the runtime is built with the chain only
planned (``build_runtime(bind_later=True)``) and bound in the background while the API
already answers. The binding is held at a gate, so each state is seen without timing:

* while it is held, ``/healthz`` is 200, ``/readyz`` is 503 with the chain "starting", and
  what states the chain (a package download, the mounted portal) is 503 problem+json with
  ``Retry-After``, never a 500; what does not need the chain answers as usual;
* once released, the chain is the runtime's, ``/readyz`` reports it ready, the portal
  opens and the anchorer's timer runs;
* a binding that fails is reported to the caller (``evidence serve`` then stops with one
  error line) and by ``/readyz``.

The mount's overlap check reads the routes' own paths, which cover every documented one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from evidence_api.app import create_app
from evidence_api.core import chain_setup
from evidence_api.core.config import ConfigurationError, Settings
from evidence_api.runtime import Runtime, build_runtime
from evidence_api.verifier_mount import _route_paths, mount_verifier

PACKAGE = "/v1/evidence/ev-" + "0" * 28 + "/package"


class Gate:
    """Holds :func:`chain_setup.bind_chain` until released (or makes it fail)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, failure: Exception | None = None) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        real = chain_setup.bind_chain

        def held(plan: Any, engine: Any, *, rebind: bool = False) -> Any:
            self.entered.set()
            assert self.release.wait(120), "the test never released the binding"
            if failure is not None:
                raise failure
            return real(plan, engine, rebind=rebind)

        monkeypatch.setattr(chain_setup, "bind_chain", held)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(
        data_dir=tmp_path / "data",
        chain="tester",  # in process: no node to start
        run_sealer=False,
        run_anchorer=True,
        run_supervisor=False,
        run_integrity=False,
        anchor_interval=3600,
    )
    built = build_runtime(settings, bind_later=True)
    try:
        yield built
    finally:
        built.close()


def assert_unavailable(reply: Any) -> None:
    assert reply.status_code == 503, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert int(reply.headers["retry-after"]) > 0
    assert reply.json()["status"] == 503


def test_the_api_answers_while_the_chain_is_bound(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(monkeypatch)
    assert runtime.chain is None and runtime.chain_pending
    assert runtime.binding is not None
    app = create_app(runtime=runtime)
    assert mount_verifier(app, runtime, "http://127.0.0.1:8000") is not None
    with TestClient(app) as client:
        runtime.binding.start()
        assert gate.entered.wait(60)

        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "retry-after" in ready.headers
        assert ready.json()["checks"]["chain"] == chain_setup.STARTING
        assert ready.json()["checks"]["database"] == "ok"
        assert_unavailable(client.get(PACKAGE, params={"purpose": "check"}))
        assert_unavailable(client.get("/verifier/verify"))
        assert_unavailable(client.get("/verifier/v1/config"))
        assert client.get("/v1/log/key").text.strip() == runtime.signer.verifier().to_text()
        assert "anchorer" not in runtime.timers

        gate.release.set()
        assert runtime.binding.wait(120)
        assert runtime.binding.error is None
        assert runtime.chain is not None and not runtime.chain_pending
        assert client.get("/readyz").json()["checks"]["chain"] == "ok"
        assert client.get("/verifier/verify").status_code == 200
        assert client.get("/verifier/v1/config").status_code == 200
        assert client.get(PACKAGE, params={"purpose": "check"}).status_code == 401  # no token
        assert "anchorer" in runtime.timers


def test_a_binding_that_fails_is_reported(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(monkeypatch, ConfigurationError("refusing to anchor on a different chain"))
    assert runtime.binding is not None
    failures: list[BaseException] = []
    bound: list[object] = []
    runtime.binding.on_failed.append(failures.append)
    runtime.binding.on_bound.append(bound.append)
    app = create_app(runtime=runtime)
    with TestClient(app) as client:
        runtime.binding.start()
        gate.release.set()
        assert runtime.binding.wait(120)
        assert [str(f) for f in failures] == ["refusing to anchor on a different chain"]
        assert bound == [] and runtime.chain is None
        checks = client.get("/readyz").json()["checks"]
        assert checks["chain"] == "unavailable: refusing to anchor on a different chain"
        assert_unavailable(client.get(PACKAGE, params={"purpose": "check"}))


def test_the_overlap_check_sees_every_documented_path(runtime: Runtime) -> None:
    app = create_app(runtime=runtime)
    paths = set(_route_paths(app.routes))
    documented = set(app.openapi()["paths"])
    assert documented and documented <= paths
    assert {
        "/healthz",
        "/docs",
        "/v1/log/key",
        PACKAGE.replace("ev-" + "0" * 28, "{evidence_id}"),
    } <= paths
