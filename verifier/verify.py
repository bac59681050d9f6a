"""Tiered verification of a proof bundle (docs/design.md §5).

Every tier is reported, never just "OK":

1. files — each file's bytes hash to the manifest's SHA-256 and SM3; for a server
   capture, its WACZ also agrees with its own ``datapackage.json`` digests
   (:mod:`verifier.capture`; the reader of the bytes checks it, tier 1 reads the verdict);
2. manifest → entry — the manifest's digests are the entry's;
3. inclusion — the entry's leaf is in the checkpoint's tree (RFC 9162);
4. checkpoint — signed by the trusted log key; with a witness policy from the user, also
   cosigned by a quorum of trusted witnesses (C2SP ``tlog-cosignature``,
   :mod:`verifier.cosignature`); with trusted TSA certificates, its RFC 3161 time-stamp
   tokens check out (a caller-supplied :data:`TimestampCheck`, :mod:`verifier.tsa`);
5. anchor — the chain records that (size, root); checked by a caller-supplied
   function, since it needs the network (:func:`verifier.chain.anchor.make_anchor_check`).

Pure: file digests are computed by the caller and passed in; the chain check, the
time-stamp token check and the certificate check are callables the caller provides.
An evidence certificate (存证证书), when given, is reported beside the tiers and a failed
one fails the outcome.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

from verifier import capture
from verifier.bundle import Bundle
from verifier.checkpoint import Checkpoint, open_checkpoint, parse_signed_checkpoint
from verifier.cosignature import COSIGNATURE_BYTES, WitnessPolicy, WitnessVerdict, check_witnesses
from verifier.digests import FileDigest, sm3_hex
from verifier.errors import VerifierError
from verifier.merkle import leaf_hash, verify_inclusion
from verifier.note import VerifierKey, parse_note
from verifier.receipt import open_receipt

if TYPE_CHECKING:  # the other engineers' modules may come to import this one
    from verifier.certificate import CertificateCheck
    from verifier.tsa import TokenCheck


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
    4: ("checkpoint", "检查点签名、见证与时间戳"),
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
    #: tier 4's witness verdict, when a witness policy was given and the checkpoint read
    witnesses: WitnessVerdict | None = None
    #: tier 4's verdict on each time-stamp token, when trusted TSA certificates were given
    timestamps: tuple[TokenCheck, ...] = field(default=())
    #: the evidence certificate (存证证书) verdict, when one was given; failed -> FAILED
    certificate: CertificateCheck | None = None

    @property
    def outcome(self) -> Outcome:
        statuses = {t.status for t in self.tiers}
        if Status.FAILED in statuses or (self.certificate is not None and not self.certificate.ok):
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
            **self._trust_dict(),
        }

    def _trust_dict(self) -> dict[str, object]:
        """``witnesses``, ``timestamps`` and ``certificate``, each only when checked."""
        out: dict[str, object] = {}
        if self.witnesses is not None:
            w = self.witnesses
            out["witnesses"] = {
                "met": w.met,
                "quorum": w.quorum,
                "cosigned": [{"name": n, "time": iso_utc(t)} for n, t in w.cosigned],
                "missing": list(w.missing),
                "forged": w.forged,
            }
        if self.timestamps:
            out["timestamps"] = [
                {
                    "tsa": c.tsa,
                    "ok": c.ok,
                    "detail": c.detail,
                    "tsa_time": None if c.gen_time is None else iso_utc(c.gen_time),
                    "signer": c.signer,
                    "serial": None if c.serial is None else str(c.serial),
                }
                for c in self.timestamps
            ]
        if self.certificate is not None:
            out["certificate"] = {
                "ok": self.certificate.ok,
                "detail": self.certificate.detail,
                "facts": dict(self.certificate.facts),
            }
        return out


def iso_utc(when: int | datetime) -> str:
    """POSIX seconds or an aware datetime as ``2026-12-03T10:00:00Z`` (UTC)."""
    moment = datetime.fromtimestamp(when, UTC) if isinstance(when, int) else when.astimezone(UTC)
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


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
#: Tier 4's timestamps: (authority name, DER token, checkpoint note body) -> its verdict,
#: checked against the caller's trusted TSA certificates (:func:`make_timestamp_check`).
TimestampCheck = Callable[[str, bytes, str], "TokenCheck"]
#: The evidence certificate: given the bundle, the PDF's verdict (:mod:`verifier.certificate`).
CertificateCheckFn = Callable[[Bundle], "CertificateCheck"]


def make_timestamp_check(trusted: Sequence[bytes]) -> TimestampCheck:
    """Tier 4's token check against ``trusted`` TSA certificates (PEM or DER)."""
    certs = tuple(trusted)

    def check(tsa: str, token: bytes, checkpoint_text: str) -> TokenCheck:
        from verifier.tsa import check_token  # noqa: PLC0415

        return check_token(tsa, token, checkpoint_text, certs)

    return check


def make_certificate_check(pdf: bytes, trusted: Sequence[bytes]) -> CertificateCheckFn:
    """The 存证证书 check of ``pdf`` against ``trusted`` CA certificates (PEM or DER)."""
    cas = tuple(trusted)

    def check(bundle: Bundle) -> CertificateCheck:
        from verifier.certificate import check_certificate  # noqa: PLC0415

        return check_certificate(pdf, bundle, cas)

    return check


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


@dataclass(frozen=True)
class _Part:
    """One part of tier 4 (log signature, witnesses, timestamps)."""

    status: Status
    detail: str
    facts: Mapping[str, str | int] = field(default_factory=dict)


def _cosignature_lines(note: str) -> int:
    """Signature lines shaped like cosignatures (key ID + 8-byte time + 64 bytes)."""
    return sum(len(s.signature) == COSIGNATURE_BYTES for s in parse_note(note).signatures)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _witness_part(
    note: str, policy: WitnessPolicy | None
) -> tuple[_Part | None, WitnessVerdict | None]:
    if policy is None:
        lines = _cosignature_lines(note)
        if not lines:
            return None, None
        what = _plural(lines, "cosignature")
        return _Part(Status.VERIFIED, f"{what} not checked (no witness key given)"), None
    verdict = check_witnesses(note, policy)
    if verdict.forged is not None:
        return _Part(Status.FAILED, f"cosignature by witness {verdict.forged} does not verify"), (
            verdict
        )
    count = (
        f"{len(verdict.cosigned)} of {len(policy.keys)} witnesses cosigned (quorum {policy.quorum})"
    )
    facts: dict[str, str | int] = {
        "witnesses_cosigned": len(verdict.cosigned),
        "witness_quorum": policy.quorum,
    }
    if verdict.cosigned:
        facts["witnesses"] = ", ".join(f"{n} {iso_utc(t)}" for n, t in verdict.cosigned)
    status = Status.VERIFIED if verdict.met else Status.NOT_CHECKED
    return _Part(status, count, facts), verdict


def _timestamp_part(
    bundle: Bundle, text: str, check: TimestampCheck | None
) -> tuple[_Part | None, tuple[TokenCheck, ...]]:
    tokens = bundle.timestamps or []
    if check is None:
        if not tokens:
            return None, ()
        what = _plural(len(tokens), "timestamp")
        return _Part(Status.VERIFIED, f"{what} not checked (no TSA certificate given)"), ()
    if not tokens:
        return _Part(Status.NOT_CHECKED, "no timestamp on this checkpoint"), ()
    verdicts = []
    for token in tokens:
        try:
            der = base64.b64decode(token.token, validate=True)
        except (binascii.Error, ValueError):
            return _Part(Status.FAILED, f"timestamp by {token.tsa}: token is not base64"), ()
        verdicts.append(check(token.tsa, der, text))
    bad = next((v for v in verdicts if not v.ok), None)
    if bad is not None:
        return _Part(Status.FAILED, f"timestamp by {bad.tsa}: {bad.detail}"), tuple(verdicts)
    first = verdicts[0]
    when = iso_utc(first.gen_time) if first.gen_time is not None else "unknown time"
    facts: dict[str, str | int] = {"tsa": ", ".join(v.tsa for v in verdicts), "tsa_time": when}
    more = f" (+{len(verdicts) - 1} more)" if len(verdicts) > 1 else ""
    return _Part(Status.VERIFIED, f"timestamped by {first.tsa} at {when}{more}", facts), tuple(
        verdicts
    )


def _worst(statuses: Sequence[Status]) -> Status:
    for status in (Status.FAILED, Status.NOT_CHECKED):
        if status in statuses:
            return status
    return Status.VERIFIED


def _tier_checkpoint(
    bundle: Bundle,
    leaf: bytes,
    log_keys: Sequence[VerifierKey],
    witnesses: WitnessPolicy | None,
    timestamp_check: TimestampCheck | None,
) -> tuple[TierResult, WitnessVerdict | None, tuple[TokenCheck, ...]]:
    """Tier 4: the log's signature, then the witnesses and the timestamps (each only on a
    checkpoint the log signature did not refute). A failed part fails the tier; a part not
    checked leaves it not checked; the details are joined with "; "."""
    signature = _tier_signature(bundle, leaf, log_keys)
    note = bundle.checkpoint
    if signature.status is Status.FAILED or note is None:
        return signature, None, ()
    try:
        text = parse_note(note).text
        witness, verdict = _witness_part(note, witnesses)
    except VerifierError as exc:  # tier 3 reports the malformed note too
        return TierResult(4, Status.FAILED, str(exc)), None, ()
    stamp, tokens = _timestamp_part(bundle, text, timestamp_check)
    parts = [_Part(signature.status, signature.detail, signature.facts)]
    parts += [p for p in (witness, stamp) if p is not None]
    failed = next((p for p in parts if p.status is Status.FAILED), None)
    if failed is not None:  # the reason alone: short and precise
        return TierResult(4, Status.FAILED, failed.detail, failed.facts), verdict, tokens
    facts: dict[str, str | int] = {}
    for p in parts:
        facts.update(p.facts)
    status = _worst([p.status for p in parts])
    return TierResult(4, status, "; ".join(p.detail for p in parts), facts), verdict, tokens


def verify_bundle(
    bundle: Bundle,
    *,
    files: Sequence[FileDigest] | None = None,
    log_keys: Sequence[VerifierKey] = (),
    anchor_check: AnchorCheck | None = None,
    through: int = 5,
    witnesses: WitnessPolicy | None = None,
    timestamp_check: TimestampCheck | None = None,
    certificate_check: CertificateCheckFn | None = None,
) -> Report:
    """Run every tier on ``bundle``; tiers above ``through`` are reported as skipped.

    ``witnesses`` (the user's policy, never the bundle's) and ``timestamp_check`` (the
    user's trusted TSA certificates) extend tier 4; without them the cosignatures and
    tokens a bundle carries are named in tier 4's detail as not checked.
    ``certificate_check`` checks a 存证证书 given with the bundle."""
    leaf = leaf_hash(bundle.entry.leaf_data())
    tier3, checkpoint = _tier_inclusion(bundle, leaf)
    tiers = [_tier_files(bundle, files), _tier_manifest(bundle), tier3]
    tier4, witness_verdict, tokens = _tier_checkpoint(
        bundle, leaf, log_keys, witnesses, timestamp_check
    )
    tiers.append(tier4)
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
        witnesses=witness_verdict if through >= 4 else None,
        timestamps=tokens if through >= 4 else (),
        certificate=None if certificate_check is None else certificate_check(bundle),
    )
