"""Webhook secrets at rest, through the real API, on SQLite and on PostgreSQL.

The ``platform`` row holds the secret only sealed (``aesgcm1:...``, AES-256-GCM
under ``EVIDENCE_SECRETS_KEY``), for a generated secret, an admin's 128-character
one (longer sealed than the old 128-character column: PostgreSQL enforces it)
and a rotated one; deliveries to a real receiver on loopback are still signed
with the secret in clear and verify with it. A secret an older version left in
clear is sealed at the next start; a sealed value copied into another
platform's row does not open there, and the attempt says so.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from evidence_api.core import secretbox
from evidence_api.core.config import Settings
from evidence_api.registry.models import Platform
from evidence_api.takedowns import webhook_sign
from tests.support.api import Stack, backend_params, open_backend, running_stack, submit
from tests.support.receiver import Received, receiver
from tests.support.waiting import wait_until

KINDS = [p for p in backend_params() if p.id in ("sqlite-local", "postgres-s3")]


def settings_of(base: Settings) -> Settings:
    return base.model_copy(
        update={
            "chain": "none",
            "seal_interval": 0.2,
            "webhook_interval": 0.1,
            "webhook_backoff": 60.0,
            "webhook_allow_hosts": "127.0.0.1",
        }
    )


@pytest.fixture(params=KINDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    with open_backend(request, request.param, tmp_path / "data") as backend:
        yield settings_of(backend.settings)


def raw_secret(stack: Stack, code: str) -> str | None:
    with stack.runtime.session() as session:
        return session.execute(
            select(Platform.webhook_secret).where(Platform.code == code)
        ).scalar_one()


def admin(stack: Stack, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    response = stack.client.request(method, url, headers=stack.auth("admin"), **kwargs)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def issue_and_receive(stack: Stack, code: str, got: list[Received]) -> Received:
    evidence = submit(stack, {"listing.html": "<html>假冒商品</html>".encode()})
    assert evidence.status_code == 201, evidence.text
    before = len(got)
    body = {
        "platform": code,
        "listing_urls": [f"https://{code}.example/item/{uuid.uuid4().hex[:6]}"],
        "legal_basis": "《电子商务法》第三十八条",
        "reason": "销售假冒注册商标商品",
        "evidence_ids": [evidence.json()["evidence_id"]],
        "deadline": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        "grant_files": False,
    }
    response = stack.client.post("/v1/takedowns", json=body, headers=stack.auth("officer"))
    assert response.status_code == 201, response.text
    wait_until(lambda: len(got) > before, 30, f"a delivery to {code}")
    return got[before]


def verifies(secret: str, request: Received) -> bool:
    header = request.headers["X-Evidence-Signature"]
    webhook_sign.verify(secret, request.body, header, now=int(time.time()))
    return True


def test_secrets_are_sealed_in_the_row_and_deliveries_still_verify(settings: Settings) -> None:
    with receiver() as (url, got), running_stack(settings) as stack:
        created = admin(
            stack,
            "POST",
            "/v1/platforms",
            json={
                "code": "mall-sealed",
                "name": "密封商城",
                "webhook_url": url,
                "webhook_enabled": True,
            },
        )
        generated = created["webhook_secret"]
        stored = raw_secret(stack, "mall-sealed")
        assert stored is not None and stored.startswith("aesgcm1:")
        assert generated not in stored
        assert verifies(generated, issue_and_receive(stack, "mall-sealed", got))

        longest = "~" + uuid.uuid4().hex + "x" * 95  # 128 printable characters
        assert len(longest) == 128
        admin(stack, "PATCH", "/v1/platforms/mall-sealed", json={"webhook_secret": longest})
        stored_long = raw_secret(stack, "mall-sealed")
        assert stored_long is not None and len(stored_long) > 128  # needs the wider column
        assert longest not in stored_long
        delivered = issue_and_receive(stack, "mall-sealed", got)
        assert verifies(longest, delivered)
        with pytest.raises(webhook_sign.SignatureMismatch):
            webhook_sign.verify(
                generated,
                delivered.body,
                delivered.headers["X-Evidence-Signature"],
                now=int(time.time()),
            )

        rotated = admin(stack, "POST", "/v1/platforms/mall-sealed/webhook-secret")["webhook_secret"]
        stored_rotated = raw_secret(stack, "mall-sealed")
        assert stored_rotated is not None and stored_rotated.startswith("aesgcm1:")
        assert rotated not in stored_rotated
        assert verifies(rotated, issue_and_receive(stack, "mall-sealed", got))


def test_a_secret_left_in_clear_is_sealed_at_the_next_start(settings: Settings) -> None:
    clear = "whsec_legacy_" + uuid.uuid4().hex
    with receiver() as (url, got):
        with running_stack(settings) as stack:
            admin(
                stack,
                "POST",
                "/v1/platforms",
                json={
                    "code": "mall-old",
                    "name": "旧商城",
                    "webhook_url": url,
                    "webhook_enabled": True,
                },
            )
            with stack.runtime.session() as session:  # as a version before 0010 stored it
                session.execute(
                    update(Platform).where(Platform.code == "mall-old").values(webhook_secret=clear)
                )
        with running_stack(settings) as restarted:
            stored = raw_secret(restarted, "mall-old")
            assert stored is not None and stored.startswith("aesgcm1:") and clear not in stored
            key = secretbox.load_key(settings)
            assert secretbox.open_sealed(key, stored, "platform-webhook/mall-old") == clear
            assert verifies(clear, issue_and_receive(restarted, "mall-old", got))


def test_a_sealed_secret_copied_to_another_platform_does_not_open(tmp_path: Path) -> None:
    settings = settings_of(Settings(data_dir=tmp_path / "data"))
    with receiver() as (url, got), running_stack(settings) as stack:
        for code in ("mall-a", "mall-b"):
            admin(
                stack,
                "POST",
                "/v1/platforms",
                json={"code": code, "name": code, "webhook_url": url, "webhook_enabled": True},
            )
        with stack.runtime.session() as session:
            session.execute(
                update(Platform)
                .where(Platform.code == "mall-b")
                .values(webhook_secret=raw_secret(stack, "mall-a"))
            )
        evidence = submit(stack, {"a.html": b"<html></html>"})
        order = stack.client.post(
            "/v1/takedowns",
            json={
                "platform": "mall-b",
                "listing_urls": ["https://mall-b.example/item/1"],
                "legal_basis": "《电子商务法》第三十八条",
                "reason": "销售假冒注册商标商品",
                "evidence_ids": [evidence.json()["evidence_id"]],
                "deadline": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
                "grant_files": False,
            },
            headers=stack.auth("officer"),
        ).json()["order_id"]

        def attempts() -> list[dict[str, Any]]:
            detail = stack.client.get(f"/v1/takedowns/{order}", headers=stack.auth("officer"))
            found = detail.json()["deliveries"]
            return list(found[0]["log"]) if found else []

        wait_until(lambda: bool(attempts()), 30, "the attempt")
        (attempt,) = attempts()
    assert got == []  # nothing signed with a secret that did not open
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("webhook secret: sealed value does not open")


def test_a_replaced_key_is_named_at_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = settings_of(Settings(data_dir=tmp_path / "data", secrets_key="01" * 32))
    with running_stack(first) as stack:
        for code in ("mall-kept", "mall-lost"):
            admin(stack, "POST", "/v1/platforms", json={"code": code, "name": code})
    replaced = first.model_copy(update={"secrets_key": SecretStr("02" * 32)})
    with caplog.at_level(logging.WARNING), running_stack(replaced):
        pass
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        "the webhook secrets of 2 platform(s) do not open with this EVIDENCE_SECRETS_KEY "
        "(mall-kept, mall-lost); their deliveries fail until each secret is rotated"
    ) in warnings
