"""The CSV of ``GET /v1/stats/market.csv`` (docs/stats.md §3): RFC 4180, UTF-8 with a
byte-order mark so spreadsheet programs read the Chinese labels, one row per figure.

A cell a spreadsheet would take for a formula (its first character ``=``, ``+``, ``-``,
``@``, a tab or a carriage return: CSV injection) is written with a leading apostrophe,
so it shows as the text it is. Only labels and free-text classes can start so; codes and
numbers never do.
"""

from __future__ import annotations

import csv
import io

from evidence_api.stats.schemas import COLUMNS, MarketStats

MEDIA_TYPE = "text/csv; charset=utf-8; header=present"
BOM = "\ufeff"
#: First characters a spreadsheet reads as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """One cell: empty for null, the number's JSON spelling, text defused when needed."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def market_csv(stats: MarketStats) -> bytes:
    """The figures as CSV bytes (header row of :data:`COLUMNS`, CRLF line ends)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for figure in stats.figures:
        writer.writerow([cell(getattr(figure, column)) for column in COLUMNS])
    return (BOM + out.getvalue()).encode("utf-8")


def filename(stats: MarketStats) -> str:
    """``market-stats-<unit or all>-<as_of>.csv`` (ASCII: codes and a date)."""
    return f"market-stats-{stats.unit or 'all'}-{stats.as_of.isoformat()}.csv"
