"""Audit runs for the role matrix (tests/integration/test_api_auth.py): a valid request to
each ``/v1/integrity/audits`` operation, on a run made for it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from evidence_api.audit.models import AuditFinding, AuditRun
from evidence_api.audit.service import acknowledge
from tests.support.api import Stack


def make_run(stack: Stack, status: str) -> int:
    """A finished run with one finding (``failed``) or none."""
    now = datetime.now(UTC)
    with stack.runtime.session() as session:
        run = AuditRun(
            started_at=now,
            finished_at=now,
            status=status,
            counts=json.dumps({"entries": 1}),
            findings=1 if status == "failed" else 0,
        )
        session.add(run)
        session.flush()
        if status == "failed":
            session.add(
                AuditFinding(
                    run_id=run.id, kind="entry", location="entry:x", detail="made", found_at=now
                )
            )
        return int(run.id)


def finished(stack: Stack, run_id: int, timeout: float = 120.0) -> str:
    """The status of a run started in the background, once it is no longer running."""
    deadline = time.monotonic() + timeout
    while True:
        with stack.runtime.session() as session:
            run = session.get(AuditRun, run_id)
            assert run is not None
            if run.status != "running":
                return run.status
        assert time.monotonic() < deadline, f"audit run {run_id} still running"
        time.sleep(0.05)


def audit_request(stack: Stack, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """The acknowledge request gets a failed run of its own, which the admin's request
    acknowledges (so no failed run is left to hold ``/readyz`` not ready); reads a clean
    run. A run started (``POST``) is waited for (and acknowledged, should it fail)."""
    if (method, path) == ("POST", "/v1/integrity/audits"):

        def start(headers: dict[str, str]) -> Any:
            answer = stack.client.post(path, headers=headers)
            if answer.status_code == 202:
                run_id = answer.json()["id"]
                if finished(stack, run_id) == "failed":
                    with stack.runtime.session() as session:
                        acknowledge(session, run_id, "role matrix", "cleaning up")
            return answer

        return start
    acknowledging = path.endswith("/acknowledge")
    run_id = make_run(stack, "failed" if acknowledging else "clean")
    url = path.replace("{run_id}", str(run_id))
    body = {"note": "role matrix"} if acknowledging else None

    def send(headers: dict[str, str]) -> Any:
        return stack.client.request(method, url, headers=headers, json=body)

    return send
