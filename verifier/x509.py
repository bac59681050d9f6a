"""Just enough of X.509 (RFC 5280) to print a certificate: subject, issuer, validity.

The appraisal report shows each HTTPS origin's leaf certificate as the capture recorded
it. The verifier ships without a cryptography library, and nothing here is verified (no
signature, no chain): it is a bounded DER reader of the few fields a reader compares
with the site, plus the certificate's SHA-256 fingerprint. Every length is checked
against the bytes that are there; anything unexpected is a :class:`CertificateFormatError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from verifier.errors import FormatError

#: Largest PEM file read, and most certificates taken from one.
MAX_PEM_BYTES = 256 << 10
MAX_CERTIFICATES = 16
MAX_DER_BYTES = 64 << 10

_PEM = re.compile(
    rb"-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----"
)

#: Attribute types printed by their short name (RFC 4519 and PKCS #9).
_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "street",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.97": "organizationIdentifier",
    "1.2.840.113549.1.9.1": "emailAddress",
}
_SAN = "2.5.29.17"
#: DER tags used here.
_SEQUENCE, _SET, _INTEGER, _OID, _OCTETS = 0x30, 0x31, 0x02, 0x06, 0x04
_UTC_TIME, _GENERALIZED_TIME = 0x17, 0x18
_STRINGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1", 0x1E: "utf-16-be"}


class CertificateFormatError(FormatError):
    """Bytes that are not a certificate this reader can print."""


@dataclass(frozen=True)
class CertificateInfo:
    subject: str
    issuer: str
    not_before: str  #: RFC 3339 UTC
    not_after: str
    serial: str  #: hex
    sha256: str  #: of the DER bytes (the usual "fingerprint")
    dns_names: tuple[str, ...] = ()


def pem_certificates(data: bytes) -> list[bytes]:
    """The DER bytes of each ``CERTIFICATE`` block in ``data``, in order (leaf first)."""
    if len(data) > MAX_PEM_BYTES:
        raise CertificateFormatError(f"PEM is {len(data)} bytes, limit {MAX_PEM_BYTES}")
    out: list[bytes] = []
    for block in _PEM.finditer(data):
        if len(out) == MAX_CERTIFICATES:
            raise CertificateFormatError(f"more than {MAX_CERTIFICATES} certificates")
        try:
            der = base64.b64decode(b"".join(block.group(1).split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CertificateFormatError("a certificate block is not base64") from exc
        out.append(der)
    return out


class _Reader:
    """DER TLV elements of ``data[start:end]``, one after the other."""

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self.data = data
        self.at = start
        self.end = len(data) if end is None else end

    def done(self) -> bool:
        return self.at >= self.end

    def peek_tag(self) -> int:
        if self.done():
            raise CertificateFormatError("truncated DER")
        return self.data[self.at]

    def next(self, want: int | None = None) -> tuple[int, int, int]:
        """(tag, content start, content end) of the next element, which is skipped."""
        if self.end - self.at < 2:
            raise CertificateFormatError("truncated DER")
        tag, first = self.data[self.at], self.data[self.at + 1]
        at = self.at + 2
        if tag & 0x1F == 0x1F:
            raise CertificateFormatError("multi-byte DER tags are not used in certificates")
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            if not 1 <= count <= 3 or at + count > self.end:
                raise CertificateFormatError("bad DER length")
            length = int.from_bytes(self.data[at : at + count], "big")
            at += count
        if at + length > self.end:
            raise CertificateFormatError("DER element runs past its container")
        if want is not None and tag != want:
            raise CertificateFormatError(f"DER tag 0x{tag:02x} where 0x{want:02x} was expected")
        self.at = at + length
        return tag, at, at + length

    def inside(self, want: int) -> _Reader:
        _, start, end = self.next(want)
        return _Reader(self.data, start, end)


def _oid(raw: bytes) -> str:
    if not raw:
        raise CertificateFormatError("empty OID")
    parts = [min(raw[0] // 40, 2), raw[0] - 40 * min(raw[0] // 40, 2)]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


def _string(tag: int, raw: bytes) -> str:
    codec = _STRINGS.get(tag)
    if codec is None:
        return "#" + raw.hex()
    text = raw.decode(codec, errors="replace")
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _name(reader: _Reader) -> str:
    """An RDNSequence as ``CN=example.com, O=Example, C=CN`` (most specific first)."""
    rdns = reader
    parts = []
    while not rdns.done():
        rdn = rdns.inside(_SET)
        while not rdn.done():
            attr = rdn.inside(_SEQUENCE)
            _, start, end = attr.next(_OID)
            oid = _oid(reader.data[start:end])
            tag, vstart, vend = attr.next()
            parts.append(f"{_NAMES.get(oid, oid)}={_string(tag, reader.data[vstart:vend])}")
    return ", ".join(reversed(parts))


def _time(tag: int, raw: bytes) -> str:
    text = raw.decode("ascii", errors="replace")
    try:
        if tag == _UTC_TIME:
            moment = datetime.strptime(text, "%y%m%d%H%M%SZ")
            if moment.year >= 2050:  # RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY
                moment = moment.replace(year=moment.year - 100)
        elif tag == _GENERALIZED_TIME:
            moment = datetime.strptime(text, "%Y%m%d%H%M%SZ")
        else:
            raise CertificateFormatError(f"DER tag 0x{tag:02x} is not a time")
    except ValueError as exc:
        raise CertificateFormatError(f"bad certificate time {text[:20]!r}") from exc
    return moment.replace(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dns_names(reader: _Reader) -> tuple[str, ...]:
    """The subjectAltName dNSName entries in the extensions ([3]), if any."""
    names: list[str] = []
    outer = reader.inside(0xA3).inside(_SEQUENCE)
    while not outer.done():
        ext = outer.inside(_SEQUENCE)
        _, start, end = ext.next(_OID)
        oid = _oid(ext.data[start:end])
        if ext.peek_tag() == 0x01:  # critical flag
            ext.next()
        _, vstart, vend = ext.next(_OCTETS)
        if oid != _SAN:
            continue
        general = _Reader(ext.data, vstart, vend).inside(_SEQUENCE)
        while not general.done():
            tag, gstart, gend = general.next()
            if tag == 0x82 and len(names) < 32:  # [2] dNSName
                names.append(_string(0x16, ext.data[gstart:gend]))
    return tuple(names)


def certificate_info(der: bytes) -> CertificateInfo:
    """Subject, issuer, validity, serial, SANs and fingerprint of one DER certificate."""
    if len(der) > MAX_DER_BYTES:
        raise CertificateFormatError(f"certificate is {len(der)} bytes, limit {MAX_DER_BYTES}")
    cert = _Reader(der).inside(_SEQUENCE)
    tbs = cert.inside(_SEQUENCE)
    if tbs.peek_tag() == 0xA0:  # [0] version
        tbs.next()
    _, sstart, send = tbs.next(_INTEGER)
    tbs.next(_SEQUENCE)  # signature algorithm
    issuer = _name(tbs.inside(_SEQUENCE))
    validity = tbs.inside(_SEQUENCE)
    tag, start, end = validity.next()
    not_before = _time(tag, der[start:end])
    tag, start, end = validity.next()
    not_after = _time(tag, der[start:end])
    subject = _name(tbs.inside(_SEQUENCE))
    tbs.next(_SEQUENCE)  # subjectPublicKeyInfo
    while not tbs.done() and tbs.peek_tag() in (0x81, 0x82):  # issuer/subject unique ids
        tbs.next()
    dns_names = _dns_names(tbs) if not tbs.done() and tbs.peek_tag() == 0xA3 else ()
    return CertificateInfo(
        subject=subject,
        issuer=issuer,
        not_before=not_before,
        not_after=not_after,
        serial=der[sstart:send].hex(),
        sha256=hashlib.sha256(der).hexdigest(),
        dns_names=dns_names,
    )
