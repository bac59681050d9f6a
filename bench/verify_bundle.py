"""Figure 3: offline verification of a sealed bundle, tiers 2-4 (no file hashing).

The figure is ``load_bundle(json)`` then ``verify_bundle(bundle, log_keys=[vk])``
on a bundle from ``tests.support.factories.sealed_evidence``. Beside it, the
same work split into its parts, each timed on its own (parse; the entry's
leaf hash; tier 2 manifest; tier 3 inclusion, with the checkpoint parse;
tier 4 signatures), so a reader sees where the time goes; they should add
up to about the whole. The Merkle check alone is set beside pymerkle's
``verify_inclusion`` checking the same proof.

Two bundles: the factory's default (a 9-leaf log) and the same entry sealed
in a log as big as the largest benchmarked size, so its proof is as long as
a big log's (20 hashes at 10^6).
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

import pymerkle
from pymerkle.core import _inclusion_path_layout as _pymerkle_layout

from anchoring.entries import evidence_entry, sealed_bundle, sign_checkpoint
from anchoring.log import MerkleLog
from anchoring.store import MemoryNodeStore
from bench.common import Latency, Row, leaf_data, time_interleaved, verdict, waited_note
from verifier.bundle import Bundle, load_bundle
from verifier.merkle import leaf_hash, verify_inclusion
from verifier.note import SignerKey
from verifier.verify import (  # the tier functions verify_bundle runs, timed one by one
    Status,
    _tier_inclusion,
    _tier_manifest,
    _tier_signature,
    verify_bundle,
)

#: the issue's target for the whole of tiers 2-4, p50
FULL_P50_TARGET_MS = 1.0

FULL = "load + verify_bundle"
PARTS = {
    "parse": "load_bundle (parse)",
    "leaf": "entry leaf hash",
    "tier2": "tier 2 manifest",
    "tier3": "tier 3 inclusion",
    "tier4": "tier 4 signature",
}
MERKLE = "verify_inclusion (merkle only)"
PYMERKLE = "pymerkle verify_inclusion"


@dataclass(frozen=True)
class Sample:
    """A sealed bundle, its log and its log key."""

    label: str
    bundle: Bundle
    log: MerkleLog
    signer: SignerKey


def _factories() -> ModuleType:
    """``tests.support.factories``, importable from any working directory."""
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module("tests.support.factories")


def factory_sample() -> Sample:
    """``sealed_evidence()`` as the tests build it: one evidence entry in a 9-leaf log."""
    sealed = _factories().sealed_evidence()
    return Sample("sealed_evidence()", sealed.bundle, sealed.log, sealed.signer)


def deep_sample(size: int) -> Sample:
    """The same evidence entry sealed in a log of ``size`` leaves, so its proof is as long
    as a big log's. ``sealed_evidence`` itself builds at most 256 stamps, so the other
    leaves here are the benchmark's plain leaf data: the verifier never reads them."""
    factories = _factories()
    key = factories.signer()
    manifest = factories.manifest_for({"page.html": b"<html>shop</html>", "shot.png": b"PNG"})
    entry = evidence_entry(manifest, at="2026-11-26T06:00:01.000Z", salt="22" * 16)
    log = MerkleLog(MemoryNodeStore())
    index = (size * 3) // 5  # off the power-of-two boundaries
    for start in range(0, index, 100_000):
        log.append(leaf_data(i) for i in range(start, min(start + 100_000, index)))
    log.append([entry.leaf_data()])
    for start in range(index + 1, size, 100_000):
        log.append(leaf_data(i) for i in range(start, min(start + 100_000, size)))
    note = sign_checkpoint(log, key)
    bundle = sealed_bundle(log, entry, index, note, size, origin=key.name, manifest=manifest)
    return Sample(f"same entry in a log of {size:,}", bundle, log, key)


@dataclass(frozen=True)
class BundleResult:
    label: str
    tree_size: int
    proof_hashes: int
    json_bytes: int
    latency: dict[str, Latency]


def measure(sample: Sample, samples: int) -> BundleResult:
    text = sample.bundle.to_json()
    keys = [sample.signer.verifier()]
    bundle = load_bundle(text)
    report = verify_bundle(bundle, log_keys=keys)
    statuses = {t.tier: t.status for t in report.tiers}
    if any(statuses[tier] != Status.VERIFIED for tier in (2, 3, 4)):
        raise RuntimeError(f"the sample bundle does not verify: {report.to_dict()}")
    if bundle.inclusion is None:
        raise RuntimeError("the sample bundle has no inclusion proof")
    index, size = bundle.inclusion.index, bundle.inclusion.tree_size
    hashes = bundle.inclusion.hash_bytes()
    leaf = leaf_hash(bundle.entry.leaf_data())
    root = sample.log.root(size)

    # pymerkle's peer checks the very same proof: its inclusion path is ours with the
    # leaf hash in front (figure 2 cross-checks that), and its rule bits follow from
    # (index, size) alone, so no 10^6-leaf pymerkle tree is needed to build it.
    rule, _ = _pymerkle_layout(index + 1, size)
    peer_proof = pymerkle.InclusionProof("sha256", True, size, index + 1, rule, [leaf, *hashes])
    pymerkle.verify_inclusion(leaf, root, peer_proof)

    calls = {
        FULL: lambda _: verify_bundle(load_bundle(text), log_keys=keys),
        PARTS["parse"]: lambda _: load_bundle(text),
        PARTS["leaf"]: lambda _: leaf_hash(bundle.entry.leaf_data()),
        PARTS["tier2"]: lambda _: _tier_manifest(bundle),
        PARTS["tier3"]: lambda _: _tier_inclusion(bundle, leaf),
        PARTS["tier4"]: lambda _: _tier_signature(bundle, leaf, keys),
        MERKLE: lambda _: verify_inclusion(leaf, index, size, hashes, root),
        PYMERKLE: lambda _: pymerkle.verify_inclusion(leaf, root, peer_proof),
    }
    latency = time_interleaved(calls, samples, warmup=20)
    return BundleResult(sample.label, size, len(hashes), len(text.encode()), latency)


def bundle_rows(result: BundleResult) -> list[Row]:
    n = result.tree_size
    lat = result.latency
    full = lat[FULL]
    parts_p50 = sum(lat[name].p50_ms for name in PARTS.values())
    rows = [
        Row(
            id=f"bundle.full.p50.n={n}",
            figure=f"bundle n={n:,} {FULL} p50",
            unit="ms",
            ours=full.p50_ms,
            baseline=parts_p50,
            baseline_name="sum of the parts below, p50",
            ratio_kind="share",
            target=f"<= {FULL_P50_TARGET_MS:g} ms",
            verdict=verdict(full.p50_ms <= FULL_P50_TARGET_MS),
        ),
        Row(
            id=f"bundle.full.p99.n={n}",
            figure=f"bundle n={n:,} {FULL} p99",
            unit="ms",
            ours=full.p99_ms,
            baseline=sum(lat[name].p99_ms for name in PARTS.values()),
            baseline_name="sum of the parts below, p99",
            ratio_kind="share",
            note=waited_note(f"bundle n={n:,} {FULL} p99", {"full": full}),
        ),
    ]
    for key, name in PARTS.items():
        rows.append(
            Row(
                id=f"bundle.{key}.p50.n={n}",
                figure=f"bundle n={n:,} {name} p50",
                unit="ms",
                ours=lat[name].p50_ms,
                baseline=full.p50_ms,
                baseline_name=f"{FULL}, p50",
                ratio_kind="share",
            )
        )
    for stat in ("p50", "p99"):
        ours, peer = lat[MERKLE], lat[PYMERKLE]
        rows.append(
            Row(
                id=f"bundle.merkle.{stat}.n={n}",
                figure=f"bundle n={n:,} {MERKLE} {stat} ({result.proof_hashes} hashes)",
                unit="ms",
                ours=ours.p50_ms if stat == "p50" else ours.p99_ms,
                baseline=peer.p50_ms if stat == "p50" else peer.p99_ms,
                baseline_name=PYMERKLE,
            )
        )
    return rows


def bundle_raw(result: BundleResult) -> dict[str, object]:
    return {
        "tree_size": result.tree_size,
        "proof_hashes": result.proof_hashes,
        "json_bytes": result.json_bytes,
        "latency": {name: asdict(lat) for name, lat in result.latency.items()},
    }
