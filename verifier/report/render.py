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

from reportlab.lib.colors import black, grey  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from reportlab.platypus import Flowable, SimpleDocTemplate  # type: ignore[import-untyped]

from verifier.report import capture, sections
from verifier.report.font import ReportFont, report_font
from verifier.report.model import ReportInput
from verifier.report.qr import qr_modules
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


#: Light modules around the code on each side (the QR standard's quiet zone).
QR_QUIET = 4


def dark_runs(modules: list[list[bool]]) -> list[tuple[int, int, int]]:
    """Each row's dark runs as ``(row, first column, length)``, rows from the top."""
    runs = []
    for row, cells in enumerate(modules):
        col = 0
        while col < len(cells):
            if cells[col]:
                start = col
                while col < len(cells) and cells[col]:
                    col += 1
                runs.append((row, start, col - start))
            else:
                col += 1
    return runs


class QrCode(Flowable):  # type: ignore[misc]
    """A vector QR code of ``value``, ``size`` points square with its quiet zone, drawn
    straight on the canvas as one filled path: a rectangle per horizontal run of dark
    modules. reportlab's QR widget made a shape object per module (a thousand, each
    through its attribute checks) and drew them one by one: together with encoding the
    code twice, most of a 存证证书's rendering time."""

    def __init__(self, value: str, size: float = QR_SIZE) -> None:
        super().__init__()
        self.value = value
        self.size = size
        self.modules = qr_modules(value)

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return self.size, self.size

    def draw(self) -> None:
        count = len(self.modules)
        module = self.size / (count + 2 * QR_QUIET)
        canvas = self.canv
        canvas.saveState()
        canvas.translate(QR_QUIET * module, QR_QUIET * module)
        canvas.scale(module, module)
        canvas.setFillColor(black)
        path = canvas.beginPath()
        for row, col, length in dark_runs(self.modules):
            path.rect(col, count - 1 - row, length, 1)
        canvas.drawPath(path, stroke=0, fill=1)
        canvas.restoreState()


def qr_drawing(url: str, size: float = QR_SIZE) -> QrCode:
    """A vector QR code of ``url`` (see :class:`QrCode`)."""
    return QrCode(url, size)


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
