"""Looking up public entries in the evidence API's log, without trusting it.

The verification service asks the evidence API (``GET /v1/log/lookup``) for the
proof bundles of an evidence id or a SHA-256 digest. What comes back is only
a claim: each bundle is validated against ``evidence-proof/v1``, must answer
the question asked (the entry id, or the stamped digest), and is then
verified tier by tier with the service's own trusted key and chain. A forged
proof is therefore shown as a failed tier, never as a match.

The only I/O is :func:`fetch_matches` (one HTTP GET over :mod:`urllib`, with a
timeout, a response size cap and no redirects); the checks are pure.
"""

from __future__ import annotations

import http.client
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from verifier.bundle import Bundle, bundle_from_obj
from verifier.canonical import parse_json
from verifier.chain.rpc import NoRedirect
from verifier.errors import FormatError

#: Matches the evidence API returns at most (and the most this service accepts).
MAX_MATCHES = 20
#: Largest lookup answer read: 20 bundles without manifests are ~60 KiB; one with a
#: large manifest can reach the bundle limit of 1 MiB.
MAX_LOOKUP_BYTES = 4 * 2**20
#: Public entry ids: evidence (``ev-``) and stamps (``st-``): 12 hex digits of
#: milliseconds, then 16 random ones.
ENTRY_ID = re.compile(r"^(?:ev|st)-[0-9a-f]{28}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
RETRY_AFTER = 5

Field = Literal["evidence_id", "sha256", "leaf_hash"]


class LookupFailedError(Exception):
    """The upstream lookup could not give a usable answer."""

    status = 502


class UpstreamUnavailableError(LookupFailedError):
    """Unreachable, timed out, or said it is unavailable: retry later (HTTP 503)."""

    status = 503


class UpstreamInvalidError(LookupFailedError):
    """Answered something that is not a lookup answer (HTTP 502)."""

    status = 502


class NotFoundUpstreamError(LookupFailedError):
    """The log has no public entry for the query (HTTP 404)."""

    status = 404


@dataclass(frozen=True)
class Query:
    field: Field
    value: str

    def params(self) -> str:
        return urllib.parse.urlencode([(self.field, self.value)])


def parse_query(evidence_id: str | None, sha256: str | None, leaf_hash: str | None = None) -> Query:
    """Exactly one of the three, each of its shape; raises ``ValueError`` with the reason.

    ``leaf_hash`` is what the report's QR code carries (``/verify?leaf=…``).
    """
    given = [v is not None for v in (evidence_id, sha256, leaf_hash)]
    if sum(given) != 1:
        raise ValueError("give exactly one of evidence_id, sha256 and leaf_hash")
    if evidence_id is not None:
        if not ENTRY_ID.fullmatch(evidence_id):
            raise ValueError(
                "evidence_id: must be an entry id such as ev-… or st-… followed by "
                "28 lower-case hex digits"
            )
        return Query("evidence_id", evidence_id)
    field: Field = "sha256" if sha256 is not None else "leaf_hash"
    value = (sha256 or leaf_hash or "").strip().lower()
    if not SHA256.fullmatch(value):
        raise ValueError(f"{field}: must be a SHA-256 hash of 64 hex digits")
    return Query(field, value)


# --- the one HTTP request -----------------------------------------------------------


#: ``(url, timeout) -> (status, content type, body)``; tests may pass their own.
Fetch = Callable[[str, float], tuple[int, str, bytes]]


def urllib_fetch(
    url: str, timeout: float, max_bytes: int = MAX_LOOKUP_BYTES
) -> tuple[int, str, bytes]:
    """GET ``url``: the status, content type and at most ``max_bytes + 1`` bytes of body.

    Raises :class:`UpstreamUnavailableError` when the server cannot be reached or
    does not answer within ``timeout`` seconds (each socket operation, and the
    whole body, checked between reads).
    """
    opener = urllib.request.build_opener(NoRedirect())
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    deadline = time.monotonic() + timeout
    try:
        try:
            response = opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:  # an answer all the same (404, 503, …)
            response = exc
        with response:
            status = int(response.status or 0)
            ctype = response.headers.get("content-type", "")
            body = bytearray()
            while len(body) <= max_bytes:
                chunk = response.read(min(65536, max_bytes + 1 - len(body)))
                if not chunk:
                    break
                body += chunk
                if time.monotonic() > deadline:
                    raise UpstreamUnavailableError(f"no complete answer within {timeout:g} s")
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise UpstreamUnavailableError(f"cannot reach the log: {reason}") from exc
    return status, ctype, bytes(body)


def fetch_matches(
    log_url: str,
    query: Query,
    *,
    timeout: float,
    fetch: Fetch | None = None,
) -> list[Bundle]:
    """Ask ``log_url``'s public lookup; return the bundles it claims match ``query``.

    Nothing returned is trusted yet: the caller verifies every bundle.
    """
    url = f"{log_url}/v1/log/lookup?{query.params()}"
    status, ctype, body = (fetch or urllib_fetch)(url, timeout)
    if status == 404:
        raise NotFoundUpstreamError(f"the log has no public entry with {query.field} {query.value}")
    if status in (429, 502, 503, 504):
        raise UpstreamUnavailableError(f"the log answered HTTP {status}; retry later")
    if status != 200:
        raise UpstreamInvalidError(f"the log answered HTTP {status} to a well-formed lookup")
    return parse_matches(body, ctype, query)


def parse_matches(body: bytes, content_type: str, query: Query) -> list[Bundle]:
    """The bundles of a lookup answer, each checked to answer ``query``."""
    if content_type.split(";", maxsplit=1)[0].strip().lower() != "application/json":
        raise UpstreamInvalidError(f"the log answered {content_type[:60]!r}, not JSON")
    if len(body) > MAX_LOOKUP_BYTES:
        raise UpstreamInvalidError(f"the log's answer exceeds {MAX_LOOKUP_BYTES} bytes")
    try:
        answer = parse_json(body, max_bytes=MAX_LOOKUP_BYTES, what="lookup answer")
    except FormatError as exc:
        raise UpstreamInvalidError(f"the log's answer: {exc}") from exc
    matches = answer.get("matches") if isinstance(answer, dict) else None
    if not isinstance(matches, list):
        raise UpstreamInvalidError("the log's answer has no list of matches")
    if not matches:
        raise NotFoundUpstreamError(f"the log has no public entry with {query.field} {query.value}")
    if len(matches) > MAX_MATCHES:
        raise UpstreamInvalidError(f"the log sent {len(matches)} matches, at most {MAX_MATCHES}")
    bundles = []
    for i, obj in enumerate(matches):
        try:
            bundle = bundle_from_obj(obj)
        except FormatError as exc:
            raise UpstreamInvalidError(f"the log's match {i}: {exc}") from exc
        problem = mismatch(bundle, query)
        if problem:
            raise UpstreamInvalidError(f"the log's match {i} {problem}")
        bundles.append(bundle)
    return bundles


def mismatch(bundle: Bundle, query: Query) -> str | None:
    """Why ``bundle`` does not answer ``query`` (None: it does, as far as it can show)."""
    entry = bundle.entry
    if query.field == "evidence_id":
        if entry.id != query.value:
            return f"is entry {entry.id!r}, not {query.value!r}"
        return None
    if query.field == "leaf_hash":
        # Tier 3 recomputes the leaf from the entry: a bundle claiming a leaf it is not fails
        # there; here the claim must at least answer the question.
        if bundle.leaf_hash != query.value:
            return f"is leaf {bundle.leaf_hash}, not {query.value}"
        return None
    if entry.kind == "stamp":
        if entry.body["sha256"] != query.value:
            return f"is a stamp of {entry.body['sha256']}, not of {query.value}"
        return None
    if entry.kind == "evidence":
        # Without its manifest an evidence entry cannot show that it holds the file:
        # that link rests on the log's word until the manifest is checked (tier 2).
        if bundle.manifest is not None and all(
            f.sha256 != query.value for f in bundle.manifest.files
        ):
            return f"is evidence {entry.id!r} whose manifest lists no file {query.value}"
        return None
    return f"is a {entry.kind!r} entry, which holds no digest"


def matched_by(bundle: Bundle, query: Query) -> str:
    """How a verified bundle relates to the query, for the reader."""
    if query.field == "evidence_id":
        return "entry_id"
    if query.field == "leaf_hash":
        return "leaf_hash"
    if bundle.entry.kind == "stamp":
        return "stamp_digest"
    return "manifest_file" if bundle.manifest is not None else "file_digest_unproven"
