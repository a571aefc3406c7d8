"""A running trip's frozen version keeps working when validation rules get stricter."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from activities.contracts import TripInput
from domain.definition import parse_definition

# Valid when it was frozen, say, but a later rule refuses unreachable steps.
FROZEN_UNDER_OLDER_RULES = {
    "name": "Old version",
    "steps": [
        {"id": "hello", "type": "send_email", "template": "hello"},
        {"id": "bye", "type": "exit"},
        {"id": "orphan", "type": "send_email", "template": "hello"},
    ],
}


def test_new_definitions_get_todays_rules() -> None:
    with pytest.raises(ValidationError, match="unreachable"):
        parse_definition(FROZEN_UNDER_OLDER_RULES)


def test_a_running_trip_replays_its_frozen_version_without_them() -> None:
    # What a worker decodes from Temporal history on every replay.
    payload = TripInput(
        trip_id="trip:1:1:1",
        journey_id=1,
        journey_version=1,
        relation_id=1,
        definition=FROZEN_UNDER_OLDER_RULES,
    ).model_dump_json()
    definition = TripInput.model_validate_json(payload).frozen_definition()
    assert [step.id for step in definition.steps] == ["hello", "bye", "orphan"]


def test_a_frozen_version_longer_than_todays_step_limit_still_parses() -> None:
    steps = [{"id": f"s{n}", "type": "wait", "duration": "PT1H"} for n in range(501)]
    long_journey = {"name": "Long", "steps": steps}
    with pytest.raises(ValidationError, match="at most 500 steps"):
        parse_definition(long_journey)
    trip = TripInput(
        trip_id="trip:1:1:1",
        journey_id=1,
        journey_version=1,
        relation_id=1,
        definition=long_journey,
    )
    assert len(trip.frozen_definition().steps) == 501
