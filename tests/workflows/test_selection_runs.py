"""A scheduled selection run on the time-skipping server: the Selection workflow its
Schedule starts admits a group's members, their trips add them to a dated subgroup, and
the run makes a second group equal to its selection once it has admitted everyone."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from activities.contracts.selections import SELECTION_WORKFLOW, SelectionInput, SelectionRunResult
from store.db import session_scope
from store.models import AdmissionRun, Group, GroupMember, Journey, Trip
from tests.conftest import running_worker
from tests.workflows.support import add_journey, add_relation, path_of
from worker.settings import Settings

WEEKLY = {
    "name": "Weekly webinar",
    "timezone": "Europe/Amsterdam",
    "triggers": [
        {
            "type": "selection",
            "group": "members",
            "schedule": {"days": ["mon"], "at": "08:00"},
        }
    ],
    "steps": [
        {"id": "attend", "type": "add_to_group", "group": "webinar", "subgroup": "w-{{ today }}"},
        {"id": "mirror", "type": "sync_group", "group": "this_week"},
    ],
}


def add_group(engine: Engine, key: str, members: list[int]) -> None:
    with session_scope(engine) as session:
        group = Group(key=key, name=key)
        session.add(group)
        session.flush()
        assert group.id is not None
        session.add_all(GroupMember(group_id=group.id, relation_id=r) for r in members)


def members_of(engine: Engine, key: str) -> set[int]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(GroupMember.relation_id)
            .join(Group, col(Group.id) == col(GroupMember.group_id))
            .where(col(Group.key) == key)
        ).all()
        return set(rows)


async def test_a_scheduled_selection_admits_the_group_and_syncs_another_once(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    client = time_env.client
    anna, bert, cor, dirk = (add_relation(engine, email=f"{n}@example.org") for n in "abcd")
    add_group(engine, "members", [anna, bert, cor])
    add_group(engine, "this_week", [bert, dirk])
    add_group(engine, "webinar", [])
    journey_id, _ = add_journey(engine, WEEKLY)

    async with running_worker(client, engine, settings):
        # What the trigger's Schedule starts every Monday at 08:00 (run by hand here).
        result = await client.execute_workflow(
            SELECTION_WORKFLOW,
            SelectionInput(journey_id=journey_id, trigger_index=0),
            id=f"selection:{journey_id}:0-by-hand",
            task_queue=settings.task_queue,
            result_type=SelectionRunResult,
        )
        assert result.run_id is not None
        with session_scope(engine) as session:
            trip_ids = list(session.exec(select(Trip.id).order_by(col(Trip.id))).all())
        for trip_id in trip_ids:
            await client.get_workflow_handle(trip_id).result()

        with session_scope(engine) as session:
            run = session.get(AdmissionRun, result.run_id)
            journey = session.get(Journey, journey_id)
            assert run is not None and journey is not None
            journey.status = "inactive"
            session.add(journey)
        # The Schedule may fire once more before deactivation removes it: nobody enters.
        later = await client.execute_workflow(
            SELECTION_WORKFLOW,
            SelectionInput(journey_id=journey_id, trigger_index=0),
            id=f"selection:{journey_id}:0-after",
            task_queue=settings.task_queue,
            result_type=SelectionRunResult,
            execution_timeout=timedelta(minutes=1),
        )

    assert (run.status, run.total, run.admitted, run.skipped) == ("finished", 3, 3, 0)
    assert run.source == {"group": "members"}
    assert run.trigger == "trigger 1: selection of group 'members', every mon at 08:00"
    assert len(trip_ids) == 3
    assert members_of(engine, "this_week") == {anna, bert, cor}, "dirk left, anna and cor joined"
    with session_scope(engine) as session:
        [subgroup] = session.exec(select(Group).where(col(Group.parent_id).is_not(None))).all()
    assert subgroup.key.startswith("w-20") and members_of(engine, subgroup.key) == {
        anna,
        bert,
        cor,
    }
    added = f"added to group `{subgroup.key}`"
    attends = sorted(path_of(engine, t)[0].detail for t in trip_ids)
    # Made once, by whichever trip came first.
    assert attends == [added, added, f"{added} (a new subgroup of `webinar`)"]
    for trip_id in trip_ids:
        mirror = path_of(engine, trip_id)[1]
        assert (mirror.outcome, mirror.detail) == (
            "grouped",
            f"group `this_week` made equal to run {run.id}'s selection",
        )
    assert later == SelectionRunResult(skipped=f"journey {journey_id} is not active")
