"""Captures on the production path: the API (``EVIDENCE_RUN_CAPTURES=false``) sends each to
the Celery queue ``capture`` on a REAL Redis, a REAL ``evidence worker --queues capture``
runs it with REAL Chromium on the HTTPS fixture site, and the evidence appears through the
API. A worker killed (``kill -9``, its browser with it) in the middle of a capture leaves
it ``running``; the sweep (``evidence.capture_sweep``, beat's task) finds its process gone
and queues it again, and a new worker finishes it on the second attempt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evidence_api.capture.models import Capture
from evidence_api.core.config import Settings
from tests.support.api import (
    Stack,
    evidence_subprocess,
    running_stack,
    send_celery_task,
    stop_subprocess,
)
from tests.support.browser import chromium_missing
from tests.support.capture_site import Site, capture_site
from tests.support.process import tail
from tests.support.redis import redis_server
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]

ALLOW = "127.0.0.1,localhost,::1"
DEADLINE = 240.0  # one capture on a loaded 2-core machine, worker start included


@dataclass
class Deployment:
    stack: Stack
    env: dict[str, str]
    root: Path
    redis_url: str
    site: Site
    worker: subprocess.Popen[bytes] | None = None

    def start_worker(self, queues: str) -> subprocess.Popen[bytes]:
        log_path = self.root / "worker.log"
        seen = log_path.stat().st_size if log_path.exists() else 0
        worker = evidence_subprocess(
            ["worker", "--queues", queues, "--concurrency", "2"], self.env, log_path
        )
        self.worker = worker
        deadline = time.monotonic() + 120
        while b" ready." not in log_path.read_bytes()[seen:]:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"evidence worker did not come up: {tail(log_path)}")
            time.sleep(0.1)
        return worker

    def capture(self, capture_id: str) -> dict[str, Any]:
        response = self.stack.client.get(
            f"/v1/captures/{capture_id}", headers=self.stack.auth("officer")
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def owner(self, capture_id: str) -> str | None:
        with self.stack.runtime.session() as session:
            row = session.query(Capture).filter(Capture.id == capture_id).one()
            return row.owner


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    missing = chromium_missing()
    if missing:
        pytest.skip(missing)
    with redis_server() as redis_url, capture_site(tmp_path / "site") as site:
        data = tmp_path / "data"
        env = {
            "EVIDENCE_DATA_DIR": str(data),
            "EVIDENCE_CHAIN": "none",
            "EVIDENCE_BROKER_URL": f"{redis_url}/0",
            "EVIDENCE_RESULT_BACKEND": f"{redis_url}/1",
            "EVIDENCE_CAPTURE_ALLOW": ALLOW,
            "EVIDENCE_CAPTURE_UPSTREAM_CA": str(site.ca_file),
            "EVIDENCE_RUN_INTEGRITY": "false",
            "EVIDENCE_RUN_CAPTURES": "false",
        }
        settings = Settings(
            data_dir=data,
            chain="none",
            seal_interval=0.1,
            broker_url=f"{redis_url}/0",
            result_backend=f"{redis_url}/1",
            capture_allow=ALLOW,
            capture_upstream_ca=site.ca_file,
            run_integrity=False,
            run_captures=False,
        )
        with running_stack(settings) as stack:
            deployment = Deployment(stack, env, tmp_path, redis_url, site)
            try:
                yield deployment
            finally:
                if deployment.worker is not None and deployment.worker.poll() is None:
                    stop_subprocess(deployment.worker)


def post(deployment: Deployment, body: dict[str, Any]) -> str:
    stack = deployment.stack
    response = stack.client.post("/v1/captures", json=body, headers=stack.auth("officer"))
    assert response.status_code == 202, response.text
    capture_id: str = response.json()["capture_id"]
    return capture_id


def test_a_celery_worker_runs_the_capture(deployment: Deployment) -> None:
    worker = deployment.start_worker("capture")
    capture_id = post(deployment, {"url": deployment.site.url("/r1"), "platform": "fixture"})

    wait_until(
        lambda: deployment.capture(capture_id)["status"] in ("done", "failed"),
        DEADLINE,
        f"capture {capture_id} to finish on the worker",
        poll=0.25,
    )
    done = deployment.capture(capture_id)
    assert done["status"] == "done", (done["reason"], tail(deployment.root / "worker.log"))
    # run by the worker process, not by the API's
    owner = deployment.owner(capture_id)
    assert owner is not None and owner.split(":")[1] == str(worker.pid)
    assert int(owner.split(":")[1]) != os.getpid()
    evidence = deployment.stack.client.get(
        done["evidence_url"], headers=deployment.stack.auth("officer")
    )
    assert evidence.status_code == 200, evidence.text
    names = {f["name"] for f in evidence.json()["files"]}
    assert {"screenshot.png", "archive.wacz", "main-document.json"} <= names


def test_a_killed_worker_s_capture_is_recovered_by_the_sweep(deployment: Deployment) -> None:
    worker = deployment.start_worker("capture")
    body = {
        "url": deployment.site.url("/listing"),
        "mode": "steps",
        "steps": [{"action": "wait", "seconds": 30, "label": "等待"}],
    }
    capture_id = post(deployment, body)
    wait_until(
        lambda: deployment.capture(capture_id)["status"] == "running",
        DEADLINE,
        "the capture to start on the worker",
        poll=0.1,
    )
    os.killpg(worker.pid, signal.SIGKILL)  # the worker and its browser, mid-capture
    worker.wait(30)
    interrupted = deployment.capture(capture_id)
    assert interrupted["status"] == "running" and interrupted["attempts"] == 1

    # A new worker that also consumes the default queue, where beat's sweep goes.
    worker = deployment.start_worker("capture,celery")
    send_celery_task(deployment.redis_url, "evidence.capture_sweep")
    wait_until(
        lambda: deployment.capture(capture_id)["status"] in ("done", "failed"),
        DEADLINE,
        "the swept capture to finish on the new worker",
        poll=0.25,
    )
    done = deployment.capture(capture_id)
    assert done["status"] == "done", (done["reason"], tail(deployment.root / "worker.log"))
    assert done["attempts"] == 2
    owner = deployment.owner(capture_id)
    assert owner is not None and owner.split(":")[1] == str(worker.pid)
