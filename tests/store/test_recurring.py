"""The recurring-date query on SQLite and PostgreSQL: over every day of 2027 and 2028,
each relation with a date is due exactly once a year, on its anniversary; garbage is
never due and never an SQL error."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from domain.recurring import month_days
from store.db import make_engine, session_scope
from store.models import Relation
from store.recurring import due_clause

DAYS = [date(2027, 1, 1) + timedelta(days=n) for n in range(731)]  # 2027 and leap 2028

# name -> (standard fields, custom), with the (field, month-day) each is due on.
RELATIONS: dict[str, tuple[dict[str, Any], Any]] = {
    "leap_born": ({"birth_date": date(1992, 2, 29)}, {}),
    "new_years_eve": ({"birth_date": date(1985, 12, 31)}, {}),
    "new_year": ({"birth_date": date(2000, 1, 1)}, {}),
    "first_of_march": ({"birth_date": date(1970, 3, 1)}, {}),
    "no_birthday": ({}, {}),
    "renews_in_june": ({}, {"contract_renewal": "2020-06-15"}),
    "renews_on_leap_day": ({}, {"contract_renewal": "2016-02-29"}),
    "jubilee": ({}, {"jubiléum": "2010-10-10", 'odd "name"': "2011-11-11"}),
    # Garbage in the custom field: never due, no SQL error.
    "renews_soon": ({}, {"contract_renewal": "soon"}),
    "renews_as_number": ({}, {"contract_renewal": 20200615}),
    "renews_with_time": ({}, {"contract_renewal": "2020-06-15T10:00:00+02:00"}),
    "renews_as_list": ({}, {"contract_renewal": ["2020-06-15"]}),
    "renews_as_object": ({}, {"contract_renewal": {"on": "2020-06-15"}}),
    "renews_null": ({}, {"contract_renewal": None}),
    "custom_is_list": ({}, ["2020-06-15"]),
    "custom_is_text": ({}, "2020-06-15"),
    # A standard name wins over a custom field of that name (as conditions read it).
    "custom_birth_date": ({}, {"birth_date": "1999-05-05"}),
}
DUE_ON: dict[tuple[str, str], str] = {
    ("leap_born", "birth_date"): "02-29",
    ("new_years_eve", "birth_date"): "12-31",
    ("new_year", "birth_date"): "01-01",
    ("first_of_march", "birth_date"): "03-01",
    ("renews_in_june", "contract_renewal"): "06-15",
    ("renews_on_leap_day", "contract_renewal"): "02-29",
    ("jubilee", "jubiléum"): "10-10",
    ("jubilee", 'odd "name"'): "11-11",
}
FIELDS = ["birth_date", "contract_renewal", "jubiléum", 'odd "name"']


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def add_relations(engine: Engine) -> dict[int, str]:
    names: dict[int, str] = {}
    with session_scope(engine) as session:
        for name, (fields, custom) in RELATIONS.items():
            relation = Relation(email=f"{name}@example.org", custom=custom, **fields)
            session.add(relation)
            session.flush()
            assert relation.id is not None
            names[relation.id] = name
    return names


def due(session: Session, field: str, day: date) -> list[int]:
    query = select(Relation.id).where(due_clause(field, month_days(day)))
    return [id_ for id_ in session.exec(query.order_by(col(Relation.id))).all() if id_]


def expected_day(month_day: str, year: int) -> date:
    if month_day == "02-29" and year == 2027:
        return date(2027, 2, 28)
    month, day = map(int, month_day.split("-"))
    return date(year, month, day)


def test_each_relation_is_due_once_a_year_on_its_anniversary(db: Engine) -> None:
    names = add_relations(db)
    found: dict[tuple[str, str], list[date]] = defaultdict(list)
    with Session(db) as session:
        for day in DAYS:
            for field in FIELDS:
                for relation_id in due(session, field, day):
                    found[names[relation_id], field].append(day)
    assert set(found) == set(DUE_ON)
    for key, month_day in DUE_ON.items():
        assert found[key] == [expected_day(month_day, 2027), expected_day(month_day, 2028)], key


def test_fields_that_hold_no_date_are_never_due(db: Engine) -> None:
    add_relations(db)
    with Session(db) as session:
        for field in ["email", "created_at", "opt_in_email", "missing", "birth_date.x", ""]:
            assert due(session, field, date(2027, 6, 15)) == []
            assert due(session, field, date(2027, 2, 28)) == []
        assert session.exec(select(Relation.id).where(due_clause("birth_date", []))).all() == []


def test_month_days_must_be_month_days() -> None:
    with pytest.raises(ValueError, match="MM-DD"):
        due_clause("birth_date", ["2027-02-28"])
