"""Webhook secrets encrypted at rest: room for sealed values.

``platform.webhook_secret`` grows from 128 to 512 characters to hold a secret
sealed with AES-256-GCM (``aesgcm1:`` + base64url of nonce, ciphertext and tag:
216 characters for the longest, 128-character secret; see
:mod:`evidence_api.core.secretbox`).

The migration does not seal the secrets already stored: it has no key (it runs
from ``evidence db upgrade`` as well as at start, and a key belongs to the
service's settings, not to the migration history). The service seals every
secret still in clear at its next start
(:func:`evidence_api.registry.platforms.seal_stored_secrets`), and
until then reads a value without the prefix as clear.

Downgrade: code older than this revision would sign with the sealed text as if
it were the secret, so sealed secrets are removed and those platforms' webhooks
turned off; an admin rotates each secret (``POST /v1/platforms/{code}/webhook-secret``)
and turns the webhook back on.

Revision ID: 0010_webhook_secrets
Revises: 0009_tokens
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_webhook_secrets"
down_revision = "0009_tokens"
branch_labels = None
depends_on = None

SEALED_PREFIX = "aesgcm1:"  # evidence_api.core.secretbox.PREFIX, frozen here as of this revision


def upgrade() -> None:
    with op.batch_alter_table("platform") as batch:
        batch.alter_column(
            "webhook_secret",
            existing_type=sa.String(128),
            type_=sa.String(512),
            existing_nullable=True,
        )


def downgrade() -> None:
    platform = sa.table(
        "platform",
        sa.column("webhook_secret", sa.String),
        sa.column("webhook_enabled", sa.Boolean),
    )
    op.execute(
        platform.update()
        .where(platform.c.webhook_secret.like(SEALED_PREFIX + "%"))
        .values(webhook_secret=None, webhook_enabled=False)
    )
    with op.batch_alter_table("platform") as batch:
        batch.alter_column(
            "webhook_secret",
            existing_type=sa.String(512),
            type_=sa.String(128),
            existing_nullable=True,
        )
