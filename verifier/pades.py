"""PAdES signatures on the PDFs we issue (存证证书, 核验报告), with pyHanko.
(Contract stub: filled in by the certificate work.)"""

from __future__ import annotations


def sign_pdf(
    pdf: bytes, cert_pem: bytes, key_pem: bytes, *, reason: str, location: str = ""
) -> bytes:
    """``pdf`` signed (PAdES B-B, one signature covering the whole file) with the
    certificate (and its chain, PEM) ``cert_pem`` and the private key ``key_pem``."""
    raise NotImplementedError
