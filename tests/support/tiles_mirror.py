"""Mirror a C2SP tlog-tiles log over HTTP and recompute its checkpoint's root.

Standalone on purpose: the Python standard library only (urllib, hashlib), nothing of
Evidence Anchor, so it checks the served log the way any third party would. It fetches
``<prefix>/checkpoint``, every hash tile and every entry bundle the checkpoint's tree
size calls for, and checks, independently of the server's code:

1. every entry's RFC 9162 leaf hash, SHA-256(0x00 || entry), is the matching hash of
   the level-0 tiles;
2. every full tile, hashed as the perfect tree of height 8 it is, is the matching hash
   of the tile one level up;
3. the RFC 9162 Merkle Tree Hash of all the entries is the checkpoint's root;
4. the root folded from the tiles alone is the checkpoint's root.

It does not check the checkpoint's Ed25519 signature (the standard library has no
Ed25519): do that with the log's verifier key and any signed-note tool.

    python tests/support/tiles_mirror.py http://127.0.0.1:8000/tlog [--out DIR]

prints a JSON summary and exits 0 when everything matches, 1 when anything does not.
``--out`` writes the mirror as static files at their tlog-tiles paths.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TILE = 256
HASH = 32


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(hashes: list[bytes], lo: int = 0, hi: int | None = None) -> bytes:
    """RFC 9162 Merkle Tree Hash of the subtrees ``hashes[lo:hi]`` (leaf hashes: of the
    entries): split at the largest power of two below the count, recursively."""
    hi = len(hashes) if hi is None else hi
    n = hi - lo
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[lo]
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(mth(hashes, lo, lo + k), mth(hashes, lo + k, hi))


def tile_index(n: int) -> str:
    """``n`` as zero-padded 3-digit path elements, all but the last prefixed ``x``."""
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def tile_path(level: int | str, n: int, width: int) -> str:
    """``tile/<L>/<N>[.p/<W>]`` (``level`` "entries" for an entry bundle)."""
    path = f"tile/{level}/{tile_index(n)}"
    return path if width == TILE else f"{path}.p/{width}"


def widths(count: int) -> list[int]:
    """The width of each tile of a level that holds ``count`` hashes."""
    return [TILE] * (count // TILE) + ([count % TILE] if count % TILE else [])


class Mirror:
    def __init__(self, prefix: str, out: Path | None, timeout: float) -> None:
        self.prefix = prefix.rstrip("/")
        self.out = out
        self.timeout = timeout
        self.fetched = 0
        self.bytes = 0

    def get(self, path: str) -> bytes:
        request = urllib.request.Request(
            f"{self.prefix}/{path}", headers={"Accept-Encoding": "gzip, identity"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            body: bytes = response.read()
            if response.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
        self.fetched += 1
        self.bytes += len(body)
        if self.out is not None:
            target = self.out / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
        return body

    def get_all(self, paths: list[str], workers: int) -> list[bytes]:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(self.get, paths))


def parse_checkpoint(note: bytes) -> tuple[str, int, bytes]:
    """Origin, tree size and root hash from the note's first three lines."""
    lines = note.decode("utf-8").split("\n")
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    if len(root) != HASH or not str(size).isdigit():
        raise ValueError("malformed checkpoint")
    return origin, size, root


def split_tile(data: bytes, width: int) -> list[bytes]:
    if len(data) != width * HASH:
        raise ValueError(f"tile of {len(data)} bytes, want {width * HASH}")
    return [data[i : i + HASH] for i in range(0, len(data), HASH)]


def split_bundle(data: bytes) -> list[bytes]:
    """Entries from a bundle: each behind its big-endian uint16 length."""
    entries, pos = [], 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise ValueError("truncated length in entry bundle")
        length = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + length > len(data):
            raise ValueError("truncated entry in entry bundle")
        entries.append(data[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return entries


def root_from_tiles(levels: list[list[bytes]], size: int) -> bytes:
    """The root folded from the tiles: ``size`` splits, left to right, into perfect subtrees
    of the sizes of its binary digits; one of height h = 8·L + r is the MTH of 2**r
    consecutive hashes of tile level L."""
    subtrees, offset = [], 0
    for height in range(size.bit_length() - 1, -1, -1):
        if size >> height & 1:
            level, r = divmod(height, 8)
            first = offset >> (8 * level)
            subtrees.append(mth(levels[level], first, first + (1 << r)))
            offset += 1 << height
    root = subtrees[-1] if subtrees else hashlib.sha256(b"").digest()
    for left in reversed(subtrees[:-1]):
        root = node_hash(left, root)
    return root


def mirror(
    prefix: str, out: Path | None = None, workers: int = 8, timeout: float = 60
) -> dict[str, object]:
    site = Mirror(prefix, out, timeout)
    note = site.get("checkpoint")
    origin, size, root = parse_checkpoint(note)
    problems: list[str] = []

    # Hash tiles, level by level: level L holds size // 256**L hashes.
    levels: list[list[bytes]] = []
    level = 0
    while size >> (8 * level):
        ws = widths(size >> (8 * level))
        paths = [tile_path(level, n, w) for n, w in enumerate(ws)]
        tiles = site.get_all(paths, workers)
        hashes: list[bytes] = []
        for path, w, data in zip(paths, ws, tiles, strict=True):
            try:
                hashes += split_tile(data, w)
            except ValueError as exc:
                problems.append(f"{path}: {exc}")
        levels.append(hashes)
        level += 1

    # Entry bundles: their leaf hashes against level 0.
    ws = widths(size)
    paths = [tile_path("entries", n, w) for n, w in enumerate(ws)]
    leaves: list[bytes] = []
    for path, w, data in zip(paths, ws, site.get_all(paths, workers), strict=True):
        entries = split_bundle(data)
        if len(entries) != w:
            problems.append(f"{path}: {len(entries)} entries, want {w}")
        leaves += [leaf_hash(e) for e in entries]
    if len(leaves) != size:
        problems.append(f"{len(leaves)} entries, the checkpoint says {size}")
    level0 = levels[0] if levels else []
    mismatched = [i for i, (a, b) in enumerate(zip(leaves, level0, strict=False)) if a != b]
    if mismatched:
        problems.append(f"{len(mismatched)} entries do not hash to level 0, first {mismatched[0]}")

    # Each full tile hashes to its entry in the tile above.
    for lv in range(len(levels) - 1):
        for n in range(len(levels[lv]) // TILE):
            if mth(levels[lv], n * TILE, (n + 1) * TILE) != levels[lv + 1][n]:
                problems.append(f"tile {lv}/{tile_index(n)} does not hash to level {lv + 1}")

    from_entries = mth(leaves)
    from_tiles = root_from_tiles(levels, size) if size else from_entries
    if from_entries != root:
        problems.append("the entries' Merkle Tree Hash is not the checkpoint's root")
    if from_tiles != root:
        problems.append("the root folded from the tiles is not the checkpoint's root")
    return {
        "origin": origin,
        "size": size,
        "root": root.hex(),
        "root_from_entries": from_entries.hex(),
        "root_from_tiles": from_tiles.hex(),
        "tiles_per_level": [len(widths(len(h))) for h in levels],
        "entry_bundles": len(paths),
        "fetched": site.fetched,
        "bytes": site.bytes,
        "problems": problems,
        "ok": not problems,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prefix", help="the log's URL prefix, e.g. https://example.org/tlog")
    parser.add_argument("--out", type=Path, help="write the mirror as static files here")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args(argv)
    summary = mirror(args.prefix, args.out, args.workers)
    print(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
