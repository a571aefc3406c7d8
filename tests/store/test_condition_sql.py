"""A condition compiled to SQL selects exactly the relations `evaluate` passes, on SQLite
and PostgreSQL: generated relations (standard and custom fields of every kind a marketer
stores, groups, events) against generated conditions, and the documented corner cases
one by one."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from domain.conditions import (
    AllCondition,
    AnyCondition,
    Condition,
    EventCondition,
    FieldCondition,
    GroupCondition,
    NotCondition,
    RelationFacts,
    evaluate,
    event_types_mentioned,
)
from store.condition_sql import UnsupportedCondition, compile_condition
from store.db import make_engine
from store.facts import load_facts
from store.models import Event, Group, GroupMember, Relation

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _reset(session: Session) -> None:
    for table in (Event, GroupMember, Group, Relation):
        session.exec(delete(table))
    session.commit()


def _store(session: Session, people: list[dict[str, Any]]) -> list[int]:
    """Relations (with `groups` and `events` keys of their own) into the database."""
    groups: dict[str, Group] = {}
    ids = []
    for person in people:
        fields = {k: v for k, v in person.items() if k not in ("groups", "events")}
        relation = Relation(**fields)
        session.add(relation)
        session.flush()
        assert relation.id is not None
        ids.append(relation.id)
        for key in person.get("groups", ()):
            if key not in groups:
                groups[key] = Group(key=key, name=key)
                session.add(groups[key])
                session.flush()
            group_id = groups[key].id
            assert group_id is not None
            session.add(GroupMember(group_id=group_id, relation_id=relation.id))
        for kind, at, payload in person.get("events", ()):
            session.add(Event(relation_id=relation.id, type=kind, occurred_at=at, payload=payload))
    session.commit()
    return ids


def _both(
    session: Session, conditions: list[Condition], ids: list[int]
) -> list[tuple[set[int], set[int]]]:
    """Per condition: (the relations SQL selects, those evaluate passes on what
    load_facts loads for them). The SQL of all conditions runs as one query."""
    query = select(
        Relation.id,
        *(compile_condition(c, now=NOW).label(f"c{i}") for i, c in enumerate(conditions)),
    )
    rows = session.connection().execute(query).all()
    facts: dict[tuple[int, frozenset[str]], RelationFacts] = {}
    found = []
    for index, condition in enumerate(conditions):
        types = frozenset(event_types_mentioned(condition))
        passed = set()
        for relation_id in ids:
            if (relation_id, types) not in facts:
                loaded = load_facts(session, relation_id, event_types=types, now=NOW)
                assert loaded is not None
                facts[relation_id, types] = loaded
            if evaluate(condition, facts[relation_id, types]).result:
                passed.add(relation_id)
        found.append(({row[0] for row in rows if row[index + 1]}, passed))
    return found


# --- generated: SQL and Python agree on everything ---------------------------------------


def pick(*choices: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """One of the choices, each as likely: st.one_of flattens nested one_ofs into one
    list of leaves, so a choice with many alternatives inside would crowd out the rest
    (a list among thirty kinds of scalar is almost never drawn)."""
    return st.sampled_from(choices).flatmap(lambda choice: choice)


# Text a marketer's data holds: a small vocabulary that relations and constants share
# (so that they meet: case variants, numbers, booleans and dates written as text, and
# the almost-shapes that are none of these), and a wider one for what they seldom meet.
WORDS = st.sampled_from(
    [
        "Utrecht", "utrecht", "UTRECHT", "Zoë", "ZOË", "", "9", "18", " 42 ", "042", "4.2e1",
        "yes", "TRUE", "0", "2024-05-01", "2024-04-30T23:30:00-01:00", "2024-05-01T09:00",
        "2024-5-1",
    ]
)  # fmt: skip
ODD_WORDS = st.sampled_from(
    [
        "straße", "STRASSE", " ", "4.20", "-7", "1e3", "1E+02", "+5", ".5", "5.", "inf",
        "nan", "1_000", "0x10", "1e400", "٤٢", "No", "1", "2024-02-30", "2024-02-29",
        "2023-02-29", "2024-05-01T10:00:00+01:00", "2024-05-01 09:00",
        "2024-05-01T09:00:00.5Z", "2024-05-01T10:00:00.123456", "2024-05-01T24:00",
        "2024-05-01T10:00+0100", "2024-05-01t10:00", "a%b", "a_b", "[1]", "None", "True",
    ]
)  # fmt: skip
ZONES = st.sampled_from(
    [timezone(timedelta(hours=2)), timezone(-timedelta(hours=5, minutes=30)), UTC]
)
MOMENTS = st.datetimes(datetime(2024, 4, 29), datetime(2024, 5, 3), timezones=ZONES)
# Moments of one day in several zones: their order in UTC and on the wall clock differ.
SAME_DAY = st.datetimes(datetime(2024, 5, 1), datetime(2024, 5, 1, 23, 59), timezones=ZONES)
DAYS = st.dates(date(2024, 4, 29), date(2024, 5, 3))
# Dates and moments as text, with and without a zone, also in Python's own spelling.
DATED = pick(
    SAME_DAY.map(datetime.isoformat),
    DAYS.map(date.isoformat),
    MOMENTS.map(lambda moment: moment.replace(tzinfo=None).isoformat(timespec="minutes")),
    MOMENTS.map(str),
)
TEXTS = pick(WORDS, WORDS, ODD_WORDS, st.text(alphabet="aAbB19 -.:%", max_size=4), DATED)
NUMBERS = pick(
    st.sampled_from([0, 1, 9, 18, 42, 0.0, 1.0, 2.5, -0.5, 0.1, 42.0, 0.30000000000000004]),
    st.integers(-3, 3000),
    st.floats(-1000, 1000, allow_nan=False).map(lambda number: round(number, 2)),
    st.sampled_from([1e20, 1e-7, 10**20, 10**301, -(10**301)]),
)
JSON_SCALARS = pick(st.none(), st.booleans(), NUMBERS, TEXTS, TEXTS)
JSON_VALUES = pick(
    JSON_SCALARS,
    st.lists(pick(JSON_SCALARS, st.lists(JSON_SCALARS, max_size=1)), max_size=3),
    st.dictionaries(st.sampled_from(["a", "b"]), JSON_SCALARS, max_size=2),
)
CONSTANTS = pick(
    TEXTS,
    NUMBERS,
    DAYS,
    MOMENTS,
    MOMENTS.map(lambda moment: moment.replace(tzinfo=None)),
    st.booleans(),
)
# Each custom field leans to one kind (so that relations meet on it) and holds others
# too; the last two are often missing.
CUSTOM_FIELDS = st.fixed_dictionaries(
    {
        "city": TEXTS,
        "age": pick(NUMBERS, TEXTS),
        "tags": pick(st.lists(JSON_SCALARS, min_size=1, max_size=3), JSON_VALUES),
        "since": pick(DATED, JSON_SCALARS),
    },
    optional={"data": JSON_VALUES, "Städt": JSON_SCALARS},
)
CUSTOM = ["city", "age", "tags", "since", "data", "Städt"]
STANDARD = ["first_name", "email", "birth_date", "created_at", "opt_in_email"]
PAYLOAD = ["amount", "fund", "email"]
OPS = ["eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "is_set", "is_not_set"]


Constants = Callable[[str], st.SearchStrategy[Any]]


@st.composite
def field_leaf(draw: st.DrawFn, names: list[str], constants_for: Constants) -> FieldCondition:
    name, op = draw(st.sampled_from(names)), draw(st.sampled_from(OPS))
    constants = constants_for(name)
    if op in ("is_set", "is_not_set"):
        return FieldCondition(field=name, op=op)
    if op == "in":
        return FieldCondition(field=name, op=op, value=draw(st.lists(constants, max_size=3)))
    return FieldCondition(field=name, op=op, value=draw(constants))


def tree(leaf: st.SearchStrategy[Any], most: int) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaf,
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=3).map(lambda c: AllCondition(all=c)),
            st.lists(children, min_size=1, max_size=3).map(lambda c: AnyCondition(any=c)),
            children.map(lambda c: NotCondition.model_validate({"not": c})),
        ),
        max_leaves=most,
    )


WITHIN = st.sampled_from([None, "P30D", "PT12H", "P1W", "P999999998D"])
EVENT_TYPES = st.sampled_from(["purchase", "donation", "Purchase"])
GROUPS = st.sampled_from(["members", "donors", "Members"])


def conditions(constants: Constants) -> st.SearchStrategy[Any]:
    # A `where` speaks of payload keys; groups and events inside it hold for nobody.
    where = tree(
        st.one_of(
            field_leaf(PAYLOAD, constants),
            field_leaf(PAYLOAD, constants),
            st.builds(GroupCondition, in_group=st.just("members")),
        ),
        3,
    )
    leaf = st.one_of(
        field_leaf(CUSTOM + STANDARD, constants),
        field_leaf(CUSTOM + STANDARD, constants),
        field_leaf(CUSTOM + STANDARD, constants),
        st.builds(GroupCondition, in_group=GROUPS),
        st.builds(
            EventCondition, event=EVENT_TYPES, within=WITHIN, where=st.one_of(st.none(), where)
        ),
    )
    return tree(leaf, 5)


def _met(people: list[dict[str, Any]]) -> Constants:
    """Constants for a field: mostly values relations hold in it (list items too), some
    with their case swapped; generated constants alone seldom meet them."""
    found: dict[str, list[Any]] = {}

    def add(name: str, value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                add(name, item)
        elif value is not None and not isinstance(value, dict):
            found.setdefault(name, []).append(value)

    for person in people:
        for name in STANDARD:
            add(name, person[name])
        for name, value in person["custom"].items():
            add(name, value)
        for _, _, payload in person["events"]:
            for name, value in payload.items():
                add(name, value)

    def constants_for(name: str) -> st.SearchStrategy[Any]:
        held = found.get(name, [])
        cased = [value for value in held if isinstance(value, str) and value.swapcase() != value]
        choices = [st.sampled_from(cased).map(str.swapcase)] if cased else []
        choices += [st.sampled_from(held)] if held else []
        return pick(*choices, CONSTANTS)

    return constants_for


EVENTS = st.tuples(
    EVENT_TYPES,
    st.integers(-2 * 86400, 40 * 86400).map(lambda seconds: NOW - timedelta(seconds=seconds)),
    st.dictionaries(st.sampled_from(PAYLOAD), JSON_VALUES, max_size=3),
)
PEOPLE = st.lists(
    st.fixed_dictionaries(
        {
            "first_name": st.one_of(st.none(), TEXTS),
            "email": st.one_of(st.none(), TEXTS),
            "birth_date": st.one_of(st.none(), st.dates(date(1, 1, 1), date(2100, 1, 1))),
            "opt_in_email": st.booleans(),
            "created_at": MOMENTS.map(lambda moment: moment.astimezone(UTC)),
            "custom": CUSTOM_FIELDS,
            "groups": st.sets(GROUPS, max_size=2),
            "events": st.lists(EVENTS, max_size=3),
        }
    ),
    min_size=2,
    max_size=6,
)  # fmt: skip


FIELDS = CUSTOM + STANDARD


@st.composite
def every_part(draw: st.DrawFn, people: list[dict[str, Any]]) -> list[Condition]:
    """Comparisons on six of the fields and on one payload key (in an event), and a few
    trees of parts (with groups and events). Left to choose, Hypothesis would mostly
    pick the first field and the first operator: fields and operators are taken in
    turn instead, from a point that the relations decide (so that an example always
    draws the same), and over the examples every field meets every operator."""
    constants_for = _met(people)
    turn = zlib.crc32(repr(people).encode())

    def compare(name: str, index: int) -> FieldCondition:
        op = OPS[(turn // len(FIELDS) + index) % len(OPS)]
        if op in ("is_set", "is_not_set"):
            return FieldCondition(field=name, op=op)
        constants = constants_for(name)
        value = draw(st.lists(constants, max_size=3) if op == "in" else constants)
        return FieldCondition(field=name, op=op, value=value)

    names = [FIELDS[(turn + index) % len(FIELDS)] for index in range(6)]
    found: list[Condition] = [compare(name, index) for index, name in enumerate(names)]
    # What the turns reach too seldom: a list's items, moments in different zones.
    found += [
        FieldCondition(field="tags", op="contains", value=draw(constants_for("tags"))),
        FieldCondition(
            field="since",
            op=OPS[2 + turn % 4],
            value=draw(pick(constants_for("since"), SAME_DAY)),
        ),
        EventCondition(
            event=draw(EVENT_TYPES),
            within=draw(WITHIN),
            where=compare(PAYLOAD[turn % len(PAYLOAD)], 7),
        ),
    ]
    return found + draw(st.lists(conditions(constants_for), min_size=2, max_size=2))


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(people=PEOPLE, data=st.data())
def test_sql_selects_whom_evaluate_passes(
    db: Engine, people: list[dict[str, Any]], data: st.DataObject
) -> None:
    drawn = data.draw(every_part(people))
    with Session(db) as session:
        _reset(session)
        ids = _store(session, people)
        outcomes = _both(session, drawn, ids)
    wrong = [
        (CONDITION.dump_json(condition, by_alias=True), sql, python)
        for condition, (sql, python) in zip(drawn, outcomes, strict=True)
        if sql != python
    ]
    assert not wrong, wrong


# --- the documented corner cases, one by one --------------------------------------------


def _person(custom: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {"created_at": NOW, "custom": custom or {}, **fields}


def field(name: str, op: str, value: Any = None) -> dict[str, Any]:
    found: dict[str, Any] = {"field": name, "op": op}
    if value is not None:
        found["value"] = value
    return found


# (a condition, a relation, whether it holds): SQL and evaluate must both say so.
CASES: list[tuple[dict[str, Any], dict[str, Any], bool]] = [
    # text compares without regard to case, of ASCII letters only
    (field("first_name", "eq", "anna"), _person(first_name="ANNA"), True),
    (field("city", "eq", "utrecht"), _person({"city": "UTRECHT"}), True),
    (field("city", "ne", "utrecht"), _person({"city": "Utrecht"}), False),
    (field("city", "eq", "zoë"), _person({"city": "ZOË"}), False),
    (field("city", "contains", "TREC"), _person({"city": "Utrecht"}), True),
    (field("city", "contains", "%"), _person({"city": "Utrecht"}), False),
    # numbers, also written as text; text that is no plain decimal is text
    (field("age", "lt", 18), _person({"age": "9"}), True),
    (field("age", "lt", "18"), _person({"age": "9"}), True),
    (field("age", "eq", 42), _person({"age": "042"}), True),
    (field("age", "eq", 42), _person({"age": " 42 "}), True),
    (field("age", "eq", 1000), _person({"age": "1_000"}), False),
    (field("age", "gt", 5), _person({"age": "inf"}), False),
    (field("age", "eq", 3), _person({"age": 3.0}), True),
    (field("score", "contains", "000000004"), _person({"score": 0.30000000000000004}), True),
    # booleans, also written as text and as 1/0
    (field("vip", "eq", True), _person({"vip": "Yes"}), True),
    (field("vip", "eq", True), _person({"vip": 1}), True),
    (field("vip", "eq", True), _person({"vip": 1.0}), False),
    (field("vip", "eq", False), _person({"vip": 0}), True),
    (field("vip", "lt", True), _person({"vip": "no"}), True),
    (field("opt_in_email", "eq", "no"), _person(opt_in_email=False), True),
    # dates and moments, also as text; days against moments compare days
    (field("birth_date", "lt", "2000-01-01"), _person(birth_date=date(1990, 5, 1)), True),
    (field("since", "gte", "2024-05-01"), _person({"since": "2024-05-01T23:59:00+05:00"}), True),
    (
        field("since", "gt", "2024-05-01T08:30:00Z"),
        _person({"since": "2024-05-01T10:00:00+01:00"}),
        True,
    ),
    (field("since", "lt", "2024-05-01T09:30"), _person({"since": "2024-05-01T10:00+01:00"}), False),
    (field("since", "eq", "2024-02-30"), _person({"since": "2024-02-30"}), True),  # as text
    (field("since", "lt", "2024-10-01"), _person({"since": "2024-5-1"}), False),  # as text
    (field("created_at", "eq", "2026-06-01"), _person(), True),
    # missing, null, empty: only ne and is_not_set
    (field("city", "ne", "Utrecht"), _person(), True),
    (field("city", "eq", "Utrecht"), _person({"city": None}), False),
    (field("city", "is_set"), _person({"city": ""}), False),
    (field("tags", "is_set"), _person({"tags": []}), False),
    (field("phone", "is_not_set"), _person(phone=""), True),
    (field("city", "lt", "Z"), _person({"city": ""}), False),
    # lists: contains looks at the items; a list equals nothing; objects hold nothing
    (field("tags", "contains", "MUSIC"), _person({"tags": ["sport", "music"]}), True),
    (field("tags", "contains", 7), _person({"tags": [3, "7"]}), True),
    (field("tags", "contains", "none"), _person({"tags": [None]}), False),
    (field("tags", "eq", "music"), _person({"tags": ["music"]}), False),
    (field("data", "contains", "a"), _person({"data": {"a": 1}}), False),
    (field("data", "is_set"), _person({"data": {}}), True),
    # in
    (field("country", "in", ["NL", "BE"]), _person({"country": "nl"}), True),
    (field("tier", "in", [1, 2]), _person({"tier": "2"}), True),
    (field("tier", "in", []), _person({"tier": "2"}), False),
    # a standard field wins over a custom key of its name
    (field("email", "eq", "x@example.org"), _person({"email": "x@example.org"}), False),
    # custom field names that SQLite stores escaped
    (field("Städt", "eq", "Delft"), _person({"Städt": "Delft"}), True),
    # groups and events
    ({"in_group": "members"}, _person(groups={"members"}), True),
    ({"in_group": "members"}, _person(groups={"Members"}), False),
    (
        {"event": "donation", "within": "P7D", "where": field("amount", "gte", 10)},
        _person(events=[("donation", NOW - timedelta(days=2), {"amount": "25"})]),
        True,
    ),
    (
        {"event": "donation", "within": "P7D"},
        _person(events=[("donation", NOW - timedelta(days=8), {})]),
        False,
    ),
    (
        {"event": "donation", "where": {"in_group": "members"}},
        _person(groups={"members"}, events=[("donation", NOW, {})]),
        False,
    ),
    ({"not": {"event": "donation"}}, _person(), True),
]


def test_documented_corner_cases(db: Engine) -> None:
    with Session(db) as session:
        ids = _store(session, [person for _, person, _ in CASES])
        conditions = [CONDITION.validate_python(raw) for raw, _, _ in CASES]
        outcomes = _both(session, conditions, ids)
    wrong = [
        (raw, relation_id in selected, relation_id in passed)
        for (raw, _, expected), relation_id, (selected, passed) in zip(
            CASES, ids, outcomes, strict=True
        )
        if (relation_id in selected, relation_id in passed) != (expected, expected)
    ]
    assert not wrong, wrong


@pytest.mark.parametrize(
    ("raw", "path", "says"),
    [
        (field("event.amount", "gt", 3), ("field",), "event.amount"),
        (
            {"all": [{"in_group": "x"}, {"not": field("event.fund", "eq", "a")}]},
            ("all", 1, "not", "field"),
            "event.fund",
        ),
        (
            {"event": "donation", "where": field("event.fund", "eq", "a")},
            ("where", "field"),
            "event.fund",
        ),
        (field("city", "eq", ["a", "b"]), ("value",), "not a list"),
        (field('odd "name"', "eq", "a"), ("field",), "cannot hold"),
    ],
)
def test_what_sql_cannot_mean_is_refused_where_it_is(
    raw: dict[str, Any], path: tuple[Any, ...], says: str
) -> None:
    with pytest.raises(UnsupportedCondition, match=says) as refused:
        compile_condition(CONDITION.validate_python(raw), now=NOW)
    assert refused.value.path == path
