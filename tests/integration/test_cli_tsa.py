"""``evidence-verify --tsa-cert`` on tokens from a real authority (``openssl ts -reply`` with
its own test CA: tests/support/tsa.py): a valid token verifies tier 4 and its time is shown
beside the block time; an unrelated CA, or a token for another checkpoint, exits 1 with
the reason in tier 4."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.tsa import Authority, make_authority, token_over
from tests.support.vectors import COURT, NOTARY, anchor_record, build, cosigned
from verifier.cli import run
from verifier.note import parse_note


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return make_authority(tmp_path_factory.mktemp("tsa"))


def write_case(tmp: Path, authority: Authority, *, other_text: bool = False) -> list[str]:
    b = build()
    note = cosigned(b.bundle["checkpoint"], COURT, NOTARY)
    body = parse_note(note).text
    stamped = body.replace("\n", "\nx\n", 1) if other_text else body
    data: dict[str, Any] = {
        **b.bundle,
        "checkpoint": note,
        "status": "anchored",
        "anchor": anchor_record(b),
        "timestamps": [
            {"tsa": "test-tsa", "token": base64.b64encode(token_over(authority, stamped)).decode()}
        ],
    }
    bundle = tmp / "bundle.json"
    bundle.write_text(json.dumps(data), encoding="utf-8")
    key = tmp / "log.vkey"
    key.write_text(b.vkey, encoding="utf-8")
    return [str(bundle), "--log-key", str(key), "--witness", COURT.key().to_text()]


def tier4(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("  4 "))


def test_a_real_token_verifies_and_shows_the_second_clock(
    tmp_path: Path, authority: Authority, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = write_case(tmp_path, authority)
    code = run([*argv, "--tsa-cert", str(authority.ca_pem)])
    out = capsys.readouterr().out
    assert code == 2, out  # tier 5 offline
    assert "通过 verified" in tier4(out), out
    assert "timestamped by test-tsa at 20" in tier4(out)
    times = next(line for line in out.splitlines() if line.startswith("时间 times (UTC)"))
    assert "block 2026-11-18T" in times and "TSA test-tsa 20" in times
    code = run([*argv, "--tsa-cert", str(authority.ca_pem), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["timestamps"][0]["ok"] is True
    assert report["tiers"][3]["facts"]["tsa"] == "test-tsa"
    assert report["tiers"][3]["facts"]["tsa_time"].endswith("Z")


def test_an_unrelated_ca_fails(
    tmp_path: Path, authority: Authority, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = write_case(tmp_path, authority)
    code = run([*argv, "--tsa-cert", str(authority.other_ca_pem)])
    out = capsys.readouterr().out
    assert code == 1
    assert "失败 FAILED" in tier4(out) and "timestamp by test-tsa: " in tier4(out)


def test_a_token_for_another_checkpoint_fails(
    tmp_path: Path, authority: Authority, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = write_case(tmp_path, authority, other_text=True)
    code = run([*argv, "--tsa-cert", str(authority.ca_pem)])
    out = capsys.readouterr().out
    assert code == 1
    assert "timestamp by test-tsa: " in tier4(out)
