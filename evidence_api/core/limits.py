"""Process-wide limits the service keeps whatever its libraries do.

py-evm and py_ecc (imported with web3's chain support) raise Python's recursion
limit to 100,000 at import. With that limit, a deeply nested JSON document
makes the C parser overflow the C stack and the process dies, instead of
raising ``RecursionError``. The API process puts the limit back after any
such import; the request guard bounds JSON nesting before parsing anyway.
"""

from __future__ import annotations

import sys

#: CPython's default; deep enough for everything the service does.
RECURSION_LIMIT = 1000


def restore_recursion_limit() -> None:
    """Undo a library's raise of the recursion limit (never raises it)."""
    if sys.getrecursionlimit() > RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)
