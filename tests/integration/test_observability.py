"""Observability on the real stack: ``/metrics`` after real submissions (SQLite or
PostgreSQL, a real anvil), request ids in the JSON log of a real ``evidence serve``.

Metric values are read with prometheus-client's own parser, so a malformed
exposition fails the test too.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import make_url

from evidence_api.core.config import Settings
from tests.support.api import (
    auth_header,
    create_token_cli,
    evidence_form,
    fresh_postgres_database,
    running_stack,
    serve_subprocess,
    submit,
    tcp_proxy,
)

DIGEST = "ab" * 32
Samples = dict[str, float]


def scrape(client: TestClient | httpx.Client) -> Samples:
    """Every unlabelled sample, and labelled ones as ``name{k=v,...}`` (labels sorted)."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    out: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def wait_for(
    client: TestClient | httpx.Client, done: Callable[[Samples], bool], timeout: float
) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        found = scrape(client)
        if done(found):
            return found
        assert time.monotonic() < deadline, f"metrics never got there: {found}"
        time.sleep(0.1)


@pytest.mark.chain
def test_metrics_follow_a_submission_through_sealing_and_anchoring(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", chain="anvil", seal_interval=0.1, anchor_interval=0.2
    )
    with running_stack(settings) as stack:
        before = scrape(stack.client)
        assert before["evidence_log_size"] == 0
        assert before["evidence_intake_bytes_total"] == 0
        assert before["evidence_metrics_database_up"] == 1
        files = {"page.html": b"<html>shop</html>", "shot.png": os.urandom(300_000)}
        response = submit(stack, files, headers={"X-Request-ID": "itest-submit-1"})
        assert response.status_code == 201, response.text
        assert response.headers["X-Request-ID"] == "itest-submit-1"

        after = wait_for(
            stack.client,
            lambda m: (
                m["evidence_log_size"] >= 1
                and m.get("evidence_anchor_lag_entries") == 0
                and m.get("evidence_anchor_confirmations", 0) >= 1
            ),
            timeout=90,
        )
    # The body holds the files plus the metadata part and multipart framing.
    grew = after["evidence_intake_bytes_total"] - before["evidence_intake_bytes_total"]
    size = sum(len(data) for data in files.values())
    assert size < grew < size + 8192, (size, grew)
    assert after["evidence_log_size"] == 1
    assert after["evidence_sealing_pending_entries"] == 0
    assert after["evidence_sealing_oldest_pending_age_seconds"] == 0
    assert after["evidence_webhook_pending_deliveries"] == 0
    assert 0 <= after["evidence_anchor_last_age_seconds"] < 600
    assert after["evidence_http_requests_total{method=POST,route=/v1/evidence,status=201}"] == 1
    assert (
        after["evidence_http_request_duration_seconds_count{method=POST,route=/v1/evidence}"] == 1
    )


def test_sealing_lag_grows_until_the_sealer_runs_and_each_seal_logs_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path / "data", run_sealer=False)
    with running_stack(settings) as stack:
        stamped = stack.client.post(
            "/v1/stamps", json={"digests": [DIGEST]}, headers=stack.auth("officer")
        )
        assert stamped.status_code == 200, stamped.text
        first = scrape(stack.client)
        assert first["evidence_sealing_pending_entries"] == 1
        later = wait_for(
            stack.client,
            lambda m: (
                m["evidence_sealing_oldest_pending_age_seconds"]
                > first["evidence_sealing_oldest_pending_age_seconds"]
            ),
            timeout=30,
        )
        assert later["evidence_log_size"] == 0
        assert "evidence_anchor_lag_entries" not in later  # EVIDENCE_CHAIN=none: no anchoring

        with caplog.at_level(logging.INFO, logger="anchoring.sealer"):
            stack.runtime.seal()
            stack.runtime.seal()  # nothing pending: no checkpoint, no line
        sealed = scrape(stack.client)
    assert sealed["evidence_sealing_pending_entries"] == 0
    assert sealed["evidence_log_size"] == 1
    lines = [r for r in caplog.records if r.name == "anchoring.sealer"]
    assert len(lines) == 1
    assert re.fullmatch(
        r"sealed 1 entries: checkpoint size 1 root [0-9a-f]{16}", lines[0].getMessage()
    )
    assert lines[0].log_size == 1  # type: ignore[attr-defined]


@pytest.mark.postgres
def test_metrics_answer_while_the_database_is_down(postgres_url: str, tmp_path: Path) -> None:
    with fresh_postgres_database(postgres_url) as url:
        target = make_url(url)
        with tcp_proxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
            proxied = target.set(host="127.0.0.1", port=proxy.port)
            settings = Settings(
                data_dir=tmp_path / "data",
                database_url=proxied.render_as_string(hide_password=False),
                seal_interval=0.1,
            )
            with running_stack(settings) as stack:
                assert scrape(stack.client)["evidence_metrics_database_up"] == 1
                proxy.cut()
                down = scrape(stack.client)  # 200, not a 500 or a hang
                assert down["evidence_metrics_database_up"] == 0
                assert "evidence_log_size" not in down
                assert (
                    down["evidence_http_requests_total{method=GET,route=/metrics,status=200}"] == 1
                )
                proxy.restore()
                back = wait_for(
                    stack.client, lambda m: m["evidence_metrics_database_up"] == 1, timeout=30
                )
                assert back["evidence_log_size"] == 0


def json_lines(log: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The log's JSON objects, and the other lines (``evidence serve``'s banner on stdout)
    up to the server's first own line: any later non-JSON line is a failure."""
    objects: list[dict[str, Any]] = []
    other: list[str] = []
    text = log.read_text(encoding="utf-8")
    complete = text[: text.rfind("\n") + 1]  # a line still being written is left for later
    for line in complete.splitlines():
        try:
            objects.append(json.loads(line))
        except ValueError:
            assert not any(o["logger"].startswith("uvicorn") for o in objects), line
            other.append(line)
    return objects, other


def test_served_json_log_carries_the_request_id_of_each_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("EVIDENCE_"):
            monkeypatch.delenv(name)
    env = {
        "EVIDENCE_DATA_DIR": str(tmp_path / "data"),
        "EVIDENCE_CHAIN": "none",
        "EVIDENCE_LOG_FORMAT": "json",
        "EVIDENCE_SEAL_INTERVAL": "0.1",
    }
    log = tmp_path / "serve.log"
    with serve_subprocess(env, log) as server:
        made = create_token_cli(env, "officer", "officer Lin")
        assert made.returncode == 0, made.stderr
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            response = client.post(
                "/v1/evidence",
                files=evidence_form({"page.html": b"<html>1</html>"}),
                headers={**auth_header(made.stdout.strip()), "X-Request-ID": "itest-log-1"},
            )
            assert response.status_code == 201, response.text
            assert response.headers["X-Request-ID"] == "itest-log-1"
            refused = client.get("/v1/evidence", headers={"X-Request-ID": "no spaces allowed"})
            assert refused.status_code == 401
            made_up = refused.headers["X-Request-ID"]
            assert made_up != "no spaces allowed" and len(made_up) == 32
            wait_for(client, lambda m: m["evidence_log_size"] == 1, timeout=30)
        deadline = time.monotonic() + 30  # the access line is written after the response
        while not any(o.get("request_id") == made_up for o in json_lines(log)[0]) or not any(
            o["logger"] == "anchoring.sealer" for o in json_lines(log)[0]
        ):
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
    objects, other = json_lines(log)
    assert other[0].startswith("Evidence Anchor on http://"), other
    assert not any("Traceback" in line or "INFO" in line for line in other), other
    for o in objects:
        assert {"ts", "level", "logger", "message", "request_id"} <= o.keys(), o
    access = [o for o in objects if o["logger"] == "uvicorn.access"]
    submitted = [o for o in access if o["request_id"] == "itest-log-1"]
    assert [(o["method"], o["path"], o["status"]) for o in submitted] == [
        ("POST", "/v1/evidence", 201)
    ]
    assert [o["status"] for o in access if o["request_id"] == made_up] == [401]
    assert any(o["logger"] == "uvicorn.error" and o["request_id"] is None for o in objects)
    seals = [o for o in objects if o["logger"] == "anchoring.sealer"]
    assert [(o["log_size"], o["request_id"]) for o in seals] == [(1, None)]
