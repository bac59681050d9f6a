"""Token administration from the command line, and the data folder admin commands act on.

``evidence admin list-tokens`` shows every token but never its secret; ``revoke-token``
and ``--expires`` take effect on the very next request (no cached principal);
admin commands name their data folder and refuse to make a second deployment in
the wrong directory unless ``--init``; a log whose key has gone missing is not
signed with a new one unless ``--init``.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from evidence_api.core.auth import TOKEN_PREFIX, create_token
from evidence_api.core.config import ConfigurationError, Settings
from evidence_api.core.db import make_engine
from evidence_api.core.models import ApiToken
from evidence_api.runtime import build_runtime
from tests.support.api import (
    EVIDENCE_CLI,
    auth_header,
    create_token_cli,
    running_stack,
    submit,
)


def admin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    return subprocess.run(
        [str(EVIDENCE_CLI), "admin", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_list_tokens_shows_every_token_but_never_its_secret(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"EVIDENCE_DATA_DIR": str(data)}
    officer = create_token_cli(
        env,
        "officer",
        "officer Zhang",
        None,
        "--init",
        "--display-name",
        "张三",
        "--unit",
        "泉州市市场监督管理局",
        "--expires",
        "2031-01-31",
    )
    assert officer.returncode == 0, officer.stderr
    assert officer.stderr.splitlines()[-1] == (
        "token 1 (officer) created, valid until 2031-02-01T00:00:00+00:00; it is shown only once"
    )
    appraiser = create_token_cli(env, "appraiser", "appraiser Li", None, "--expires", "90d")
    assert appraiser.returncode == 0, appraiser.stderr
    revoked = admin(env, "revoke-token", "2")
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stderr.splitlines()[0] == f"data folder {data.resolve()}"
    assert revoked.stderr.splitlines()[1].startswith("token 2 revoked at 20")

    listed = admin(env, "list-tokens")
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr.splitlines() == [f"data folder {data.resolve()}"]
    header, first, second = listed.stdout.splitlines()
    assert header.split() == [
        "id", "name", "display", "name", "unit", "role", "platform", "created", "expires",
        "revoked", "kind", "last", "used",
    ]  # fmt: skip
    assert first.split()[:6] == ["1", "officer", "Zhang", "张三", "泉州市市场监督管理局", "officer"]
    assert first.split()[8:] == ["2031-02-01T00:00:00Z", "-", "api", "-"]
    cells = second.split()
    assert cells[:6] == ["2", "appraiser", "Li", "-", "-", "appraiser"]
    in_90_days = datetime.now(UTC) + timedelta(days=90)
    assert cells[8][:10] == in_90_days.strftime("%Y-%m-%d")
    assert cells[9].startswith("20")  # revoked at
    # Neither plaintext nor hash is printed.
    for made in (officer, appraiser):
        token = made.stdout.strip()
        assert token.startswith(TOKEN_PREFIX)
        assert token not in listed.stdout
        assert token[len(TOKEN_PREFIX) :] not in listed.stdout
    engine = make_engine(Settings(data_dir=data).resolved_database_url)
    with engine.connect() as conn:
        hashes = conn.execute(select(ApiToken.token_hash)).scalars().all()
    engine.dispose()
    assert len(hashes) == 2
    for digest in hashes:
        assert digest not in listed.stdout

    unknown = admin(env, "revoke-token", "99")
    assert (unknown.returncode, unknown.stderr.splitlines()[-1]) == (2, "error: no token 99")
    bad = create_token_cli(env, "officer", "x", None, "--expires", "yesterday")
    assert (bad.returncode, bad.stderr.splitlines()[-1]) == (
        2,
        "error: expires must be a duration (90d, 12h, 30m) or an ISO 8601 date or time",
    )


def test_revoked_and_expired_tokens_are_refused_at_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_stack(Settings(data_dir=data, chain="none")) as stack:
        with stack.runtime.session() as session:
            row, leaving = create_token(session, role="officer", name="leaving officer")
            leaving_id = row.id
            row, temporary = create_token(
                session,
                role="appraiser",
                name="visiting appraiser",
                expires_at=datetime.now(UTC) + timedelta(days=1),
            )
            temporary_id = row.id
        for token in (leaving, temporary):
            assert stack.client.get("/v1/evidence", headers=auth_header(token)).status_code == 200

        # Revoked from the command line while the service runs: the next request fails.
        revoked = admin({"EVIDENCE_DATA_DIR": str(data)}, "revoke-token", str(leaving_id))
        assert revoked.returncode == 0, revoked.stderr
        response = stack.client.get("/v1/evidence", headers=auth_header(leaving))
        assert response.status_code == 401
        assert response.json()["detail"] == "invalid or revoked token"

        # Its expiry passes: the next request fails.
        with stack.runtime.session() as session:
            session.execute(
                update(ApiToken)
                .where(ApiToken.id == temporary_id)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        response = stack.client.get("/v1/evidence", headers=auth_header(temporary))
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["detail"] == "token expired"


def test_admin_commands_refuse_an_empty_data_folder_without_init(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    result = create_token_cli({"EVIDENCE_DATA_DIR": str(elsewhere)}, "officer", "officer Wu")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"data folder {elsewhere.resolve()}",
        f"error: no deployment in {elsewhere.resolve()} (no log key there); run from the "
        "deployment's folder or set EVIDENCE_DATA_DIR, or pass --init to create one",
    ]
    assert not elsewhere.exists()  # no second database, no second key
    listed = admin({"EVIDENCE_DATA_DIR": str(elsewhere)}, "list-tokens")
    assert listed.returncode == 2
    assert not elsewhere.exists()


def test_a_log_without_its_key_is_not_signed_with_a_new_one(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", chain="none")
    with running_stack(settings) as stack:
        assert submit(stack, {"a.html": b"<p>a</p>"}).status_code == 201
    settings.dev_key_path.unlink()  # e.g. the database is elsewhere (PostgreSQL), the key lost

    with pytest.raises(ConfigurationError, match="already holds a log but there is no log key"):
        build_runtime(settings, start_sealer=False, start_supervisor=False)
    assert not settings.dev_key_path.exists()

    runtime = build_runtime(settings, start_sealer=False, start_supervisor=False, init=True)
    runtime.close()
    assert settings.dev_key_path.exists()
