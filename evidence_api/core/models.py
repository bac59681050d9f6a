"""The declarative base every service table shares (one Alembic history creates them
and the log's own tables of :mod:`anchoring.schema`), the API tokens, and the people
who log in to the console (users, their sessions, the audit log)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from anchoring.schema import BigId
from evidence_api.core.db import UtcDateTime


class Base(DeclarativeBase):
    metadata = MetaData()


class OrderedChild:
    """Mixin: a child row with its own surrogate key and its place among its parent's rows
    (a file of an evidence package, the evidence an order cites)."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    position: Mapped[int] = mapped_column(Integer)


class OrgUnit(Base):
    """A unit of the organisation tree (五级贯通): 省 → 市 → 县(市、区) → 市场监管所, plus
    the other departments of the joint meeting (联席会议: 商务、公安、网信 …).

    ``path`` is the chain of ids from the root, ``/1/4/9/``: a unit's jurisdiction is
    every unit whose path starts with its own (docs/supervision.md §1)."""

    __tablename__ = "org_unit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Stable key: 1..64 of ``[a-z0-9._-]``, e.g. ``fj.qz.fz``.
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    #: ``province`` | ``city`` | ``county`` | ``station`` | ``department``
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    path: Mapped[str] = mapped_column(String(512), index=True)
    #: 行政区划代码 (GB/T 2260) of the area it covers, when it has one.
    region_code: Mapped[str | None] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored. Shown once at creation."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    platform: Mapped[str | None] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: After this instant the token is refused (None: no expiry).
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: The holder as shown to people (case histories, custody, reports); log entries
    #: carry only the pseudonym ``token-<id>``.
    display_name: Mapped[str | None] = mapped_column(String(128))
    #: The holder's unit (organisation), e.g. 泉州市市场监督管理局.
    unit: Mapped[str | None] = mapped_column(String(256))
    #: The unit whose jurisdiction the holder acts in (None: the whole tree, as for
    #: administrators, appraisers and tokens made before units existed).
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    #: ``api``: a bearer token a machine holds; ``user``: the identity of a console
    #: user (:class:`User`), whose secret nobody holds (its hash is of random bytes
    #: thrown away), so log entries and foreign keys name people as ``token-<id>`` too.
    kind: Mapped[str] = mapped_column(String(8), default="api", server_default="api")
    #: The last request it authenticated (updated at most once a minute per process).
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class User(Base):
    """A person who logs in to the console: Argon2 password hash, optional TOTP.

    Acts through its own ``api_token`` row of kind ``user`` (:attr:`token_id`): role,
    platform, display name and unit are kept equal on both rows."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Login name: 1..64 of ``[a-z0-9._-]``, unique.
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    unit: Mapped[str | None] = mapped_column(String(256))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"))
    role: Mapped[str] = mapped_column(String(16))
    platform: Mapped[str | None] = mapped_column(String(64))
    token_id: Mapped[int] = mapped_column(ForeignKey("api_token.id"), unique=True)
    #: Argon2id, PHC string (``$argon2id$v=19$m=...``).
    password_hash: Mapped[str] = mapped_column(String(256))
    #: The TOTP secret sealed by :mod:`evidence_api.core.secretbox` (context
    #: ``user-totp/<username>``); None: no second factor.
    totp_secret: Mapped[str | None] = mapped_column(String(256))
    #: The last TOTP time step accepted (a code is used at most once).
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class UserSession(Base):
    """A console login: the cookie's SHA-256, its CSRF token, and when it ends."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    #: SHA-256 (hex) of the cookie value; the value itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: Presented with every state-changing request (form field or ``X-CSRF-Token``).
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: Absolute end; idle sessions also end after ``session_idle_timeout``.
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    client: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))


class AuditEvent(Base):
    """Who logged in, failed, was locked out, changed a password, created or revoked a
    token or user, and which tokens were used (once per token per hour)."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    #: e.g. ``login``, ``login_failed``, ``locked``, ``logout``, ``password_changed``,
    #: ``totp_enabled``, ``totp_disabled``, ``user_created``, ``user_disabled``,
    #: ``token_created``, ``token_revoked``, ``token_used``.
    kind: Mapped[str] = mapped_column(String(32), index=True)
    #: Who did it: ``token-<id>``, ``cli``, or None when unknown (a failed login).
    actor: Mapped[str | None] = mapped_column(String(64))
    #: What it concerns: ``user:<username>`` or ``token-<id>``.
    subject: Mapped[str | None] = mapped_column(String(128), index=True)
    client: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(512))
