"""Passwords and TOTP codes, without a database: the policy, Argon2id hashes and their
rehash when the parameters rise, and a TOTP code accepted once only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import get_args

import pyotp
import pytest
from argon2 import PasswordHasher

from evidence_api.accounts import passwords, totp
from evidence_api.core.config import Settings
from evidence_api.core.errors import InvalidInputError


@pytest.mark.parametrize(
    ("password", "username", "reason"),
    [
        ("short", None, "password must be 10..256 characters"),
        ("x" * 257, None, "password must be 10..256 characters"),
        ("zhangsan.01", "zhangsan.01", "password must not be the username"),
        ("ZhangSan.01", "zhangsan.01", "password must not be the username"),
    ],
)
def test_the_policy_refuses_with_the_reason(
    password: str, username: str | None, reason: str
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        passwords.check_policy(password, username)
    assert refused.value.field == "password"
    assert refused.value.detail == reason


def test_the_policy_admits_ten_to_256_characters() -> None:
    passwords.check_policy("x" * 10, "someone")
    passwords.check_policy("密" * 256, "someone")


def test_hashes_are_argon2id_salted_and_verify() -> None:
    first, second = passwords.hash_password("a passphrase"), passwords.hash_password("a passphrase")
    assert first.startswith("$argon2id$v=19$") and first != second  # a salt each
    assert passwords.verify_password(first, "a passphrase") == (True, False)
    assert passwords.verify_password(first, "a passphrasE") == (False, False)
    assert passwords.verify_password("not a hash", "a passphrase") == (False, False)
    assert passwords.verify_password(first, "x" * 300) == (False, False)  # never hashed


@pytest.fixture
def profile() -> Iterator[Callable[[str], None]]:
    """Switch the active profile for one test; the suite's is restored after."""
    before = passwords.active_profile()
    yield passwords.use_profile
    passwords.use_profile(before)


@pytest.mark.parametrize(
    ("name", "parameters"),
    [("rfc9106-low-memory", "m=65536,t=3,p=4"), ("owasp-minimum", "m=19456,t=2,p=1")],
)
def test_each_profile_hashes_with_its_parameters(
    profile: Callable[[str], None], name: str, parameters: str
) -> None:
    profile(name)
    stored = passwords.hash_password("a passphrase")
    assert stored.startswith(f"$argon2id$v=19${parameters}$")
    assert passwords.dummy_hash().startswith(f"$argon2id$v=19${parameters}$")
    assert passwords.verify_password(stored, "a passphrase") == (True, False)


def test_a_hash_of_the_other_profile_verifies_and_is_redone(
    profile: Callable[[str], None],
) -> None:
    profile("owasp-minimum")
    cheap = passwords.hash_password("a passphrase")
    profile("rfc9106-low-memory")
    assert passwords.verify_password(cheap, "a passphrase") == (True, True)
    assert passwords.verify_password(cheap, "wrong one!!") == (False, False)


def test_the_setting_offers_exactly_the_profiles_and_defaults_to_rfc9106(
    profile: Callable[[str], None],
) -> None:
    field = Settings.model_fields["password_profile"]
    assert field.default == passwords.DEFAULT_PROFILE == "rfc9106-low-memory"
    assert set(get_args(field.annotation)) == set(passwords.PROFILES)
    with pytest.raises(ValueError, match="unknown password profile 'md5'"):
        profile("md5")


def test_a_weaker_hash_verifies_and_asks_for_a_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("a passphrase")
    assert passwords.verify_password(weak, "a passphrase") == (True, True)
    assert passwords.verify_password(weak, "wrong one!!") == (False, False)


def test_a_totp_code_is_accepted_once_and_only_near_now() -> None:
    secret = totp.new_secret()
    assert totp.is_secret(secret)
    now = datetime(2026, 12, 3, 8, 0, 10, tzinfo=UTC)
    code = pyotp.TOTP(secret).at(now)
    step = totp.accepted_step(secret, code, None, now)
    assert step == totp.step_of(now)
    assert totp.accepted_step(secret, code, step, now) is None  # replayed
    assert totp.accepted_step(secret, code, None, now + timedelta(seconds=30)) == step  # drift
    assert totp.accepted_step(secret, code, None, now + timedelta(minutes=5)) is None  # stale
    assert totp.accepted_step(secret, "12345", None, now) is None
    assert totp.accepted_step(secret, "abcdef", None, now) is None
    later = now + timedelta(seconds=30)
    assert totp.accepted_step(secret, pyotp.TOTP(secret).at(later), step, later) == step + 1


def test_the_setup_uri_and_qr_carry_the_secret_and_no_inline_style() -> None:
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, "zhangsan")
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    svg = totp.qr_svg(uri)
    assert svg is not None and svg.startswith("<svg") and "<rect" in svg
    assert "style=" not in svg and "<script" not in svg
