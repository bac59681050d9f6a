"""The accounts service on an offline SQLite runtime: lockout arithmetic, a session per
login, sessions ended by disabling, password changes and token revocation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from evidence_api.accounts import audit, passwords, service
from evidence_api.core import sessions
from evidence_api.core.auth import revoke_token
from evidence_api.core.errors import ConflictError, ForbiddenError, InvalidInputError
from evidence_api.core.models import ApiToken, User
from evidence_api.runtime import Runtime
from tests.support.offline import offline_runtime

PASSWORD = "a long passphrase"  # a test fixture


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    with offline_runtime(tmp_path / "data", login_failure_limit=3, login_lockout=600) as built:
        yield built


def create(runtime: Runtime, username: str = "zhangsan", role: str = "officer") -> int:
    with runtime.session() as session:
        user = service.create_user(
            session,
            username=username,
            password=PASSWORD,
            display_name="张三",
            role=role,
            unit="泉州市市场监督管理局",
        )
        return user.id


def attempt(runtime: Runtime, password: str, now: datetime, username: str = "zhangsan") -> str:
    """``ok`` or the refusal's detail; the failure count commits either way."""
    with runtime.session() as session:
        try:
            service.login(
                session,
                username=username,
                password=password,
                totp_code=None,
                client="127.0.0.1",
                user_agent="pytest",
                settings=runtime.settings,
                now=now,
            )
        except service.LoginFailedError as exc:
            return exc.detail
    return "ok"


def test_a_user_acts_through_its_own_token_row(runtime: Runtime) -> None:
    user_id = create(runtime)
    with runtime.session() as session:
        user = service.get_user(session, user_id)
        token = session.get(ApiToken, user.token_id)
        assert token is not None
        assert (token.kind, token.name, token.role) == ("user", "user:zhangsan", "officer")
        assert (token.display_name, token.unit) == ("张三", "泉州市市场监督管理局")
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
        created = audit.list_events(session, kind="user_created")
        assert [e.subject for e in created] == ["user:zhangsan"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"username": "Zhang San"}, "username"),
        ({"username": "-x"}, "username"),
        ({"role": "boss"}, "role"),
        ({"role": "platform"}, "platform"),
        ({"platform": "example-mall"}, "platform"),
        ({"password": "short"}, "password"),
        ({"display_name": ""}, "display_name"),
    ],
)
def test_bad_users_are_refused_by_field(
    runtime: Runtime, changes: dict[str, str], field: str
) -> None:
    values = {"username": "lisi", "password": PASSWORD, "display_name": "李四", "role": "officer"}
    with runtime.session() as session, pytest.raises(InvalidInputError) as refused:
        service.create_user(session, **(values | changes))
    assert refused.value.field == field


def test_a_username_is_taken_once(runtime: Runtime) -> None:
    create(runtime)
    with pytest.raises(ConflictError):
        create(runtime)


def test_lockout_after_the_limit_until_the_time_passes(runtime: Runtime) -> None:
    create(runtime)
    now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    assert attempt(runtime, "wrong one 1", now) == service.WRONG
    assert attempt(runtime, "wrong one 2", now) == service.WRONG
    locked = attempt(runtime, "wrong one 3", now)  # the third: locked for 600 s
    assert locked == "too many failed logins; try again after 2026-12-03 08:10 UTC"
    assert attempt(runtime, PASSWORD, now + timedelta(seconds=599)).startswith("too many")
    assert attempt(runtime, PASSWORD, now + timedelta(seconds=600)) == "ok"
    with runtime.session() as session:
        user = session.execute(select(User)).scalar_one()
        assert user.failed_logins == 0 and user.locked_until is None
        assert len(audit.list_events(session, kind="locked")) == 1


def test_unknown_users_and_disabled_users_get_the_same_answer(runtime: Runtime) -> None:
    user_id = create(runtime)
    now = datetime.now(UTC)
    assert attempt(runtime, PASSWORD, now, username="nobody") == service.WRONG
    with runtime.session() as session:
        service.set_disabled(session, user_id, True, actor="cli")
    assert attempt(runtime, PASSWORD, now) == service.WRONG
    with runtime.session() as session:
        service.set_disabled(session, user_id, False, actor="cli")
    assert attempt(runtime, PASSWORD, now) == "ok"


def test_a_weak_stored_hash_is_replaced_at_login(runtime: Runtime) -> None:
    from argon2 import PasswordHasher  # noqa: PLC0415

    user_id = create(runtime)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with runtime.session() as session:
        service.get_user(session, user_id).password_hash = weak
    assert attempt(runtime, PASSWORD, datetime.now(UTC)) == "ok"
    with runtime.session() as session:
        stored = service.get_user(session, user_id).password_hash
    assert stored != weak and passwords.verify_password(stored, PASSWORD) == (True, False)


def login_cookie(runtime: Runtime, now: datetime) -> tuple[str, int]:
    with runtime.session() as session:
        result = service.login(
            session,
            username="zhangsan",
            password=PASSWORD,
            totp_code=None,
            client=None,
            user_agent=None,
            settings=runtime.settings,
            now=now,
        )
        return result.cookie, result.row.id


def resolve(runtime: Runtime, cookie: str, now: datetime) -> sessions.SessionInfo | None:
    with runtime.session() as session:
        return sessions.resolve(session, cookie, runtime.settings, now)


def test_sessions_end_when_idle_at_their_lifetime_or_when_the_user_goes(
    runtime: Runtime,
) -> None:
    user_id = create(runtime)
    now = datetime.now(UTC)
    idle = timedelta(seconds=runtime.settings.session_idle_timeout)
    life = timedelta(seconds=runtime.settings.session_lifetime)
    cookie, _ = login_cookie(runtime, now)
    info = resolve(runtime, cookie, now)
    assert info is not None and info.username == "zhangsan" and info.role == "officer"
    assert info.principal.pseudonym == f"token-{info.principal.token_id}"
    assert resolve(runtime, cookie, now + idle) is None  # idle too long
    # kept alive by use: each request within the idle timeout moves last_seen_at on
    moment = now
    while moment + idle * 0.9 < now + life:
        moment += idle * 0.9
        assert resolve(runtime, cookie, moment) is not None
    assert resolve(runtime, cookie, now + life) is None  # the absolute end
    assert resolve(runtime, "x" * 43, now) is None
    fresh, _ = login_cookie(runtime, datetime.now(UTC))
    with runtime.session() as session:
        service.set_disabled(session, user_id, True, actor="cli")
    assert resolve(runtime, fresh, datetime.now(UTC)) is None


def test_revoking_the_users_token_ends_its_sessions(runtime: Runtime) -> None:
    user_id = create(runtime)
    cookie, _ = login_cookie(runtime, datetime.now(UTC))
    with runtime.session() as session:
        revoke_token(session, service.get_user(session, user_id).token_id)
    assert resolve(runtime, cookie, datetime.now(UTC)) is None
    assert attempt(runtime, PASSWORD, datetime.now(UTC)) == service.WRONG


def test_a_password_change_keeps_only_the_current_session(runtime: Runtime) -> None:
    user_id = create(runtime)
    now = datetime.now(UTC)
    mine, mine_id = login_cookie(runtime, now)
    other, _ = login_cookie(runtime, now)
    with runtime.session() as session, pytest.raises(InvalidInputError) as wrong:
        service.change_password(session, user_id, "not it at all", "brand new words", client=None)
    assert wrong.value.field == "old_password"
    with runtime.session() as session, pytest.raises(InvalidInputError) as same:
        service.change_password(session, user_id, PASSWORD, PASSWORD, client=None)
    assert same.value.field == "new_password"
    with runtime.session() as session:
        service.change_password(
            session, user_id, PASSWORD, "brand new words", client=None, keep_session=mine_id
        )
    assert resolve(runtime, mine, now) is not None
    assert resolve(runtime, other, now) is None
    assert attempt(runtime, "brand new words", now) == "ok"


def test_nobody_disables_themselves(runtime: Runtime) -> None:
    user_id = create(runtime, role="admin")
    with runtime.session() as session:
        me = f"token-{service.get_user(session, user_id).token_id}"
    with runtime.session() as session, pytest.raises(ForbiddenError):
        service.set_disabled(session, user_id, True, actor=me)


def test_token_use_is_written_at_most_once_a_minute_and_audited_once_an_hour() -> None:
    use = sessions.TokenUse()
    assert use.due(7) == (True, True)
    assert use.due(7) == (False, False)
    assert use.due(8) == (True, True)
