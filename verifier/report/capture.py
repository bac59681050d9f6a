"""The report's 取证过程 / Capture process section, for a server capture only.

What the capture recorded about itself (:func:`verifier.capture.capture_facts`): the URL
asked for and the one reached, the steps with their times, the redirect chain, each
HTTPS origin's leaf certificate, the DNS answers, the clock offsets, the self-check, the
limits hit and the warnings, the capturing host, and a thumbnail of the screenshot.
Printed as recorded: these are files of the evidence whose bytes tier 1 checked; the
report verifies nothing here and trusts no value's type (a missing one is "not recorded").
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence

from reportlab.lib.utils import ImageReader  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Flowable,
    Image,
    KeepTogether,
    Table,
    TableStyle,
)

from verifier.capture import CaptureFacts, CertificateFact, capture_facts, file_contents
from verifier.report.model import ReportInput
from verifier.report.sections import heading
from verifier.report.style import (
    CONTENT_WIDTH,
    GRID,
    Styles,
    grid_table,
    kv_table,
    recorded_time,
)
from verifier.report.text import Lang, label

#: The largest screenshot drawn as a thumbnail (the capture cuts pages at 20,000 CSS px);
#: beyond it, or unreadable, the report says so instead of decoding it.
MAX_SHOT_HEIGHT = 20_000
MAX_SHOT_WIDTH = 10_000
MAX_SHOT_PIXELS = 40_000_000
#: The thumbnail's box on the page (points), and its pixels per point.
THUMB_WIDTH = 200.0
THUMB_HEIGHT = 400.0
THUMB_DENSITY = 2
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MODES = {1: 0, 3: 2}  # bytes per pixel -> PNG colour type (grey, RGB)
MODE_NAMES = {
    "page": ("网页取证", "page"),
    "video": ("录屏取证", "video"),
    "steps": ("过程取证", "steps"),
}


def facts_of(data: ReportInput) -> CaptureFacts | None:
    """The capture facts of the report's evidence, or None when it is not a capture."""
    return capture_facts(data.bundle.manifest, file_contents(data.files))


def section(data: ReportInput, s: Styles) -> list[Flowable]:
    """The section, or nothing for evidence that is not a server capture."""
    facts = facts_of(data)
    if facts is None:
        return []
    lang = data.lang
    title = heading(data, "sec_capture")
    out: list[Flowable] = [*s.section(title), s.text(label("cap_intro", lang), 8.5, spaceAfter=4)]
    out.append(kv_table(s, _summary_rows(facts, s, lang)))
    out += _steps(facts, s, lang)
    out += _redirects(facts, s, lang)
    out += _certificates(facts, s, lang)
    out += [_subheading(s, "cap_environment", lang), kv_table(s, _environment_rows(facts, s, lang))]
    out += _thumbnail(facts, s, lang)
    if facts.missing:
        names = ", ".join(facts.missing)
        out.append(s.text(f"{label('cap_missing', lang)}: {names}", 8, spaceBefore=3))
    return out


def _value(value: str | None, lang: Lang) -> str:
    return value if value is not None else label("not_recorded", lang)


def _time(value: str | None, lang: Lang) -> str:
    return recorded_time(value, lang) if value is not None else label("not_recorded", lang)


def _mode(value: str | None, lang: Lang) -> str:
    if value in MODE_NAMES:
        zh, en = MODE_NAMES[value]
        return f"{zh}（{value}）" if lang == "zh" else en
    return _value(value, lang)


def _summary_rows(facts: CaptureFacts, s: Styles, lang: Lang) -> list[tuple[str, object]]:
    return [
        (label("cap_id", lang), s.text(_value(facts.capture_id, lang))),
        (label("cap_mode", lang), s.text(_mode(facts.mode, lang))),
        (label("cap_requested", lang), s.text(_value(facts.requested_url, lang))),
        (label("cap_final", lang), s.text(_value(facts.final_url, lang))),
        (label("cap_started", lang), s.text(_time(facts.started_at, lang))),
        (label("cap_ended", lang), s.text(_time(facts.ended_at, lang))),
        (label("capture_tool", lang), s.text(_value(facts.tool, lang))),
        (label("cap_host", lang), s.text(_value(facts.host, lang))),
        (label("cap_os", lang), s.text(_value(facts.os, lang))),
        (label("cap_browser", lang), s.text(_value(facts.chromium, lang))),
    ]


def _subheading(s: Styles, key: str, lang: Lang) -> Flowable:
    return s.text(label(key, lang), 9.5, spaceBefore=6, spaceAfter=2)


def _steps(facts: CaptureFacts, s: Styles, lang: Lang) -> list[Flowable]:
    head = _subheading(s, "cap_steps", lang)
    if not facts.steps:
        return [head, s.text(label("not_recorded", lang), 8.5)]
    rows: list[list[object]] = [
        [s.text(label(k, lang), 8) for k in ("file_no", "cap_action", "cap_start", "cap_end")]
        + [s.text(label("detail", lang), 8)]
    ]
    for step in facts.steps:
        rows.append(
            [
                s.text(str(step.number), 8),
                s.text(_value(step.action, lang), 8),
                s.text(_time(step.started_at, lang), 7.5),
                s.text(_time(step.ended_at, lang), 7.5),
                s.text(step.outcome or "—", 8),
            ]
        )
    widths = (26, 130, 110, 110, CONTENT_WIDTH - 376)
    return [head, grid_table(rows, widths, header=True)]


def _redirects(facts: CaptureFacts, s: Styles, lang: Lang) -> list[Flowable]:
    head = _subheading(s, "cap_redirects", lang)
    if not facts.redirects:
        return [head, s.text(label("not_recorded", lang), 8.5)]
    rows: list[list[object]] = [
        [s.text(label(k, lang), 8) for k in ("file_no", "cap_status", "cap_url")]
    ]
    for number, hop in enumerate(facts.redirects, start=1):
        rows.append(
            [
                s.text(str(number), 8),
                s.text(_value(hop.status, lang), 8),
                s.text(_value(hop.url, lang), 8, splitLongWords=True),
            ]
        )
    return [head, grid_table(rows, (26, 50, CONTENT_WIDTH - 76), header=True)]


def _certificate_rows(cert: CertificateFact, s: Styles, lang: Lang) -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = [(label("cap_origin", lang), s.text(cert.origin))]
    info = cert.info
    if info is None:
        problem = cert.problem or label("not_recorded", lang)
        return [*rows, (label("cap_cert_unreadable", lang), s.text(problem))]
    validity = f"{info.not_before} — {info.not_after}"
    rows += [
        (label("cap_subject", lang), s.text(info.subject)),
        (label("cap_issuer", lang), s.text(info.issuer)),
        (label("cap_validity", lang), s.text(validity)),
    ]
    if info.dns_names:
        rows.append((label("cap_names", lang), s.text(", ".join(info.dns_names))))
    if cert.session is not None:
        rows.append((label("cap_tls_session", lang), s.text(cert.session)))
    rows += [
        (label("cap_fingerprint", lang), s.hex(info.sha256)),
        (label("cap_chain", lang), s.text(f"{cert.chain_length} ({cert.file})")),
    ]
    return rows


def _certificates(facts: CaptureFacts, s: Styles, lang: Lang) -> list[Flowable]:
    head = _subheading(s, "cap_tls", lang)
    if not facts.certificates:
        return [head, s.text(label("cap_no_tls", lang), 8.5)]
    out: list[Flowable] = [head]
    for cert in facts.certificates:
        out.append(kv_table(s, _certificate_rows(cert, s, lang)))
    return out


def _list(values: Sequence[str], lang: Lang) -> str:
    return "; ".join(values) if values else label("none", lang)


def _environment_rows(facts: CaptureFacts, s: Styles, lang: Lang) -> list[tuple[str, object]]:
    return [
        (label("cap_dns_system", lang), s.text(_value(facts.dns_system, lang))),
        (label("cap_dns_second", lang), s.text(_value(facts.dns_second, lang))),
        (label("cap_dns_agree", lang), s.text(_value(facts.dns_agreement, lang))),
        (label("cap_hosts", lang), s.text(_value(facts.hosts, lang))),
        (label("cap_egress", lang), s.text(_value(facts.egress, lang))),
        (label("cap_clock_before", lang), s.text(_value(facts.clock_before, lang))),
        (label("cap_clock_after", lang), s.text(_value(facts.clock_after, lang))),
        (label("cap_self_check", lang), s.text(_value(facts.self_check, lang))),
        (label("cap_proxy", lang), s.text(_value(facts.proxy, lang))),
        (label("cap_tls_session", lang), s.text(_value(facts.tls, lang))),
        (label("cap_limits", lang), s.text(_list(facts.limits_hit, lang))),
        (label("cap_warnings", lang), s.text(_list(facts.warnings, lang))),
    ]


# -- the screenshot's thumbnail ----------------------------------------------------------------


class ThumbnailError(Exception):
    """A screenshot that is not drawn (too large, or not a readable PNG); the message says why."""


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR, read before anything decodes the image."""
    if len(data) < 24 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ThumbnailError("not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _png(width: int, height: int, channels: int, rows: list[bytes]) -> bytes:
    """A PNG of raw rows (filter 0), written here: deterministic, and no imaging library."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, _MODES[channels], 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)
    return (
        _PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def thumbnail_png(data: bytes) -> tuple[bytes, int, int]:
    """The screenshot scaled to fit the thumbnail box (nearest pixel): (PNG, width, height).

    Raises :class:`ThumbnailError` for an image too large to decode here (its IHDR is
    read first) or one that does not decode."""
    width, height = png_size(data)
    if not (0 < width <= MAX_SHOT_WIDTH and 0 < height <= MAX_SHOT_HEIGHT):
        raise ThumbnailError(f"{width}×{height} px, beyond {MAX_SHOT_WIDTH}×{MAX_SHOT_HEIGHT}")
    if width * height > MAX_SHOT_PIXELS:
        raise ThumbnailError(f"{width}×{height} px, more than {MAX_SHOT_PIXELS} pixels")
    try:
        reader = ImageReader(io.BytesIO(data))
        if tuple(reader.getSize()) != (width, height):
            raise ThumbnailError("the PNG's header and its image disagree on its size")
        pixels = reader.getRGBData()
    except ThumbnailError:
        raise
    except Exception as exc:  # reportlab and PIL raise many kinds on a bad image
        raise ThumbnailError(f"not a readable PNG ({type(exc).__name__})") from exc
    channels = len(pixels) // (width * height)
    if channels not in _MODES or len(pixels) != channels * width * height:
        raise ThumbnailError("an image mode the report does not draw")
    scale = min(THUMB_WIDTH * THUMB_DENSITY / width, THUMB_HEIGHT * THUMB_DENSITY / height, 1.0)
    out_w, out_h = max(1, round(width * scale)), max(1, round(height * scale))
    columns = [min(width - 1, int(x / scale)) for x in range(out_w)]
    stride = width * channels
    rows = []
    for y in range(out_h):
        source = min(height - 1, int(y / scale))
        row = pixels[source * stride : (source + 1) * stride]
        if channels == 1:
            rows.append(bytes(row[x] for x in columns))
        else:
            rows.append(b"".join(row[x * 3 : x * 3 + 3] for x in columns))
    return _png(out_w, out_h, channels, rows), out_w, out_h


def _thumbnail(facts: CaptureFacts, s: Styles, lang: Lang) -> list[Flowable]:
    head = _subheading(s, "cap_screenshot", lang)
    if facts.screenshot is None:
        return [head, s.text(label("cap_no_screenshot", lang), 8.5)]
    try:
        png, width, height = thumbnail_png(facts.screenshot)
    except ThumbnailError as exc:
        return [head, s.text(f"{label('cap_no_thumbnail', lang)}: {exc}", 8.5)]
    image = Image(io.BytesIO(png), width=width / THUMB_DENSITY, height=height / THUMB_DENSITY)
    # A ruled frame: a white page would otherwise have no visible edge on white paper.
    framed = Table([[image]], hAlign="LEFT")
    framed.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.5, GRID),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    note = s.text(label("cap_thumbnail_note", lang), 7.5, spaceBefore=2)
    return [KeepTogether([head, framed, note])]
