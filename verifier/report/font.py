"""The CJK font of the appraisal report: found on this machine, embedded in the PDF.

A report read in court years later must show the same glyphs on any reader,
so a TrueType font is embedded (reportlab embeds a subset of the glyphs used).
Where none is installed, reportlab's built-in CID font ``STSong-Light`` is
used instead: the PDF then names the font without embedding it (a PDF reader
substitutes its own Song typeface), and the report says so in its metadata and
in a footnote.

Nothing is read or registered at import; :func:`report_font` looks once per
process and caches what it registered (reportlab's font registry is global).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.cidfonts import UnicodeCIDFont  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFError, TTFont  # type: ignore[import-untyped]

from verifier.errors import FormatError

#: Environment variable naming a TrueType font file (``.ttf``, or ``.ttc`` with an optional
#: ``#N`` subfont index, e.g. ``/opt/fonts/simsun.ttc#0``).
FONT_ENV = "VERIFIER_REPORT_FONT"
#: Debian/Ubuntu packages that carry a CJK TrueType font, in order of preference
#: (fonts-wqy-microhei, fonts-wqy-zenhei, fonts-droid-fallback, fonts-arphic-uming).
DEBIAN_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/ukai.ttc", 0),
)
#: reportlab's built-in Adobe-GB1 CID font: always available, never embedded.
CID_FALLBACK = "STSong-Light"


class ReportError(FormatError):
    """The report cannot be made from this input (unusable input: CLI exit 3, HTTP 4xx)."""


class ReportFontError(ReportError):
    """The font named by ``VERIFIER_REPORT_FONT`` cannot be used."""


@dataclass(frozen=True)
class ReportFont:
    """A registered font: its reportlab name and whether the PDF embeds it."""

    name: str
    embedded: bool
    #: the file it came from (empty for the built-in CID font)
    path: str = ""

    def describe(self) -> str:
        """One line for the PDF metadata and the report's footnote."""
        if self.embedded:
            return f"{Path(self.path).name} (embedded)"
        return f"{self.name} (not embedded)"


_lock = threading.Lock()
_registered: dict[tuple[str, int], ReportFont] = {}


def _parse_env(value: str) -> tuple[str, int]:
    path, _, index = value.partition("#")
    if index and not index.isdigit():
        raise ReportFontError(f"{FONT_ENV}={value[:200]!r}: subfont index must be a number")
    return path, int(index or 0)


def _register_ttf(path: str, index: int) -> ReportFont:
    key = (path, index)
    if key not in _registered:
        name = f"ReportCJK{len(_registered)}"
        pdfmetrics.registerFont(TTFont(name, path, subfontIndex=index))
        _registered[key] = ReportFont(name, embedded=True, path=path)
    return _registered[key]


def _register_cid() -> ReportFont:
    key = ("", -1)
    if key not in _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(CID_FALLBACK))
        _registered[key] = ReportFont(CID_FALLBACK, embedded=False)
    return _registered[key]


def report_font(
    environ: Mapping[str, str] | None = None,
    candidates: Sequence[tuple[str, int]] = DEBIAN_FONTS,
) -> ReportFont:
    """The font to write the report in: ``$VERIFIER_REPORT_FONT``, else the first
    of ``candidates`` that exists, else the built-in (not embedded) CID font.

    A font named in the environment that cannot be loaded is an error, not a silent
    fallback: whoever set it expects that font in the report.
    """
    env = os.environ if environ is None else environ
    with _lock:
        chosen = env.get(FONT_ENV, "").strip()
        if chosen:
            path, index = _parse_env(chosen)
            try:
                return _register_ttf(path, index)
            except (OSError, TTFError) as exc:
                raise ReportFontError(f"{FONT_ENV}={chosen[:200]!r}: {exc}") from exc
        for path, index in candidates:
            if Path(path).is_file():
                try:
                    return _register_ttf(path, index)
                except (OSError, TTFError):
                    continue  # a broken or unsupported file: try the next one
        return _register_cid()
