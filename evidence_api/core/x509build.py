"""Building X.509 certificates (``cryptography``): the pieces every issuer here repeats."""

from __future__ import annotations

from cryptography import x509

#: The nine RFC 5280 §4.2.1.3 key usages, as ``x509.KeyUsage`` names them.
KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def key_usage(*allowed: str) -> x509.KeyUsage:
    """A KeyUsage extension asserting exactly ``allowed`` (names of :data:`KEY_USAGES`)."""
    unknown = set(allowed) - set(KEY_USAGES)
    if unknown:
        raise ValueError(f"unknown key usages: {sorted(unknown)}")
    return x509.KeyUsage(**{name: name in allowed for name in KEY_USAGES})
