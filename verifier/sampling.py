"""Random integers and weighted sampling from a SHA-256 stream (docs/spot-check.md §5-§7).

CONSENSUS-CRITICAL, as :mod:`verifier.spotcheck` which draws with it: the stream's bytes,
the rejection rule and the interval search decide every published draw. Pure: no I/O, no
floating point.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

#: The stream's domain tag (the algorithm's name): SHA-256 input begins with it and a NUL.
DOMAIN = b"evidence-draw/v1"


# --- the random stream -------------------------------------------------------------------


class Stream:
    """The bytes of SHA-256(DOMAIN || 0x00 || plan digest || seed || purpose || 0x00 ||
    counter as 8 bytes big-endian) for counter 0, 1, 2 …, read in order (docs/spot-check.md
    §5). ``trace`` (a list) receives one line per block made and per integer drawn."""

    def __init__(
        self, plan_sha256: bytes, seed: bytes, purpose: str, trace: list[str] | None = None
    ) -> None:
        self._prefix = DOMAIN + b"\x00" + plan_sha256 + seed + purpose.encode("ascii") + b"\x00"
        self.purpose = purpose
        self._counter = 0
        self._buffer = b""
        self._trace = trace

    def read(self, n: int) -> bytes:
        while len(self._buffer) < n:
            block = hashlib.sha256(self._prefix + self._counter.to_bytes(8, "big")).digest()
            if self._trace is not None:
                self._trace.append(f"  stream {self.purpose} block {self._counter}: {block.hex()}")
            self._buffer += block
            self._counter += 1
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def below(self, n: int) -> int:
        """A uniform integer in [0, n) by rejection: k = bit length of n - 1, take
        ceil(k / 8) bytes big-endian, keep the low k bits, retry while >= n. n = 1: 0,
        reading nothing."""
        if n < 1:
            raise ValueError(f"no integer below {n}")
        if n == 1:
            return 0
        bits = (n - 1).bit_length()
        size = (bits + 7) // 8
        mask = (1 << bits) - 1
        while True:
            raw = self.read(size)
            value = int.from_bytes(raw, "big") & mask
            if self._trace is not None:
                verdict = "accept" if value < n else "reject"
                self._trace.append(
                    f"  below({n}): bytes {raw.hex()} low {bits} bits {value} {verdict}"
                )
            if value < n:
                return value


# --- weighted sampling without replacement ------------------------------------------------


class Fenwick:
    """Prefix sums of integer weights over positions 0..n-1 (a binary indexed tree):
    ``find(r)`` is the position i with sum(w[0..i-1]) <= r < sum(w[0..i])."""

    def __init__(self, weights: Sequence[int]) -> None:
        size = len(weights)
        tree = [0, *weights]
        for i in range(1, size + 1):
            parent = i + (i & -i)
            if parent <= size:
                tree[parent] += tree[i]
        self._tree = tree
        self._size = size
        self._top = 1 << (size.bit_length() - 1) if size else 0

    def add(self, position: int, delta: int) -> None:
        i = position + 1
        while i <= self._size:
            self._tree[i] += delta
            i += i & -i

    def find(self, r: int) -> int:
        position, step = 0, self._top
        while step:
            nxt = position + step
            if nxt <= self._size and self._tree[nxt] <= r:
                position = nxt
                r -= self._tree[nxt]
            step >>= 1
        return position


def weighted_sample(
    weights: Sequence[int],
    count: int,
    stream: Stream,
    trace: list[str] | None = None,
    labels: Sequence[str] = (),
) -> list[int]:
    """``count`` distinct positions, each step picking position i with probability
    w_i / (the remaining total): r = below(remaining total), then the position whose
    cumulative weight interval [C(i-1), C(i)) holds r (drawn positions weigh 0)."""
    tree = Fenwick(weights)
    total = sum(weights)
    picks: list[int] = []
    for step in range(1, count + 1):
        r = stream.below(total)
        position = tree.find(r)
        picks.append(position)
        if trace is not None:
            trace.append(
                f"  {stream.purpose} step {step}: total {total}, r {r} -> position {position} "
                f"{labels[position] if labels else ''} (weight {weights[position]})"
            )
        tree.add(position, -weights[position])
        total -= weights[position]
    return picks
