"""Text with NUL (0x00) on PostgreSQL: SQLite stores it, PostgreSQL refuses it, and a
value that passed validation must not then read as an outage. Every such refusal is a
422 naming the cause, never a 503 (which tells the client to retry) nor a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence_api.core.config import Settings
from tests.support.api import Stack, fresh_postgres_database, running_stack

NUL = "a\x00b"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Stack]:
    data: Path = tmp_path_factory.mktemp("nul") / "data"
    with fresh_postgres_database(postgres_url) as url:
        settings = Settings(database_url=url, data_dir=data, run_supervisor=False)
        with running_stack(settings) as running:
            yield running


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/v1/entities", "q"),  # a free-text search
        ("/v1/clues", "unit"),  # a unit code looked up as given
        ("/v1/entities", "unit"),
        ("/v1/public/penalties", "q"),
    ],
)
def test_nul_in_a_query_is_422(stack: Stack, path: str, param: str) -> None:
    reply = stack.client.get(path, params={param: NUL}, headers=stack.auth("officer"))
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert "retry-after" not in reply.headers


def test_the_database_s_own_refusal_names_nul(stack: Stack) -> None:
    reply = stack.client.get("/v1/entities", params={"q": NUL}, headers=stack.auth("officer"))
    assert reply.json()["detail"] == "text must not contain NUL (0x00) characters"
    # and the service is still there for the next request
    assert stack.client.get("/v1/entities", headers=stack.auth("officer")).status_code == 200
