"""Conditions on relation data: one meaning for every operator, and reasons without
the relation's personal data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from domain.conditions import (
    AllCondition,
    AnyCondition,
    Condition,
    FieldCondition,
    GroupCondition,
    NotCondition,
    RelationFacts,
    evaluate,
    groups_mentioned,
)

CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)


def holds(condition: dict[str, Any], fields: dict[str, Any], groups: set[str] = set()) -> bool:  # noqa: B006
    return evaluate(
        CONDITION.validate_python(condition), RelationFacts(fields, frozenset(groups))
    ).result


def field(name: str, op: str, value: Any = None) -> dict[str, Any]:
    condition: dict[str, Any] = {"field": name, "op": op}
    if value is not None:
        condition["value"] = value
    return condition


# --- operators --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "fields", "expected"),
    [
        # eq / ne on standard fields; text compares without regard to case
        (field("locale", "eq", "nl-NL"), {"locale": "nl-nl"}, True),
        (field("locale", "eq", "nl-NL"), {"locale": "en-GB"}, False),
        (field("first_name", "ne", "Anna"), {"first_name": "Bert"}, True),
        (field("first_name", "ne", "Anna"), {"first_name": "ANNA"}, False),
        # numbers on custom fields
        (field("donations", "gt", 3), {"donations": 4}, True),
        (field("donations", "gt", 3), {"donations": 3}, False),
        (field("donations", "gte", 3), {"donations": 3}, True),
        (field("donations", "lt", 3), {"donations": 2.5}, True),
        (field("donations", "lte", 3), {"donations": 3.0}, True),
        (field("donations", "lte", 3), {"donations": 3.5}, False),
        (field("donations", "eq", 3), {"donations": 3.0}, True),
        # numbers given as strings (custom fields arrive from JSON forms as text)
        (field("age", "gte", 18), {"age": "42"}, True),
        (field("age", "gte", 18), {"age": "9"}, False),
        (field("age", "lt", "18"), {"age": 9}, True),
        (field("age", "lt", "18"), {"age": "9"}, True),
        (field("age", "gt", "18"), {"age": "9"}, False),
        (field("age", "eq", "42"), {"age": 42}, True),
        (field("age", "gt", 18), {"age": "unknown"}, False),
        (field("age", "ne", 18), {"age": "unknown"}, True),
        # booleans, also written as text
        (field("opt_in_email", "eq", True), {"opt_in_email": True}, True),
        (field("opt_in_email", "eq", True), {"opt_in_email": False}, False),
        (field("opt_in_sms", "eq", False), {"opt_in_sms": False}, True),
        (field("vip", "eq", True), {"vip": "yes"}, True),
        (field("vip", "eq", True), {"vip": "false"}, False),
        (field("vip", "eq", True), {"vip": "maybe"}, False),
        (field("vip", "ne", True), {"vip": "maybe"}, True),
        # dates against ISO strings, either way round
        (field("birth_date", "lt", "2000-01-01"), {"birth_date": date(1990, 5, 1)}, True),
        (field("birth_date", "lt", "2000-01-01"), {"birth_date": date(2001, 5, 1)}, False),
        (field("birth_date", "eq", "1990-05-01"), {"birth_date": date(1990, 5, 1)}, True),
        (field("member_since", "gte", "2024-05-01"), {"member_since": "2024-05-01"}, True),
        (field("member_since", "gt", "2024-05-01"), {"member_since": "2024-04-30"}, False),
        (field("member_since", "gt", date(2024, 4, 30)), {"member_since": "2024-05-01"}, True),
        # datetimes: instants with offsets; a date against a datetime compares the day
        (
            field("created_at", "gte", "2026-03-01T10:00:00+01:00"),
            {"created_at": datetime(2026, 3, 1, 9, 0, tzinfo=UTC)},
            True,
        ),
        (
            field("created_at", "lt", "2026-03-01T10:00:00+01:00"),
            {"created_at": datetime(2026, 3, 1, 9, 0, tzinfo=UTC)},
            False,
        ),
        (
            field("created_at", "lt", "2026-03-01T10:00:00Z"),
            {"created_at": "2026-03-01T10:30:00+01:00"},
            True,
        ),
        (
            field("created_at", "eq", "2026-03-01"),
            {"created_at": datetime(2026, 3, 1, 23, 59)},
            True,
        ),
        (
            field("created_at", "gt", "2026-03-01"),
            {"created_at": datetime(2026, 3, 1, 23, 59)},
            False,
        ),
        # in
        (field("country", "in", ["NL", "BE"]), {"country": "nl"}, True),
        (field("country", "in", ["NL", "BE"]), {"country": "DE"}, False),
        (field("tier", "in", [1, 2]), {"tier": "2"}, True),
        (field("tier", "in", [1, 2]), {"tier": 3}, False),
        # contains on text (any case) and on lists
        (field("email", "contains", "@Example.org"), {"email": "anna@example.org"}, True),
        (field("email", "contains", "@example.org"), {"email": "anna@example.com"}, False),
        (field("interests", "contains", "Music"), {"interests": ["sport", "music"]}, True),
        (field("interests", "contains", "art"), {"interests": ["sport", "party"]}, False),
        (field("lucky", "contains", "7"), {"lucky": [3, 7]}, True),
        # is_set / is_not_set
        (field("phone", "is_set"), {"phone": "+31 20 123 4567"}, True),
        (field("phone", "is_set"), {"phone": ""}, False),
        (field("phone", "is_not_set"), {"phone": None}, True),
        (field("opt_in_sms", "is_set"), {"opt_in_sms": False}, True),
        (field("score", "is_set"), {"score": 0}, True),
    ],
)
def test_operator(condition: dict[str, Any], fields: dict[str, Any], expected: bool) -> None:
    assert holds(condition, fields) is expected


@pytest.mark.parametrize("missing", [{}, {"city": None}, {"city": ""}, {"city": []}])
@pytest.mark.parametrize(
    ("op", "value"),
    [
        ("eq", "Utrecht"),
        ("ne", "Utrecht"),
        ("lt", 5),
        ("lte", "2024-01-01"),
        ("gt", 5),
        ("gte", 5),
        ("in", ["Utrecht"]),
        ("contains", "U"),
        ("is_set", None),
        ("is_not_set", None),
    ],
)
def test_a_missing_value_only_satisfies_ne_and_is_not_set(
    missing: dict[str, Any], op: str, value: Any
) -> None:
    assert holds(field("city", op, value), missing) is (op in ("ne", "is_not_set"))


def test_group_membership() -> None:
    member = {"in_group": "members"}

    assert holds(member, {}, {"members", "donors"}) is True
    assert holds(member, {}, {"donors"}) is False
    assert holds({"not": member}, {}, {"donors"}) is True


def test_all_any_not_nesting() -> None:
    # Adult members from the Netherlands or Belgium, unless they opted out of email.
    condition = {
        "all": [
            {"in_group": "members"},
            {"field": "age", "op": "gte", "value": 18},
            {"any": [field("country", "eq", "NL"), field("country", "eq", "BE")]},
            {"not": field("opt_in_email", "eq", False)},
        ]
    }
    anna = {"age": 30, "country": "BE", "opt_in_email": True}

    assert holds(condition, anna, {"members"}) is True
    assert holds(condition, anna, set()) is False
    assert holds(condition, {**anna, "age": "17"}, {"members"}) is False
    assert holds(condition, {**anna, "country": "DE"}, {"members"}) is False
    assert holds(condition, {**anna, "opt_in_email": False}, {"members"}) is False
    # A missing opt-in is not "False": the not() holds.
    assert holds(condition, {"age": 30, "country": "NL"}, {"members"}) is True


def test_reasons_explain_the_branch() -> None:
    condition = CONDITION.validate_python(
        {
            "all": [
                {"in_group": "members"},
                {"any": [field("age", "gte", 18), field("guardian", "is_set")]},
                {"not": field("country", "eq", "DE")},
            ]
        }
    )
    passing = RelationFacts({"age": 21, "country": "NL"}, frozenset({"members"}))
    failing = RelationFacts({"age": 12, "country": "NL"}, frozenset({"members"}))

    assert evaluate(condition, passing).reason == (
        "is in group 'members' and age gte: yes and not (country eq: no)"
    )
    # The first thing that failed is the reason; an `any` lists everything it tried.
    assert evaluate(condition, failing).reason == "age gte: no and guardian is_set: no"
    assert evaluate(condition, RelationFacts({})).reason == "is not in group 'members'"


def test_groups_mentioned_anywhere_in_the_tree() -> None:
    condition = CONDITION.validate_python(
        {
            "any": [
                {"in_group": "members"},
                {"all": [{"not": {"in_group": "blocked"}}, field("age", "gt", 3)]},
            ]
        }
    )

    assert groups_mentioned(condition) == {"members", "blocked"}
    assert groups_mentioned(CONDITION.validate_python(field("age", "gt", 3))) == set()


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (field("age", "gte"), "op 'gte' needs a value"),
        ({"field": "age", "op": "is_set", "value": 1}, "op 'is_set' takes no value"),
        (field("age", "in", 3), "op 'in' needs a list as value"),
        ({"field": "age", "op": "between", "value": 3}, "Input should be 'eq'"),
        ({"segment": "vip"}, "a condition needs one of: all, any, not, in_group, event, field"),
        ("age > 18", "a condition needs one of: all, any, not, in_group, event, field"),
        (18, "a condition needs one of: all, any, not, in_group, event, field"),
        ({"all": []}, "at least 1 item"),
        ({"field": "age", "op": "eq", "value": 3, "extra": 1}, "Extra inputs are not permitted"),
    ],
)
def test_malformed_conditions_are_refused(data: Any, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        CONDITION.validate_python(data)


def test_conditions_survive_json() -> None:
    condition = CONDITION.validate_python(
        {"not": {"any": [field("birth_date", "lt", date(2000, 1, 1)), {"in_group": "x"}]}}
    )

    again = CONDITION.validate_json(CONDITION.dump_json(condition, by_alias=True))

    facts = RelationFacts({"birth_date": date(1999, 12, 31)})
    assert evaluate(again, facts) == evaluate(condition, facts)
    # Neither the relation's value nor the constant: together with the branch taken, a
    # constant would tell what the value is (`city eq 'Utrecht': yes`).
    assert evaluate(condition, facts).reason == "not (birth_date lt: yes)"


# --- personal data never lands in the reason --------------------------------------------

FIELDS = ["age", "city", "birth_date", "tags", "score"]
# Relation values and constants use characters the reason's own words never contain, so
# any that appear in a reason came from a value.
_TEXT = st.text(alphabet="ÄÖÜ#0123456789", min_size=2, max_size=6)
_SCALARS = st.one_of(
    _TEXT,
    st.integers(-(10**6), 10**6),
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda number: round(number, 2)),
    st.booleans(),
    st.dates(date(1900, 1, 1), date(2100, 1, 1)),
    st.dates(date(1900, 1, 1), date(2100, 1, 1)).map(date.isoformat),
    st.datetimes(
        datetime(1990, 1, 1), datetime(2040, 1, 1), timezones=st.just(timezone(timedelta(hours=2)))
    ),
)
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3), st.none())


@st.composite
def leaves(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 4)) == 0:
        return GroupCondition(in_group=draw(st.sampled_from(["members", "donors"])))
    op = draw(
        st.sampled_from(
            ["eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "is_set", "is_not_set"]
        )
    )
    name = draw(st.sampled_from(FIELDS))
    if op in ("is_set", "is_not_set"):
        return FieldCondition(field=name, op=op)
    value = draw(st.lists(_SCALARS, min_size=1, max_size=3) if op == "in" else _SCALARS)
    return FieldCondition(field=name, op=op, value=value)


CONDITIONS = st.recursive(
    leaves(),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda c: AllCondition(all=c)),
        st.lists(children, min_size=1, max_size=3).map(lambda c: AnyCondition(any=c)),
        children.map(lambda c: NotCondition.model_validate({"not": c})),
    ),
    max_leaves=6,
)
FACTS = st.builds(
    RelationFacts,
    fields=st.dictionaries(st.sampled_from(FIELDS), _VALUES),
    groups=st.frozensets(st.sampled_from(["members", "donors"])),
)


def _leaves_of(condition: Any) -> list[Any]:
    if isinstance(condition, AllCondition):
        return [leaf for child in condition.all for leaf in _leaves_of(child)]
    if isinstance(condition, AnyCondition):
        return [leaf for child in condition.any for leaf in _leaves_of(child)]
    if isinstance(condition, NotCondition):
        return _leaves_of(condition.not_)
    return [condition]


def _texts(value: Any) -> list[str]:
    """Ways a value could be spelt in a reason."""
    items = value if isinstance(value, list) else [value]
    texts = [text for item in items if item is not None for text in (str(item), repr(item))]
    return texts + [repr(item.isoformat()) for item in items if isinstance(item, date)]


@settings(max_examples=200, deadline=None)
@given(condition=CONDITIONS, facts=FACTS)
def test_reason_never_contains_the_relations_values(condition: Any, facts: RelationFacts) -> None:
    reason = evaluate(condition, facts).reason

    # Not even a condition's constants: next to the way taken, `eq 'X': yes` says the
    # value is X. Values and constants draw on characters no reason word contains.
    assert not set(reason) & set("ÄÖÜ#0123456789"), reason
    for leaf in _leaves_of(condition):
        if isinstance(leaf, FieldCondition):
            for text in _texts(leaf.value):
                assert text not in reason, (text, reason)


@settings(max_examples=200, deadline=None)
@given(condition=CONDITIONS, first=FACTS, second=FACTS)
def test_reason_depends_only_on_which_parts_held(
    condition: Any, first: RelationFacts, second: RelationFacts
) -> None:
    # Two relations for which every comparison came out the same get the same reason:
    # the reason tells nothing about a relation beyond the outcome.
    def outcomes(facts: RelationFacts) -> list[bool]:
        return [evaluate(leaf, facts).result for leaf in _leaves_of(condition)]

    if outcomes(first) == outcomes(second):
        assert evaluate(condition, first) == evaluate(condition, second)


@settings(max_examples=100, deadline=None)
@given(condition=CONDITIONS, facts=FACTS)
def test_not_is_the_opposite_and_all_any_agree_with_their_parts(
    condition: Any, facts: RelationFacts
) -> None:
    outcome = evaluate(condition, facts).result

    assert evaluate(NotCondition.model_validate({"not": condition}), facts).result is (not outcome)
    assert evaluate(AllCondition(all=[condition, condition]), facts).result is outcome
    assert evaluate(AnyCondition(any=[condition]), facts).result is outcome
