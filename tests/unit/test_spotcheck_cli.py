"""``evidence-verify spot-check`` on files: the worked example and the acceptance-sized
plan reproduced from public data only, a changed plan refused by its committed digest, a
tampered draw caught difference by difference, and unusable input (exit 3, one line on
stderr, no traceback)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

import verifier.spotcheck as sc
from tests.unit.test_spotcheck import (
    EXAMPLE,
    EXAMPLE_DIGEST,
    EXAMPLE_SEED,
    acceptance_plan,
    make_plan,
    seed_of,
)
from verifier.chain import rpc
from verifier.cli import main, run

PLAN = str(EXAMPLE / "plan.json")
DRAW = str(EXAMPLE / "draw.json")


def spot(*args: str) -> list[str]:
    return ["spot-check", *args]


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = run([*argv, "--json"])
    out, err = capsys.readouterr()
    assert err == ""
    result: dict[str, object] = json.loads(out)
    return code, result


def run_unusable(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run argv, expect exit 3 (returned, or argparse's SystemExit), one stderr line."""
    try:
        code = run(argv)
    except SystemExit as exited:
        code = exited.code  # type: ignore[assignment]
    out, err = capsys.readouterr()
    assert code == 3, err
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("evidence-verify: unusable input: ")
    return lines[0]


def checks(result: dict[str, object]) -> dict[str, str]:
    found = result["checks"]
    assert isinstance(found, dict)
    return {name: check["status"] for name, check in found.items()}


# --- outcomes -----------------------------------------------------------------------------


def test_worked_example_verified(capsys: pytest.CaptureFixture[str]) -> None:
    argv = spot(PLAN, "--block-hash", EXAMPLE_SEED, "--plan-sha256", EXAMPLE_DIGEST, "--draw", DRAW)
    assert run(argv) == 0
    out = capsys.readouterr().out
    assert "抽中对象 entities    : E4, E2" in out
    assert "  E2 <- O1, O3" in out
    assert out.rstrip().endswith("结论 outcome: 核验通过 VERIFIED")
    code, result = run_json(argv, capsys)
    assert code == 0
    assert result["outcome"] == "verified"
    assert checks(result) == {"plan": "verified", "draw": "verified", "seed": "not_checked"}
    assert result["draw"] == json.loads(Path(DRAW).read_text())
    assert result["plan_sha256"] == EXAMPLE_DIGEST


def test_upper_case_inputs_are_the_same_values(capsys: pytest.CaptureFixture[str]) -> None:
    argv = spot(
        PLAN,
        "--block-hash",
        "0x" + EXAMPLE_SEED[2:].upper(),
        "--plan-sha256",
        EXAMPLE_DIGEST.upper(),
        "--draw",
        DRAW,
    )
    assert run_json(argv, capsys)[0] == 0


def test_trace_is_the_documented_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, result = run_json(spot(PLAN, "--block-hash", EXAMPLE_SEED, "--trace"), capsys)
    assert code == 2
    assert result["trace"] == (EXAMPLE / "trace.txt").read_text().splitlines()


def test_nothing_compared_is_incomplete(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(spot(PLAN, "--block-hash", EXAMPLE_SEED)) == 2
    out = capsys.readouterr().out
    assert "抽中人员 officers    : O3, O2, O1" in out
    assert "未核验 not checked" in out
    assert "核验未完成 INCOMPLETE" in out


def test_changed_plan_is_refused_by_its_committed_digest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = Path(PLAN).read_text().replace('"weight": 8', '"weight": 9')
    assert changed != Path(PLAN).read_text()
    (tmp_path / "plan.json").write_text(changed)
    argv = spot(
        str(tmp_path / "plan.json"),
        "--block-hash",
        EXAMPLE_SEED,
        "--plan-sha256",
        EXAMPLE_DIGEST,
        "--draw",
        DRAW,
    )
    code, result = run_json(argv, capsys)
    assert code == 1
    assert result["outcome"] == "failed"
    plan_check = result["checks"]["plan"]  # type: ignore[index]
    assert plan_check["status"] == "failed"
    assert plan_check["detail"].startswith("the plan differs from the one committed: ")
    assert EXAMPLE_DIGEST in plan_check["detail"]
    assert result["plan_sha256"] != EXAMPLE_DIGEST
    # the recomputed draw carries the changed plan's digest: the published one differs
    assert "plan_sha256: expected" in result["differences"][0]  # type: ignore[index]


def test_tampered_draw_lists_each_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    draw = json.loads(Path(DRAW).read_text())
    draw["entities"][1] = "E3"
    draw["assignments"][0]["officers"] = ["O3", "O1"]
    (tmp_path / "draw.json").write_text(json.dumps(draw))
    assert run(spot(PLAN, "--block-hash", EXAMPLE_SEED, "--draw", str(tmp_path / "draw.json"))) == 1
    out = capsys.readouterr().out
    assert "    - entity #2: expected E2, published E3" in out
    assert "    - assignment of E4: expected O1, O3, published O3, O1" in out
    assert "失败 FAILED" in out
    assert "核验失败 FAILED" in out


def test_another_block_is_another_draw(capsys: pytest.CaptureFixture[str]) -> None:
    other = "0x" + "00" * 31 + "01"
    code, result = run_json(spot(PLAN, "--block-hash", other, "--draw", DRAW), capsys)
    assert code == 1
    assert f"seed: expected {other}, published {EXAMPLE_SEED}" in result["differences"]  # type: ignore[operator]


def test_plan_that_cannot_be_drawn_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = make_plan(officers=2, entity_count=4, weights=(1, 1, 1, 1), recusals=[("O0", "E3")])
    (tmp_path / "plan.json").write_bytes(sc.plan_bytes(plan))
    code, result = run_json(spot(str(tmp_path / "plan.json"), "--block-hash", EXAMPLE_SEED), capsys)
    assert code == 1
    detail = result["checks"]["draw"]["detail"]  # type: ignore[index]
    assert detail.startswith("the plan cannot be drawn: entity E3: 1 of the 2 drawn officers")
    assert result["draw"] is None


def test_acceptance_plan_reproduced_from_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """10,000 entities, 200 officers, 50 + 10 drawn, recusals: the published draw is the
    one the command recomputes from the plan file and the block hash; one byte of the plan
    changed, and the committed digest refuses it."""
    plan, seed = acceptance_plan(), seed_of(2026)
    published = sc.draw(plan, seed)
    plan_file, draw_file = tmp_path / "plan.json", tmp_path / "draw.json"
    plan_file.write_text(plan.model_dump_json(indent=1))
    draw_file.write_text(published.model_dump_json())
    base = [str(plan_file), "--block-hash", "0x" + seed.hex(), "--draw", str(draw_file)]
    code, result = run_json(spot(*base, "--plan-sha256", published.plan_sha256), capsys)
    assert code == 0, result["checks"]
    assert result["draw"] == published.model_dump(mode="json")
    text = plan_file.read_text()
    plan_file.write_text(text.replace('"seed_height": 4000000', '"seed_height": 4000001'))
    code, result = run_json(spot(*base, "--plan-sha256", published.plan_sha256), capsys)
    assert code == 1
    assert checks(result) == {"plan": "failed", "draw": "failed", "seed": "not_checked"}


def test_console_script_entry_point(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``main()`` (the ``evidence-verify`` script) reads sys.argv and exits with the code."""
    argv = spot(PLAN, "--block-hash", EXAMPLE_SEED, "--plan-sha256", EXAMPLE_DIGEST)
    monkeypatch.setattr(sys, "argv", ["evidence-verify", *argv, "--draw", DRAW])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 0
    assert "核验通过 VERIFIED" in capsys.readouterr().out


def test_help_names_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run(spot("--help"))
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "evidence-verify spot-check" in out
    assert "0 the checks passed (plan, draw, and seed with --rpc), 1 a check" in out
    with pytest.raises(SystemExit):
        run(["--help"])
    assert "evidence-verify spot-check PLAN.json" in capsys.readouterr().out


# --- unusable input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"algorithm": ', "the plan is not valid JSON"),
        (b'{"a": 1, "a": 2}', "duplicate key"),
        (b"\xff", "not valid UTF-8"),
        (b"[]", "the plan is not evidence-draw/v1"),
    ],
    ids=["truncated", "duplicate-key", "not-utf8", "array"],
)
def test_unreadable_plan_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    (tmp_path / "plan.json").write_bytes(content)
    line = run_unusable(spot(str(tmp_path / "plan.json"), "--block-hash", EXAMPLE_SEED), capsys)
    assert message in line


def test_wrong_types_name_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = json.loads(Path(PLAN).read_text())
    plan["entities"][3]["weight"] = "8"
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    line = run_unusable(spot(str(tmp_path / "plan.json"), "--block-hash", EXAMPLE_SEED), capsys)
    assert "entities.3.weight" in line


def test_plan_size_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    size = Path(PLAN).stat().st_size
    monkeypatch.setattr(sc, "MAX_PLAN_BYTES", size)  # at the limit: read
    assert run(spot(PLAN, "--block-hash", EXAMPLE_SEED, "--json")) == 2
    capsys.readouterr()
    monkeypatch.setattr(sc, "MAX_PLAN_BYTES", size - 1)
    line = run_unusable(spot(PLAN, "--block-hash", EXAMPLE_SEED), capsys)
    assert f"larger than {size - 1} bytes" in line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (spot(PLAN, "--block-hash", "0x1234"), "not 0x followed by 64 hex digits"),
        (spot(PLAN, "--block-hash", EXAMPLE_SEED, "--plan-sha256", "abc"), "not 64 hex digits"),
        (spot(PLAN), "give --block-hash (the seed block's hash), or --rpc to ask the chain"),
        (spot(PLAN, "--rpc", "ftp://node.example"), "must be an http:// or https:// URL"),
        (spot("/nonexistent/plan.json", "--block-hash", EXAMPLE_SEED), "cannot read"),
        (spot(PLAN, "--block-hash", EXAMPLE_SEED, "--draw", PLAN), "the draw is not"),
        (spot(PLAN, "--block-hash", EXAMPLE_SEED, "--bogus"), "unrecognized arguments"),
    ],
    ids=[
        "short-hash",
        "bad-digest",
        "no-hash",
        "rpc-not-http",
        "missing-file",
        "plan-as-draw",
        "unknown-option",
    ],
)
def test_unusable_arguments(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert message in run_unusable(argv, capsys)


# --- --rpc: the seed block asked of the chain ----------------------------------------------

RPC = "http://node.example:8545"


class FakeChain:
    """A JSON-RPC node of chain 31337 whose head is ``head``; block 1200 is the example's."""

    def __init__(self, head: int, chain_id: int = 31337, block_hash: str = EXAMPLE_SEED) -> None:
        self.head, self.chain_id, self.block_hash = head, chain_id, block_hash
        self.calls: list[str] = []

    def answer(self, method: str, params: list[Any]) -> object:
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "eth_blockNumber":
            return hex(self.head)
        assert method == "eth_getBlockByNumber" and params[1] is False
        number = int(params[0], 16)
        return None if number > self.head else {"number": params[0], "hash": self.block_hash}

    def __call__(self, url: str, body: bytes) -> bytes:
        if url != RPC:
            raise ConnectionRefusedError(111, "Connection refused")
        request = json.loads(body)
        self.calls.append(request["method"])
        result = self.answer(request["method"], request["params"])
        return json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}).encode()


@pytest.fixture
def chain(monkeypatch: pytest.MonkeyPatch) -> FakeChain:
    node = FakeChain(head=1205)
    monkeypatch.setattr(rpc, "UrllibTransport", lambda: node)
    return node


def test_rpc_gives_the_seed(chain: FakeChain, capsys: pytest.CaptureFixture[str]) -> None:
    argv = spot(PLAN, "--rpc", RPC, "--plan-sha256", EXAMPLE_DIGEST, "--draw", DRAW)
    code, result = run_json(argv, capsys)
    assert code == 0, result["checks"]
    assert checks(result) == {"plan": "verified", "draw": "verified", "seed": "verified"}
    detail = result["checks"]["seed"]["detail"]  # type: ignore[index]
    assert detail == (
        f"block 1200 is {EXAMPLE_SEED} on chain 31337 (http://node.example:8545, 6 confirmations)"
    )
    assert chain.calls == ["eth_chainId", "eth_blockNumber", "eth_getBlockByNumber"]
    # with --block-hash too: they must agree
    assert run_json([*argv, "--block-hash", EXAMPLE_SEED], capsys)[0] == 0
    other = "0x" + "11" * 32
    code, result = run_json([*argv, "--block-hash", other], capsys)
    assert code == 1
    assert result["checks"]["seed"]["detail"].startswith(  # type: ignore[index]
        f"--block-hash {other} is not block 1200's hash on chain 31337"
    )


def test_rpc_seed_block_not_yet_mined(chain: FakeChain, capsys: pytest.CaptureFixture[str]) -> None:
    chain.head = 1199
    code, result = run_json(spot(PLAN, "--rpc", RPC, "--draw", DRAW), capsys)
    assert code == 2
    assert result["checks"]["seed"] == {  # type: ignore[index]
        "status": "not_checked",
        "detail": "http://node.example:8545: block 1200 not yet mined (head is 1199)",
    }
    assert result["draw"] is None
    assert result["checks"]["draw"]["status"] == "not_checked"  # type: ignore[index]


def test_rpc_other_chain_fails(chain: FakeChain, capsys: pytest.CaptureFixture[str]) -> None:
    chain.chain_id = 1
    code, result = run_json(spot(PLAN, "--rpc", RPC, "--block-hash", EXAMPLE_SEED), capsys)
    assert code == 1
    assert "serves chain id 1, not 31337" in result["checks"]["seed"]["detail"]  # type: ignore[index]


def test_rpc_unreachable_is_not_checked(
    chain: FakeChain, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "http://down.example:8545"
    code, result = run_json(spot(PLAN, "--rpc", other, "--block-hash", EXAMPLE_SEED), capsys)
    assert code == 2
    assert result["checks"]["seed"]["status"] == "not_checked"  # type: ignore[index]
    assert result["draw"] == json.loads(Path(DRAW).read_text())  # drawn with the given hash


def test_rpc_malformed_block_fails(chain: FakeChain, capsys: pytest.CaptureFixture[str]) -> None:
    chain.block_hash = "0x1234"
    code, result = run_json(spot(PLAN, "--rpc", RPC), capsys)
    assert code == 1
    assert "not a 32-byte hex hash" in result["checks"]["seed"]["detail"]  # type: ignore[index]
