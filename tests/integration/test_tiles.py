"""The C2SP tlog-tiles read API, mirrored and checked the way a third party would.

A log of 70,000 entries (273 full level-0 tiles and one of 112; a full level-1 tile and
one of 17; a level-2 tile of 1) is written through the sealer library into SQLite and
PostgreSQL, each then served by a real ``evidence serve``. The mirror script
(tests/support/tiles_mirror.py: the standard library only, nothing of ours) fetches the
checkpoint, every tile and every entry bundle over HTTP and recomputes the checkpoint's
root from the entries and from the tiles. Then the edges: partial widths, malformed
paths (400, never a 500), tiles beyond the tree (404, not cacheable), caching headers,
gzip, cosignature lines, how many statements a tile costs, and a log that grows.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, event, insert

from anchoring.entries import make_entry
from anchoring.queue import QueuedEntry, enqueue
from anchoring.reader import LogReader
from anchoring.schema import checkpoint_cosignature
from anchoring.sealer import seal_pending
from evidence_api.core.db import make_engine
from evidence_api.core.errors import BadRequestError
from evidence_api.runtime import Runtime
from evidence_api.tiles import service
from tests.support.api import free_port, fresh_postgres_database, serve_subprocess
from tests.support.offline import offline_runtime
from tests.support.waiting import wait_until
from verifier.checkpoint import open_checkpoint
from verifier.cosignature import WitnessPolicy, WitnessSigner, check_witnesses
from verifier.merkle import leaf_hash, node_hash
from verifier.note import VerifierKey

MIRROR = Path(__file__).resolve().parents[1] / "support" / "tiles_mirror.py"
SIZE = 70_000
WITNESS = WitnessSigner(name="court.example/witness", seed=bytes(range(32)))


@dataclass
class ServedLog:
    kind: str
    base: str  # http://127.0.0.1:<port>
    engine: Engine  # the same database, for direct reads
    vkey: VerifierKey
    data: Path  # the data folder: the log key, for growing the log
    database_url: str | None

    @property
    def prefix(self) -> str:
        return f"{self.base}/tlog"

    def get(self, path: str, **headers: str) -> httpx.Response:
        return httpx.get(f"{self.prefix}/{path}", headers=headers, timeout=60)


def fill(runtime: Runtime, count: int, start: int = 0) -> None:
    """``count`` stamp entries enqueued and sealed through the library (as the service's
    sealer does), in batches of 10,000."""
    now = datetime.now(UTC)
    for first in range(start, start + count, 10_000):
        batch = []
        for i in range(first, min(first + 10_000, start + count)):
            entry = make_entry("stamp", f"st-tiles-{i:08d}", {"sha256": f"{i:064x}"})
            batch.append(QueuedEntry(entry, leaf_hash(entry.leaf_data()), now, "receipt"))
        with runtime.engine.begin() as conn:
            enqueue(conn, batch)
    seal_pending(runtime.engine, runtime.signer, max_batch=20_000)


def cosign_latest(engine: Engine, note: str, size: int) -> None:
    """A witness cosignature on the checkpoint of ``size``, stored as the sealer stores one."""
    body = note.split("\n\n", 1)[0] + "\n"
    cosig = WITNESS.cosign(body, 1_780_000_000)
    with engine.begin() as conn:
        conn.execute(
            insert(checkpoint_cosignature).values(
                size=size,
                witness=cosig.name,
                key_id=cosig.key_id,
                timestamp=cosig.timestamp,
                signature=cosig.signature,
                created_at=datetime.now(UTC),
            )
        )


@contextmanager
def served_log(
    kind: str, root: Path, database_url: str | None, size: int = SIZE
) -> Iterator[ServedLog]:
    """A log of ``size`` entries, its latest checkpoint cosigned, then served by
    ``evidence serve`` on the same data folder (so the same log key) and database."""
    data = root / "data"
    extra = {"database_url": database_url} if database_url else {}
    with offline_runtime(data, **extra) as runtime:
        fill(runtime, size)
        vkey = runtime.signer.verifier()
        cosign_latest(runtime.engine, service.checkpoint(LogReader(runtime.engine)), size)
    env = {"EVIDENCE_DATA_DIR": str(data)}
    if database_url:
        env["EVIDENCE_DATABASE_URL"] = database_url
    engine = make_engine(database_url or f"sqlite:///{data / 'evidence.db'}")
    try:
        with serve_subprocess(env, root / "serve.log") as server:
            yield ServedLog(kind, server.base_url, engine, vkey, data, database_url)
    finally:
        engine.dispose()


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
#: for tests where the backend makes no difference (parsing, a static copy)
SQLITE_ONLY = pytest.mark.parametrize("log", ["sqlite"], indirect=True)


@contextmanager
def log_on(
    kind: str, request: pytest.FixtureRequest, root: Path, size: int = SIZE
) -> Iterator[ServedLog]:
    with ExitStack() as stack:
        url = None
        if kind == "postgres":
            server_url = request.getfixturevalue("postgres_url")
            url = stack.enter_context(fresh_postgres_database(server_url))
        yield stack.enter_context(served_log(kind, root, url, size))


@pytest.fixture(scope="module", params=BACKENDS)
def log(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedLog]:
    """The served log of :data:`SIZE` entries (shared by the module: never changed)."""
    with log_on(request.param, request, tmp_path_factory.mktemp(f"tiles-{request.param}")) as on:
        yield on


@pytest.fixture(params=BACKENDS)
def small_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServedLog]:
    """A served log of 300 entries of the test's own, to grow."""
    with log_on(request.param, request, tmp_path, size=300) as on:
        yield on


# --- the mirror ---------------------------------------------------------------------------


def run_mirror(prefix: str, out: Path) -> tuple[int, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, str(MIRROR), prefix, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.stderr == "", done.stderr
    return done.returncode, json.loads(done.stdout)


def test_the_mirror_script_uses_nothing_but_the_standard_library() -> None:
    tree = ast.parse(MIRROR.read_text("utf-8"))
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    top = {name.split(".")[0] for name in imported}
    assert top <= set(sys.stdlib_module_names) | {"__future__"}, top
    assert {"urllib", "hashlib"} <= top


def test_a_mirror_recomputes_the_checkpoint_root_from_entries_and_from_tiles(
    log: ServedLog, tmp_path: Path
) -> None:
    code, summary = run_mirror(log.prefix, tmp_path / "mirror")
    assert code == 0, summary
    assert summary["problems"] == []
    checkpoint = open_checkpoint(log.get("checkpoint").text, [log.vkey])  # signature: ours
    assert summary["size"] == checkpoint.size == SIZE
    assert summary["root"] == summary["root_from_entries"] == summary["root_from_tiles"]
    assert summary["root"] == checkpoint.root.hex()
    assert summary["tiles_per_level"] == [274, 2, 1]
    assert summary["entry_bundles"] == 274
    assert summary["fetched"] == 1 + 274 + 2 + 1 + 274
    written = {
        p.relative_to(tmp_path / "mirror").as_posix()
        for p in (tmp_path / "mirror").rglob("*")
        if p.is_file()
    }
    assert {
        "checkpoint",
        "tile/0/000",
        "tile/0/273.p/112",
        "tile/1/000",
        "tile/1/001.p/17",
        "tile/2/000.p/1",
        "tile/entries/273.p/112",
    } <= written
    assert len(written) == summary["fetched"]


@SQLITE_ONLY
def test_the_mirror_notices_a_changed_entry_in_a_static_copy(
    log: ServedLog, tmp_path: Path
) -> None:
    """The mirror is no rubber stamp: its static copy, served by a plain file server,
    checks out; with one byte of one entry changed, it names the defect and fails."""
    out = tmp_path / "copy"
    assert run_mirror(log.prefix, out)[0] == 0
    with static_server(out) as base:
        code, summary = run_mirror(base, tmp_path / "again")
        assert (code, summary["problems"]) == (0, [])
        bundle = out / "tile" / "entries" / "100"
        data = bytearray(bundle.read_bytes())
        data[40] ^= 0x01  # inside the first entry's JSON
        bundle.write_bytes(bytes(data))
        code, summary = run_mirror(base, tmp_path / "tampered")
    assert code == 1
    assert summary["problems"] == [
        "1 entries do not hash to level 0, first 25600",
        "the entries' Merkle Tree Hash is not the checkpoint's root",
    ]
    assert summary["root_from_tiles"] == summary["root"]


@contextmanager
def static_server(folder: Path) -> Iterator[str]:
    """``python -m http.server`` on ``folder``: a static mirror, as anyone would host it."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/checkpoint", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, 60, "the static file server")
        yield base
    finally:
        process.terminate()
        process.wait(15)


# --- the resources one by one ---------------------------------------------------------------


def level0(log: ServedLog, n: int, width: int | None = None) -> list[bytes]:
    path = f"tile/0/{service.encode_index(n, width)}"
    data = log.get(path).content
    return [data[i : i + 32] for i in range(0, len(data), 32)]


def entries(log: ServedLog, n: int, width: int | None = None) -> list[bytes]:
    data = log.get(f"tile/entries/{service.encode_index(n, width)}").content
    out, pos = [], 0
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 2], "big")
        out.append(data[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return out


def perfect(hashes: list[bytes]) -> bytes:
    while len(hashes) > 1:
        hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


@pytest.mark.parametrize(
    ("path", "length", "cache"),
    [
        ("tile/0/000", 8192, service.IMMUTABLE),
        ("tile/0/272", 8192, service.IMMUTABLE),
        ("tile/0/273.p/112", 112 * 32, service.PARTIAL),
        ("tile/0/273.p/1", 32, service.PARTIAL),  # an older tree's edge: a prefix
        ("tile/0/000.p/7", 7 * 32, service.PARTIAL),  # since grown full: still served
        ("tile/1/000", 8192, service.IMMUTABLE),
        ("tile/1/001.p/17", 17 * 32, service.PARTIAL),
        ("tile/2/000.p/1", 32, service.PARTIAL),
    ],
)
def test_tiles_are_served_full_and_partial(
    log: ServedLog, path: str, length: int, cache: str
) -> None:
    response = log.get(path)
    assert response.status_code == 200, response.text
    assert len(response.content) == length
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["cache-control"] == cache


@pytest.mark.parametrize(
    "path", ["checkpoint", "tile/1/000", "tile/0/273.p/112", "tile/entries/004"]
)
def test_head_answers_the_headers_without_the_body(log: ServedLog, path: str) -> None:
    got = log.get(path, **{"Accept-Encoding": "identity"})
    head = httpx.head(f"{log.prefix}/{path}", headers={"Accept-Encoding": "identity"}, timeout=60)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(got.content))
    for name in ("content-type", "cache-control"):
        assert head.headers[name] == got.headers[name]
    assert httpx.head(f"{log.prefix}/tile/0/274", timeout=60).status_code == 404


def test_partial_tiles_are_prefixes_and_levels_hash_up(log: ServedLog) -> None:
    assert level0(log, 0, 7) == level0(log, 0)[:7]
    assert level0(log, 273, 1) == level0(log, 273, 112)[:1]
    level1 = log.get("tile/1/000").content
    assert level1[5 * 32 : 6 * 32] == perfect(level0(log, 5))
    level2 = log.get("tile/2/000.p/1").content
    assert level2 == perfect([level1[i : i + 32] for i in range(0, 8192, 32)])
    # leaf 0's hash, recomputed with sha256sum: printf '\0%s' "$ENTRY" | sha256sum
    first = entries(log, 0)[0]
    assert level0(log, 0)[0] == hashlib.sha256(b"\x00" + first).digest()


def test_entry_bundles_hold_the_entries_in_leaf_order(log: ServedLog) -> None:
    bundle = entries(log, 273, 112)
    assert len(bundle) == 112
    assert [leaf_hash(e) for e in bundle] == level0(log, 273, 112)
    assert json.loads(bundle[-1])["id"] == f"st-tiles-{SIZE - 1:08d}"
    assert [json.loads(e)["id"] for e in entries(log, 3)] == [
        f"st-tiles-{i:08d}" for i in range(768, 1024)
    ]


def test_entry_bundles_are_gzipped_for_clients_that_accept_it(log: ServedLog) -> None:
    with httpx.Client(timeout=60) as client:
        raw = client.get(f"{log.prefix}/tile/entries/005", headers={"Accept-Encoding": "identity"})
        zipped = client.stream(
            "GET", f"{log.prefix}/tile/entries/005", headers={"Accept-Encoding": "gzip"}
        )
        with zipped as response:
            compressed = b"".join(response.iter_raw())
            headers = response.headers
    assert "content-encoding" not in raw.headers
    assert headers["content-encoding"] == "gzip"
    assert headers["vary"] == "Accept-Encoding"
    assert headers["cache-control"] == service.IMMUTABLE
    assert len(compressed) < len(raw.content) / 2
    assert gzip.decompress(compressed) == raw.content
    refused = httpx.get(
        f"{log.prefix}/tile/entries/005", headers={"Accept-Encoding": "gzip;q=0"}, timeout=60
    )
    assert "content-encoding" not in refused.headers


def test_the_checkpoint_is_the_signed_note_with_its_cosignatures(log: ServedLog) -> None:
    response = log.get("checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == service.CHECKPOINT
    note = response.text
    assert open_checkpoint(note, [log.vkey]).size == SIZE
    verdict = check_witnesses(note, WitnessPolicy.of([WITNESS.key()]))
    assert verdict.met, verdict
    assert verdict.cosigned == (("court.example/witness", 1_780_000_000),)
    assert httpx.get(f"{log.base}/v1/log/checkpoint", timeout=60).text in note


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/274",  # the next tile: not there yet
        "tile/0/274.p/1",
        "tile/0/273",  # the edge tile is not full yet
        "tile/0/273.p/113",  # wider than the log holds
        "tile/1/001",
        "tile/1/001.p/18",
        "tile/2/000",
        "tile/2/000.p/2",
        "tile/3/000.p/1",  # no level-3 hash before 2**24 entries
        "tile/entries/274.p/1",
        "tile/entries/273",
        "tile/entries/273.p/113",
        "tile/0/x001/000",
    ],
)
def test_tiles_beyond_the_tree_are_404_and_not_cached(log: ServedLog, path: str) -> None:
    response = log.get(path)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    assert "size 70000" in response.json()["detail"]


@pytest.mark.parametrize(
    ("defect", "path"),
    [
        ("level-leading-zero", "tile/00/000"),
        ("level-64", "tile/64/000"),
        ("level-negative", "tile/-1/000"),
        ("level-not-a-number", "tile/zero/000"),
        ("level-arabic-indic-digit", "tile/\u0660/000"),
        ("index-two-digits", "tile/0/00"),
        ("index-four-digits", "tile/0/0000"),
        ("index-last-group-with-x", "tile/0/x000"),
        ("index-group-without-x", "tile/0/001/000"),
        ("index-leading-x000", "tile/0/x000/001"),
        ("index-empty", "tile/0/"),
        ("index-trailing-slash", "tile/0/000/"),
        ("index-seven-groups", "tile/0/x001/x000/x000/x000/x000/x000/000"),
        ("index-fullwidth-digits", "tile/0/\uff10\uff10\uff10"),
        ("width-zero", "tile/0/000.p/0"),
        ("width-256", "tile/0/000.p/256"),
        ("width-leading-zero", "tile/0/000.p/01"),
        ("width-missing", "tile/0/000.p/"),
        ("width-without-p", "tile/0/000/5"),
        ("width-p-alone", "tile/0/000.p"),
        ("width-twice", "tile/0/000.p/5.p/5"),
        ("entries-bad-index", "tile/entries/1"),
        ("entries-width-256", "tile/entries/000.p/256"),
        ("path-too-long", "tile/0/" + "x001/" * 400 + "000"),
        ("nul-byte", "tile/0/000%00"),
    ],
)
@SQLITE_ONLY
def test_malformed_paths_are_400_problems(log: ServedLog, defect: str, path: str) -> None:
    response = log.get(path)
    assert response.status_code == 400, (defect, response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] in ("level", "index"), defect


def test_tile_beyond_any_possible_log_is_404_without_a_read(log: ServedLog) -> None:
    # 256**7 * (256·N + 1) > 2**63: no store row id is even computed
    response = log.get("tile/7/x036/x028/x797/x018/x963/967")
    assert response.status_code == 404
    assert "beyond any log" in response.json()["detail"]


# --- the path grammar, without a server -------------------------------------------------------


@given(
    n=st.integers(0, 2**55),
    width=st.none() | st.integers(1, 255),
)
def test_every_index_encodes_to_the_documented_pattern_and_back(n: int, width: int | None) -> None:
    text = service.encode_index(n, width)
    assert re.fullmatch(service.INDEX_PATTERN, text)
    assert service.parse_index(text) == service.TileIndex(n, width)


@given(st.from_regex(service.INDEX_PATTERN, fullmatch=True))
def test_what_the_openapi_pattern_admits_parses(text: str) -> None:
    """Schemathesis sends what the pattern admits and expects no 400 (test_openapi_contract)."""
    parsed = service.parse_index(text)
    assert service.encode_index(parsed.n, parsed.width) == text


@given(st.text(alphabet="x0129.p/\n", max_size=30))
def test_what_the_pattern_refuses_is_a_400(text: str) -> None:
    if re.fullmatch(service.INDEX_PATTERN, text) and not text.endswith("\n"):
        assert service.parse_index(text).count >= 1
    else:
        with pytest.raises(BadRequestError):
            service.parse_index(text)


def test_levels_are_0_to_63_as_documented() -> None:
    spelled = [str(i) for i in range(200)] + ["00", "01", "063", "-0", "+1", " 1", "1 ", "١"]
    for text in spelled:
        documented = re.fullmatch(service.LEVEL_PATTERN, text) is not None and text.isascii()
        try:
            parsed = service.parse_level(text)
        except BadRequestError:
            assert not documented, text
        else:
            assert documented and parsed == int(text) and 0 <= parsed <= 63, text


def test_the_index_path_limits() -> None:
    six = "x036/x028/x797/x018/x963/967.p/255"  # the largest index any log can reach
    assert service.parse_index(six) == service.TileIndex(36_028_797_018_963_967, 255)
    with pytest.raises(BadRequestError, match="more than 6 groups"):
        service.parse_index("x001/" + six)
    with pytest.raises(BadRequestError, match="41 characters, at most 40"):
        service.parse_index("0" * 41)
    with pytest.raises(BadRequestError, match="3-digit groups"):
        service.parse_index("0" * 40)


# --- the cost of a read, and a log that grows -------------------------------------------------


def test_a_tile_is_one_statement_and_a_bundle_two(log: ServedLog) -> None:
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(log.engine, "before_cursor_execute", count)
    try:
        tile = service.hash_tile(log.engine, 0, service.TileIndex(5))
        one = len(statements)
        upper = service.hash_tile(log.engine, 1, service.TileIndex(0))
        two = len(statements)
        bundle = service.entry_bundle(log.engine, service.TileIndex(5))
    finally:
        event.remove(log.engine, "before_cursor_execute", count)
    assert (one, two, len(statements)) == (1, 2, 4)
    assert tile == log.get("tile/0/005").content
    assert upper == log.get("tile/1/000").content
    assert bundle == log.get("tile/entries/005").content


def test_a_growing_log_widens_the_edge_and_keeps_what_it_served(small_log: ServedLog) -> None:
    """300 entries (tile 0/000 and 0/001.p/44), then 250 more sealed while the server runs:
    tile 001 turns full and 002 starts; what was served before is unchanged."""
    log = small_log
    before = level0(log, 1, 44)
    assert log.get("tile/0/001").status_code == 404
    extra = {"database_url": log.database_url} if log.database_url else {}
    with offline_runtime(log.data, **extra) as runtime:
        fill(runtime, 250, start=300)

    def grown() -> bool:
        return log.get("checkpoint").text.split("\n")[1] == "550"

    wait_until(grown, 60, "the served checkpoint to reach the new size")
    assert level0(log, 1)[:44] == before
    assert log.get("tile/0/001").headers["cache-control"] == service.IMMUTABLE
    assert len(level0(log, 2, 38)) == 38
    assert log.get("tile/0/002.p/39").status_code == 404
    assert len(log.get("tile/1/000.p/2").content) == 64
    code, summary = run_mirror(log.prefix, log.data.parent / "grown")
    assert code == 0, summary
    assert (summary["size"], summary["tiles_per_level"]) == (550, [3, 1])
