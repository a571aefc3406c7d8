"""A trip started by an event that names no known relation has no relation until a
step gives it one: a journey where such a trip could reach a step acting on the
relation first is refused, naming that step."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from domain.definition import parse_definition

FORM_POST = {"type": "event", "event": "form_post", "without_relation": True}
KNOWN_ONLY = {"type": "event", "event": "form_post"}


def journey(trigger: dict[str, Any], *steps: dict[str, Any]) -> dict[str, Any]:
    return {"name": "Form", "triggers": [trigger], "steps": list(steps)}


def refusals(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        parse_definition(data)
    [error] = caught.value.errors()
    assert error["type"] == "journey_graph"
    return [(tuple(i["loc"]), i["msg"]) for i in error["ctx"]["issues"]]


MAIL = {"id": "thanks", "type": "send_email", "template": "thanks"}


def test_a_mail_to_nobody_is_refused_naming_the_step() -> None:
    found = refusals(journey(FORM_POST, {"id": "pause", "type": "wait", "duration": "PT1H"}, MAIL))
    assert found == [
        (
            ("steps", 1, "type"),
            "step 'thanks' (send_email) acts on the relation, but a trip that trigger 1 "
            "admits without one can reach it before a lookup_relation, add_relation or "
            "upsert_relation step gives it one",
        )
    ]


def test_steps_that_need_nobody_are_fine_and_known_relations_need_no_such_step() -> None:
    waits_only = journey(
        FORM_POST,
        {"id": "pause", "type": "wait", "duration": "PT1H"},
        {"id": "end", "type": "exit"},
    )
    assert parse_definition(waits_only).steps[0].id == "pause"
    # The same mail behind a trigger that admits known relations only.
    assert parse_definition(journey(KNOWN_ONLY, MAIL)).steps[0].id == "thanks"
