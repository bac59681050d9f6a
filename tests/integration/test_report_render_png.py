"""The appraisal report's first page, rendered by poppler's ``pdftoppm`` (a process), is an A4
page with ink on it (the report's other checks are tests/unit/test_report.py)."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.unit.test_report import make_input
from verifier.report import ReportInput, render_pdf


@pytest.fixture(scope="module")
def zh() -> tuple[ReportInput, bytes]:
    data = make_input()
    return data, render_pdf(data)


def test_page_one_renders_to_a_png_that_is_not_blank(
    zh: tuple[ReportInput, bytes], tmp_path: Path
) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    _, pdf = zh
    (tmp_path / "report.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", "-singlefile", "report.pdf", "p1"],
        cwd=tmp_path,
        check=True,
        timeout=60,
    )
    png = (tmp_path / "p1.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as image:
        width, height = image.size
        assert abs(width - 496) <= 1 and abs(height - 702) <= 1, image.size  # A4 at 60 dpi
        grey = image.convert("L")
        histogram = grey.histogram()
    dark = sum(histogram[:128])
    # Text, rules and the QR code: a few percent of the page is ink (a blank page has none).
    assert dark > 0.01 * 496 * 702, dark
