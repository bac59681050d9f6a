"""``evidence units``: every argument bounded before the database is asked. A token id out of
``api_token.id``'s 32-bit range, a code or login name outside its alphabet or longer than 64,
bytes that are not UTF-8: one ``error:`` line and exit 2, never a traceback. No deployment
is needed, so none is made (the PostgreSQL run is in tests/integration/test_jurisdiction.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence_api.core.config import get_settings
from evidence_api.units.cli import REFUSED, TOKEN_ID_MAX, app

CODE_PATTERN = "String should match pattern '^[a-z0-9][a-z0-9._-]{0,63}$'"
NOT_UTF8 = "Input should be a valid string, unable to parse raw data as a unicode string"


@pytest.fixture(autouse=True)
def _no_deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("EVIDENCE_DATA_DIR", str(tmp_path / "none"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def refused(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == REFUSED, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stdout == ""
    return lines[0]


@pytest.mark.parametrize(
    ("token", "shown"),
    [
        ("-5", "-5"),
        ("0", "0"),
        (str(TOKEN_ID_MAX + 1), "2147483648"),
        ("9" * 30, "9" * 30),
    ],
    ids=["negative", "zero", "limit-plus-one", "thirty-digits"],
)
def test_a_token_id_out_of_range_is_refused(token: str, shown: str) -> None:
    line = refused("assign", "fj.qz", "--token", token)
    assert line == f"error: --token: {shown} is not a token id (1..2147483647)"


def test_a_token_id_at_the_limit_passes_the_bound() -> None:
    # the next refusal is the missing deployment: the id itself was accepted
    assert "no deployment" in refused("assign", "fj.qz", "--token", str(TOKEN_ID_MAX))
    assert "no deployment" in refused("assign", "fj.qz", "--token", "1")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["assign", "FJ", "--token", "1"], f"error: code: {CODE_PATTERN}"),
        (["assign", "a" * 65, "--token", "1"], f"error: code: {CODE_PATTERN}"),
        (["assign", "a\udcff", "--token", "1"], f"error: code: {NOT_UTF8}"),
        (["assign", "fj", "--user", "x" * 100_000], f"error: --user: {CODE_PATTERN}"),
        (["assign", "fj", "--user", "a\udcff"], f"error: --user: {NOT_UTF8}"),
        (["list", "--under", "a b"], f"error: --under: {CODE_PATTERN}"),
        (["tree", "--under", "a\udcff"], f"error: --under: {NOT_UTF8}"),
        (["add", "zz", "a\udcff", "--level", "city"], f"error: name: {NOT_UTF8}"),
    ],
    ids=[
        "code-upper-case",
        "code-65-chars",
        "code-not-utf8",
        "user-100000-chars",
        "user-not-utf8",
        "under-with-space",
        "tree-under-not-utf8",
        "add-name-not-utf8",
    ],
)
def test_text_outside_its_alphabet_is_refused(args: list[str], line: str) -> None:
    assert refused(*args) == line


def test_a_code_of_64_and_the_dash_pass_the_bound() -> None:
    assert "no deployment" in refused("assign", "a" * 64, "--token", "1")
    assert "no deployment" in refused("assign", "-", "--user", "zhangsan")
