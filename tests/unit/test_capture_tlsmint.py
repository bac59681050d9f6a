"""The proxy's per-capture CA: minted leaves verify for their host only (in-memory TLS)."""

from __future__ import annotations

import contextlib
import ssl

import pytest
from cryptography import x509

from evidence_api.capture import tlsmint
from evidence_api.capture.tlsmint import MintingCA


def _connect(client_ca: MintingCA, server_ca: MintingCA, host: str, name: str) -> ssl.SSLObject:
    """A TLS handshake between a client trusting ``client_ca`` only and ``server_ca``'s
    context for ``host``, over memory BIOs (no sockets); the client's SSLObject."""
    client_ctx = ssl.create_default_context(cadata=client_ca.ca_pem.decode())
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=name)
    server = server_ca.server_context(host).wrap_bio(s_in, s_out, server_side=True)
    done: set[int] = set()
    for _ in range(10):
        for index, side in enumerate((client, server)):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
                done.add(index)
        if done == {0, 1}:
            return client
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    raise AssertionError("handshake did not finish")


def _handshake(ca: MintingCA, host: str, name: str) -> ssl.SSLObject:
    return _connect(ca, ca, host, name)


def test_minted_leaf_verifies_for_its_name() -> None:
    ca = MintingCA("cap-1")
    client = _handshake(ca, "shop.example", "shop.example")
    leaf = x509.load_der_x509_certificate(client.getpeercert(binary_form=True) or b"")
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["shop.example"]
    assert client.selected_alpn_protocol() in (None, "http/1.1")


def test_minted_leaf_for_an_ip_address() -> None:
    ca = MintingCA()
    client = _handshake(ca, "127.0.0.1", "127.0.0.1")
    assert client.version() in ("TLSv1.2", "TLSv1.3")


def test_a_leaf_is_not_valid_for_another_name() -> None:
    ca = MintingCA()
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        _handshake(ca, "shop.example", "bank.example")


def test_another_capture_ca_is_not_trusted() -> None:
    first, second = MintingCA(), MintingCA()
    assert second.ca_pem != first.ca_pem
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        _connect(first, second, "shop.example", "shop.example")


def test_contexts_are_cached_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    ca = MintingCA()
    assert ca.server_context("a.example") is ca.server_context("a.example")
    monkeypatch.setattr(tlsmint, "MAX_HOSTS", 2)
    ca.server_context("b.example")
    with pytest.raises(ValueError, match="more than 2 TLS hosts"):
        ca.server_context("c.example")
    assert ca.server_context("b.example") is not None  # cached hosts still served
