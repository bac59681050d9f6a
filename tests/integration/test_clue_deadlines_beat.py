"""Overdue 协查 requests and clue transfers flagged by a real Celery worker and beat on a
real Redis (job ``clue-deadlines``, task ``evidence.clue_deadlines``), on PostgreSQL.

The service runs no timers of its own here: only the beat's schedule, every half
second (``EVIDENCE_CLUE_DEADLINE_INTERVAL``), reaches the worker, which flags each item
once with an entry that its seal task seals.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.beat import beat_stack, worker_and_beat
from tests.support.clues import assist_body, clue_body, seed_clue_world
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def test_overdue_flagged_by_a_real_celery_worker_and_beat(
    tmp_path: Path, postgres_url: str
) -> None:
    jobs = {"EVIDENCE_CLUE_DEADLINE_INTERVAL": "0.5"}  # the beat's schedule, every half second
    with beat_stack(tmp_path / "data", postgres_url, jobs) as (stack, env):
        with stack.runtime.session() as session:
            world = seed_clue_world(session)
        client, officer = stack.client, world.officer("a")
        with worker_and_beat(env, tmp_path):
            # Far enough ahead that a loaded machine still sends both before it passes.
            deadline = datetime.now(UTC) + timedelta(seconds=6)
            clue = client.post("/v1/clues", json=clue_body(world.entity_id), headers=officer)
            assert clue.status_code == 201, clue.text
            cid = clue.json()["clue_id"]
            sent = client.post(
                f"/v1/clues/{cid}/transfers",
                json={
                    "to_unit": world.units["b"],
                    "reason": "属地管辖",
                    "deadline": deadline.isoformat(),
                },
                headers=officer,
            )
            assert sent.status_code == 201, sent.text
            body = assist_body(world.entity_id, to_unit=world.units["b"])
            made = client.post(
                "/v1/assists", json=body | {"deadline": deadline.isoformat()}, headers=officer
            )
            assert made.status_code == 201, made.text
            aid = made.json()["assist_id"]
            assert made.json()["overdue"] is False

            def flagged() -> bool:
                a = client.get(f"/v1/assists/{aid}", headers=officer).json()
                c = client.get(f"/v1/clues/{cid}", headers=officer).json()
                return bool(a["overdue"] and c["overdue"])

            wait_until(flagged, 90, "Celery beat to flag both overdue")
            assist = client.get(f"/v1/assists/{aid}", headers=officer).json()
            mark = assist["steps"][-1]
            assert (mark["step"], mark["actor"]) == ("overdue", "system")
            assert datetime.fromisoformat(mark["at"]) >= deadline
            listed = client.get("/v1/clues", headers=officer).json()["items"]
            assert {c["clue_id"]: c["overdue"] for c in listed}[cid] is True
            assert "evidence.clue_deadlines" in (tmp_path / "worker.log").read_text()

            def sealed() -> bool:
                proofs = client.get(f"/v1/assists/{aid}/proofs", headers=officer).json()
                return all(e["bundle"]["status"] != "pending" for e in proofs["entries"])

            # the worker's seal task seals the flag's entry (the service runs no sealer)
            wait_until(sealed, 60, "the worker to seal the overdue entry")
            steps = client.get(f"/v1/clues/{cid}", headers=officer).json()["steps"]
            assert [s["step"] for s in steps].count("transfer_overdue") == 1
