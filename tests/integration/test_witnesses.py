"""Two real witnesses (``evidence witness serve`` processes, a court's and a notary
office's) and the real service (embedded runtime, its witnessing timer): checkpoints get
cosigned by both and bundles carry both lines; with one witness down a quorum of 1 is
still met and a quorum of 2 is not; a forged line is ``forged``; a split view and a
rollback, signed with the log's own key and sent straight to the witnesses, are refused
by both with their state unchanged; a restarted witness keeps its state and goes on.

The tests of this module share one stack and run in order (each builds on the state the
one before left); together they take about half a minute.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from anchoring.log import MerkleLog
from anchoring.queue import latest_checkpoint
from anchoring.schema import checkpoint_cosignature, log_checkpoint
from anchoring.store.sql import SqlNodeStore
from evidence_api.core.config import Settings
from evidence_api.core.db import make_engine, upgrade
from evidence_api.trust.cosigning import newest_cosigned, store_cosignature
from tests.support.api import VERIFY_CLI, Stack, running_stack, submit, wait_for_bundle
from tests.support.console import log_in_as
from tests.support.postgres import postgres_database
from tests.support.waiting import wait_until
from tests.support.witnesses import WitnessProcess, running_witnesses
from verifier.checkpoint import Checkpoint, parse_signed_checkpoint
from verifier.cosignature import WitnessPolicy, WitnessSigner, check_witnesses
from verifier.note import SignerKey

ORIGIN = "evidence.local/log"


@dataclass
class World:
    stack: Stack
    court: WitnessProcess
    notary: WitnessProcess
    signer: SignerKey

    @property
    def both(self) -> tuple[WitnessProcess, WitnessProcess]:
        return self.court, self.notary

    def policy(self, quorum: int) -> WitnessPolicy:
        return WitnessPolicy.of([self.court.key, self.notary.key], quorum)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("witnesses")
    signer = SignerKey.generate(ORIGIN)
    with running_witnesses(folder, [signer.verifier().to_text()]) as (court, notary):
        settings = Settings(
            data_dir=folder / "data",
            log_key=signer.to_text(),
            seal_interval=0.1,
            witness_interval=0.2,
            witness_timeout=5.0,
            witnesses=[court.endpoint(), notary.endpoint()],
        )
        with running_stack(settings) as stack:
            found = World(stack, court, notary, signer)
            # a first checkpoint both witnesses cosigned: each test may start from it alone
            cosigned_bundle(found, evidence(found, "first"), found.policy(2))
            yield found


def evidence(world: World, text: str) -> str:
    answer = submit(world.stack, {"a.txt": text.encode()})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["evidence_id"])


def cosigned_bundle(world: World, evidence_id: str, policy: WitnessPolicy) -> dict[str, Any]:
    """The evidence's sealed bundle once its checkpoint meets ``policy``."""
    found: dict[str, Any] = {}

    def met() -> bool:
        bundle = wait_for_bundle(
            world.stack.client, evidence_id, world.stack.auth("officer"), timeout=30
        )
        found.update(bundle)
        return check_witnesses(bundle["checkpoint"], policy).met

    wait_until(met, 30, f"the checkpoint of {evidence_id} cosigned (quorum {policy.quorum})")
    return found


def verify(
    world: World, bundle: dict[str, Any], text: str, workdir: Path, *quorum: str
) -> tuple[int, dict[str, Any]]:
    """The real ``evidence-verify --through 4`` with both witnesses' keys: (exit, report)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "bundle.json").write_text(json.dumps(bundle), encoding="utf-8")
    (workdir / "a.txt").write_text(text, encoding="utf-8")
    args = [str(VERIFY_CLI), str(workdir / "bundle.json"), "--file", str(workdir / "a.txt")]
    args += ["--log-key", world.signer.verifier().to_text(), "--through", "4", "--json"]
    for witness in world.both:
        args += ["--witness", witness.vkey]
    done = subprocess.run([*args, *quorum], capture_output=True, text=True, timeout=60, check=False)
    report: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, report


def newest(world: World) -> tuple[int, bytes]:
    with world.stack.runtime.engine.connect() as conn:
        record = latest_checkpoint(conn)
    assert record is not None
    return record.size, record.root


def test_checkpoints_are_cosigned_by_both_witnesses(world: World, tmp_path: Path) -> None:
    evidence_id = evidence(world, "first")
    bundle = cosigned_bundle(world, evidence_id, world.policy(2))
    code, report = verify(world, bundle, "first", tmp_path)
    assert code == 0 and report["tiers"][3]["status"] == "verified", report
    verdict = check_witnesses(bundle["checkpoint"], world.policy(2))
    assert verdict.met and {name for name, _ in verdict.cosigned} == {
        "court.example.cn/witness",
        "notary.example.cn/witness",
    }
    lines = [ln for ln in bundle["checkpoint"].splitlines() if ln.startswith("— ")]
    assert len(lines) == 3  # the log's signature and the two cosignatures
    size = parse_signed_checkpoint(bundle["checkpoint"]).size
    with world.stack.runtime.engine.connect() as conn:
        rows = conn.execute(
            select(checkpoint_cosignature.c.witness).where(checkpoint_cosignature.c.size == size)
        ).all()
    assert sorted(r.witness for r in rows) == [w.name for w in world.both]
    for witness in world.both:  # each recorded what it cosigned, on disk
        assert witness.recorded()[ORIGIN][0] >= size
    listed = world.stack.client.get("/v1/trust/witnesses", headers=world.stack.auth("admin"))
    assert listed.status_code == 200, listed.text
    by_name = {w["name"]: w for w in listed.json()["witnesses"]}
    assert set(by_name) == {w.name for w in world.both}
    for witness in world.both:
        seen = by_name[witness.name]
        assert seen["vkey"] == witness.vkey and seen["url"] == witness.url
        assert seen["newest_size"] >= size and seen["last_error"] is None


def test_a_forged_cosignature_is_forged(world: World, tmp_path: Path) -> None:
    evidence_id = evidence(world, "forged")
    bundle = cosigned_bundle(world, evidence_id, world.policy(2))
    note = bundle["checkpoint"]
    lines = note.split("\n")
    at = next(i for i, ln in enumerate(lines) if ln.startswith("— court.example.cn/witness "))
    prefix, blob = lines[at].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 0x01  # one bit of the signature
    lines[at] = f"{prefix} {base64.b64encode(bytes(raw)).decode()}"
    verdict = check_witnesses("\n".join(lines), world.policy(1))
    assert verdict.forged == "court.example.cn/witness" and not verdict.met
    code, _ = verify(world, {**bundle, "checkpoint": "\n".join(lines)}, "forged", tmp_path)
    assert code == 1


def test_a_split_view_is_refused_by_both_witnesses(world: World) -> None:
    size, root = newest(world)
    wait_until(
        lambda: all(w.recorded().get(ORIGIN, (0, ""))[0] == size for w in world.both),
        30,
        f"both witnesses at size {size}",
    )
    before = [w.recorded() for w in world.both]
    other_root = bytes(32 - len(b"x")) + b"x"
    assert other_root != root
    split = Checkpoint(ORIGIN, size, other_root).sign(world.signer)  # the log's own key
    for witness in world.both:
        answer = witness.add_checkpoint(f"old {size}\n\n{split}")
        assert answer.status_code == 409, answer.text
        assert "split view" in answer.json()["detail"]
        # and the same fork presented as growth: no proof leads to it
        grown = Checkpoint(ORIGIN, size + 5, other_root).sign(world.signer)
        answer = witness.add_checkpoint(f"old {size}\n{base64.b64encode(root).decode()}\n\n{grown}")
        assert answer.status_code in (400, 422), answer.text
    assert [w.recorded() for w in world.both] == before


def test_a_rollback_is_refused_by_both_witnesses(world: World) -> None:
    size, _ = newest(world)
    with world.stack.runtime.engine.connect() as conn:
        old_root = MerkleLog(SqlNodeStore(conn)).root(size - 1)
    earlier = Checkpoint(ORIGIN, size - 1, old_root).sign(world.signer)
    before = [w.recorded() for w in world.both]
    for witness in world.both:
        answer = witness.add_checkpoint(f"old {size}\n\n{earlier}")
        assert answer.status_code == 400, answer.text
        answer = witness.add_checkpoint(f"old {size - 1}\n\n{earlier}")
        assert (answer.status_code, answer.text) == (409, f"{size}\n")
        assert answer.headers["content-type"].startswith("text/x.tlog.size")
    assert [w.recorded() for w in world.both] == before


def test_every_checkpoint_is_cosigned_in_order(world: World) -> None:
    """Checkpoints sealed in quick succession are each cosigned by both witnesses (each
    witness is handed them in order), not only the newest: the anchored one is among them."""
    ids = []
    for i in range(3):  # each sealed before the next is sent: three checkpoints at least
        ids.append(evidence(world, f"burst {i}"))
        wait_for_bundle(world.stack.client, ids[-1], world.stack.auth("officer"), timeout=60)
    cosigned_bundle(world, ids[-1], world.policy(2))
    size, _ = newest(world)
    wait_until(
        lambda: all(w.recorded()[ORIGIN][0] == size for w in world.both), 30, "both at newest"
    )
    with world.stack.runtime.engine.connect() as conn:
        sizes = conn.execute(select(log_checkpoint.c.size)).scalars().all()
        rows = conn.execute(
            select(checkpoint_cosignature.c.size, checkpoint_cosignature.c.witness)
        ).all()
    assert len(sizes) >= 3
    for witness in world.both:
        assert {r.size for r in rows if r.witness == witness.name} == set(sizes)


def test_one_witness_down_then_back_with_its_state(world: World, tmp_path: Path) -> None:
    world.notary.stop()
    kept = world.notary.recorded()[ORIGIN]
    evidence_id = evidence(world, "notary away")
    bundle = cosigned_bundle(world, evidence_id, world.policy(1))
    size = parse_signed_checkpoint(bundle["checkpoint"]).size
    assert size > kept[0]
    verdict = check_witnesses(bundle["checkpoint"], world.policy(1))
    assert verdict.met and verdict.missing == ("notary.example.cn/witness",)
    assert not check_witnesses(bundle["checkpoint"], world.policy(2)).met
    code, report = verify(world, bundle, "notary away", tmp_path / "1", "--witness-quorum", "1")
    assert code == 0 and report["tiers"][3]["status"] == "verified", report
    code, report = verify(world, bundle, "notary away", tmp_path / "2", "--witness-quorum", "2")
    assert code == 2 and report["tiers"][3]["status"] == "not_checked", report

    def failing() -> bool:
        listed = world.stack.client.get(
            "/v1/trust/witnesses", headers=world.stack.auth("officer")
        ).json()
        notary = next(w for w in listed["witnesses"] if w["name"] == world.notary.name)
        return notary["last_error"] is not None and notary["newest_size"] < size

    wait_until(failing, 30, "the notary's error to show")

    world.notary.start()  # same key, port and state folder
    # the notary catches up from the size it kept, with a consistency proof
    bundle = cosigned_bundle(world, evidence_id, world.policy(2))
    assert world.notary.recorded()[ORIGIN][0] >= size
    assert check_witnesses(bundle["checkpoint"], world.policy(2)).met
    # ... not from scratch: it logged its first checkpoint of this log once, before
    assert world.notary.log_path.read_text().count(f"first checkpoint of {ORIGIN}") == 1


def test_a_restarted_witness_keeps_its_state(world: World) -> None:
    size, root = newest(world)
    wait_until(
        lambda: world.court.recorded().get(ORIGIN, (0, ""))[0] == size, 30, "the court at size"
    )
    world.court.stop()
    world.court.start()
    logs = world.court.info()["logs"]
    assert [(x["origin"], x["size"], x["root"]) for x in logs] == [(ORIGIN, size, root.hex())]
    # it still refuses what it refused before the restart
    split = Checkpoint(ORIGIN, size, bytes(31) + b"x").sign(world.signer)
    assert world.court.add_checkpoint(f"old {size}\n\n{split}").status_code == 409
    assert world.court.add_checkpoint(f"old 0\n\n{split}").text == f"{size}\n"


def test_the_console_trust_page_lists_both_witnesses(world: World) -> None:
    log_in_as(world.stack, "admin")
    page = world.stack.client.get("/console/admin/trust")
    assert page.status_code == 200, page.text[:500]
    html = page.text
    for witness in world.both:
        assert witness.name in html and witness.vkey in html
    assert "见证方" in html and "开发用 CA" in html  # Chinese first; no certificate configured
    assert 'data-testid="no-authorities"' in html
    world.stack.client.cookies.clear()
    log_in_as(world.stack, "officer")
    assert world.stack.client.get("/console/admin/trust").status_code == 403
    world.stack.client.cookies.clear()


def test_cosignatures_are_stored_once_on_postgresql() -> None:
    """The INSERT ... ON CONFLICT DO NOTHING of the PostgreSQL dialect (the stack above is
    SQLite): storing one cosignature twice keeps one row, and the newest is found."""
    signer = WitnessSigner.generate("court.example.cn/witness")
    with postgres_database() as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            first = signer.cosign("example.cn/log\n5\n" + "A" * 43 + "=\n", 1_800_000_000)
            later = signer.cosign("example.cn/log\n9\n" + "B" * 43 + "=\n", 1_800_000_001)
            for size, cosignature in ((5, first), (5, first), (9, later), (9, later)):
                with engine.begin() as conn:
                    store_cosignature(conn, size, cosignature)
            with engine.connect() as conn:
                rows = conn.execute(select(checkpoint_cosignature.c.size)).scalars().all()
                assert sorted(rows) == [5, 9]
                assert newest_cosigned(conn, signer.key()) == (9, 1_800_000_001)
        finally:
            engine.dispose()
