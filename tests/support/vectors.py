"""Shared verification vectors: the Python verifier's answers, for the JavaScript one to match.

Every vector is built with the issuing code (``anchoring``) and then, often, damaged in one
named way (``modified-proof@2-bit-@7``, ``wrong-key``, ``file-byte-changed`` …). Its expected
result is *computed* here by :func:`verifier.verify.verify_bundle` (or is the format error
:func:`verifier.bundle.load_bundle` raises), never written by hand, so the portal's
``verify.js`` is held to whatever the Python verifier does.

Also: RFC 8785 canonical JSON vectors (input text -> canonical bytes, or refused), SM3 and
SHA-256 vectors (``hashlib``), and verifier-key vectors (``VerifierKey.from_text``).

Everything is deterministic (fixed seeds and salts): signatures are RFC 8032 Ed25519.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from anchoring.entries import evidence_entry, make_entry, pending_bundle, sealed_bundle
from anchoring.log import MerkleLog
from anchoring.store import MemoryNodeStore
from tests.support.factories import ORIGIN, manifest_for, signer
from verifier.bundle import Bundle, load_bundle
from verifier.canonical import canonical_json, parse_json
from verifier.checkpoint import Checkpoint
from verifier.cosignature import WitnessKey, WitnessPolicy, WitnessSigner, add_cosignatures
from verifier.digests import digest_stream, sm3_hex
from verifier.errors import FormatError
from verifier.merkle import leaf_hash
from verifier.models import Entry, Manifest
from verifier.note import SignerKey, VerifierKey, sign_note
from verifier.receipt import Receipt
from verifier.verify import verify_bundle

FILES = {"page.html": b"<html>shop</html>", "shot.png": b"\x89PNG\r\n\x1a\n" + bytes(range(200))}
OTHER_SEED = bytes(range(1, 33))
AT = "2026-11-26T06:00:01.000Z"

Json = dict[str, Any]


@dataclass
class BundleVector:
    """One bundle, the files and trusted keys given with it, and Python's verdict."""

    name: str
    #: the defect class (``valid`` for undamaged bundles)
    defect: str
    bundle: bytes
    files: dict[str, bytes] = field(default_factory=dict)
    log_keys: list[str] = field(default_factory=list)
    through: int = 5
    expected: Json = field(default_factory=dict)
    #: trusted witness vkeys and the quorum (None: every key); no keys: no witness policy
    witness_keys: list[str] = field(default_factory=list)
    witness_quorum: int | None = None

    def to_json(self) -> Json:
        witnesses: Json = (
            {"witness_keys": self.witness_keys, "witness_quorum": self.witness_quorum}
            if self.witness_keys
            else {}
        )
        return {
            "name": self.name,
            "defect": self.defect,
            "bundle_b64": base64.b64encode(self.bundle).decode(),
            "files": {k: base64.b64encode(v).decode() for k, v in self.files.items()},
            "log_keys": self.log_keys,
            "through": self.through,
            **witnesses,
            "expected": self.expected,
        }


def python_verdict(
    bundle: bytes,
    files: dict[str, bytes],
    log_keys: list[str],
    through: int,
    witness_keys: list[str] | None = None,
    witness_quorum: int | None = None,
) -> Json:
    """What ``evidence-verify`` concludes: a format error (exit 3) or the tiered report."""
    try:
        loaded = load_bundle(bundle)
    except FormatError as exc:
        return {"error": "format", "message": str(exc)}
    digests = [digest_stream(name, io.BytesIO(data)) for name, data in files.items()]
    keys = [VerifierKey.from_text(k) for k in log_keys]
    policy = (
        WitnessPolicy.of([WitnessKey.from_text(k) for k in witness_keys], witness_quorum)
        if witness_keys
        else None
    )
    report = verify_bundle(loaded, files=digests, log_keys=keys, through=through, witnesses=policy)
    return report.to_dict()


# --- building logs and bundles ----------------------------------------------------------------


def stamps(count: int, start: int = 0) -> list[Entry]:
    return [
        make_entry(
            "stamp",
            f"st-{i}",
            {"sha256": hashlib.sha256(bytes([i % 256, i // 256])).hexdigest()},
            at="2026-11-26T06:00:00.000Z",
            salt=f"{i:032x}",
        )
        for i in range(start, start + count)
    ]


def published(bundle: Bundle) -> Json:
    """The bundle as the log publishes it (``Bundle.to_json``: no ``timestamps`` key when
    there are none)."""
    data: Json = json.loads(bundle.to_json())
    return data


@dataclass
class Built:
    log: MerkleLog
    key: SignerKey
    entry: Entry
    index: int
    manifest: Manifest | None
    bundle: Json
    files: dict[str, bytes]

    @property
    def vkey(self) -> str:
        return self.key.verifier().to_text()


def build(
    before: int = 5,
    after: int = 3,
    *,
    entry: Entry | None = None,
    files: dict[str, bytes] | None = None,
    key: SignerKey | None = None,
    with_manifest: bool = True,
) -> Built:
    """A log of ``before`` stamps, the entry, ``after`` stamps; the entry's sealed bundle."""
    key = key or signer()
    files = FILES if files is None else files
    manifest = manifest_for(files) if entry is None else None
    entry = entry or evidence_entry(manifest_for(files), at=AT, salt="22" * 16)
    log = MerkleLog(MemoryNodeStore())
    if before:
        log.append(e.leaf_data() for e in stamps(before))
    index = log.append([entry.leaf_data()])
    if after:
        log.append(e.leaf_data() for e in stamps(after, before + 1))
    note = Checkpoint(key.name, log.size, log.root()).sign(key)
    bundle = sealed_bundle(
        log,
        entry,
        index,
        note,
        log.size,
        origin=key.name,
        manifest=manifest if with_manifest else None,
    )
    return Built(log, key, entry, index, manifest, published(bundle), files)


def anchor_record(b: Built) -> Json:
    return {
        "chain_id": 31337,
        "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "log_id": "0x" + "ab" * 32,
        "tx_hash": "0x" + "cd" * 32,
        "block_number": 7,
        "block_hash": "0x" + "ef" * 32,
        "block_timestamp": 1_795_000_000,
        "size": b.log.size,
        "root": b.log.root().hex(),
    }


def encode(bundle: Json, indent: int | None = 2) -> bytes:
    return json.dumps(bundle, ensure_ascii=False, indent=indent).encode()


def flip_hex(value: str, bit: int) -> str:
    raw = bytearray(bytes.fromhex(value))
    raw[bit // 8] ^= 0x80 >> (bit % 8)
    return raw.hex()


def flip_b64_bit(blob: str, bit: int) -> str:
    raw = bytearray(base64.b64decode(blob))
    raw[bit // 8] ^= 0x80 >> (bit % 8)
    return base64.b64encode(bytes(raw)).decode()


def replace_signature(note: str, edit: Callable[[str], str]) -> str:
    """Apply ``edit`` to the base64 blob of the note's first signature line."""
    text, sigs = note.split("\n\n", 1)
    first, *rest = sigs.split("\n")
    prefix, blob = first.rsplit(" ", 1)
    return text + "\n\n" + "\n".join([f"{prefix} {edit(blob)}", *rest])


def resign(b: Built, cp: Checkpoint, key: SignerKey | None = None) -> str:
    return sign_note(cp.to_text(), key or b.key)


# --- the vectors --------------------------------------------------------------------------------


class VectorSet:
    """Collects vectors and computes each one's expected result with the Python verifier."""

    def __init__(self) -> None:
        self.items: list[BundleVector] = []

    def add(
        self,
        name: str,
        defect: str,
        bundle: Json | bytes,
        *,
        files: dict[str, bytes] | None = None,
        keys: list[str] | None = None,
        through: int = 5,
        witnesses: list[str] | None = None,
        quorum: int | None = None,
    ) -> None:
        raw = bundle if isinstance(bundle, bytes) else encode(bundle)
        files = files or {}
        keys = keys or []
        witnesses = witnesses or []
        vec = BundleVector(name, defect, raw, files, keys, through, {}, witnesses, quorum)
        vec.expected = python_verdict(raw, files, keys, through, witnesses, quorum)
        self.items.append(vec)


def _valid(vs: VectorSet) -> None:
    for before, after in [(0, 0), (5, 3), (7, 0), (0, 7), (15, 16), (31, 0), (12, 19)]:
        b = build(before, after)
        vs.add(
            f"valid-sealed@{b.index}-of-{b.log.size}",
            "valid",
            b.bundle,
            files=b.files,
            keys=[b.vkey],
        )
    b = build()
    vs.add("valid-no-files", "valid", b.bundle, keys=[b.vkey])
    vs.add("valid-no-key", "valid", b.bundle, files=b.files)
    vs.add("valid-through-3", "valid", b.bundle, files=b.files, keys=[b.vkey], through=3)
    vs.add("valid-through-1", "valid", b.bundle, files=b.files, keys=[b.vkey], through=1)
    vs.add(
        "valid-one-of-two-files",
        "valid",
        b.bundle,
        files={"page.html": FILES["page.html"]},
        keys=[b.vkey],
    )
    renamed = {"copy-of-shot.png": FILES["shot.png"], "page.html": FILES["page.html"]}
    vs.add("valid-renamed-file", "valid", b.bundle, files=renamed, keys=[b.vkey])
    vs.add("valid-compact-json", "valid", encode(b.bundle, None), files=b.files, keys=[b.vkey])
    escaped = json.dumps(b.bundle, ensure_ascii=True, sort_keys=True, indent="\t").encode()
    vs.add("valid-escaped-sorted-json", "valid", escaped, files=b.files, keys=[b.vkey])
    reordered = {k: b.bundle[k] for k in reversed(list(b.bundle))}
    reordered["manifest"] = {k: b.bundle["manifest"][k] for k in reversed(b.bundle["manifest"])}
    vs.add("valid-reordered-keys", "valid", reordered, files=b.files, keys=[b.vkey])
    other = signer(OTHER_SEED, "other.test/log").verifier().to_text()
    vs.add("valid-two-trusted-keys", "valid", b.bundle, files=b.files, keys=[other, b.vkey])
    vs.add(
        "valid-anchored-offline",
        "valid",
        {**b.bundle, "status": "anchored", "anchor": anchor_record(b)},
        files=b.files,
        keys=[b.vkey],
    )
    vs.add(
        "valid-no-manifest",
        "valid",
        build(with_manifest=False).bundle,
        files=b.files,
        keys=[b.vkey],
    )
    # A stamp (a digest without its file) and a custody entry (no files at all).
    data = b"stamped bytes"
    stamp = make_entry(
        "stamp", "st-x", {"sha256": hashlib.sha256(data).hexdigest()}, at=AT, salt="33" * 16
    )
    sb = build(3, 2, entry=stamp)
    vs.add("valid-stamp", "valid", sb.bundle, files={"x.bin": data}, keys=[sb.vkey])
    vs.add(
        "stamp-wrong-file",
        "file-byte-changed",
        sb.bundle,
        files={"x.bin": data + b"!"},
        keys=[sb.vkey],
    )
    vs.add("valid-stamp-no-file", "valid", sb.bundle, keys=[sb.vkey])
    # Canonical JSON inside the leaf: floats, escapes, non-BMP keys (UTF-16 order), nesting.
    body = {
        "reason": '调取 "证据"\n\t\u0001',
        "ratio": 1.5e1,
        "tiny": 1e-7,
        "big": 1e21,
        "neg": -0.0,
        "\U0001f600": 1,
        "\uffff": 2,
        "e\u0301": [True, False, None, {"a": [1, 2, {"b": {}}]}],
    }
    custody = make_entry("custody", "cu-1", body, at=AT, salt="44" * 16)
    cb = build(2, 1, entry=custody)
    vs.add("valid-custody-canonical-body", "valid", cb.bundle, keys=[cb.vkey])
    vs.add(
        "valid-custody-float-spelling",
        "valid",
        encode(cb.bundle).replace(b'"ratio": 15.0', b'"ratio": 1.5E+1'),
        keys=[cb.vkey],
    )
    # A checkpoint with extension lines (signed), and an extra signature from an unknown key.
    cp = Checkpoint(b.key.name, b.log.size, b.log.root(), ("ext one", "ext two"))
    vs.add(
        "valid-checkpoint-extensions",
        "valid",
        {**b.bundle, "checkpoint": resign(b, cp)},
        files=b.files,
        keys=[b.vkey],
    )
    stranger = SignerKey("stranger.test/log", OTHER_SEED)
    cp = Checkpoint(b.key.name, b.log.size, b.log.root())
    vs.add(
        "valid-extra-unknown-signature",
        "valid",
        {**b.bundle, "checkpoint": sign_note(cp.to_text(), b.key, stranger)},
        files=b.files,
        keys=[b.vkey],
    )
    _pending(vs)


def _pending(vs: VectorSet) -> None:
    key = signer()
    manifest = manifest_for(FILES)
    entry = evidence_entry(manifest, at=AT, salt="22" * 16)
    leaf = leaf_hash(entry.leaf_data())
    receipt = Receipt(key.name, leaf, "2026-11-26T06:00:01.5Z", 600).sign(key)
    bundle = pending_bundle(entry, receipt, origin=key.name, manifest=manifest)
    pb = published(bundle)
    vkey = key.verifier().to_text()
    vs.add("valid-pending", "valid", pb, files=FILES, keys=[vkey])
    other_leaf = Receipt(key.name, bytes(32), "2026-11-26T06:00:01Z", 600).sign(key)
    vs.add(
        "pending-receipt-for-another-leaf",
        "entry-tampered",
        {**pb, "receipt": other_leaf},
        files=FILES,
        keys=[vkey],
    )
    renamed = SignerKey("other.test/log", bytes(range(32)))
    foreign = Receipt(renamed.name, leaf, "2026-11-26T06:00:01Z", 600).sign(renamed)
    vs.add(
        "pending-receipt-wrong-origin",
        "wrong-origin",
        {**pb, "receipt": foreign},
        files=FILES,
        keys=[renamed.verifier().to_text()],
    )
    vs.add(
        "pending-receipt-bad-signature",
        "wrong-signature",
        {**pb, "receipt": replace_signature(receipt, lambda s: flip_b64_bit(s, 40))},
        files=FILES,
        keys=[vkey],
    )
    vs.add(
        "pending-receipt-bad-delay",
        "bad-note",
        {
            **pb,
            "receipt": sign_note(
                (receipt.split("\n\n")[0] + "\n").replace("\n600\n", "\n0600\n"), key
            ),
        },
        files=FILES,
        keys=[vkey],
    )


def _proofs(vs: VectorSet) -> None:
    b = build(12, 19)  # index 12 of 32: a five-hash proof
    hashes: list[str] = b.bundle["inclusion"]["hashes"]
    inc = b.bundle["inclusion"]

    def with_inclusion(**changes: Any) -> Json:
        return {**b.bundle, "inclusion": {**inc, **changes}}

    for i in range(len(hashes)):
        for bit in (0, 7, 128, 255):
            flipped = [*hashes]
            flipped[i] = flip_hex(hashes[i], bit)
            vs.add(
                f"modified-proof@{i}-bit-@{bit}",
                "proof-bit-flip",
                with_inclusion(hashes=flipped),
                files=b.files,
                keys=[b.vkey],
            )
    for bit in (0, 100, 255):
        vs.add(
            f"modified-leaf-hash-bit-@{bit}",
            "leaf-hash-flip",
            {**b.bundle, "leaf_hash": flip_hex(b.bundle["leaf_hash"], bit)},
            files=b.files,
            keys=[b.vkey],
        )
        root = bytearray(b.log.root())
        root[bit // 8] ^= 0x80 >> (bit % 8)
        cp = Checkpoint(b.key.name, b.log.size, bytes(root))
        vs.add(
            f"modified-root-bit-@{bit}-resigned",
            "root-flip",
            {**b.bundle, "checkpoint": resign(b, cp)},
            files=b.files,
            keys=[b.vkey],
        )
        # The changed text under the original signature.
        unsigned = cp.to_text() + "\n" + b.bundle["checkpoint"].split("\n\n", 1)[1]
        vs.add(
            f"modified-root-bit-@{bit}-unsigned",
            "root-flip",
            {**b.bundle, "checkpoint": unsigned},
            files=b.files,
            keys=[b.vkey],
        )
    for delta in (-1, 1, 3):
        vs.add(
            f"wrong-index{delta:+d}",
            "wrong-index",
            with_inclusion(index=inc["index"] + delta),
            files=b.files,
            keys=[b.vkey],
        )
    vs.add(
        "index-equals-size",
        "wrong-index",
        with_inclusion(index=inc["tree_size"]),
        files=b.files,
        keys=[b.vkey],
    )
    vs.add("index-negative", "wrong-index", with_inclusion(index=-1), files=b.files, keys=[b.vkey])
    vs.add(
        "tree-size+1",
        "wrong-size",
        with_inclusion(tree_size=inc["tree_size"] + 1),
        files=b.files,
        keys=[b.vkey],
    )
    vs.add("tree-size-0", "wrong-size", with_inclusion(tree_size=0), files=b.files, keys=[b.vkey])
    vs.add(
        "tree-size-2^64",
        "wrong-size",
        with_inclusion(tree_size=2**64),
        files=b.files,
        keys=[b.vkey],
    )
    for size in (b.log.size + 1, b.log.size - 1, 2**63):
        cp = Checkpoint(b.key.name, size, b.log.root())
        vs.add(
            f"wrong-size-{size}-resigned",
            "wrong-size",
            {**with_inclusion(tree_size=size), "checkpoint": resign(b, cp)},
            files=b.files,
            keys=[b.vkey],
        )
    vs.add(
        "truncated-proof",
        "truncated-proof",
        with_inclusion(hashes=hashes[:-1]),
        files=b.files,
        keys=[b.vkey],
    )
    vs.add(
        "empty-proof", "truncated-proof", with_inclusion(hashes=[]), files=b.files, keys=[b.vkey]
    )
    vs.add(
        "extended-proof",
        "extended-proof",
        with_inclusion(hashes=[*hashes, "00" * 32]),
        files=b.files,
        keys=[b.vkey],
    )
    vs.add(
        "proof-of-65-hashes",
        "extended-proof",
        with_inclusion(hashes=["00" * 32] * 65),
        files=b.files,
        keys=[b.vkey],
    )
    vs.add(
        "swapped-proof-hashes",
        "proof-bit-flip",
        with_inclusion(hashes=[hashes[1], hashes[0], *hashes[2:]]),
        files=b.files,
        keys=[b.vkey],
    )
    vs.add(
        "proof-hash-upper-case",
        "bad-json",
        with_inclusion(hashes=[hashes[0].upper(), *hashes[1:]]),
        files=b.files,
        keys=[b.vkey],
    )
    vs.add(
        "proof-hash-short",
        "bad-json",
        with_inclusion(hashes=[hashes[0][:62], *hashes[1:]]),
        files=b.files,
        keys=[b.vkey],
    )
    # Another leaf's valid proof for this entry, and this proof against another log's root.
    vs.add(
        "proof-of-another-leaf",
        "wrong-index",
        with_inclusion(hashes=[h.hex() for h in b.log.inclusion_proof(13, b.log.size)]),
        files=b.files,
        keys=[b.vkey],
    )


def _signatures(vs: VectorSet) -> None:
    b = build()
    note = b.bundle["checkpoint"]
    for bit in (32, 40, 300, 543):  # bits 0..31 are the key ID, then 512 signature bits
        vs.add(
            f"signature-bit-@{bit}",
            "wrong-signature",
            {
                **b.bundle,
                "checkpoint": replace_signature(note, partial(flip_b64_bit, bit=bit)),
            },
            files=b.files,
            keys=[b.vkey],
        )
    vs.add(
        "signature-key-id-changed",
        "wrong-key",
        {**b.bundle, "checkpoint": replace_signature(note, lambda s: flip_b64_bit(s, 0))},
        files=b.files,
        keys=[b.vkey],
    )
    vs.add(
        "signature-truncated",
        "wrong-signature",
        {
            **b.bundle,
            "checkpoint": replace_signature(
                note, lambda s: base64.b64encode(base64.b64decode(s)[:-1]).decode()
            ),
        },
        files=b.files,
        keys=[b.vkey],
    )
    vs.add(
        "signature-non-canonical-base64",
        "bad-note",
        {**b.bundle, "checkpoint": replace_signature(note, lambda s: s[:-2] + "B=")},
        files=b.files,
        keys=[b.vkey],
    )
    impostor = SignerKey(b.key.name, OTHER_SEED)  # the same name, another key
    cp = Checkpoint(b.key.name, b.log.size, b.log.root())
    vs.add(
        "signed-by-wrong-key",
        "wrong-key",
        {**b.bundle, "checkpoint": resign(b, cp, impostor)},
        files=b.files,
        keys=[b.vkey],
    )
    vs.add(
        "trusting-another-key",
        "wrong-key",
        b.bundle,
        files=b.files,
        keys=[impostor.verifier().to_text()],
    )
    bad_first = replace_signature(
        sign_note(cp.to_text(), b.key, b.key), lambda s: flip_b64_bit(s, 100)
    )
    vs.add(
        "bad-then-good-signature-same-key",
        "wrong-signature",
        {**b.bundle, "checkpoint": bad_first},
        files=b.files,
        keys=[b.vkey],
    )
    text, sigs = sign_note(cp.to_text(), b.key).split("\n\n")
    bad_line = replace_signature(note, lambda s: flip_b64_bit(s, 100)).split("\n\n")[1]
    vs.add(
        "good-then-bad-signature-same-key",
        "wrong-signature",
        {**b.bundle, "checkpoint": f"{text}\n\n{sigs}{bad_line}"},
        files=b.files,
        keys=[b.vkey],
    )
    # Origins: a log signed under another name; a checkpoint whose origin is not its signer.
    ob = build(key=SignerKey("other.test/log", bytes(range(32))))
    vs.add(
        "wrong-origin",
        "wrong-origin",
        {**ob.bundle, "log_origin": ORIGIN},
        files=ob.files,
        keys=[ob.vkey],
    )
    cp = Checkpoint("other.test/log", b.log.size, b.log.root())
    vs.add(
        "checkpoint-origin-not-signer",
        "wrong-origin",
        {**b.bundle, "checkpoint": sign_note(cp.to_text(), b.key)},
        files=b.files,
        keys=[b.vkey],
    )
    # Malformed checkpoint bodies in a sealed bundle are tier failures, not format errors.
    for label, body in [
        ("leading-zero-size", f"{b.key.name}\n0{b.log.size}\n"),
        ("non-decimal-size", f"{b.key.name}\n+{b.log.size}\n"),
        ("no-root", f"{b.key.name}\n{b.log.size}\n"),
    ]:
        root = base64.b64encode(b.log.root()).decode()
        text = body + (root + "\n" if label != "no-root" else "")
        vs.add(
            f"checkpoint-{label}",
            "bad-note",
            {**b.bundle, "checkpoint": sign_note(text, b.key)},
            files=b.files,
            keys=[b.vkey],
        )
    vs.add(
        "checkpoint-no-signature-block",
        "bad-note",
        {**b.bundle, "checkpoint": note.split("\n\n")[0] + "\n"},
        files=b.files,
        keys=[b.vkey],
    )


def _content(vs: VectorSet) -> None:
    b = build()
    m = b.bundle["manifest"]
    vs.add(
        "manifest-notes-changed",
        "manifest-tampered",
        {**b.bundle, "manifest": {**m, "notes": "added later"}},
        files=b.files,
        keys=[b.vkey],
    )
    vs.add(
        "manifest-entity-changed",
        "manifest-tampered",
        {**b.bundle, "manifest": {**m, "source": {**m["source"], "entity": "另一家店"}}},
        files=b.files,
        keys=[b.vkey],
    )
    f0 = m["files"][0]
    vs.add(
        "manifest-file-digest-changed",
        "manifest-tampered",
        {
            **b.bundle,
            "manifest": {
                **m,
                "files": [{**f0, "sha256": flip_hex(f0["sha256"], 3)}, *m["files"][1:]],
            },
        },
        files=b.files,
        keys=[b.vkey],
    )
    vs.add(
        "manifest-file-sm3-changed",
        "manifest-tampered",
        {
            **b.bundle,
            "manifest": {**m, "files": [{**f0, "sm3": flip_hex(f0["sm3"], 3)}, *m["files"][1:]]},
        },
        files=b.files,
        keys=[b.vkey],
    )
    # A manifest for another evidence id whose digests *are* in a (re-issued) entry.
    other = manifest_for(FILES, evidence_id="ev-0002")
    data = other.canonical()
    entry = make_entry(
        "evidence",
        "ev-0001",
        {"manifest_sha256": hashlib.sha256(data).hexdigest(), "manifest_sm3": sm3_hex(data)},
        at=AT,
        salt="22" * 16,
    )
    xb = build(entry=entry)
    vs.add(
        "manifest-for-another-evidence",
        "manifest-tampered",
        {**xb.bundle, "manifest": other.model_dump(mode="json")},
        files=FILES,
        keys=[xb.vkey],
    )
    e = b.bundle["entry"]
    vs.add(
        "entry-time-changed",
        "entry-tampered",
        {**b.bundle, "entry": {**e, "at": "2026-11-26T06:00:02.000Z"}},
        files=b.files,
        keys=[b.vkey],
    )
    vs.add(
        "entry-digest-changed",
        "entry-tampered",
        {
            **b.bundle,
            "entry": {
                **e,
                "body": {**e["body"], "manifest_sha256": flip_hex(e["body"]["manifest_sha256"], 9)},
            },
        },
        files=b.files,
        keys=[b.vkey],
    )
    vs.add(
        "entry-salt-changed",
        "entry-tampered",
        {**b.bundle, "entry": {**e, "salt": "23" * 16}},
        files=b.files,
        keys=[b.vkey],
    )
    for name, data in b.files.items():
        for pos in (0, len(data) // 2, len(data) - 1):
            changed = bytearray(data)
            changed[pos] ^= 0x01
            vs.add(
                f"file-byte-changed-{name}@{pos}",
                "file-byte-changed",
                b.bundle,
                files={**b.files, name: bytes(changed)},
                keys=[b.vkey],
            )
    vs.add(
        "file-truncated",
        "file-byte-changed",
        b.bundle,
        files={**b.files, "page.html": FILES["page.html"][:-1]},
        keys=[b.vkey],
    )
    vs.add(
        "file-extended",
        "file-byte-changed",
        b.bundle,
        files={**b.files, "page.html": FILES["page.html"] + b"\n"},
        keys=[b.vkey],
    )
    vs.add(
        "file-not-in-manifest",
        "file-byte-changed",
        b.bundle,
        files={**b.files, "extra.txt": b"extra"},
        keys=[b.vkey],
    )


def _format(vs: VectorSet) -> None:
    b = build()
    good = encode(b.bundle)
    m, e = b.bundle["manifest"], b.bundle["entry"]

    def fmt(name: str, data: Json | bytes) -> None:
        vs.add(name, "bad-json", data, files=b.files, keys=[b.vkey])

    fmt("not-json", b"<html>not a bundle</html>")
    fmt("empty", b"")
    fmt("trailing-garbage", good + b" x")
    fmt("json-array", b"[]")
    fmt("utf8-bom", b"\xef\xbb\xbf" + good)
    fmt("invalid-utf8", good.replace(b"evidence.test/log", b"evidence.test/l\xff", 1))
    fmt(
        "duplicate-key",
        good.replace(b'"status": "sealed",', b'"status": "sealed", "status": "sealed",', 1),
    )
    fmt("nan", good.replace(b'"tree_size": ', b'"x": NaN, "tree_size": ', 1))
    fmt("infinity-in-body", json.dumps(b.bundle).replace('"v": 1,', '"v": Infinity,', 1).encode())
    fmt(
        "index-as-float",
        good.replace(b'"index": 12', b'"index": 12.0').replace(b'"index": 5', b'"index": 5.0'),
    )
    fmt("index-as-exponent", good.replace(b'"index": 5', b'"index": 5e0'))
    fmt("v-as-true", {**b.bundle, "entry": {**e, "v": True}})
    fmt("v-as-float", good.replace(b'"v": 1', b'"v": 1.0', 1))
    fmt(
        "size-as-string",
        {
            **b.bundle,
            "manifest": {**m, "files": [{**m["files"][0], "size": "17"}, *m["files"][1:]]},
        },
    )
    fmt("huge-number", good.replace(b'"tree_size": 9', b'"tree_size": 1e400'))
    fmt("big-int-in-custody-body", _custody_with({"n": 2**60}))
    fmt("unknown-field", {**b.bundle, "extra": 1})
    fmt("unknown-entry-field", {**b.bundle, "entry": {**e, "note": "x"}})
    fmt("format-v2", {**b.bundle, "format": "evidence-proof/v2"})
    fmt("format-missing", {k: v for k, v in b.bundle.items() if k != "format"})
    fmt("sealed-with-anchor", {**b.bundle, "anchor": anchor_record(b)})
    fmt("anchored-without-anchor", {**b.bundle, "status": "anchored"})
    fmt("pending-with-proof", {**b.bundle, "status": "pending", "receipt": "x"})
    anchor = {**anchor_record(b), "size": b.log.size + 1}
    fmt("anchor-size-not-checkpoint", {**b.bundle, "status": "anchored", "anchor": anchor})
    anchor = {**anchor_record(b), "contract": "0x1234"}
    fmt("anchor-bad-contract", {**b.bundle, "status": "anchored", "anchor": anchor})
    fmt(
        "anchored-bad-checkpoint",
        {**b.bundle, "status": "anchored", "anchor": anchor_record(b), "checkpoint": "not a note"},
    )
    fmt("manifest-duplicate-names", {**b.bundle, "manifest": {**m, "files": [m["files"][0]] * 2}})
    fmt(
        "manifest-name-with-slash",
        {
            **b.bundle,
            "manifest": {
                **m,
                "files": [{**m["files"][0], "name": "../etc/passwd"}, *m["files"][1:]],
            },
        },
    )
    fmt("manifest-no-files", {**b.bundle, "manifest": {**m, "files": []}})
    fmt(
        "manifest-notes-absent",
        {**b.bundle, "manifest": {k: v for k, v in m.items() if k != "notes"}},
    )
    fmt("manifest-notes-too-long", {**b.bundle, "manifest": {**m, "notes": "长" * 4097}})
    fmt("entry-odd-salt", {**b.bundle, "entry": {**e, "salt": "2" * 33}})
    fmt("entry-bad-time", {**b.bundle, "entry": {**e, "at": "2026-11-26 06:00:01Z"}})
    fmt("entry-body-extra-key", {**b.bundle, "entry": {**e, "body": {**e["body"], "x": "y"}}})
    fmt("log-origin-empty", {**b.bundle, "log_origin": ""})
    fmt("leaf-hash-upper-case", {**b.bundle, "leaf_hash": b.bundle["leaf_hash"].upper()})
    fmt("checkpoint-empty", {**b.bundle, "checkpoint": ""})
    deep: Any = "x"
    for _ in range(8):
        deep = {"d": deep}
    fmt("custody-body-too-deep", _custody_with({"a": deep}))
    fmt("custody-body-too-big", _custody_with({"a": "x" * 17_000}))
    fmt(
        "custody-lone-surrogate",
        encode(_custody_with({"a": "placeholder"})).replace(b"placeholder", b"\\ud800"),
    )
    nested = b"[" * 70 + b"]" * 70
    fmt("nested-70", good.replace(b'"status": "sealed"', b'"status": "sealed", "x": ' + nested))
    fmt("oversized", good[:-2] + b', "pad": "' + b"x" * (1024 * 1024) + b'"}')


def _custody_with(body: Json) -> Json:
    """A well-formed custody bundle whose body is then replaced (so the issuer's checks pass)."""
    custody = make_entry("custody", "cu-2", {"a": "b"}, at=AT, salt="55" * 16)
    cb = build(1, 1, entry=custody)
    return {**cb.bundle, "entry": {**cb.bundle["entry"], "body": body}}


# --- witness cosignatures and timestamps (tier 4) ---------------------------------------------

#: Two example witnesses (fixed seeds), named for a court and a notary office, and a stranger.
COURT = WitnessSigner("court.example/witness", bytes(range(64, 96)))
NOTARY = WitnessSigner("notary.example/witness", bytes(range(96, 128)))
STRANGER_WITNESS = WitnessSigner("stranger.example/witness", bytes(range(128, 160)))
COSIGNED_AT = 1_795_000_100
#: A stand-in for a DER time-stamp token: the browser does not check tokens (CMS), and a
#: verifier without trusted TSA certificates names them as not checked.
TOKEN = {"tsa": "tsa.example", "token": base64.b64encode(b"0\x82 not a real token").decode()}


def cosigned(note: str, *witnesses: WitnessSigner, at: int = COSIGNED_AT) -> str:
    text = note.split("\n\n", 1)[0] + "\n"
    return add_cosignatures(note, [w.cosign(text, at + i) for i, w in enumerate(witnesses)])


def _witnesses(vs: VectorSet) -> None:
    b = build()
    both = [COURT.key().to_text(), NOTARY.key().to_text()]
    note = cosigned(b.bundle["checkpoint"], COURT, NOTARY)
    good = {**b.bundle, "checkpoint": note}

    def add(name: str, defect: str, bundle: Json | bytes, **kw: Any) -> None:
        vs.add(name, defect, bundle, files=b.files, keys=[b.vkey], **kw)

    add("valid-cosigned-quorum-2-of-2", "valid", good, witnesses=both)
    add("valid-cosigned-quorum-1-of-2", "valid", good, witnesses=both, quorum=1)
    add("valid-cosigned-no-witness-keys", "valid", good)
    vs.add("valid-cosigned-no-log-key", "valid", good, files=b.files, witnesses=both)
    add("valid-cosigned-through-3", "valid", good, witnesses=both, through=3)
    one = {**b.bundle, "checkpoint": cosigned(b.bundle["checkpoint"], COURT)}
    add("valid-cosigned-quorum-short-1-of-2", "valid", one, witnesses=both)
    add("valid-cosigned-quorum-met-1-of-2", "valid", one, witnesses=both, quorum=1)
    add("valid-uncosigned-quorum-short", "valid", b.bundle, witnesses=both, quorum=1)
    unknown = {**b.bundle, "checkpoint": cosigned(b.bundle["checkpoint"], STRANGER_WITNESS)}
    add("valid-cosigned-by-unknown-witness-only", "valid", unknown, witnesses=both, quorum=1)
    mixed = {**b.bundle, "checkpoint": cosigned(b.bundle["checkpoint"], STRANGER_WITNESS, COURT)}
    add("valid-cosigned-unknown-and-court", "valid", mixed, witnesses=both, quorum=1)
    # The same key under another name is another witness (the key ID binds the name).
    renamed = WitnessSigner("court.example/other", COURT.seed)
    add("valid-witness-key-renamed", "valid", good, witnesses=[renamed.key().to_text()])
    text, sigs = note.split("\n\n", 1)
    lines = sigs.rstrip("\n").split("\n")  # log, court, notary

    def with_line(index: int, edit: Callable[[str], str]) -> Json:
        prefix, blob = lines[index].rsplit(" ", 1)
        changed = [*lines[:index], f"{prefix} {edit(blob)}", *lines[index + 1 :]]
        return {**b.bundle, "checkpoint": f"{text}\n\n" + "\n".join(changed) + "\n"}

    for bit in (40, 100, 600):  # bits 32..95 are the time, then 512 signature bits
        add(
            f"cosignature-court-bit-@{bit}",
            "forged-cosignature",
            with_line(1, partial(flip_b64_bit, bit=bit)),
            witnesses=both,
            quorum=1,
        )
    add(
        "valid-cosignature-forged-unchecked-without-keys",
        "valid",
        with_line(2, partial(flip_b64_bit, bit=600)),
    )
    add(
        "cosignature-truncated",
        "forged-cosignature",
        with_line(2, lambda s: base64.b64encode(base64.b64decode(s)[:-1]).decode()),
        witnesses=both,
        quorum=1,
    )
    add(
        "cosignature-time-above-2^63",
        "forged-cosignature",
        with_line(1, partial(flip_b64_bit, bit=32)),
        witnesses=both,
        quorum=1,
    )
    # Another checkpoint's cosignature (a split view: same size, another root).
    other = Checkpoint(b.key.name, b.log.size, bytes(32)).to_text()
    foreign = COURT.cosign(other, COSIGNED_AT).to_line()
    add(
        "cosignature-for-another-checkpoint",
        "forged-cosignature",
        {**b.bundle, "checkpoint": b.bundle["checkpoint"] + foreign},
        witnesses=both,
        quorum=1,
    )
    # Timestamps: carried on the checkpoint; not checked without trusted TSA certificates.
    add("valid-timestamped", "valid", {**good, "timestamps": [TOKEN]}, witnesses=both)
    add("valid-timestamped-twice", "valid", {**b.bundle, "timestamps": [TOKEN, TOKEN]})
    fmt = partial(add, defect="bad-json")
    for label, stamps in (
        ("empty-list", []),
        ("null-entry", [None]),
        ("bad-tsa-name", [{**TOKEN, "tsa": "-tsa"}]),
        ("tsa-with-space", [{**TOKEN, "tsa": "a tsa"}]),
        ("token-not-base64", [{**TOKEN, "token": "not base64!"}]),
        ("token-too-short", [{**TOKEN, "token": "AA="}]),
        ("token-number", [{**TOKEN, "token": 5}]),
        ("extra-field", [{**TOKEN, "at": "now"}]),
        ("missing-token", [{"tsa": "tsa.example"}]),
        ("nine-tokens", [TOKEN] * 9),
        ("not-a-list", TOKEN),
        ("token-too-long", [{**TOKEN, "token": "A" * (64 * 1024 + 4)}]),
    ):
        fmt(f"timestamps-{label}", bundle={**b.bundle, "timestamps": stamps})
    pending = _pending_bundle()
    fmt("timestamps-on-pending", bundle={**pending, "timestamps": [TOKEN]})


def _pending_bundle() -> Json:
    key = signer()
    manifest = manifest_for(FILES)
    entry = evidence_entry(manifest, at=AT, salt="22" * 16)
    receipt = Receipt(key.name, leaf_hash(entry.leaf_data()), "2026-11-26T06:00:01.5Z", 600).sign(
        key
    )
    return published(pending_bundle(entry, receipt, origin=key.name, manifest=manifest))


def bundle_vectors() -> list[BundleVector]:
    vs = VectorSet()
    for part in (_valid, _proofs, _signatures, _content, _format, _witnesses):
        part(vs)
    names = [v.name for v in vs.items]
    assert len(names) == len(set(names)), "vector names must be unique"
    return vs.items


# --- comparing the two verifiers -------------------------------------------------------------


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """What both verifiers must agree on (a format error's wording is the library's own)."""
    if "error" in report:
        return {"error": report["error"]}
    return {
        "outcome": report["outcome"],
        "evidence_id": report["evidence_id"],
        "kind": report["kind"],
        "leaf_hash": report["leaf_hash"],
        "tree_size": None if report["tree_size"] is None else str(report["tree_size"]),
        "tiers": [(t["tier"], t["name"], t["status"], t["detail"]) for t in report["tiers"]],
    }


def disagreements(vectors: dict[str, Any], js: dict[str, Any]) -> list[str]:
    out = []
    assert [r["name"] for r in js["bundles"]] == [v["name"] for v in vectors["bundles"]]
    for vec, got in zip(vectors["bundles"], js["bundles"], strict=True):
        want, have = comparable(vec["expected"]), comparable(got["result"])
        if want != have:
            out.append(f"{vec['name']}: python {want} != js {have}")
    return out


# --- canonical JSON, hashes, keys -------------------------------------------------------------

#: name -> JSON text: canonicalised, or refused as a format error
CANONICAL_INPUTS = {
    "empty-object": "{}",
    "empty-array": "[]",
    "keys-out-of-order": '{"b":1,"a":2}',
    "nested-keys-case-sensitive": '{"a":{"c":[3,2,1],"b":null},"A":true}',
    "control-characters-escaped": '"\\u0000\\u001f\\u007f\\b\\f\\n\\r\\t\\"\\\\/"',
    "non-ascii-and-surrogate-pairs": '"é\\u00e9 \\u4e2d 😀 \\ud83d\\ude00"',
    "keys-sorted-by-utf16-units": '{"\\ud83d\\ude00":1,"\\uffff":2,"\\ue000":3,"z":4}',
    "keys-sorted-rfc8785-example": '{"€":1,"\\r":2,"1":3,"\\u0080":4,"ö":5}',
    "numbers-es6-form": (
        "[1.0, 1.5, -0.0, 0.1, 1e21, 1e20, 1e-7, 1e-6, 5e-324, 1.7976931348623157e308]"
    ),
    "numbers-large-and-exponents": (
        "[123456789012345680000.0, 9007199254740993.0, 0.000001, 33e-1, -1E+2]"
    ),
    "integers-at-safe-limit": "[9007199254740991, -9007199254740991, 0, -0]",
    "integer-above-safe-limit": "[9007199254740992]",
    "integer-below-safe-limit": "[-9007199254740992]",
    "lone-surrogate": '"\\ud800"',
    "duplicate-key": '{"a":1,"a":2}',
    "nan": "[NaN]",
    "number-overflow": "[1e400]",
    "leading-zero": "[01]",
    "insignificant-whitespace": '  {  "x" : [ true , false , null ] }  ',
    "depth-65-object-then-arrays": '{"nested":' + "[" * 64 + "]" * 64 + "}",
    "depth-65-arrays": "[" * 65 + "]" * 65,
    "raw-line-separators": '"\u2028\u2029"',
}


def canonical_vectors() -> list[Json]:
    out = []
    for name, text in CANONICAL_INPUTS.items():
        try:
            result: Json = {
                "canonical_b64": base64.b64encode(
                    canonical_json(parse_json(text, max_bytes=1 << 20))
                ).decode()
            }
        except FormatError as exc:
            result = {"error": "format", "message": str(exc)}
        out.append({"name": name, "input": text, **result})
    return out


def hash_vectors() -> list[Json]:
    """SHA-256 and SM3 of inputs around the 64-byte block and its padding edges."""
    inputs = {"empty": b"", "abc": b"abc", "abcd-x16": b"abcd" * 16}
    for n in (0, 55, 56, 63, 64, 65, 119, 120):
        inputs[f"bytes-0-255-x4-then-{n}-zeros"] = bytes(range(256)) * 4 + bytes(n)
    inputs["shake256-evidence-1000003-bytes"] = hashlib.shake_256(b"evidence").digest(1_000_003)
    return [
        {
            "name": name,
            "input_b64": base64.b64encode(data).decode(),
            "sha256": hashlib.sha256(data).hexdigest(),
            "sm3": sm3_hex(data),
        }
        for name, data in inputs.items()
    ]


def key_vectors() -> list[Json]:
    good = signer().verifier().to_text()
    name, hex_id, blob = good.split("+", 2)
    texts = {
        "valid": good,
        "surrounding-whitespace": f"  {good}\n",
        "key-id-uppercase": f"{name}+{hex_id.upper()}+{blob}",
        "key-id-wrong": f"{name}+{'0' * 8}+{blob}",
        "key-truncated": f"{name}+{hex_id}+{blob[:-1]}",
        "key-missing": f"{name}+{hex_id}",
        "name-not-the-key-ids": f"{name}x+{hex_id}+{blob}",
        "name-with-nel": f"a\x85b+{hex_id}+{blob}",
        "name-with-bom": f"a\ufeffb+{hex_id}+{blob}",
        "unknown-algorithm": f"{name}+{hex_id}+" + base64.b64encode(b"\x02" + bytes(32)).decode(),
    }
    out = []
    for label, text in texts.items():
        try:
            VerifierKey.from_text(text)
            out.append({"name": label, "input": text, "ok": True})
        except FormatError as exc:
            out.append({"name": label, "input": text, "ok": False, "message": str(exc)})
    return out + witness_key_vectors()


def witness_key_vectors() -> list[Json]:
    """Witness keys (type 0x04, ``WitnessKey.from_text``), marked ``"type": "witness"``."""
    good = COURT.key().to_text()
    name, hex_id, blob = good.split("+", 2)
    log_key = signer().verifier().to_text()
    texts = {
        "witness-valid": good,
        "witness-surrounding-whitespace": f"\t{good} \n",
        "witness-key-id-uppercase": f"{name}+{hex_id.upper()}+{blob}",
        "witness-key-id-wrong": f"{name}+{'0' * 8}+{blob}",
        "witness-renamed": f"{name}x+{hex_id}+{blob}",
        "witness-type-01-log-key": log_key,
        "witness-key-truncated": f"{name}+{hex_id}+{blob[:-4]}",
        "witness-name-with-space": f"a b+{hex_id}+{blob}",
        "witness-missing-key": f"{name}+{hex_id}",
    }
    out: list[Json] = []
    for label, text in texts.items():
        try:
            WitnessKey.from_text(text)
            out.append({"name": label, "type": "witness", "input": text, "ok": True})
        except FormatError as exc:
            out.append(
                {"name": label, "type": "witness", "input": text, "ok": False, "message": str(exc)}
            )
    return out


def all_vectors() -> Json:
    return {
        "bundles": [v.to_json() for v in bundle_vectors()],
        "canonical": canonical_vectors(),
        "hashes": hash_vectors(),
        "keys": key_vectors(),
    }


def iter_defects(vectors: list[BundleVector]) -> Iterator[str]:
    return iter(sorted({v.defect for v in vectors}))


# --- evidence packages (ZIP) ------------------------------------------------------------------


def python_package_verdict(data: bytes) -> Json:
    """What :func:`verifier.package.read_package_stream` makes of a ZIP: its files or a refusal."""
    from verifier.errors import PackageError  # noqa: PLC0415
    from verifier.package import read_package_stream  # noqa: PLC0415

    try:
        package = read_package_stream(io.BytesIO(data))
    except PackageError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    return {
        "ok": True,
        "evidence_id": package.bundle.entry.id,
        "files": [
            {"name": f.name, "size": f.size, "sha256": f.sha256, "sm3": f.sm3}
            for f in package.files
        ],
        "log_key_text": package.log_key_text,
    }


def package_vectors(tmp: Path) -> list[Json]:
    """Valid and hostile packages. The hostile ones are the package reader's own list
    (``tests/unit/test_package.py``: traversal, links, 100,000 entries, truncation, CRC,
    overlap, mismatches …) plus a deflate bomb, so the portal refuses what the CLI refuses."""
    from tests.support.factories import sealed_evidence  # noqa: PLC0415
    from tests.unit.test_package import (  # noqa: PLC0415
        HOSTILE,
        Raw,
        members_of,
        raw_package,
        raw_zip,
        seal_manifest,
        with_file_sizes,
        write_zip,
        zeros_crc,
        zeros_deflated,
    )

    sealed = sealed_evidence({**FILES, "big.bin": hashlib.shake_256(b"big").digest(300_000)})
    cases: dict[str, bytes] = {}
    cases["valid-deflated"] = write_zip(tmp / "valid.zip", members_of(sealed)).read_bytes()
    cases["valid-stored"] = raw_zip(raw_package(sealed))
    cases["valid-without-key"] = write_zip(
        tmp / "nokey.zip", members_of(sealed, key=False)
    ).read_bytes()
    # A manifest naming 300 MiB of zeros, deflated about 1000:1: refused while inflating.
    size = 300 << 20
    bombed = seal_manifest(with_file_sizes(manifest_for({"zeros.bin": b""}), {"zeros.bin": size}))
    bomb = Raw("files/zeros.bin", zeros_deflated(size), method=8, size=size, crc=zeros_crc(size))
    cases["deflate-bomb-300MiB"] = raw_zip(raw_package(bombed, bomb))
    for name, hostile in HOSTILE.items():
        folder = tmp / name
        folder.mkdir()
        cases[name] = hostile.build(sealed, folder).read_bytes()
    return [
        {
            "name": name,
            "zip_b64": base64.b64encode(data).decode(),
            "expected": python_package_verdict(data),
        }
        for name, data in cases.items()
    ]


# --- the committed files: testdata/vectors/ ---------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
TESTDATA = REPO / "testdata" / "vectors"
FORMAT = "evidence-anchor-vectors/v1"
REGENERATE = "python -m tests.support.vectors --write"
#: group -> what its vectors are (the schema is docs/proof-format.md §14)
GROUPS = {
    "bundles": "proof bundles, valid and damaged in one named way, with the files and trusted "
    "log keys given to the verifier and its report (or its format error)",
    "canonical": "RFC 8785 canonical JSON: input text -> canonical bytes, or refused",
    "hashes": "SHA-256 and SM3 digests",
    "keys": "C2SP verifier keys: accepted or refused",
    "packages": "evidence packages (ZIP files under packages/), valid and hostile, with the "
    "package reader's files and digests or its refusal",
}


def generate(tmp: Path) -> dict[str, list[Json]]:
    """Every group, computed from the code now; packages carry their ZIP bytes (``zip_b64``)."""
    return {**all_vectors(), "packages": package_vectors(tmp)}


def package_file(name: str) -> str:
    return f"packages/{name}.zip"


def documents(vectors: dict[str, list[Json]]) -> dict[str, bytes]:
    """The files of ``testdata/vectors``: relative path -> bytes. A package's ZIP is a file of
    its own (``packages/NAME.zip``), its group file names it."""
    files: dict[str, bytes] = {}
    for group, description in GROUPS.items():
        items = vectors[group]
        if group == "packages":
            listed = []
            for vec in items:
                files[package_file(vec["name"])] = base64.b64decode(vec["zip_b64"])
                listed.append({"name": vec["name"], "zip": package_file(vec["name"]), **_rest(vec)})
            items = listed
        document = {
            "format": FORMAT,
            "group": group,
            "description": description,
            "regenerate": REGENERATE,
            "vectors": items,
        }
        text = json.dumps(document, ensure_ascii=False, indent=1) + "\n"
        files[f"{group}.json"] = text.encode("utf-8")
    return files


def _rest(vec: Json) -> Json:
    return {k: v for k, v in vec.items() if k not in ("name", "zip_b64")}


def load(root: Path = TESTDATA) -> dict[str, list[Json]]:
    """The committed vectors, in the shape :func:`generate` returns (packages with ``zip_b64``)."""
    out: dict[str, list[Json]] = {}
    for group in GROUPS:
        document = json.loads((root / f"{group}.json").read_text(encoding="utf-8"))
        if document.get("format") != FORMAT or document.get("group") != group:
            raise ValueError(f"{root / group}.json is not a {FORMAT} {group} file")
        items = document["vectors"]
        if group == "packages":
            items = [
                {
                    "name": vec["name"],
                    "zip_b64": base64.b64encode((root / vec["zip"]).read_bytes()).decode(),
                    **{k: v for k, v in vec.items() if k not in ("name", "zip")},
                }
                for vec in items
            ]
        out[group] = items
    return out


def committed_files(root: Path = TESTDATA) -> dict[str, bytes]:
    """What ``root`` holds now: relative path -> bytes."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def write(root: Path = TESTDATA) -> list[str]:
    """Regenerate ``root`` from the code; returns the files that changed (stale ones removed)."""
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="vectors-") as tmp:
        files = documents(generate(Path(tmp)))
    before = committed_files(root) if root.exists() else {}
    changed = sorted({p for p in files if before.get(p) != files[p]} | (set(before) - set(files)))
    for rel in set(before) - set(files):
        (root / rel).unlink()
    for rel, data in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if before.get(rel) != data:
            target.write_bytes(data)
    return changed


def main(argv: list[str] | None = None) -> int:
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(
        prog="python -m tests.support.vectors",
        description="The shared verification vectors under testdata/vectors: check that the "
        "committed files are what the code generates (default), or --write them.",
    )
    parser.add_argument("--write", action="store_true", help="regenerate the files")
    parser.add_argument("--root", type=Path, default=TESTDATA, help=f"default {TESTDATA}")
    args = parser.parse_args(argv)
    if args.write:
        changed = write(args.root)
        print(
            f"{len(changed)} files rewritten under {args.root}"
            + "".join(f"\n  {rel}" for rel in changed)
        )
        return 0
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="vectors-") as tmp:
        want = documents(generate(Path(tmp)))
    have = committed_files(args.root) if args.root.exists() else {}
    stale = sorted(p for p in set(want) | set(have) if want.get(p) != have.get(p))
    for rel in stale:
        print(f"stale: {rel}")
    if stale:
        print(f"regenerate with: {REGENERATE}")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
