"""verifier.report.qr chooses reportlab's mask, scoring each mask exactly as reportlab does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from reportlab.graphics.barcode.qrencoder import (  # type: ignore[import-untyped]
    QRCode,
    QRErrorCorrectLevel,
    QRUtil,
)

from verifier.report.qr import MASKS, encoder, mask_penalties, qr_modules

PORTAL = "https://verify.example.invalid/verify?leaf="


def reportlab_penalties(value: str) -> list[int]:
    code = encoder(value)
    scores = []
    for mask in range(MASKS):
        code.makeImpl(True, mask)
        scores.append(QRUtil.getLostPoint(code))
    return scores


def reportlab_modules(value: str) -> list[list[bool]]:
    code = QRCode(None, QRErrorCorrectLevel.M)
    code.addData(value)
    code.make()
    n = code.getModuleCount()
    return [[bool(code.isDark(r, c)) for c in range(n)] for r in range(n)]


values = st.one_of(
    st.text(alphabet=st.characters(codec="latin-1"), max_size=400),
    st.builds(lambda b: PORTAL + b.hex(), st.binary(min_size=32, max_size=32)),
)


@settings(max_examples=15, deadline=None)
@given(value=values)
def test_every_masks_penalty_is_reportlabs(value: str) -> None:
    assert mask_penalties(encoder(value)) == reportlab_penalties(value)


@settings(max_examples=10, deadline=None)
@given(value=values)
def test_the_symbol_is_the_one_reportlab_makes(value: str) -> None:
    assert qr_modules(value) == reportlab_modules(value)


def test_small_and_large_versions_with_version_information() -> None:
    """Versions 1 to 10 (from 7 on, the symbol carries version information)."""
    versions = set()
    for n in range(0, 300, 12):
        value = "x" * n
        code = encoder(value)
        versions.add(code.version)
        assert mask_penalties(code) == reportlab_penalties(value), n
    assert min(versions) == 1 and max(versions) >= 10
