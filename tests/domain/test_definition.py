"""Journey definitions: what parses, what defaults apply, and how mistakes are located."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, time
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from domain.conditions import FieldCondition, NotCondition
from domain.definition import parse_definition
from domain.schema import WEEKDAYS
from domain.steps import (
    ExitStep,
    IfStep,
    JumpStep,
    SendEmailStep,
    WaitStep,
    WaitUntilStep,
    WaitWindowStep,
)
from domain.triggers import ManualTrigger


def design_sample() -> dict[str, Any]:
    """The sketch of design.md section 4, as its YAML loads."""
    return {
        "name": "Welcome new members",
        "timezone": "Europe/Amsterdam",
        "reentry": "never",
        "send_window": {
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "start": "09:00",
            "end": "17:00",
        },
        "triggers": [{"type": "manual"}],
        "steps": [
            {"id": "welcome", "type": "send_email", "template": "welcome"},
            {"id": "wait_week", "type": "wait", "duration": "P7D"},
            {
                "id": "is_member",
                "type": "if",
                "condition": {"field": "member_since", "op": "is_set"},
                "then": "thanks",
                "else": "nudge",
            },
            {"id": "nudge", "type": "send_email", "template": "become_member", "next": "end"},
            {"id": "thanks", "type": "send_email", "template": "thank_you"},
            {"id": "end", "type": "exit"},
        ],
    }


# design.md section 4 (one line wrapped), except the triggers: only `manual` exists so far.
DESIGN_SAMPLE_YAML = """
name: Welcome new members
timezone: Europe/Amsterdam
reentry: never            # never | after_exit | always
send_window: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}
triggers:
  - {type: manual}
steps:
  - {id: welcome, type: send_email, template: welcome}
  - {id: wait_week, type: wait, duration: P7D}
  - {id: is_member, type: if, condition: {field: member_since, op: is_set},
     then: thanks, else: nudge}
  - {id: nudge, type: send_email, template: become_member, next: end}
  - {id: thanks, type: send_email, template: thank_you}
  - {id: end, type: exit}
"""


def every_step_type() -> dict[str, Any]:
    return {
        "name": "Every kind of step",
        "steps": [
            {"id": "pause", "type": "wait", "duration": "P1DT6H", "name": "Pause a day"},
            {"id": "launch", "type": "wait_until", "until": "2027-01-04T09:00:00"},
            {"id": "office", "type": "wait_window", "start": "09:00", "end": "12:00"},
            {
                "id": "adult",
                "type": "if",
                "condition": {"not": {"field": "age", "op": "lt", "value": 18}},
                "then": "hello",
                "else": "skip",
            },
            {"id": "skip", "type": "jump", "target": "bye"},
            {"id": "hello", "type": "send_email", "template": "hello"},
            {"id": "bye", "type": "exit"},
        ],
    }


def errors_of(data: dict[str, Any]) -> list[tuple[tuple[int | str, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        parse_definition(data)
    return [(tuple(error["loc"]), error["msg"]) for error in caught.value.errors()]


def test_design_sample_parses() -> None:
    definition = parse_definition(design_sample())

    assert [step.id for step in definition.steps] == [
        "welcome",
        "wait_week",
        "is_member",
        "nudge",
        "thanks",
        "end",
    ]
    assert definition.zone.key == "Europe/Amsterdam"
    assert definition.send_window is not None
    assert definition.send_window.describe() == "mon,tue,wed,thu,fri 09:00-17:00"
    branch = definition.step("is_member")
    assert isinstance(branch, IfStep)
    assert (branch.then, branch.else_) == ("thanks", "nudge")
    assert definition.references().templates == {"welcome", "become_member", "thank_you"}


def test_design_sample_written_in_yaml_is_the_same_journey() -> None:
    assert parse_definition(yaml.safe_load(DESIGN_SAMPLE_YAML)) == parse_definition(design_sample())


def test_unquoted_yaml_time_is_refused_not_misread() -> None:
    # YAML 1.1 reads 17:30 as 1050 (base 60); as seconds that would be a window ending 00:17:30.
    data = yaml.safe_load(DESIGN_SAMPLE_YAML.replace('end: "17:00"', "end: 17:30"))

    assert errors_of(data) == [
        (("send_window", "end"), "Value error, write the time as text, for example '17:30'")
    ]


def test_window_times_with_an_offset_are_refused() -> None:
    data = design_sample()
    data["steps"][1] = {
        "id": "office",
        "type": "wait_window",
        "start": "09:00+02:00",
        "end": "12:00",
    }

    [(loc, msg)] = errors_of(data)

    assert loc == ("steps", 1, "wait_window", "start")
    assert "leave out the offset" in msg


def test_every_step_type_parses_into_its_own_kind() -> None:
    definition = parse_definition(every_step_type())
    steps = {step.id: step for step in definition.steps}

    pause = steps["pause"]
    assert isinstance(pause, WaitStep)
    assert pause.parsed.describe() == "1 day 6 hours"
    assert pause.label() == "Pause a day"
    launch = steps["launch"]
    assert isinstance(launch, WaitUntilStep)
    # Without an offset the moment stays local; the journey timezone gives it meaning later.
    assert launch.until == datetime(2027, 1, 4, 9, 0) and launch.until.tzinfo is None
    office = steps["office"]
    assert isinstance(office, WaitWindowStep)
    assert office.window.days == list(WEEKDAYS)
    assert (office.window.start, office.window.end) == (time(9), time(12))
    adult = steps["adult"]
    assert isinstance(adult, IfStep)
    assert adult.condition == NotCondition.model_validate(
        {"not": FieldCondition(field="age", op="lt", value=18)}
    )
    assert isinstance(steps["skip"], JumpStep) and steps["skip"].target == "bye"
    assert isinstance(steps["hello"], SendEmailStep) and steps["hello"].label() == "hello"
    assert isinstance(steps["bye"], ExitStep)


def test_wait_until_with_an_offset_keeps_it() -> None:
    data = every_step_type()
    data["steps"][1]["until"] = "2027-01-04T09:00:00+05:30"

    launch = parse_definition(data).step("launch")

    assert isinstance(launch, WaitUntilStep)
    assert launch.until == datetime(2027, 1, 4, 3, 30, tzinfo=UTC)


def test_a_wait_until_in_the_past_is_accepted() -> None:
    # "Once passed, everyone goes straight on": a past date is not a mistake.
    data = every_step_type()
    data["steps"][1]["until"] = "2001-01-01T00:00:00Z"

    launch = parse_definition(data).step("launch")

    assert isinstance(launch, WaitUntilStep)
    assert launch.until == datetime(2001, 1, 1, tzinfo=UTC)


def test_defaults_for_a_minimal_journey() -> None:
    definition = parse_definition(
        {"name": "Just one mail", "steps": [{"id": "hi", "type": "send_email", "template": "hi"}]}
    )

    assert definition.timezone == "Europe/Amsterdam"
    assert definition.reentry == "never"
    assert definition.triggers == [ManualTrigger(type="manual")]
    assert definition.send_window is None


def test_send_window_days_default_to_every_day() -> None:
    data = design_sample()
    data["send_window"] = {"start": "08:00", "end": "20:00"}

    window = parse_definition(data).send_window

    assert window is not None and window.days == list(WEEKDAYS)
    assert window.describe() == "every day 08:00-20:00"


def test_step_lookup_names_the_missing_step() -> None:
    with pytest.raises(KeyError, match="nope"):
        parse_definition(design_sample()).step("nope")


def _set(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    data = design_sample()
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("data", "loc", "says"),
    [
        pytest.param(
            _set(("steps", 1), {"id": "fly", "type": "teleport"}),
            ("steps", 1),
            "'teleport'",
            id="unknown-step-type",
        ),
        pytest.param(
            _set(("triggers", 0), {"type": "horoscope"}),
            ("triggers", 0),
            "'horoscope'",
            id="unknown-trigger-type",
        ),
        pytest.param(
            _set(("steps", 0), {"id": "welcome", "type": "send_email"}),
            ("steps", 0, "send_email", "template"),
            "Field required",
            id="missing-template",
        ),
        pytest.param(
            _set(("steps", 1), {"id": "wait_week", "type": "wait"}),
            ("steps", 1, "wait", "duration"),
            "Field required",
            id="missing-duration",
        ),
        pytest.param(
            _set(("steps", 0, "tempalte"), "welcome"),
            ("steps", 0, "send_email", "tempalte"),
            "Extra inputs are not permitted",
            id="misspelt-field",
        ),
        pytest.param(
            _set(("steps", 0, "id"), "two words"),
            ("steps", 0, "send_email", "id"),
            "pattern",
            id="bad-step-id",
        ),
        pytest.param(
            _set(("timezone",), "Europe/Atlantis"),
            ("timezone",),
            "unknown timezone 'Europe/Atlantis'",
            id="bad-timezone",
        ),
        pytest.param(
            _set(("reentry",), "sometimes"),
            ("reentry",),
            "'never', 'after_exit' or 'always'",
            id="bad-reentry",
        ),
        pytest.param(
            _set(("send_window",), {"start": "17:00", "end": "09:00"}),
            ("send_window",),
            "'start' must be before 'end'",
            id="send-window-backwards",
        ),
        pytest.param(
            _set(("send_window",), {"start": "09:00", "end": "09:00"}),
            ("send_window",),
            "'start' must be before 'end'",
            id="send-window-empty",
        ),
        pytest.param(
            _set(("send_window",), {"days": [], "start": "09:00", "end": "17:00"}),
            ("send_window", "days"),
            "at least 1 item",
            id="send-window-no-days",
        ),
        pytest.param(
            _set(("send_window",), {"days": ["monday"], "start": "09:00", "end": "17:00"}),
            ("send_window", "days", 0),
            "'mon'",
            id="send-window-bad-day",
        ),
        pytest.param(
            _set(
                ("steps", 1), {"id": "w", "type": "wait_window", "start": "12:00", "end": "09:00"}
            ),
            ("steps", 1, "wait_window"),
            "'start' must be before 'end'",
            id="wait-window-backwards",
        ),
        pytest.param(
            _set(("steps", 1, "duration"), "P1M"),
            ("steps", 1, "wait", "duration"),
            "'P1M' is not an ISO-8601 duration",
            id="duration-months",
        ),
        pytest.param(
            _set(("steps", 1, "duration"), "P0D"),
            ("steps", 1, "wait", "duration"),
            "'P0D' must be longer than zero",
            id="duration-zero",
        ),
        pytest.param(
            _set(("steps", 1, "duration"), "7 days"),
            ("steps", 1, "wait", "duration"),
            "'7 days' is not an ISO-8601 duration",
            id="duration-words",
        ),
        pytest.param(
            _set(("steps", 2, "condition"), {"field": "age", "op": "in", "value": 18}),
            ("steps", 2, "if", "condition", "field"),
            "op 'in' needs a list",
            id="condition-in-without-list",
        ),
        pytest.param(
            _set(("steps", 2, "condition"), "member_since is set"),
            ("steps", 2, "if", "condition"),
            "a condition needs one of: all, any, not, in_group, event, field",
            id="condition-as-text",
        ),
        pytest.param(
            _set(("steps",), []),
            ("steps",),
            "at least 1 item",
            id="no-steps",
        ),
    ],
)
def test_mistakes_are_located(data: dict[str, Any], loc: tuple[str | int, ...], says: str) -> None:
    errors = errors_of(data)

    assert [error_loc for error_loc, _ in errors] == [loc]
    assert says in errors[0][1]


def test_several_mistakes_are_reported_together() -> None:
    data = design_sample()
    data["timezone"] = "Nowhere/Special"
    data["steps"][1]["duration"] = "P1Y"

    locs = {loc for loc, _ in errors_of(data)}

    assert locs == {("timezone",), ("steps", 1, "wait", "duration")}


def test_else_alias_round_trips() -> None:
    definition = parse_definition(design_sample())

    dumped = definition.model_dump(by_alias=True)
    as_json = definition.model_dump(mode="json", by_alias=True)

    assert dumped["steps"][2]["else"] == "nudge" and "else_" not in dumped["steps"][2]
    assert parse_definition(dumped) == definition
    assert parse_definition(as_json) == definition


def test_not_alias_round_trips() -> None:
    definition = parse_definition(every_step_type())

    dumped = definition.model_dump(mode="json", by_alias=True)

    assert dumped["steps"][3]["condition"] == {"not": {"field": "age", "op": "lt", "value": 18}}
    again = parse_definition(dumped)
    assert again == definition
    assert again.digest() == definition.digest()


def test_else_can_also_be_written_by_its_python_name() -> None:
    data = design_sample()
    data["steps"][2]["else_"] = data["steps"][2].pop("else")

    assert parse_definition(data) == parse_definition(design_sample())


def test_digest_equal_for_equal_definitions() -> None:
    data = design_sample()
    reordered = dict(reversed(list(copy.deepcopy(data).items())))
    reordered["steps"] = [dict(reversed(list(step.items()))) for step in reordered["steps"]]

    first = parse_definition(data)

    assert first.digest() == parse_definition(copy.deepcopy(data)).digest()
    assert first.digest() == parse_definition(reordered).digest()
    # Defaults written out or left implicit mean the same journey.
    explicit = copy.deepcopy(data)
    explicit["steps"][0]["name"] = None
    assert first.digest() == parse_definition(explicit).digest()


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("steps", 0, "template"), "welcome_v2"),
        (("steps", 1, "duration"), "P8D"),
        (("steps", 2, "condition", "op"), "is_not_set"),
        (("steps", 3, "name"), "Nudge them"),
        (("send_window", "end"), "18:00"),
        (("timezone",), "Europe/Brussels"),
    ],
)
def test_digest_changes_when_the_journey_changes(path: tuple[str | int, ...], value: Any) -> None:
    original = parse_definition(design_sample())

    changed = parse_definition(_set(path, value))

    assert changed.digest() != original.digest()
    assert len(changed.digest()) == 16


def test_definitions_cannot_be_changed_in_place() -> None:
    definition = parse_definition(design_sample())

    with pytest.raises(ValidationError, match="frozen"):
        definition.name = "Other"  # type: ignore[misc]
