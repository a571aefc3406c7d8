"""The group steps' settings and the selection trigger, as a marketer writes them:
subgroup names from variables, refusals naming the step and field, words for operators."""

from __future__ import annotations

from datetime import date, time
from typing import Any

import pytest
from pydantic import ValidationError

from domain.definition import parse_definition, parse_frozen
from domain.steps.groups import AddToGroupStep, render_subgroup
from domain.triggers import SelectionTrigger


def journey(steps: list[dict[str, Any]], triggers: list[dict[str, Any]] | None = None) -> Any:
    spec: dict[str, Any] = {"name": "Groups", "steps": steps}
    if triggers is not None:
        spec["triggers"] = triggers
    return parse_definition(spec)


def errors_of(spec: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as raised:
        parse_definition(spec)
    return [(tuple(e["loc"]), e["msg"]) for e in raised.value.errors()]


def test_a_subgroup_name_is_filled_in_and_bounded_to_a_group_key() -> None:
    day = date(2027, 3, 1)
    assert render_subgroup("webinar-{{ today }}", day, {}) == "webinar-2027-03-01"
    payload = {"city": "Den Haag", "form": {"id": 7}}
    assert render_subgroup("{{event.city}}/{{ event.form.id }}", day, payload) == "Den-Haag-7"
    # A missing value leaves nothing; a name of nothing at all is None (the group itself).
    assert render_subgroup("city-{{ event.town }}", day, payload) == "city-"
    assert render_subgroup("{{ event.town }}", day, payload) is None
    assert render_subgroup("x" * 150 + "{{ today }}", day, {}) == "x" * 100


def test_unknown_variables_are_refused_naming_the_step_and_field() -> None:
    base = {"id": "attended", "type": "add_to_group", "group": "webinar"}
    for subgroup, words in (
        ("webinar-{{ relation.email }}", "unknown variable '{{ relation.email }}'"),
        ("webinar-{{ now }}", "unknown variable '{{ now }}'"),
        ("webinar-{{ today }", "a '{{' or '}}' that is not part of a {{ variable }}"),
        ("!!!", "the name holds no letter or digit"),
    ):
        [(loc, msg)] = errors_of({"name": "x", "steps": [{**base, "subgroup": subgroup}]})
        assert loc == ("steps", 0, "add_to_group", "subgroup")
        assert words in msg
    [(loc, _)] = errors_of(
        {"name": "x", "steps": [{"id": "s", "type": "remove_from_group", "group": "no good"}]}
    )
    assert loc == ("steps", 0, "remove_from_group", "group")


def test_steps_say_what_they_do_and_name_their_group() -> None:
    definition = journey(
        [
            {"id": "add", "type": "add_to_group", "group": "webinar", "subgroup": "w-{{ today }}"},
            {"id": "drop", "type": "remove_from_group", "group": "prospects"},
            {"id": "mirror", "type": "sync_group", "group": "this_week"},
        ]
    )
    add, drop, mirror = definition.steps
    assert add.describe() == "add to subgroup `w-{{ today }}` of group `webinar`"
    assert drop.describe() == "remove from group `prospects`"
    assert mirror.describe() == "make group `this_week` equal to the run's selection"
    assert definition.references().groups == {"webinar", "prospects", "this_week"}
    assert isinstance(add, AddToGroupStep) and not add.uses_event()
    # sync_group acts on a run's selection: a trip without a relation may pass it.
    assert (add.NEEDS_RELATION, drop.NEEDS_RELATION, mirror.NEEDS_RELATION) == (
        True,
        True,
        False,
    )


def test_a_selection_names_exactly_one_source_and_says_when_it_runs() -> None:
    steps = [{"id": "end", "type": "exit"}]
    weekly = journey(
        steps,
        [{"type": "selection", "group": "members", "schedule": {"days": ["mon"], "at": "08:00"}}],
    ).triggers[0]
    assert isinstance(weekly, SelectionTrigger)
    assert weekly.source() == {"group": "members"}
    assert weekly.describe() == "selection of group 'members', every mon at 08:00"
    assert weekly.schedule is not None and weekly.schedule.at == time(8)
    once = journey(steps, [{"type": "selection", "journey": 4}]).triggers[0]
    assert (
        once.describe() == "selection of the relations on a trip in journey 4, once, at activation"
    )
    first_monday = journey(
        steps,
        [
            {
                "type": "selection",
                "segment": "buyers",
                "schedule": {"days": ["mon"], "days_of_month": [1, 2, 3, 4, 5, 6, 7]},
            }
        ],
    )
    assert first_monday.references().segments == {"buyers"}
    assert first_monday.triggers[0].describe() == (
        "selection of segment 'buyers', every mon on day 1, 2, 3, 4, 5, 6, 7 at 08:00"
    )
    for wrong in ({}, {"group": "a", "segment": "b"}):
        [(loc, msg)] = errors_of(
            {"name": "x", "triggers": [{"type": "selection", **wrong}], "steps": steps}
        )
        assert loc == ("triggers", 0, "selection")
        assert "exactly one source: group, segment or journey" in msg
    # A version frozen under these rules is read back as it was.
    frozen = weekly.model_dump(mode="json")
    assert parse_frozen({"name": "x", "triggers": [frozen], "steps": steps}).triggers[0] == weekly
