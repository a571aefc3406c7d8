"""The group steps' activities on SQLite and PostgreSQL: the membership change, the
segments it moves, the path row, one change under a retried activity; a subgroup named
from the day and the event; sync_group once per run; refusals at activation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.admission_runs import FINISHED
from activities.contracts import PassageKey
from activities.contracts.groups import (
    AddToGroupInput,
    RemoveFromGroupInput,
    SyncGroupPassageInput,
)
from activities.contracts.selections import FinishRunInput, SyncedGroup
from activities.group_steps import GroupStepActivities
from activities.selections import SelectionActivities
from store import journeys, relations
from store.db import session_scope
from store.errors import Invalid
from store.membership import reevaluate
from store.models import (
    AdmissionRun,
    Event,
    Group,
    GroupMember,
    Journey,
    Passage,
    Relation,
    RunMember,
    Segment,
    SegmentChange,
    SegmentMember,
    StepEffect,
    Trip,
    utcnow,
)
from tests.workflows.support import add_journey

QUEUE = "nobody-polls-this-queue"
ENTERED = datetime(2027, 2, 28, 23, 30, tzinfo=UTC)  # 1 March in Amsterdam


def passage(trip_id: str, seq: int, step_id: str, step_type: str) -> PassageKey:
    return PassageKey(
        trip_id=trip_id, seq=seq, step_id=step_id, step_type=step_type, entered_at=ENTERED
    )


def groups(engine: Engine, **members: list[int]) -> dict[str, int]:
    """Groups with these members, their segments evaluated (as the API leaves them)."""
    with session_scope(engine) as session:
        ids = {}
        for key, relation_ids in members.items():
            group = Group(key=key, name=key)
            session.add(group)
            session.flush()
            assert group.id is not None
            session.add_all(GroupMember(group_id=group.id, relation_id=r) for r in relation_ids)
            ids[key] = group.id
        session.flush()
        for relation_id in {r for rs in members.values() for r in rs}:
            reevaluate(session, relation_id, cause="groups", now=utcnow())
        return ids


def people(engine: Engine, count: int) -> list[int]:
    with Session(engine) as session:
        made = [relations.create(session, {"email": f"p{i}@example.org"}) for i in range(count)]
        return [r.id for r in made if r.id is not None]


def segment(engine: Engine, key: str, condition: dict[str, Any]) -> None:
    with session_scope(engine) as session:
        session.add(Segment(key=key, name=key, condition=condition))


def trip(
    engine: Engine, journey_id: int, relation_id: int | None, key: str | None = None, **extra: Any
) -> str:
    trip_id = f"trip:{journey_id}:{relation_id}:1"
    with session_scope(engine) as session:
        session.add(
            Trip(
                id=trip_id,
                journey_id=journey_id,
                journey_version=1,
                relation_id=relation_id,
                admitted_relation_id=relation_id,
                number=1,
                admission_key=key,
                **extra,
            )
        )
    return trip_id


def members_of(engine: Engine, key: str) -> set[int]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(GroupMember.relation_id)
            .join(Group, col(Group.id) == col(GroupMember.group_id))
            .where(col(Group.key) == key)
        ).all()
        return set(rows)


def path(engine: Engine, trip_id: str) -> list[tuple[int, str, str]]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(Passage).where(col(Passage.trip_id) == trip_id).order_by(col(Passage.seq))
        ).all()
        return [(p.seq, p.outcome, p.detail) for p in rows]


def count(engine: Engine, model: Any, *where: Any) -> int:
    with session_scope(engine) as session:
        return len(session.exec(select(model).where(*where)).all())


ADD_THEN_REMOVE: dict[str, Any] = {
    "name": "Webinar",
    "timezone": "Europe/Amsterdam",
    "steps": [
        {"id": "attend", "type": "add_to_group", "group": "webinar"},
        {"id": "drop", "type": "remove_from_group", "group": "webinar"},
    ],
}


async def test_add_and_remove_change_the_group_once_and_move_its_segments(
    time_env: WorkflowEnvironment, any_engine: Engine
) -> None:
    engine = any_engine
    segment(engine, "attendees", {"in_group": "webinar"})
    [anna] = people(engine, 1)
    groups(engine, webinar=[])
    journey_id, _ = add_journey(engine, ADD_THEN_REMOVE)
    trip_id = trip(engine, journey_id, anna)
    steps = GroupStepActivities(engine, time_env.client, QUEUE)

    add = AddToGroupInput(
        passage=passage(trip_id, 1, "attend", "add_to_group"), relation_id=anna, group="webinar"
    )
    first = await ActivityEnvironment().run(steps.add_to_group, add)
    again = await ActivityEnvironment().run(steps.add_to_group, add)  # a retried attempt
    assert again == first
    assert first.detail == "added to group `webinar`; entered segment `attendees`"
    assert members_of(engine, "webinar") == {anna}
    cause = col(SegmentChange.cause) == f"group-step:{trip_id}/attend"
    assert count(engine, SegmentChange, cause) == 1, "one change, dispatched once"
    assert count(engine, StepEffect, col(StepEffect.trip_id) == trip_id) == 1

    remove = RemoveFromGroupInput(
        passage=passage(trip_id, 2, "drop", "remove_from_group"), relation_id=anna, group="webinar"
    )
    removed = await ActivityEnvironment().run(steps.remove_from_group, remove)
    assert removed.detail == "removed from group `webinar`; left segment `attendees`"
    assert members_of(engine, "webinar") == set()
    assert count(engine, SegmentMember, col(SegmentMember.relation_id) == anna) == 0
    # Not a member (any more): the way out is the same, nothing changes.
    twice = remove.model_copy(update={"passage": passage(trip_id, 3, "drop2", "remove_from_group")})
    unchanged = await ActivityEnvironment().run(steps.remove_from_group, twice)
    assert (unchanged.detail, unchanged.trip_running, unchanged.closed) == (
        "not in group `webinar`",
        True,
        False,
    )
    assert path(engine, trip_id) == [
        (1, "grouped", "added to group `webinar`; entered segment `attendees`"),
        (2, "grouped", "removed from group `webinar`; left segment `attendees`"),
        (3, "unchanged", "not in group `webinar`"),
    ]


async def test_a_subgroup_is_named_from_the_local_day_and_the_event_and_made_once(
    time_env: WorkflowEnvironment, any_engine: Engine
) -> None:
    engine = any_engine
    anna, bert, gone = people(engine, 3)
    ids = groups(engine, webinar=[])
    journey_id, _ = add_journey(engine, ADD_THEN_REMOVE)
    with session_scope(engine) as session:
        event = Event(
            relation_id=anna, type="registration", payload={"city": "Den Haag"}, occurred_at=ENTERED
        )
        session.add(event)
        session.flush()
        event_id = event.id
    trips = [trip(engine, journey_id, r, event_id=event_id) for r in (anna, bert, gone)]
    with session_scope(engine) as session:
        session.delete(session.get(Relation, gone))
    steps = GroupStepActivities(engine, time_env.client, QUEUE)

    def step(trip_id: str, relation_id: int) -> AddToGroupInput:
        return AddToGroupInput(
            passage=passage(trip_id, 1, "attend", "add_to_group"),
            relation_id=relation_id,
            group="webinar",
            subgroup="webinar-{{ today }}-{{ event.city }}",
            zone="Europe/Amsterdam",
            event_id=event_id,
            ends_trip=True,
        )

    # Two trips make the same subgroup at the same moment: one row, both members.
    both = await asyncio.gather(
        ActivityEnvironment().run(steps.add_to_group, step(trips[0], anna)),
        ActivityEnvironment().run(steps.add_to_group, step(trips[1], bert)),
    )
    erased = await ActivityEnvironment().run(steps.add_to_group, step(trips[2], gone))

    key = "webinar-2027-03-01-Den-Haag"
    assert sorted(r.detail for r in both) == [
        f"added to group `{key}`",
        f"added to group `{key}` (a new subgroup of `webinar`)",
    ]
    assert all(r.closed for r in both), "the last step closes the trip with its passage"
    assert (erased.relation_exists, erased.closed) == (False, True)
    with session_scope(engine) as session:
        subgroups = session.exec(select(Group).where(col(Group.parent_id) == ids["webinar"])).all()
        statuses = [session.get(Trip, t).status for t in trips]  # type: ignore[union-attr]
    assert [(g.key, g.name) for g in subgroups] == [(key, key)]
    assert members_of(engine, key) == {anna, bert} and members_of(engine, "webinar") == set()
    assert statuses == ["completed"] * 3
    assert path(engine, trips[2]) == [(1, "relation_erased", "the relation no longer exists")]


SYNCED: dict[str, Any] = {
    "name": "Weekly",
    "triggers": [{"type": "selection", "group": "members", "schedule": {"days": ["mon"]}}],
    "steps": [
        {"id": "mirror", "type": "sync_group", "group": "this_week"},
        {"id": "later", "type": "wait", "duration": "P1D"},
    ],
}


async def test_sync_group_adds_and_removes_exactly_the_difference_once_per_run(
    time_env: WorkflowEnvironment, any_engine: Engine
) -> None:
    engine = any_engine
    segment(engine, "this_week", {"in_group": "this_week"})
    one, two, three, four, other = people(engine, 5)
    groups(engine, this_week=[one, two, three], members=[two, three, four])
    journey_id, _ = add_journey(engine, SYNCED)
    with session_scope(engine) as session:
        run = AdmissionRun(
            journey_id=journey_id,
            journey_version=1,
            key="selection:0:w1",
            trigger="trigger 1",
            trigger_index=0,
            source={"group": "members"},
            admission_key="selection:0:w1",
            status=FINISHED,
        )
        session.add(run)
        session.flush()
        run_id = run.id
        assert run_id is not None
        session.add_all(RunMember(run_id=run_id, relation_id=r) for r in (two, three, four))
    selected = [trip(engine, journey_id, r, key="selection:0:w1") for r in (two, three, four)]
    manual = trip(engine, journey_id, other)
    steps = GroupStepActivities(engine, time_env.client, QUEUE)
    runs = SelectionActivities(engine, time_env.client, QUEUE)

    async def pass_step(trip_id: str) -> str:
        data = SyncGroupPassageInput(
            passage=passage(trip_id, 1, "mirror", "sync_group"), group="this_week"
        )
        return (await ActivityEnvironment().run(steps.sync_group_passage, data)).detail

    # The three trips pass the step (one of them before the run finished: the passages
    # only say which run does it), the run finishes, and finish_run is retried.
    assert (
        await pass_step(selected[0]) == f"group `this_week` made equal to run {run_id}'s selection"
    )
    first = await ActivityEnvironment().run(runs.finish_run, FinishRunInput(run_id=run_id))
    for trip_id in selected[1:]:
        await pass_step(trip_id)
    again = await ActivityEnvironment().run(runs.finish_run, FinishRunInput(run_id=run_id))

    expected = [SyncedGroup(step_id="mirror", group="this_week", added=1, removed=1)]
    assert first.synced == again.synced == expected
    assert members_of(engine, "this_week") == {two, three, four}
    assert await pass_step(manual) == "no run: nothing to sync"
    assert [p[1] for t in selected for p in path(engine, t)] == ["grouped"] * 3
    assert path(engine, manual) == [(1, "unchanged", "no run: nothing to sync")]
    # Who joined and who left had their segments re-evaluated, once.
    with session_scope(engine) as session:
        changes = session.exec(
            select(SegmentChange.relation_id, SegmentChange.entered, SegmentChange.left).where(
                col(SegmentChange.cause) == f"sync_group:{run_id}/mirror"
            )
        ).all()
        effect = session.get(StepEffect, f"run:{run_id}/mirror")
    assert sorted(changes) == [(one, [], ["this_week"]), (four, ["this_week"], [])]
    assert effect is not None and effect.result["done"] is True


def test_activation_refuses_unknown_groups_and_sources_and_a_sync_without_selection(
    any_engine: Engine,
) -> None:
    engine = any_engine
    with session_scope(engine) as session:
        session.add(Group(key="known", name="Known"))

    def problems(spec: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
        with Session(engine) as session:
            journey = Journey(name=spec["name"], status="draft", definition=spec)
            session.add(journey)
            session.commit()
            assert journey.id is not None
            with pytest.raises(Invalid) as raised:
                journeys.activate(session, journey.id)
        return [(p.loc[2:], p.msg) for p in raised.value.problems]

    assert problems(
        {
            "name": "Steps",
            "steps": [
                {"id": "add", "type": "add_to_group", "group": "nowhere"},
                {"id": "mirror", "type": "sync_group", "group": "known"},
            ],
        }
    ) == [
        (("steps", 0, "group"), "step 'add': group 'nowhere' does not exist"),
        (
            ("steps", 1, "type"),
            "step 'mirror': sync_group makes a group equal to a selection run's relations: "
            "the journey needs a `selection` trigger",
        ),
    ]
    assert problems(
        {
            "name": "Sources",
            "triggers": [
                {"type": "selection", "group": "nowhere"},
                {"type": "selection", "segment": "nobody"},
                {"type": "selection", "journey": 999},
            ],
            "steps": [{"id": "mirror", "type": "sync_group", "group": "known"}],
        }
    ) == [
        (("triggers", 0, "group"), "trigger 1: group 'nowhere' does not exist"),
        (("triggers", 1, "segment"), "trigger 2: segment 'nobody' does not exist"),
        (("triggers", 2, "journey"), "trigger 3: journey 999 does not exist"),
    ]
