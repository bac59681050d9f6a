"""``evidence admin`` for console users, in a subprocess: the password comes from a hidden
prompt or stdin (never an argument) and never appears in the output; list, disable,
unlock and reset act on the deployment's database and are audited as ``cli``; ``evidence
serve``'s banner names the console and, with no user yet, how to create the first."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from evidence_api.accounts import service
from evidence_api.cli import _banner
from evidence_api.core.config import Settings
from evidence_api.core.db import make_engine
from evidence_api.core.models import AuditEvent, User
from tests.support.api import EVIDENCE_CLI
from tests.support.offline import offline_runtime

SECRET = "a-cli-passphrase-9f3c"  # the string that must never be printed


def admin(
    data: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``evidence admin ARGS`` on ``data`` with no other ``EVIDENCE_*`` setting than ``env``'s
    (the suite's cheaper password profile included: the default applies)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    return subprocess.run(
        [str(EVIDENCE_CLI), "admin", *args],
        env={**clean, **(env or {}), "EVIDENCE_DATA_DIR": str(data)},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def users(data: Path) -> dict[str, User]:
    engine = make_engine(Settings(data_dir=data).resolved_database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(User)).all()
        return {row.username: row for row in rows}  # type: ignore[misc]
    finally:
        engine.dispose()


def events(data: Path, kind: str) -> list[tuple[str | None, str | None]]:
    engine = make_engine(Settings(data_dir=data).resolved_database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(AuditEvent.actor, AuditEvent.subject).where(AuditEvent.kind == kind)
            ).all()
        return [(actor, subject) for actor, subject in rows]
    finally:
        engine.dispose()


def never_printed(*runs: subprocess.CompletedProcess[str]) -> None:
    for run in runs:
        assert SECRET not in run.stdout and SECRET not in run.stderr


def test_create_user_reads_the_password_from_stdin_or_a_hidden_prompt(tmp_path: Path) -> None:
    data = tmp_path / "data"
    piped = admin(
        data, "create-user", "--username", "zhangsan", "--display-name", "张三",
        "--role", "officer", "--unit", "泉州市市场监督管理局", "--password-stdin", "--init",
        stdin=SECRET + "\n",
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert "user 1 'zhangsan' (officer) created" in piped.stderr
    prompted = admin(
        data, "create-user", "--username", "lisi", "--display-name", "李四", "--role", "admin",
        stdin=f"{SECRET}\n{SECRET}\n",
    )  # fmt: skip
    assert prompted.returncode == 0, prompted.stderr
    assert "Password" in prompted.stderr  # asked, on stderr (twice: the confirmation)
    never_printed(piped, prompted)
    found = users(data)
    assert set(found) == {"zhangsan", "lisi"}
    assert found["zhangsan"].unit == "泉州市市场监督管理局"
    assert SECRET not in found["zhangsan"].password_hash
    # the default profile (RFC 9106's low-memory option)
    assert found["zhangsan"].password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert sorted(events(data, "user_created")) == [
        ("cli", "user:lisi"),
        ("cli", "user:zhangsan"),
    ]


def test_the_password_profile_setting_sets_the_hash_parameters(tmp_path: Path) -> None:
    created = admin(
        tmp_path / "data", "create-user", "--username", "wangwu", "--display-name", "王五",
        "--role", "officer", "--password-stdin", "--init",
        stdin=SECRET + "\n", env={"EVIDENCE_PASSWORD_PROFILE": "owasp-minimum"},
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    stored = users(tmp_path / "data")["wangwu"].password_hash
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    refused = admin(tmp_path / "data", "list-users", env={"EVIDENCE_PASSWORD_PROFILE": "md5"})
    assert refused.returncode == 2
    assert refused.stderr == (
        "error: invalid setting: EVIDENCE_PASSWORD_PROFILE: "
        "Input should be 'rfc9106-low-memory' or 'owasp-minimum'\n"
    )


@pytest.mark.parametrize(
    ("args", "stdin", "reason"),
    [
        (("--username", "Bad Name"), SECRET, "username must be 1..64"),
        (("--username", "wangwu", "--role", "boss"), SECRET, "role must be one of"),
        (("--username", "wangwu"), "tiny-pw", "password must be 10..256 characters"),
        (("--username", "wangwu", "--role", "platform"), SECRET, "platform"),
    ],
)
def test_create_user_refuses_with_the_reason_and_never_echoes_the_password(
    tmp_path: Path, args: tuple[str, ...], stdin: str, reason: str
) -> None:
    base = {"--username": "wangwu", "--display-name": "王五", "--role": "officer"}
    given = dict(zip(args[::2], args[1::2], strict=True))
    flat = [part for key, value in (base | given).items() for part in (key, value)]
    refused = admin(tmp_path / "data", "create-user", *flat, "--password-stdin", "--init",
                    stdin=stdin + "\n")  # fmt: skip
    assert refused.returncode == 2
    assert reason in refused.stderr
    assert stdin not in refused.stdout + refused.stderr


def test_the_password_is_never_an_argument(tmp_path: Path) -> None:
    refused = admin(
        tmp_path / "data", "create-user", "--username", "x1", "--display-name", "x",
        "--role", "officer", "--password", SECRET,
    )  # fmt: skip
    assert refused.returncode == 2 and "No such option" in refused.stderr


def test_list_disable_unlock_and_reset_users(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = admin(
        data, "create-user", "--username", "zhaoliu", "--display-name", "赵六",
        "--role", "officer", "--password-stdin", "--init", stdin=SECRET,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    listed = admin(data, "list-users")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split()[:3] == ["id", "username", "display"]
    assert row.split() == ["1", "zhaoliu", "赵六", "-", "officer", "-", "off", "active"]

    assert admin(data, "disable-user", "zhaoliu").returncode == 0
    assert "disabled 20" in admin(data, "list-users").stdout
    assert admin(data, "enable-user", "zhaoliu").returncode == 0

    engine = make_engine(Settings(data_dir=data).resolved_database_url)
    with engine.begin() as conn:
        conn.execute(update(User).values(locked_until=datetime.now(UTC) + timedelta(hours=1)))
    engine.dispose()
    assert "locked until" in admin(data, "list-users").stdout
    assert admin(data, "unlock-user", "zhaoliu").returncode == 0
    assert admin(data, "list-users").stdout.splitlines()[1].split()[-1] == "active"

    new = SECRET + "-new"
    reset = admin(data, "reset-password", "zhaoliu", "--password-stdin", stdin=new + "\n")
    assert reset.returncode == 0, reset.stderr
    assert new not in reset.stdout + reset.stderr
    unknown = admin(data, "disable-user", "nobody")
    assert unknown.returncode == 2 and "no user 'nobody'" in unknown.stderr
    for kind in ("user_disabled", "user_enabled", "user_unlocked", "password_reset"):
        assert events(data, kind) == [("cli", "user:zhaoliu")], kind
    with offline_runtime(data) as runtime, runtime.session() as session:
        result = service.login(
            session,
            username="zhaoliu",
            password=new,
            totp_code=None,
            client=None,
            user_agent=None,
            settings=runtime.settings,
            now=datetime.now(UTC),
        )
        assert result.user.username == "zhaoliu"


def test_token_commands_are_audited(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = admin(data, "create-token", "--role", "officer", "--name", "bot", "--init")
    assert made.returncode == 0, made.stderr
    assert admin(data, "revoke-token", "1").returncode == 0
    assert events(data, "token_created") == [("cli", "token-1")]
    assert events(data, "token_revoked") == [("cli", "token-1")]


def test_the_banner_names_the_console_and_the_first_user_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with offline_runtime(tmp_path / "data") as runtime:
        _banner(runtime, "http://127.0.0.1:8000", None)
        first = capsys.readouterr().out
        assert "Console (web pages for officers, platforms, administrators): " in first
        assert "http://127.0.0.1:8000/console" in first
        assert "evidence admin create-user --username admin" in first
        with runtime.session() as session:
            service.create_user(
                session, username="admin", password=SECRET, display_name="管理员", role="admin"
            )
        _banner(runtime, "http://127.0.0.1:8000", None)
        later = capsys.readouterr().out
        assert "http://127.0.0.1:8000/console" in later and "create-user" not in later
