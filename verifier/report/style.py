"""Page styles and small building blocks of the appraisal report (reportlab platypus).

Every piece of text from the evidence (file names, URLs, details) goes through
:meth:`Styles.text` or :meth:`Styles.hex`, which escape it: platypus reads
paragraph text as markup, and a file name such as ``<b>.html`` must print as it is.
Hexadecimal digests are set in Courier (one of the 14 standard PDF fonts, so
nothing to embed) and may wrap at any character inside their table cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.enums import TA_CENTER  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    CondPageBreak,
    Flowable,
    Paragraph,
    Table,
    TableStyle,
)

#: Width of the text area on A4 with 18 mm margins, in points.
CONTENT_WIDTH = 595.27 - 2 * 51.0
#: Characters of one free-text value printed (a manifest's notes may hold 4096).
MAX_TEXT_CHARS = 2000
MONO = "Courier"
GRID = colors.HexColor("#9aa5b1")
SHADE = colors.HexColor("#eef1f4")
STATUS_COLOURS = {
    "verified": colors.HexColor("#1b7f3b"),
    "failed": colors.HexColor("#b42318"),
    "not_checked": colors.HexColor("#b54708"),
    "not_applicable": colors.HexColor("#475467"),
    "skipped": colors.HexColor("#475467"),
}
OUTCOME_BACKGROUNDS = {
    "verified": colors.HexColor("#e7f5ec"),
    "failed": colors.HexColor("#fdecea"),
    "incomplete": colors.HexColor("#fff4e5"),
}

#: China Standard Time has had no daylight saving since 1991: a fixed offset needs no tz
#: database (a court's Windows machine may lack one).
BEIJING = timezone(timedelta(hours=8), "UTC+08:00")


def printable(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Control characters shown escaped (never raw), and at most ``limit`` characters."""
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def utc_and_beijing(moment: datetime) -> tuple[str, str]:
    """``2026-11-26 06:00:01 UTC`` and ``2026-11-26 14:00:01 (UTC+08:00)``."""
    utc = moment.astimezone(UTC)
    local = moment.astimezone(BEIJING)
    return (
        utc.strftime("%Y-%m-%d %H:%M:%S UTC"),
        local.strftime("%Y-%m-%d %H:%M:%S (UTC+08:00)"),
    )


def recorded_time(text: str, lang: str) -> str:
    """A time as a manifest or entry records it (RFC 3339), for the report: in Chinese in
    Beijing time with its offset, ``2026-11-26 14:00:00 (UTC+08:00)``, the recorded value
    kept beside it (it is what the digests cover); in English as recorded. A value that
    does not parse is shown as it is."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None or lang != "zh":
        return text
    return f"{utc_and_beijing(moment)[1]}（记录值 {text}）"


def unix_times(timestamp: int) -> tuple[str, str]:
    """:func:`utc_and_beijing` of Unix seconds; a time beyond year 9999 is shown as it is."""
    try:
        return utc_and_beijing(datetime.fromtimestamp(timestamp, UTC))
    except (OverflowError, OSError, ValueError):
        return f"unix time {timestamp}", f"unix time {timestamp}"


@dataclass(frozen=True)
class Styles:
    """Paragraph styles in the report's font, plus helpers that escape their text."""

    font: str

    def style(self, size: float = 9, *, font: str | None = None, **kw: Any) -> ParagraphStyle:
        # The CJK fonts have no bold face: emphasis is size and colour, not weight.
        return ParagraphStyle(
            f"s{size}",
            fontName=font or self.font,
            fontSize=size,
            leading=size * 1.35,
            wordWrap="CJK",
            **kw,
        )

    def text(self, value: str, size: float = 9, **kw: Any) -> Paragraph:
        return Paragraph(escape(printable(value)), self.style(size, **kw))

    def markup(self, value: str, size: float = 9, **kw: Any) -> Paragraph:
        """Trusted markup (the report's own labels only, never evidence text)."""
        return Paragraph(value, self.style(size, **kw))

    def hex(self, value: str, size: float = 8) -> Paragraph:
        return Paragraph(escape(printable(value)), self.style(size, font=MONO))

    def heading(self, value: str) -> Paragraph:
        return self.markup(
            escape(value),
            12,
            spaceBefore=10,
            spaceAfter=4,
            textColor=colors.HexColor("#102a43"),
        )

    def section(self, value: str) -> list[Flowable]:
        """A section heading, on a new page when less than a few lines would follow it.

        (Not ``keepWithNext``: that would move a long table whole to the next page.)
        """
        return [CondPageBreak(90), self.heading(value)]

    def title(self, value: str, size: float = 18) -> Paragraph:
        return self.markup(escape(value), size, alignment=TA_CENTER, spaceAfter=2)


def grid_table(
    rows: Sequence[Sequence[object]],
    widths: Sequence[float],
    *,
    header: bool = False,
    extra: Sequence[tuple[object, ...]] = (),
) -> Table:
    """A ruled table; the first column (or the first row, with ``header``) shaded."""
    table = Table([list(r) for r in rows], colWidths=list(widths), repeatRows=1 if header else 0)
    commands: list[tuple[object, ...]] = [
        ("GRID", (0, 0), (-1, -1), 0.5, GRID),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 4),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), SHADE))
    else:
        commands.append(("BACKGROUND", (0, 0), (0, -1), SHADE))
    commands.extend(extra)
    table.setStyle(TableStyle(commands))
    return table


def kv_table(styles: Styles, rows: Sequence[tuple[str, object]]) -> Table:
    """Label | value rows, labels shaded on the left; a value is a paragraph or a list of them."""
    return grid_table(
        [(styles.text(label, 8.5), value) for label, value in rows],
        (120, CONTENT_WIDTH - 120),
    )
