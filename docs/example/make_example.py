"""Build the worked example of ``docs/proof-format.md``, deterministically.

Every digest, signature and byte string that the document quotes is printed
by this script; nothing in the document is typed in by hand. The example is a
log of five entries (four ``stamp`` entries and, at index 2, one ``evidence``
entry whose manifest lists one small file), a receipt, a checkpoint of size 5
cosigned by one example witness (C2SP ``tlog-cosignature``), and the ``sealed``
proof bundle of the evidence entry.

Everything is fixed: the Ed25519 key seed is ``bytes(range(32))`` (as in
``tests/support/factories.py``), the witness's seed is ``bytes(range(32, 64))``, salts
and times are constants, and Ed25519 signatures are deterministic (RFC 8032), so every
run yields the same bytes. Never use these keys for anything real: their private halves
are printed below.

Run from the repository root::

    .venv/bin/python docs/example/make_example.py           # print every value
    .venv/bin/python docs/example/make_example.py --write   # also rewrite the files

``tests/unit/test_docs_example.py`` rebuilds the example with these functions
and checks that the committed files and the document still match the code.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from anchoring.entries import evidence_entry, make_entry, sealed_bundle, sign_checkpoint
from anchoring.log import MerkleLog
from anchoring.store import MemoryNodeStore
from verifier.bundle import Bundle
from verifier.checkpoint import parse_signed_checkpoint
from verifier.cosignature import (
    ALG_COSIGNATURE,
    Cosignature,
    WitnessSigner,
    add_cosignatures,
    cosigned_message,
)
from verifier.digests import sm3_hex
from verifier.merkle import (
    EMPTY_ROOT,
    consistency_proof_length,
    inclusion_proof_length,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from verifier.models import Entry, Manifest
from verifier.note import SignerKey, key_id, parse_note
from verifier.receipt import Receipt

EXAMPLE_DIR = Path(__file__).resolve().parent
ORIGIN = "evidence-anchor.example/log"
#: The fixed, public, example-only Ed25519 seed (the same as the test factories').
SEED = bytes(range(32))
FILES = {"listing.html": b"<p>Item 42: 99 CNY</p>\n"}
EVIDENCE_ID = "ev-0001"
EVIDENCE_INDEX = 2
RECEIVED_AT = "2026-11-26T06:00:01.000Z"
MAX_MERGE_DELAY = 60
#: (id, time) of the stamp entries around the evidence entry, in log order.
STAMPS_BEFORE = (("st-0001", "2026-11-26T05:59:58.000Z"), ("st-0002", "2026-11-26T05:59:59.000Z"))
STAMPS_AFTER = (("st-0003", "2026-11-26T06:00:02.000Z"), ("st-0004", "2026-11-26T06:00:03.000Z"))
#: The example witness (a court's), its public, example-only seed and its cosigning time
#: (2026-11-26T06:00:10Z, POSIX seconds).
WITNESS_NAME = "court.example/witness"
WITNESS_SEED = bytes(range(32, 64))
COSIGNED_AT = 1_795_672_810
#: Sizes of the consistency proof the document works through.
CONSISTENCY = (3, 5)
#: DER prefix of an Ed25519 PKCS#8 private key (RFC 8410); the 32-byte seed follows.
PKCS8_ED25519_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
#: DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32-byte key follows.
SPKI_ED25519_PREFIX = bytes.fromhex("302a300506032b6570032100")


@dataclass(frozen=True)
class Example:
    signer: SignerKey
    manifest: Manifest
    entries: tuple[Entry, ...]
    log: MerkleLog
    receipt: str
    #: the cosigned checkpoint the bundle carries (log signature, then the witness's)
    checkpoint: str
    bundle: Bundle
    witness: WitnessSigner


def build_manifest() -> Manifest:
    """The example's manifest: one file, one Chinese field, two significant nulls."""
    return Manifest.model_validate(
        {
            "v": 1,
            "evidence_id": EVIDENCE_ID,
            "files": [
                {
                    "name": name,
                    "media_type": "text/html",
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "sm3": sm3_hex(data),
                }
                for name, data in FILES.items()
            ],
            "source": {
                "url": "https://shop.example.com/item/42",
                "platform": "example-mall",
                "entity": "示例旗舰店",
            },
            "captured_at": "2026-11-26T06:00:00Z",
            "capture": {"tool": "chromium-headless", "environment": {"os": "debian-12"}},
            "submitter": "officer-7f3a",
            "case": None,
            "notes": None,
            "salt": "11" * 16,
        }
    )


def _stamp(number: int, entry_id: str, at: str) -> Entry:
    digest = hashlib.sha256(f"example stamp {number}".encode()).hexdigest()
    return make_entry(
        "stamp", entry_id, {"sha256": digest}, at=at, salt=f"{0xA0 + number:02x}" * 16
    )


def build_example() -> Example:
    """Build the log, seal it at size 5 and return everything the document quotes."""
    signer = SignerKey(ORIGIN, SEED)
    manifest = build_manifest()
    evidence = evidence_entry(manifest, at=RECEIVED_AT, salt="22" * 16)
    before = [_stamp(i, eid, at) for i, (eid, at) in enumerate(STAMPS_BEFORE)]
    after = [_stamp(i + len(before), eid, at) for i, (eid, at) in enumerate(STAMPS_AFTER)]
    entries = (*before, evidence, *after)
    log = MerkleLog(MemoryNodeStore())
    log.append(e.leaf_data() for e in entries)
    leaf = leaf_hash(evidence.leaf_data())
    receipt = Receipt(ORIGIN, leaf, RECEIVED_AT, MAX_MERGE_DELAY).sign(signer)
    witness = WitnessSigner(WITNESS_NAME, WITNESS_SEED)
    signed = sign_checkpoint(log, signer)
    text = parse_note(signed).text
    checkpoint = add_cosignatures(signed, [witness.cosign(text, COSIGNED_AT)])
    bundle = sealed_bundle(
        log,
        evidence,
        EVIDENCE_INDEX,
        checkpoint,
        log.size,
        origin=ORIGIN,
        manifest=manifest,
        receipt=receipt,
    )
    return Example(signer, manifest, entries, log, receipt, checkpoint, bundle, witness)


def example_files(example: Example) -> dict[str, bytes]:
    """The committed files of the example, by path relative to ``docs/example``."""
    out = {
        "bundle.json": (example.bundle.to_json() + "\n").encode("utf-8"),
        "log.vkey": (example.signer.verifier().to_text() + "\n").encode("utf-8"),
    }
    out.update({f"files/{name}": data for name, data in FILES.items()})
    return out


def write_example(example: Example, directory: Path = EXAMPLE_DIR) -> None:
    for rel, data in example_files(example).items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


# --- the printed walk-through -----------------------------------------------------------


def _inclusion_trace(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> list[str]:
    """The RFC 9162 §2.1.3.2 walk, one line per proof hash (mirrors verifier.merkle)."""
    lines = []
    fn, sn, r = index, size - 1, leaf
    for i, p in enumerate(proof):
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            lines.append(f"step {i}: fn={fn} sn={sn} -> r = H(01 || hashes[{i}] || r) = {r.hex()}")
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
            lines.append(f"step {i}: fn={fn} sn={sn} -> r = H(01 || r || hashes[{i}]) = {r.hex()}")
        fn >>= 1
        sn >>= 1
    lines.append(f"end: sn={sn}, r = {r.hex()}")
    return lines


def _consistency_trace(size1: int, size2: int, root1: bytes, proof: Sequence[bytes]) -> list[str]:
    """The RFC 9162 §2.1.4.2 walk, one line per proof hash (mirrors verifier.merkle)."""
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    lines = [f"start: fn={fn} sn={sn} fr = sr = {fr.hex()}"]
    for i, c in enumerate(path[1:], start=1):
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            lines.append(f"c[{i}]: fn={fn} sn={sn} -> fr = H(01||c||fr) = {fr.hex()}")
            lines.append(f"{'':20}sr = H(01||c||sr) = {sr.hex()}")
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
            lines.append(f"c[{i}]: fn={fn} sn={sn} -> sr = H(01||sr||c) = {sr.hex()}")
        fn >>= 1
        sn >>= 1
    lines.append(f"end: sn={sn}, fr = {fr.hex()}, sr = {sr.hex()}")
    return lines


def _describe_content(example: Example) -> list[str]:
    """Files, manifest and entries: tiers 1 and 2, and the leaf data."""
    out = ["== files"]
    for name, data in FILES.items():
        out.append(f"{name} bytes     : {data.hex()}")
        out.append(f"{name} size      : {len(data)}")
        out.append(f"{name} sha256    : {hashlib.sha256(data).hexdigest()}")
        out.append(f"{name} sm3       : {sm3_hex(data)}")
    canonical = example.manifest.canonical()
    out.append("== manifest")
    out.append(f"canonical text : {canonical.decode('utf-8')}")
    out.append(f"canonical hex  : {canonical.hex()}")
    out.append(f"canonical size : {len(canonical)}")
    out.append(f"sha256         : {hashlib.sha256(canonical).hexdigest()}")
    out.append(f"sm3            : {sm3_hex(canonical)}")
    out.append("== entries (leaf data = canonical bytes)")
    for i, entry in enumerate(example.entries):
        data = entry.leaf_data()
        out.append(f"[{i}] text      : {data.decode('utf-8')}")
        out.append(f"[{i}] hex       : {data.hex()}")
        out.append(f"[{i}] size      : {len(data)}")
        out.append(f"[{i}] leaf hash : {leaf_hash(data).hex()}")
    return out


def _describe_tree(example: Example) -> list[str]:
    """Every node of the tree of size 5, and the inclusion and consistency proofs."""
    log = example.log
    leaves = [leaf_hash(e.leaf_data()) for e in example.entries]
    n01 = node_hash(leaves[0], leaves[1])
    n23 = node_hash(leaves[2], leaves[3])
    n0123 = node_hash(n01, n23)
    root = node_hash(n0123, leaves[4])
    out = [
        "== tree of size 5",
        f"n01   = H(01||l0||l1)     : {n01.hex()}",
        f"n23   = H(01||l2||l3)     : {n23.hex()}",
        f"n0123 = H(01||n01||n23)   : {n0123.hex()}",
        f"root  = H(01||n0123||l4)  : {root.hex()}",
        f"log.root(5)               : {log.root(5).hex()}",
        f"root base64               : {base64.b64encode(root).decode()}",
        f"empty-tree root SHA-256() : {EMPTY_ROOT.hex()}",
        f"== inclusion proof of index {EVIDENCE_INDEX} in size {log.size}",
        f"expected length: {inclusion_proof_length(EVIDENCE_INDEX, log.size)}",
    ]
    proof = log.inclusion_proof(EVIDENCE_INDEX, log.size)
    out.extend(f"hashes[{i}]: {h.hex()}" for i, h in enumerate(proof))
    out.extend(_inclusion_trace(leaves[EVIDENCE_INDEX], EVIDENCE_INDEX, log.size, proof))
    verify_inclusion(leaves[EVIDENCE_INDEX], EVIDENCE_INDEX, log.size, proof, root)

    size1, size2 = CONSISTENCY
    root1 = log.root(size1)
    cproof = log.consistency_proof(size1, size2)
    out.append(f"== consistency proof from size {size1} to size {size2}")
    out.append(f"root({size1}): {root1.hex()}")
    out.append(f"root({size1}) = H(01||n01||l2): {node_hash(n01, leaves[2]).hex()}")
    out.append(f"expected length: {consistency_proof_length(size1, size2)}")
    out.extend(f"proof[{i}]: {h.hex()}" for i, h in enumerate(cproof))
    out.extend(_consistency_trace(size1, size2, root1, cproof))
    verify_consistency(size1, size2, root1, log.root(size2), cproof)
    return out


def _describe_key(signer: SignerKey) -> list[str]:
    vk = signer.verifier()
    preimage = signer.name.encode("utf-8") + b"\n\x01" + vk.public_key
    return [
        "== log key (EXAMPLE ONLY: the seed is public)",
        f"name            : {signer.name}",
        f"name hex        : {signer.name.encode('utf-8').hex()}",
        f"seed            : {signer.seed.hex()}",
        f"pkcs8 der       : {(PKCS8_ED25519_PREFIX + signer.seed).hex()}",
        f"public key      : {vk.public_key.hex()}",
        f"spki der        : {(SPKI_ED25519_PREFIX + vk.public_key).hex()}",
        f"key id preimage : {preimage.hex()}",
        f"sha256(preimage): {hashlib.sha256(preimage).hexdigest()}",
        f"key id          : {key_id(signer.name, vk.public_key).hex()}",
        f"vkey            : {vk.to_text()}",
        f"private key     : {signer.to_text()}",
    ]


def _describe_note(label: str, note: str) -> list[str]:
    parsed = parse_note(note)
    sig = parsed.signatures[0]  # the log's; a checkpoint's cosignatures follow it
    return [
        f"== {label} (signed note)",
        f"note:\n{note}",
        f"text hex        : {parsed.text.encode('utf-8').hex()}",
        f"signature line  : {sig.to_line().rstrip()}",
        f"line blob hex   : {(sig.key_id + sig.signature).hex()}",
        f"key id          : {sig.key_id.hex()}",
        f"signature       : {sig.signature.hex()}",
    ]


def _describe_witness(witness: WitnessSigner, note: str) -> list[str]:
    """The witness key, its key ID (type 0x04), the signed message and the cosignature."""
    key = witness.key()
    preimage = witness.name.encode("utf-8") + b"\n" + bytes([ALG_COSIGNATURE]) + key.public_key
    parsed = parse_note(note)
    line = next(s for s in parsed.signatures if (s.name, s.key_id) == (key.name, key.key_id))
    cosig = Cosignature.from_signature(line)
    message = cosigned_message(parsed.text, cosig.timestamp)
    assert key.verify(cosig, parsed.text)
    blob = cosig.key_id + cosig.timestamp.to_bytes(8, "big") + cosig.signature
    return [
        "== witness key (EXAMPLE ONLY: the seed is public)",
        f"name            : {witness.name}",
        f"seed            : {witness.seed.hex()}",
        f"pkcs8 der       : {(PKCS8_ED25519_PREFIX + witness.seed).hex()}",
        f"public key      : {key.public_key.hex()}",
        f"spki der        : {(SPKI_ED25519_PREFIX + key.public_key).hex()}",
        f"key id preimage : {preimage.hex()}",
        f"sha256(preimage): {hashlib.sha256(preimage).hexdigest()}",
        f"key id          : {key.key_id.hex()}",
        f"vkey            : {key.to_text()}",
        f"private key     : {witness.to_text()}",
        "== cosignature (C2SP tlog-cosignature/v1)",
        f"time            : {cosig.timestamp} (0x{cosig.timestamp:016x})",
        f"signed message  : {message.decode('utf-8')!r}",
        f"message hex     : {message.hex()}",
        f"message sha256  : {hashlib.sha256(message).hexdigest()}",
        f"signature line  : {cosig.to_line().rstrip()}",
        f"line blob hex   : {blob.hex()}",
        f"signature       : {cosig.signature.hex()}",
        f"note body sha256: {hashlib.sha256(parsed.text.encode('utf-8')).hexdigest()}"
        " (the RFC 3161 message imprint of a timestamp on this checkpoint)",
    ]


def describe(example: Example) -> str:
    """Every value the document quotes, labelled."""
    checkpoint = parse_signed_checkpoint(example.checkpoint)
    out = [
        *_describe_content(example),
        *_describe_tree(example),
        *_describe_key(example.signer),
        *_describe_note("checkpoint", example.checkpoint),
        *_describe_witness(example.witness, example.checkpoint),
        *_describe_note("receipt", example.receipt),
        f"checkpoint size : {checkpoint.size}, root {checkpoint.root.hex()}",
        "== bundle.json",
        example.bundle.to_json(),
    ]
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the committed files")
    args = parser.parse_args(argv)
    example = build_example()
    sys.stdout.write(describe(example))
    if args.write:
        write_example(example)
        sys.stdout.write(f"wrote {', '.join(sorted(example_files(example)))} in {EXAMPLE_DIR}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
