"""Request ids, the log formats and the request metrics, on small in-process apps.

The request id comes from ``X-Request-ID`` when it is 1-128 characters of
``[A-Za-z0-9._-]``, else it is made up; it is echoed, and written on every log
line emitted while the request is handled (thread-pool routes included).
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from starlette.routing import Mount

from evidence_api.app import create_app
from evidence_api.core.config import Settings
from evidence_api.core.observability import (
    MAX_REQUEST_ID,
    REQUEST_ID,
    UNMATCHED,
    JsonFormatter,
    RequestIdFilter,
    TextFormatter,
    configure_logging,
    instrument,
    log_format,
    request_id_from,
)

GENERATED = re.compile(r"[0-9a-f]{32}")
ROUTE_LOG = logging.getLogger("tests.observability.route")


@pytest.mark.parametrize(
    "raw", ["a", "req-1", "A.b_c-9", "0" * MAX_REQUEST_ID, "f47ac10b-58cc-4372-a567-0e02b2c3d479"]
)
def test_a_safe_incoming_request_id_is_kept(raw: str) -> None:
    assert request_id_from(raw) == raw


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "0" * (MAX_REQUEST_ID + 1),  # one over the limit
        "has space",
        "line\nbreak",
        '{"json":1}',
        "a/b",
        "中文",
        "tab\t",
    ],
)
def test_an_absent_or_unsafe_request_id_is_replaced(raw: str | None) -> None:
    made = request_id_from(raw)
    assert GENERATED.fullmatch(made), made
    assert made != raw


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.getLogger("evidence_api.test").makeRecord(
        "evidence_api.test", logging.WARNING, __file__, 1, message, args, None, extra=extra
    )
    RequestIdFilter().filter(record)
    return record


def test_json_formatter_writes_one_object_per_line_with_request_id_and_extras() -> None:
    token = REQUEST_ID.set("req-42")
    try:
        record = _record("sealed %d entries\nsecond line", 3, log_size=17, root_prefix="ab12")
    finally:
        REQUEST_ID.reset(token)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    out = json.loads(line)
    assert out["level"] == "WARNING"
    assert out["logger"] == "evidence_api.test"
    assert out["message"] == "sealed 3 entries\nsecond line"
    assert out["request_id"] == "req-42"
    assert out["log_size"] == 17
    assert out["root_prefix"] == "ab12"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", out["ts"]), out["ts"]
    assert not {"args", "msg", "levelno", "pathname", "color_message"} & out.keys()


def test_json_formatter_outside_a_request_has_null_request_id_and_keeps_tracebacks() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), __import__("sys").exc_info()
        )
    RequestIdFilter().filter(record)
    out = json.loads(JsonFormatter().format(record))
    assert out["request_id"] is None
    assert "ValueError: boom" in out["exc_info"]


def test_json_formatter_names_the_fields_of_uvicorns_access_line() -> None:
    record = logging.getLogger("uvicorn.access").makeRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/healthz", "1.1", 200),
        None,
    )
    RequestIdFilter().filter(record)
    out = json.loads(JsonFormatter().format(record))
    assert out["message"] == '127.0.0.1:5000 - "GET /healthz HTTP/1.1" 200'
    assert (out["method"], out["path"], out["status"]) == ("GET", "/healthz", 200)


def test_text_formatter_shows_the_request_id_or_a_dash() -> None:
    token = REQUEST_ID.set("req-7")
    try:
        inside = TextFormatter().format(_record("hello"))
    finally:
        REQUEST_ID.reset(token)
    assert inside.endswith("WARNING evidence_api.test [req-7] hello")
    assert TextFormatter().format(_record("hello")).endswith("[-] hello")


def test_log_format_defaults_to_json_in_production_only(tmp_path: Path) -> None:
    assert log_format(Settings(data_dir=tmp_path)) == "text"
    assert log_format(Settings(data_dir=tmp_path, mode="production")) == "json"
    assert log_format(Settings(data_dir=tmp_path, log_format="json")) == "json"
    assert log_format(Settings(data_dir=tmp_path, mode="production", log_format="text")) == "text"


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """Logging configured as ``evidence serve`` does (JSON), into a buffer; undone after."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    stream = io.StringIO()
    configure_logging(Settings(log_format="json", log_level="info"), stream)
    try:
        yield stream
    finally:
        for handler in root.handlers:
            if handler not in saved[1]:
                root.removeHandler(handler)
        root.setLevel(saved[0])


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_configure_logging_twice_keeps_one_handler_and_routes_uvicorn(
    logged: io.StringIO,
) -> None:
    # as a uvicorn.Config(log_level="warning") earlier in this process leaves it
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    configure_logging(Settings(log_format="json", log_level="INFO"), logged)
    ours = [h for h in logging.getLogger().handlers if type(h).__name__ == "_Handler"]
    assert len(ours) == 1
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("anchoring.sealer").info("sealed")
    logging.getLogger("anchoring.sealer").debug("not at INFO")
    found = lines(logged)
    assert [(x["logger"], x["message"]) for x in found] == [
        ("uvicorn.error", "Started server process"),
        ("anchoring.sealer", "sealed"),
    ]
    assert logging.getLogger("uvicorn.access").handlers == []
    assert logging.getLogger("uvicorn.access").propagate


def small_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:  # a thread-pool route
        ROUTE_LOG.info("looking up %d", item_id)
        return {"id": item_id}

    @app.post("/v1/evidence")
    async def upload(request: Request) -> dict[str, int]:
        return {"n": len(await request.body())}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unexpected")

    @app.get("/stream")
    def stream() -> StreamingResponse:
        return StreamingResponse(iter([b"a" * 10, b"b" * 10]), media_type="text/plain")

    inner = FastAPI()

    @inner.get("/verify/{leaf}")
    def verify(leaf: str) -> dict[str, str]:
        return {"leaf": leaf}

    app.router.routes.append(Mount("/verifier", app=inner))
    instrument(app)
    return app


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def requests(method: str, route: str, status: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    labels = (("method", method), ("route", route), ("status", status))
    return ("evidence_http_requests_total", labels)


def test_request_id_is_echoed_and_on_log_lines_of_thread_pool_routes(logged: io.StringIO) -> None:
    with TestClient(small_app()) as client:
        response = client.get("/items/7", headers={"X-Request-ID": "abc.DEF-1"})
        assert response.headers["X-Request-ID"] == "abc.DEF-1"
        made = client.get("/items/8", headers={"X-Request-ID": "bad id"})
    assert GENERATED.fullmatch(made.headers["X-Request-ID"])
    route_lines = [x for x in lines(logged) if x["logger"] == ROUTE_LOG.name]
    assert [(x["message"], x["request_id"]) for x in route_lines] == [
        ("looking up 7", "abc.DEF-1"),
        ("looking up 8", made.headers["X-Request-ID"]),
    ]
    assert REQUEST_ID.get() is None  # nothing leaks out of a request


def test_requests_are_counted_by_route_template_never_by_raw_path() -> None:
    with TestClient(small_app(), raise_server_exceptions=False) as client:
        for n in range(3):
            assert client.get(f"/items/{n}").status_code == 200
        assert client.get("/items/not-a-number").status_code == 422
        assert client.get("/no/such/path/1").status_code == 404
        assert client.get("/no/such/path/2").status_code == 404
        assert client.delete("/items/1").status_code == 405
        assert client.get("/verifier/verify/ab12").status_code == 200
        failed = client.get("/boom", headers={"X-Request-ID": "req-500"})
        assert failed.status_code == 500
        assert failed.headers["X-Request-ID"] == "req-500"  # a 500 carries its id too
        assert client.get("/stream").text == "a" * 10 + "b" * 10
        found = samples(client)
    assert found[requests("GET", "/items/{item_id}", "200")] == 3
    assert found[requests("GET", "/items/{item_id}", "422")] == 1
    assert found[requests("GET", UNMATCHED, "404")] == 2
    assert found[requests("DELETE", "/items/{item_id}", "405")] == 1
    assert found[requests("GET", "/verifier/verify/{leaf}", "200")] == 1
    assert found[requests("GET", "/boom", "500")] == 1
    assert found[requests("GET", "/stream", "200")] == 1
    routes = {dict(labels).get("route") for (name, labels) in found if "http" in name}
    assert not any("ab12" in str(r) or "/path/" in str(r) for r in routes), routes
    latency = (
        "evidence_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/items/{item_id}")),
    )
    assert found[latency] == 4


def test_intake_bytes_count_only_upload_bodies_as_they_arrive() -> None:
    with TestClient(small_app()) as client:
        before = samples(client)[("evidence_intake_bytes_total", ())]
        client.post("/v1/evidence", content=b"x" * 5000)
        client.post("/v1/evidence", content=iter([b"y" * 3000, b"z" * 1000]))  # chunked
        client.request("GET", "/items/1", content=b"not an upload")
        after = samples(client)[("evidence_intake_bytes_total", ())]
    assert (before, after) == (0, 9000)


def test_without_a_runtime_the_state_samples_are_left_out_and_the_scrape_succeeds() -> None:
    with TestClient(small_app()) as client:
        found = samples(client)
    assert found[("evidence_metrics_database_up", ())] == 0
    assert not any(name.startswith("evidence_log_size") for name, _ in found)


def test_metrics_is_not_in_the_openapi_document(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data"))
    assert "/metrics" not in app.openapi()["paths"]


def test_metrics_token_is_required_when_configured(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", metrics_token="scrape-s3cret")
    with TestClient(create_app(settings)) as client:
        missing = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer scrape-s3cre"})
        right = client.get("/metrics", headers={"Authorization": "Bearer scrape-s3cret"})
    for refused in (missing, wrong):
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["title"] == "unauthorized"
    assert right.status_code == 200
    assert "evidence_log_size 0.0" in right.text
    assert "evidence_metrics_database_up 1.0" in right.text


def test_metrics_is_open_without_a_token(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as client:
        response = client.get("/metrics", headers={"X-Request-ID": "scrape-1"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "scrape-1"
    assert "evidence_sealing_pending_entries 0.0" in response.text
