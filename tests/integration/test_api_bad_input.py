"""Bad input to the intake API: each refusal with its exact status, message and
field, and nothing recorded or left behind.

Limits are tested at the edge (the limit passes, one more is refused). The
413 for an oversized file is shown to come *before* the body has been sent,
against a real ``evidence serve`` over a raw socket. Unreachable storage and
an unreachable database answer 503 with ``Retry-After``, never 500, and record
no entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import make_url

from evidence_api.core.config import Settings
from tests.support.api import (
    Server,
    Stack,
    evidence_form,
    free_port,
    fresh_postgres_database,
    metadata,
    multipart_body,
    provision_tokens,
    running_stack,
    s3_settings,
    serve_subprocess,
    submit,
    table_counts,
    tcp_proxy,
)
from tests.support.seaweed import SeaweedS3

MiB = 1 << 20
RECORDS = ("log_entry", "evidence", "evidence_file", "idempotency")

#: Small limits, so that the edges are cheap to reach.
LIMITS: dict[str, Any] = {
    "max_file_bytes": 4096,
    "max_files": 3,
    "max_stamps": 5,
    "max_metadata_bytes": 8192,
    "max_request_bytes": 64 * 1024,
}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(Settings(data_dir=tmp_path / "data", **LIMITS)) as running:
        yield running


def records(stack: Stack) -> dict[str, int]:
    return table_counts(stack.runtime.engine, *RECORDS)


def spooled(settings: Settings) -> list[Path]:
    """Upload temp files left in the spool folder (there must be none after a request)."""
    return sorted(settings.resolved_spool_dir.iterdir())


def post_raw(stack: Stack, body: bytes, content_type: str, role: str = "officer") -> Any:
    return stack.client.post(
        "/v1/evidence",
        content=body,
        headers={**stack.auth(role), "Content-Type": content_type},
    )


def assert_problem(response: Any, status: int, detail: str, field: str | None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["detail"] == detail
    assert problem.get("field") == field


def meta_part(meta: dict[str, Any] | None = None) -> tuple[bytes, bytes]:
    return b'form-data; name="metadata"', json.dumps(meta or metadata()).encode()


def file_part(filename: bytes, content: bytes = b"<p>x</p>") -> tuple[bytes, bytes]:
    return b'form-data; name="files"; filename="' + filename + b'"', content


# --- the multipart form ------------------------------------------------------------


def test_missing_metadata_part(stack: Stack) -> None:
    body, ctype = multipart_body([file_part(b"a.html")])
    assert_problem(post_raw(stack, body, ctype), 422, "metadata part is missing", "metadata")
    assert records(stack) == dict.fromkeys(RECORDS, 0)
    assert spooled(stack.settings) == []


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b'{"source_url": ', "metadata is not valid JSON: Expecting value at line 1 column 16"),
        (b"", "metadata is not valid JSON: Expecting value at line 1 column 1"),
        (b'{"platform": "a", "platform": "b"}', "duplicate key 'platform'"),
        (b'{"notes": NaN}', "NaN is not valid JSON"),
        (b"\xff{}", "metadata is not valid UTF-8 (byte 0)"),
        (b"[]", "metadata: Input should be a valid dictionary or instance of EvidenceMetadata"),
    ],
    ids=["truncated", "empty", "duplicate-key", "nan", "not-utf8", "not-an-object"],
)
def test_invalid_metadata_json(stack: Stack, raw: bytes, detail: str) -> None:
    body, ctype = multipart_body([(b'form-data; name="metadata"', raw), file_part(b"a.html")])
    assert_problem(post_raw(stack, body, ctype), 422, detail, "metadata")
    assert records(stack) == dict.fromkeys(RECORDS, 0)
    assert spooled(stack.settings) == []


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"captured_at": "2026-11-26T10:00:00"},
            "metadata.captured_at",
            "Value error, must include a time zone (e.g. 2026-11-26T14:00:00+08:00)",
        ),
        (
            {"captured_at": "2999-01-01T00:00:00Z"},
            "metadata.captured_at",
            "Value error, is in the future",
        ),
        (
            {"captured_at": "yesterday"},
            "metadata.captured_at",
            "Input should be a valid datetime or date, input is too short",
        ),
        (
            {"source_url": "ftp://shop.example.com/"},
            "metadata.source_url",
            "Value error, must be an http:// or https:// URL",
        ),
        (
            {"source_url": "javascript:alert(1)"},
            "metadata.source_url",
            "Value error, must be an http:// or https:// URL",
        ),
        (
            {"source_url": "https://shop.example.com/a b"},
            "metadata.source_url",
            "Value error, must not contain spaces or control characters",
        ),
        ({"uploader": "张三"}, "metadata.uploader", "Extra inputs are not permitted"),
        ({"platform": ""}, "metadata.platform", "String should have at least 1 character"),
        ({"platform": None}, "metadata.platform", "Input should be a valid string"),
        ({"notes": "x" * 4097}, "metadata.notes", "String should have at most 4096 characters"),
        (
            {"capture_environment": {"os": "x" * 257}},
            "metadata.capture_environment.os",
            "String should have at most 256 characters",
        ),
        (
            {"capture_environment": {f"k{i}": "v" for i in range(64)}},
            "metadata.capture_environment",
            "Dictionary should have at most 63 items after validation, not more",
        ),
        (
            {"capture_environment": {"recorded_by": "server"}},
            "metadata.capture_environment",
            "Value error, recorded_by is set by the server (officer for uploads, server for "
            "captures)",
        ),
    ],
    ids=[
        "captured_at-naive",
        "captured_at-future",
        "captured_at-garbage",
        "source_url-ftp",
        "source_url-javascript",
        "source_url-space",
        "unknown-field",
        "platform-empty",
        "platform-null",
        "notes-too-long",
        "environment-value-too-long",
        "environment-too-many",
        "environment-recorded-by-typed",
    ],
)
def test_invalid_metadata_field(
    stack: Stack, overrides: dict[str, Any], field: str, message: str
) -> None:
    meta = metadata(**overrides)
    response = submit(stack, {"a.html": b"<p>a</p>"}, meta)
    assert_problem(response, 422, f"{field}: {message}", field)
    assert records(stack) == dict.fromkeys(RECORDS, 0)


def test_missing_metadata_field(stack: Stack) -> None:
    meta = metadata()
    del meta["source_url"]
    response = submit(stack, {"a.html": b"<p>a</p>"}, meta)
    assert_problem(response, 422, "metadata.source_url: Field required", "metadata.source_url")


def metadata_of_size(size: int) -> dict[str, Any]:
    """Valid metadata whose JSON (as :func:`evidence_form` sends it) is exactly ``size`` bytes."""
    meta = metadata(capture_environment={})
    env: dict[str, str] = meta["capture_environment"]
    while size - len(json.dumps(meta).encode()) > 300:
        env[f"p{len(env):02d}"] = "x" * 200
    env["last"] = ""
    env["last"] = "x" * (size - len(json.dumps(meta).encode()))
    assert len(json.dumps(meta).encode()) == size
    return meta


def test_metadata_part_over_its_limit(stack: Stack) -> None:
    at_limit = metadata_of_size(LIMITS["max_metadata_bytes"])
    assert submit(stack, {"a.html": b"a"}, at_limit).status_code == 201
    over = metadata_of_size(LIMITS["max_metadata_bytes"] + 1)
    assert_problem(
        submit(stack, {"b.html": b"b"}, over),
        413,
        f"metadata part exceeds {LIMITS['max_metadata_bytes']} bytes",
        "metadata",
    )
    assert records(stack)["evidence"] == 1


def test_file_at_the_limit_passes_and_one_byte_more_is_refused(stack: Stack) -> None:
    limit = LIMITS["max_file_bytes"]
    assert submit(stack, {"at-limit.bin": b"\x01" * limit}).status_code == 201
    before = records(stack)
    response = submit(stack, {"small.txt": b"ok", "over.bin": b"\x02" * (limit + 1)})
    assert_problem(response, 413, f"file 'over.bin' exceeds the limit of {limit} bytes", "files")
    assert records(stack) == before
    assert spooled(stack.settings) == []  # neither the refused file nor the one before it


def test_declared_body_over_the_request_limit(stack: Stack) -> None:
    limit = LIMITS["max_request_bytes"]
    response = submit(stack, {"a.bin": b"\x00" * 4000, "b.bin": b"\x01" * 4000})
    assert response.status_code == 201
    body, ctype = multipart_body([meta_part(), file_part(b"c.bin", b"\x00" * limit)])
    assert_problem(
        post_raw(stack, body, ctype),
        413,
        f"request body of {len(body)} bytes exceeds the limit of {limit}",
        None,
    )


def test_file_count_at_the_limit_passes_and_one_more_is_refused(stack: Stack) -> None:
    limit = LIMITS["max_files"]
    files = {f"f{i}.html": f"<p>{i}</p>".encode() for i in range(limit)}
    assert submit(stack, files).status_code == 201
    before = records(stack)
    response = submit(stack, {**files, "one-more.html": b"<p>+1</p>"})
    assert_problem(response, 422, f"too many files: at most {limit} per submission", "files")
    assert records(stack) == before
    assert spooled(stack.settings) == []


def test_no_files(stack: Stack) -> None:
    response = submit(stack, {})
    assert_problem(response, 422, "at least one file is required", "files")
    assert records(stack) == dict.fromkeys(RECORDS, 0)


@pytest.mark.parametrize(
    ("filename", "detail"),
    [
        (b"../etc/passwd", "file name '../etc/passwd' contains a path (no '/', '\\', '.' or '..')"),
        (b"a\\b", "file name 'a\\\\b' contains a path (no '/', '\\', '.' or '..')"),
        (b"/etc/passwd", "file name '/etc/passwd' contains a path (no '/', '\\', '.' or '..')"),
        (b"..", "file name '..' contains a path (no '/', '\\', '.' or '..')"),
        (b".", "file name '.' contains a path (no '/', '\\', '.' or '..')"),
        (b"a\x00b.html", "file name contains a NUL character"),
        (b"a\x01b.html", "file name contains a control character"),
        (b"a\x7fb.html", "file name contains a control character"),
        (b"", "file name is empty"),
        (b"\xff\xfe.html", "file name is not valid UTF-8"),
        (b"x" * 256, "file name exceeds 255 bytes"),
        ("页".encode() * 86, "file name exceeds 255 bytes"),  # 86 characters, 258 bytes
    ],
    ids=[
        "dot-dot-slash",
        "backslash",
        "absolute",
        "dot-dot",
        "dot",
        "nul",
        "control",
        "delete",
        "empty",
        "not-utf8",
        "256-bytes",
        "258-bytes-in-86-characters",
    ],
)
def test_bad_file_name(stack: Stack, filename: bytes, detail: str) -> None:
    body, ctype = multipart_body([meta_part(), file_part(filename)])
    assert_problem(post_raw(stack, body, ctype), 422, detail, "files")
    assert records(stack) == dict.fromkeys(RECORDS, 0)
    assert spooled(stack.settings) == []


def test_file_name_of_255_bytes_is_kept_exactly(stack: Stack) -> None:
    name = "页".encode() * 85  # 255 bytes
    body, ctype = multipart_body([meta_part(), file_part(name, b"<p>x</p>")])
    response = post_raw(stack, body, ctype)
    assert response.status_code == 201, response.text
    assert response.json()["files"][0]["name"] == name.decode()


def test_duplicate_file_names(stack: Stack) -> None:
    body, ctype = multipart_body(
        [meta_part(), file_part(b"a.html", b"one"), file_part(b"a.html", b"two")]
    )
    assert_problem(post_raw(stack, body, ctype), 422, "duplicate file name 'a.html'", "files")
    assert records(stack) == dict.fromkeys(RECORDS, 0)
    assert spooled(stack.settings) == []


@pytest.mark.parametrize(
    ("parts", "status", "detail", "field"),
    [
        (
            [(b'form-data; name="files"', b"x")],
            422,
            "a files part needs a filename",
            "files",
        ),
        (
            [(b'form-data; name="other"', b"x")],
            422,
            "unexpected form field 'other' (expected 'metadata' and 'files')",
            "other",
        ),
        (
            [(b'form-data; name="metadata"', b"{}")],
            422,
            "more than one metadata part",
            "metadata",
        ),
        (
            [(b"attachment", b"x")],
            400,
            "every part needs Content-Disposition: form-data; name=...",
            None,
        ),
    ],
    ids=["files-without-filename", "unexpected-field", "two-metadata-parts", "not-form-data"],
)
def test_malformed_parts(
    stack: Stack, parts: list[tuple[bytes, bytes]], status: int, detail: str, field: str | None
) -> None:
    body, ctype = multipart_body([meta_part(), *parts])
    assert_problem(post_raw(stack, body, ctype), status, detail, field)
    assert records(stack) == dict.fromkeys(RECORDS, 0)
    assert spooled(stack.settings) == []


def test_body_that_is_not_a_complete_multipart_form(stack: Stack) -> None:
    body, ctype = multipart_body([meta_part(), file_part(b"a.html")])
    truncated = body[: body.index(b"<p>x</p>") + 4]
    assert_problem(post_raw(stack, truncated, ctype), 400, "multipart body is truncated", None)
    assert spooled(stack.settings) == []
    assert_problem(
        post_raw(stack, b'{"a": 1}', "application/json"),
        400,
        "Content-Type must be multipart/form-data with a boundary",
        None,
    )
    no_type = stack.client.post("/v1/evidence", content=b"x", headers=stack.auth("officer"))
    assert_problem(
        no_type, 400, "Content-Type multipart/form-data with a boundary is required", None
    )
    assert records(stack) == dict.fromkeys(RECORDS, 0)


def test_bad_idempotency_key_and_evidence_id(stack: Stack) -> None:
    for key in ("has space", "k" * 129, "中文".encode()):
        response = submit(stack, {"a.html": b"a"}, headers={"Idempotency-Key": key})
        assert response.status_code == 422, key
        assert response.json()["field"] == "idempotency-key"
    assert (
        submit(stack, {"a.html": b"a"}, headers={"Idempotency-Key": "k" * 128}).status_code == 201
    )
    response = stack.client.get("/v1/evidence/ev-../../etc", headers=stack.auth("officer"))
    assert response.status_code in (404, 422)
    response = stack.client.get("/v1/evidence/not-an-id", headers=stack.auth("officer"))
    assert_problem(
        response,
        422,
        "evidence_id: String should match pattern '^ev-[0-9a-f]{28}$'",
        "evidence_id",
    )
    unknown = stack.client.get(
        "/v1/evidence/ev-0123456789abcdef0123456789ab", headers=stack.auth("officer")
    )
    assert_problem(unknown, 404, "no evidence 'ev-0123456789abcdef0123456789ab'", None)


# --- /v1/stamps ----------------------------------------------------------------------

GOOD = hashlib.sha256(b"evidence").hexdigest()  # printf evidence | sha256sum


@pytest.mark.parametrize(
    ("digests", "field", "detail"),
    [
        ([GOOD, "zz" * 32], "digests[1]", "digests[1]: must be a SHA-256 digest of 64 hex digits"),
        ([GOOD[:63]], "digests[0]", "digests[0]: must be a SHA-256 digest of 64 hex digits"),
        (
            [GOOD, GOOD, GOOD + "0"],
            "digests[2]",
            "digests[2]: must be a SHA-256 digest of 64 hex digits",
        ),
        ([""], "digests[0]", "digests[0]: must be a SHA-256 digest of 64 hex digits"),
        ([" " + GOOD[1:]], "digests[0]", "digests[0]: must be a SHA-256 digest of 64 hex digits"),
        ([GOOD, 7], "digests[1]", "digests[1]: Input should be a valid string"),
        ([], "digests", "digests: at least one digest is required"),
        ([GOOD] * 6, "digests", "digests: at most 5 per request, got 6"),
    ],
    ids=[
        "non-hex",
        "63-digits",
        "65-digits",
        "empty-string",
        "leading-space",
        "not-a-string",
        "empty-list",
        "one-over-max",
    ],
)
def test_bad_stamp_digests(stack: Stack, digests: list[Any], field: str, detail: str) -> None:
    response = stack.client.post(
        "/v1/stamps", json={"digests": digests}, headers=stack.auth("officer")
    )
    assert_problem(response, 422, detail, field)
    assert records(stack)["log_entry"] == 0


def test_stamps_at_the_limit_and_in_upper_case(stack: Stack) -> None:
    digests = [hashlib.sha256(bytes([i])).hexdigest() for i in range(4)] + [GOOD.upper()]
    response = stack.client.post(
        "/v1/stamps", json={"digests": digests}, headers=stack.auth("officer")
    )
    assert response.status_code == 200, response.text
    assert [r["digest"] for r in response.json()["receipts"]] == [d.lower() for d in digests]
    assert records(stack)["log_entry"] == 5


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        (b'{"digests": "abc"}', "digests", "digests: Input should be a valid list"),
        (b"{}", "digests", "digests: Field required"),
        (b'{"digests": [], "extra": 1}', "extra", "extra: Extra inputs are not permitted"),
        (b'{"digests": [', "body", "body: is not valid JSON"),
    ],
    ids=["not-a-list", "missing", "extra-field", "not-json"],
)
def test_bad_stamp_body(stack: Stack, body: bytes, field: str, detail: str) -> None:
    response = stack.client.post(
        "/v1/stamps",
        content=body,
        headers={**stack.auth("officer"), "Content-Type": "application/json"},
    )
    assert_problem(response, 422, detail, field)


# --- 413 before the body is read, on a real socket -----------------------------------


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, Path]]:
    """``evidence serve`` with a 1 MiB file limit and a 64 MiB request limit."""
    root = tmp_path_factory.mktemp("serve-limits")
    data = root / "data"
    token = provision_tokens(Settings(data_dir=data))["officer"]
    env = {
        "EVIDENCE_DATA_DIR": str(data),
        "EVIDENCE_MAX_FILE_BYTES": str(MiB),
        "EVIDENCE_MAX_REQUEST_BYTES": str(64 * MiB),
    }
    with serve_subprocess(env, root / "serve.log") as server:
        yield server, token, data


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response: {buffer!r}")
        buffer += chunk
    head, _, body = buffer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body[:length]


def _request_head(server: Server, token: str, content_length: int, boundary: str) -> bytes:
    host = urlsplit(server.base_url).netloc
    return (
        f"POST /v1/evidence HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {content_length}\r\n\r\n"
    ).encode()


def test_oversized_file_is_refused_before_the_body_is_sent(
    small_server: tuple[Server, str, Path],
) -> None:
    server, token, data_dir = small_server
    boundary = "limit-test-boundary"
    start, _ = multipart_body([meta_part()], boundary.encode())
    start = start[: -len(f"--{boundary}--\r\n")]  # keep the form open for the file part
    start += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    declared = 50 * MiB
    budget = 2 * MiB  # we send this much of the file, never the rest
    host, port = urlsplit(server.base_url).hostname, urlsplit(server.base_url).port
    assert host is not None and port is not None
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(_request_head(server, token, declared, boundary) + start)
        sent, chunk = len(start), b"\x5a" * 65536
        sock.setblocking(False)
        answered = False
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock] if sent < budget else [], [], 0.5)
            if readable:
                answered = True
                break
            if writable:
                with contextlib.suppress(BlockingIOError):
                    sent += sock.send(chunk)
        assert answered, f"no answer after sending {sent} of {declared} bytes"
        sock.setblocking(True)
        status, headers, body = _read_response(sock)
    assert sent <= budget + len(chunk)
    assert sent < declared
    assert status == 413, body
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["detail"] == f"file 'big.bin' exceeds the limit of {MiB} bytes"
    assert problem["field"] == "files"
    assert sorted((data_dir / "spool").iterdir()) == []


def test_declared_length_over_the_request_limit_is_refused_without_a_body(
    small_server: tuple[Server, str, Path],
) -> None:
    server, token, _ = small_server
    declared = 64 * MiB + 1
    url = urlsplit(server.base_url)
    assert url.hostname is not None and url.port is not None
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(_request_head(server, token, declared, "b"))
        status, _, body = _read_response(sock)
    assert status == 413, body
    assert json.loads(body)["detail"] == (
        f"request body of {declared} bytes exceeds the limit of {64 * MiB}"
    )


# --- storage and database unreachable ------------------------------------------------


def test_storage_unreachable_answers_503_and_records_nothing(tmp_path: Path) -> None:
    nothing_listens = f"127.0.0.1:{free_port()}"
    settings = Settings(
        data_dir=tmp_path / "data", **s3_settings(nothing_listens, "key", "secret-key")
    )
    with running_stack(settings) as stack:
        response = submit(stack, {"a.html": b"<p>a</p>"}, headers={"Idempotency-Key": "try-1"})
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "5"
        assert response.json()["detail"].startswith("evidence storage is unavailable: ")
        assert records(stack) == dict.fromkeys(RECORDS, 0)
        assert spooled(settings) == []

        ready = stack.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.headers["Retry-After"] == "5"
        assert ready.json()["checks"]["database"] == "ok"
        assert ready.json()["checks"]["storage"].startswith("unavailable: ")

        # Stamps carry no files: they do not depend on the store.
        stamps = stack.client.post(
            "/v1/stamps", json={"digests": [GOOD]}, headers=stack.auth("officer")
        )
        assert stamps.status_code == 200


@pytest.mark.s3
def test_storage_lost_after_start_answers_503_and_records_nothing(
    seaweed: SeaweedS3, tmp_path: Path
) -> None:
    host, port = seaweed.endpoint.split(":")
    with tcp_proxy(host, int(port)) as proxy:
        settings = Settings(
            data_dir=tmp_path / "data",
            **s3_settings(f"127.0.0.1:{proxy.port}", seaweed.access_key, seaweed.secret_key),
        )
        with running_stack(settings) as stack:
            first = submit(stack, {"a.html": b"<p>a</p>"})
            assert first.status_code == 201, first.text
            evidence_id = first.json()["evidence_id"]
            before = records(stack)

            proxy.cut()
            lost = submit(stack, {"b.html": b"<p>b</p>"})
            assert lost.status_code == 503, lost.text
            assert lost.headers["Retry-After"] == "5"
            assert lost.json()["detail"].startswith("evidence storage is unavailable: ")
            assert records(stack) == before
            assert spooled(settings) == []

            download = stack.client.get(
                f"/v1/evidence/{evidence_id}/files/a.html",
                params={"purpose": "review"},
                headers=stack.auth("officer"),
            )
            assert download.status_code == 503, download.text
            assert download.headers["Retry-After"] == "5"
            assert records(stack) == before  # no custody entry for a read that did not happen

            proxy.restore()
            again = submit(stack, {"b.html": b"<p>b</p>"})
            assert again.status_code == 201, again.text


@pytest.mark.postgres
def test_database_unreachable_answers_503_never_500(postgres_url: str, tmp_path: Path) -> None:
    with fresh_postgres_database(postgres_url) as url:
        target = make_url(url)
        assert target.host is not None
        with tcp_proxy(target.host, target.port or 5432) as proxy:
            proxied = target.set(host="127.0.0.1", port=proxy.port)
            settings = Settings(
                data_dir=tmp_path / "data",
                database_url=proxied.render_as_string(hide_password=False),
                seal_interval=0.1,
            )
            with running_stack(settings) as stack:
                ok = stack.client.post(
                    "/v1/stamps", json={"digests": [GOOD]}, headers=stack.auth("officer")
                )
                assert ok.status_code == 200, ok.text

                proxy.cut()
                calls = [
                    ("POST", "/v1/stamps", {"json": {"digests": [GOOD]}}),
                    ("POST", "/v1/evidence", {"files": evidence_form({"a.html": b"a"})}),
                    ("GET", "/v1/evidence", {}),
                    ("GET", "/v1/log/checkpoint", {}),
                    ("GET", "/v1/log/proof/inclusion", {"params": {"index": 0}}),
                ]
                for method, path, kwargs in calls:
                    response = stack.client.request(
                        method, path, headers=stack.auth("officer"), **kwargs
                    )
                    assert response.status_code == 503, (path, response.text)
                    assert response.headers["Retry-After"] == "5"
                    assert response.json()["detail"] == "the database is unavailable; retry later"
                ready = stack.client.get("/readyz")
                assert ready.status_code == 503
                assert ready.json()["checks"]["database"].startswith("unavailable: ")
                assert stack.client.get("/healthz").status_code == 200
                assert list(settings.resolved_storage_dir.glob("sha256/*/*")) == []

                # When the database is back, so is the service, sealer included.
                proxy.restore()
                again = stack.client.post(
                    "/v1/stamps", json={"digests": [GOOD]}, headers=stack.auth("officer")
                )
                assert again.status_code == 200, again.text
                deadline = time.monotonic() + 5
                while (cp := stack.client.get("/v1/log/checkpoint")).status_code != 200 or (
                    cp.text.split("\n")[1] != "2"
                ):
                    assert time.monotonic() < deadline, cp.text
                    time.sleep(0.05)
