"""``evidence_api.core.db.upgrade`` skips Alembic for a database already at the newest
migration (a fast restart), and only then: ``HEAD`` is Alembic's own head, a new or older
database is migrated as before, and an explicit revision always goes through Alembic."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from evidence_api.core import db


def test_head_is_alembics_one_head() -> None:
    heads = ScriptDirectory.from_config(db.alembic_config("sqlite://")).get_heads()
    assert heads == [db.HEAD]


def test_a_database_at_head_is_not_migrated_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'evidence.db'}"
    assert db.current_revisions(url) == set()
    db.upgrade(url)  # a new database: Alembic runs
    assert db.current_revisions(url) == {db.HEAD}
    calls: list[str] = []
    monkeypatch.setattr(command, "upgrade", lambda cfg, revision: calls.append(revision))
    db.upgrade(url)
    assert calls == []
    db.upgrade(url, "head~1")  # an explicit revision is Alembic's to judge
    assert calls == ["head~1"]


def test_an_older_database_is_migrated_to_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'evidence.db'}"
    command.upgrade(db.alembic_config(url), "0010_webhook_secrets")
    assert db.current_revisions(url) == {"0010_webhook_secrets"}
    db.upgrade(url)
    assert db.current_revisions(url) == {db.HEAD}
