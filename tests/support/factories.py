"""Builders of sample manifests, entries, logs and bundles for tests and benchmarks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from anchoring.entries import evidence_entry, make_entry, sealed_bundle, sign_checkpoint
from anchoring.log import MerkleLog
from anchoring.store import MemoryNodeStore
from evidence_api.certificates.content import CertificateInput
from verifier.bundle import Bundle
from verifier.certificate import Statement
from verifier.digests import sm3_hex
from verifier.models import Entry, Manifest
from verifier.note import SignerKey

ORIGIN = "evidence.test/log"
#: A fixed seed so that known-answer tests and docs can quote exact digests.
FIXED_SEED = bytes(range(32))


def signer(seed: bytes = FIXED_SEED, origin: str = ORIGIN) -> SignerKey:
    return SignerKey(origin, seed)


def manifest_for(
    files: dict[str, bytes], evidence_id: str = "ev-0001", salt: str = "11" * 16
) -> Manifest:
    """A manifest describing ``files`` (name -> content)."""
    return Manifest.model_validate(
        {
            "v": 1,
            "evidence_id": evidence_id,
            "files": [
                {
                    "name": name,
                    "media_type": "application/octet-stream",
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "sm3": sm3_hex(data),
                }
                for name, data in files.items()
            ],
            "source": {
                "url": "https://shop.example.com/item/42",
                "platform": "example-mall",
                "entity": "示例旗舰店",
            },
            "captured_at": "2026-11-26T06:00:00Z",
            "capture": {"tool": "chromium-headless", "environment": {"os": "debian-12"}},
            "submitter": "officer-7f3a",
            "case": "泉市监案〔2026〕1号",
            "notes": None,
            "salt": salt,
        }
    )


@dataclass
class Sealed:
    """A small log holding one evidence entry among others, and its sealed bundle."""

    log: MerkleLog
    signer: SignerKey
    manifest: Manifest
    entry: Entry
    index: int
    bundle: Bundle
    files: dict[str, bytes]


def sealed_evidence(
    files: dict[str, bytes] | None = None,
    *,
    before: int = 5,
    after: int = 3,
    key: SignerKey | None = None,
) -> Sealed:
    """Build a log with ``before`` stamps, one evidence entry, ``after`` stamps; seal it."""
    files = (
        files
        if files is not None
        else {"page.html": b"<html>shop</html>", "shot.png": b"\x89PNG..."}
    )
    key = key or signer()
    log = MerkleLog(MemoryNodeStore())
    stamps = [
        make_entry(
            "stamp",
            f"st-{i}",
            {"sha256": hashlib.sha256(bytes([i])).hexdigest()},
            at="2026-11-26T06:00:00.000Z",
            salt=f"{i:032x}",
        )
        for i in range(before + after)
    ]
    log.append(e.leaf_data() for e in stamps[:before])
    manifest = manifest_for(files)
    entry = evidence_entry(manifest, at="2026-11-26T06:00:01.000Z", salt="22" * 16)
    index = log.append([entry.leaf_data()])
    log.append(e.leaf_data() for e in stamps[before:])
    note = sign_checkpoint(log, key)
    bundle = sealed_bundle(log, entry, index, note, log.size, origin=key.name, manifest=manifest)
    return Sealed(log, key, manifest, entry, index, bundle, files)


def certificate_input(statement: Statement) -> CertificateInput:
    """What a 存证证书 stating ``statement`` prints, with fixed facts for people."""
    return CertificateInput(
        statement=statement,
        submitter="张三（泉州市市场监督管理局） [token-1]",
        received_at=datetime(2026, 12, 3, 10, 0, tzinfo=UTC),
        captured_at="2026-12-03T09:59:00Z",
        source_url="https://shop.example.com/item/42",
        platform="example-mall",
        case_ref=None,
        signer="CN=test",
        signer_fingerprint="00" * 32,
        development=True,
        portal_url="http://127.0.0.1:8000/verifier/verify",
    )
