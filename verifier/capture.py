"""A server-side web capture (网页取证) as the verifier sees it: its WACZ and its records.

A capture is an evidence item the service recorded itself (issue 13): its manifest's
``capture.environment`` says ``recorded_by = server`` and names a ``capture_id``, and
its files follow fixed names (copied here from ``evidence_api.capture.outcome``: the
verifier is shipped alone and may not import the service).

Two things live here, both pure (they read only the bytes they are given):

- :func:`check_wacz`: the WACZ's own consistency. ``datapackage-digest.json`` must hold
  the SHA-256 of ``datapackage.json``, and every resource ``datapackage.json`` lists
  must be a member with exactly its ``bytes`` and ``hash``; no member may be missing
  or undeclared. The archive is read by :mod:`verifier.zipread` (bounded, refusing zip
  bombs and path tricks). The WACZ's own bytes are covered by the manifest like any
  file (tier 1); this check adds that what it says about itself is true, so a replay
  tool that trusts ``datapackage.json`` replays the very bytes that were anchored.
- :func:`capture_facts`: what the appraisal report prints about the capture process
  (URL, steps, redirects, certificates, DNS, clocks), read tolerantly from
  ``environment.json``, ``main-document.json`` and the ``tls-*.pem`` files: a missing
  or mistyped field is "not recorded", never a crash, and nothing is trusted for type.

:class:`CheckedFile` carries a file's digest together with what the reader learnt from
its bytes (the WACZ verdict; the small records' bytes, kept for the report), so the
existing flow (package → ``verify_bundle`` → report) needs no second channel.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from verifier.canonical import parse_json
from verifier.digests import FileDigest
from verifier.errors import FormatError, PackageError, VerifierError
from verifier.models import Manifest
from verifier.x509 import (
    CertificateFormatError,
    CertificateInfo,
    certificate_info,
    pem_certificates,
)
from verifier.zipread import (
    Budget,
    Member,
    ZipLimits,
    ZipSource,
    check_member_name,
    show,
    zip_errors,
)

# -- the files of a capture (evidence_api/capture/outcome.py; docs/capture.md §3) -----------

SCREENSHOT = "screenshot.png"
DOM = "dom.html"
MHTML = "page.mhtml"
WACZ = "archive.wacz"
HAR = "traffic.har"
VIDEO = "recording.webm"
MAIN_DOCUMENT = "main-document.json"
ENVIRONMENT = "environment.json"
TLS_PREFIX, TLS_SUFFIX = "tls-", ".pem"

#: ``capture.environment`` keys that mark a server capture.
RECORDED_BY, RECORDED_BY_SERVER, CAPTURE_ID = "recorded_by", "server", "capture_id"

# -- the WACZ's fixed members (WACZ 1.1.1) ---------------------------------------------------

DATAPACKAGE = "datapackage.json"
DATAPACKAGE_DIGEST = "datapackage-digest.json"
#: Largest ``datapackage.json`` / ``datapackage-digest.json`` read (they list, not hold).
MAX_DATAPACKAGE_BYTES = 4 << 20
MAX_DIGEST_BYTES = 64 << 10
#: The one hash algorithm the capture writes; others are refused, not skipped.
HASH_PREFIX = "sha256:"


@dataclass(frozen=True)
class WaczLimits(ZipLimits):
    """Bounds on one WACZ: those of :class:`~verifier.zipread.ZipLimits` (a capture is at
    most ``CaptureLimits.max_bytes`` of traffic, far below them)."""


def is_capture(manifest: Manifest | None) -> bool:
    """Whether ``manifest`` describes a server capture (not an officer's upload)."""
    if manifest is None:
        return False
    env = manifest.capture.environment
    return env.get(RECORDED_BY) == RECORDED_BY_SERVER and bool(env.get(CAPTURE_ID))


# -- errors ----------------------------------------------------------------------------------


class WaczError(VerifierError):
    """``archive.wacz`` does not hold together. A failed tier 1, not an unusable input:
    the WACZ's bytes are the anchored ones, what they say about themselves is wrong.
    ``member`` names the WACZ member at fault, when one is."""

    hint = (
        "The web archive inside the capture contradicts its own index (datapackage.json). "
        "Do not replay it; ask the issuer for a fresh export and report the capture id."
    )

    def __init__(self, message: str, member: str | None = None) -> None:
        super().__init__(message)
        self.member = member


class WaczUnreadableError(WaczError):
    """The ZIP reader refused the WACZ (a zip bomb, an unsafe or duplicate name, a link,
    too many members, a damaged archive); ``cause`` is the reader's own typed error."""

    def __init__(self, cause: PackageError) -> None:
        super().__init__(f"not a safe, readable ZIP: {cause}")
        self.cause = cause


class WaczLayoutError(WaczError):
    """``datapackage.json`` or ``datapackage-digest.json`` is missing or malformed."""


class WaczMismatchError(WaczError):
    """A digest or size differs from what ``datapackage.json`` (or its digest) states, or
    a member is missing from the archive or not declared in ``datapackage.json``."""


# -- the WACZ check --------------------------------------------------------------------------


@dataclass(frozen=True)
class WaczResource:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class WaczCheck:
    """A WACZ whose every declared resource was found and hashed as declared."""

    datapackage_sha256: str
    resources: tuple[WaczResource, ...]
    wacz_version: str | None = None


def check_wacz(data: bytes | IO[bytes], limits: WaczLimits = WaczLimits()) -> WaczCheck:
    """Check a WACZ's internal digests; ``data`` is its bytes or a seekable binary file
    (read, never closed). Raises a :class:`WaczError` naming what is wrong."""
    fp: IO[bytes] = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    try:
        with zip_errors():  # damage found while opening is a typed refusal too
            source = ZipSource(fp, limits)
    except PackageError as exc:
        raise WaczUnreadableError(exc) from exc
    try:
        return _check(source, limits)
    except PackageError as exc:  # raised while inflating: a bomb, a damaged member
        raise WaczUnreadableError(exc) from exc
    finally:
        source.close()


def _check(source: ZipSource, limits: WaczLimits) -> WaczCheck:
    members = source.members()
    budget = Budget(limits)
    for name in (DATAPACKAGE, DATAPACKAGE_DIGEST):
        if name not in members:
            raise WaczLayoutError(f"the WACZ has no {name}", name)
    package_bytes = _read_small(source, budget, members[DATAPACKAGE], MAX_DATAPACKAGE_BYTES)
    digest_bytes = _read_small(source, budget, members[DATAPACKAGE_DIGEST], MAX_DIGEST_BYTES)
    package_sha256 = hashlib.sha256(package_bytes).hexdigest()
    _check_digest_record(digest_bytes, package_sha256)
    package = _json_object(DATAPACKAGE, package_bytes)
    declared = _resources(package, limits)
    declared_paths = {r.path for r in declared}
    for resource in declared:
        if resource.path not in members:
            raise WaczMismatchError(
                f"resource {show(resource.path)} is in {DATAPACKAGE} but not in the archive",
                resource.path,
            )
    extra = sorted(set(members) - declared_paths - {DATAPACKAGE, DATAPACKAGE_DIGEST})
    if extra:
        raise WaczMismatchError(
            f"member {show(extra[0])} is in the archive but not declared in {DATAPACKAGE}"
            + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""),
            extra[0],
        )
    for resource in declared:
        _check_resource(source, budget, members[resource.path], resource)
    version = package.get("wacz_version")
    return WaczCheck(
        datapackage_sha256=package_sha256,
        resources=tuple(declared),
        wacz_version=version if isinstance(version, str) and len(version) <= 32 else None,
    )


def _read_small(source: ZipSource, budget: Budget, member: Member, limit: int) -> bytes:
    if member.declared_size > limit:
        raise WaczLayoutError(
            f"{member.name} declares {member.declared_size} bytes, limit {limit}", member.name
        )
    parts: list[bytes] = []
    if budget.pump(source, member, parts.append, limit) > limit:
        raise WaczLayoutError(f"{member.name} is larger than {limit} bytes", member.name)
    return b"".join(parts)


def _json_object(name: str, data: bytes) -> dict[str, Any]:
    try:
        obj = parse_json(data, max_bytes=MAX_DATAPACKAGE_BYTES, what=name)
    except FormatError as exc:
        raise WaczLayoutError(str(exc), name) from exc
    if not isinstance(obj, dict):
        raise WaczLayoutError(f"{name} must be a JSON object", name)
    return obj


def _sha256_of(value: object, where: str, member: str) -> str:
    """The hex digest of a ``"sha256:<64 hex>"`` field; anything else is refused."""
    if not isinstance(value, str) or not value.startswith(HASH_PREFIX):
        shown = repr(value)[:40]
        raise WaczLayoutError(f"{where}: hash {shown} is not 'sha256:<hex>'", member)
    digest = value.removeprefix(HASH_PREFIX).lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise WaczLayoutError(f"{where}: hash is not 64 hex digits", member)
    return digest


def _check_digest_record(data: bytes, package_sha256: str) -> None:
    record = _json_object(DATAPACKAGE_DIGEST, data)
    if record.get("path") != DATAPACKAGE:
        raise WaczLayoutError(
            f"{DATAPACKAGE_DIGEST}: path must be {DATAPACKAGE!r}", DATAPACKAGE_DIGEST
        )
    want = _sha256_of(record.get("hash"), DATAPACKAGE_DIGEST, DATAPACKAGE_DIGEST)
    if want != package_sha256:
        raise WaczMismatchError(
            f"{DATAPACKAGE} SHA-256 {package_sha256} differs from {DATAPACKAGE_DIGEST}'s {want}",
            DATAPACKAGE,
        )


def _resources(package: dict[str, Any], limits: WaczLimits) -> list[WaczResource]:
    listed = package.get("resources")
    if not isinstance(listed, list):
        raise WaczLayoutError(f"{DATAPACKAGE}: resources must be a list", DATAPACKAGE)
    if len(listed) > limits.max_entries:
        raise WaczLayoutError(
            f"{DATAPACKAGE} lists {len(listed)} resources, limit {limits.max_entries}",
            DATAPACKAGE,
        )
    out: list[WaczResource] = []
    seen: set[str] = set()
    for number, item in enumerate(listed, start=1):
        where = f"{DATAPACKAGE} resource {number}"
        path = item.get("path") if isinstance(item, dict) else None
        if not isinstance(path, str):
            raise WaczLayoutError(f"{where}: path must be a string", DATAPACKAGE)
        try:
            check_member_name(path)
        except PackageError as exc:
            raise WaczLayoutError(f"{where}: {exc}", DATAPACKAGE) from exc
        if path in seen or path in (DATAPACKAGE, DATAPACKAGE_DIGEST):
            raise WaczLayoutError(f"{where}: {show(path)} is listed twice or reserved", path)
        seen.add(path)
        size = item.get("bytes")
        if type(size) is not int or not 0 <= size <= limits.max_member_bytes:
            raise WaczLayoutError(
                f"{where} ({show(path)}): bytes must be an integer in 0..{limits.max_member_bytes}",
                path,
            )
        out.append(WaczResource(path, size, _sha256_of(item.get("hash"), where, path)))
    return out


def _check_resource(
    source: ZipSource, budget: Budget, member: Member, resource: WaczResource
) -> None:
    shown = show(resource.path)
    if member.declared_size != resource.size:
        raise WaczMismatchError(
            f"resource {shown} is {member.declared_size} bytes in the archive, "
            f"{resource.size} in {DATAPACKAGE}",
            resource.path,
        )
    hasher = hashlib.sha256()
    produced = budget.pump(source, member, hasher.update, resource.size)
    if produced != resource.size:
        raise WaczMismatchError(
            f"resource {shown} holds {'more than ' if produced > resource.size else ''}"
            f"{produced} bytes, {DATAPACKAGE} says {resource.size}",
            resource.path,
        )
    got = hasher.hexdigest()
    if got != resource.sha256:
        raise WaczMismatchError(
            f"resource {shown} SHA-256 {got} differs from {DATAPACKAGE}'s {resource.sha256}",
            resource.path,
        )


# -- a file as read, with what its bytes showed ----------------------------------------------

#: Bytes of the small records kept for the report (per file); larger ones are left out.
KEEP_LIMITS: Mapping[str, int] = {
    ENVIRONMENT: 4 << 20,
    MAIN_DOCUMENT: 4 << 20,
    SCREENSHOT: 32 << 20,
}
MAX_PEM_BYTES = 256 << 10


def keep_limit(name: str) -> int | None:
    """Most bytes of file ``name`` a reader keeps for the report; None: not kept."""
    if name.startswith(TLS_PREFIX) and name.endswith(TLS_SUFFIX):
        return MAX_PEM_BYTES
    return KEEP_LIMITS.get(name)


@dataclass(frozen=True)
class CheckedFile(FileDigest):
    """A file's digest and what the reader learnt from its bytes while hashing them.

    ``wacz``: for ``archive.wacz`` of a capture, the :class:`WaczCheck`, or the
    :class:`WaczError` that refused it. ``content``: the bytes of a small record
    (:func:`keep_limit`), for the report. A plain :class:`FileDigest` (a client's own
    digest, say) has neither: tier 1 then says the WACZ's inside was not checked.
    """

    wacz: WaczCheck | WaczError | None = field(default=None, compare=False)
    content: bytes | None = field(default=None, compare=False, repr=False)


def wacz_verdict(
    data: bytes | IO[bytes], limits: WaczLimits = WaczLimits()
) -> WaczCheck | WaczError:
    """:func:`check_wacz`, its refusal returned rather than raised (for :class:`CheckedFile`)."""
    try:
        return check_wacz(data, limits)
    except WaczError as exc:
        return exc


def file_contents(files: Sequence[FileDigest]) -> dict[str, bytes]:
    """The kept bytes of each :class:`CheckedFile` in ``files``, by name."""
    return {
        f.name: f.content for f in files if isinstance(f, CheckedFile) and f.content is not None
    }


# -- what the report prints about the capture process ----------------------------------------

#: Longest text kept of one recorded value, and most items kept of one recorded list.
MAX_FACT_CHARS = 512
MAX_FACT_ITEMS = 64


@dataclass(frozen=True)
class StepFact:
    number: int
    action: str | None
    started_at: str | None
    ended_at: str | None
    outcome: str | None


@dataclass(frozen=True)
class HopFact:
    status: str | None
    url: str | None


@dataclass(frozen=True)
class CertificateFact:
    """The leaf of one origin's recorded chain (``tls-<host>-<port>.pem``)."""

    file: str
    origin: str
    chain_length: int
    info: CertificateInfo | None
    problem: str | None = None
    #: the connection as the recording proxy negotiated it (environment.json ``tls``)
    session: str | None = None


@dataclass(frozen=True)
class CaptureFacts:
    """What a capture recorded about itself, for the report. Every text is bounded (and
    escaped when printed); ``None`` is "not recorded". Nothing here is verified: the
    records are files of the evidence, and tier 1 checks their bytes."""

    capture_id: str | None
    requested_url: str | None
    final_url: str | None
    mode: str | None
    tool: str | None
    started_at: str | None
    ended_at: str | None
    host: str | None
    os: str | None
    chromium: str | None
    steps: tuple[StepFact, ...]
    redirects: tuple[HopFact, ...]
    certificates: tuple[CertificateFact, ...]
    dns_system: str | None
    dns_second: str | None
    dns_agreement: str | None
    hosts: str | None
    egress: str | None
    clock_before: str | None
    clock_after: str | None
    self_check: str | None
    limits_hit: tuple[str, ...]
    warnings: tuple[str, ...]
    proxy: str | None
    tls: str | None
    screenshot: bytes | None
    #: the records that were not given (or were too large or unreadable), by file name
    missing: tuple[str, ...] = ()


def capture_facts(manifest: Manifest | None, files: Mapping[str, bytes]) -> CaptureFacts | None:
    """The facts of a server capture from its manifest and whichever of its records are in
    ``files`` (name -> bytes); None when ``manifest`` is not a capture's.

    Reads environment.json's layout (schema 1, ``evidence_api.capture.environment``) and
    falls back on the manifest's flat ``capture.environment`` when the record is absent.
    Never raises on what the records hold: a missing or mistyped value is None."""
    if manifest is None or not is_capture(manifest):
        return None
    flat: Mapping[str, str] = manifest.capture.environment
    missing: list[str] = []
    env = _record(files, ENVIRONMENT, manifest, missing)
    main = _record(files, MAIN_DOCUMENT, manifest, missing)
    if SCREENSHOT in {f.name for f in manifest.files} and SCREENSHOT not in files:
        missing.append(SCREENSHOT)
    redirects = _hops(main)
    final = _first(env, ("final_url",), ("main_document", "final_url")) or _first(
        main, ("final_url",)
    )
    if final is None and redirects:
        final = redirects[-1].url
    dns = _dig(env, ("dns",))
    return CaptureFacts(
        capture_id=_first(env, (CAPTURE_ID,)) or _text(flat.get(CAPTURE_ID)),
        requested_url=_first(env, ("url",), ("request", "url")) or manifest.source.url,
        final_url=final,
        mode=_first(env, ("mode",), ("request", "mode"))
        or _text(flat.get("mode"))
        or _mode(env, manifest),
        tool=manifest.capture.tool,
        started_at=_first(env, ("started_at",)) or _text(flat.get("started_at")),
        ended_at=_first(env, ("ended_at",)) or _text(flat.get("ended_at")),
        host=_host(env) or _text(flat.get("host_id")),
        os=_os(env) or _joined(flat.get("os"), flat.get("kernel")),
        chromium=_browser(env) or _joined(flat.get("chromium"), flat.get("playwright")),
        steps=_steps(env),
        redirects=redirects,
        certificates=_certificates(manifest, files, missing, _dig(env, ("tls",))),
        dns_system=_answer(_dig(dns, ("system",))) or _text(flat.get("dns_system")),
        dns_second=_answer(_dig(dns, ("second",))) or _text(flat.get("dns_second")),
        dns_agreement=_first(dns, ("agree",), ("agreement",)) or _text(flat.get("dns_agree")),
        hosts=_hosts(env) or _text(flat.get("hosts_sha256")),
        egress=_first(env, ("egress", "ip"), ("egress", "error"), ("egress", "status"))
        or _text(flat.get("egress_ip")),
        clock_before=_clock(_dig(env, ("clock", "before"))) or _text(flat.get("clock_before")),
        clock_after=_clock(_dig(env, ("clock", "after"))) or _text(flat.get("clock_after")),
        self_check=_self_check(_dig(env, ("selfcheck",))) or _text(flat.get("selfcheck")),
        limits_hit=_limits(_dig(env, ("limits_hit",))) or _split(flat.get("limits_hit"), ","),
        warnings=_texts(_dig(env, ("warnings",))) or _split(flat.get("warnings_text"), " | "),
        proxy=_proxy(env) or _text(flat.get("browser_proxy")),
        tls=_tls(_dig(env, ("tls",))),
        screenshot=files.get(SCREENSHOT),
        missing=tuple(missing),
    )


def _record(files: Mapping[str, bytes], name: str, manifest: Manifest, missing: list[str]) -> Any:
    """A JSON record's content; None (and its name in ``missing``, if the capture has it)
    when it was not given or is not JSON."""
    data = files.get(name)
    if data is not None:
        try:
            return parse_json(data, max_bytes=KEEP_LIMITS[name], what=name)
        except FormatError:
            pass
    if data is not None or name in {f.name for f in manifest.files}:
        missing.append(name)
    return None


def _dig(obj: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _first(obj: Any, *paths: Sequence[str]) -> str | None:
    """The text of the first of ``paths`` that holds a value."""
    for path in paths:
        text = _text(_dig(obj, path))
        if text is not None:
            return text
    return None


def _clip(text: str) -> str:
    return text if len(text) <= MAX_FACT_CHARS else text[: MAX_FACT_CHARS - 1] + "…"


def _text(value: Any, depth: int = 0) -> str | None:
    """A recorded value as one line: scalars as they are, lists joined, objects as
    ``key: value`` pairs; None (and empty values) as None."""
    if value is None or value in ("", [], {}):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return _clip(str(value))
    if depth >= 3:
        return "…"
    if isinstance(value, list):
        parts = [_text(v, depth + 1) for v in value[:MAX_FACT_ITEMS]]
        return _clip(", ".join(p for p in parts if p is not None)) or None
    if isinstance(value, dict):
        pairs = []
        for key, item in list(value.items())[:MAX_FACT_ITEMS]:
            shown = _text(item, depth + 1)
            if shown is not None:
                pairs.append(f"{key}: {shown}" if depth == 0 else f"{key}={shown}")
        return _clip("; ".join(pairs)) or None
    return None


def _joined(*values: Any, sep: str = " / ") -> str | None:
    shown = [t for t in (_text(v) for v in values) if t is not None]
    return _clip(sep.join(shown)) if shown else None


def _split(value: Any, sep: str) -> tuple[str, ...]:
    text = _text(value)
    if text is None:
        return ()
    return tuple(part.strip() for part in text.split(sep) if part.strip())[:MAX_FACT_ITEMS]


def _texts(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value] if value is not None else []
    out = [_text(v) for v in items[:MAX_FACT_ITEMS]]
    return tuple(t for t in out if t is not None)


def _host(env: Any) -> str | None:
    host_id = _first(env, ("host", "id"))
    name = _first(env, ("host", "hostname"))
    source = _first(env, ("host", "id_source"))
    if host_id is None:
        return name
    extra = ", ".join(p for p in (f"hostname {name}" if name else None, source) if p)
    return f"{host_id} ({extra})" if extra else host_id


def _os(env: Any) -> str | None:
    kernel = _dig(env, ("os", "kernel"))
    kernel_text = (
        _joined(*(_dig(kernel, (k,)) for k in ("system", "release", "machine")), sep=" ")
        if isinstance(kernel, dict)
        else _text(kernel)
    )
    name = _first(env, ("os", "pretty_name"), ("os", "platform"))
    return _joined(name, kernel_text)


def _browser(env: Any) -> str | None:
    chromium = _first(env, ("browser", "chromium"))
    playwright = _first(env, ("browser", "playwright"))
    if chromium is None:
        return None
    return f"Chromium {chromium}" + (f" (Playwright {playwright})" if playwright else "")


def _answer(answer: Any) -> str | None:
    """A resolver's answer: its addresses, else its status and error; the server asked."""
    if not isinstance(answer, dict):
        return _text(answer)
    addresses = [a for key in ("a", "aaaa") for a in _texts(answer.get(key))]
    shown = ", ".join(addresses) if addresses else None
    if shown is None:
        shown = _joined(answer.get("status"), answer.get("error"), sep=": ")
    server = _text(answer.get("server"))
    if shown is not None and server is not None:
        shown = f"{shown} ({server})"
    return _clip(shown) if shown else None


def _hosts(env: Any) -> str | None:
    digest = _first(env, ("hosts", "sha256")) or _first(env, ("hosts", "error"))
    if digest is None:
        return None
    lines = _texts(_dig(env, ("hosts", "target_lines")))
    changed = _dig(env, ("hosts_after", "changed"))
    parts = [f"/etc/hosts SHA-256 {digest}"]
    if lines:
        parts.append("lines naming the target: " + " | ".join(lines))
    if isinstance(changed, bool):
        parts.append("changed during the capture" if changed else "unchanged after the capture")
    return _clip("; ".join(parts))


def _clock(measured: Any) -> str | None:
    """Each NTP server's offset (server − local, ms) and stratum, or its error."""
    if not isinstance(measured, list):
        return _text(measured)
    parts = []
    for item in measured[:MAX_FACT_ITEMS]:
        server = _text(_dig(item, ("server",))) or "?"
        offset = _dig(item, ("offset_ms",))
        if isinstance(offset, int | float) and not isinstance(offset, bool):
            stratum = _text(_dig(item, ("stratum",)))
            parts.append(f"{server} {offset:+.1f} ms" + (f" stratum {stratum}" if stratum else ""))
        else:
            parts.append(f"{server} error: {_text(_dig(item, ('error',))) or '?'}")
    return _clip("; ".join(parts)) if parts else None


def _self_check(value: Any) -> str | None:
    if isinstance(value, dict):
        ok = value.get("ok", value.get("passed"))
        verdict = ("passed" if ok else "failed") if isinstance(ok, bool) else None
        first = ("sha256", "expected_sha256", "mismatches")
        ordered = {k: value[k] for k in first if k in value} | {
            k: v for k, v in value.items() if k not in (*first, "ok", "passed")
        }
        rest = _text(ordered)
        return _joined(verdict, rest, sep="; ")
    if isinstance(value, bool):
        return "passed" if value else "failed"
    return _text(value)


def _limits(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return _texts(value)
    out = []
    for item in value[:MAX_FACT_ITEMS]:
        if isinstance(item, dict):
            shown = _joined(item.get("name"), item.get("detail"), sep=": ")
        else:
            shown = _text(item)
        if shown is not None:
            out.append(shown)
    return tuple(out)


def _proxy(env: Any) -> str | None:
    given = _first(env, ("browser", "proxy"), ("proxy_env", "recording_proxy"))
    variables = _dig(env, ("proxy_env", "variables"))
    clean = _dig(env, ("proxy_env", "clean"))
    parts = []
    if given is not None:
        parts.append(f"browser proxy {given}")
    if isinstance(variables, dict):
        names = _text(variables) if variables else "none"
        parts.append(f"proxy variables: {names}")
    if isinstance(clean, bool):
        parts.append("clean" if clean else "NOT clean")
    runner = _dig(env, ("proxy",))
    if isinstance(runner, dict):
        counts = [
            f"{key} {value}"
            for key in ("requests", "bytes_received")
            if type(value := runner.get(key)) is int
        ]
        counts += [
            f"{key} {len(value)}"
            for key in ("refused", "errors")
            if isinstance(value := runner.get(key), list)
        ]
        parts.append("recording proxy: " + (", ".join(counts) or "recorded"))
    elif runner is not None:
        parts.append(_text(runner) or "")
    return _clip("; ".join(parts)) if parts else None


def _steps(env: Any) -> tuple[StepFact, ...]:
    listed = _dig(env, ("steps",))
    if not isinstance(listed, list):
        return ()
    out = []
    for number, step in enumerate(listed[:MAX_FACT_ITEMS], start=1):
        if not isinstance(step, dict):
            out.append(StepFact(number, _text(step), None, None, None))
            continue
        index = step.get("index")
        shown_number = index if type(index) is int and 0 <= index < 10_000 else number
        what = _joined(step.get("action"), step.get("label"), sep=" ")
        out.append(
            StepFact(
                shown_number,
                what,
                _first(step, ("started",), ("started_at",)),
                _first(step, ("ended",), ("ended_at",)),
                _detail(step.get("detail")) or _first(step, ("error",), ("status",)),
            )
        )
    return tuple(out)


def _detail(value: Any) -> str | None:
    """A step's detail: the runner writes a JSON object as text; shown as its pairs."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            return _text(parse_json(value, max_bytes=64 << 10, what="step detail"))
        except FormatError:
            pass
    return _text(value)


def _mode(env: Any, manifest: Manifest) -> str | None:
    """The mode, from what the capture produced when it is not recorded: only ``steps``
    records steps, and ``video`` and ``steps`` record a video (docs/capture.md)."""
    steps = _dig(env, ("steps",))
    if isinstance(steps, list) and steps:
        return "steps"
    names = {f.name for f in manifest.files}
    if VIDEO in names:
        return "video"
    return "page" if SCREENSHOT in names else None


def _tls(value: Any) -> str | None:
    """Each origin's negotiated protocol and cipher (``tls`` in environment.json)."""
    if not isinstance(value, dict):
        return _text(value)
    parts = []
    for origin, session in list(value.items())[:MAX_FACT_ITEMS]:
        parts.append(f"{origin} {_session(session) or 'not recorded'}")
    return _clip("; ".join(parts)) if parts else None


def _session(value: Any) -> str | None:
    if not isinstance(value, dict):
        return _text(value)
    verified = value.get("verified")
    shown = _joined(
        value.get("protocol"),
        value.get("cipher"),
        ("verified" if verified else "NOT verified") if isinstance(verified, bool) else None,
        value.get("error"),
        sep=", ",
    )
    return shown


def _hops(main: Any) -> tuple[HopFact, ...]:
    listed = main if isinstance(main, list) else None
    for key in ("hops", "redirects", "chain", "redirect_chain"):
        if listed is None and isinstance(_dig(main, (key,)), list):
            listed = _dig(main, (key,))
    if listed is None:
        return ()
    return tuple(
        HopFact(_first(hop, ("status",), ("status_code",)), _first(hop, ("url",)))
        for hop in listed[:MAX_FACT_ITEMS]
        if isinstance(hop, dict)
    )


def _certificates(
    manifest: Manifest, files: Mapping[str, bytes], missing: list[str], tls: Any
) -> tuple[CertificateFact, ...]:
    out = []
    for listed in manifest.files:
        name = listed.name
        if not (name.startswith(TLS_PREFIX) and name.endswith(TLS_SUFFIX)):
            continue
        origin = name.removeprefix(TLS_PREFIX).removesuffix(TLS_SUFFIX)
        host, _, port = origin.rpartition("-")
        origin = f"{host}:{port}" if host and port.isdigit() else origin
        data = files.get(name)
        if data is None:
            missing.append(name)
            continue
        session = _session(_dig(tls, (origin,)))
        try:
            chain = pem_certificates(data)
            if not chain:
                raise CertificateFormatError("no certificate in the file")
            info = certificate_info(chain[0])
            out.append(CertificateFact(name, origin, len(chain), info, session=session))
        except CertificateFormatError as exc:
            out.append(CertificateFact(name, origin, 0, None, str(exc), session))
    return tuple(out)
