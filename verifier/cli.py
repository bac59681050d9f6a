"""``evidence-verify``: verify a proof bundle, tier by tier.

Offline by default: tier 5 (the on-chain anchor) is then "not checked". With
``--rpc URL`` (repeatable), ``--contract`` and ``--chain-id`` it is checked live
against every endpoint given (:mod:`verifier.chain`).

Exit codes: 0 verified, 1 failed, 2 incomplete (some tier could not be
checked), 3 unusable input (a one-line reason on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from verifier.bundle import MAX_BUNDLE_BYTES, load_bundle
from verifier.chain import MAX_CHAIN_ID, MAX_CONFIRMATIONS, make_anchor_check
from verifier.digests import FileDigest, digest_stream
from verifier.errors import FormatError, VerifierError
from verifier.note import VerifierKey
from verifier.verify import EXIT_UNUSABLE, AnchorCheck, Report, Status, verify_bundle

STATUS_LABELS = {
    Status.VERIFIED: "通过 verified",
    Status.FAILED: "失败 FAILED",
    Status.NOT_CHECKED: "未核验 not checked",
    Status.NOT_APPLICABLE: "不适用 n/a",
    Status.SKIPPED: "跳过 skipped",
}
OUTCOME_LABELS = {
    "verified": "核验通过 VERIFIED",
    "failed": "核验失败 FAILED",
    "incomplete": "核验未完成 INCOMPLETE",
}


def one_line(text: str) -> str:
    """Control characters (a newline in a file name, say) shown escaped, never raw."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class UsageError(Exception):
    """Input the CLI cannot use (exit 3)."""


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 3 (unusable input), not argparse's 2 (our "incomplete")."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_UNUSABLE, f"evidence-verify: unusable input: {one_line(message)}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="evidence-verify",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Verify an Evidence Anchor proof bundle: file hashes, manifest, RFC 9162 inclusion\n"
            "proof, checkpoint signature and the on-chain anchor. Needs no access to the\n"
            "issuer's database. Offline unless --rpc is given: tier 5 (anchor) is then\n"
            "reported as not checked."
        ),
        epilog=(
            "tier 5: with --rpc (one or more JSON-RPC endpoints), --contract and --chain-id\n"
            "(the trusted EvidenceLog address and chain id, obtained out of band, never from\n"
            "the bundle), every endpoint must confirm that the contract records the bundle's\n"
            "checkpoint (size, root) in the stated block and transaction, with at least\n"
            "--min-confirmations blocks. An unreachable endpoint or too few confirmations\n"
            "leave tier 5 not checked; endpoints that disagree fail it.\n"
            "\n"
            "exit codes: 0 verified, 1 failed, 2 incomplete, 3 unusable input"
        ),
    )
    p.add_argument("bundle", metavar="BUNDLE.json", help="the proof bundle (evidence-proof/v1)")
    p.add_argument(
        "--file",
        dest="files",
        action="append",
        default=[],
        metavar="PATH",
        help="an evidence file to hash and check against the manifest (repeatable)",
    )
    p.add_argument(
        "--log-key",
        dest="log_keys",
        action="append",
        default=[],
        metavar="VKEY",
        help="trusted log verifier key, as vkey text or a file holding it (repeatable)",
    )
    p.add_argument(
        "--through",
        type=int,
        default=5,
        choices=range(1, 6),
        metavar="N",
        help="check tiers 1..N only; higher tiers are reported as skipped (default 5)",
    )
    p.add_argument(
        "--rpc",
        dest="rpc_urls",
        action="append",
        default=[],
        metavar="URL",
        help="an http(s) JSON-RPC endpoint of the chain, for tier 5 (repeatable: all must agree)",
    )
    p.add_argument(
        "--contract",
        metavar="ADDR",
        help="the trusted EvidenceLog contract address (0x + 40 hex digits); needed with --rpc",
    )
    p.add_argument(
        "--chain-id",
        type=_bounded_int(1, MAX_CHAIN_ID),
        metavar="N",
        help="the trusted chain id (EIP-155), checked against each endpoint; needed with --rpc",
    )
    p.add_argument(
        "--min-confirmations",
        type=_bounded_int(1, MAX_CONFIRMATIONS),
        default=1,
        metavar="K",
        help="blocks (the anchor's included) needed before tier 5 passes (default 1)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in {low}..{high}")
        return int(text)

    parse.__name__ = "integer"
    return parse


def _anchor_check(args: argparse.Namespace) -> AnchorCheck | None:
    if not args.rpc_urls:
        return None
    missing = [
        flag
        for flag, value in (("--contract", args.contract), ("--chain-id", args.chain_id))
        if value is None
    ]
    if missing:
        raise UsageError(
            f"--rpc needs {' and '.join(missing)}: the trusted contract and chain, "
            "never taken from the bundle"
        )
    return make_anchor_check(
        args.rpc_urls,
        contract=args.contract,
        chain_id=args.chain_id,
        min_confirmations=args.min_confirmations,
    )


def _read_bundle(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BUNDLE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read bundle {path}: {exc.strerror}") from exc
    return data


def _load_key(value: str) -> VerifierKey:
    text = value
    try:
        if Path(value).is_file():
            text = Path(value).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--log-key {value[:80]}: cannot read key file") from exc
    try:
        return VerifierKey.from_text(text)
    except FormatError as exc:
        raise UsageError(f"--log-key: {exc}") from exc


def _hash_files(paths: Sequence[str]) -> list[FileDigest]:
    out = []
    for path in paths:
        try:
            with open(path, "rb") as fh:
                out.append(digest_stream(Path(path).name, fh))
        except OSError as exc:
            raise UsageError(f"cannot read file {path}: {exc.strerror}") from exc
    return out


def render_table(report: Report) -> str:
    lines = [
        f"证据编号 evidence id : {report.evidence_id} ({report.kind})",
        f"叶子哈希 leaf hash   : {report.leaf_hash}",
    ]
    if report.checkpoint is not None:
        lines.append(
            f"检查点 checkpoint    : {report.checkpoint.origin} size {report.checkpoint.size} "
            f"root {report.checkpoint.root.hex()}"
        )
    lines.append("")
    for t in report.tiers:
        head = f"{t.tier} {t.name_zh} {t.name}"
        lines.append(f"  {head:<24} {STATUS_LABELS[t.status]:<20} {one_line(t.detail)}")
    lines.append("")
    lines.append(f"结论 outcome: {OUTCOME_LABELS[report.outcome.value]}")
    return "\n".join(lines)


def run(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        bundle = load_bundle(_read_bundle(args.bundle))
        keys = [_load_key(k) for k in args.log_keys]
        anchor_check = _anchor_check(args)
        files = _hash_files(args.files)
    except (UsageError, FormatError) as exc:
        print(f"evidence-verify: unusable input: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_UNUSABLE
    try:
        report = verify_bundle(
            bundle, files=files, log_keys=keys, anchor_check=anchor_check, through=args.through
        )
    except VerifierError as exc:  # defensive: tiers report their own failures
        print(f"evidence-verify: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(render_table(report))
    return report.exit_code


def main() -> None:
    sys.exit(run())
