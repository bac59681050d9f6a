"""Tiered verification of a proof bundle (docs/design.md §5).

Every tier is reported, never just "OK":

1. files — each file's bytes hash to the manifest's SHA-256 and SM3; for a server
   capture, its WACZ also agrees with its own ``datapackage.json`` digests
   (:mod:`verifier.capture`; the reader of the bytes checks it, tier 1 reads the verdict);
2. manifest → entry — the manifest's digests are the entry's;
3. inclusion — the entry's leaf is in the checkpoint's tree (RFC 9162);
4. checkpoint — signed by the trusted log key;
5. anchor — the chain records that (size, root); checked by a caller-supplied
   function, since it needs the network (:func:`verifier.chain.anchor.make_anchor_check`).

Pure: file digests are computed by the caller and passed in; the chain check
is a callable the caller provides, and is not called when tier 5 is skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from verifier import capture
from verifier.bundle import Bundle
from verifier.checkpoint import Checkpoint, open_checkpoint, parse_signed_checkpoint
from verifier.digests import FileDigest, sm3_hex
from verifier.errors import VerifierError
from verifier.merkle import leaf_hash, verify_inclusion
from verifier.note import VerifierKey
from verifier.receipt import open_receipt


class Status(StrEnum):
    VERIFIED = "verified"
    FAILED = "failed"
    NOT_CHECKED = "not_checked"
    NOT_APPLICABLE = "not_applicable"
    SKIPPED = "skipped"


class Outcome(StrEnum):
    VERIFIED = "verified"
    FAILED = "failed"
    INCOMPLETE = "incomplete"


EXIT_CODES = {Outcome.VERIFIED: 0, Outcome.FAILED: 1, Outcome.INCOMPLETE: 2}
EXIT_UNUSABLE = 3

TIER_NAMES = {
    1: ("files", "文件哈希"),
    2: ("manifest", "清单与条目"),
    3: ("inclusion", "默克尔包含证明"),
    4: ("checkpoint", "检查点签名"),
    5: ("anchor", "区块链锚定"),
}


#: Facts a tier established, for reports (e.g. tier 5: ``confirmations``, ``block_number``).
Facts = Mapping[str, str | int]


def _no_facts() -> Facts:
    return MappingProxyType({})


def _freeze_facts(result: TierResult | AnchorVerdict) -> None:
    """Make a result's ``facts`` read-only (a mapping passed in is copied)."""
    if not isinstance(result.facts, MappingProxyType):
        object.__setattr__(result, "facts", MappingProxyType(dict(result.facts)))


@dataclass(frozen=True)
class TierResult:
    tier: int
    status: Status
    detail: str
    #: Read-only; a mapping passed in is copied, so a caller cannot change a result later.
    facts: Facts = field(default_factory=_no_facts, hash=False)

    def __post_init__(self) -> None:
        _freeze_facts(self)

    @property
    def name(self) -> str:
        return TIER_NAMES[self.tier][0]

    @property
    def name_zh(self) -> str:
        return TIER_NAMES[self.tier][1]


@dataclass(frozen=True)
class Report:
    evidence_id: str
    kind: str
    leaf_hash: str
    tiers: tuple[TierResult, ...]
    checkpoint: Checkpoint | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def outcome(self) -> Outcome:
        statuses = {t.status for t in self.tiers}
        if Status.FAILED in statuses:
            return Outcome.FAILED
        if Status.NOT_CHECKED in statuses:
            return Outcome.INCOMPLETE
        return Outcome.VERIFIED

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    def to_dict(self) -> dict[str, object]:
        return {
            "outcome": self.outcome.value,
            "evidence_id": self.evidence_id,
            "kind": self.kind,
            "leaf_hash": self.leaf_hash,
            "tree_size": self.checkpoint.size if self.checkpoint else None,
            "tiers": [_tier_dict(t) for t in self.tiers],
        }


def _tier_dict(t: TierResult) -> dict[str, object]:
    out: dict[str, object] = {
        "tier": t.tier,
        "name": t.name,
        "status": t.status.value,
        "detail": t.detail,
    }
    if t.facts:
        out["facts"] = dict(t.facts)
    return out


@dataclass(frozen=True)
class AnchorVerdict:
    """What tier 5 found: a status, a one-line detail, and the facts it established."""

    status: Status
    detail: str
    #: Read-only; a mapping passed in is copied, so a caller cannot change a verdict later.
    facts: Facts = field(default_factory=_no_facts, hash=False)

    def __post_init__(self) -> None:
        _freeze_facts(self)


#: Tier 5: given the bundle, its :class:`AnchorVerdict`. Supplied by the caller.
AnchorCheck = Callable[[Bundle], AnchorVerdict]


def _anchor_tier(verdict: AnchorVerdict) -> TierResult:
    return TierResult(5, verdict.status, verdict.detail, verdict.facts)


def _tier_files(bundle: Bundle, files: Sequence[FileDigest] | None) -> TierResult:
    entry = bundle.entry
    if entry.kind == "stamp":
        if not files:
            return TierResult(1, Status.NOT_CHECKED, "no file given (pass --file)")
        want = entry.body["sha256"]
        bad = [f.name for f in files if f.sha256 != want]
        if bad:
            return TierResult(1, Status.FAILED, f"{bad[0]}: SHA-256 differs from the stamp {want}")
        return TierResult(1, Status.VERIFIED, f"SHA-256 {want} matches the stamped digest")
    if entry.kind != "evidence":
        return TierResult(1, Status.NOT_APPLICABLE, f"a {entry.kind} entry has no files")
    if bundle.manifest is None:
        return TierResult(1, Status.NOT_CHECKED, "bundle carries no manifest")
    if not files:
        count = len(bundle.manifest.files)
        return TierResult(1, Status.NOT_CHECKED, f"no files given ({count} in the manifest)")
    by_name = {f.name: f for f in bundle.manifest.files}
    matched: set[str] = set()
    wacz_given: FileDigest | None = None  # the file given for a capture's archive.wacz
    for given in files:
        # By name first; a renamed copy is matched by content among unmatched files.
        listed = by_name.get(given.name) or next(
            (
                f
                for f in bundle.manifest.files
                if f.sha256 == given.sha256 and f.name not in matched
            ),
            None,
        )
        if listed is None:
            return TierResult(1, Status.FAILED, f"{given.name}: not in the manifest")
        for label, got, want in (
            ("size", str(given.size), str(listed.size)),
            ("SHA-256", given.sha256, listed.sha256),
            ("SM3", given.sm3, listed.sm3),
        ):
            if got != want:
                return TierResult(
                    1,
                    Status.FAILED,
                    f"{given.name}: {label} {got} differs from the manifest's {want}"
                    f" for {listed.name}",
                )
        matched.add(listed.name)
        if listed.name == capture.WACZ:
            wacz_given = given
    facts: dict[str, str | int] = {}
    note = ""
    if capture.is_capture(bundle.manifest) and wacz_given is not None:
        verdict = wacz_given.wacz if isinstance(wacz_given, capture.CheckedFile) else None
        if isinstance(verdict, capture.WaczError):
            return TierResult(1, Status.FAILED, f"{capture.WACZ}: {verdict}", {"wacz": "failed"})
        if verdict is None:
            facts = {"wacz": "not_checked"}
            note = f"; {capture.WACZ}: its datapackage.json digests not checked"
        else:
            facts = {"wacz": "verified", "wacz_resources": len(verdict.resources)}
            note = (
                f"; {capture.WACZ}: all {len(verdict.resources)} resources match "
                "its datapackage.json"
            )
    missing = sorted(set(by_name) - matched)
    if missing:
        return TierResult(
            1,
            Status.NOT_CHECKED,
            f"{len(matched)} of {len(by_name)} files match; not given: {', '.join(missing[:5])}"
            + note,
            facts,
        )
    return TierResult(
        1, Status.VERIFIED, f"all {len(matched)} files match SHA-256 and SM3{note}", facts
    )


def _tier_manifest(bundle: Bundle) -> TierResult:
    entry = bundle.entry
    if entry.kind != "evidence":
        return TierResult(2, Status.NOT_APPLICABLE, f"a {entry.kind} entry has no manifest")
    if bundle.manifest is None:
        return TierResult(2, Status.NOT_CHECKED, "bundle carries no manifest")
    data = bundle.manifest.canonical()
    sha = hashlib.sha256(data).hexdigest()
    sm = sm3_hex(data)
    if sha != entry.body["manifest_sha256"]:
        return TierResult(
            2,
            Status.FAILED,
            f"manifest SHA-256 {sha} is not the entry's {entry.body['manifest_sha256']}",
        )
    if sm != entry.body["manifest_sm3"]:
        return TierResult(
            2, Status.FAILED, f"manifest SM3 {sm} is not the entry's {entry.body['manifest_sm3']}"
        )
    if bundle.manifest.evidence_id != entry.id:
        return TierResult(
            2, Status.FAILED, f"manifest is for {bundle.manifest.evidence_id}, entry for {entry.id}"
        )
    return TierResult(2, Status.VERIFIED, f"manifest SHA-256 {sha} and SM3 are in the entry")


def _tier_inclusion(bundle: Bundle, leaf: bytes) -> tuple[TierResult, Checkpoint | None]:
    if leaf.hex() != bundle.leaf_hash:
        return (
            TierResult(
                3, Status.FAILED, f"leaf_hash {bundle.leaf_hash} is not the entry's {leaf.hex()}"
            ),
            None,
        )
    if bundle.inclusion is None or bundle.checkpoint is None:
        return TierResult(
            3, Status.NOT_CHECKED, "pending: not yet sealed; fetch the bundle again"
        ), None
    try:
        checkpoint = parse_signed_checkpoint(bundle.checkpoint)
    except VerifierError as exc:
        return TierResult(3, Status.FAILED, f"checkpoint: {exc}"), None
    proof = bundle.inclusion
    if proof.tree_size != checkpoint.size:
        return (
            TierResult(
                3,
                Status.FAILED,
                f"proof is for size {proof.tree_size}, checkpoint is {checkpoint.size}",
            ),
            checkpoint,
        )
    try:
        verify_inclusion(leaf, proof.index, proof.tree_size, proof.hash_bytes(), checkpoint.root)
    except VerifierError as exc:
        return TierResult(3, Status.FAILED, str(exc)), checkpoint
    return (
        TierResult(
            3, Status.VERIFIED, f"leaf {proof.index} is in the tree of size {checkpoint.size}"
        ),
        checkpoint,
    )


def _tier_signature(bundle: Bundle, leaf: bytes, log_keys: Sequence[VerifierKey]) -> TierResult:
    if not log_keys:
        return TierResult(4, Status.NOT_CHECKED, "no trusted log key given (pass --log-key)")
    try:
        if bundle.receipt is not None:
            receipt = open_receipt(bundle.receipt, log_keys)
            if receipt.leaf_hash != leaf:
                return TierResult(4, Status.FAILED, "receipt is for another leaf")
            if receipt.origin != bundle.log_origin:
                return TierResult(
                    4,
                    Status.FAILED,
                    f"receipt is from {receipt.origin!r}, not {bundle.log_origin!r}",
                )
        if bundle.checkpoint is None:
            return TierResult(4, Status.NOT_CHECKED, "receipt signature valid; no checkpoint yet")
        checkpoint = open_checkpoint(bundle.checkpoint, log_keys)
    except VerifierError as exc:
        return TierResult(4, Status.FAILED, str(exc))
    if checkpoint.origin != bundle.log_origin:
        return TierResult(
            4,
            Status.FAILED,
            f"checkpoint origin {checkpoint.origin!r} is not {bundle.log_origin!r}",
        )
    return TierResult(4, Status.VERIFIED, f"signed by {checkpoint.origin}")


def verify_bundle(
    bundle: Bundle,
    *,
    files: Sequence[FileDigest] | None = None,
    log_keys: Sequence[VerifierKey] = (),
    anchor_check: AnchorCheck | None = None,
    through: int = 5,
) -> Report:
    """Run every tier on ``bundle``; tiers above ``through`` are reported as skipped."""
    leaf = leaf_hash(bundle.entry.leaf_data())
    tier3, checkpoint = _tier_inclusion(bundle, leaf)
    tiers = [_tier_files(bundle, files), _tier_manifest(bundle), tier3]
    tiers.append(_tier_signature(bundle, leaf, log_keys))
    if bundle.anchor is None:
        tiers.append(TierResult(5, Status.NOT_CHECKED, f"{bundle.status}: not yet anchored"))
    elif anchor_check is None:
        tiers.append(TierResult(5, Status.NOT_CHECKED, "chain not checked (offline)"))
    elif through < 5:
        tiers.append(TierResult(5, Status.SKIPPED, f"skipped (--through {through})"))
    else:
        tiers.append(_anchor_tier(anchor_check(bundle)))
    tiers = [
        t
        if t.tier <= through
        else TierResult(t.tier, Status.SKIPPED, f"skipped (--through {through})")
        for t in tiers
    ]
    return Report(
        evidence_id=bundle.entry.id,
        kind=bundle.entry.kind,
        leaf_hash=leaf.hex(),
        tiers=tuple(tiers),
        checkpoint=checkpoint,
    )
