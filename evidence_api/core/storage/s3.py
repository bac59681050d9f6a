"""S3 with Object Lock (MinIO, SeaweedFS, Ceph RGW, AWS) through the ``minio`` SDK.

Every object is written under COMPLIANCE retention at its content address and checked end to
end: the server verifies the SHA-256 checksum we send (whole-object, or per part and composite
for multipart uploads), the written version is read back, and bytes are hashed again on the way
out (docs/design.md §11.1). A file goes up in one PUT streamed from disk whose SHA-256 (the one
intake computed) is both the signature's payload hash and the checksum, so it is read once and
hashed by nobody on our side again.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import logging
import math
import os
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlunsplit

import certifi
import urllib3
from minio import Minio
from minio import time as minio_time
from minio.commonconfig import COMPLIANCE
from minio.datatypes import CompleteMultipartUploadResult
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from minio.helpers import DictType, check_bucket_name
from minio.retention import Retention
from minio.signer import sign_v4_s3
from minio.xml import Element, SubElement, findtext, getbytes
from urllib3.response import BaseHTTPResponse
from urllib3.util import Retry, Timeout

from evidence_api.core.storage.base import (
    ObjectNotFoundError,
    StorageError,
    StorageIntegrityError,
    StorageUnavailableError,
    StoredObject,
    content_key,
)
from verifier.digests import CHUNK, DualHasher, FileDigest

log = logging.getLogger(__name__)

MIB = 1 << 20
#: S3 limits: every part but the last is at least 5 MiB; at most 10 000 parts.
MIN_PART_SIZE = 5 * MIB
MAX_PART_SIZE = 5 * 1024 * MIB
MAX_PARTS = 10_000
#: S3's largest single PutObject; larger files go up in a multipart upload.
MAX_SINGLE_PUT = 5 * 1024 * MIB
#: Bytes read from the file and sent per socket write in a streamed PUT.
SEND_BLOCK = MIB

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_KEY = re.compile(r"sha256/([0-9a-f]{64})")
#: S3 error codes meaning "that object (version) is not there".
_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchVersion", "NoSuchObject"})
#: The server received bytes other than those the checksum describes.
_CORRUPTED = frozenset({"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"})
#: "No retention on this version" (AWS says the first, SeaweedFS the second).
_NO_RETENTION = frozenset({"NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError"})
_CHECKSUM_MODE = {"x-amz-checksum-mode": "ENABLED"}
#: Longest version id we accept (and the database column holds); AWS ids are 32
#: characters, SeaweedFS's fewer. Longer is refused rather than truncated.
MAX_VERSION_ID = 1024


def default_http_client(
    *, connect_timeout: float = 3.0, read_timeout: float = 8.0
) -> urllib3.PoolManager:
    """A connection pool that fails fast when the store is unreachable or hung.

    One retry on a refused or timed-out connection, two on 5xx (PUTs of parts are
    idempotent), none after a read timeout, and a 503's ``Retry-After`` not obeyed: a
    request that cannot be served gets its 503 within about ``read_timeout`` plus two
    connect attempts (:data:`REQUEST_BUDGET`), not the minutes of the SDK's default
    (five retries, five-minute timeouts). ``read_timeout`` bounds each wait for the
    server (an answer, or room to send the next block), never a whole large upload.
    """
    return urllib3.PoolManager(
        timeout=Timeout(connect=connect_timeout, read=read_timeout),
        maxsize=10,
        blocksize=SEND_BLOCK,  # a streamed PUT sends its file a megabyte per write
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=Retry(
            total=3,
            connect=1,
            read=0,
            status=2,
            backoff_factor=0.2,
            status_forcelist=(500, 502, 503, 504),
            respect_retry_after_header=False,
        ),
    )


#: Seconds within which one storage operation fails when the server is down or hung (the
#: defaults of :func:`default_http_client`: a read timeout, two connect attempts, backoff).
REQUEST_BUDGET = 8.0 + 2 * 3.0 + 1.0


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _sha256_of_key(key: str) -> str:
    match = _KEY.fullmatch(key)
    if match is None:
        raise ObjectNotFoundError(f"not a content key (want sha256/<64 lowercase hex>): {key!r}")
    return match.group(1)


@dataclass(frozen=True)
class _Head:
    """What HeadObject says about one version."""

    version_id: str | None
    size: int
    checksum_sha256: str | None
    lock_mode: str | None
    retain_until: datetime | None


@dataclass(frozen=True)
class _Written:
    version_id: str | None
    #: The checksum the server should report: full-object base64, or composite ``…-N``.
    expected_checksum: str


@contextlib.contextmanager
def _translate(what: str) -> Iterator[None]:
    """Map SDK and transport errors onto the storage error tree."""
    try:
        yield
    except S3Error as exc:
        status = exc.response.status if exc.response is not None else 0
        detail = f"{what}: {exc.code}: {exc.message}"
        if exc.code in _NOT_FOUND:
            raise ObjectNotFoundError(detail) from exc
        if exc.code in _CORRUPTED:
            raise StorageIntegrityError(
                f"{detail} (the file is not what its digest says, or it changed on the way; "
                "the server stored nothing)"
            ) from exc
        if status >= 500 or status in (401, 403) or exc.code == "NoSuchBucket":
            raise StorageUnavailableError(detail) from exc
        raise StorageError(detail) from exc
    except (ServerError, InvalidResponseError) as exc:
        raise StorageUnavailableError(f"{what}: {exc}") from exc
    except MinioException as exc:
        raise StorageError(f"{what}: {exc}") from exc
    except urllib3.exceptions.HTTPError as exc:
        raise StorageUnavailableError(f"{what}: storage unreachable: {exc}") from exc


class S3ObjectStore:
    """Evidence objects in one Object Lock bucket, each under COMPLIANCE retention."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        secure: bool = False,
        region: str | None = None,
        retention_days: int,
        part_size: int = 16 * MIB,
        single_put_max: int = MAX_SINGLE_PUT,
        client: Minio | None = None,
        check_existing: bool = True,
    ) -> None:
        """Files up to ``single_put_max`` bytes go up in one streamed PUT, larger ones in
        a multipart upload of ``part_size`` parts. ``check_existing=False`` skips the HEAD
        before each write: the object is written as a fresh, locked version whatever the
        key already holds (keys are content addresses, so a repeat stores the same bytes),
        saving a round trip."""
        if retention_days < 1:
            raise ValueError(f"retention_days must be at least 1, got {retention_days}")
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError(
                f"part_size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE}, got {part_size}"
            )
        if not 0 <= single_put_max <= MAX_SINGLE_PUT:
            raise ValueError(
                f"single_put_max must be between 0 and {MAX_SINGLE_PUT}, got {single_put_max}"
            )
        check_bucket_name(bucket)  # ValueError now rather than at the first request
        self.bucket = bucket
        self.region = region
        self.retention_days = retention_days
        self.part_size = part_size
        self.single_put_max = single_put_max
        self.check_existing = check_existing
        # Building the client does no I/O; the first request connects.
        self._client = client or Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=default_http_client(),
        )
        self._ready = False
        self._ready_lock = threading.Lock()

    # -- bucket -------------------------------------------------------------

    def ensure_bucket(self) -> None:
        """Create the bucket with Object Lock if absent; refuse one without it.

        Object Lock can only be switched on when a bucket is created, so an
        existing bucket without it is a configuration error to fix by hand
        (``StorageError``), not something to work around.
        """
        with _translate(f"preparing bucket {self.bucket}"):
            if not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(self.bucket, location=self.region, object_lock=True)
                except S3Error as exc:
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            try:
                self._client.get_object_lock_config(self.bucket)
            except S3Error as exc:
                if exc.code not in _NO_RETENTION:
                    raise
                raise StorageError(
                    f"bucket {self.bucket} exists without Object Lock, so evidence in it could "
                    "be deleted or overwritten; Object Lock can only be enabled when a bucket "
                    "is created: configure a new bucket name (it will be created with Object "
                    "Lock) or create it yourself with Object Lock enabled"
                ) from exc
        self._ready = True

    def _ensure_ready(self) -> None:
        # Checked before the first write, so that evidence never lands in a
        # bucket an S3 server auto-created without Object Lock.
        if not self._ready:
            with self._ready_lock:
                if not self._ready:
                    self.ensure_bucket()

    # -- ObjectStore --------------------------------------------------------

    def put_file(self, path: Path, digest: FileDigest, media_type: str) -> StoredObject:
        """Send the file as it is on disk; the server checks it against ``digest``.

        Up to ``single_put_max``: one PUT streamed from the file, carrying
        ``digest.sha256`` as its checksum, so S3 refuses other bytes (``BadDigest``,
        nothing stored) and the file is read once and not hashed here. The size is
        checked before anything is sent. Larger: a multipart upload, re-hashed as it is
        read. ``StorageIntegrityError`` on any mismatch.
        """
        if not _SHA256_HEX.fullmatch(digest.sha256):
            raise ValueError(f"digest.sha256 is not 64 lowercase hex: {digest.sha256!r}")
        with open(path, "rb") as source:
            size = os.fstat(source.fileno()).st_size
            if size != digest.size:
                raise StorageIntegrityError(
                    f"the file is not what its digest says: it has {size} bytes, expected "
                    f"{digest.size}; nothing stored"
                )
            return self._put(source, digest, media_type)

    def spool_dir(self, default: Path) -> Path:
        """``default``: the upload goes from there to S3 in one PUT, wherever it lies."""
        return default

    def put_spooled(self, path: Path, digest: FileDigest, media_type: str) -> StoredObject:
        """:meth:`put_file`: one streamed PUT, the SHA-256 intake computed as its checksum."""
        return self.put_file(path, digest, media_type)

    def put_bytes(self, data: bytes, media_type: str) -> StoredObject:
        hasher = DualHasher()
        hasher.update(data)
        with io.BytesIO(data) as source:  # shares the buffer, no copy
            return self._put(source, hasher.result(""), media_type)

    def open_stream(
        self, key: str, chunk_size: int = 1 << 20, version_id: str | None = None
    ) -> Iterator[bytes]:
        """Start the download now (a missing object fails here) and yield its chunks.

        ``version_id`` reads that version (whatever was put over the key since);
        ``None`` the newest. ``StorageIntegrityError`` after the last chunk if
        the bytes do not hash to the key.
        """
        _sha256_of_key(key)
        what = f"reading {key}" + (f" version {version_id}" if version_id is not None else "")
        with _translate(what):
            response = self._client.get_object(self.bucket, key, version_id=version_id)
        return self._read_verified(response, key, chunk_size, version_id)

    def check(self) -> None:
        with _translate(f"checking bucket {self.bucket}"):
            exists = self._client.bucket_exists(self.bucket)
        if not exists:
            raise StorageUnavailableError(f"bucket {self.bucket} does not exist")

    # -- writing ------------------------------------------------------------

    def _put(self, source: BinaryIO, digest: FileDigest, media_type: str) -> StoredObject:
        key = content_key(digest.sha256)
        self._ensure_ready()
        until = self._retain_until()
        existing = self._head(key) if self.check_existing else None
        if existing is not None:
            if self._holds(key, existing, source, digest):
                self._keep_retained(key, existing, until)
                # That version is now proven and locked: readers ask for it by id.
                return self._stored(key, digest, existing.version_id)
            log.warning(
                "newest version of %s (size %d) is not its content; writing it again",
                key,
                existing.size,
            )
        if digest.size <= self.single_put_max:
            written = self._put_single(key, source, digest, media_type, until)
        else:
            written = self._put_multipart(key, source, digest, media_type, until)
        self._verify(key, written, digest, until)
        return self._stored(key, digest, written.version_id)

    @staticmethod
    def _stored(key: str, digest: FileDigest, version_id: str | None) -> StoredObject:
        # The id goes into the database and back into a query string; an
        # unbounded one from a misbehaving server must not get that far.
        if version_id is not None and len(version_id) > MAX_VERSION_ID:
            raise StorageIntegrityError(
                f"{key} was stored under a version id of {len(version_id)} characters; "
                f"expected at most {MAX_VERSION_ID}"
            )
        # An empty header means no versions, like an absent one.
        return StoredObject(key, digest.size, digest.sha256, digest.sm3, version_id or None)

    def _retain_until(self) -> datetime:
        # Whole seconds: S3 stores the date at second precision.
        now = datetime.now(UTC).replace(microsecond=0)
        return now + timedelta(days=self.retention_days)

    def _put_single(
        self, key: str, source: BinaryIO, digest: FileDigest, media_type: str, until: datetime
    ) -> _Written:
        """One PutObject streamed from ``source`` (exactly ``digest.size`` bytes from its
        start), under COMPLIANCE retention, with ``x-amz-checksum-sha256``.

        The SDK would read the body into memory and hash it again to sign it; the
        request is built here instead, with ``digest.sha256`` as the signed payload
        hash, so the file is read once and hashed by the server alone.
        """
        checksum = _b64(bytes.fromhex(digest.sha256))
        headers: DictType = {
            "Content-Type": media_type,
            "Content-Length": str(digest.size),
            "x-amz-checksum-sha256": checksum,
            "x-amz-object-lock-mode": COMPLIANCE,
            "x-amz-object-lock-retain-until-date": until.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        with _translate(f"writing {key}"):
            response = self._send("PUT", key, _Exactly(source, digest.size), headers, digest.sha256)
        return _Written(response.headers.get("x-amz-version-id"), checksum)

    def _send(
        self, method: str, key: str, body: _Exactly, headers: DictType, payload_sha256: str
    ) -> BaseHTTPResponse:
        """A signed request whose body streams from a file; S3 errors raised as the SDK's."""
        client = self._client
        region = client._get_region(self.bucket)
        url = client._base_url.build(
            method=method, region=region, bucket_name=self.bucket, object_name=key
        )
        date = minio_time.utcnow()
        headers = {
            **headers,
            "Host": url.netloc,
            "User-Agent": client._user_agent,
            "x-amz-date": minio_time.to_amz_date(date),
            "x-amz-content-sha256": payload_sha256,
        }
        creds = client._provider.retrieve() if client._provider else None
        if creds is not None:
            if creds.session_token:
                headers["X-Amz-Security-Token"] = creds.session_token
            headers = sign_v4_s3(
                method=method,
                url=url,
                region=region,
                headers=headers,
                credentials=creds,
                content_sha256=payload_sha256,
                date=date,
            )
        response = client._http.urlopen(method, urlunsplit(url), body=body, headers=headers)
        if response.status in (200, 204):
            return response
        if response.data and "xml" in response.headers.get("content-type", ""):
            raise S3Error.fromxml(response)
        raise ServerError(
            f"{method} {key}: server failed with HTTP status code {response.status}",
            response.status,
        )

    def _put_multipart(
        self, key: str, source: BinaryIO, digest: FileDigest, media_type: str, until: datetime
    ) -> _Written:
        part_size = self._part_size_for(digest.size)
        headers: DictType = {
            "Content-Type": media_type,
            "x-amz-checksum-algorithm": "SHA256",
            "x-amz-object-lock-mode": COMPLIANCE,
            "x-amz-object-lock-retain-until-date": until.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        with _translate(f"starting multipart upload of {key}"):
            response = self._client._execute(
                "POST", self.bucket, key, headers=headers, query_params={"uploads": ""}
            )
        upload_id = _upload_id(response)
        parts: list[tuple[str, bytes]] = []  # (ETag, raw SHA-256) of each part
        try:
            whole, size = hashlib.sha256(), 0
            while part := source.read(part_size):
                whole.update(part)
                size += len(part)
                sha256 = hashlib.sha256(part).digest()
                parts.append(
                    (self._upload_part(key, upload_id, len(parts) + 1, part, sha256), sha256)
                )
                del part  # drop the buffer before reading the next one
            # Last chance to refuse: nothing is visible until Complete.
            _require_same(FileDigest("", size, whole.hexdigest(), digest.sm3), digest)
            version_id = self._complete(key, upload_id, parts)
        except BaseException:
            # Best effort: an upload left behind holds no visible object, and
            # the original error is the one worth reporting.
            with contextlib.suppress(MinioException, urllib3.exceptions.HTTPError):
                self._client._execute(
                    "DELETE", self.bucket, key, query_params={"uploadId": upload_id}
                )
            raise
        composite = hashlib.sha256(b"".join(sha256 for _, sha256 in parts)).digest()
        return _Written(version_id, f"{_b64(composite)}-{len(parts)}")

    def _upload_part(
        self, key: str, upload_id: str, number: int, data: bytes, sha256: bytes
    ) -> str:
        """Upload one part with its SHA-256 checksum; return the ETag the server gave it."""
        headers: DictType = {"x-amz-checksum-sha256": _b64(sha256)}
        with _translate(f"uploading part {number} of {key}"):
            response = self._client._execute(
                "PUT",
                self.bucket,
                key,
                body=data,
                headers=headers,
                query_params={"partNumber": str(number), "uploadId": upload_id},
                no_body_trace=True,
            )
        etag = response.headers.get("etag")
        if not etag:
            raise StorageUnavailableError(f"part {number} of {key} was answered without an ETag")
        return str(etag)

    def _complete(self, key: str, upload_id: str, parts: list[tuple[str, bytes]]) -> str | None:
        """CompleteMultipartUpload listing each part's ETag and SHA-256; return the version."""
        root = Element("CompleteMultipartUpload")
        for number, (etag, sha256) in enumerate(parts, start=1):
            part = SubElement(root, "Part")
            SubElement(part, "PartNumber", str(number))
            SubElement(part, "ETag", etag)
            SubElement(part, "ChecksumSHA256", _b64(sha256))
        body = getbytes(root)
        headers: DictType = {
            "Content-Type": "application/xml",
            "Content-MD5": _b64(hashlib.md5(body).digest()),  # noqa: S324 - S3 asks for MD5 here
        }
        with _translate(f"completing multipart upload of {key}"):
            response = self._client._execute(
                "POST",
                self.bucket,
                key,
                body=body,
                headers=headers,
                query_params={"uploadId": upload_id},
            )
            result = CompleteMultipartUploadResult(response)
        if not result.etag:
            # S3 may answer 200 with an <Error> body when completion fails late.
            raise StorageUnavailableError(
                f"completing multipart upload of {key} failed: {response.data[:500]!r}"
            )
        return result.version_id

    # -- checking -----------------------------------------------------------

    def _head(self, key: str, version_id: str | None = None) -> _Head | None:
        with _translate(f"inspecting {key}"):
            try:
                found = self._client.stat_object(
                    self.bucket, key, version_id=version_id, extra_headers=dict(_CHECKSUM_MODE)
                )
            except S3Error as exc:
                if exc.code in _NOT_FOUND:
                    return None
                raise
        headers = {k.lower(): v for k, v in (found.metadata or {}).items()}
        until = headers.get("x-amz-object-lock-retain-until-date")
        return _Head(
            version_id=found.version_id,
            size=int(found.size or 0),
            checksum_sha256=headers.get("x-amz-checksum-sha256"),
            lock_mode=headers.get("x-amz-object-lock-mode"),
            retain_until=datetime.fromisoformat(until) if until else None,
        )

    def _part_size_for(self, size: int) -> int:
        # Grow parts for huge files so that they fit in 10 000 parts.
        return max(self.part_size, math.ceil(size / MAX_PARTS / MIB) * MIB)

    def _holds(self, key: str, head: _Head, source: BinaryIO, digest: FileDigest) -> bool:
        """Whether the version ``head`` describes holds exactly the bytes of ``digest``.

        Keys are predictable, so a same-size planted object must not pass for
        the evidence. Cheapest proof first: the full-object SHA-256 checksum
        (our single PUTs); else the composite one, recomputed from ``source``
        with our part layout (our multipart uploads); else, e.g. for an object
        written without checksums, download and hash it. ``source`` is left
        at its start.
        """
        if head.size != digest.size:
            return False
        checksum = head.checksum_sha256
        if checksum == _b64(bytes.fromhex(digest.sha256)):
            return True
        if checksum is not None and "-" not in checksum:
            return False  # a full-object checksum of other bytes
        if checksum is not None and checksum == self._composite_of(source, digest.size):
            return True
        return self._stored_sha256(key, head.version_id) == digest.sha256

    def _composite_of(self, source: BinaryIO, size: int) -> str:
        """The COMPOSITE SHA-256 checksum our multipart upload of ``source`` would get."""
        part_size = self._part_size_for(size)
        part_digests = []
        while part := source.read(part_size):
            part_digests.append(hashlib.sha256(part).digest())
        source.seek(0)
        return f"{_b64(hashlib.sha256(b''.join(part_digests)).digest())}-{len(part_digests)}"

    def _stored_sha256(self, key: str, version_id: str | None) -> str:
        hasher = hashlib.sha256()
        with _translate(f"reading {key}"):
            response = self._client.get_object(self.bucket, key, version_id=version_id)
            try:
                for chunk in response.stream(CHUNK):
                    hasher.update(chunk)
            finally:
                response.close()
                response.release_conn()
        return hasher.hexdigest()

    def _retention(self, key: str, head: _Head) -> tuple[str | None, datetime | None]:
        """The version's lock mode and date, asking for them if HEAD did not say."""
        if head.lock_mode is not None and head.retain_until is not None:
            return head.lock_mode, head.retain_until
        with _translate(f"reading retention of {key}"):
            try:
                found = self._client.get_object_retention(
                    self.bucket, key, version_id=head.version_id
                )
            except S3Error as exc:
                if exc.code in _NO_RETENTION:
                    return None, None
                raise
        if found is None:
            return None, None
        return found.mode, found.retain_until_date

    def _keep_retained(self, key: str, head: _Head, until: datetime) -> None:
        """Extend (never shorten) an existing version's COMPLIANCE retention to ``until``."""
        mode, current = self._retention(key, head)
        if mode == COMPLIANCE and current is not None and current >= until:
            return
        with _translate(f"extending retention of {key}"):
            self._client.set_object_retention(
                self.bucket, key, Retention(COMPLIANCE, until), version_id=head.version_id
            )

    def _verify(self, key: str, written: _Written, digest: FileDigest, until: datetime) -> None:
        head = self._head(key, written.version_id)
        if head is None:
            raise StorageIntegrityError(f"{key} is missing right after it was written")
        if head.size != digest.size:
            raise StorageIntegrityError(
                f"{key} was stored with size {head.size}, expected {digest.size}"
            )
        full = _b64(bytes.fromhex(digest.sha256))
        if head.checksum_sha256 is not None and head.checksum_sha256 not in (
            written.expected_checksum,
            full,
        ):
            raise StorageIntegrityError(
                f"{key} was stored with SHA-256 checksum {head.checksum_sha256}, "
                f"expected {written.expected_checksum}"
            )
        mode, current = self._retention(key, head)
        if mode != COMPLIANCE or current is None or current < until:
            raise StorageIntegrityError(
                f"{key} was stored with retention {mode} until {current}, expected "
                f"{COMPLIANCE} until {until}: the bucket does not enforce Object Lock"
            )

    # -- reading ------------------------------------------------------------

    @staticmethod
    def _read_verified(
        response: BaseHTTPResponse, key: str, chunk_size: int, version_id: str | None
    ) -> Iterator[bytes]:
        expected = _sha256_of_key(key)
        hasher = hashlib.sha256()
        try:
            with _translate(f"reading {key}"):
                for chunk in response.stream(chunk_size):
                    hasher.update(chunk)
                    yield chunk
        finally:
            response.close()
            response.release_conn()
        if hasher.hexdigest() == expected:
            return
        if version_id is None:
            raise StorageIntegrityError(
                f"{key} read back with sha256 {hasher.hexdigest()}: the newest version under "
                "the key is not its content (the locked original is kept as an older version)"
            )
        raise StorageIntegrityError(
            f"{key} version {version_id} read back with sha256 {hasher.hexdigest()}: the "
            "version recorded at intake does not hold its content; the store needs investigation"
        )


class _Exactly:
    """The first ``size`` bytes of a file, as a request body: read a block at a time,
    and rewound (``tell``/``seek``) when urllib3 retries the request."""

    def __init__(self, source: BinaryIO, size: int) -> None:
        self._source = source
        self._size = size
        self._pos = 0
        source.seek(0)

    def read(self, n: int = -1) -> bytes:
        left = self._size - self._pos
        want = left if n < 0 else min(n, left)
        data = self._source.read(want)
        if len(data) < want:
            raise StorageIntegrityError(
                f"the file ended after {self._pos + len(data)} of {self._size} bytes while "
                "it was sent; nothing stored"
            )
        self._pos += len(data)
        return data

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET:
            raise OSError("a request body is only rewound to a position")
        self._source.seek(pos)
        self._pos = pos
        return pos


def _require_same(read: FileDigest, claimed: FileDigest) -> None:
    # Size and SHA-256 decide: re-computing SM3 too would cost a second SM3 pass per file.
    if (read.size, read.sha256) != (claimed.size, claimed.sha256):
        raise StorageIntegrityError(
            f"the file is not what its digest says: read size {read.size}, sha256 "
            f"{read.sha256}; expected size {claimed.size}, sha256 {claimed.sha256}; "
            "nothing stored"
        )


def _upload_id(response: BaseHTTPResponse) -> str:
    # The body comes from the storage server we are configured to trust.
    upload_id = findtext(ET.fromstring(response.data), "UploadId")  # noqa: S314
    if not upload_id:
        raise StorageUnavailableError(
            f"CreateMultipartUpload answered without an UploadId: {response.data[:500]!r}"
        )
    return upload_id
