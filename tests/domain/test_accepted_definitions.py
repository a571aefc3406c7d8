"""Property: every definition the API accepts can be run by a trip.

Hypothesis draws definitions from the whole space the schema allows (durations up to the
bound and beyond, moments in every year and offset, deep conditions, windows); those that
validate must survive the trip's workflow input (a Temporal payload and back, parsed as a
frozen version) and every wait and window must compute from any moment a trip could
arrive. Each failure this found once was a trip stuck for ever with an empty path.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.contracts import TripInput
from domain.calendar import after_duration, describe_moment, next_opening, resolve_until
from domain.definition import JourneyDefinition, parse_definition
from domain.steps.flow import IfStep
from domain.steps.waits import WaitStep, WaitUntilStep, WaitWindowStep

ZONES = ["Europe/Amsterdam", "UTC", "Pacific/Kiritimati", "Etc/GMT+12", "America/St_Johns"]

_digits = st.integers(0, 10**12).map(str)
durations = st.one_of(
    st.builds(lambda d, h: f"P{d}DT{h}H", st.integers(0, 4000), st.integers(0, 200_000)),
    st.builds(lambda w: f"P{w}W", _digits),
    st.builds(lambda s: f"PT{s}S", _digits),
    st.sampled_from(["P3653D", "P3654D", "PT1S", "P1W", "PT87672H"]),
)
offsets = st.one_of(
    st.none(), st.integers(-12 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
)
moments = st.builds(
    lambda moment, zone: moment.replace(tzinfo=zone),
    st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30)),
    offsets,
)
clock = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))


def conditions(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    leaf = st.just({"field": "city", "op": "is_set"})
    if depth == 0:
        return leaf
    deeper = conditions(depth - 1)
    return st.one_of(
        leaf,
        deeper.map(lambda c: {"not": c}),
        st.lists(deeper, min_size=1, max_size=2).map(lambda cs: {"all": cs}),
    )


def nested(depth: int) -> dict[str, Any]:
    condition: dict[str, Any] = {"field": "city", "op": "is_set"}
    for _ in range(depth):
        condition = {"not": condition}
    return condition


steps = st.one_of(
    st.builds(lambda d: {"type": "wait", "duration": d}, durations),
    st.builds(lambda m: {"type": "wait_until", "until": m.isoformat()}, moments),
    st.builds(
        lambda days, start, end: {"type": "wait_window", "days": days, "start": start, "end": end},
        st.lists(st.sampled_from(["mon", "tue", "wed", "sat", "sun"]), min_size=1, unique=True),
        clock,
        clock,
    ),
    st.builds(
        lambda c: {"type": "if", "condition": c, "then": "end", "else": "end"},
        st.one_of(conditions(4), st.integers(25, 60).map(nested)),
    ),
    st.just({"type": "send_email", "template": "welcome"}),
)


@st.composite
def definitions(draw: st.DrawFn) -> dict[str, Any]:
    drawn = draw(st.lists(steps, min_size=1, max_size=6))
    return {
        "name": "Drawn",
        "timezone": draw(st.sampled_from(ZONES)),
        "steps": [{"id": f"s{i}", **step} for i, step in enumerate(drawn)]
        + [{"id": "end", "type": "exit"}],
    }


arrivals = st.datetimes(datetime(2020, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=definitions(), arrival=arrivals)
def test_what_validates_can_be_run(data: dict[str, Any], arrival: datetime) -> None:
    try:
        accepted = parse_definition(data)
    except ValidationError:
        assume(False)
        return
    trip = TripInput(
        trip_id="trip:1:1:1", journey_id=1, journey_version=1, relation_id=1, definition=accepted
    )
    converter = pydantic_data_converter.payload_converter
    [payload] = converter.to_payloads([trip])
    [decoded] = converter.from_payloads([payload], [TripInput])
    assert decoded == trip
    frozen = decoded.frozen_definition()
    assert frozen == accepted

    zone = frozen.zone
    for step in frozen.steps:
        if isinstance(step, WaitStep):
            wake = after_duration(arrival, step.parsed, zone)
            assert wake >= arrival
            assert wake - arrival <= timedelta(days=3654)
            describe_moment(wake, zone)
        elif isinstance(step, WaitUntilStep):
            until = resolve_until(step.until, zone)
            describe_moment(until, zone, seconds=True)
            until - arrival  # the timer's length; must not overflow
        elif isinstance(step, WaitWindowStep):
            opening = next_opening(arrival, step.window, zone)
            assert arrival <= opening <= arrival + timedelta(days=8)
        elif isinstance(step, IfStep):
            step.describe()
        step.describe()


def test_the_strategies_reach_both_sides_of_every_bound() -> None:
    # The property above means little if nothing drawn is ever refused (or accepted).
    assert isinstance(
        parse_definition(_one({"type": "wait", "duration": "P3653D"})), JourneyDefinition
    )
    for refused in (
        {"type": "wait", "duration": "P3654D"},
        {"type": "wait_until", "until": "0001-01-01T00:00:00"},
        {"type": "if", "condition": nested(40), "then": "end", "else": "end"},
    ):
        try:
            parse_definition(_one(refused))
        except ValidationError:
            continue
        raise AssertionError(f"accepted {refused}")


def _one(step: dict[str, Any]) -> dict[str, Any]:
    return {"name": "One", "steps": [{"id": "s0", **step}, {"id": "end", "type": "exit"}]}
