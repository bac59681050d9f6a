"""Passwords: Argon2id hashes and the policy a new one must meet.

The hash is a PHC string (``$argon2id$v=19$m=65536,t=3,p=4$salt$hash``) carrying its own
parameters, so changing them later needs no migration: :func:`verify_password` reports
when a stored hash was made with other parameters than today's and the login rehashes it.

The parameters are one of :data:`PROFILES`, chosen by the setting ``password_profile``
(``EVIDENCE_PASSWORD_PROFILE``): each process's runtime calls :func:`use_profile` when
it is built; until then (a library caller) the default profile applies."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from evidence_api.core.errors import InvalidInputError

MIN_LENGTH = 10
MAX_LENGTH = 256

ProfileName = Literal["rfc9106-low-memory", "owasp-minimum"]


@dataclass(frozen=True)
class Argon2Profile:
    """Argon2id cost parameters: memory in KiB, passes, lanes."""

    memory_kib: int
    time_cost: int
    parallelism: int


#: ``rfc9106-low-memory`` (the default): RFC 9106 §4's second recommended option, argon2-cffi's
#: defaults (64 MiB, 3 passes, 4 lanes). ``owasp-minimum``: the OWASP Password Storage Cheat
#: Sheet's lowest Argon2id configuration (19 MiB, 2 passes, 1 lane), about an eighth of the
#: CPU, for machines where logins must be cheap.
PROFILES: Final[dict[str, Argon2Profile]] = {
    "rfc9106-low-memory": Argon2Profile(memory_kib=65536, time_cost=3, parallelism=4),
    "owasp-minimum": Argon2Profile(memory_kib=19456, time_cost=2, parallelism=1),
}
DEFAULT_PROFILE: Final[ProfileName] = "rfc9106-low-memory"
_active: list[str] = [DEFAULT_PROFILE]


def use_profile(name: str) -> None:
    """Hash new passwords (and the dummy hash) with profile ``name`` from now on."""
    if name not in PROFILES:
        raise ValueError(f"unknown password profile {name!r}: one of {', '.join(PROFILES)}")
    _active[0] = name


def active_profile() -> str:
    return _active[0]


@lru_cache(maxsize=len(PROFILES))
def _hasher(name: str) -> PasswordHasher:
    profile = PROFILES[name]
    return PasswordHasher(
        time_cost=profile.time_cost,
        memory_cost=profile.memory_kib,
        parallelism=profile.parallelism,
    )


def hasher() -> PasswordHasher:
    """argon2id with the active profile's parameters."""
    return _hasher(_active[0])


@lru_cache(maxsize=len(PROFILES))
def _dummy_hash(name: str) -> str:
    return _hasher(name).hash("not a password of anyone: timing only")


def dummy_hash() -> str:
    """A hash nobody's password matches, made with the active profile: verified against for
    unknown usernames, so a wrong name takes as long as a wrong password."""
    return _dummy_hash(_active[0])


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
