"""Bodies of the accounts API: users, the audit log, tokens (never a secret)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from evidence_api.accounts import passwords
from evidence_api.core.auth import PLATFORM_CODE, Role
from evidence_api.core.models import ApiToken, AuditEvent, User

Username = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$",
        description="login name: 1..64 of a-z 0-9 . _ -",
        examples=["zhangsan"],
    ),
]
Password = Annotated[
    str,
    Field(
        min_length=passwords.MIN_LENGTH,
        max_length=passwords.MAX_LENGTH,
        description=f"{passwords.MIN_LENGTH}..{passwords.MAX_LENGTH} characters, "
        "not the username; stored only as an Argon2id hash",
        examples=["a long passphrase of yours"],
    ),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class UserCreate(_Body):
    username: Username
    password: Password
    display_name: Annotated[str, Field(min_length=1, max_length=128, examples=["张三"])]
    role: Role = Field(examples=["officer"])
    unit: Annotated[str, Field(min_length=1, max_length=256)] | None = Field(
        None,
        examples=["泉州市市场监督管理局"],
        description="a unit code of the tree (the user then acts in its jurisdiction; the "
        "label becomes its name), or a free-text label",
    )
    platform: Annotated[str, Field(pattern=PLATFORM_CODE)] | None = Field(
        None, description="only for role platform: the registered platform's code"
    )


class PasswordReset(_Body):
    password: Password


class UserPublic(BaseModel):
    """A user as administrators see it (never the password hash or TOTP secret)."""

    id: int
    username: str
    display_name: str
    unit: str | None
    role: str
    platform: str | None
    token_id: int = Field(description="the user's own token row: histories name it token-<id>")
    created_at: datetime
    password_changed_at: datetime
    disabled_at: datetime | None
    locked_until: datetime | None
    failed_logins: int
    totp_enabled: bool

    @classmethod
    def of(cls, user: User) -> UserPublic:
        """The row's columns, read by name; of the TOTP secret only whether it is set."""
        fields = {name: getattr(user, name) for name in cls.model_fields if name != "totp_enabled"}
        return cls(**fields, totp_enabled=user.totp_secret is not None)


class UserList(BaseModel):
    items: list[UserPublic]


class AuditEventPublic(BaseModel):
    id: int
    at: datetime
    kind: str = Field(examples=["login"])
    actor: str | None = Field(examples=["token-3"])
    subject: str | None = Field(examples=["user:zhangsan"])
    client: str | None
    detail: str | None

    @classmethod
    def of(cls, row: AuditEvent) -> AuditEventPublic:
        """The row's columns, read by name."""
        return cls.model_validate(row, from_attributes=True)


class AuditPage(BaseModel):
    items: list[AuditEventPublic]
    next_before: int | None = Field(
        description="pass as ?before= for the next (older) page; null: no more"
    )


class TokenPublic(BaseModel):
    """A token's row (only its SHA-256 is stored; the secret is never shown again)."""

    id: int
    name: str
    kind: str = Field(description="api: a machine's bearer token; user: a console user's identity")
    role: str
    platform: str | None
    display_name: str | None
    unit: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, row: ApiToken) -> TokenPublic:
        """The row's columns, read by name (the hash is no field here)."""
        return cls.model_validate(row, from_attributes=True)


class TokenList(BaseModel):
    items: list[TokenPublic]
