"""The witness's add-checkpoint grammar and checks (C2SP tlog-witness), without I/O."""

from __future__ import annotations

import base64

import pytest

from evidence_api.witness.protocol import (
    MAX_BODY_BYTES,
    MAX_PROOF_LINES,
    LogState,
    Refusal,
    check,
    parse_request,
)
from evidence_api.witness.server import log_keys_by_origin
from tests.support.witnesses import FakeLog
from verifier.checkpoint import Checkpoint
from verifier.note import SignerKey, sign_note

LOG = FakeLog.new()
KEYS = log_keys_by_origin([LOG.vkey])


def state_at(size: int, log: FakeLog = LOG) -> LogState:
    return LogState(log.signer.name, size, log.root(size), log.checkpoint(size), 1)


def refusal(body: str | bytes, state: LogState | None = None) -> Refusal:
    raw = body.encode() if isinstance(body, str) else body
    with pytest.raises(Refusal) as caught:
        check(parse_request(raw), KEYS, state)
    return caught.value


def test_first_contact_old_zero_no_proof_is_cosignable() -> None:
    request = parse_request(LOG.body(0, 10).encode())
    assert request.old_size == 0 and request.proof == ()
    assert request.text == Checkpoint(LOG.signer.name, 10, LOG.root(10)).to_text()
    assert check(request, KEYS, None).size == 10


@pytest.mark.parametrize(("old", "new"), [(1, 2), (3, 7), (8, 9), (10, 40), (16, 32), (5, 5)])
def test_a_consistent_checkpoint_is_cosignable(old: int, new: int) -> None:
    request = parse_request(LOG.body(old, new).encode())
    assert len(request.proof) == len(LOG.proof(old, new))
    checkpoint = check(request, KEYS, state_at(old))
    assert (checkpoint.size, checkpoint.root) == (new, LOG.root(new))


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "old"),
        (b"old 01\n\n", "leading zeros"),
        (b"old -1\n\n", "old"),
        (b"new 1\n\n", "old"),
        (b"old 1", "old"),
        (b"old 0\n" + base64.b64encode(b"h" * 32) + b"\n", "empty line"),
        (b"old 3\nnot base64!\n\n", "base64"),
        (b"old 3\n" + base64.b64encode(b"x" * 31) + b"\n\n", "32-byte"),
        (b"old 0\n\nexample\n", "signed checkpoint"),
        (b"\xff\xfe", "UTF-8"),
        (b"old 99999999999999999999\n\n", "2^64"),
    ],
)
def test_malformed_bodies_are_400(body: bytes, why: str) -> None:
    with pytest.raises(Refusal) as caught:
        parse_request(body)
    assert caught.value.status == 400 and why in caught.value.detail


def test_too_many_proof_lines_and_too_big_bodies() -> None:
    line = base64.b64encode(b"\x00" * 32).decode() + "\n"
    body = f"old 5\n{line * (MAX_PROOF_LINES + 1)}\n{LOG.checkpoint(9)}"
    with pytest.raises(Refusal) as caught:
        parse_request(body.encode())
    assert caught.value.status == 400 and "63" in caught.value.detail
    with pytest.raises(Refusal) as caught:
        parse_request(b"old 0\n" + b"x" * MAX_BODY_BYTES)
    assert caught.value.status == 413


def test_a_proof_with_old_size_zero_is_refused() -> None:
    body = LOG.body(0, 10, proof=LOG.proof(3, 10))
    with pytest.raises(Refusal) as caught:
        parse_request(body.encode())
    assert caught.value.status == 400


def test_unknown_origin_is_404_and_unknown_key_403() -> None:
    other = FakeLog.new("other.example.cn/log")
    assert refusal(other.body(0, 5)).status == 404
    # the right origin signed by another key: none of its signatures verify
    impostor = FakeLog(SignerKey.generate(LOG.signer.name), LOG.leaves)
    assert refusal(impostor.body(0, 5)).status == 403
    # a bad signature by the trusted key
    text = Checkpoint(LOG.signer.name, 5, LOG.root(5)).to_text()
    forged = sign_note(text, LOG.signer).replace(text, text.replace("\n5\n", "\n6\n"))
    assert refusal(LOG.body(0, 6, note=forged)).status == 403


def test_old_size_beyond_the_checkpoint_is_400() -> None:
    got = refusal(LOG.body(20, 10, proof=[]), state_at(20))
    assert got.status == 400 and "exceeds" in got.detail


def test_old_size_not_the_recorded_one_is_409_with_the_size() -> None:
    got = refusal(LOG.body(5, 20), state_at(10))
    assert (got.status, got.size) == (409, 10)
    got = refusal(LOG.body(5, 20), None)  # never cosigned: its size is 0
    assert (got.status, got.size) == (409, 0)


def test_a_rollback_is_refused_whatever_the_old_size() -> None:
    assert refusal(LOG.body(5, 8), state_at(10)).size == 10  # 409: we recorded 10
    assert refusal(LOG.body(10, 8, proof=[]), state_at(10)).status == 400


def test_a_split_view_is_409_without_size() -> None:
    fork = [*LOG.leaves[:9], b"another leaf 9", *LOG.leaves[10:]]
    got = refusal(LOG.body(10, 10, note=LOG.checkpoint(10, fork)), state_at(10))
    assert (got.status, got.size) == (409, None) and "split view" in got.detail
    # the same checkpoint again is fine (a lost answer, resubmitted)
    assert check(parse_request(LOG.body(10, 10).encode()), KEYS, state_at(10)).size == 10


def test_an_inconsistent_tree_is_422() -> None:
    fork = [*LOG.leaves[:3], b"rewritten", *LOG.leaves[4:]]
    forked = FakeLog(LOG.signer, fork)
    # a proof computed honestly on the rewritten tree does not lead from our root
    got = refusal(forked.body(10, 20), state_at(10))
    assert got.status == 422 and "does not verify" in got.detail
    # nor does a proof of the wrong length
    got = refusal(LOG.body(10, 20, proof=LOG.proof(10, 20)[:-1]), state_at(10))
    assert got.status == 422
    got = refusal(LOG.body(10, 10, proof=LOG.proof(3, 10)), state_at(10))
    assert got.status == 422
