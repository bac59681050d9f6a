"""The appraisal report (核验报告): a PDF of a verification, for the case file.

Optional: it needs reportlab, and the verifier core never imports it (the CLI
loads it for ``--report`` only). :func:`render_pdf` is in
:mod:`verifier.report.render`; the sections, styles, labels and font each have
a module of their own.
"""

from verifier.report.font import ReportError, ReportFontError
from verifier.report.model import ReportInput
from verifier.report.render import qr_drawing, render_pdf, report_number

__all__ = [
    "ReportError",
    "ReportFontError",
    "ReportInput",
    "qr_drawing",
    "render_pdf",
    "report_number",
]
