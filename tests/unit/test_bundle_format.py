"""The ``evidence-proof/v1`` bundle format: what loads, and how everything else is refused.

Each malformed bundle is named after its defect and derived from a valid
sealed bundle. Every refusal must be a :class:`FormatError` (the CLI's exit 3)
carrying a one-line reason; nothing else may escape :func:`load_bundle`.
``MALFORMED`` is reused by the CLI tests.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.factories import ORIGIN, Sealed, sealed_evidence
from verifier import models
from verifier.bundle import (
    MAX_BUNDLE_BYTES,
    InclusionProof,
    load_bundle,
)
from verifier.errors import (
    BundleFormatError,
    FormatError,
    JSONFormatError,
    UnknownFormatVersionError,
)
from verifier.merkle import MAX_PROOF_HASHES, MAX_TREE_SIZE
from verifier.receipt import Receipt

SEALED: Sealed = sealed_evidence()
SEALED_JSON: str = SEALED.bundle.to_json()
HASH = "ab" * 32

ANCHOR: dict[str, Any] = {
    "chain_id": 31337,
    "contract": "0x" + "5f" * 20,
    "log_id": "0x" + "01" * 32,
    "tx_hash": "0x" + "02" * 32,
    "block_number": 7,
    "block_hash": "0x" + "03" * 32,
    "block_timestamp": 1_795_000_000,
    # The anchor records the very tree head the bundle's checkpoint signs.
    "size": SEALED.log.size,
    "root": SEALED.log.root().hex(),
}


def sealed_obj() -> dict[str, Any]:
    return copy.deepcopy(json.loads(SEALED_JSON))


def anchored_obj() -> dict[str, Any]:
    obj = sealed_obj()
    obj["status"] = "anchored"
    obj["anchor"] = dict(ANCHOR)
    return obj


def pending_obj() -> dict[str, Any]:
    obj = sealed_obj()
    leaf = bytes.fromhex(obj["leaf_hash"])
    receipt = Receipt(ORIGIN, leaf, "2026-11-26T06:00:01.000Z", 86400).sign(SEALED.signer)
    obj.update(status="pending", receipt=receipt, inclusion=None, checkpoint=None)
    return obj


def encode(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def changed(
    change: Callable[[dict[str, Any]], object], base: Callable[[], dict[str, Any]] = sealed_obj
) -> bytes:
    obj = base()
    change(obj)
    return encode(obj)


def text_replace(old: str, new: str) -> bytes:
    """The sealed bundle's compact JSON with the first ``old`` replaced."""
    text = encode(sealed_obj()).decode()
    assert old in text, old
    return text.replace(old, new, 1).encode()


def nested(depth: int) -> bytes:
    """A bundle whose custody entry body nests ``depth`` arrays deep."""
    obj = sealed_obj()
    obj["entry"]["kind"] = "custody"
    obj["entry"]["body"] = {"x": "@@"}
    return encode(obj).replace(b'"@@"', b"[" * depth + b"]" * depth)


def set_path(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets the dotted ``path`` (list indexes as digits) to ``value``."""

    def change(obj: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = obj
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return change


def drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda obj: obj.pop(key)


def extend_hashes(count: int) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        obj["inclusion"]["hashes"] = [HASH] * count

    return change


# name -> (bundle bytes, the exact error class, a fragment the message must hold)
MALFORMED: dict[str, tuple[bytes, type[FormatError], str]] = {
    # --- not JSON, or not strict JSON
    "truncated-json": (SEALED_JSON.encode()[:-40], JSONFormatError, "not valid JSON"),
    "empty-file": (b"", JSONFormatError, "not valid JSON"),
    "trailing-garbage": (SEALED_JSON.encode() + b"x", JSONFormatError, "not valid JSON"),
    "invalid-utf8": (
        SEALED_JSON.encode().replace(b"evidence.test", b"evid\xffnce.test", 1),
        JSONFormatError,
        "UTF-8",
    ),
    "nan": (text_replace('"index": 5', '"index": NaN'), JSONFormatError, "NaN"),
    "infinity": (text_replace('"index": 5', '"index": Infinity'), JSONFormatError, "Infinity"),
    "negative-infinity": (
        text_replace('"index": 5', '"index": -Infinity'),
        JSONFormatError,
        "Infinity",
    ),
    "duplicate-top-level-key": (
        text_replace('{"format"', '{"status": "sealed", "format"'),
        JSONFormatError,
        "status",
    ),
    "duplicate-nested-key": (
        text_replace('"index": 5', '"index": 5, "index": 0'),
        JSONFormatError,
        "index",
    ),
    "deeply-nested": (
        b'{"format": "evidence-proof/v1", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        JSONFormatError,
        "deep",
    ),
    "body-nested-400-deep": (nested(400), JSONFormatError, "deeper than 64"),
    "body-nested-20-deep": (nested(20), BundleFormatError, "entry"),
    "oversize": (
        SEALED_JSON.encode() + b" " * (MAX_BUNDLE_BYTES + 1 - len(SEALED_JSON.encode())),
        JSONFormatError,
        "limit",
    ),
    # --- not a v1 bundle
    "json-array": (b"[]", BundleFormatError, "JSON object"),
    "json-string": (b'"evidence-proof/v1"', BundleFormatError, "JSON object"),
    "missing-format": (changed(drop("format")), BundleFormatError, "format"),
    "format-null": (changed(set_path("format", None)), BundleFormatError, "format"),
    "other-format": (
        changed(set_path("format", "sigstore-bundle/v0.3")),
        BundleFormatError,
        "format",
    ),
    "unknown-format-version": (
        changed(set_path("format", "evidence-proof/v2")),
        UnknownFormatVersionError,
        "evidence-proof/v2",
    ),
    # --- wrong types
    "index-as-string": (
        changed(set_path("inclusion.index", "5")),
        BundleFormatError,
        "inclusion.index",
    ),
    "index-as-float": (
        changed(set_path("inclusion.index", 5.0)),
        BundleFormatError,
        "inclusion.index",
    ),
    "tree-size-as-bool": (
        changed(set_path("inclusion.tree_size", True)),
        BundleFormatError,
        "inclusion.tree_size",
    ),
    "hashes-not-a-list": (
        changed(set_path("inclusion.hashes", HASH)),
        BundleFormatError,
        "inclusion.hashes",
    ),
    "hashes-an-object": (
        changed(set_path("inclusion.hashes", {"0": HASH})),
        BundleFormatError,
        "inclusion.hashes",
    ),
    "entry-version-as-bool": (
        changed(set_path("entry.v", True)),
        BundleFormatError,
        "entry.v",
    ),
    "manifest-version-as-float": (
        changed(set_path("manifest.v", 1.0)),
        BundleFormatError,
        "manifest.v",
    ),
    "status-as-number": (changed(set_path("status", 1)), BundleFormatError, "status"),
    "entry-null": (changed(set_path("entry", None)), BundleFormatError, "entry"),
    "checkpoint-as-object": (changed(set_path("checkpoint", {})), BundleFormatError, "checkpoint"),
    # --- out of range
    "negative-index": (
        changed(set_path("inclusion.index", -1)),
        BundleFormatError,
        "inclusion.index",
    ),
    "index-eq-tree-size": (changed(set_path("inclusion.index", 9)), BundleFormatError, "inclusion"),
    "tree-size-zero": (
        changed(set_path("inclusion.tree_size", 0)),
        BundleFormatError,
        "inclusion.tree_size",
    ),
    "tree-size-over-uint64": (
        changed(set_path("inclusion.tree_size", MAX_TREE_SIZE + 1)),
        BundleFormatError,
        "inclusion.tree_size",
    ),
    "empty-log-origin": (changed(set_path("log_origin", "")), BundleFormatError, "log_origin"),
    "unknown-status": (changed(set_path("status", "revoked")), BundleFormatError, "status"),
    "proof-with-65-hashes": (
        changed(extend_hashes(MAX_PROOF_HASHES + 1)),
        BundleFormatError,
        "inclusion.hashes",
    ),
    # --- hex
    "leaf-hash-non-hex": (
        changed(set_path("leaf_hash", "zz" * 32)),
        BundleFormatError,
        "leaf_hash",
    ),
    "leaf-hash-uppercase": (
        changed(set_path("leaf_hash", HASH.upper())),
        BundleFormatError,
        "leaf_hash",
    ),
    "leaf-hash-short": (changed(set_path("leaf_hash", HASH[:-2])), BundleFormatError, "leaf_hash"),
    "leaf-hash-long": (changed(set_path("leaf_hash", HASH + "ab")), BundleFormatError, "leaf_hash"),
    "leaf-hash-0x-prefix": (
        changed(set_path("leaf_hash", "0x" + HASH[2:])),
        BundleFormatError,
        "leaf_hash",
    ),
    "leaf-hash-trailing-newline": (
        changed(set_path("leaf_hash", HASH[:-1] + "\n")),
        BundleFormatError,
        "leaf_hash",
    ),
    "proof-hash-non-hex": (
        changed(set_path("inclusion.hashes.0", "g" * 64)),
        BundleFormatError,
        "inclusion.hashes.0",
    ),
    "proof-hash-uppercase": (
        changed(set_path("inclusion.hashes.1", HASH.upper())),
        BundleFormatError,
        "inclusion.hashes.1",
    ),
    "proof-hash-short": (
        changed(set_path("inclusion.hashes.2", HASH[:-1])),
        BundleFormatError,
        "inclusion.hashes.2",
    ),
    "proof-hash-long": (
        changed(set_path("inclusion.hashes.3", HASH + "0")),
        BundleFormatError,
        "inclusion.hashes.3",
    ),
    "manifest-sha256-uppercase": (
        changed(set_path("manifest.files.0.sha256", HASH.upper())),
        BundleFormatError,
        "manifest.files.0.sha256",
    ),
    "entry-digest-uppercase": (
        changed(set_path("entry.body.manifest_sha256", HASH.upper())),
        BundleFormatError,
        "entry",
    ),
    # --- status and fields disagree
    "sealed-without-checkpoint": (
        changed(set_path("checkpoint", None)),
        BundleFormatError,
        "sealed",
    ),
    "sealed-without-inclusion": (changed(set_path("inclusion", None)), BundleFormatError, "sealed"),
    "sealed-with-anchor": (changed(set_path("anchor", ANCHOR)), BundleFormatError, "anchor"),
    "pending-with-inclusion": (
        changed(set_path("inclusion", sealed_obj()["inclusion"]), pending_obj),
        BundleFormatError,
        "pending",
    ),
    "pending-without-receipt": (
        changed(set_path("receipt", None), pending_obj),
        BundleFormatError,
        "receipt",
    ),
    "anchored-without-anchor": (
        changed(set_path("anchor", None), anchored_obj),
        BundleFormatError,
        "anchor",
    ),
    "anchor-differs-from-checkpoint": (
        changed(set_path("anchor.root", HASH), anchored_obj),
        BundleFormatError,
        "anchor",
    ),
    "anchor-root-uppercase": (
        changed(set_path("anchor.root", HASH.upper()), anchored_obj),
        BundleFormatError,
        "anchor.root",
    ),
    # --- unknown fields
    "unknown-top-level-field": (
        changed(set_path("signature", "x")),
        BundleFormatError,
        "signature",
    ),
    "unknown-inclusion-field": (
        changed(set_path("inclusion.leaf_index", 5)),
        BundleFormatError,
        "inclusion.leaf_index",
    ),
    "unknown-entry-field": (changed(set_path("entry.extra", 1)), BundleFormatError, "entry.extra"),
    "unknown-manifest-field": (
        changed(set_path("manifest.comment", "")),
        BundleFormatError,
        "manifest.comment",
    ),
}


@pytest.mark.parametrize(("payload", "error", "fragment"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_bundle_is_refused_with_a_typed_one_line_reason(
    payload: bytes, error: type[FormatError], fragment: str
) -> None:
    with pytest.raises(FormatError) as info:
        load_bundle(payload)
    err = info.value
    assert type(err) is error, f"{type(err).__name__}: {err}"
    message = str(err)
    assert message
    assert "\n" not in message
    assert fragment in message


def test_unknown_version_is_a_bundle_format_error_with_a_hint() -> None:
    with pytest.raises(UnknownFormatVersionError) as info:
        load_bundle(MALFORMED["unknown-format-version"][0])
    assert isinstance(info.value, BundleFormatError)
    assert "Upgrade" in info.value.diagnostics()


# --- what loads ----------------------------------------------------------------------


def test_round_trip_is_exact() -> None:
    loaded = load_bundle(SEALED_JSON)
    assert loaded == SEALED.bundle
    assert loaded.to_json() == SEALED_JSON
    assert loaded.manifest is not None
    assert loaded.manifest.canonical() == SEALED.manifest.canonical()
    assert load_bundle(SEALED_JSON.encode()) == loaded


@pytest.mark.parametrize(
    "base", [sealed_obj, anchored_obj, pending_obj], ids=["sealed", "anchored", "pending"]
)
def test_every_status_loads_and_round_trips(base: Callable[[], dict[str, Any]]) -> None:
    bundle = load_bundle(encode(base()))
    assert bundle.status == base()["status"]
    assert load_bundle(bundle.to_json()) == bundle


def test_bundle_of_exactly_max_bytes_is_not_refused_for_its_size() -> None:
    raw = SEALED_JSON.encode()
    payload = raw + b" " * (MAX_BUNDLE_BYTES - len(raw))
    assert len(payload) == MAX_BUNDLE_BYTES
    assert load_bundle(payload) == SEALED.bundle


def test_bundle_one_byte_over_max_is_refused_before_parsing() -> None:
    payload = b"{" * (MAX_BUNDLE_BYTES + 1)  # would also be invalid JSON
    with pytest.raises(JSONFormatError, match=f"{MAX_BUNDLE_BYTES + 1} bytes, limit"):
        load_bundle(payload)


def test_proof_with_max_hashes_is_accepted_by_the_model() -> None:
    proof = InclusionProof.model_validate(
        {"index": 0, "tree_size": MAX_TREE_SIZE, "hashes": [HASH] * MAX_PROOF_HASHES}
    )
    assert len(proof.hash_bytes()) == MAX_PROOF_HASHES
    bundle = load_bundle(changed(extend_hashes(MAX_PROOF_HASHES)))
    assert bundle.inclusion is not None
    assert len(bundle.inclusion.hashes) == MAX_PROOF_HASHES


def test_entry_body_depth_limit() -> None:
    limit = models.MAX_BODY_DEPTH
    # nested(k) gives the body {"x": k nested arrays}: k + 1 levels.
    assert load_bundle(nested(limit - 1)).entry.kind == "custody"
    with pytest.raises(BundleFormatError, match="entry"):
        load_bundle(nested(limit))


# --- regressions: each of these once escaped as a traceback or a second line ----------


def test_integer_with_too_many_digits_is_a_format_error() -> None:
    # json.loads raises a plain ValueError past sys.get_int_max_str_digits().
    with pytest.raises(JSONFormatError) as info:
        load_bundle(text_replace('"index": 5', '"index": ' + "1" * 5000))
    assert "\n" not in str(info.value)


def test_unknown_key_with_newline_still_gives_one_line() -> None:
    with pytest.raises(BundleFormatError) as info:
        load_bundle(changed(set_path("evil\nkey", 1)))
    assert "\n" not in str(info.value)
    assert "evil" in str(info.value)


def test_deep_custody_body_is_a_format_error() -> None:
    # Refused by the bracket scan before json.loads, whatever the recursion limit is.
    with pytest.raises(JSONFormatError, match="deeper than 64"):
        load_bundle(nested(900))


def test_nesting_is_refused_at_the_limit_even_with_a_huge_recursion_limit() -> None:
    import sys  # noqa: PLC0415

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)  # what importing web3 does
    try:
        with pytest.raises(JSONFormatError, match="deeper than 64"):
            load_bundle("[" * 50_000 + "]" * 50_000)
    finally:
        sys.setrecursionlimit(old)
