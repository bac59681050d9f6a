"""The QR code of a report rendered by ``evidence serve``'s portal points at a URL from the
settings (``EVIDENCE_PORTAL_URL``, else the mounted portal of ``EVIDENCE_HOST``/``PORT``),
printed under the code — never at whatever a request's Host header claims.

Before, the mounted service took the portal URL from the request: a forged Host put an
attacker's address on a court document.
"""

from __future__ import annotations

import io
from pathlib import Path

import pydantic
import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from evidence_api.app import create_app
from evidence_api.core.config import Settings
from evidence_api.verifier_mount import mount_verifier
from tests.support.api import running_stack, submit, wait_for_bundle


def report_text(settings: Settings) -> str:
    with running_stack(settings) as stack:
        made = submit(stack, {"a.html": b"<p>a</p>"})
        assert made.status_code == 201, made.text
        bundle = wait_for_bundle(
            stack.client, made.json()["evidence_id"], stack.auth("officer"), timeout=30
        )
        app = create_app(runtime=stack.runtime)
        mount_verifier(app, stack.runtime, "http://127.0.0.1:8000")
        with TestClient(app) as client:
            answer = client.post(
                "/verifier/v1/verify/report",
                json={"bundle": bundle, "files": []},
                headers={"Host": "evil.example"},
            )
    assert answer.status_code == 200, answer.text[:300]
    pdf = PdfReader(io.BytesIO(answer.content))
    return "".join("".join(page.extract_text() for page in pdf.pages).split())


def test_the_default_portal_is_the_mounted_one(tmp_path: Path) -> None:
    text = report_text(Settings(data_dir=tmp_path / "data", chain="none", seal_interval=0.1))
    assert "http://127.0.0.1:8000/verifier/verify?leaf=" in text
    assert "evil.example" not in text


def test_the_portal_url_setting_wins(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        chain="none",
        seal_interval=0.1,
        portal_url="https://verify.example.gov.cn/verify",
    )
    text = report_text(settings)
    assert "https://verify.example.gov.cn/verify?leaf=" in text
    assert "evil.example" not in text and "127.0.0.1:8000" not in text


def test_a_portal_url_must_be_http(tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError, match="portal_url"):
        Settings(data_dir=tmp_path, portal_url="javascript:alert(1)")
