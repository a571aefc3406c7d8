"""Record the Temporal histories of representative trips into `tests/workflows/histories/`.

    .venv/bin/python -m tests.workflows.record_histories [--prefix NAME]

`test_replay.py` replays every committed file against the current workflow code, so a
change that would break trips already running fails `make test`. Record a new set
(with a new prefix) whenever the workflow's commands change on purpose, and keep the old
files for as long as trips recorded by that code may still be running (see the README,
"Changing the trip workflow"). The trips run on the time-skipping test server with a
real SMTP sink and a throwaway SQLite store; only the histories are kept.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.admission import anonymous_trip_id
from activities.admission_runs import members_run, start_run
from activities.admission_runs import workflow_id as run_workflow_id
from activities.contracts import (
    READ_BOUNCES_WORKFLOW,
    RECURRING_DATE_WORKFLOW,
    RESEND_EMAIL_WORKFLOW,
    ReadBouncesInput,
    RecurringDateInput,
    ResendEmailInput,
    resend_workflow_id,
)
from activities.contracts.exports import collector_id
from activities.contracts.imports import import_workflow_id
from activities.contracts.selections import SELECTION_WORKFLOW, SelectionInput
from activities.dispatch import dispatch_id, start_dispatch
from domain.pressure import ContactPressure, QuietHours
from store import events, journeys, ledger, policy
from store.db import make_engine, session_scope
from store.models import (
    AdmissionRun,
    ExportFile,
    Group,
    GroupMember,
    ImportJob,
    Segment,
    utcnow,
)
from tests.conftest import make_settings, running_worker
from tests.support.databases import fresh_database
from tests.support.smtp import SmtpSink
from tests.support.temporal import start_time_skipping
from tests.workflows.events_support import ABANDONED_CART, post_event
from tests.workflows.support import (
    add_journey,
    add_relation,
    add_template,
    path_of,
    start_trip,
    update_relation,
)
from worker.settings import Settings

HISTORIES = Path(__file__).parent / "histories"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

EVERY_STEP_TYPE: dict[str, Any] = {
    "name": "All step types",
    "timezone": "Europe/Amsterdam",
    "send_window": {"start": "00:00", "end": "23:59"},
    "steps": [
        {"id": "hello", "type": "send_email", "template": "hello"},
        {"id": "a_day", "type": "wait", "duration": "P1D"},
        {"id": "long_ago", "type": "wait_until", "until": "2020-01-01T09:00:00"},
        {"id": "office", "type": "wait_window", "start": "09:00", "end": "17:00"},
        {
            "id": "member",
            "type": "if",
            "condition": {"field": "member_since", "op": "is_set"},
            "then": "skip",
            "else": "nudge",
        },
        {"id": "nudge", "type": "send_email", "template": "hello"},
        {"id": "skip", "type": "jump", "target": "done"},
        {"id": "done", "type": "exit"},
    ],
}


def _closed_today() -> list[str]:
    # A send window open only the day after tomorrow: the send always has to wait for it.
    today = datetime.now(UTC).weekday()
    return [WEEKDAYS[(today + 2) % 7]]


Scenario = Callable[
    [WorkflowEnvironment, Engine, Settings, SmtpSink], Awaitable[list[WorkflowHandle[Any, Any]]]
]


async def every_step_type(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, sink: SmtpSink
) -> list[WorkflowHandle[Any, Any]]:
    """Two trips through every step type: one takes `then`, the other `else`."""
    add_template(engine, "hello", "Hello {{ relation.first_name }}", "<p>Hello</p>")
    journey = add_journey(engine, EVERY_STEP_TYPE)
    member = add_relation(engine, email="member@example.org", first_name="Mia")
    other = add_relation(engine, email="other@example.org", first_name="Otto")
    handles = [
        await start_trip(env.client, engine, settings.task_queue, journey, member),
        await start_trip(env.client, engine, settings.task_queue, journey, other),
    ]
    await env.sleep(timedelta(hours=1))
    update_relation(engine, member, custom={"member_since": "2026-01-01"})
    for handle in handles:
        await handle.result()
    return handles


async def send_window_wait(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, sink: SmtpSink
) -> list[WorkflowHandle[Any, Any]]:
    add_template(engine, "later", "Later", "<p>Later</p>")
    journey = add_journey(
        engine,
        {
            "name": "Send window",
            "timezone": "Europe/Amsterdam",
            "send_window": {"days": _closed_today(), "start": "09:00", "end": "17:00"},
            "steps": [{"id": "later", "type": "send_email", "template": "later"}],
        },
    )
    relation = add_relation(engine, email="window@example.org")
    handle = await start_trip(env.client, engine, settings.task_queue, journey, relation)
    await handle.result()
    return [handle]


async def cancelled_while_waiting(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, sink: SmtpSink
) -> list[WorkflowHandle[Any, Any]]:
    add_template(engine, "first", "First", "<p>1</p>")
    journey = add_journey(
        engine,
        {
            "name": "Cancelled",
            "steps": [
                {"id": "first", "type": "send_email", "template": "first"},
                {"id": "pause", "type": "wait", "duration": "P30D"},
                {"id": "second", "type": "send_email", "template": "first"},
            ],
        },
    )
    relation = add_relation(engine, email="cancel@example.org")
    handle = await start_trip(env.client, engine, settings.task_queue, journey, relation)
    for _ in range(400):
        if sink.to("cancel@example.org"):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # parked on the timer
    await handle.cancel()
    with contextlib.suppress(WorkflowFailureError):
        await handle.result()
    return [handle]


async def failed_send(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, sink: SmtpSink
) -> list[WorkflowHandle[Any, Any]]:
    """The relay says "try again later" for ever: the send gives up and the trip goes on."""
    sink.handler.refuse["busy@example.org"] = "451 4.3.0 try again later"
    add_template(engine, "busy", "Busy", "<p>busy</p>")
    journey = add_journey(
        engine,
        {
            "name": "Failed send",
            "steps": [
                {"id": "try", "type": "send_email", "template": "busy"},
                {"id": "after", "type": "exit"},
            ],
        },
    )
    relation = add_relation(engine, email="busy@example.org")
    handle = await start_trip(env.client, engine, settings.task_queue, journey, relation)
    await handle.result()
    return [handle]


async def resent_send(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, sink: SmtpSink
) -> list[WorkflowHandle[Any, Any]]:
    """A send cut off after DATA (uncertain), then made again on an operator's request:
    the ResendEmail workflow's history."""
    sink.handler.hang_up.add("cut@example.org")
    add_template(engine, "cut", "Cut", "<p>cut</p>")
    journey = add_journey(
        engine, {"name": "Resent", "steps": [{"id": "hi", "type": "send_email", "template": "cut"}]}
    )
    relation = add_relation(engine, email="cut@example.org")
    trip = await start_trip(env.client, engine, settings.task_queue, journey, relation)
    await trip.result()
    sink.handler.hang_up.clear()
    key = ledger.send_key(trip.id, "hi")
    entry = ledger.get(engine, key)
    assert entry is not None and entry.status == "uncertain"
    handle = await env.client.start_workflow(
        RESEND_EMAIL_WORKFLOW,
        ResendEmailInput(send_key=key, attempts=entry.attempts),
        id=resend_workflow_id(key, entry.attempts),
        task_queue=settings.task_queue,
    )
    await handle.result()
    return [handle]


async def waited_for_events(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, sink: SmtpSink
) -> list[WorkflowHandle[Any, Any]]:
    """wait_for_event three ways: the event signalled while waiting, found in the store
    (it came before the trip reached the step), and the timeout; plus an event's
    Dispatch workflow."""
    add_template(engine, "reminder", "Your cart", "<p>{{ event.items }} items</p>")
    journey_id, _ = add_journey(engine, ABANDONED_CART)
    people = [add_relation(engine, email=f"{n}@example.org") for n in ("ann", "bob", "cat")]
    client, queue = env.client, settings.task_queue
    first = await post_event(client, engine, queue, people[0], "cart_abandoned", items=2)
    for person in people[1:]:
        await post_event(client, engine, queue, person, "cart_abandoned", items=2)
    await post_event(client, engine, queue, people[2], "purchase")
    await env.sleep(timedelta(hours=1))
    await post_event(client, engine, queue, people[0], "purchase")
    await env.sleep(timedelta(hours=4))
    trips = [env.client.get_workflow_handle(f"trip:{journey_id}:{p}:1") for p in people]
    for handle in trips:
        await _closed(handle)
    return [*trips, env.client.get_workflow_handle(dispatch_id(event_id=first))]


async def goal_reached(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, sink: SmtpSink
) -> list[WorkflowHandle[Any, Any]]:
    """A goal event (exit_on) ends a trip during its wait."""
    add_template(engine, "nudge", "Still thinking?", "<p>hi</p>")
    journey_id, _ = add_journey(
        engine,
        {
            "name": "Nudge",
            "triggers": [{"type": "event", "event": "viewed"}],
            "exit_on": [{"event": "purchase"}],
            "steps": [
                {"id": "day", "type": "wait", "duration": "P1D"},
                {"id": "nudge", "type": "send_email", "template": "nudge"},
            ],
        },
    )
    person = add_relation(engine, email="goal@example.org")
    await post_event(env.client, engine, settings.task_queue, person, "viewed")
    await env.sleep(timedelta(hours=1))
    await post_event(env.client, engine, settings.task_queue, person, "purchase")
    handle = env.client.get_workflow_handle(f"trip:{journey_id}:{person}:1")
    await _closed(handle)
    return [handle]


async def admission_run(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, sink: SmtpSink
) -> list[WorkflowHandle[Any, Any]]:
    """An AdmitMembers run over a segment's three current members."""
    add_template(engine, "hi", "Hi", "<p>hi</p>")
    journey_id, _ = add_journey(
        engine,
        {
            "name": "Members",
            "triggers": [{"type": "segment_entry", "segment": "all"}],
            "steps": [{"id": "hi", "type": "send_email", "template": "hi"}],
        },
    )
    with session_scope(engine) as session:
        session.add(Segment(key="all", name="All", condition={"field": "email", "op": "is_set"}))
    for number in range(3):
        add_relation(engine, email=f"member{number}@example.org")
    with session_scope(engine) as session:
        (run,) = members_run(session, journeys.get(session, journey_id))
        run_id = run.id
    assert run_id is not None
    await start_run(env.client, settings.task_queue, run_id)
    handle = env.client.get_workflow_handle(run_workflow_id(run_id))
    await _closed(handle)
    return [handle]


async def _closed(handle: WorkflowHandle[Any, Any]) -> None:
    """Poll in real time: a handle looked up by id does not unlock time skipping."""
    for _ in range(400):
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"{handle.id} did not end")


async def recurring_date(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, sink: SmtpSink
) -> list[WorkflowHandle[Any, Any]]:
    """A RecurringDate run (as its schedule starts it) admitting today's birthday."""
    add_template(engine, "card", "Happy birthday", "<p>hurray</p>")
    journey_id, _ = add_journey(
        engine,
        {
            "name": "Birthday",
            "timezone": "UTC",
            "triggers": [{"type": "recurring_date", "field": "birth_date"}],
            "steps": [{"id": "card", "type": "send_email", "template": "card"}],
        },
    )
    today = datetime.now(UTC).date()
    add_relation(engine, email="born@example.org", birth_date=today.replace(year=1988))  # leap
    handle = await env.client.start_workflow(
        RECURRING_DATE_WORKFLOW,
        RecurringDateInput(journey_id=journey_id, trigger_index=0),
        id=f"recurring:{journey_id}:0-history",
        task_queue=settings.task_queue,
    )
    await handle.result()
    return [handle]


async def read_bounces(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, sink: SmtpSink
) -> list[WorkflowHandle[Any, Any]]:
    """A ReadBounces run as its schedule starts it (its commands do not depend on what
    the mailbox holds: one activity, whatever it reads)."""
    handle = await env.client.start_workflow(
        READ_BOUNCES_WORKFLOW,
        ReadBouncesInput(),
        id="read-bounces-history",
        task_queue=settings.task_queue,
    )
    await handle.result()
    return [handle]


async def unsubscribed(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, sink: SmtpSink
) -> list[WorkflowHandle[Any, Any]]:
    """The unsubscribe step: from all mail, then (a day later) from the journey itself,
    which ends the trip there."""
    journey = add_journey(
        engine,
        {
            "name": "Unsubscribe",
            "steps": [
                {"id": "stop_mail", "type": "unsubscribe", "scope": "email"},
                {"id": "a_day", "type": "wait", "duration": "P1D"},
                {"id": "leave", "type": "unsubscribe", "scope": "journey"},
            ],
        },
    )
    relation = add_relation(engine, email="unsubscribe@example.org")
    handle = await start_trip(env.client, engine, settings.task_queue, journey, relation)
    await handle.result()
    return [handle]


async def held_back(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, sink: SmtpSink
) -> list[WorkflowHandle[Any, Any]]:
    """Contact pressure: a mail held back by the quiet hours in the relation's own
    timezone (the trip waits for what the send activity answers), then sent."""
    with session_scope(engine) as session:
        policy.save(session, ContactPressure(quiet_hours=QuietHours(start="00:00", end="23:59")))
    add_template(engine, "quiet", "Quiet", "<p>Quiet</p>")
    journey = add_journey(
        engine,
        {
            "name": "Held back",
            "steps": [{"id": "quiet", "type": "send_email", "template": "quiet"}],
        },
    )
    relation = add_relation(engine, email="night@example.org", timezone="Asia/Tokyo")
    handle = await start_trip(env.client, engine, settings.task_queue, journey, relation)
    await handle.result()
    return [handle]


CRM_STEPS: dict[str, Any] = {
    "name": "CRM steps",
    "timezone": "Europe/Amsterdam",
    "triggers": [{"type": "event", "event": "sign_up", "without_relation": True}],
    "steps": [
        {
            "id": "known",
            "type": "lookup_relation",
            "match": [{"field": "email", "from": "event.email"}],
            "on_found": "note",
            "on_not_found": "join",
        },
        {
            "id": "join",
            "type": "upsert_relation",
            "set": [
                {"field": "email", "from": "event.email", "unique": True},
                {"field": "first_name", "from": "event.name"},
            ],
        },
        {
            "id": "note",
            "type": "update_relation",
            "set": [{"field": "city", "from": "event.city"}, {"field": "member", "value": True}],
        },
        {"id": "grp", "type": "add_to_group", "group": "members", "subgroup": "m-{{ today }}"},
        {"id": "ungrp", "type": "remove_from_group", "group": "trial"},
        {"id": "token", "type": "encrypt", "fields": ["id", "email"]},
        {"id": "out", "type": "export", "fields": ["id", "email"], "bucket": {"every": "P1D"}},
        {"id": "a_day", "type": "wait", "duration": "P1D"},
        {"id": "forget", "type": "delete_relation"},
    ],
}


async def crm_steps(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, sink: SmtpSink
) -> list[WorkflowHandle[Any, Any]]:
    """A sign-up that names no relation, through every CRM step: the relation is found or
    made, updated, grouped, given a token, exported (its bucket's collector is the second
    history) and a day later deleted."""
    for key in ("members", "trial"):
        with session_scope(engine) as session:
            session.add(Group(key=key, name=key))
    journey_id, _ = add_journey(engine, CRM_STEPS)
    payload = {"email": "new@example.org", "name": "Nel", "city": "Delft"}
    trip = await _form_post(env, engine, settings, journey_id, "sign_up", payload)
    await _skip_from(env, engine, trip, "a_day", timedelta(days=1, hours=1))
    with session_scope(engine) as session:
        bucket = session.exec(select(ExportFile.bucket)).one()
    collector = env.client.get_workflow_handle(collector_id(journey_id, "out", bucket))
    await _closed(collector)
    return [trip, collector]


async def _form_post(
    env: WorkflowEnvironment,
    engine: Engine,
    settings: Settings,
    journey_id: int,
    event_type: str,
    payload: dict[str, Any],
) -> WorkflowHandle[Any, Any]:
    """An event that names no relation, dispatched: the trip it starts in the journey."""
    with session_scope(engine) as session:
        stored = events.ingest(
            session,
            events.NewEvent(type=event_type, relation=None, payload=payload, occurred_at=utcnow()),
            now=utcnow(),
            loc=("event",),
        )
        event_id = stored.event.id
    assert event_id is not None
    await start_dispatch(env.client, settings.task_queue, event_id=event_id)
    return env.client.get_workflow_handle(anonymous_trip_id(journey_id, event_id))


async def _skip_from(
    env: WorkflowEnvironment,
    engine: Engine,
    trip: WorkflowHandle[Any, Any],
    step_id: str,
    by: timedelta,
) -> None:
    """Once the trip waits at `step_id`, skip `by` and wait for it to end."""
    for _ in range(800):
        if step_id in [p.step_id for p in path_of(engine, trip.id)]:
            break
        await asyncio.sleep(0.025)
    await asyncio.sleep(0.5)  # parked on the timer
    # A handle looked up by id does not unlock time skipping: skip by hand.
    await env.sleep(by)
    await _closed(trip)


async def forward_friend(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, sink: SmtpSink
) -> list[WorkflowHandle[Any, Any]]:
    """Forward-to-a-friend: a form post adds the friend (add_relation), invites them, and
    deletes them when 30 days pass without a registration."""
    add_template(engine, "invite", "Join us, {{ relation.first_name }}", "<p>join</p>")
    journey_id, _ = add_journey(
        engine,
        {
            "name": "Forward to a friend",
            "triggers": [{"type": "event", "event": "forward_to_friend", "without_relation": True}],
            "steps": [
                {
                    "id": "add_friend",
                    "type": "add_relation",
                    "set": [
                        {"field": "email", "from": "event.friend_email"},
                        {"field": "first_name", "from": "event.friend_name"},
                    ],
                },
                {"id": "invite", "type": "send_email", "template": "invite"},
                {
                    "id": "registered",
                    "type": "wait_for_event",
                    "event": "registration",
                    "timeout": "P30D",
                    "on_received": "keep",
                    "on_timeout": "forget",
                },
                {"id": "forget", "type": "delete_relation"},
                {"id": "keep", "type": "exit"},
            ],
        },
    )
    payload = {"friend_email": "femke@example.org", "friend_name": "Femke"}
    trip = await _form_post(env, engine, settings, journey_id, "forward_to_friend", payload)
    await _skip_from(env, engine, trip, "registered", timedelta(days=31))
    return [trip]


async def selection_run(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, sink: SmtpSink
) -> list[WorkflowHandle[Any, Any]]:
    """A Selection run as its Schedule starts it: AdmitMembers admits a group's members,
    then (run-finish) makes another group equal to the selection; and one of its trips."""
    people = [add_relation(engine, email=f"selected{n}@example.org") for n in range(2)]
    with session_scope(engine) as session:
        for key, members in (("members", people), ("mirror", [])):
            group = Group(key=key, name=key)
            session.add(group)
            session.flush()
            assert group.id is not None
            session.add_all(GroupMember(group_id=group.id, relation_id=r) for r in members)
    journey_id, _ = add_journey(
        engine,
        {
            "name": "Selection",
            "triggers": [{"type": "selection", "group": "members"}],
            "steps": [{"id": "mirror", "type": "sync_group", "group": "mirror"}],
        },
    )
    selection = await env.client.start_workflow(
        SELECTION_WORKFLOW,
        SelectionInput(journey_id=journey_id, trigger_index=0),
        id=f"selection:{journey_id}:0-history",
        task_queue=settings.task_queue,
    )
    result = await selection.result()
    run = env.client.get_workflow_handle(run_workflow_id(result["run_id"]))
    trip = env.client.get_workflow_handle(f"trip:{journey_id}:{people[0]}:1")
    await _closed(trip)
    return [selection, run, trip]


async def import_step(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, sink: SmtpSink
) -> list[WorkflowHandle[Any, Any]]:
    """An import step: its ImportFile child reads a file with a new, an updated and a
    refused row, then the trip goes to on_error and an admission run sends the new
    relation on from `new`'s step."""
    assert settings.import_dir is not None
    settings.import_dir.mkdir(parents=True, exist_ok=True)
    (settings.import_dir / "members.csv").write_text(
        "E-mail,Voornaam\nold@example.org,Olga\nnew@example.org,Nel\nno-address,X\n"
    )
    operator = add_relation(engine, email="ops@example.org")
    add_relation(engine, email="old@example.org")
    journey = add_journey(
        engine,
        {
            "name": "Import",
            "steps": [
                {
                    "id": "members",
                    "type": "import",
                    "file": "members.csv",
                    "map": {"E-mail": "email", "Voornaam": "first_name"},
                    "unique": ["email"],
                    "new": "welcome",
                    "on_error": "tell_support",
                },
                {"id": "welcome", "type": "exit"},
                {"id": "tell_support", "type": "exit"},
            ],
        },
    )
    trip = await start_trip(env.client, engine, settings.task_queue, journey, operator)
    assert await trip.result() == "members > tell_support"
    with session_scope(engine) as session:
        job_id = session.exec(select(ImportJob.id)).one()
        run_id = session.exec(select(AdmissionRun.id)).first()
    assert job_id is not None and run_id is not None
    run = env.client.get_workflow_handle(run_workflow_id(run_id))
    await _closed(run)
    return [trip, env.client.get_workflow_handle(import_workflow_id(job_id)), run]


SCENARIOS: dict[str, Scenario] = {
    "every-step-type": every_step_type,
    "send-window-wait": send_window_wait,
    "cancelled-while-waiting": cancelled_while_waiting,
    "failed-send": failed_send,
    "resent-send": resent_send,
    "waited-for-events": waited_for_events,
    "goal-reached": goal_reached,
    "admission-run": admission_run,
    "recurring-date": recurring_date,
    "unsubscribed": unsubscribed,
    "held-back": held_back,
    "read-bounces": read_bounces,
    "crm-steps": crm_steps,
    "selection-run": selection_run,
    "import-step": import_step,
    "forward-friend": forward_friend,
}


@asynccontextmanager
async def trip_world() -> AsyncIterator[tuple[WorkflowEnvironment, Engine, Settings, SmtpSink]]:
    """A time-skipping server, a throwaway SQLite store, a real SMTP sink and the real
    worker, all gone afterwards (also used by benchmarks/history.py)."""
    with tempfile.TemporaryDirectory() as tmp, fresh_database("sqlite", Path(tmp)) as url:
        sink = SmtpSink().start()
        env = await start_time_skipping()
        engine = make_engine(url)
        settings = make_settings(
            url, sink, import_dir=Path(tmp) / "imports", export_dir=Path(tmp) / "exports"
        )
        try:
            async with running_worker(env.client, engine, settings):
                yield env, engine, settings, sink
        finally:
            engine.dispose()
            await env.shutdown()
            sink.stop()


async def record(prefix: str, only: list[str] | None = None) -> list[Path]:
    written: list[Path] = []
    HISTORIES.mkdir(exist_ok=True)
    for name, scenario in SCENARIOS.items():
        if only and name not in only:
            continue
        async with trip_world() as (env, engine, settings, sink):
            handles = await scenario(env, engine, settings, sink)
            for number, handle in enumerate(handles, start=1):
                history = await handle.fetch_history()
                path = HISTORIES / f"{prefix}-{name}-{number}.json"
                path.write_text(history.to_json())
                written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", required=True, help="e.g. the workflow generation, 'v1'")
    parser.add_argument(
        "--only", nargs="+", choices=list(SCENARIOS), help="record these scenarios only"
    )
    args = parser.parse_args()
    for path in asyncio.run(record(args.prefix, args.only)):
        print(path)


if __name__ == "__main__":
    main()
