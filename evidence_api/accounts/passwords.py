"""Passwords: Argon2id hashes (argon2-cffi's defaults) and the policy a new one must meet.

The hash is a PHC string (``$argon2id$v=19$m=65536,t=3,p=4$salt$hash``) carrying its own
parameters, so raising them later needs no migration: :func:`verify_password` reports
when a stored hash is weaker than today's and the login rehashes it."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from evidence_api.core.errors import InvalidInputError

MIN_LENGTH = 10
MAX_LENGTH = 256


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    """argon2id with the library's defaults (RFC 9106 low-memory profile: m=64 MiB, t=3, p=4)."""
    return PasswordHasher()


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash nobody's password matches: verified against for unknown usernames, so a
    wrong name takes as long as a wrong password."""
    return hasher().hash("not a password of anyone: timing only")


def check_policy(password: str, username: str | None = None) -> None:
    """Refuse a password too short, too long or equal to the username (field ``password``)."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidInputError(
            f"password must be {MIN_LENGTH}..{MAX_LENGTH} characters", field="password"
        )
    if username is not None and password.strip().lower() == username.lower():
        raise InvalidInputError("password must not be the username", field="password")


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(stored: str, password: str) -> tuple[bool, bool]:
    """``(matches, needs_rehash)``; the comparison is argon2's, constant-time."""
    if len(password) > MAX_LENGTH:  # never hash an unbounded input
        return False, False
    try:
        hasher().verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, False
    return True, hasher().check_needs_rehash(stored)
