"""QR codes for reports and certificates: reportlab's encoder, its mask chosen faster.

reportlab's ``QRCode.make`` picks the mask the standard's penalty rules score lowest by
building the whole symbol eight times, once per mask, and scoring each cell by cell in
Python: a quarter of a 存证证书's rendering time. :func:`qr_modules` makes the same
choice, with the same penalty (reportlab's own rules, scored alike: a test compares
both for every mask on many inputs), from rows held as integers: the symbol's fixed
patterns and each mask's pattern depend only on the version, so they are computed once
per version; per code only the data bits are placed, each mask applied with one XOR a
row, and scored with string and bit operations. reportlab then builds the symbol once,
with that mask. Pure: no I/O.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import pairwise, zip_longest
from typing import Any

from reportlab.graphics.barcode.qrencoder import (  # type: ignore[import-untyped]
    QRCode,
    QRErrorCorrectLevel,
    QRUtil,
)

MASKS = 8
#: reportlab's rule 3 pattern (dark-light-dark-dark-dark-light-dark, then four light)
_FINDER_LIKE = "10111010000"
_LONG_RUN = re.compile(r"0{5,}|1{5,}")
#: a symbol's rows as integers, column ``c`` of ``n`` at bit ``n - 1 - c``
Rows = tuple[int, ...]


def encoder(value: str) -> Any:
    """reportlab's encoder holding ``value`` at error correction level M, its version set."""
    code = QRCode(None, QRErrorCorrectLevel.M)
    code.addData(value)
    code.version = code.calculate_version()
    return code


@lru_cache(maxsize=8)
def _layout(version: int) -> tuple[int, list[tuple[int, int]], tuple[int, ...], list[Rows]]:
    """For ``version``: the module count, the data positions in placement order as
    ``(row, col)``, the rows of the symbol in test mode with no data (the fixed patterns;
    format and version information light, as reportlab scores them), and each mask's
    rows restricted to the data positions. Rows are integers, column ``c`` at bit
    ``n - 1 - c``."""
    code = QRCode(version, QRErrorCorrectLevel.M)
    code.addData("")
    code.makeImpl(True, 0)
    n = code.moduleCount
    positions = [(row, col) for col, row in code.dataPosIterator()]
    data_positions = {(row, col) for row, col in positions}
    fixed = tuple(
        sum(
            1 << (n - 1 - col)
            for col in range(n)
            if code.modules[row][col] and (row, col) not in data_positions
        )
        for row in range(n)
    )
    masks = []
    for mask in range(MASKS):
        dark = QRUtil.getMask(mask)
        rows = [0] * n
        for row, col in positions:
            if dark(row, col):
                rows[row] |= 1 << (n - 1 - col)
        masks.append(tuple(rows))
    return n, positions, fixed, masks


def _rule1(lines: list[str]) -> int:
    """Runs of five or more alike: length - 2 each."""
    return sum(len(run) - 2 for line in lines for run in _LONG_RUN.findall(line))


def _rule2(rows: list[int], n: int) -> int:
    """Each 2x2 block of one colour: 3."""
    full = (1 << (n - 1)) - 1  # pairs (c, c + 1) for c < n - 1, at bit n - 2 - c
    same_in_row = [~(row ^ (row >> 1)) & full for row in rows]
    return 3 * sum(
        (same_in_row[r] & same_in_row[r + 1] & ~(above ^ below) & full).bit_count()
        for r, (above, below) in enumerate(pairwise(rows))
    )


def _rule3(lines: list[str]) -> int:
    """reportlab's finder-like pattern, left to right, not overlapping, wholly before
    the line's last module: 40 each. reportlab scores it in rows only: its column pass
    compares tuples with a list, which never match, and that is the choice we repeat."""
    return 40 * sum(line[:-1].count(_FINDER_LIKE) for line in lines)


def _rule4(rows: list[int], n: int) -> int:
    """Dark share away from half: 10 per 5 percent."""
    count = sum(row.bit_count() for row in rows)
    return 10 * (abs(100 * count // (n * n) - 50) // 5)


def penalty(rows: list[int], n: int) -> int:
    """reportlab's ``QRUtil.getLostPoint`` of the symbol whose rows these are."""
    lines = [format(row, f"0{n}b") for row in rows]
    columns = ["".join(column) for column in zip(*lines, strict=True)]
    return _rule1(lines) + _rule1(columns) + _rule2(rows, n) + _rule3(lines) + _rule4(rows, n)


def mask_penalties(code: Any) -> list[int]:
    """The penalty of ``code`` (an :func:`encoder`) under each mask, as reportlab scores
    the symbol it builds in test mode."""
    n, positions, fixed, masks = _layout(code.version)
    if code.dataCache is None:
        code.dataCache = QRCode.createData(code.version, code.errorCorrectLevel, code.dataList)
    data = [0] * n
    for (row, col), dark in zip_longest(positions, code.dataBitIterator(code.dataCache)):
        if dark:
            data[row] |= 1 << (n - 1 - col)
    return [
        penalty([f | (d ^ m) for f, d, m in zip(fixed, data, mask, strict=True)], n)
        for mask in masks
    ]


def qr_modules(value: str) -> list[list[bool]]:
    """The QR code of ``value``: reportlab's encoder at error correction level M with the
    mask it would choose (the first of the lowest penalty), as rows of modules from the
    top, True for dark."""
    code = encoder(value)
    scores = mask_penalties(code)
    code.makeImpl(False, scores.index(min(scores)))
    count = code.getModuleCount()
    return [[bool(code.isDark(row, col)) for col in range(count)] for row in range(count)]
