"""The README stays true to the code: every setting documented, quickstart commands real."""

from __future__ import annotations

import re
from pathlib import Path

from evidence_api.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_configuration_table() -> None:
    documented = set(re.findall(r"^\| `(EVIDENCE_[A-Z0-9_]+)` \|", README, re.MULTILINE))
    expected = {f"EVIDENCE_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected


def test_quickstart_targets_exist_in_the_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    first_screen = README[: README.index("## What is here")]
    for target in re.findall(r"^make (\w+)", first_screen, re.MULTILINE):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target
    assert "make run" in first_screen and "make test" in first_screen


def test_ci_calls_make_test() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def _shell_blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", README, re.MULTILINE | re.DOTALL)


def test_urls_in_shell_examples_are_sent_as_typed() -> None:
    """curl sends a URL's bytes as they are: a raw 司法鉴定 in a query string is refused by
    the server (400) and ``-o`` saves the error page silently. Queries with non-ASCII
    values go through ``-G --data-urlencode`` instead."""
    blocks = _shell_blocks()
    assert blocks
    urls = [u for block in blocks for u in re.findall(r"https?://[^\s\"']+", block)]
    assert any("/package" in u for u in urls)
    for url in urls:  # (a path may hold a placeholder such as ev-…; a query may not)
        assert url.partition("?")[2].isascii(), url
    joined = "\n".join(blocks).replace("\\\n", " ")
    package = next(line for line in joined.splitlines() if "/package" in line)
    assert re.search(r"\bcurl\b.*\s-\w*G\w*\s", package), package
    assert '--data-urlencode "purpose=司法鉴定"' in package
    assert re.search(r"\s-\w*f\w*\s", package), "curl -f: an error is not saved as ev.zip"


def test_readme_names_what_make_needs() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    first_screen = README[: README.index("## What is here")]
    assert "npm ci" in makefile
    assert "Needs only" not in first_screen
    for needed in ("Python 3.11+", "`make`", "Node.js", "`npm`", "chromium", "redis-server"):
        assert needed in first_screen, needed


def test_admin_commands_are_documented() -> None:
    from evidence_api.cli import admin_app  # noqa: PLC0415

    names = {c.name for c in admin_app.registered_commands}
    assert {"create-token", "list-tokens", "revoke-token", "create-platform"} <= names
    for name in names:
        assert f"`evidence admin {name}" in README, name
    assert "--init" in README and "data folder" in README
