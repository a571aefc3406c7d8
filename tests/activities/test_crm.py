"""`if` steps: decided on the relation's data at the moment of arrival, reason recorded."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.engine import Engine
from temporalio.testing import ActivityEnvironment

from activities.contracts import CheckConditionInput
from activities.crm import CrmActivities
from domain.conditions import Condition
from tests.activities.data import (
    add_to_group,
    erase_relation,
    passage,
    path,
    seed_trip,
    trip,
    update_relation,
)

_CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)


def _check(engine: Engine, trip_id: str, relation_id: int, condition: dict[str, Any], seq: int = 1):
    crm = CrmActivities(engine)
    return ActivityEnvironment().run(
        crm.check_condition,
        CheckConditionInput(
            passage=passage(trip_id, seq, "is_member", "if"),
            relation_id=relation_id,
            condition=_CONDITION.validate_python(condition),
        ),
    )


def test_custom_field_condition_takes_then_and_records_why(any_engine: Engine) -> None:
    seeded = seed_trip(any_engine, email="a@example.org", custom={"member_since": "2024-05-01"})
    result = _check(
        any_engine, seeded.trip_id, seeded.relation_id, {"field": "member_since", "op": "is_set"}
    )
    assert (result.result, result.relation_exists) == (True, True)
    [row] = path(any_engine, seeded.trip_id)
    assert (row.step_id, row.outcome) == ("is_member", "then")
    assert row.detail == result.reason
    assert "member_since" in row.detail
    assert trip(any_engine, seeded.trip_id).current_step == "is_member"


def test_standard_field_condition_takes_else_with_fresh_data(any_engine: Engine) -> None:
    seeded = seed_trip(any_engine, email="a@example.org", birth_date=date(2012, 6, 1))
    condition = {"field": "birth_date", "op": "lt", "value": "2008-01-01"}
    first = _check(any_engine, seeded.trip_id, seeded.relation_id, condition)
    assert first.result is False
    assert path(any_engine, seeded.trip_id)[0].outcome == "else"

    # The data changed during a wait: the next arrival sees the new value.
    update_relation(any_engine, seeded.relation_id, birth_date=date(1990, 1, 1))
    second = _check(any_engine, seeded.trip_id, seeded.relation_id, condition, seq=2)
    assert second.result is True
    assert [r.outcome for r in path(any_engine, seeded.trip_id)] == ["else", "then"]


def test_group_membership(any_engine: Engine) -> None:
    member = seed_trip(any_engine, email="m@example.org")
    outsider = seed_trip(any_engine, email="o@example.org")
    add_to_group(any_engine, member.relation_id, "donors")
    add_to_group(any_engine, outsider.relation_id, "volunteers")
    condition = {"in_group": "donors"}

    assert _check(any_engine, member.trip_id, member.relation_id, condition).result is True
    assert _check(any_engine, outsider.trip_id, outsider.relation_id, condition).result is False
    assert path(any_engine, member.trip_id)[0].detail == "is in group 'donors'"
    assert path(any_engine, outsider.trip_id)[0].detail == "is not in group 'donors'"


def test_a_custom_field_cannot_shadow_a_standard_one(engine: Engine) -> None:
    seeded = seed_trip(engine, email="real@example.org", custom={"email": "fake@example.org"})
    condition = {"field": "email", "op": "contains", "value": "real@"}
    assert _check(engine, seeded.trip_id, seeded.relation_id, condition).result is True


def test_erased_relation_is_recorded_and_reported(any_engine: Engine) -> None:
    seeded = seed_trip(any_engine, email="gone@example.org")
    erase_relation(any_engine, seeded.relation_id)
    result = _check(any_engine, seeded.trip_id, seeded.relation_id, {"in_group": "donors"})
    assert (result.result, result.relation_exists) == (False, False)
    [row] = path(any_engine, seeded.trip_id)
    assert row.outcome == "relation_erased"


def test_a_retried_check_leaves_one_row(engine: Engine) -> None:
    seeded = seed_trip(engine, email="a@example.org", custom={"score": 7})
    condition = {"field": "score", "op": "gte", "value": 5}
    _check(engine, seeded.trip_id, seeded.relation_id, condition)
    _check(engine, seeded.trip_id, seeded.relation_id, condition)
    assert [(r.seq, r.outcome) for r in path(engine, seeded.trip_id)] == [(1, "then")]
