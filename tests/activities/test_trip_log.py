"""The trip path: what support staff read, written exactly once per passage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from temporalio.testing import ActivityEnvironment

from activities.contracts import (
    FinishTripInput,
    Outcome,
    PassageKey,
    PassageWrite,
    RecordPassagesInput,
    RecordStepInput,
    TripStatus,
)
from activities.trip_log import TripLogActivities
from tests.activities.data import ENTERED, passage, path, seed_trip, trip

WAKE = ENTERED + timedelta(days=7)


def test_a_retried_record_step_leaves_one_row(any_engine: Engine) -> None:
    seeded = seed_trip(any_engine, email="a@example.org")
    log = TripLogActivities(any_engine)
    waiting = RecordStepInput(
        passage=passage(seeded.trip_id, seq=1, step_id="wait_week", step_type="wait"),
        outcome="waiting",
        detail="wait 7 days",
        waiting_until=WAKE,
    )
    env = ActivityEnvironment()
    env.run(log.record_step, waiting)
    env.run(log.record_step, waiting)

    rows = path(any_engine, seeded.trip_id)
    assert [(r.seq, r.step_id, r.outcome, r.detail) for r in rows] == [
        (1, "wait_week", "waiting", "wait 7 days")
    ]
    assert rows[0].entered_at == ENTERED
    assert rows[0].waiting_until == WAKE
    row = trip(any_engine, seeded.trip_id)
    assert (row.current_step, row.waiting_until) == ("wait_week", WAKE)


def test_the_next_step_moves_the_trip_and_a_rewrite_updates_the_outcome(
    any_engine: Engine,
) -> None:
    seeded = seed_trip(any_engine, email="a@example.org")
    log = TripLogActivities(any_engine)
    env = ActivityEnvironment()
    env.run(
        log.record_step,
        RecordStepInput(
            passage=passage(seeded.trip_id, 1, "wait_week", "wait"),
            outcome="waiting",
            waiting_until=WAKE,
        ),
    )
    jump = passage(seeded.trip_id, 2, "to_end", "jump")
    env.run(log.record_step, RecordStepInput(passage=jump, outcome="pending"))
    env.run(log.record_step, RecordStepInput(passage=jump, outcome="jumped", detail="to end"))

    rows = path(any_engine, seeded.trip_id)
    assert [(r.seq, r.step_id, r.outcome) for r in rows] == [
        (1, "wait_week", "waiting"),
        (2, "to_end", "jumped"),
    ]
    row = trip(any_engine, seeded.trip_id)
    # Past the wait: the trip is no longer shown as waiting until a time.
    assert (row.current_step, row.waiting_until) == ("to_end", None)


def test_a_late_attempt_for_an_earlier_step_does_not_move_the_trip_back(
    any_engine: Engine,
) -> None:
    """An attempt for the wait timed out, its retry ran and the trip moved on; then the
    first attempt finishes. Support staff must still see the trip where it really is."""
    seeded = seed_trip(any_engine, email="a@example.org")
    log = TripLogActivities(any_engine)
    env = ActivityEnvironment()
    waiting = RecordStepInput(
        passage=passage(seeded.trip_id, 1, "wait_week", "wait"),
        outcome="waiting",
        detail="wait 7 days",
        waiting_until=WAKE,
    )
    env.run(log.record_step, waiting)
    env.run(
        log.record_step,
        RecordStepInput(
            passage=passage(seeded.trip_id, 2, "welcome", "send_email"), outcome="sending"
        ),
    )
    env.run(log.record_step, waiting)  # the stale attempt

    row = trip(any_engine, seeded.trip_id)
    assert (row.current_step, row.waiting_until) == ("welcome", None)
    rows = path(any_engine, seeded.trip_id)
    assert [(r.seq, r.step_id) for r in rows] == [(1, "wait_week"), (2, "welcome")]


def test_finish_trip_sets_status_and_end_and_keeps_the_last_step(any_engine: Engine) -> None:
    seeded = seed_trip(any_engine, email="a@example.org")
    log = TripLogActivities(any_engine)
    env = ActivityEnvironment()
    env.run(
        log.record_step,
        RecordStepInput(
            passage=passage(seeded.trip_id, 1, "wait_week", "wait"),
            outcome="waiting",
            waiting_until=WAKE,
        ),
    )
    ended = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    finish = FinishTripInput(trip_id=seeded.trip_id, status=TripStatus.cancelled, ended_at=ended)
    env.run(log.finish_trip, finish)
    env.run(log.finish_trip, finish)

    row = trip(any_engine, seeded.trip_id)
    assert (row.status, row.ended_at, row.current_step, row.waiting_until) == (
        "cancelled",
        ended,
        "wait_week",
        None,
    )


def test_a_trip_that_no_longer_exists_is_not_an_error(engine: Engine) -> None:
    # Its journey was deleted while it ran; retrying for ever would help nobody.
    log = TripLogActivities(engine)
    env = ActivityEnvironment()
    env.run(log.record_step, RecordStepInput(passage=passage("trip:9:9:1"), outcome="sending"))
    env.run(
        log.finish_trip,
        FinishTripInput(trip_id="trip:9:9:1", status=TripStatus.completed, ended_at=ENTERED),
    )
    assert path(engine, "trip:9:9:1") == []


def test_a_late_open_outcome_never_undoes_a_final_one(any_engine: Engine) -> None:
    # A retried send attempt begins by writing `sending`; the row already says `sent`.
    seeded = seed_trip(any_engine, email="a@example.org")
    log = TripLogActivities(any_engine)
    env = ActivityEnvironment()
    send = passage(seeded.trip_id, 1, "welcome", "send_email")
    for outcome in (Outcome.sending, Outcome.sent, Outcome.sending):
        env.run(log.record_passages, RecordPassagesInput(writes=[write(send, outcome)]))
    assert [r.outcome for r in path(any_engine, seeded.trip_id)] == ["sent"]
    # `waited` does give way: a send that waited for its window goes on sending.
    window = passage(seeded.trip_id, 2, "later", "send_email")
    for outcome in (Outcome.waiting, Outcome.waited, Outcome.sending):
        env.run(log.record_passages, RecordPassagesInput(writes=[write(window, outcome)]))
    assert [r.outcome for r in path(any_engine, seeded.trip_id)] == ["sent", "sending"]


def test_a_cancel_closes_only_the_passage_the_trip_was_at(any_engine: Engine) -> None:
    # Trips from before outcomes were final left `waiting` on waits they had left.
    seeded = seed_trip(any_engine, email="a@example.org")
    log = TripLogActivities(any_engine)
    env = ActivityEnvironment()
    left = passage(seeded.trip_id, 1, "first_wait", "wait")
    here = passage(seeded.trip_id, 2, "second_wait", "wait")
    env.run(
        log.record_passages,
        RecordPassagesInput(writes=[write(left, Outcome.waiting), write(here, Outcome.waiting)]),
    )
    env.run(
        log.finish_trip,
        FinishTripInput(trip_id=seeded.trip_id, status=TripStatus.cancelled, ended_at=WAKE),
    )
    assert [r.outcome for r in path(any_engine, seeded.trip_id)] == ["waiting", "cancelled"]
    # The first close wins: a late "completed" does not turn it around.
    env.run(
        log.finish_trip,
        FinishTripInput(trip_id=seeded.trip_id, status=TripStatus.completed, ended_at=WAKE),
    )
    assert trip(any_engine, seeded.trip_id).status == "cancelled"


def write(key: PassageKey, outcome: Outcome) -> PassageWrite:
    return PassageWrite(passage=key, outcome=outcome)
