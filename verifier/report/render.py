"""The appraisal report (核验报告): one PDF a judicial appraiser can put in the case file.

It states the verifier's conclusion and everything it rests on: the evidence
summary, every file's SHA-256 and SM3, the log entry and checkpoint, the chain
anchor with its confirmations, each tier's result with a plain explanation of
what that tier proves, the trust configuration used, the legal basis, a QR code
to the public verification portal and a blank signature block (docs/report.md).

Presentation only: :func:`render_pdf` verifies nothing, it prints a
:class:`~verifier.verify.Report` already computed. The output is deterministic —
the same input gives the same bytes — so a report can be regenerated and
compared: the PDF's dates are ``generated_at``, and reportlab runs in its
"invariant" mode (no random document id).
"""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime
from typing import Any

from reportlab.graphics.barcode.qr import QrCodeWidget  # type: ignore[import-untyped]
from reportlab.graphics.shapes import Drawing  # type: ignore[import-untyped]
from reportlab.lib.colors import grey  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from reportlab.platypus import SimpleDocTemplate  # type: ignore[import-untyped]

from verifier.report import capture, sections
from verifier.report.font import ReportFont, report_font
from verifier.report.model import ReportInput
from verifier.report.style import Styles
from verifier.report.text import LABELS, label

#: Edge of the printed QR code, in points (30 mm).
QR_SIZE = 85.0
MARGIN = 51.0  # 18 mm


def report_number(leaf_hash: str, generated_at: datetime) -> str:
    """``VR-20261126-060001-1A2B3C4D``: the generation time (UTC) and the leaf hash's start.

    Anyone holding the report can recompute it; two reports of one entry differ by time.
    """
    moment = generated_at.astimezone(UTC)
    return f"VR-{moment:%Y%m%d-%H%M%S}-{leaf_hash[:8].upper()}"


class _QrCode(QrCodeWidget):  # type: ignore[misc]
    """reportlab's QR widget, encoded and drawn once: the widget draws itself again for
    its bounds and for the page, and each draw encodes the code anew (eight trial masks
    scored): half of a 存证证书's rendering time went to it."""

    def draw(self) -> Any:
        drawn = self.__dict__.get("_drawn")
        if drawn is None:
            drawn = self.__dict__["_drawn"] = super().draw()
        return drawn


def qr_drawing(url: str, size: float = QR_SIZE) -> Drawing:
    """A vector QR code of ``url`` (reportlab's encoder, error correction level M)."""
    widget = _QrCode(url, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


def _pdf_date(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return f"D:{utc:%Y%m%d%H%M%S}+00'00'"


def _canvas_class(footer: str, page_text: str, font: str, created: str) -> type[Any]:
    """A canvas that holds its pages back until the end, to print "page N of M" on each."""

    class NumberedCanvas(Canvas):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []
            self.setDateFormatter(lambda *_: created)

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self._footer(number, total)
                super().showPage()
            super().save()

        def _footer(self, number: int, total: int) -> None:
            width, _ = self._pagesize
            self.saveState()
            self.setFont(font, 7.5)
            self.setFillColor(grey)
            self.setStrokeColor(grey)
            self.line(MARGIN, 38, width - MARGIN, 38)
            self.drawString(MARGIN, 28, footer)
            self.drawRightString(width - MARGIN, 28, page_text.format(n=number, m=total))
            self.restoreState()

    return NumberedCanvas


_render_lock = threading.Lock()


def render_pdf(data: ReportInput, *, font: ReportFont | None = None) -> bytes:
    """The report as PDF bytes (A4). ``font`` defaults to :func:`report_font`.

    Rendering is serialised in the process: reportlab keeps per-font state globally.
    Raises :class:`ReportFontError` when ``$VERIFIER_REPORT_FONT`` names an unusable font.
    """
    font = font or report_font()
    lang = data.lang
    styles = Styles(font.name)
    number = report_number(data.report.leaf_hash, data.generated_at)
    qr = qr_drawing(data.portal_url) if data.portal_url else None
    story = [
        *sections.header(data, styles, number, qr),
        *sections.conclusion(data, styles),
        *sections.evidence(data, styles),
        *capture.section(data, styles),
        *sections.files(data, styles),
        *sections.log_entry(data, styles),
        *sections.anchor(data, styles),
        *sections.tiers(data, styles),
        *sections.trust(data, styles),
        *sections.legal_basis(data, styles),
        *sections.signature(data, styles, font.describe()),
    ]
    title = label("title", lang)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=f"{title} {number}",
        author="evidence-verify",
        subject=f"{LABELS['title'][0]} / {LABELS['title'][1]}: {data.report.evidence_id}",
        creator=f"evidence-verify; font {font.describe()}",
        keywords=[number, data.report.evidence_id, data.report.outcome.value],
        lang="zh-CN" if lang == "zh" else "en",
        invariant=True,
    )
    footer = f"{label('report_no', lang)}: {number}"
    maker = _canvas_class(footer, label("page", lang), font.name, _pdf_date(data.generated_at))
    with _render_lock:
        doc.build(story, canvasmaker=maker)
    return buffer.getvalue()
