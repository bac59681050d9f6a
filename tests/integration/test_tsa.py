"""RFC 3161 tokens from a real authority (``openssl ts -reply`` behind HTTP, its own test
CA: tests/support/tsa.py) checked by :func:`verifier.tsa.check_token`: a valid token
verifies (trusting the CA, or the TSA's own certificate); a wrong imprint, a token for
another checkpoint, an untrusted (unrelated) CA, an expired TSA certificate, a broken
signature and a malformed token each fail with their own reason.

Then the service path: an embedded runtime on the in-process tester chain with the
authority in ``tsas`` stamps its anchored checkpoints, the anchored bundle carries the
token, ``GET /v1/trust/timestamps`` shows it, and the real ``evidence-verify
--tsa-cert`` verifies it (TSA time beside the block time) and fails it against an
unrelated CA; an authority that is down or whose certificate is not trusted stores
nothing and shows its error while the good one keeps stamping."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import urllib3
from asn1crypto import tsp  # type: ignore[import-untyped]
from rfc3161_client import HashAlgorithm
from sqlalchemy import select

from anchoring.schema import anchor_tx, checkpoint_timestamp
from evidence_api.core.config import Settings, TimestampAuthority
from evidence_api.trust.timestamping import MAX_RESPONSE_BYTES, AuthorityClient, TimestampError
from tests.support.api import VERIFY_CLI, running_stack, submit, wait_for_bundle
from tests.support.tsa import Authority, make_authority, query, reply, serve
from tests.support.waiting import wait_until
from verifier.note import parse_note
from verifier.tsa import check_token, decode_response, imprint_of, load_certificates

CHECKPOINT = "evidence.example/log\n5\nq2Xk0mGm5Y0mKx3Jv9Qp0T0c7bq6Qx2fYh1Y0b3o0mA=\n"
OTHER = "evidence.example/log\n6\nzZ3sG0f5wVq2sK8Zr2Z0uH9o0n3c1fQm2bX7f5Y0bq4=\n"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Authority]:
    with serve(make_authority(tmp_path_factory.mktemp("tsa"))) as running:
        yield running


def token_from(authority: Authority, tsq: bytes, *, chain: bool = False) -> bytes:
    return decode_response(reply(authority, tsq, chain=chain)).time_stamp_token()


def trust(*pems: Path) -> list[bytes]:
    return [der for pem in pems for der in load_certificates(pem.read_bytes())]


def test_valid_token_over_http_verifies(authority: Authority) -> None:
    tsq = query(CHECKPOINT.encode())
    answer = httpx.post(
        authority.url,
        content=tsq,
        headers={"Content-Type": "application/timestamp-query"},
        timeout=30,
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/timestamp-reply"
    response = decode_response(answer.content)
    assert response.tst_info.message_imprint.message == imprint_of(CHECKPOINT)
    assert len(response.signed_data.certificates) == 2  # the TSA's and its CA's (-chain)
    token = response.time_stamp_token()

    verdict = check_token("test-tsa", token, CHECKPOINT, trust(authority.ca_pem))
    assert verdict.ok, verdict.detail
    assert verdict.tsa == "test-tsa"
    assert verdict.gen_time is not None
    assert abs(verdict.gen_time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert verdict.signer is not None and "Evidence Anchor test TSA" in verdict.signer
    assert verdict.serial == response.tst_info.serial_number
    # the TSA's own certificate as the trust anchor (pinned) verifies too
    pinned = check_token("test-tsa", token, CHECKPOINT, trust(authority.tsa_pem))
    assert pinned.ok, pinned.detail
    assert pinned.gen_time == verdict.gen_time


def test_wrong_imprint_fails(authority: Authority) -> None:
    # the whole signed note (with its signature line) instead of its body
    signed = CHECKPOINT + "\n— evidence.example/log AAAAAAAA\n"
    token = token_from(authority, query(signed.encode()))
    verdict = check_token("t", token, CHECKPOINT, trust(authority.ca_pem))
    assert not verdict.ok
    assert verdict.detail.startswith("wrong imprint:")
    assert "not SHA-256 of this checkpoint's note body" in verdict.detail
    assert verdict.gen_time is not None  # read, though refused


def test_imprint_of_another_hash_fails(authority: Authority) -> None:
    token = token_from(authority, query(CHECKPOINT.encode(), HashAlgorithm.SHA512))
    verdict = check_token("t", token, CHECKPOINT, trust(authority.ca_pem))
    assert not verdict.ok
    assert verdict.detail == (
        "wrong imprint: the token's message imprint uses 2.16.840.1.101.3.4.2.3, not SHA-256"
    )


def test_token_for_another_checkpoint_fails(authority: Authority) -> None:
    token = token_from(authority, query(OTHER.encode()))
    assert check_token("t", token, OTHER, trust(authority.ca_pem)).ok
    verdict = check_token("t", token, CHECKPOINT, trust(authority.ca_pem))
    assert not verdict.ok
    assert "the token is for another checkpoint" in verdict.detail


@pytest.mark.parametrize("chain", [False, True], ids=["signer-only", "with-its-ca"])
def test_wrong_tsa_certificate_fails(authority: Authority, chain: bool) -> None:
    """Trusting an unrelated CA refuses the token, also when the token carries its own CA."""
    token = token_from(authority, query(CHECKPOINT.encode()), chain=chain)
    assert check_token("t", token, CHECKPOINT, trust(authority.ca_pem)).ok
    verdict = check_token("t", token, CHECKPOINT, trust(authority.other_ca_pem))
    assert not verdict.ok
    assert verdict.detail.startswith("untrusted certificate: signer ")
    assert "does not chain to a trusted TSA certificate" in verdict.detail


def test_expired_tsa_certificate_fails(tmp_path: Path) -> None:
    expired = make_authority(tmp_path / "expired", expired=True)
    token = token_from(expired, query(CHECKPOINT.encode()))
    for trusted in (expired.ca_pem, expired.tsa_pem):
        verdict = check_token("t", token, CHECKPOINT, trust(trusted))
        assert not verdict.ok
        assert verdict.detail.startswith("expired certificate: ")
        assert "before the token's genTime" in verdict.detail


def test_broken_signature_fails(authority: Authority) -> None:
    token = bytearray(token_from(authority, query(CHECKPOINT.encode())))
    token[-10] ^= 0x01  # inside the signature value, the token's last field
    for trusted in (authority.ca_pem, authority.tsa_pem):
        verdict = check_token("t", bytes(token), CHECKPOINT, trust(trusted))
        assert not verdict.ok
        assert verdict.detail.startswith("bad signature:"), verdict.detail


def test_altered_token_content_fails(authority: Authority) -> None:
    """A changed byte in the signed TSTInfo (its genTime) breaks the signature."""
    response = decode_response(reply(authority, query(CHECKPOINT.encode())))
    token = response.time_stamp_token()
    # flip the last digit of the genTime: still parseable, no longer what was signed
    gen = response.tst_info.gen_time.strftime("%Y%m%d%H%M%S").encode()
    at = token.find(gen)
    assert at > 0
    altered = bytearray(token)
    altered[at + len(gen) - 1] = ord("0") if altered[at + len(gen) - 1] != ord("0") else ord("1")
    verdict = check_token("t", bytes(altered), CHECKPOINT, trust(authority.ca_pem))
    assert not verdict.ok
    assert verdict.detail.startswith("bad signature:"), verdict.detail


def test_malformed_token_fails(authority: Authority) -> None:
    token = token_from(authority, query(CHECKPOINT.encode()))
    for bad in (token[:-40], b"\x30\x03\x02\x01\x00", hashlib.sha256(b"x").digest()):
        verdict = check_token("t", bad, CHECKPOINT, trust(authority.ca_pem))
        assert not verdict.ok
        assert verdict.detail.startswith("malformed token:"), verdict.detail


def verify_cli(
    bundle: dict[str, object], files: dict[str, bytes], vkey: str, workdir: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "bundle.json").write_text(json.dumps(bundle), "utf-8")
    args = [str(VERIFY_CLI), str(workdir / "bundle.json"), "--log-key", vkey.strip()]
    for name, data in files.items():
        (workdir / name).write_bytes(data)
        args += ["--file", str(workdir / name)]
    args += ["--through", "4", *extra]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def test_service_stamps_anchored_checkpoints_and_the_verifier_checks_them(
    authority: Authority, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="evidence_api.trust.timestamping")
    untrusted = make_authority(tmp_path / "untrusted")  # up, but cert_file is another CA
    settings = Settings(
        data_dir=tmp_path / "data",
        chain="tester",
        seal_interval=0.1,
        anchor_interval=0.2,
        timestamp_interval=0.2,
        run_integrity=False,
        tsas=[
            TimestampAuthority(name="test-tsa", url=authority.url, cert_file=authority.ca_pem),
            TimestampAuthority(
                name="wrong-cert", url=authority.url, cert_file=untrusted.other_ca_pem
            ),
            TimestampAuthority(
                name="down", url="http://127.0.0.1:9/tsa", cert_file=authority.ca_pem
            ),
        ],
    )
    files = {"page.html": b"<html><body>counterfeit watch, 99 yuan</body></html>"}
    with running_stack(settings) as stack:
        made = submit(stack, files)
        assert made.status_code == 201, made.text
        evidence_id = made.json()["evidence_id"]
        headers = stack.auth("officer")
        wait_for_bundle(stack.client, evidence_id, headers, status="anchored", timeout=120)

        def stamped() -> bool:
            bundle = stack.client.get(f"/v1/evidence/{evidence_id}/proof", headers=headers)
            return bool(bundle.json().get("timestamps"))

        wait_until(stamped, 120, "the anchored bundle to carry a timestamp")
        bundle = stack.client.get(f"/v1/evidence/{evidence_id}/proof", headers=headers).json()
        vkey = stack.client.get("/v1/log/key").text
        assert [t["tsa"] for t in bundle["timestamps"]] == ["test-tsa"]

        with stack.runtime.engine.connect() as conn:
            rows = conn.execute(select(checkpoint_timestamp)).all()
            confirmed = {
                int(size)
                for (size,) in conn.execute(
                    select(anchor_tx.c.size).where(anchor_tx.c.state == "confirmed")
                )
            }
        assert rows and {r.tsa for r in rows} == {"test-tsa"}
        assert {r.size for r in rows} <= confirmed
        assert bundle["anchor"]["size"] in {r.size for r in rows}

        wait_until(
            lambda: all(
                a["last_error"]
                for a in stack.client.get("/v1/trust/timestamps", headers=headers).json()[
                    "authorities"
                ]
                if a["name"] != "test-tsa"
            ),
            60,
            "both failing authorities to show an error",
        )
        status = stack.client.get("/v1/trust/timestamps", headers=headers)
        assert status.status_code == 200, status.text
        seen = {a["name"]: a for a in status.json()["authorities"]}
        good = seen["test-tsa"]
        assert good["stamped"] >= 1 and good["newest_size"] >= bundle["anchor"]["size"]
        assert good["last_error"] is None
        gen = dt.datetime.fromisoformat(good["gen_time"])
        block = dt.datetime.fromisoformat(good["block_time"])
        assert abs(gen - block) < dt.timedelta(minutes=5)
        assert "does not chain to a trusted TSA certificate" in seen["wrong-cert"]["last_error"]
        assert seen["wrong-cert"]["stamped"] == 0 and seen["down"]["stamped"] == 0
        assert "127.0.0.1:9" in seen["down"]["last_error"]
        # one line per failing authority however many ticks failed (state changes only)
        first_failure = seen["down"]["last_error_at"]

        def failed_again() -> bool:
            now = stack.client.get("/v1/trust/timestamps", headers=headers).json()
            return any(
                a["name"] == "down" and a["last_error_at"] != first_failure
                for a in now["authorities"]
            )

        wait_until(failed_again, 60, "another failed tick of the authority that is down")
        warned = [
            r.getMessage()
            for r in caplog.records
            if r.name == "evidence_api.trust.timestamping" and r.levelno == logging.WARNING
        ]
        assert sorted(m.split(" failing")[0] for m in warned) == [
            "timestamp authority down",
            "timestamp authority wrong-cert",
        ], warned
        assert stack.client.get("/v1/trust/timestamps").status_code == 401
        forbidden = stack.client.get("/v1/trust/timestamps", headers=stack.auth("appraiser"))
        assert forbidden.status_code == 403

    ok = verify_cli(bundle, files, vkey, tmp_path / "v1", "--tsa-cert", str(authority.ca_pem))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "TSA test-tsa 20" in ok.stdout and "block 20" in ok.stdout, ok.stdout
    as_json = verify_cli(
        bundle, files, vkey, tmp_path / "v2", "--tsa-cert", str(authority.ca_pem), "--json"
    )
    report = json.loads(as_json.stdout)
    (verdict,) = report["timestamps"]
    assert verdict["ok"] and verdict["tsa"] == "test-tsa"
    token_time = dt.datetime.fromisoformat(verdict["tsa_time"].replace("Z", "+00:00"))
    block_time = dt.datetime.fromtimestamp(bundle["anchor"]["block_timestamp"], dt.UTC)
    assert abs(token_time - block_time) < dt.timedelta(minutes=5)

    # a second opinion: OpenSSL verifies the stored token on the bundle's note body
    (tmp_path / "token.tsr").write_bytes(base64.b64decode(bundle["timestamps"][0]["token"]))
    (tmp_path / "body.txt").write_bytes(parse_note(bundle["checkpoint"]).text.encode())
    openssl = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-data",
            str(tmp_path / "body.txt"),
            "-in",
            str(tmp_path / "token.tsr"),
            "-token_in",
            "-CAfile",
            str(authority.ca_pem),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert openssl.returncode == 0 and "Verification: OK" in openssl.stdout, openssl.stderr

    wrong = verify_cli(
        bundle, files, vkey, tmp_path / "v3", "--tsa-cert", str(authority.other_ca_pem), "--json"
    )
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    tiers = {t["tier"]: t for t in json.loads(wrong.stdout)["tiers"]}
    assert tiers[4]["status"] == "failed"
    assert "untrusted certificate" in json.dumps(tiers[4]), tiers[4]


class Hostile:
    """An HTTP endpoint whose answer to the next query a test chooses (``answer(query)``
    gives status, content type and body), for the service's checks of what comes back."""

    def __init__(self) -> None:
        self.answer: Callable[[bytes], tuple[int, str, bytes]] = lambda _q: (500, "text/plain", b"")
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                query = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, kind, body = outer.answer(query)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tsa"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    server = Hostile()
    yield server
    server.close()


def with_imprint(query_der: bytes, digest: bytes) -> bytes:
    """The same query (same nonce) asking for another imprint."""
    parsed = tsp.TimeStampReq.load(query_der)
    parsed["message_imprint"]["hashed_message"] = digest
    return bytes(parsed.dump(force=True))


def test_the_service_stores_only_what_it_asked_for(authority: Authority, hostile: Hostile) -> None:
    pool = urllib3.PoolManager()
    client = AuthorityClient(
        TimestampAuthority(name="hostile", url=hostile.url, cert_file=authority.ca_pem), 10.0, pool
    )
    tsr = "application/timestamp-reply"
    replayed = reply(authority, query(CHECKPOINT.encode()))  # a valid answer to another query
    unsupported = tsp.TimeStampReq.load(query(CHECKPOINT.encode()))
    unsupported["req_policy"] = "1.2.3.9.9"  # a policy the authority does not offer
    rejection = reply(authority, bytes(unsupported.dump(force=True)))
    cases: list[tuple[Callable[[bytes], tuple[int, str, bytes]], str]] = [
        (lambda _q: (503, tsr, b""), "HTTP 503"),
        (lambda _q: (200, "text/html", b"<html>"), "answer is text/html, not " + tsr),
        (lambda _q: (200, tsr, b"\x00" * (MAX_RESPONSE_BYTES + 1)), "answer exceeds"),
        (lambda _q: (200, tsr, b"\x30\x00"), "not an RFC 3161 response"),
        (
            lambda _q: (200, tsr, rejection),
            "refused: PKIStatus 2: Requested policy is not supported.",
        ),
        (lambda _q: (200, tsr, replayed), "the token's nonce is not the query's"),
        (
            lambda q: (200, tsr, reply(authority, with_imprint(q, hashlib.sha256(b"x").digest()))),
            "the token's message imprint is not the query's",
        ),
        (
            lambda q: (200, tsr, reply(make_authority(authority.folder / "rogue"), q)),
            "token refused: untrusted certificate: signer",
        ),
    ]
    for answer, reason in cases:
        hostile.answer = answer
        with pytest.raises(TimestampError) as refused:
            client.stamp(CHECKPOINT)
        assert reason in str(refused.value)
    hostile.answer = lambda q: (200, tsr, reply(authority, q, chain=True))
    token, gen_time = client.stamp(CHECKPOINT)
    assert check_token("hostile", token, CHECKPOINT, trust(authority.ca_pem)).gen_time == gen_time
