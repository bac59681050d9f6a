"""The browser stacks of the e2e tests: what the capture, monitoring and takedown
verification stacks share on top of :func:`tests.support.api.anchoring_stack`.

Each of those stacks is the anchoring deployment (Redis, ``evidence worker`` and ``beat``,
PostgreSQL, anvil) with S3 on SeaweedFS and a real ``evidence worker --queues capture``
running Chromium against an HTTPS fixture site. This module gives them their markers
(:data:`STACK_MARKS`), one way to check the tools are there, one environment for S3 and
the capture worker, the whole stack with its worker (:func:`browser_stack`), and the two
checks every such test ends with: a log entry anchored and verified through
tier 5 by the library verifier, and an evidence package exported and verified through
tier 5 by the ``evidence-verify`` console script.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from anchoring.node import anvil_binary
from anchoring.proofs import bundle_for
from anchoring.queue import get_entry
from tests.support.api import (
    AnchoringStack,
    anchoring_stack,
    evidence_subprocess,
    evidence_verify,
    fresh_postgres_database,
    s3_env,
    stop_subprocess,
)
from tests.support.browser import chromium_missing
from tests.support.market_site import MarketSite, market_site
from tests.support.seaweed import WEED, SeaweedS3, seaweed_s3
from verifier.bundle import Bundle
from verifier.chain.anchor import make_anchor_check
from verifier.note import VerifierKey
from verifier.verify import Status, verify_bundle

#: The markers of a browser stack's test module: it needs all of these.
STACK_MARKS = [
    pytest.mark.chain,
    pytest.mark.redis,
    pytest.mark.s3,
    pytest.mark.postgres,
    pytest.mark.browser,
    pytest.mark.slow,
]
#: Generous: a loaded 2-core machine runs Chromium, anvil, PostgreSQL and S3 at once here.
ANCHOR_DEADLINE = 300.0


def skip_without_stack_tools(*more: str | None) -> None:
    """Skip (a failure under CI=true) naming the first missing tool: anvil, Chromium,
    SeaweedFS, then each of ``more`` (a reason, or None where the tool is there)."""
    for missing in (
        None if anvil_binary() is not None else "anvil is not installed: run `make install`",
        chromium_missing(),
        None if WEED.is_file() else f"SeaweedFS not found at {WEED}",
        *more,
    ):
        if missing:
            pytest.skip(missing)


def capture_stack_env(s3: SeaweedS3, upstream_ca: Path, **more: str) -> dict[str, str]:
    """The service's environment for a browser stack: evidence on S3 (a fresh bucket,
    Object Lock for a day), captures sent to queue ``capture`` (none in ``serve``),
    ``localhost`` the one allow-listed name, the fixture's CA trusted by the recording
    proxy only; ``more`` (``EVIDENCE_...`` names) added or overriding."""
    return {
        **s3_env(s3),
        "EVIDENCE_RUN_CAPTURES": "false",
        "EVIDENCE_CAPTURE_ALLOW": "localhost",
        "EVIDENCE_CAPTURE_UPSTREAM_CA": str(upstream_ca),
        "EVIDENCE_CAPTURE_TOTAL_SECONDS": "150",
        **more,
    }


def start_capture_worker(stack: AnchoringStack, timeout: float = 120.0) -> subprocess.Popen[bytes]:
    """``evidence worker --queues capture`` (2 captures at once); returned once it consumes."""
    log_path = stack.root / "capture-worker.log"
    worker = evidence_subprocess(
        ["worker", "--queues", "capture", "--concurrency", "2"], stack.env, log_path
    )
    deadline = time.monotonic() + timeout
    while not (log_path.exists() and b" ready." in log_path.read_bytes()):
        if worker.poll() is not None or time.monotonic() > deadline:
            stop_subprocess(worker)
            tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
            raise RuntimeError(f"the capture worker did not come up: {tail}")
        time.sleep(0.1)
    return worker


@contextmanager
def browser_stack(
    root: Path, postgres_url: str, upstream_ca: Path, **env: str
) -> Iterator[tuple[AnchoringStack, subprocess.Popen[bytes]]]:
    """SeaweedFS S3, a fresh PostgreSQL database on ``postgres_url``, the anchoring stack
    under ``root / "stack"`` with :func:`capture_stack_env` (``env`` added) and the capture
    worker; all stopped on exit. Yields the stack and the capture worker."""
    with ExitStack() as stack:
        s3 = stack.enter_context(seaweed_s3())
        database_url = stack.enter_context(fresh_postgres_database(postgres_url))
        anchoring = stack.enter_context(
            anchoring_stack(
                root / "stack",
                database_url=database_url,
                extra_env=capture_stack_env(s3, upstream_ca, **env),
            )
        )
        worker = start_capture_worker(anchoring)
        stack.callback(stop_subprocess, worker, 30.0)
        yield anchoring, worker


@contextmanager
def market_stack(
    root: Path, postgres_url: str, **env: str
) -> Iterator[tuple[MarketSite, AnchoringStack]]:
    """The market fixture under ``root / "market"`` and a :func:`browser_stack` capturing
    it whose beat ticks the monitors every second with no spacing between starts on the
    one host (``serve`` runs none itself); ``env`` added or overriding."""
    monitoring = {
        "EVIDENCE_RUN_MONITORS": "false",
        "EVIDENCE_MONITOR_TICK_INTERVAL": "1",
        "EVIDENCE_MONITOR_HOST_SPACING": "0",
    }
    with (
        market_site(root / "market") as market,
        browser_stack(root, postgres_url, market.ca_file, **(monitoring | env)) as (stack, _),
    ):
        yield market, stack


def anchored_entry(
    stack: AnchoringStack, entry_id: str, deadline: float = ANCHOR_DEADLINE
) -> Bundle:
    """The log entry's proof bundle, polled until it is anchored; fail past ``deadline``."""
    origin = stack.vkey.strip().split("+", 1)[0]
    ends = time.monotonic() + deadline
    while True:
        with stack.engine.connect() as conn:
            record = get_entry(conn, entry_id)
            assert record is not None, entry_id
            bundle = bundle_for(conn, record, origin=origin)
        if bundle.status == "anchored":
            return bundle
        assert time.monotonic() < ends, f"{entry_id} still {bundle.status} after {deadline} s"
        time.sleep(0.5)


def verify_entry_through_tier5(stack: AnchoringStack, entry_id: str) -> Bundle:
    """Once anchored, the entry verifies through tier 5 with the library verifier (the log
    key and the chain given out of band); its bundle, for the caller to read the entry."""
    bundle = anchored_entry(stack, entry_id)
    chain = stack.chain
    check = make_anchor_check([chain.rpc_url], contract=chain.contract, chain_id=chain.chain_id)
    report = verify_bundle(
        bundle, log_keys=[VerifierKey.from_text(stack.vkey.strip())], anchor_check=check
    )
    assert [t.status for t in report.tiers[2:]] == [Status.VERIFIED] * 3, report.to_dict()
    return bundle


def wait_anchored(
    client: httpx.Client, evidence_id: str, deadline: float = ANCHOR_DEADLINE
) -> None:
    """Poll the evidence's proof until it is anchored; fail past ``deadline``."""
    ends = time.monotonic() + deadline
    while True:
        response = client.get(f"/v1/evidence/{evidence_id}/proof")
        assert response.status_code == 200, response.text
        if response.json()["status"] == "anchored":
            return
        assert time.monotonic() < ends, f"{evidence_id} not anchored after {deadline} s"
        time.sleep(0.5)


def verify_package_through_tier5(
    stack: AnchoringStack, evidence_id: str, *, purpose: str, folder: Path
) -> tuple[bytes, dict[str, Any]]:
    """Export the evidence package once anchored (for ``purpose``), save it in ``folder``
    and check it with ``evidence-verify`` through tier 5: exit 0, every tier verified.
    The package's bytes and the verifier's report."""
    with stack.client(timeout=120) as client:
        wait_anchored(client, evidence_id)
        response = client.get(f"/v1/evidence/{evidence_id}/package", params={"purpose": purpose})
    assert response.status_code == 200, response.text
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{evidence_id}.zip"
    path.write_bytes(response.content)
    code, report, statuses = evidence_verify(path, stack.vkey, stack.chain)
    assert (code, report["outcome"]) == (0, "verified"), report
    assert statuses == dict.fromkeys(range(1, 6), "verified"), report
    return response.content, report
