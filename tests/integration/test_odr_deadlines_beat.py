"""Mediations past their deadline closed by a real Celery worker and beat on a real Redis
(job ``odr-deadlines``, task ``evidence.odr_deadlines``), on PostgreSQL.

The service runs no timers of its own here: only the beat's schedule, every half second
(``EVIDENCE_ODR_DEADLINE_INTERVAL``), reaches the worker, which closes the mediation once
(reason ``deadline``) and resolves its complaint; its entry is sealed by the worker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from anchoring.queue import get_entry
from evidence_api.complaints.models import Complaint
from evidence_api.core.models import OrgUnit
from evidence_api.registry.models import Platform
from tests.support.beat import beat_stack, worker_and_beat
from tests.support.clues import seed_clue_world
from tests.support.odr import new_complaint, open_case
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def test_a_mediation_past_its_deadline_closed_by_celery_beat(
    tmp_path: Path, postgres_url: str
) -> None:
    jobs = {"EVIDENCE_ODR_DEADLINE_INTERVAL": "0.5"}  # the beat's schedule, every half second
    with beat_stack(tmp_path / "data", postgres_url, jobs) as (stack, env):
        with stack.runtime.session() as session:
            world = seed_clue_world(session)
            unit_id = session.execute(
                select(OrgUnit.id).where(OrgUnit.code == world.units["a"])
            ).scalar_one()
            platform_id = session.execute(
                select(Platform.id).where(Platform.code == next(iter(world.platforms)))
            ).scalar_one()
        complaint_id, _ = new_complaint(
            stack, entity_id=world.entity_id, platform_id=platform_id, unit_id=unit_id
        )
        client, officer = stack.client, world.officer("a")
        with worker_and_beat(env, tmp_path):
            # A day's mediation opened a day ago, less six seconds: its deadline comes soon.
            deadline = datetime.now(UTC) + timedelta(seconds=6)
            odr_id = open_case(stack, complaint_id, days=1, at=deadline - timedelta(days=1))
            page = f"/v1/odr/{odr_id}"
            assert client.get(page, headers=officer).json()["status"] == "open"

            def closed() -> bool:
                return bool(client.get(page, headers=officer).json()["status"] == "failed")

            wait_until(closed, 90, "Celery beat to close the mediation")
            answer = client.get(page, headers=officer).json()
            last = answer["events"][-1]
            assert (last["kind"], last["party"], last["actor"]) == (
                "failed",
                "system",
                "system",
            )
            assert datetime.fromisoformat(last["at"]) >= deadline - timedelta(milliseconds=1)
            assert answer["outcome"]["reason"] == "deadline"
            assert [e["kind"] for e in answer["events"]].count("failed") == 1
            with stack.runtime.session() as session:
                status = session.execute(
                    select(Complaint.status).where(Complaint.id == complaint_id)
                ).scalar_one()
            assert status == "resolved"
            assert "evidence.odr_deadlines" in (tmp_path / "worker.log").read_text()

            def sealed() -> bool:
                with stack.runtime.session() as session:
                    record = get_entry(session.connection(), last["entry_id"])
                return record is not None and record.leaf_index is not None

            wait_until(sealed, 60, "the worker to seal the closing entry")
