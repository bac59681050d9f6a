"""``evidence-verify``: verify an evidence package or a proof bundle, tier by tier.

The input is an evidence package (``evidence-package/v1``, a ZIP or the same tree
as a folder; :mod:`verifier.package`) or a proof bundle (JSON), told apart by
content, never by name. A package brings its own files; its log key and chain
facts are printed for the reader to compare with the operator's published
ones, and never trusted: trust comes only from ``--log-key``, ``--contract``
and ``--chain-id``.

Offline by default: tier 5 (the on-chain anchor) is then "not checked". With
``--rpc URL`` (repeatable), ``--contract`` and ``--chain-id`` it is checked live
against every endpoint given (:mod:`verifier.chain.anchor`). ``--report out.pdf`` writes
the appraisal report (核验报告, :mod:`verifier.report`), PAdES-signed with ``--sign-cert`` and
``--sign-key``.

Beyond the operator (tier 4): ``--witness VKEY`` (repeatable, ``--witness-quorum K``) checks
the checkpoint's witness cosignatures; ``--tsa-cert PEM`` (repeatable) checks its RFC 3161
timestamps; ``--certificate PDF`` with ``--certificate-ca PEM`` checks an evidence certificate
(存证证书) against the bundle. Every trust root comes from the user, never from the input.

Exit codes: 0 verified, 1 failed, 2 incomplete (some tier could not be
checked), 3 unusable input (a one-line reason on stderr, never a traceback);
141 when the output's reader went away (``| head``), quietly.

``evidence-verify spot-check PLAN.json --block-hash 0x… | --rpc URL`` reproduces a verifiable
双随机 draw (:mod:`verifier.spotcheck`, docs/spot-check.md), with the same exit codes.
``evidence-verify credit CREDIT.json --policy POLICY.json`` recomputes a credit grade
(:mod:`verifier.credit_cli`, docs/credit.md), with the same exit codes.

Hashing an input of :data:`PROGRESS_MIN_BYTES` or more shows progress on stderr
(``--quiet``: none); the verifier core never sees it, the CLI watches its own reads.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, NoReturn, TextIO, cast
from urllib.parse import urlsplit

from verifier.chain.rpc import endpoint_name
from verifier.digests import FileDigest, digest_stream
from verifier.errors import FormatError, VerifierError
from verifier.files import BoundedReadError, read_bounded
from verifier.note import VerifierKey
from verifier.zipread import is_zip_file

if (
    TYPE_CHECKING
):  # the formats and tiers (pydantic models) load when a command runs, not for --help
    from verifier.bundle import Bundle
    from verifier.cosignature import WitnessPolicy
    from verifier.package import EvidencePackage
    from verifier.spotcheck import DrawResult
    from verifier.verify import AnchorCheck, CertificateCheckFn, Report, TimestampCheck

#: The QR code's target in a report when neither --portal-url nor the environment names one.
DEFAULT_PORTAL_URL = "https://verify.example.invalid/verify"
PORTAL_URL_ENV = "EVIDENCE_VERIFY_PORTAL_URL"
#: The distribution whose version ``--version`` prints, and the version shown when its
#: metadata is missing (run from a source tree that was never installed).
DISTRIBUTION = "evidence-anchor"
FALLBACK_VERSION = "0.1.0"
#: Inputs smaller than this hash in about a second: no progress is shown for them.
PROGRESS_MIN_BYTES = 64 * 1024 * 1024
#: The exit code when stdout's reader went away (as for a process SIGPIPE stopped).
EXIT_BROKEN_PIPE = 141
#: Bounds on the trust inputs read from files (a key or certificate file is small).
MAX_WITNESS_KEYS = 32
MAX_TRUST_FILE_BYTES = 1024 * 1024

#: By :class:`verifier.verify.Status` (a StrEnum: its members are these strings).
STATUS_LABELS = {
    "verified": "通过 verified",
    "failed": "失败 FAILED",
    "not_checked": "未核验 not checked",
    "not_applicable": "不适用 n/a",
    "skipped": "跳过 skipped",
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


def package_version() -> str:
    """The installed ``evidence-anchor`` version (``evidence --version`` prints it too)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return FALLBACK_VERSION


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


class Progress:
    """Hashing progress of one input on ``stream``: on a terminal one line rewritten in
    place (at most ten times a second), elsewhere (a log) one line per 10%."""

    def __init__(self, label: str, total: int, stream: TextIO) -> None:
        self.label = one_line(label)
        self.total = max(total, 1)
        self.stream = stream
        self.tty = stream.isatty()
        self._shown_at = 0.0
        self._step = -1

    def update(self, done: int) -> None:
        done = min(done, self.total)
        percent = 100 * done // self.total
        if self.tty:
            now = time.monotonic()
            if now - self._shown_at < 0.1 and done < self.total:
                return
            self._shown_at = now
            self.stream.write(f"\r{self._text(done, percent)}")
        elif percent // 10 > self._step:
            self._step = percent // 10
            self.stream.write(self._text(done, percent) + "\n")
        else:
            return
        self.stream.flush()

    def finish(self) -> None:
        self.update(self.total)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _text(self, done: int, percent: int) -> str:
        return f"hashing 正在计算哈希 {self.label}: {_mib(done)} / {_mib(self.total)} ({percent}%)"


class _Watched:
    """A binary file whose reads are reported to a :class:`Progress` (bytes read so far);
    every other attribute is the file's own (``seek``, ``tell``: a ZIP reader needs them)."""

    def __init__(self, fh: IO[bytes], progress: Progress) -> None:
        self._fh = fh
        self._progress = progress
        self._read = 0

    def read(self, n: int = -1, /) -> bytes:
        data = self._fh.read(n)
        self._read += len(data)
        self._progress.update(self._read)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


#: Wraps an opened input (its file, name and size) to report hashing progress, or not.
Watch = Callable[[BinaryIO, str, int], BinaryIO]


def no_progress(fh: BinaryIO, _name: str, _size: int) -> BinaryIO:
    return fh


def progress_on(stream: TextIO, min_bytes: int | None = None) -> Watch:
    """A :data:`Watch` that shows progress on ``stream`` for inputs of ``min_bytes``
    (default :data:`PROGRESS_MIN_BYTES`) or more."""
    threshold = PROGRESS_MIN_BYTES if min_bytes is None else min_bytes

    def watch(fh: BinaryIO, name: str, size: int) -> BinaryIO:
        if size < threshold:
            return fh
        return cast(BinaryIO, _Watched(fh, Progress(name, size, stream)))

    return watch


def _finish(fh: BinaryIO) -> None:
    if isinstance(fh, _Watched):
        fh._progress.finish()


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 3 (unusable input), not argparse's 2 (our "incomplete")."""

    def error(self, message: str) -> NoReturn:
        from verifier.verify import EXIT_UNUSABLE  # noqa: PLC0415

        self.exit(EXIT_UNUSABLE, f"evidence-verify: unusable input: {one_line(message)}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="evidence-verify",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "核验证据包或证明包：文件哈希、清单、RFC 9162 包含证明、检查点签名与链上锚定。\n"
            "Verify an Evidence Anchor evidence package or proof bundle: file hashes, manifest,\n"
            "RFC 9162 inclusion proof, checkpoint signature and the on-chain anchor. Needs no\n"
            "access to the issuer's database. Offline unless --rpc is given: tier 5 (anchor) is\n"
            "then reported as not checked."
        ),
        epilog=(
            "input 输入: an evidence package (evidence-package/v1: a ZIP, or the same tree\n"
            "unpacked into a folder) brings its own files; --file is then refused. A package's\n"
            "log-key.vkey and chain.json are shown, never trusted: compare them with what the\n"
            "log's operator publishes, then pass them yourself, e.g.\n"
            "  evidence-verify package.zip --log-key log-key.vkey \\\n"
            "      --rpc URL --contract 0x... --chain-id N --report report.pdf\n"
            "A proof bundle (evidence-proof/v1 JSON) needs the files given with --file.\n"
            "Hostile or inconsistent packages (zip bombs, unsafe paths, links, too many\n"
            "entries, damaged ZIPs, files that differ from the manifest) are refused: exit 3.\n"
            "\n"
            "tier 5 区块链锚定: with --rpc (one or more JSON-RPC endpoints), --contract and\n"
            "--chain-id (the trusted EvidenceLog address and chain id, obtained out of band,\n"
            "never from the bundle or package), every endpoint must confirm that the contract\n"
            "records the bundle's checkpoint (size, root) in the stated block and transaction,\n"
            "with at least --min-confirmations blocks. An unreachable endpoint or too few\n"
            "confirmations leave tier 5 not checked; endpoints that disagree fail it.\n"
            "\n"
            "report 核验报告: --report out.pdf writes the appraisal report (Chinese by default,\n"
            "--lang en for English) with a QR code to the portal (--portal-url, or\n"
            f"${PORTAL_URL_ENV}, default {DEFAULT_PORTAL_URL}); with --sign-cert and --sign-key\n"
            "it is PAdES-signed.\n"
            "\n"
            "tier 4 见证与时间戳 witnesses and timestamps: --witness VKEY (repeatable) trusts a\n"
            "witness (a court, a notary office); at least --witness-quorum K of them (default:\n"
            "all) must have cosigned the checkpoint, else tier 4 is not checked; a forged\n"
            "cosignature fails it. --tsa-cert PEM (repeatable) trusts a time-stamping authority:\n"
            "each RFC 3161 token on the checkpoint must check out (imprint, signature, chain,\n"
            "time); its time is shown beside the block time. Without these options, the\n"
            "cosignatures and tokens a bundle carries are named as not checked.\n"
            "\n"
            "certificate 存证证书: --certificate cert.pdf --certificate-ca ca.pem checks the\n"
            "certificate's PAdES signature and that the digests it states are the bundle's;\n"
            "a failed certificate fails the outcome.\n"
            "\n"
            "progress 进度: hashing a file or ZIP package of 64 MiB or more shows progress\n"
            "on stderr (a line updated in place on a terminal, else a line per 10%);\n"
            "--quiet shows none. Folders are hashed without progress.\n"
            "\n"
            "spot-check 双随机抽查: evidence-verify spot-check PLAN.json --block-hash 0x...\n"
            "reproduces a verifiable draw (see evidence-verify spot-check --help).\n"
            "\n"
            "credit 信用等级: evidence-verify credit CREDIT.json --policy POLICY.json\n"
            "recomputes a credit grade (see evidence-verify credit --help).\n"
            "\n"
            "exit codes 退出码: 0 verified, 1 failed, 2 incomplete, 3 unusable input;\n"
            "141 (quietly) when the reader of the output went away, e.g. `| head -1`"
        ),
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    p.add_argument(
        "input",
        metavar="INPUT",
        help="PACKAGE.zip | DIR | BUNDLE.json: 证据包（ZIP 或目录）或证明包 — an evidence package "
        "(ZIP or folder) or a proof bundle, told apart by content",
    )
    p.add_argument(
        "--file",
        dest="files",
        action="append",
        default=[],
        metavar="PATH",
        help="证据文件 an evidence file to hash and check against the bundle's manifest "
        "(repeatable; not with a package)",
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
        "--witness",
        dest="witnesses",
        action="append",
        default=[],
        metavar="VKEY",
        help="见证方公钥 a trusted witness's verifier key (type 0x04), as vkey text or a file "
        "holding one per line (repeatable); tier 4 then checks the checkpoint's cosignatures",
    )
    p.add_argument(
        "--witness-quorum",
        type=_bounded_int(1, lambda: MAX_WITNESS_KEYS),
        metavar="K",
        help="见证法定数 how many of the --witness keys must have cosigned (default: all)",
    )
    p.add_argument(
        "--tsa-cert",
        dest="tsa_certs",
        action="append",
        default=[],
        metavar="PEM",
        help="可信时间戳机构证书 a trusted time-stamping authority certificate (PEM or DER; "
        "repeatable); tier 4 then checks the checkpoint's RFC 3161 timestamps",
    )
    p.add_argument(
        "--certificate",
        metavar="PDF",
        help="存证证书 an evidence certificate (PAdES-signed PDF) to check against the bundle; "
        "needs --certificate-ca",
    )
    p.add_argument(
        "--certificate-ca",
        dest="certificate_cas",
        action="append",
        default=[],
        metavar="PEM",
        help="证书签发机构 a trusted CA certificate for --certificate (PEM or DER; repeatable)",
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
        type=_bounded_int(1, _max_chain_id),
        metavar="N",
        help="the trusted chain id (EIP-155), checked against each endpoint; needed with --rpc",
    )
    p.add_argument(
        "--min-confirmations",
        type=_bounded_int(1, _max_confirmations),
        default=1,
        metavar="K",
        help="blocks (the anchor's included) needed before tier 5 passes (default 1)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help=f"no hashing progress on stderr (shown for inputs of {PROGRESS_MIN_BYTES >> 20} "
        "MiB or more)",
    )
    p.add_argument(
        "--report",
        metavar="OUT.pdf",
        help="核验报告 write the appraisal report (PDF) to this path",
    )
    p.add_argument(
        "--sign-cert",
        metavar="PEM",
        help="报告签名证书 sign the --report PDF (PAdES) with this certificate and its chain "
        "(PEM); needs --sign-key",
    )
    p.add_argument(
        "--sign-key",
        metavar="PEM",
        help="报告签名私钥 the private key (PEM) of --sign-cert",
    )
    p.add_argument(
        "--lang",
        choices=("zh", "en"),
        default="zh",
        help="report language 报告语言 (default zh)",
    )
    p.add_argument(
        "--portal-url",
        metavar="URL",
        help=f"the verification portal for the report's QR code (default ${PORTAL_URL_ENV} "
        f"or {DEFAULT_PORTAL_URL})",
    )
    return p


def _max_chain_id() -> int:
    from verifier.chain.anchor import MAX_CHAIN_ID  # noqa: PLC0415

    return MAX_CHAIN_ID


def _max_confirmations() -> int:
    from verifier.chain.anchor import MAX_CONFIRMATIONS  # noqa: PLC0415

    return MAX_CONFIRMATIONS


def _bounded_int(low: int, limit: Callable[[], int]) -> Callable[[str], int]:
    """An argparse type: an ASCII integer in ``low..limit()`` (the limit is looked up when a
    value is parsed, so building the parser for ``--help`` loads no tier-5 code)."""

    def parse(text: str) -> int:
        high = limit()
        if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in {low}..{high}")
        return int(text)

    parse.__name__ = "integer"
    return parse


def _anchor_check(args: argparse.Namespace) -> AnchorCheck | None:
    from verifier.chain.anchor import make_anchor_check  # noqa: PLC0415

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


@dataclass(frozen=True)
class Loaded:
    """What INPUT turned out to be: a bundle, and the package it came in (if any)."""

    bundle: Bundle
    package: EvidencePackage | None = None


def _load_input(path: str, watch: Watch = no_progress) -> Loaded:
    """A folder or a ZIP is a package, anything else a bundle: by content, not by name."""
    from verifier.bundle import MAX_BUNDLE_BYTES, load_bundle  # noqa: PLC0415
    from verifier.package import read_package, read_package_stream  # noqa: PLC0415

    try:
        if os.path.isdir(path):
            package = read_package(path)
            return Loaded(package.bundle, package)
        with open(path, "rb") as fh:
            if is_zip_file(fh):  # by its end record: a stub before it is still a ZIP
                watched = watch(fh, Path(path).name, os.fstat(fh.fileno()).st_size)
                package = read_package_stream(watched)
                _finish(watched)
                return Loaded(package.bundle, package)
            data = fh.read(MAX_BUNDLE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    return Loaded(load_bundle(data))


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


def _read_small(option: str, path: str, limit: int = MAX_TRUST_FILE_BYTES) -> bytes:
    """A trust input's bytes (a key, certificate or PDF file), at most ``limit``."""
    try:
        return read_bounded(path, limit)
    except BoundedReadError as exc:
        raise UsageError(f"{option} {path[:80]}: {exc}") from exc


def _witness_policy(args: argparse.Namespace) -> WitnessPolicy | None:
    """The user's witness policy (never the bundle's): keys from --witness, --witness-quorum."""
    from verifier.cosignature import WitnessKey, WitnessPolicy  # noqa: PLC0415

    if not args.witnesses:
        if args.witness_quorum is not None:
            raise UsageError("--witness-quorum needs --witness keys")
        return None
    texts: list[str] = []
    for value in args.witnesses:
        if _is_file(value):
            try:
                lines = _read_small("--witness", value).decode("utf-8").splitlines()
            except UnicodeDecodeError as exc:
                raise UsageError(f"--witness {value[:80]}: not UTF-8 text") from exc
            texts += [line.strip() for line in lines if line.strip()]
        else:
            texts.append(value)
    if len(texts) > MAX_WITNESS_KEYS:
        raise UsageError(f"--witness: at most {MAX_WITNESS_KEYS} keys")
    try:
        keys = [WitnessKey.from_text(t) for t in texts]
        return WitnessPolicy.of(keys, args.witness_quorum)
    except FormatError as exc:
        raise UsageError(f"--witness: {exc}") from exc


def _is_file(value: str) -> bool:
    try:
        return Path(value).is_file()
    except (OSError, ValueError):  # a name too long, or holding a NUL: key text, not a path
        return False


def _certificates(option: str, paths: Sequence[str]) -> list[bytes]:
    from verifier.tsa import load_certificates  # noqa: PLC0415

    out: list[bytes] = []
    for path in paths:
        try:
            out += load_certificates(_read_small(option, path))
        except VerifierError as exc:
            raise UsageError(f"{option} {path[:80]}: {exc}") from exc
    return out


def _timestamp_check(args: argparse.Namespace) -> TimestampCheck | None:
    from verifier.verify import make_timestamp_check  # noqa: PLC0415

    if not args.tsa_certs:
        return None
    return make_timestamp_check(_certificates("--tsa-cert", args.tsa_certs))


def _certificate_check(args: argparse.Namespace) -> CertificateCheckFn | None:
    from verifier.certificate import MAX_CERTIFICATE_BYTES  # noqa: PLC0415
    from verifier.verify import make_certificate_check  # noqa: PLC0415

    if args.certificate is None:
        if args.certificate_cas:
            raise UsageError("--certificate-ca needs --certificate")
        return None
    if not args.certificate_cas:
        raise UsageError(
            "--certificate needs --certificate-ca: the CA that issues the certificates, "
            "obtained out of band"
        )
    pdf = _read_small("--certificate", args.certificate, MAX_CERTIFICATE_BYTES)
    return make_certificate_check(pdf, _certificates("--certificate-ca", args.certificate_cas))


@dataclass(frozen=True)
class ReportSigner:
    """The PEM certificate (with its chain) and key that sign the --report PDF."""

    cert_pem: bytes
    key_pem: bytes


def _report_signer(args: argparse.Namespace) -> ReportSigner | None:
    if args.sign_cert is None and args.sign_key is None:
        return None
    if args.sign_cert is None or args.sign_key is None:
        raise UsageError("--sign-cert and --sign-key go together")
    if args.report is None:
        raise UsageError("--sign-cert/--sign-key sign the --report PDF: give --report too")
    cert = _read_small("--sign-cert", args.sign_cert)
    key = _read_small("--sign-key", args.sign_key)
    if b"-----BEGIN CERTIFICATE-----" not in cert:
        raise UsageError(f"--sign-cert {args.sign_cert[:80]}: no PEM certificate in it")
    if b"PRIVATE KEY-----" not in key:
        raise UsageError(f"--sign-key {args.sign_key[:80]}: no PEM private key in it")
    if not _key_matches(cert, key):
        raise UsageError("--sign-key is not the private key of --sign-cert's first certificate")
    return ReportSigner(cert, key)


def _key_matches(cert_pem: bytes, key_pem: bytes) -> bool:
    """Whether the key is the first certificate's (a mismatch would sign an invalid report).
    True when ``cryptography`` is missing: signing then says what to install."""
    try:
        from cryptography import x509  # noqa: PLC0415
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    except ImportError:
        return True
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--sign-cert/--sign-key: unreadable: {one_line(str(exc))[:200]}") from exc
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return bool(
        cert.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki)
    )


def _hash_files(paths: Sequence[str], watch: Watch = no_progress) -> list[FileDigest]:
    out = []
    for path in paths:
        try:
            with open(path, "rb") as fh:
                name = Path(path).name
                watched = watch(fh, name, os.fstat(fh.fileno()).st_size)
                out.append(digest_stream(name, watched))
                _finish(watched)
        except OSError as exc:
            raise UsageError(f"cannot read file {path}: {exc.strerror}") from exc
    return out


def key_fingerprint(text: str) -> str:
    """``name+keyid``, and the SHA-256 of the raw Ed25519 public key (to read aloud)."""
    key = VerifierKey.from_text(text)
    return f"{key.name}+{key.key_id.hex()}, SHA-256 {hashlib.sha256(key.public_key).hexdigest()}"


def package_facts(package: EvidencePackage) -> dict[str, object]:
    """What a package says about itself: shown, never trusted."""
    chain = package.chain
    return {
        "source": package.source,
        "files": len(package.files),
        "log_key_text": package.log_key_text,
        "log_key_fingerprint": key_fingerprint(package.log_key_text)
        if package.log_key_text
        else None,
        "chain": None
        if chain is None
        else {"chain_id": chain.chain_id, "contract": chain.contract, "log_id": chain.log_id},
        "trusted": False,
    }


def render_package(
    package: EvidencePackage, keys: Sequence[VerifierKey], args: argparse.Namespace
) -> str:
    """The package's own key and chain facts, with how to pass them after checking them."""
    lines = [
        f"证据包 package       : {package.source}, {len(package.files)} files hashed "
        "(SHA-256 + SM3), consistent with its manifest"
    ]
    if package.log_key_text is not None:
        lines.append(
            "包内日志公钥 package log key (informational, NOT trusted): "
            + one_line(key_fingerprint(package.log_key_text))
        )
        if not keys:
            lines.append(
                "  核对后传入 compare it with the key the log's operator publishes, then pass "
                "--log-key log-key.vkey"
            )
        elif package.log_key_text.strip() not in {k.to_text() for k in keys}:
            lines.append("  note: the package's key is not among the keys you passed")
    chain = package.chain
    if chain is not None:
        lines.append(
            "包内链信息 package chain facts (informational, NOT trusted): "
            f"chain id {chain.chain_id}, contract {chain.contract}, log id {chain.log_id}"
        )
        if not args.rpc_urls:
            lines.append(
                "  tier 5: confirm them out of band, then pass --rpc URL "
                f"--contract {chain.contract} --chain-id {chain.chain_id}"
            )
    return "\n".join(lines)


def render_table(report: Report, bundle: Bundle | None = None) -> str:
    lines = [
        f"证据编号 evidence id : {report.evidence_id} ({report.kind})",
        f"叶子哈希 leaf hash   : {report.leaf_hash}",
    ]
    if report.checkpoint is not None:
        lines.append(
            f"检查点 checkpoint    : {report.checkpoint.origin} size {report.checkpoint.size} "
            f"root {report.checkpoint.root.hex()}"
        )
    lines += trust_lines(report, bundle)
    lines.append("")
    for t in report.tiers:
        head = f"{t.tier} {t.name_zh} {t.name}"
        lines.append(f"  {head:<24} {STATUS_LABELS[t.status]:<20} {one_line(t.detail)}")
    lines.append("")
    lines.append(f"结论 outcome: {OUTCOME_LABELS[report.outcome.value]}")
    return "\n".join(lines)


def trust_lines(report: Report, bundle: Bundle | None) -> list[str]:
    """The witnesses that cosigned, and the TSA time beside the block time (two clocks)."""
    from verifier.verify import iso_utc  # noqa: PLC0415

    lines = []
    w = report.witnesses
    if w is not None:
        named = ", ".join(f"{one_line(n)} {iso_utc(t)}" for n, t in w.cosigned) or "none"
        state = "FORGED by " + one_line(w.forged) if w.forged else f"quorum {w.quorum}"
        lines.append(f"见证 witnesses       : {named} ({state})")
    clocks = []
    if bundle is not None and bundle.anchor is not None:
        clocks.append(f"block {iso_utc(bundle.anchor.block_timestamp)}")
    for c in report.timestamps:
        when = iso_utc(c.gen_time) if c.gen_time is not None else "unreadable"
        mark = "" if c.ok else " FAILED"
        clocks.append(f"TSA {one_line(c.tsa)} {when}{mark}")
    if report.timestamps:
        lines.append(f"时间 times (UTC)     : {'; '.join(clocks)}")
    if report.certificate is not None:
        cert = report.certificate
        label = "通过 verified" if cert.ok else "失败 FAILED"
        lines.append(f"存证证书 certificate : {label} {one_line(cert.detail)}")
    return lines


def _portal_base(args: argparse.Namespace) -> str:
    base: str = args.portal_url or os.environ.get(PORTAL_URL_ENV) or DEFAULT_PORTAL_URL
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--portal-url must be an http(s) URL, not {base[:80]!r}")
    return base


def _check_report_path(path: str) -> None:
    """Refuse an unwritable --report, or one this install cannot render, before the
    (possibly long) verification."""
    if importlib.util.find_spec("reportlab") is None:
        raise UsageError(
            "--report needs reportlab, which is not installed here: "
            "pip install 'reportlab>=4.2' (verification itself does not need it)"
        )
    parent = Path(path).parent
    if not parent.is_dir():
        raise UsageError(f"--report: no such folder {parent}")
    if Path(path).is_dir():
        raise UsageError(f"--report: {path} is a folder")


def write_report(
    args: argparse.Namespace,
    report: Report,
    bundle: Bundle,
    files: Sequence[FileDigest],
    keys: Sequence[VerifierKey],
    signer: ReportSigner | None = None,
) -> None:
    # Imported here: reportlab and the CJK font load only when a report is asked for.
    from verifier.report import ReportInput, render_pdf  # noqa: PLC0415

    base = _portal_base(args)
    joiner = "&" if "?" in base else "?"
    pdf = render_pdf(
        ReportInput(
            report=report,
            bundle=bundle,
            files=tuple(files),
            generated_at=datetime.now(UTC),
            portal_url=f"{base}{joiner}leaf={report.leaf_hash}",
            trusted_keys=[k.to_text() for k in keys],
            rpc_endpoints=[endpoint_name(u) for u in args.rpc_urls],
            lang=args.lang,
        )
    )
    if signer is not None:
        from verifier.pades import sign_pdf  # noqa: PLC0415

        try:
            pdf = sign_pdf(
                pdf,
                signer.cert_pem,
                signer.key_pem,
                reason="核验报告 Evidence verification report",
            )
        except Exception as exc:  # pyHanko's and cryptography's errors: one line, exit 3
            raise UsageError(f"--sign-cert/--sign-key: cannot sign the report: {exc}") from exc
    target = Path(args.report)
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_bytes(pdf)
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UsageError(f"--report: cannot write {args.report}: {exc.strerror}") from exc


def _unusable(exc: Exception) -> int:
    from verifier.verify import EXIT_UNUSABLE  # noqa: PLC0415

    print(f"evidence-verify: unusable input: {one_line(str(exc))}", file=sys.stderr)
    return EXIT_UNUSABLE


# --- evidence-verify spot-check (双随机 draws, docs/spot-check.md) ----------------------------

#: The sub-command's name: ``evidence-verify spot-check PLAN.json …`` (a bundle file of
#: that name is verified as ``./spot-check``).
SPOT_CHECK = "spot-check"


def _spot_check_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=f"evidence-verify {SPOT_CHECK}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "复现并核验双随机抽查的抽取结果。\n"
            "Reproduce a verifiable spot-check draw (evidence-draw/v1, docs/spot-check.md) from\n"
            "the published plan and the hash of its seed block, and compare it with the plan's\n"
            "commitment in the log (--plan-sha256) and with the published draw (--draw)."
        ),
        epilog=(
            "checks 核验项: plan 计划 — the plan's SHA-256 equals the digest its log entry\n"
            "commits (--plan-sha256); draw 抽取 — the published draw equals the one recomputed\n"
            "(--draw; each difference is listed); seed 种子 — with --rpc, the chain's block at\n"
            "seed_height exists and is --block-hash (a block not yet mined: incomplete). A check\n"
            "not asked for is not checked. Without --rpc the block hash is taken as given: take\n"
            "it from the chain itself, never from the publisher alone.\n"
            "\n"
            "exit codes 退出码: 0 the checks passed (plan, draw, and seed with --rpc), 1 a check\n"
            "failed (or the plan cannot be drawn), 2 incomplete (a check not asked for, the seed\n"
            "block not yet mined or the endpoint unreachable), 3 unusable input"
        ),
    )
    p.add_argument("plan", metavar="PLAN.json", help="抽查计划 the published plan (JSON)")
    p.add_argument(
        "--block-hash",
        metavar="0xHASH",
        help="种子区块哈希 the hash of block seed_height on the plan's chain (0x + 64 hex "
        "digits); needed unless --rpc",
    )
    p.add_argument(
        "--rpc",
        metavar="URL",
        help="an http(s) JSON-RPC endpoint of the plan's chain: the seed block's hash is asked "
        "of it (eth_getBlockByNumber) and compared with --block-hash if given",
    )
    p.add_argument(
        "--draw", metavar="DRAW.json", help="公布的抽取结果 the published draw to compare (JSON)"
    )
    p.add_argument(
        "--plan-sha256",
        metavar="HEX",
        help="日志中承诺的计划摘要 the plan digest the log entry commits (64 hex digits)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--trace", action="store_true", help="show every intermediate value 显示全部中间值"
    )
    return p


@dataclass
class SpotCheckOutcome:
    """The checks (plan commitment, draw; the seed with --rpc) and what was recomputed."""

    plan_id: str
    chain_id: int
    seed_height: int
    plan_sha256: str | None
    plan_check: tuple[str, str]
    draw_check: tuple[str, str]
    result: DrawResult | None = None
    differences: list[str] | None = None
    trace: list[str] | None = None
    #: asked of the chain with --rpc; None: the block hash was taken as given
    seed_check: tuple[str, str] | None = None

    @property
    def outcome(self) -> str:
        statuses = {self.plan_check[0], self.draw_check[0]}
        if self.seed_check is not None:
            statuses.add(self.seed_check[0])
        if "failed" in statuses:
            return "failed"
        return "verified" if statuses == {"verified"} else "incomplete"

    @property
    def seed_status(self) -> tuple[str, str]:
        return self.seed_check or (
            "not_checked",
            "--block-hash taken as given: compare it with the chain (eth_getBlockByNumber) or "
            "pass --rpc",
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "outcome": self.outcome,
            "plan_id": self.plan_id,
            "plan_sha256": self.plan_sha256,
            "chain_id": self.chain_id,
            "seed_height": self.seed_height,
            "checks": {
                "plan": {"status": self.plan_check[0], "detail": self.plan_check[1]},
                "draw": {"status": self.draw_check[0], "detail": self.draw_check[1]},
                "seed": {"status": self.seed_status[0], "detail": self.seed_status[1]},
            },
            "differences": self.differences or [],
            "draw": None if self.result is None else self.result.model_dump(mode="json"),
            **({} if self.trace is None else {"trace": self.trace}),
        }


def _committed_digest(text: str | None) -> str | None:
    if text is None:
        return None
    if len(text) != 64 or not all(c in "0123456789abcdefABCDEF" for c in text):
        raise UsageError(f"--plan-sha256 {text[:80]!r} is not 64 hex digits")
    return text.lower()


def check_spot_check(args: argparse.Namespace) -> SpotCheckOutcome:
    """Read the inputs (UsageError/FormatError: unusable), then the two checks."""
    from verifier import spotcheck as sc  # noqa: PLC0415

    committed = _committed_digest(args.plan_sha256)
    if args.block_hash is None and args.rpc is None:
        raise UsageError("give --block-hash (the seed block's hash), or --rpc to ask the chain")
    seed = None if args.block_hash is None else sc.parse_block_hash(args.block_hash)
    plan = sc.load_plan(_read_small("PLAN.json", args.plan, sc.MAX_PLAN_BYTES))
    published = None
    if args.draw is not None:
        published = sc.load_draw(_read_small("--draw", args.draw, sc.MAX_DRAW_BYTES))
    out = SpotCheckOutcome(
        plan.plan_id,
        plan.chain_id,
        plan.seed_height,
        None,
        ("not_checked", "no --plan-sha256: compare with the digest the log entry commits"),
        ("not_checked", "no --draw: the draw below is recomputed, not compared"),
        trace=[] if args.trace else None,
    )
    if args.rpc is not None:
        out.seed_check, seed = _seed_from_chain(args.rpc, plan.chain_id, plan.seed_height, seed)
    if seed is None:
        out.draw_check = ("not_checked", "no seed: the seed block's hash is not known yet")
        return out
    try:
        out.plan_sha256 = sc.plan_digest(plan)
        if committed is not None:
            out.plan_check = (
                ("verified", f"SHA-256 {committed}, as committed")
                if committed == out.plan_sha256
                else (
                    "failed",
                    f"the plan differs from the one committed: its SHA-256 is "
                    f"{out.plan_sha256}, the log entry commits {committed}",
                )
            )
        out.result = sc.draw(plan, seed, out.trace)
    except sc.SpotCheckError as exc:
        out.draw_check = ("failed", f"the plan cannot be drawn: {one_line(str(exc))}")
        return out
    if published is not None:
        out.differences = sc.differences(out.result, published)
        out.draw_check = (
            ("failed", f"the published draw differs in {len(out.differences)} place(s)")
            if out.differences
            else ("verified", "the published draw is the one recomputed")
        )
    return out


def _seed_from_chain(
    url: str, chain_id: int, height: int, given: bytes | None
) -> tuple[tuple[str, str], bytes | None]:
    """The seed check against ``url`` and the seed to draw with (the chain's, when it has
    the block; else ``given``)."""
    from verifier.chain.anchor import _check_url  # noqa: PLC0415
    from verifier.chain.block import BlockNotMinedError, block_hash_at  # noqa: PLC0415
    from verifier.chain.rpc import RpcClient, UrllibTransport  # noqa: PLC0415
    from verifier.errors import ChainCheckError, EndpointUnavailableError  # noqa: PLC0415

    name = endpoint_name(_check_url(url))
    try:
        block = block_hash_at(RpcClient(url, UrllibTransport()), chain_id, height)
    except (BlockNotMinedError, EndpointUnavailableError) as exc:
        return ("not_checked", f"{name}: {one_line(str(exc))}"), given
    except ChainCheckError as exc:
        return ("failed", f"{name}: {one_line(str(exc))}"), given
    told = f"0x{block.hash.hex()}"
    if given is not None and given != block.hash:
        return (
            "failed",
            f"--block-hash 0x{given.hex()} is not block {height}'s hash on chain {chain_id}: "
            f"{name} says {told}",
        ), given
    detail = f"block {height} is {told} on chain {chain_id} ({name}, {block.confirmations} "
    detail += "confirmation" + ("" if block.confirmations == 1 else "s") + ")"
    return ("verified", detail), block.hash


def render_spot_check(out: SpotCheckOutcome) -> str:
    lines = [
        f"抽查计划 plan        : {out.plan_id}, SHA-256 {out.plan_sha256 or '(none)'}",
        f"种子区块 seed block  : chain {out.chain_id}, height {out.seed_height}",
    ]
    lines += out.trace or []
    result = out.result
    if result is not None:
        lines.append(f"种子 seed            : {result.seed}")
        lines.append(f"抽中对象 entities    : {', '.join(result.entities)}")
        lines.append(f"抽中人员 officers    : {', '.join(result.officers)}")
        lines += [f"  {a.entity} <- {', '.join(a.officers)}" for a in result.assignments]
    lines.append("")
    checks = [("计划 plan", out.plan_check), ("抽取 draw", out.draw_check)]
    checks.append(("种子 seed", out.seed_status))
    for name, (status, detail) in checks:
        lines.append(f"  {name:<10} {STATUS_LABELS[status]:<20} {one_line(detail)}")
    lines += [f"    - {one_line(d)}" for d in out.differences or []]
    lines.append("")
    lines.append(f"结论 outcome: {OUTCOME_LABELS[out.outcome]}")
    return "\n".join(lines)


def run_spot_check(argv: Sequence[str]) -> int:
    """``evidence-verify spot-check``: 0 verified, 1 failed, 2 incomplete, 3 unusable."""
    args = _spot_check_parser().parse_args(argv)
    try:
        out = check_spot_check(args)
    except (UsageError, FormatError) as exc:
        return _unusable(exc)
    if args.json:
        print(json.dumps(out.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(render_spot_check(out))
    return {"verified": 0, "failed": 1, "incomplete": 2}[out.outcome]


def run(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [SPOT_CHECK]:
        return run_spot_check(argv[1:])
    if argv[:1] == ["credit"]:
        from verifier import credit_cli  # noqa: PLC0415 - loads the grading only when asked

        return credit_cli.run(argv[1:])
    args = _parser().parse_args(argv)
    from verifier.verify import EXIT_UNUSABLE, verify_bundle  # noqa: PLC0415

    try:
        if args.report is not None:
            _check_report_path(args.report)
            _portal_base(args)
        keys = [_load_key(k) for k in args.log_keys]
        anchor_check = _anchor_check(args)
        witnesses = _witness_policy(args)
        timestamp_check = _timestamp_check(args)
        certificate_check = _certificate_check(args)
        report_signer = _report_signer(args)
        watch = no_progress if args.quiet else progress_on(sys.stderr)
        loaded = _load_input(args.input, watch)
        if loaded.package is not None and args.files:
            raise UsageError(
                "--file cannot be used with a package: its files come from the package itself"
            )
        files = list(loaded.package.files) if loaded.package else _hash_files(args.files, watch)
    except (UsageError, FormatError) as exc:
        return _unusable(exc)
    try:
        report = verify_bundle(
            loaded.bundle,
            files=files,
            log_keys=keys,
            anchor_check=anchor_check,
            through=args.through,
            witnesses=witnesses,
            timestamp_check=timestamp_check,
            certificate_check=certificate_check,
        )
    except VerifierError as exc:  # defensive: tiers report their own failures
        print(f"evidence-verify: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.report is not None:
        try:
            write_report(args, report, loaded.bundle, files, keys, report_signer)
        except (UsageError, FormatError) as exc:  # ReportError is a FormatError
            return _unusable(exc)
    if args.json:
        out = report.to_dict()
        if loaded.package is not None:
            out["package"] = package_facts(loaded.package)
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        if loaded.package is not None:
            print(render_package(loaded.package, keys, args) + "\n")
        print(render_table(report, loaded.bundle))
    return report.exit_code


def quiet_broken_pipe() -> NoReturn:
    """stdout's reader went away (``| head``): no traceback, exit 141 (as ``yes | head``).

    What is still buffered goes to /dev/null, so the interpreter's last flush cannot
    fail again; nothing more is written."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout closed or replaced: nothing to redirect
        pass
    sys.exit(EXIT_BROKEN_PIPE)


def main() -> None:
    try:
        code = run()
        sys.stdout.flush()  # a reader gone by now is found here, not at interpreter exit
    except BrokenPipeError:
        quiet_broken_pipe()
    sys.exit(code)
