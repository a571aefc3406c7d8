"""The relation data steps' settings: what a definition may say, and where a mistake is."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from domain.definition import parse_definition, parse_frozen
from domain.steps.relations import delete_many_issues

FORM = {"type": "event", "event": "signup", "without_relation": True}


def journey(*steps: dict[str, Any], triggers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"name": "CRM", "triggers": triggers or [{"type": "manual"}], "steps": list(steps)}


def errors(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        parse_definition(data)
    found = []
    for error in caught.value.errors():
        # Graph issues come as one error that lists each, located at its step.
        for issue in (error.get("ctx") or {}).get("issues") or [error]:
            found.append((tuple(issue["loc"]), issue["msg"]))
    return found


def update(*values: dict[str, Any], id_: str = "remember") -> dict[str, Any]:
    return {"id": id_, "type": "update_relation", "set": list(values)}


@pytest.mark.parametrize(
    ("value", "loc", "says"),
    [
        ({"field": "birth_date", "value": "yesterday"}, ("set", 0, "value"), "a date"),
        ({"field": "email", "value": "not-an-address"}, ("set", 0, "value"), "an email"),
        ({"field": "opt_in_email", "value": None}, ("set", 0, "value"), "yes or no"),
        ({"field": "timezone", "value": "Mars/Olympus"}, ("set", 0, "value"), "IANA"),
        ({"field": "created_at", "value": "2020-01-01"}, ("set", 0, "field"), "cannot be written"),
        ({"field": "city", "value": {"a": 1}}, ("set", 0, "value"), "a single value"),
        ({"field": "city"}, ("set", 0), "give a fixed `value` or `from"),
        ({"field": "city", "value": "x", "from": "event.city"}, ("set", 0, "value"), "not both"),
        ({"field": "city", "from": "payload.city"}, ("set", 0, "from"), "pattern"),
    ],
)
def test_a_bad_value_is_refused_naming_the_step_and_field(
    value: dict[str, Any], loc: tuple[Any, ...], says: str
) -> None:
    data = journey({"id": "hello", "type": "exit"}, update(value))
    [(where, msg)] = errors(data)[:1]
    assert where == ("steps", 1, "update_relation", *loc)
    assert says in msg


def test_a_field_twice_and_an_upsert_without_unique_are_refused() -> None:
    twice = update({"field": "city", "value": "a"}, {"field": "city", "value": "b"})
    [(where, msg)] = errors(journey(twice))
    assert where == ("steps", 0, "update_relation", "set") and "[1]: field 'city'" in msg
    upsert = {"id": "up", "type": "upsert_relation", "set": [{"field": "email", "value": "a@b.nl"}]}
    [(where, msg)] = errors(journey(upsert))
    assert where == ("steps", 0, "upsert_relation", "set") and "unique: true" in msg


def test_a_step_that_needs_a_relation_before_a_lookup_gives_one_is_refused() -> None:
    lookup = {
        "id": "known",
        "type": "lookup_relation",
        "match": [{"field": "email", "from": "event.email"}],
        "on_not_found": "remember",
    }
    # A trip the form post starts has no relation: on `not_found` it still has none.
    [(where, msg)] = errors(
        journey(lookup, update({"field": "city", "value": "x"}), triggers=[FORM])
    )
    assert where == ("steps", 1, "type")
    assert "step 'remember' (update_relation) acts on the relation" in msg
    # Once the lookup's `found` is the only way in, the update has a relation.
    found_only = {**lookup, "on_not_found": "add", "on_found": "remember"}
    add = {"id": "add", "type": "add_relation", "set": [{"field": "email", "from": "event.email"}]}
    parse_definition(
        journey(found_only, add, update({"field": "city", "value": "x"}), triggers=[FORM])
    )


def test_definitions_survive_being_stored_and_read_back() -> None:
    upsert = {
        "id": "up",
        "type": "upsert_relation",
        "set": [
            {"field": "email", "from": "event.email", "unique": True},
            {"field": "phone", "value": None},
        ],
        "on_new": "welcome",
    }
    parsed = parse_definition(journey(upsert, {"id": "welcome", "type": "exit"}, triggers=[FORM]))
    stored = parsed.model_dump(mode="json", by_alias=True)
    assert stored["steps"][0]["set"][0] == {
        "field": "email",
        "from": "event.email",
        "value": None,
        "unique": True,
    }
    assert parse_definition(stored) == parsed == parse_frozen(stored)
    step = parsed.steps[0]
    assert step.ways_out() == {"next": None, "existing": None, "new": "welcome"}
    assert step.gives_relation() == {"next", "existing", "new"}


def test_deleting_many_relations_at_once_must_be_asked_for_twice() -> None:
    segment = {"type": "segment_entry", "segment": "inactive"}
    plain = parse_definition(
        journey({"id": "forget", "type": "delete_relation"}, triggers=[segment])
    )
    [issue] = delete_many_issues(plain, confirmed=True)
    assert issue.loc == ("steps", 0, "many")
    assert "admits many relations at once (trigger 1: enters segment 'inactive')" in issue.msg
    many = parse_definition(
        journey({"id": "forget", "type": "delete_relation", "many": True}, triggers=[segment])
    )
    [issue] = delete_many_issues(many, confirmed=False)
    assert "confirm with ?confirm=delete_many" in issue.msg
    assert delete_many_issues(many, confirmed=True) == []
    one_by_one = parse_definition(journey({"id": "forget", "type": "delete_relation"}))
    assert delete_many_issues(one_by_one, confirmed=False) == []
    assert "irreversible" in one_by_one.steps[0].describe()
