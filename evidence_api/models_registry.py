"""Registries of the supervision workflow: platforms, online trading entities, cases.

Tables share :data:`evidence_api.models.Base`, so the one Alembic history
(``0005_platforms``, ``0006_registries``) creates them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from evidence_api.models import Base


class Platform(Base):
    """An e-commerce platform that receives takedown orders.

    ``code`` is what platform tokens are bound to (``ApiToken.platform``).
    The webhook secret signs deliveries (HMAC-SHA256), so it is kept, not hashed.
    """

    __tablename__ = "platform"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    webhook_secret: Mapped[str | None] = mapped_column(String(128))
    webhook_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
