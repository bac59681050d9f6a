"""Inputs at the edges of what the service represents: each a precise 4xx, never a 500.

Found by running the service as an attacker would: a capture time whose UTC
form falls in year 0 or year 10000 (Python's ``OverflowError``), a file part
whose media type is longer than the manifest records (a validation error while
building the manifest), and a Windows-style file name that the multipart
parser shortened silently (``C:\\x`` became ``x``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence_api.core.config import Settings
from tests.support.api import Stack, metadata, running_stack, table_counts

RECORDS = ("log_entry", "evidence", "evidence_file")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(Settings(data_dir=tmp_path / "data")) as running:
        yield running


def form(
    filename: bytes, media_type: bytes, meta: dict[str, object] | None = None
) -> tuple[bytes, str]:
    boundary = b"edge-boundary"
    out = b"--" + boundary + b'\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n'
    out += json.dumps(meta or metadata()).encode() + b"\r\n"
    out += b"--" + boundary + b'\r\nContent-Disposition: form-data; name="files"; filename="'
    out += filename + b'"\r\nContent-Type: ' + media_type + b"\r\n\r\n<p>x</p>\r\n"
    out += b"--" + boundary + b"--\r\n"
    return out, f"multipart/form-data; boundary={boundary.decode()}"


def post(stack: Stack, body: bytes, ctype: str) -> object:
    return stack.client.post(
        "/v1/evidence", content=body, headers={**stack.auth("officer"), "Content-Type": ctype}
    )


def problem_of(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    return body


RANGE = "must lie between 1970-01-01T00:00:00Z and 2999-12-31T23:59:59Z"


@pytest.mark.parametrize(
    "captured_at",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1969-12-31T23:59:59Z"],
    ids=["utc-year-0", "utc-year-10000", "before-1970"],
)
def test_capture_time_outside_the_range_is_a_422(stack: Stack, captured_at: str) -> None:
    body, ctype = form(b"a.html", b"text/html", metadata(captured_at=captured_at))
    problem = problem_of(post(stack, body, ctype), 422)
    assert problem["detail"] == f"metadata.captured_at: Value error, {RANGE}"
    assert problem["field"] == "metadata.captured_at"
    assert table_counts(stack.runtime.engine, *RECORDS) == dict.fromkeys(RECORDS, 0)


def test_media_type_of_127_characters_is_kept_and_128_or_129_refused(stack: Stack) -> None:
    kept = b"a" * 63 + b"/" + b"b" * 63  # 127
    response = post(stack, *form(b"a.bin", kept))
    assert response.status_code == 201, response.text  # type: ignore[attr-defined]
    assert response.json()["files"][0]["media_type"] == kept.decode()  # type: ignore[attr-defined]
    for media in (b"a" * 64 + b"/" + b"b" * 63, b"a" * 64 + b"/" + b"b" * 64):  # 128, 129
        problem = problem_of(post(stack, *form(b"b.bin", media)), 422)
        assert problem["detail"] == "file 'b.bin': Content-Type exceeds 127 characters"
        assert problem["field"] == "files"
    assert table_counts(stack.runtime.engine, "evidence")["evidence"] == 1


@pytest.mark.parametrize("filename", [b"C:\\x", b"\\\\server\\share\\x", b"a\\b.html"])
def test_windows_path_names_are_refused_not_shortened(stack: Stack, filename: bytes) -> None:
    problem = problem_of(post(stack, *form(filename, b"text/html")), 422)
    assert "contains a path" in str(problem["detail"])
    assert table_counts(stack.runtime.engine, *RECORDS) == dict.fromkeys(RECORDS, 0)


@pytest.mark.parametrize("param", ["since", "until"])
def test_list_time_filters_outside_the_range_are_a_422(stack: Stack, param: str) -> None:
    response = stack.client.get(
        "/v1/evidence",
        params={param: "0001-01-01T00:00:00+14:00"},
        headers=stack.auth("officer"),
    )
    problem = problem_of(response, 422)
    assert problem["detail"] == f"{param}: Value error, {RANGE}"


def test_takedown_deadline_outside_the_range_is_a_422(stack: Stack) -> None:
    response = stack.client.post(
        "/v1/takedowns",
        json={
            "platform": "example-mall",
            "listing_urls": ["https://shop.example.com/item/1"],
            "reason": "x",
            "legal_basis": "y",
            "evidence_ids": ["ev-" + "0" * 28],
            "deadline": "9999-12-31T23:59:59-14:00",
        },
        headers=stack.auth("officer"),
    )
    problem = problem_of(response, 422)
    assert problem["detail"] == f"deadline: Value error, deadline {RANGE}"
